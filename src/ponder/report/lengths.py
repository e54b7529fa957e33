"""Generation-length analyses from the saved per-item answers: Fig. 15 (early stopping at answer-
length percentiles, Appendix F.3) and Fig. 16 (a longer generation budget, Appendix F.4).

Both re-score answers at a token cut: an answer longer than the cut counts as unfinished (wrong),
the assumption Appendix F.3 makes (its final \\boxed{} would not have been written). Fig. 16 runs
the other way round: a study evaluated with a generation budget L (`eval.max_new_tokens`; the
paper's experiment uses 32,768) is re-scored at L/2 (16,384, the paper's usual budget), which is
exactly the accuracy the shorter budget would have given under that assumption. The accuracy
differences are per-item paired (same answers, two cuts), with CIs over items and seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ponder.report import wording as W
from ponder.report.data import Analysis, ReportData, endpoints, primary_domain, skip
from ponder.report.efficiency import mark_pareto
from ponder.report.fits import fit_decode_cost
from ponder.report.paired import per_item

PERCENTILES = (0, 25, 50, 75, 100)  # Appendix F.3's early-stopping thresholds
FIG16_BENCHMARKS = ("mmlu-math", "math-500", "aime")  # the paper's Fig. 16 panels
NEED = {"tokens", "prompt_tokens", "infer_flops"}
NO_ANSWERS = "needs per-item answers (evals/) of ρ=0/ρ=1 students on math benchmarks"


def cut_scores(ev: pd.DataFrame) -> pd.DataFrame:
    """Appendix F.3: accuracy and FLOPs when generation stops at each length percentile.

    An answer longer than the cut counts as wrong and costs what was generated up to the cut.
    """
    g = ev["tokens"].to_numpy(float)
    p = ev["prompt_tokens"].to_numpy(float)
    f = ev["infer_flops"].to_numpy(float)
    ok = ev["correct"].to_numpy(bool)
    cost = fit_decode_cost(p, g, f)
    rows = []
    for q in PERCENTILES:
        cut = float(np.percentile(g, q, method="lower"))
        kept = g <= cut
        spent = np.where(kept, f, cost(p, np.full_like(g, cut)))
        rows.append(
            dict(pct=q, cut=cut, accuracy=float(np.mean(ok & kept)), infer_flops=float(spent.sum()))
        )
    return pd.DataFrame(rows)


def _answers(data: ReportData, model: str, bench: str) -> pd.DataFrame | None:
    """Per-item tokens and verdict (under the report's metric) of one model on one benchmark."""
    ev, v = data.evals(model, bench), data.items(model, bench)
    if ev is None or v is None or "tokens" not in ev.columns:
        return None
    return ev.drop(columns=["correct"], errors="ignore").join(
        (v > 0.5).rename("correct"), how="inner"
    )


def _lost_at(data: ReportData, cut_of):
    """Per-item accuracy change when answers longer than cut_of(tokens) are cut: −1 for a correct
    answer that would be cut, else 0."""

    def fn(model: str, bench: str) -> pd.Series | None:
        a = _answers(data, model, bench)
        if a is None:
            return None
        t = a["tokens"].to_numpy(float)
        return -(a["correct"] & (t > cut_of(t))).astype(float)

    return fn


def early_stopping(data: ReportData) -> Analysis:
    e = endpoints(data.core, primary_domain(data.core))
    parts = []
    for _, r in e.iterrows():
        a = _answers(data, r["model"], r["benchmark"])
        if a is not None and set(a.columns) >= NEED and len(a):
            c = cut_scores(a)
            parts.append(
                c.assign(
                    **{
                        k: r[k]
                        for k in ("fmt", "student", "params", "benchmark", "category", "seed")
                    }
                )
            )
    if not parts:
        return skip(
            f"no per-item evals with columns {sorted(NEED | {'correct'})} for ρ=0/ρ=1 students"
        )
    items = pd.concat(parts, ignore_index=True)
    t = items.groupby(["fmt", "student", "params", "pct", "category"], as_index=False)[
        ["accuracy", "infer_flops", "cut"]
    ].mean()
    t = mark_pareto(t, "infer_flops")
    full = t[t["pct"] == 100].set_index(["fmt", "student", "category"])
    half = t[t["pct"] == 50].set_index(["fmt", "student", "category"])
    sav = 1 - half["infer_flops"] / full["infer_flops"]
    median = _lost_at(data, lambda t: np.percentile(t, 50, method="lower"))
    bits = []
    for fmt in ("reasoning", "IFT"):
        if fmt in sav.index.get_level_values(0):
            d = per_item(data, e[e["fmt"] == fmt], median, by=["params"])
            bits.append(
                f"{fmt} answers at the median length saves {sav.xs(fmt).mean():.0%} of "
                f"inference FLOPs and {W.change(d, 'accuracy')}"
            )
    uncut = int(t[t["pareto"]]["pct"].eq(100).sum())
    reading = (
        "Cutting " + "; cutting ".join(bits) + " (mean over sizes and categories); "
        f"{uncut} of {int(t['pareto'].sum())} Pareto-optimal points are uncut answers."
    )
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)),
        table=t,
        detail=items,
        metric=data.metric_note(e["benchmark"]),
    )


