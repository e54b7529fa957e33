"""The reasoning-ratio and domain analyses (§3.2–3.3): Fig. 3 / 19 (sequential vs mixed),
Fig. 4 / 20 (gap to IFT across ρ per size) and Fig. 5 / 21 (bi-phasic general → math arms).

Each drawn point is a paired contrast against the IFT student (ρ = 0) of the same size on the same
items, so its error bar is the paired per-item CI of the gap (`report.paired`), not the two
accuracies' CIs combined; `gap_seed_low/high` is the CI across seeds.
"""

from __future__ import annotations

import pandas as pd

from ponder.report import wording as W
from ponder.report.data import Analysis, ReportData, mono, primary_domain, skip
from ponder.report.paired import Contrast, average, diff


def _row(d, **keys) -> dict:
    r = d.result()
    return {
        **keys,
        "gap": r.diff,
        "gap_low": r.lo,
        "gap_high": r.hi,
        "ci": (r.hi - r.lo) / 2,
        "gap_seed_low": r.seed_lo,
        "gap_seed_high": r.seed_hi,
        "seeds": r.seeds,
        "significant": r.sign,
        "seed_values": list(r.per_seed),
    }


def _at(m: pd.DataFrame, schedule: str | None, ratio: float) -> pd.DataFrame:
    s = m[m["ratio"] == ratio]
    return s if schedule is None or ratio in (0.0, 1.0) else s[s["schedule"] == schedule]


def gap_to_ift(data: ReportData, m: pd.DataFrame, schedule: str, ratio: float) -> Contrast:
    """Accuracy at ρ under `schedule` minus ρ = 0 of the same size, over sizes and benchmarks."""
    return diff(data, _at(m, schedule, ratio), _at(m, None, 0.0), by=["params"])


def seq_vs_mixed(data: ReportData) -> Analysis:
    m = mono(data.core, primary_domain(data.core) or "general")
    mid = sorted(r for r in m["ratio"].unique() if 0 < r < 1)
    both = [r for r in mid if {"sequential", "mixed"} <= set(m.loc[m["ratio"] == r, "schedule"])]
    if not both:
        return skip("needs intermediate ratios under both schedules")
    # Only sizes trained under both schedules enter, so the two curves average the same students.
    sizes = set.intersection(
        *(
            set(m.loc[(m["ratio"] == r) & (m["schedule"] == s), "params"])
            for r in both
            for s in ("sequential", "mixed")
        )
    )
    if not sizes or not (m["ratio"] == 0.0).any():
        return skip("needs intermediate ratios under both schedules and ρ=0 at one student size")
    m = m[m["params"].isin(sizes)]
    ratios = [0.0] + both + ([1.0] if (m["ratio"] == 1.0).any() else [])
    rows = []
    for s in ("sequential", "mixed"):
        for r in ratios:
            for cat, g in m.groupby("category", sort=True):
                tok = _at(g, s, r)["mean_tokens"].mean()
                rows.append(
                    _row(
                        gap_to_ift(data, g, s, r),
                        schedule=s,
                        ratio=r,
                        category=cat,
                        mean_tokens=tok,
                    )
                )
    t = pd.DataFrame(rows)
    parts = []
    for s in ("mixed", "sequential"):
        best = max(both, key=lambda r: gap_to_ift(data, m, s, r).result().diff)
        d = gap_to_ift(data, m, s, best).result()
        tok = m.loc[(m["ratio"] == best) & (m["schedule"] == s), "mean_tokens"].mean()
        parts.append(
            f"the best {s} ratio is ρ={best:g}, {W.pts(d.diff)} over IFT ({W.ci(d)}; "
            f"{tok:.0f}-token answers)"
        )
    mixed_minus_seq = average(
        [diff(data, _at(m, "mixed", r), _at(m, "sequential", r), by=["params"]) for r in both]
    ).result()
    verdict = {
        1: "mixed training is significantly better",
        -1: "sequential training is significantly better",
        0: "no significant difference between the schedules",
    }[mixed_minus_seq.sign]
    reading = (
        f"Averaged over sizes and task categories, {parts[0]}, while {parts[1]}. Averaged over "
        f"the intermediate ratios, mixed − sequential is {W.pts(mixed_minus_seq.diff)} "
        f"({W.ci(mixed_minus_seq)}): {verdict}."
    )
    return Analysis(
        reading + W.seed_note(data.max_seeds(m)), table=t, metric=data.metric_note(m["benchmark"])
    )


def ratio_gap(data: ReportData) -> Analysis:
    m = mono(data.core, primary_domain(data.core) or "general")
    m = m[(m["schedule"] == "sequential")]
    if m["ratio"].nunique() < 2 or not (m["ratio"] == 0).any():
        return skip("needs ρ=0 and at least one other sequential ratio per size")
    t = ratio_table(data, m, "category")
    if t.empty:
        return skip("needs ρ=0 and at least one other sequential ratio per size")
    return Analysis(
        ratio_reading(data, m, t, "category", "task categories") + W.seed_note(data.max_seeds(m)),
        table=t,
        metric=data.metric_note(m["benchmark"]),
    )


