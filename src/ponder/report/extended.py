"""Appendix F.1's extended evaluation: law, code and physics benchmarks (`suite: extended`), one
panel per benchmark, drawn the way the paper draws its main figures:

- Fig. 9: accuracy by student size, IFT vs reasoning, with the base students and the teacher
  (as Fig. 2);
- Fig. 10: accuracy gap to IFT across the sequential reasoning ratio ρ, per size (as Fig. 4);
- Fig. 11: accuracy vs inference FLOPs of the IFT and reasoning students, Pareto frontier and
  Appendix E's saturating fit (as Fig. 7).

These benchmarks never enter the 2×2 category averages of the other figures.
"""

from __future__ import annotations

import pandas as pd

from ponder.report import wording as W
from ponder.report.data import Analysis, ReportData, endpoints, mono, primary_domain, skip
from ponder.report.efficiency import mark_pareto, pays_off, saturating_fits
from ponder.report.paired import average, diff
from ponder.report.performance import size_reading
from ponder.report.ratios import ratio_reading, ratio_table
from ponder.report.seeds import by_benchmark

NONE = "no extended benchmarks (Appendix F.1: law, code, physics) in results.parquet"


def _label(df: pd.DataFrame) -> pd.DataFrame:
    """Panel titles such as 'law: mmlu-pro-law (MC)'."""
    return df.assign(panel=df["field"] + ": " + df["benchmark"] + " (" + df["format"] + ")")


def extended_by_size(data: ReportData) -> Analysis:
    x = _label(data.extended)
    dom = primary_domain(x)
    e = endpoints(x, dom)
    if x.empty or e.empty:
        return skip(NONE if x.empty else "no ρ=0 or ρ=1 students on the extended benchmarks")
    e["series"] = e["domain"] + " " + e["fmt"]
    refs = x[x["kind"].isin(["teacher", "base"])]
    both = pd.concat([e, refs.assign(series=refs["kind"])])
    t = by_benchmark(both, ["series", "kind", "student", "params", "panel"])
    reading = size_reading(data, e, dom, by="panel", what="extended benchmarks")
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)),
        table=t,
        metric=data.metric_note(both["benchmark"]),
    )


def extended_ratio_gap(data: ReportData) -> Analysis:
    x = _label(data.extended)
    m = mono(x, primary_domain(x))
    m = m[m["schedule"] == "sequential"]
    if x.empty:
        return skip(NONE)
    if m["ratio"].nunique() < 2 or not (m["ratio"] == 0).any():
        return skip("needs ρ=0 and another sequential ratio on the extended benchmarks")
    t = ratio_table(data, m, "panel")
    if t.empty:
        return skip("needs ρ=0 and another sequential ratio on the extended benchmarks")
    reading = ratio_reading(data, m, t, "panel", "extended benchmarks")
    top = m[m["params"] == m["params"].max()]
    r1 = top["ratio"].max()
    gaps = {
        f: average(
            [
                diff(data, g[g["ratio"] == r1], g[g["ratio"] == 0.0])
                for _, g in top[top["format"] == f].groupby("benchmark")
            ]
        )
        for f in ("OE", "MC")
        if (top["format"] == f).any()
    }
    if len(gaps) == 2:
        d = gaps["OE"].minus(gaps["MC"]).result()
        reading += (
            f" At ρ={r1:g}, open-ended benchmarks gain {W.pts(gaps['OE'].result().diff)} "
            f"and multiple-choice {W.pts(gaps['MC'].result().diff)}: "
            + ("a significant difference" if d.significant else "no significant difference")
            + f" ({W.difference(d)})."
        )
    return Analysis(
        reading + W.seed_note(data.max_seeds(m)), table=t, metric=data.metric_note(m["benchmark"])
    )


def extended_infer_pareto(data: ReportData) -> Analysis:
    x = _label(data.extended)
    e = endpoints(x, primary_domain(x))
    if x.empty:
        return skip(NONE)
    if e.empty or e["infer_flops"].isna().all():
        return skip("needs ρ=0 or ρ=1 students with inference FLOPs on the extended benchmarks")
    t = by_benchmark(e, ["fmt", "student", "params", "panel"])
    t = mark_pareto(t, "infer_flops", by="panel")
    fits = saturating_fits(t, x, "panel")
    wins = pays_off(data, e, t, "panel")
    rest = [p for p in sorted(t["panel"].unique()) if p not in wins]
    reading = (
        "Reasoning pays off (significantly beats the most accurate IFT student of no greater "
        "inference cost, paired CIs) on "
        + W.listing(list(wins.values()), "no extended benchmark")
        + (f"; not at any size on {W.listing(rest)}" if rest and wins else "")
        + "."
    )
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)),
        table=t,
        fits=fits,
        metric=data.metric_note(e["benchmark"]),
    )
