"""Side by side with a reference study (`report.compare_to`): does a replication land where the
authors' released students did?

The reference is the run directory (or the results.parquet) of a study that evaluated reference
checkpoints, e.g. `ponder run paper-students` (the paper's 20 released students). An arm of this
study matches a reference arm with the same domain (or bi-phasic phases), ρ and schedule, and the
same size: the same student label or a parameter count within 10%. Per benchmark both accuracies
are given (seed means, 95% CIs over items) with the difference and its CI: paired over the items
both runs answered when both runs' per-item files are there (the same items: the same evaluation
seed and limit), else from the two CIs as independent. A CI that includes 0 is "no significant
difference" (report.wording). A benchmark judged in one run and not the other is compared on
the rule scorer in both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ponder.errors import PonderError
from ponder.evaluate.stats import contrast_ci
from ponder.report import wording as W
from ponder.report.data import Analysis, ReportData, skip
from ponder.report.paired import Diff

ARM = ["student", "params", "domain", "ratio", "schedule", "arm"]
SIZE_TOLERANCE = 0.10  # one student size: Qwen2.5's sizes are ≥ 2x apart (0.49B … 14.7B)


def _compare_to(data: ReportData) -> str | None:
    rep = data.settings.get("report")
    return rep.get("compare_to") if isinstance(rep, dict) else None


def _arms(df: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    students = df[df["kind"] == "student"]
    return {k: g for k, g in students.groupby(ARM, sort=True, dropna=False)}


def _same_size(a: tuple, b: tuple) -> bool:
    (sa, pa), (sb, pb) = a[:2], b[:2]
    close = np.isfinite(pa) and np.isfinite(pb) and abs(pa - pb) <= SIZE_TOLERANCE * pb
    return sa == sb or bool(close)


def matches(mine: dict, theirs: dict) -> list[tuple[tuple, tuple]]:
    """(this arm, its reference arm) for every arm of this study that has one."""
    out = []
    for a in mine:
        same = [b for b in theirs if a[2:] == b[2:] and _same_size(a, b)]
        if same:  # two qualify: the same label first, then the closest size
            out.append(
                (a, min(same, key=lambda b: (b[0] != a[0], abs(np.nan_to_num(a[1] - b[1])))))
            )
    return out


def _models(rows: pd.DataFrame) -> str:
    return ", ".join(sorted(set(rows["model"])))


def _label(arm: tuple) -> str:
    student, _, domain, ratio, schedule, phases = arm
    what = phases or f"{domain} ρ={ratio:g}"
    return f"{student} {what}" + (f" {schedule}" if schedule != "sequential" else "")


def _verdicts(d: ReportData, rows: pd.DataFrame, metric: str) -> pd.Series | None:
    """Per item, the seed mean of the rows' verdicts under `metric` (None: a file is missing)."""
    vecs = []
    for m, b in zip(rows["model"], rows["benchmark"], strict=True):
        if metric == "judge":
            v = d.items(m, b)
        else:
            ev = d.evals(m, b)
            v = ev["correct"].astype(bool).astype(float) if ev is not None else None
        if v is None:
            return None
        vecs.append(v)
    return pd.concat(vecs, axis=1, join="inner").mean(axis=1)


def _side(d: ReportData, rows: pd.DataFrame, metric: str) -> tuple[float, float, float]:
    """(accuracy, low, high) of a seed mean under `metric`."""
    pre = "" if d.metrics.get(rows["benchmark"].iloc[0]) == metric else "rule_"
    acc, lo, hi = (rows[f"{pre}{c}"].to_numpy(float) for c in ("accuracy", "ci_low", "ci_high"))
    if len(rows) == 1:
        return float(acc[0]), float(lo[0]), float(hi[0])
    hw = float(np.sqrt((((hi - lo) / 2) ** 2).sum()) / len(rows))  # as report.seeds propagates
    return float(acc.mean()), float(acc.mean() - hw), float(acc.mean() + hw)


