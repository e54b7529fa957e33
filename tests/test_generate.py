"""The generate stage: one row per prompt with both answers, sources, caching, dry runs, and
kill-and-resume against a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from _paths import DATA as BENCH  # noqa: E402
from _studies import one_student_study
from fakeserver import FakeServer, free_port, scripted_answer
from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.flops import infer_flops, resolve_model
from ponder.generate.dryrun import estimate_domain
from ponder.generate.run import generate_domain as _generate_domain
from ponder.generate.sources import iter_prompts, prompt_id
from ponder.lm.scripted import count_tokens
from ponder.pipeline import ledger
from ponder.pipeline.expand import expand, pairs_content
from ponder.pipeline.runner import run_steps
from ponder.rundir import RunDir, config_hash, read_manifest

CONTRACT = ["id", "prompt", "ift", "reasoning", "ift_tokens", "reasoning_tokens"]
CONTRACT += ["ift_finish", "reasoning_finish", "prompt_tokens", "ift_truncated"]
CONTRACT += ["reasoning_truncated", "ift_error", "reasoning_error"]


def study(teacher: dict | None = None, **domains) -> StudyConfig:
    return one_student_study(teacher, domains or {"math": {"kind": "world", "n": 300}})


def pairs_path(run_dir: Path, domain: str) -> Path:
    return RunDir(run_dir).pairs(domain)


def pairs_hash(cfg: StudyConfig, domain: str) -> str:
    return config_hash(pairs_content(cfg, domain))


def generate_domain(cfg: StudyConfig, domain: str, run_dir: Path, **kw) -> dict:
    """The generate stage alone, into `run_dir`'s pairs file."""
    return _generate_domain(cfg, domain, pairs_path(run_dir, domain), pairs_hash(cfg, domain), **kw)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------- scripted teacher, world prompts
def test_world_domain_one_row_per_prompt_with_both_answers(tmp_path):
    cfg = study(general={"kind": "world", "n": 400})
    summary = generate_domain(cfg, "general", tmp_path, progress=False)
    df = pd.read_parquet(pairs_path(tmp_path, "general"))
    assert set(CONTRACT + ["family", "gold"]) <= set(df.columns)
    assert len(df) == df["id"].nunique() == 400 == summary["rows"]
    assert df["ift"].str.contains(r"\\boxed").all()
    assert df["reasoning"].str.startswith("<think>").all()
    assert (df["reasoning_tokens"] > df["ift_tokens"]).all()
    assert summary["failed"] == summary["truncated"] == 0
    assert read_manifest(pairs_path(tmp_path, "general"))["rows"] == 400


def test_rerun_is_cached_and_changed_teacher_regenerates(tmp_path):
    rd = RunDir(tmp_path)
    cfg = study()
    assert set(run_steps(cfg, rd, only=["generate:math"], quiet=True)) == {"generate"}
    record = ledger.read(rd, "generate:math")
    assert run_steps(cfg, rd, only=["generate:math"], quiet=True) == {}  # nothing to do
    assert ledger.read(rd, "generate:math") == record
    hotter = study({"ift": {"temperature": 0.9, "top_p": 0.8}})
    assert set(run_steps(hotter, rd, only=["generate:math"], quiet=True)) == {"generate"}
    step = next(s for s in expand(hotter) if s.id == "generate:math")
    assert ledger.read(rd, "generate:math")["hash"] == step.hash != record["hash"]


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"base_urls": ["http://a/v1", "http://b/v1"]}, True),
        ({"max_concurrency": 7, "max_retries": 1, "shard_size": 3}, True),
        ({"api_key_env": "SOME_KEY", "flops_model": "qwen2.5-7b"}, True),
        ({"commit_every_s": 0.5, "max_failed_share": 0.01, "request_timeout_s": 30}, True),
        ({"reasoning": {"temperature": 0.6, "top_p": 0.95, "expected_tokens": 900}}, True),
        ({"model": "Qwen/Qwen3-235B-A22B"}, False),
        ({"reasoning": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 4096}}, False),
    ],
)
def test_pairs_hash_covers_exactly_what_determines_the_answers(change, same):
    assert (pairs_hash(study(change), "math") == pairs_hash(study(), "math")) is same


