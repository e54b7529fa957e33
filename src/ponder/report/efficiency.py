"""The paper's accuracy–efficiency analyses (§4): Fig. 6 / 22 (training FLOPs), Fig. 7 / 23
(inference FLOPs), Fig. 15 (early stopping, Appendix F.3) and Fig. 17 (inference FLOPs vs size,
Appendix F.5).

Training and inference FLOPs come from `results.parquet` (Appendix C; a checkpoint arm's training
FLOPs only from the tokens it says it was trained on, and Fig. 6 names the arms that say none);
early stopping re-scores saved per-item answers from `RUN_DIR/evals/`. Frontiers are drawn through
the seed means; each claim about them (a step up the frontier buys accuracy, reasoning pays off at
a size) is a paired contrast (`report.paired`). Frontiers and fits are computed in
`ponder.report.fits`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ponder.report import wording as W
from ponder.report.data import Analysis, ReportData, endpoints, mono, primary_domain, skip
from ponder.report.fits import fit_loglinear, fit_saturating, pareto_mask
from ponder.report.paired import diff
from ponder.report.seeds import by_category

# With at most 4 student sizes per curve, α and β of a saturating fit are not identified.
UNIDENTIFIED = " Saturating fits use ≤4 sizes per curve, so their ceilings are not identified."


def mark_pareto(t: pd.DataFrame, cost: str, by: str = "category") -> pd.DataFrame:
    t = t.copy()
    t["pareto"] = False
    for _, g in t.groupby(by):
        t.loc[g.index, "pareto"] = pareto_mask(g[cost].to_numpy(), g["accuracy"].to_numpy())
    return t


def _point(rows: pd.DataFrame, r: pd.Series, keys: list[str]) -> pd.DataFrame:
    """The results rows behind one aggregated point."""
    mask = np.ones(len(rows), bool)
    for k in keys:
        mask &= (rows[k] == r[k]).to_numpy()
    return rows[mask]


def frontier_steps(
    data: ReportData,
    rows: pd.DataFrame,
    t: pd.DataFrame,
    cost: str,
    keys: list[str],
    by: str = "category",
) -> tuple[int, int]:
    """(steps up the frontier whose accuracy gain is significant, steps): each Pareto point
    against the next cheaper one, on the same items."""
    sig = n = 0
    for name, g in t[t["pareto"]].groupby(by):
        g = g.sort_values(cost)
        for (_, a), (_, b) in zip(g.iloc[1:].iterrows(), g.iloc[:-1].iterrows(), strict=True):
            sub = rows[rows[by] == name]
            d = diff(data, _point(sub, a, keys), _point(sub, b, keys)).result()
            n += 1
            sig += d.sign > 0
    return sig, n


def train_pareto(data: ReportData) -> Analysis:
    dom = primary_domain(data.core)
    m = mono(data.core, dom) if dom else data.core.iloc[:0]
    if m.empty:
        return skip("no mono-phasic students")
    m = m[m["schedule"] == "sequential"]
    unknown = sorted(set(m.loc[m["train_flops"].isna() & (m["checkpoint"] != ""), "model"]))
    if unknown:  # a frontier without them would be drawn through the trained arms alone
        return skip(
            "needs training FLOPs of every student: checkpoint arm(s) "
            f"{W.listing(unknown)} give no `trained_tokens` and `trained_sequences`"
        )
    if m["train_flops"].isna().all() or m["ratio"].nunique() < 2:
        return skip("needs training FLOPs for at least two sequential ratios")
    t = by_category(m, ["student", "params", "ratio"]).dropna(subset=["train_flops"])
    t = mark_pareto(t, "train_flops")
    front = t[t["pareto"]]
    sig, n = frontier_steps(data, m, t, "train_flops", ["params", "ratio"])
    reading = (
        f"Of the {len(front)} Pareto-optimal (training FLOPs, accuracy) points across "
        f"{t['category'].nunique()} task categories, {int((front['ratio'] == 0).sum())} are IFT "
        f"(ρ=0), {int(((front['ratio'] > 0) & (front['ratio'] < 1)).sum())} intermediate ratios "
        f"and {int((front['ratio'] == 1).sum())} full reasoning (ρ=1). {sig} of the {n} steps up "
        "the frontiers buy a significant accuracy gain over the next cheaper frontier point "
        "(paired CIs); the others are within noise of it."
    )
    return Analysis(
        reading + W.seed_note(data.max_seeds(m)), table=t, metric=data.metric_note(m["benchmark"])
    )


def _teacher_cap(df: pd.DataFrame, by: str) -> dict[str, float]:
    """Appendix E bounds α+β by the teacher's accuracy; 1 when the study has no teacher."""
    t = df[df["kind"] == "teacher"]
    return t.groupby(by)["accuracy"].mean().to_dict() if len(t) else {}


