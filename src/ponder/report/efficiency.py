"""The paper's accuracy–efficiency analyses (§4, Figs. 6, 7, 15, 17) and the headline table.

Training and inference FLOPs come from `results.parquet` (Appendix C); early stopping re-scores
saved per-item answers from `RUN_DIR/evals/`. Frontiers and fits are in `ponder.report.fits`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ponder.report.analyses import Analysis, by_category, endpoints, mono, primary_domain, pts, skip
from ponder.report.fits import fit_decode_cost, fit_loglinear, fit_saturating, pareto_mask
from ponder.rundir import RunDir

PERCENTILES = (0, 25, 50, 75, 100)  # Appendix F.3's early-stopping thresholds


def _mark_pareto(t: pd.DataFrame, cost: str) -> pd.DataFrame:
    t = t.copy()
    t["pareto"] = False
    for _, g in t.groupby("category"):
        t.loc[g.index, "pareto"] = pareto_mask(g[cost].to_numpy(), g["accuracy"].to_numpy())
    return t


def train_pareto(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig6", "Accuracy vs training FLOPs", "Fig. 6 / 22"
    dom = primary_domain(df)
    m = mono(df, dom) if dom else pd.DataFrame()
    if m.empty:
        return skip(key, title, paper, "no mono-phasic students")
    m = m[m["schedule"] == "sequential"]
    if m["train_flops"].isna().all() or m["ratio"].nunique() < 2:
        return skip(key, title, paper, "needs training FLOPs for at least two sequential ratios")
    t = _mark_pareto(by_category(m, ["student", "params", "ratio"]).dropna(subset=["train_flops"]),
                     "train_flops")  # fmt: skip
    front = t[t["pareto"]]
    n_ift = int((front["ratio"] == 0).sum())
    n_mid = int(((front["ratio"] > 0) & (front["ratio"] < 1)).sum())
    n_rea = int((front["ratio"] == 1).sum())
    reading = (
        f"Of the {len(front)} Pareto-optimal (training FLOPs, accuracy) points across "
        f"{t['category'].nunique()} task categories, {n_ift} are IFT (ρ=0), {n_mid} intermediate "
        f"ratios and {n_rea} full reasoning (ρ=1)."
    )
    return Analysis(key, title, paper, reading, table=t)


def _teacher_cap(df: pd.DataFrame) -> dict[str, float]:
    """Appendix E bounds α+β by the teacher's accuracy; 1 when the study has no teacher."""
    t = df[df["kind"] == "teacher"]
    return t.groupby("category")["accuracy"].mean().to_dict() if len(t) else {}