def _row(data: ReportData, ref: ReportData, a: pd.DataFrame, r: pd.DataFrame, b: str) -> dict:
    same = data.metrics.get(b) == ref.metrics.get(b)
    metric = data.metrics.get(b, "rule") if same else "rule"
    (acc, lo, hi), (racc, rlo, rhi) = _side(data, a, metric), _side(ref, r, metric)
    va, vr = _verdicts(data, a, metric), _verdicts(ref, r, metric)
    common = sorted(set(va.index) & set(vr.index)) if va is not None and vr is not None else []
    if common:
        point, dlo, dhi = contrast_ci([(va[common] - vr[common]).to_numpy()])
        d = Diff(point, dlo, dhi)
    else:
        hw = float(np.hypot((hi - lo) / 2, (rhi - rlo) / 2))
        d = Diff(acc - racc, acc - racc - hw, acc - racc + hw, paired=False)
    verdict = {1: "higher", -1: "lower", 0: "no significant difference"}[d.sign]
    return {
        "benchmark": b,
        "accuracy": acc,
        "ci_low": lo,
        "ci_high": hi,
        "ref_accuracy": racc,
        "ref_ci_low": rlo,
        "ref_ci_high": rhi,
        "diff": d.diff,
        "diff_low": d.lo,
        "diff_high": d.hi,
        "paired": d.paired,
        "items": len(common),
        "metric": metric,
        "verdict": verdict,
    }


def beside_reference(data: ReportData) -> Analysis:
    where = _compare_to(data)
    if not where:
        return skip(
            "no `report.compare_to` (the run directory of a study of reference checkpoints, "
            "e.g. `ponder run paper-students`)"
        )
    path = Path(where).expanduser()
    if not (path / "results.parquet" if path.is_dir() else path).is_file():
        return skip(f"report.compare_to: {where}: no results.parquet there")
    try:  # judge-panel scores where the reference has them (else the rule scorer's, per benchmark)
        ref = ReportData(path, "rule" if data.requested == "rule" else "auto")
    except PonderError as e:
        return skip(f"report.compare_to: {e}")
    mine, theirs, rows = _arms(data.df), _arms(ref.df), []
    pairs = matches(mine, theirs)
    if not pairs:
        return skip(
            f"no arm of this study matches one in {where} (same size within 10%, domain, ρ, "
            "schedule and phases)"
        )
    for a, b in pairs:
        ga, gb = mine[a], theirs[b]
        for bench in sorted(set(ga["benchmark"]) & set(gb["benchmark"])):
            row = _row(data, ref, ga[ga["benchmark"] == bench], gb[gb["benchmark"] == bench], bench)
            rows.append({"arm": _label(a), "model": _models(ga), "reference": _models(gb), **row})
    t = pd.DataFrame(rows)
    return Analysis(
        _reading(t, len(pairs), where), table=t, metric=data.metric_note(t["benchmark"])
    )


def _reading(t: pd.DataFrame, arms: int, where: str) -> str:
    def cases(verdict: str) -> list[str]:
        g = t[t["verdict"] == verdict]
        return [
            f"{r.arm} on {r.benchmark} ({W.pts(r.diff)}, 95% CI "
            f"[{W.pts(r.diff_low)}, {W.pts(r.diff_high)}])"
            for r in g.itertuples()
        ]

    same, up, down = (cases(v) for v in ("no significant difference", "higher", "lower"))
    text = (
        f"{arms} arm(s) of this study match arms of {where}; of their {len(t)} benchmark "
        f"comparisons, {len(same)} show no significant difference"
    )
    if up:
        text += f"; this study is higher in {len(up)}: {W.listing(up[:5])}"
    if down:
        text += f"; lower in {len(down)}: {W.listing(down[:5])}"
    paired = int(t["paired"].sum())
    return text + f". CIs over items, paired on the same items in {paired} of {len(t)}."
