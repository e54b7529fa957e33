"""A small study with the judge panel on, end to end: three OpenAI-compatible judges on loopback
servers (two scripted to compare the boxed answer with the ground truth, one that always says
no), the judge stage after evaluation, judge accuracy in the results and agreement in the report."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import MINI, ponder_cli
from fakeserver import FakeServer


@pytest.mark.slow
def test_a_study_with_a_judge_panel(mini_copy):
    """Judging added to the finished mini study: only the judge steps and what follows run."""
    with (
        FakeServer(style="judge", record=False) as a,
        FakeServer(style="judge", record=False) as b,
        FakeServer(style="judge-no", record=False) as nay,
    ):
        panel = ", ".join(
            f"{{name: {n}, model: fake, base_urls: ['{s.url}']}}"
            for n, s in (("a", a), ("b", b), ("nay", nay))
        )
        out = mini_copy
        r = ponder_cli(
            "run",
            MINI,
            "--out",
            str(out),
            "--set",
            "judge.enabled=true",
            "--set",
            f"judge.judges=[{panel}]",
        )
    started = {ln.split("▶ ")[1].split(":")[0] for ln in r.stderr.splitlines() if "▶" in ln}
    assert started == {"judge", "results", "report"}

    evals = sorted((out / "evals").glob("*/*.parquet"))
    assert len(evals) == 3 * 3  # two students and the teacher, three families
    agree = []
    for ev in evals:
        j = pd.read_parquet(out / "judgements" / ev.parent.name / ev.name)
        e = pd.read_parquet(ev).merge(j, on="id")
        assert len(e) == 16 and (e["judge:nay"] == "no").all()
        assert (e["judge:a"] == e["judge:b"]).all()
        # majority of yes, yes, no = yes; of no, no, no = no
        assert (e["judge_correct"] == (e["judge:a"] == "yes")).all()
        assert all(len(json.loads(r)) == 3 for r in e["judge_raw"])  # every raw reply kept
        agree.append((e["judge_correct"] == e["correct"]).mean())
    # the scripted judges compare boxed answers, as the rule scorer mostly does
    assert sum(agree) / len(agree) > 0.9

    res = pd.read_parquet(out / "results.parquet")
    assert res["judge_accuracy"].notna().all()
    numbers = json.loads((out / "report" / "numbers.json").read_text())
    judges = numbers["judges"]
    assert judges["skipped"] is None and len(judges["table"]) == 3
    assert "Fleiss" in judges["reading"] and "a | nay" in judges["reading"]