def infer_pareto(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig7", "Accuracy vs inference FLOPs", "Fig. 7 / 23"
    dom = primary_domain(df)
    e = endpoints(df, dom) if dom else pd.DataFrame()
    if e.empty or e["infer_flops"].isna().all():
        return skip(key, title, paper, "needs ρ=0 or ρ=1 students with inference FLOPs")
    t = _mark_pareto(by_category(e, ["fmt", "student", "params"]), "infer_flops")
    caps = _teacher_cap(df)
    fits = []
    for (cat, fmt), g in t.groupby(["category", "fmt"]):
        if g["params"].nunique() < 3:
            continue  # 4 parameters from fewer than 3 sizes is not a curve worth drawing
        cap = float(min(1.0, caps.get(cat, 1.0)))
        f = fit_saturating(g["infer_flops"].to_numpy(), g["accuracy"].to_numpy(), cap=cap)
        # With n ≤ 4 points the 4 parameters interpolate: the curve is drawn, the ceiling is
        # not identified and the reading makes no claim about it.
        fits.append(dict(category=cat, fmt=fmt, **f.as_dict(), identified=f.n > 4))
    parts = []
    for fmt in ("IFT", "reasoning"):
        s = t[t["fmt"] == fmt]
        if len(s):
            parts.append(f"{int(s['pareto'].sum())} of {len(s)} {fmt} points")
    reading = "Pareto-optimal: " + " and ".join(parts) + "."
    if fits and not any(f["identified"] for f in fits):
        reading += " Saturating fits use ≤4 sizes per curve, so their ceilings are not identified."
    elif fits:
        f = pd.DataFrame([x for x in fits if x["identified"]])
        f = f.assign(ceiling=f["alpha"] + f["beta"])
        c = f.pivot_table(index="category", columns="fmt", values="ceiling")
        if {"IFT", "reasoning"} <= set(c.columns):
            d = (c["reasoning"] - c["IFT"]).dropna()
            reading += (
                f" The fitted ceiling α+β is higher for reasoning in {int((d > 0).sum())} of "
                f"{len(d)} categories (largest difference on {d.idxmax()}: {pts(d.max())})."
            )
    return Analysis(key, title, paper, reading, table=t, fits=fits)


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
        rows.append(dict(pct=q, cut=cut, accuracy=float(np.mean(ok & kept)),
                         infer_flops=float(spent.sum())))  # fmt: skip
    return pd.DataFrame(rows)


def early_stopping(df: pd.DataFrame, rd: RunDir) -> Analysis:
    key, title, paper = "fig15", "Early stopping at answer-length percentiles", "Fig. 15"
    dom = primary_domain(df)
    e = endpoints(df, dom) if dom else pd.DataFrame()
    need = {"tokens", "prompt_tokens", "correct", "infer_flops"}
    parts = []
    for _, r in e.iterrows():
        evs = []
        for model in r["models"]:
            path = rd.eval(model, r["benchmark"])
            if path.exists():
                ev = pd.read_parquet(path)
                if need <= set(ev.columns) and len(ev):
                    evs.append(ev)
        if evs:
            c = cut_scores(pd.concat(evs, ignore_index=True))
            parts.append(c.assign(**{k: r[k] for k in ("fmt", "student", "params", "benchmark",
                                                        "category")}))  # fmt: skip
    if not parts:
        return skip(key, title, paper, f"no per-item evals with columns {sorted(need)} "
                    "for ρ=0/ρ=1 students")  # fmt: skip
    items = pd.concat(parts, ignore_index=True)
    t = items.groupby(["fmt", "student", "params", "pct", "category"], as_index=False)[
        ["accuracy", "infer_flops", "cut"]
    ].mean()
    t = _mark_pareto(t, "infer_flops")
    full = t[t["pct"] == 100].set_index(["fmt", "student", "category"])
    half = t[t["pct"] == 50].set_index(["fmt", "student", "category"])
    sav = 1 - half["infer_flops"] / full["infer_flops"]
    loss = half["accuracy"] - full["accuracy"]
    bits = [
        f"{fmt} answers at the median length saves {sav.xs(fmt).mean():.0%} of inference FLOPs "
        f"for {pts(loss.xs(fmt).mean())} accuracy"
        for fmt in ("reasoning", "IFT") if fmt in sav.index.get_level_values(0)
    ]  # fmt: skip
    uncut = int(t[t["pareto"]]["pct"].eq(100).sum())
    reading = (
        "Cutting " + "; cutting ".join(bits) + f" (mean over sizes and categories); "
        f"{uncut} of {int(t['pareto'].sum())} Pareto-optimal points are uncut answers."
    )
    return Analysis(key, title, paper, reading, table=t, detail=items)


def infer_scaling(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig17", "Inference FLOPs vs student size", "Fig. 17"
    dom = primary_domain(df)
    e = endpoints(df, dom) if dom else pd.DataFrame()
    if e.empty or e["params"].nunique() < 2:
        return skip(key, title, paper, "needs ρ=0/ρ=1 students of at least two sizes")
    t = by_category(e, ["fmt", "student", "params"])
    fits = []
    for (cat, fmt), g in t.groupby(["category", "fmt"]):
        if g["params"].nunique() >= 2:
            f = fit_loglinear(g["params"].to_numpy(), g["infer_flops"].to_numpy())
            fits.append(dict(category=cat, fmt=fmt, alpha=f.alpha, beta=f.beta, r2=f.r2, n=f.n))
    b = pd.DataFrame(fits).groupby("fmt")["beta"].mean()
    w = t.pivot_table(index=["category", "params"], columns="fmt", values="infer_flops")
    reading = "Inference FLOPs grow as size^β with " + " and ".join(
        f"mean β_{fmt} = {b[fmt]:.2f}" for fmt in b.index
    )
    if {"IFT", "reasoning"} <= set(w.columns):
        reading += (
            f"; at equal size reasoning costs a median {(w['reasoning'] / w['IFT']).median():.1f}×"
            " IFT's inference FLOPs"
        )
    return Analysis(key, title, paper, reading + ".", table=t, fits=fits)


def headline(df: pd.DataFrame) -> Analysis:
    key, title, paper = (
        "headline",
        "Smallest reasoning student that matches the largest IFT",
        "§3.1",
    )
    dom = primary_domain(df)
    e = endpoints(df, dom) if dom else pd.DataFrame()
    if e.empty or set(e["fmt"]) != {"IFT", "reasoning"}:
        return skip(key, title, paper, "needs both ρ=0 and ρ=1 mono-phasic students")
    t = by_category(e, ["fmt", "student", "params"])
    rows = []
    for cat, g in t.groupby("category"):
        ift, rea = g[g["fmt"] == "IFT"], g[g["fmt"] == "reasoning"].sort_values("params")
        if ift.empty or rea.empty:
            continue
        big = ift.loc[ift["params"].idxmax()]
        match = rea[rea["accuracy"] >= big["accuracy"] - 1e-12]
        r = match.iloc[0] if len(match) else None
        rows.append(dict(
            category=cat, largest_ift=big["student"], ift_accuracy=big["accuracy"],
            reasoning_student=None if r is None else r["student"],
            reasoning_accuracy=np.nan if r is None else r["accuracy"],
            size_factor=np.nan if r is None else big["params"] / r["params"],
            cost_factor=np.nan if r is None else r["infer_flops"] / big["infer_flops"],
        ))  # fmt: skip
    h = pd.DataFrame(rows)
    hit = h.dropna(subset=["reasoning_student"])
    if hit.empty:
        reading = (
            f"No reasoning student matches the largest IFT student in any of {len(h)} categories."
        )
    else:
        reading = (
            f"In {len(hit)} of {len(h)} task categories a reasoning student matches the largest IFT "
            f"student while being up to {hit['size_factor'].max():g}× smaller, paying "
            f"{hit['cost_factor'].min():.1f}–{hit['cost_factor'].max():.1f}× its inference FLOPs."
        )
    return Analysis(key, title, paper, reading, table=h)