def saturating_fits(t: pd.DataFrame, df: pd.DataFrame, by: str) -> list[dict]:
    fits, caps = [], _teacher_cap(df, by)
    for (name, fmt), g in t.groupby([by, "fmt"]):
        if g["params"].nunique() < 3:
            continue  # 4 parameters from fewer than 3 sizes is not a curve worth drawing
        cap = float(min(1.0, caps.get(name, 1.0)))
        f = fit_saturating(g["infer_flops"].to_numpy(), g["accuracy"].to_numpy(), cap=cap)
        # With n ≤ 4 points the 4 parameters interpolate: the curve is drawn, the ceiling is
        # not identified and the reading makes no claim about it.
        fits.append({by: name, "fmt": fmt, **f.as_dict(), "identified": f.n > 4})
    return fits


def pays_off(data: ReportData, e: pd.DataFrame, t: pd.DataFrame, by: str) -> dict[str, str]:
    """Per panel: the smallest size whose reasoning student significantly beats the most
    accurate IFT student of no greater inference cost (§4.2's "reasoning pays off")."""
    out = {}
    for name, g in t.groupby(by, sort=True):
        ift = g[g["fmt"] == "IFT"]
        for _, r in g[g["fmt"] == "reasoning"].sort_values("params").iterrows():
            cheaper = ift[ift["infer_flops"] <= r["infer_flops"]]
            if cheaper.empty:
                continue
            best = cheaper.loc[cheaper["accuracy"].idxmax()]
            sub = e[e[by] == name]
            d = diff(
                data, _point(sub, r, ["fmt", "params"]), _point(sub, best, ["fmt", "params"])
            ).result()
            if d.sign > 0:
                out[name] = (
                    f"{name} from {r['student']} ({W.pts(d.diff)} over {best['student']}"
                    f" IFT, {W.ci(d)})"
                )
                break
    return out


def infer_pareto(data: ReportData) -> Analysis:
    dom = primary_domain(data.core)
    e = endpoints(data.core, dom)
    if e.empty or e["infer_flops"].isna().all():
        return skip("needs ρ=0 or ρ=1 students with inference FLOPs")
    t = mark_pareto(by_category(e, ["fmt", "student", "params"]), "infer_flops")
    fits = saturating_fits(t, data.core, "category")
    parts = [
        f"{int(s['pareto'].sum())} of {len(s)} {fmt} points"
        for fmt, s in t.groupby("fmt", sort=True)
    ]
    wins = pays_off(data, e, t, "category")
    rest = [c for c in sorted(t["category"].unique()) if c not in wins]
    reading = "Pareto-optimal: " + " and ".join(parts) + "."
    if {"IFT", "reasoning"} <= set(t["fmt"]):
        reading += (
            " Reasoning pays off (significantly beats the most accurate IFT student of no "
            "greater inference cost, paired CIs) in "
            + W.listing(list(wins.values()), "no category")
            + (f"; not at any size in {W.listing(rest)}" if rest and wins else "")
            + "."
        )
    if fits and not any(f["identified"] for f in fits):
        reading += UNIDENTIFIED
    return Analysis(
        reading + W.seed_note(data.max_seeds(e)),
        table=t,
        fits=fits,
        metric=data.metric_note(e["benchmark"]),
    )


def infer_scaling(data: ReportData) -> Analysis:
    e = endpoints(data.core, primary_domain(data.core))
    if e.empty or e["params"].nunique() < 2:
        return skip("needs ρ=0/ρ=1 students of at least two sizes")
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
            "; at equal size reasoning costs a median "
            + W.factor((w["reasoning"] / w["IFT"]).median())
            + " IFT's inference FLOPs"
        )
    return Analysis(reading + ".", table=t, fits=fits, metric="inference FLOPs (no score)")
