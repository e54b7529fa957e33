"""The paper's performance analyses by student size (§3.1): Fig. 1 (task sensitivity), Fig. 2 / 18
(accuracy by size, IFT vs reasoning) and Fig. 8 / 24 (answer length by correctness).

Every analysis reads the paper suite (`data.core`; extended benchmarks are Figs. 9–11) averaged
over seeds (`report.seeds`), and states each comparison with its paired CIs (`report.paired`)
in the words of `report.wording`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ponder.evaluate.stats import length_ratio_ci
from ponder.report import wording as W
from ponder.report.data import Analysis, ReportData, endpoints, largest, primary_domain, skip
from ponder.report.paired import Contrast, above_chance, average, diff
from ponder.report.seeds import by_benchmark, by_category


def at_chance(data: ReportData, *sides: pd.DataFrame) -> bool:
    """True when no side is significantly above guessing (only possible for MC)."""
    return not any(above_chance(data, s).sign > 0 for s in sides)


def _gain(data: ReportData, top: pd.DataFrame) -> Contrast:
    """Reasoning − IFT of one size on the benchmarks of `top`."""
    return diff(data, top[top["fmt"] == "reasoning"], top[top["fmt"] == "IFT"])


def task_sensitivity(data: ReportData) -> Analysis:
    dom = primary_domain(data.core)
    if dom is None:
        return skip("no mono-phasic students in results.parquet")
    e = endpoints(data.core, dom)
    rows, gains = [], {}
    for bench, g in e.groupby("benchmark", sort=True):
        both = g.groupby("params").filter(lambda s: set(s["fmt"]) == {"IFT", "reasoning"})
        if both.empty:
            continue
        top = largest(both)
        i, r = top[top["fmt"] == "IFT"], top[top["fmt"] == "reasoning"]
        gains[bench] = _gain(data, top)
        d = gains[bench].result()
        rows.append(
            dict(
                benchmark=bench,
                category=i["category"].iloc[0],
                student=i["student"].iloc[0],
                ift=i["accuracy"].mean(),
                reasoning=r["accuracy"].mean(),
                ift_rule=i["rule_accuracy"].mean(),
                reasoning_rule=r["rule_accuracy"].mean(),
                gain=d.diff,
                gain_low=d.lo,
                gain_high=d.hi,
                gain_seed_low=d.seed_lo,
                gain_seed_high=d.seed_hi,
                seeds=d.seeds,
                significant=d.sign,
                seed_values=list(d.per_seed),
                token_factor=r["mean_tokens"].mean() / i["mean_tokens"].mean()
                if i["mean_tokens"].mean() > 0
                else np.nan,
            )
        )
    if not rows:
        return skip(f"no {dom} student size has both ρ=0 and ρ=1 runs")
    t = pd.DataFrame(rows).sort_values("gain", ascending=False, ignore_index=True)
    reading = _fig1_reading(t, gains, dom) + W.seed_note(data.max_seeds(e))
    return Analysis(reading, table=t, metric=data.metric_note(t["benchmark"]))


def _fig1_reading(t: pd.DataFrame, gains: dict[str, Contrast], dom: str) -> str:
    hi, lo = t.iloc[0], t.iloc[-1]
    d_hi = gains[hi["benchmark"]].result()
    n_up = int((t["significant"] > 0).sum())
    out = (
        f"At {hi['student']} ({dom} students), reasoning beats IFT on {n_up} of {len(t)} "
        f"benchmarks. The largest gain is on {hi['benchmark']} ({W.signed(d_hi)}) for "
        f"{W.factor(hi['token_factor'])} the tokens"
    )
    if len(t) > 1:
        nxt = t.iloc[1]
        gap = gains[hi["benchmark"]].minus(gains[nxt["benchmark"]]).result()
        out += (
            f"; reasoning helps most there, significantly more than on {nxt['benchmark']} "
            f"({W.difference(gap)})"
            if gap.sign > 0
            else f", not significantly more than on {nxt['benchmark']} ({W.difference(gap)})"
        )
        d_lo = gains[lo["benchmark"]].result()
        out += (
            f". The smallest is on {lo['benchmark']} ({W.signed(d_lo)}) for "
            f"{W.factor(lo['token_factor'])} the tokens"
        )
    fmt = t["category"].str[-2:]
    if {"OE", "MC"} <= set(fmt):
        oe = average([gains[b] for b in t.loc[fmt == "OE", "benchmark"]])
        mc = average([gains[b] for b in t.loc[fmt == "MC", "benchmark"]])
        d = oe.minus(mc).result()
        out += (
            f". Open-ended benchmarks gain {W.pts(oe.result().diff)} on average against "
            f"{W.pts(mc.result().diff)} for multiple-choice: "
            + ("a significant difference" if d.significant else "no significant difference")
            + f" ({W.difference(d)})"
        )
    return out + "."


def mono_phasic(data: ReportData) -> Analysis:
    e = pd.concat([endpoints(data.core, d) for d in ("general", "math")])
    if e.empty:
        return skip("no mono-phasic ρ=0 or ρ=1 students")
    e["series"] = e["domain"] + " " + e["fmt"]
    refs = data.core[data.core["kind"].isin(["teacher", "base"])]
    both = pd.concat([e, refs.assign(series=refs["kind"])])
    t = by_category(both, ["series", "kind", "student", "params"])
    detail = by_benchmark(both, ["series", "kind", "student", "params"])
    dom = primary_domain(data.core)
    reading = size_reading(data, endpoints(data.core, dom), dom)
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)),
        table=t,
        detail=detail,
        metric=data.metric_note(both["benchmark"]),
    )


def size_reading(
    data: ReportData, e: pd.DataFrame, dom: str, by: str = "category", what: str = "task categories"
) -> str:
    """Reasoning vs IFT at the largest size per `by` panel, and how the gap moves with size."""
    both = e.groupby("params").filter(lambda s: set(s["fmt"]) == {"IFT", "reasoning"})
    if both.empty:
        return f"Only one training format is present for {dom} students; no IFT/reasoning gap."
    top = largest(both)
    signs, chance = {}, []
    for cat, g in top.groupby(by, sort=True):
        if at_chance(data, g[g["fmt"] == "IFT"], g[g["fmt"] == "reasoning"]):
            chance.append(cat)
            continue
        d = _gain(data, g).result()
        signs[f"{cat} ({W.signed(d)})"] = d.sign
    size = top["student"].iloc[0]
    out = (
        f"At the largest {dom} student ({size}), reasoning "
        + W.tally(signs, "beats IFT", "trails IFT", chance, what)
        + "."
    )
    small = both[both["params"] == both["params"].min()]
    if small["params"].iloc[0] != top["params"].iloc[0]:
        grow = _gain(data, top).minus(_gain(data, small)).result()
        out += (
            f" Averaged over {what}, the reasoning − IFT gap at {size} is "
            f"{W.pts(_gain(data, top).result().diff)} against "
            f"{W.pts(_gain(data, small).result().diff)} at {small['student'].iloc[0]}: "
            + (
                "it grows with size"
                if grow.sign > 0
                else "it shrinks with size"
                if grow.sign < 0
                else "no significant change with size"
            )
            + f" ({W.difference(grow)})."
        )
    return out


def _lengths(data: ReportData, rows: pd.DataFrame) -> tuple[float, float, float]:
    """Incorrect/correct length ratio over every answer of these rows (seeds and benchmarks
    pooled), correctness under the report's metric."""
    toks, ok = [], []
    for m, b in zip(rows["model"], rows["benchmark"], strict=True):
        ev, v = data.evals(m, b), data.items(m, b)
        if ev is None or v is None or "tokens" not in ev.columns:
            return np.nan, np.nan, np.nan
        j = ev[["tokens"]].join(v.rename("ok"), how="inner")
        toks.append(j["tokens"].to_numpy(float))
        ok.append(j["ok"].to_numpy() > 0.5)
    return length_ratio_ci(np.concatenate(toks), np.concatenate(ok))


