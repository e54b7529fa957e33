"""The headline (§3.1): per task category, the smallest reasoning student that is not
significantly worse than the largest IFT student, its size factor and inference-cost factor.

A category where the largest IFT student is not significantly above guessing is "at chance" and
gets no claim (matching a guess is not matching a model). Otherwise, going up the reasoning sizes,
the first student that significantly beats the largest IFT student is named with "beats"; failing
that, the first whose paired CI includes 0 is named with "no significant difference". The table
shows the report's metric and, beside it, the rule scorer's accuracy.
"""

from __future__ import annotations

import pandas as pd

from ponder.report import wording as W
from ponder.report.data import Analysis, ReportData, endpoints, primary_domain, skip
from ponder.report.paired import above_chance, diff

VERDICT = {1: "beats", 0: "no significant difference", -1: "trails"}
COLUMNS = [
    "category",
    "largest_ift",
    "ift_accuracy",
    "ift_rule",
    "reasoning_student",
    "reasoning_accuracy",
    "reasoning_rule",
    "diff",
    "diff_low",
    "diff_high",
    "diff_seed_low",
    "diff_seed_high",
    "verdict",
    "size_factor",
    "cost_factor",
    "chance",
]


def _category(data: ReportData, cat: str, g: pd.DataFrame) -> dict | None:
    ift, rea = g[g["fmt"] == "IFT"], g[g["fmt"] == "reasoning"]
    if ift.empty or rea.empty:
        return None
    big = ift[ift["params"] == ift["params"].max()]
    row = dict(
        category=cat,
        largest_ift=big["student"].iloc[0],
        ift_accuracy=big["accuracy"].mean(),
        ift_rule=big["rule_accuracy"].mean(),
        chance=big["chance"].mean(),
    )
    if above_chance(data, big).sign <= 0:
        return row | {"verdict": "at chance"}
    found = None
    for p in sorted(rea.loc[rea["params"] <= big["params"].iloc[0], "params"].unique()):
        r = rea[rea["params"] == p]
        d = diff(data, r, big).result()
        # "No significant difference" is only said when neither CI puts the student below.
        worse = d.hi < 0 or (d.seeds >= 2 and d.seed_hi < 0)
        if d.sign > 0 or (not worse and found is None):
            found = (r, d)
            if d.sign > 0:
                break
    if found is None:
        return row | {"verdict": "trails"}
    r, d = found
    return row | dict(
        reasoning_student=r["student"].iloc[0],
        reasoning_accuracy=r["accuracy"].mean(),
        reasoning_rule=r["rule_accuracy"].mean(),
        diff=d.diff,
        diff_low=d.lo,
        diff_high=d.hi,
        diff_seed_low=d.seed_lo,
        diff_seed_high=d.seed_hi,
        verdict=VERDICT[d.sign],
        size_factor=big["params"].iloc[0] / r["params"].iloc[0],
        cost_factor=r["infer_flops"].mean() / big["infer_flops"].mean(),
        _d=d,
    )


def _sentence(r: dict) -> str:
    d, f = r["_d"], r["size_factor"]
    size = "the same size" if f == 1 else f"{W.factor(f)} smaller"
    return (
        f"{r['category']}: {r['reasoning_student']} ({size}, {W.factor(r['cost_factor'])} "
        f"its inference FLOPs; {W.signed(d)})"
    )


def headline(data: ReportData) -> Analysis:
    e = endpoints(data.core, primary_domain(data.core))
    if e.empty or set(e["fmt"]) != {"IFT", "reasoning"}:
        return skip("needs both ρ=0 and ρ=1 mono-phasic students")
    rows = [
        r
        for cat, g in e.groupby("category", sort=True)
        if (r := _category(data, cat, g)) is not None
    ]
    groups = {v: [r for r in rows if r["verdict"] == v] for v in (*VERDICT.values(), "at chance")}
    big = rows[0]["largest_ift"] if rows else "?"
    n_cmp = len(rows) - len(groups["at chance"])
    beats, same = groups["beats"], groups["no significant difference"]
    if n_cmp == 0:
        out = [
            f"Against the largest IFT student ({big}), nothing is compared: no task category "
            "is above chance"
        ]
    else:
        out = [
            f"Against the largest IFT student ({big}), a reasoning student of the same size "
            f"or smaller significantly beats it in {len(beats)} of {n_cmp} task categories "
            "above chance" + (": " + "; ".join(_sentence(r) for r in beats) if beats else "")
        ]
    if same:
        out.append(
            f"the smallest not significantly worse shows no significant difference in "
            f"{len(same)}: " + "; ".join(_sentence(r) for r in same)
        )
    if groups["trails"]:
        out.append(
            f"every reasoning student of that size or smaller is significantly worse in "
            f"{W.listing([r['category'] for r in groups['trails']])}"
        )
    reading = out[0] + "".join(". " + o[0].upper() + o[1:] for o in out[1:]) + "."
    if groups["at chance"]:
        reading += (
            " At chance, not compared: "
            + W.listing(
                [
                    f"{r['category']} (largest IFT {W.pct(r['ift_accuracy'])}"
                    + (f", chance {W.pct(r['chance'])})" if r["chance"] > 0 else ")")
                    for r in groups["at chance"]
                ]
            )
            + "."
        )
    t = pd.DataFrame([{k: v for k, v in r.items() if k != "_d"} for r in rows])
    t = t.reindex(columns=COLUMNS)
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)), table=t, metric=data.metric_note(e["benchmark"])
    )
