"""Cluster generation: a big domain as n shard steps (contiguous slices of the source) and a merge
that refuses anything but exactly one row per prompt of every slice."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fakeserver import FakeServer
from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.generate.run import generate_domain, merge_shards, shard_bounds
from ponder.pipeline import ledger, worker
from ponder.pipeline.cluster import ClusterConfig
from ponder.pipeline.plan import plan_steps
from ponder.pipeline.steps import StepKind
from ponder.rundir import RunDir

WHOLE = "generate:math"
SHARDS = [f"{WHOLE}@{k}/3" for k in range(3)]


def study(source: dict, teacher: dict | None = None, domain: str = "math") -> StudyConfig:
    return StudyConfig.model_validate(
        {
            "name": "shards",
            "students": [{"name": "s"}],
            "grid": [{"students": ["s"], "domains": [domain]}],
            "teacher": teacher or {},
            "domains": {domain: {"source": source}},
        }
    )


@pytest.mark.parametrize(("n_rows", "n"), [(90, 3), (100, 3), (7, 7), (5, 2), (1, 1)])
def test_shard_bounds_tile_the_source(n_rows, n):
    bounds = [shard_bounds(n_rows, k, n) for k in range(n)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


def test_three_shards_and_a_merge_equal_one_pass(tmp_path):
    cfg = study({"kind": "world", "n": 100})
    cluster = ClusterConfig(generate_rows_per_step=40)
    gen = [s.id for s in plan_steps(cfg, cluster) if s.kind is StepKind.GENERATE]
    assert gen == [*SHARDS, WHOLE]
    rd = RunDir(tmp_path / "run")
    assert worker.run_steps(cfg, rd.root, gen, cluster) == ["ran"] * 4
    assert worker.run_steps(cfg, rd.root, gen, cluster) == ["done"] * 4
    sizes = [ledger.read(rd, s)["info"]["rows"] for s in SHARDS]
    assert sizes == [33, 33, 34] and ledger.read(rd, WHOLE)["info"]["shards"] == 3
    generate_domain(cfg, "math", tmp_path / "one.parquet", "h", progress=False)
    pd.testing.assert_frame_equal(
        pd.read_parquet(rd.pairs("math")), pd.read_parquet(tmp_path / "one.parquet")
    )


def test_a_shard_with_unanswered_prompts_is_incomplete_and_the_merge_waits_for_it(tmp_path):
    path = tmp_path / "p.jsonl"
    marks = {12: " [500x2]"}  # both attempts of the first pass fail, then the server recovers
    path.write_text("".join(json.dumps({"q": f"q{i}{marks.get(i, '')}"}) + "\n" for i in range(30)))
    rd = RunDir(tmp_path / "run")
    with FakeServer() as srv:
        teacher = {"backend": "openai", "model": "fake", "base_urls": [srv.url]}
        teacher |= {"max_retries": 1, "max_failed_share": 0.5}
        cfg = study({"kind": "file", "path": str(path), "column": "q", "limit": 30}, teacher)
        cluster = ClusterConfig(generate_rows_per_step=10)
        assert worker.run_steps(cfg, rd.root, SHARDS, cluster) == ["ran"] * 3
        assert [
            ledger.is_done(rd, s)
            for s in worker.planned_context(cfg, rd, cluster).steps.values()
            if s.id in SHARDS
        ] == [True, False, True]
        with pytest.raises(PonderError, match=r"^generate:math@1/3: .* holds 9 of its 10 prompts"):
            worker.run_steps(cfg, rd.root, [WHOLE], cluster)
        assert worker.run_steps(cfg, rd.root, [*SHARDS, WHOLE], cluster) == [
            "done",
            "ran",
            "done",
            "ran",
        ]
    assert pd.read_parquet(rd.pairs("math"))["id"].nunique() == 30


def _three_shards(tmp_path: Path) -> tuple[StudyConfig, list[Path]]:
    cfg = study({"kind": "world", "n": 60})
    rd = RunDir(tmp_path / "run")
    worker.run_steps(cfg, rd.root, SHARDS, ClusterConfig(generate_rows_per_step=20))
    return cfg, [rd.pair_shard("math", k, 3) for k in range(3)]


def _rewrite(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


def _swap(a: Path, b: Path) -> None:
    ta, tb = pq.read_table(a), pq.read_table(b)
    _rewrite(a, tb)
    _rewrite(b, ta)


BROKEN = {
    "missing": (lambda s: s[1].unlink(), r"^generate:math@1/3: shard .*00001-of-00003.* missing"),
    "a copy of another": (
        lambda s: _rewrite(s[1], pq.read_table(s[0])),
        r"^generate:math@1/3: prompt '.+' has a second row",
    ),
    "two swapped": (
        lambda s: _swap(s[1], s[2]),
        r"^generate:math@1/3: prompt '.+' belongs to another slice",
    ),
    "a row twice": (
        lambda s: _rewrite(s[2], pa.concat_tables([pq.read_table(s[2])] * 2)),
        r"^generate:math@2/3: prompt '.+' has a second row",
    ),
    "short": (
        lambda s: _rewrite(s[0], pq.read_table(s[0]).slice(1)),
        r"^generate:math@0/3: .* holds 19 of its 20 prompts",
    ),
    "not parquet": (
        lambda s: s[2].write_text("not a parquet file"),
        r"^generate:math@2/3: cannot read ",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_the_merge_refuses_missing_duplicated_and_short_shards(tmp_path, case):
    cfg, shards = _three_shards(tmp_path)
    breaks, message = BROKEN[case]
    breaks(shards)
    out = tmp_path / "merged.parquet"
    with pytest.raises(PonderError, match=message) as err:
        merge_shards(cfg, "math", shards, out)
    assert "\n" not in str(err.value) and not out.exists()