def length_by_correctness(data: ReportData) -> Analysis:
    e = endpoints(data.core, primary_domain(data.core) or "general")
    e = e[e["fmt"] == "reasoning"]
    if e.empty or e[["mean_tokens_correct", "mean_tokens_incorrect"]].isna().all().all():
        return skip("needs ρ=1 students with mean_tokens_correct/incorrect")
    t = by_category(e, ["student", "params"])
    ci = [
        _lengths(data, e[(e["params"] == p) & (e["category"] == c)])
        for p, c in zip(t["params"], t["category"], strict=True)
    ]
    t["ratio"] = t["tokens_incorrect"] / t["tokens_correct"]
    t["ratio_low"] = [c[1] for c in ci]
    t["ratio_high"] = [c[2] for c in ci]
    ok = t.dropna(subset=["ratio"])
    tested = ok.dropna(subset=["ratio_low"])
    longer = int((tested["ratio_low"] > 1).sum())
    shorter = int((tested["ratio_high"] < 1).sum())
    if len(tested):
        reading = (
            f"Of the {len(tested)} (size, category) cells with per-item answers and ≥ 5 correct "
            f"and ≥ 5 incorrect ones, incorrect answers are significantly longer in {longer} and "
            f"shorter in {shorter} (95% bootstrap CI of the length ratio excluding 1)"
        )
    else:
        reading = (
            "No (size, category) cell has per-item answers with ≥ 5 correct and ≥ 5 "
            "incorrect ones, so lengths are not compared"
        )
    reading += f"; median ratio {W.factor(ok['ratio'].median())} over {len(ok)} cells."
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)), table=t, metric=data.metric_note(e["benchmark"])
    )