def test_truncated_reasoning_is_flagged_not_dropped(tmp_path):
    cfg = study({"reasoning": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 6}})
    summary = generate_domain(cfg, "math", tmp_path, progress=False)
    df = pd.read_parquet(pairs_path(tmp_path, "math"))
    assert len(df) == 300 and df["reasoning_truncated"].all() and not df["ift_truncated"].any()
    assert (df["reasoning_finish"] == "length").all()
    assert summary["reasoning_truncated"] == summary["truncated"] == 300


# ---------------------------------------------------------------- file sources
ROWS = [{"q": f"What is {i} + {i}?", "key": f"k{i}"} for i in range(10)] + [{"q": "What is 0 + 0?"}]


@pytest.mark.parametrize(
    ("extra", "expected_ids"),
    [
        ({}, [prompt_id(r["q"]) for r in ROWS[:10]]),  # the duplicate last prompt is dropped
        ({"limit": 3}, [prompt_id(r["q"]) for r in ROWS[:3]]),
        ({"id_column": "key", "limit": 2}, ["k0", "k1"]),
    ],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_file_sources(tmp_path, fmt, extra, expected_ids):
    df = pd.DataFrame(ROWS)
    path = tmp_path / f"p.{fmt}"
    {
        "jsonl": lambda: write_jsonl(path, ROWS),
        "csv": lambda: df.to_csv(path, index=False),
        "parquet": lambda: df.to_parquet(path),
    }[fmt]()
    cfg = study(x={"kind": "file", "path": str(path), "column": "q", **extra})
    assert [r["id"] for r in iter_prompts(cfg, "x")] == expected_ids


def test_seeded_sample_is_stable_and_not_the_head(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"q": f"prompt {i}"} for i in range(200)])
    src = {"kind": "file", "path": str(path), "column": "q", "limit": 20}
    a = [r["prompt"] for r in iter_prompts(study(x=src | {"sample_seed": 1}), "x")]
    b = [r["prompt"] for r in iter_prompts(study(x=src | {"sample_seed": 1}), "x")]
    head = [r["prompt"] for r in iter_prompts(study(x=src), "x")]
    assert a == b and len(a) == 20 and a != head


def test_chat_message_prompts_drop_a_trailing_assistant_turn(tmp_path):
    conv = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "old answer"}]
    path = write_jsonl(tmp_path / "c.jsonl", [{"messages": conv}])
    (row,) = iter_prompts(study(x={"kind": "file", "path": str(path), "column": "messages"}), "x")
    assert row["messages"] == conv[:1] and row["prompt"] == "Hi?"


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ({"kind": "file", "path": "nope.jsonl"}, "file not found"),
        ({"kind": "file", "path": "{tmp}/p.txt"}, "unsupported format"),
        ({"kind": "file", "path": "{tmp}/p.jsonl", "column": "question"}, "no column 'question'"),
        ({"kind": "file", "path": "{tmp}/p.jsonl", "id_column": "uid"}, "source.id_column"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path, src, message):
    write_jsonl(tmp_path / "p.jsonl", [{"prompt": "x"}])
    (tmp_path / "p.txt").write_text("x")
    src = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in src.items()}
    with pytest.raises(PonderError, match=message):
        generate_domain(study(x=src), "x", tmp_path, progress=False)


