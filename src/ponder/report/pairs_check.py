"""The report's statement on the teacher pairs: how many pairs each domain left out of every mix
because an answer contradicted its mode (§2.2's premise: the IFT answer holds no reasoning trace,
the reasoning answer holds one, for the same prompt).

Counts come from each pairs file's manifest (the generate stage's check); pairs written before the
check recorded its counts are counted here by the function the mixes use (modecheck.frame_flags).
"""

from __future__ import annotations

import pandas as pd

from ponder.generate.modecheck import FLAGS, frame_flags, tally
from ponder.report.data import Analysis, ReportData, skip
from ponder.rundir import read_manifest


def _counts(path) -> dict:
    """rows and flagged answers of one pairs file: its manifest's, else read from the file."""
    man = read_manifest(path) or {}
    if all(k in man for k in (*FLAGS, "mode_mismatch", "rows")):
        return {k: int(man[k]) for k in ("rows", *FLAGS, "mode_mismatch")}
    df = pd.read_parquet(path)
    return {"rows": len(df), **tally(frame_flags(df))}


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