def ratio_table(data: ReportData, m: pd.DataFrame, by: str) -> pd.DataFrame:
    """Gap to ρ = 0 per (size, ratio, `by`) for sizes that have ρ = 0."""
    rows = []
    for (p, r, name), g in m.groupby(["params", "ratio", by], sort=True):
        base = m[(m["params"] == p) & (m["ratio"] == 0.0) & (m[by] == name)]
        if base.empty:
            continue
        rows.append(
            _row(diff(data, g, base), student=g["student"].iloc[0], params=p, ratio=r, **{by: name})
        )
    return pd.DataFrame(rows)


def ratio_reading(data: ReportData, m: pd.DataFrame, t: pd.DataFrame, by: str, what: str) -> str:
    top = t[t["params"] == t["params"].max()]
    r1 = top["ratio"].max()
    end = top[top["ratio"] == r1]
    signs = {
        f"{n} ({W.signed(_gap(data, m, n, by, r1, top))})": s
        for n, s in zip(end[by], end["significant"], strict=True)
    }
    out = (
        f"For the largest student ({top['student'].iloc[0]}), ρ={r1:g} against ρ=0 "
        + W.tally(signs, "raises accuracy", "lowers it", [], what)
        + "."
    )
    wins, cells = 0, 0
    for _, g in m.groupby(["params", by]):
        inner = [r for r in g["ratio"].unique() if 0 < r < 1]
        ends = [r for r in g["ratio"].unique() if r in (0.0, 1.0)]
        if not inner or not ends:
            continue
        cells += 1
        acc = g.groupby("ratio")["accuracy"].mean()
        best_in, best_end = max(inner, key=acc.get), max(ends, key=acc.get)
        d = diff(data, g[g["ratio"] == best_in], g[g["ratio"] == best_end]).result()
        wins += d.sign > 0
    if cells:
        out += (
            f" The best intermediate ratio significantly beats the better end (ρ=0 or 1) in "
            f"{wins} of {cells} (size, {by}) cells (paired CIs)."
        )
    return out


def _gap(data, m, name, by, ratio, top) -> object:
    g = m[(m[by] == name) & (m["params"] == top["params"].iloc[0])]
    return diff(data, g[g["ratio"] == ratio], g[g["ratio"] == 0.0]).result()


def domain_adaptation(data: ReportData) -> Analysis:
    core = data.core
    s = core[core["kind"] == "student"]
    arms = s[(s["arm"] != "") | s["domain"].str.contains(">")].copy()
    ref = mono(core, "general")
    ref = ref[ref["ratio"] == 0.0]
    if arms.empty or ref.empty:
        return skip("needs bi-phasic arms and mono-phasic general IFT students")
    arms["series"] = arms["arm"].where(arms["arm"] != "", arms["domain"])
    base = mono(core)
    base = base[(base["ratio"] == 1.0) & base["domain"].isin(["general", "math"])]
    series = pd.concat([arms, base.assign(series=base["domain"] + " reasoning")])
    series = series[series["params"].isin(set(ref["params"]))]
    if series.empty:
        return skip("needs bi-phasic arms and general IFT students of the same size")
    rows = []
    for (name, p, cat), g in series.groupby(["series", "params", "category"], sort=True):
        r = ref[(ref["params"] == p) & (ref["category"] == cat)]
        rows.append(
            _row(
                diff(data, g, r), series=name, student=g["student"].iloc[0], params=p, category=cat
            )
        )
    t = pd.DataFrame(rows)
    top = series[series["params"] == series["params"].max()]
    r_top = ref[ref["params"] == top["params"].iloc[0]]
    bits = []
    for fam in ("math", "general"):
        gains = {
            n: diff(data, g[g["family"] == fam], r_top[r_top["family"] == fam])
            for n, g in top.groupby("series")
        }
        ranked = sorted(gains, key=lambda n: gains[n].result().diff, reverse=True)
        best = gains[ranked[0]].result()
        bit = (
            f"on {fam} tasks the highest is {ranked[0]}, {W.pts(best.diff)} over general IFT "
            f"({W.ci(best)})"
        )
        if len(ranked) > 1:
            gap = gains[ranked[0]].minus(gains[ranked[1]]).result()
            bit += ", significantly above " if gap.sign > 0 else ", not significantly above "
            bit += f"the next, {ranked[1]} ({W.difference(gap)})"
        bits.append(bit)
    reading = f"At {top['student'].iloc[0]}, " + "; ".join(bits) + "."
    return Analysis(
        reading + W.seed_note(data.max_seeds(series)),
        table=t,
        metric=data.metric_note(series["benchmark"]),
    )