def test_hub_source_goes_through_datasets(monkeypatch):
    import datasets

    calls = []

    def fake_load(name, subset, split):
        calls.append((name, subset, split))
        return datasets.Dataset.from_dict({"problem": [f"Problem {i}" for i in range(30)]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    src = {"kind": "hub", "dataset": "org/prompts", "subset": "main", "split": "train"}
    src |= {"column": "problem", "limit": 5, "sample_seed": 0}
    rows = list(iter_prompts(study(x=src), "x"))
    assert calls == [("org/prompts", "main", "train")]
    assert len(rows) == 5 and all(r["prompt"].startswith("Problem ") for r in rows)


def test_paired_dataset_skips_generation(tmp_path):
    rows = [
        {"instruction": "Q1", "short": "A1", "long": "<think>t1</think>A1", "uid": "a"},
        {"instruction": "Q2", "short": "A2", "long": "<think>t2 cut", "uid": "b"},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    cols = {"prompt": "instruction", "ift": "short", "reasoning": "long"}
    cfg = study(x={"kind": "paired", "path": str(path), "columns": cols, "id_column": "uid"})
    summary = generate_domain(cfg, "x", tmp_path, progress=False)
    df = pd.read_parquet(pairs_path(tmp_path, "x"))
    assert list(df["id"]) == ["a", "b"] and list(df["ift"]) == ["A1", "A2"]
    assert list(df["reasoning_truncated"]) == [False, True]
    assert summary["reasoning_truncated"] == 1


# ---------------------------------------------------------------- dry run
def test_dry_run_counts_and_estimates_without_a_teacher(tmp_path):
    teacher = {
        "backend": "openai",
        "base_urls": [f"http://127.0.0.1:{free_port()}/v1"],  # nobody listens: never called
        "flops_model": "qwen2.5-0.5b",
        "reasoning": {"temperature": 0.6, "top_p": 0.95, "expected_tokens": 1000},
    }
    cfg = study(teacher)
    est = estimate_domain(cfg, "math")
    prompts = [count_tokens(r["prompt"]) for r in iter_prompts(cfg, "math")]
    assert (est["prompts"], est["prompt_tokens"]) == (300, sum(prompts))
    assert (est["ift_gen_tokens"], est["reasoning_gen_tokens"]) == (300 * 16384, 300 * 1000)
    dims = resolve_model("qwen2.5-0.5b")
    want = sum(float(infer_flops(dims, p, 1000)) for p in prompts)
    assert est["reasoning_teacher_flops"] == pytest.approx(want, rel=1e-9)
    assert not pairs_path(tmp_path, "math").exists()


# ---------------------------------------------------------------- a real OpenAI-compatible server
def test_openai_teacher_end_to_end_with_a_rejected_row(tmp_path, monkeypatch):
    monkeypatch.setenv("TEACHER_KEY", "sk-do-not-log")
    prompts = [{"q": f"question {i}" + (" [400]" if i == 3 else "")} for i in range(40)]
    path = write_jsonl(tmp_path / "p.jsonl", prompts)
    with FakeServer(api_key="sk-do-not-log") as srv:
        teacher = {"backend": "openai", "model": "fake", "base_urls": [srv.url]}
        teacher |= {"api_key_env": "TEACHER_KEY", "shard_size": 7, "max_concurrency": 8}
        cfg = study(teacher, x={"kind": "file", "path": str(path), "column": "q"})
        summary = generate_domain(cfg, "x", tmp_path, progress=False)
    df = pd.read_parquet(pairs_path(tmp_path, "x"))
    assert (summary["rows"], summary["rejected"], summary["failed"]) == (40, 1, 0)
    assert "incomplete" not in summary  # asking again would get the same 400
    assert "maximum context length" in df.loc[3, "reasoning_error"]
    thought, answer = scripted_answer("question 0")
    assert df.loc[0, "reasoning"] == f"<think>\n{thought}\n</think>\n\n{answer}"
    assert df.loc[0, "ift"] == answer
    blob = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert "sk-do-not-log" not in blob


def test_client_processes_match_one_process_and_stop_on_a_bad_key(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "p.jsonl", [{"q": f"question {i}"} for i in range(60)])
    src = {"kind": "file", "path": str(path), "column": "q"}
    monkeypatch.setenv("TEACHER_KEY", "k")
    with FakeServer(api_key="k") as srv:
        teacher = {"backend": "openai", "model": "fake", "base_urls": [srv.url]}
        teacher |= {"api_key_env": "TEACHER_KEY", "shard_size": 7}
        for p in (1, 3):
            cfg = study(teacher | {"client_processes": p}, x=src)
            assert generate_domain(cfg, "x", tmp_path / f"p{p}", progress=False)["rows"] == 60
        monkeypatch.setenv("TEACHER_KEY", "wrong")
        with pytest.raises(PonderError, match="401 .check the API key"):
            generate_domain(cfg, "x", tmp_path / "bad", progress=False)
    one, three = (pd.read_parquet(pairs_path(tmp_path / f"p{p}", "x")) for p in (1, 3))
    pd.testing.assert_frame_equal(one, three)


@pytest.mark.realdata
def test_real_benchmark_file_as_a_prompt_source(tmp_path):
    src = {"kind": "file", "path": str(BENCH / "gsm8k" / "test.jsonl"), "column": "question"}
    rows = list(iter_prompts(study(x=src | {"limit": 50, "sample_seed": 0}), "x"))
    assert len(rows) == 50 and all(r["prompt"].strip() for r in rows)


# ---------------------------------------------------------------- kill -9 and resume
@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_kill_and_resume_gives_exactly_the_uninterrupted_pairs(tmp_path, processes):
    """SIGKILL the CLI three times, resume: the pairs equal an uninterrupted run's, and each kill
    cost at most the requests in flight plus `commit_every_s` of answers (the rows waiting for a
    full shard of `shard_size` are committed on time, not lost)."""
    prompts = [
        {"q": f"prompt number {i}" + (" [503x1]" if i % 37 == 0 else "")} for i in range(300)
    ]
    path = write_jsonl(tmp_path / "p.jsonl", prompts)
    concurrency, latency, every = 8, 0.05, 0.3
    with FakeServer(latency_s=latency, record=False) as srv:
        teacher = {"backend": "openai", "model": "fake", "base_urls": [srv.url]}
        teacher |= {"shard_size": 10_000, "commit_every_s": every, "client_processes": processes}
        teacher |= {"max_concurrency": concurrency}
        data = {
            "name": "killme",
            "students": [{"name": "s"}],
            "grid": [{"students": ["s"], "domains": ["x"]}],
            "teacher": teacher,
            "domains": {"x": {"source": {"kind": "file", "path": str(path), "column": "q"}}},
        }
        (tmp_path / "study.yaml").write_text(yaml.safe_dump(data))
        ref = generate_domain(
            StudyConfig.model_validate(data), "x", tmp_path / "ref", progress=False
        )
        answered_before = dict(srv.answered)
        run = tmp_path / "run"
        cmd = [sys.executable, "-c", "from ponder.cli import main; main()", "generate"]
        cmd += [str(tmp_path / "study.yaml"), "--out", str(run), "--quiet"]
        shards = run / "pairs" / ".x.shards"
        rng, kills, seen = random.Random(3), 0, set()

        def series() -> set[str]:  # who committed: "w<k>" per client process, or one series
            return {p.name.split("-")[1] if processes > 1 else "" for p in shards.glob("shard-*")}

        for _ in range(3):
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.time() + 60
            # wait for a first commit (of every client process), then kill at a random moment
            while len(series()) < processes and proc.poll() is None:
                assert time.time() < deadline
                time.sleep(0.02)
            seen.update(series())
            time.sleep(rng.uniform(0.2, 0.8))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        final = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        again = sum(max(0, n - answered_before[k] - 1) for k, n in srv.answered.items())
    assert kills >= 2
    if processes > 1:  # every client process committed shards of its own series
        assert seen == {f"w{k}" for k in range(processes)}
    got = pq.read_table(pairs_path(run, "x")).to_pandas()
    want = pq.read_table(pairs_path(tmp_path / "ref", "x")).to_pandas()
    assert len(got) == got["id"].nunique() == 300 == ref["rows"]
    pd.testing.assert_frame_equal(got, want)
    assert read_manifest(pairs_path(run, "x"))["resumed_rows"] > 0
    assert not shards.exists()
    # answers asked again: per kill, the requests in flight plus one interval at the fastest
    # rate the server allows (concurrency / latency requests per second), with 50% slack for a
    # commit that was being written when the kill came
    per_kill = concurrency + concurrency / latency * every * 1.5
    print(f"{kills} kills, {again} answers asked again (bound {kills * per_kill:.0f})")
    assert again <= kills * per_kill