def _budget(data: ReportData, e: pd.DataFrame) -> int | None:
    """The study's generation budget: eval.max_new_tokens in study.yaml, else the longest answer."""
    ev = data.settings.get("eval")
    if isinstance(ev, dict) and isinstance(ev.get("max_new_tokens"), int):
        return ev["max_new_tokens"]
    lens = [
        a["tokens"].max()
        for m, b in zip(e["model"], e["benchmark"], strict=True)
        if (a := _answers(data, m, b)) is not None and len(a)
    ]
    return int(max(lens)) if lens else None


def _budget_reading(
    data: ReportData, e: pd.DataFrame, t: pd.DataFrame, fmt: str, short: int
) -> str:
    """What the longer budget does for one format, per benchmark, mean over sizes."""
    lost = _lost_at(data, lambda _: short)  # −(correct answers longer than the short budget)
    signs, none = {}, []
    for b, g in e[e["fmt"] == fmt].groupby("benchmark", sort=True):
        if not (t.loc[(t["fmt"] == fmt) & (t["benchmark"] == b), "over"] > 0).any():
            none.append(b)
            continue
        d = -per_item(data, g, lost, by=["params"])
        signs[f"{b} ({W.signed(d)})"] = d.sign
    parts = (
        [
            f"for {fmt} students (mean over sizes) it "
            + W.tally(signs, "raises accuracy", "lowers it", [], "benchmarks with longer answers")
        ]
        if signs
        else []
    )
    if none:
        parts.append(f"no {fmt} answer is longer than {short:,} tokens on {W.listing(none)}")
    return "; ".join(parts)


def longer_budget(data: ReportData) -> Analysis:
    e = endpoints(data.core, primary_domain(data.core))
    benches = [b for b in FIG16_BENCHMARKS if b in set(e["benchmark"])]
    benches = benches or sorted(e.loc[e["family"] == "math", "benchmark"].unique())
    e = e[e["benchmark"].isin(benches)]
    long = _budget(data, e) if len(e) else None
    if e.empty or long is None:
        return skip(NO_ANSWERS)
    short = long // 2
    rows = []
    for _, r in e.iterrows():
        a = _answers(data, r["model"], r["benchmark"])
        if a is None or not len(a):
            continue
        t, ok = a["tokens"].to_numpy(float), a["correct"].to_numpy(bool)
        rows.append(
            {k: r[k] for k in ("fmt", "student", "params", "benchmark", "seed")}
            | {
                "acc_short": float(np.mean(ok & (t <= short))),
                "acc_long": float(ok.mean()),
                "over": float(np.mean(t > short)),
            }
        )
    if not rows:
        return skip(NO_ANSWERS)
    per_seed = pd.DataFrame(rows)
    t = per_seed.groupby(["fmt", "student", "params", "benchmark"], as_index=False).agg(
        acc_short=("acc_short", "mean"),
        acc_long=("acc_long", "mean"),
        over=("over", "mean"),
        seeds=("seed", "nunique"),
        seed_values=("acc_long", list),
    )
    reading = (
        f"Allowing {long:,} generated tokens instead of {short:,}: "
        + "; ".join(
            _budget_reading(data, e, t, fmt, short)
            for fmt in ("reasoning", "IFT")
            if (e["fmt"] == fmt).any()
        )
        + "."
    )
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)), table=t, metric=data.metric_note(e["benchmark"])
    )
