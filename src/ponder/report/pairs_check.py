"""The report's statement on the teacher pairs: how many pairs each domain left out of every mix
because an answer contradicted its mode (§2.2's premise: the IFT answer holds no reasoning trace,
the reasoning answer holds one, for the same prompt).

Counts come from each pairs file's manifest (the generate stage's check); pairs written before the
check recorded its counts are checked here, from their text, by the same function the mixes use.
"""

from __future__ import annotations

import json

import pandas as pd

from ponder.report.data import Analysis, ReportData, skip

FLAGS = ("ift_mode_mismatch", "reasoning_mode_mismatch")


def _counts(path) -> dict:
    """rows and flagged answers of one pairs file: its manifest's, else read from its text."""
    try:
        man = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    except (OSError, ValueError):
        man = {}
    if all(k in man for k in (*FLAGS, "mode_mismatch", "rows")):
        return {k: int(man[k]) for k in ("rows", *FLAGS, "mode_mismatch")}
    from ponder.generate.modecheck import flags

    df = pd.read_parquet(path)
    per = {}
    for mode, col in zip(("ift", "reasoning"), FLAGS, strict=True):
        err = df[f"{mode}_error"] if f"{mode}_error" in df else pd.Series([None] * len(df))
        per[col] = flags(df[mode].tolist(), err.notna().tolist(), mode)
    either = [a or b for a, b in zip(*per.values(), strict=True)]
    return {"rows": len(df), **{c: sum(v) for c, v in per.items()}, "mode_mismatch": sum(either)}


def pairs_check(data: ReportData) -> Analysis:
    """Per domain: pairs, IFT answers with a trace, reasoning answers without one, and the pairs
    left out of every mix."""
    files = sorted((data.rd.root / "pairs").glob("*.parquet"))
    if not files:
        return skip("no teacher pairs in this run directory")
    rows = [{"domain": p.stem, **_counts(p)} for p in files]
    table = pd.DataFrame(rows).rename(columns={"mode_mismatch": "left_out"})
    said = []
    for r in rows:
        if not r["mode_mismatch"]:
            said.append(f"{r['domain']}: none of {r['rows']:,} pairs")
            continue
        said.append(
            f"{r['domain']}: {r['mode_mismatch']:,} of {r['rows']:,} pairs left out of every mix "
            f"({r[FLAGS[0]]:,} IFT answers with a reasoning trace, {r[FLAGS[1]]:,} reasoning "
            "answers without one)"
        )
    reading = (
        "Every pair was checked against its modes: a pair whose IFT answer holds a reasoning trace "
        "or whose reasoning answer holds none is no IFT/reasoning pair and trains no student. "
        + "; ".join(said)
        + "."
    )
    return Analysis(reading=reading, table=table)
