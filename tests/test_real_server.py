"""The teacher path against a real OpenAI-compatible server: `transformers serve` on CPU, serving
tiny checkpoints built by `realserver.build_teachers`, driven through the real CLI.

- thinking off and on from a template that honours the switch: the pairs hold exactly what the
  server returns when asked again greedily (answer text, tokens from `usage`, finish reasons),
  also across a kill and a resume with traces cut off by `max_tokens`;
- a template that ignores the switch: `ponder generate` exits 2 with one line, nothing kept;
- a pair of models on two server processes (Qwen3-2507's shape) through `ponder run`: generate,
  mix, train, evaluate, and the judge panel answering through the server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from conftest import ponder_cli
from realserver import QUESTIONS, TransformersServe, build_teachers

pytestmark = pytest.mark.slow
PROMPTS = [f"What is {a} plus {b}?" for a in range(1, 10) for b in range(1, 10)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The tiny teachers and two `transformers serve` processes (started once for the module)."""
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available() or not Path(sys.executable).with_name("transformers").exists():
        pytest.skip("transformers serve needs `pip install 'transformers[serving]'` (dev extra)")
    root = tmp_path_factory.mktemp("teachers")
    a, b = TransformersServe(root / "a.log"), TransformersServe(root / "b.log")
    paths = build_teachers(root)  # while the servers start
    if not (a.wait() and b.wait()):
        why = a.why_not() if not a.ready else b.why_not()
        a.stop()
        b.stop()
        pytest.skip(why)
    yield SimpleNamespace(a=a, b=b, **{k: str(v) for k, v in paths.items()})
    a.stop()
    b.stop()


def _study(tmp_path: Path, teacher: dict, prompts: list[str], **sections) -> str:
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"q": q}) + "\n" for q in prompts))
    study = {
        "name": "served",
        "world": {"seed": 0, "n_test": 4},
        "teacher": {"backend": "openai", "max_concurrency": 4, **teacher},
        "domains": {"general": {"source": {"kind": "file", "path": str(src), "column": "q"}}},
        "students": [
            {"name": "s", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
            | {"num_key_value_heads": 1, "intermediate_size": 32, "vocab_size": 400}
        ],
        "grid": [{"students": ["s"], "domains": ["general"], "ratios": [0.0, 1.0]}],
        **sections,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return str(path)


def _greedy(max_tokens: int) -> dict:
    return {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_tokens}


def _asked_again(server, model: str, prompt: str, thinking: bool, max_tokens: int) -> tuple:
    """(stored text, tokens, finish) the server gives now, in ponder's stored form."""
    got = server.chat(
        {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "chat_template_kwargs": {"enable_thinking": thinking},
        }
        | _greedy(max_tokens)
    )
    choice, usage = got["choices"][0], got["usage"]
    content, trace = choice["message"].get("content"), choice["message"].get("reasoning_content")
    if trace is None:
        text = content
    elif choice["finish_reason"] == "length" and not content:
        text = f"<think>\n{trace}"  # cut inside the trace: unclosed
    else:
        text = f"<think>\n{trace}\n</think>\n\n{content}"
    return text, usage["completion_tokens"], choice["finish_reason"]


def _matches_the_server(pairs: pd.DataFrame, server, model: str, max_tokens: dict) -> None:
    for row in pairs.itertuples():
        for mode, thinking in (("ift", False), ("reasoning", True)):
            stored = tuple(getattr(row, f"{mode}{s}") for s in ("", "_tokens", "_finish"))
            assert stored == _asked_again(server, model, row.prompt, thinking, max_tokens[mode])


def test_thinking_off_and_on_are_stored_as_the_server_answered(served, tmp_path):
    teacher = {"model": served.hybrid, "base_urls": [served.a.url]}
    teacher |= {"ift": _greedy(24), "reasoning": _greedy(24)}
    study = _study(tmp_path, teacher, PROMPTS[:10])
    r = ponder_cli("generate", study, "--out", str(tmp_path / "run"), "--json")
    summary = json.loads(r.stdout)["general"]
    assert (summary["rows"], summary["mode_mismatch"], summary["truncated"]) == (10, 0, 0)
    pairs = pd.read_parquet(tmp_path / "run" / "pairs" / "general.parquet")
    assert pairs["reasoning"].str.startswith("<think>\nLet me check").all()
    assert (pairs["ift"] == "\\boxed{yes}").all() and (pairs["ift_finish"] == "stop").all()
    _matches_the_server(pairs, served.a, served.hybrid, {"ift": 24, "reasoning": 24})


def test_a_killed_run_resumes_to_what_the_server_answers(served, tmp_path):
    """Traces cut by max_tokens (finish "length", unclosed) are still traces; a SIGKILL after the
    first commit loses nothing that a resumed run does not ask again."""
    teacher = {"model": served.hybrid, "base_urls": [served.a.url], "max_concurrency": 2}
    teacher |= {"shard_size": 2, "commit_every_s": 0.1}
    teacher |= {"ift": _greedy(24), "reasoning": _greedy(4)}
    study = _study(tmp_path, teacher, PROMPTS[:60])
    run = tmp_path / "run"
    args = [sys.executable, "-m", "ponder", "generate", study, "--out", str(run), "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shards = run / "pairs" / ".general.shards"
    deadline = time.monotonic() + 120
    while not list(shards.glob("shard-*.parquet")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "pairs" / "general.parquet").exists()  # killed mid-run
    r = ponder_cli("generate", study, "--out", str(run), "--quiet", "--json")
    assert json.loads(r.stdout)["general"]["resumed_rows"] >= 1  # the killed run's commits
    pairs = pd.read_parquet(run / "pairs" / "general.parquet")
    assert list(pairs["prompt"]) == PROMPTS[:60]  # each prompt once, in source order
    assert (pairs["reasoning_finish"] == "length").all() and pairs["reasoning_truncated"].all()
    assert not (pairs["ift_mode_mismatch"] | pairs["reasoning_mode_mismatch"]).any()
    _matches_the_server(pairs, served.a, served.hybrid, {"ift": 24, "reasoning": 4})


def test_a_template_that_ignores_the_switch_exits_2(served, tmp_path):
    teacher = {"model": served.thinking, "base_urls": [served.a.url]}
    teacher |= {"ift": _greedy(24), "reasoning": _greedy(24)}
    study = _study(tmp_path, teacher, PROMPTS[:8])
    r = ponder_cli("generate", study, "--out", str(tmp_path / "run"), check=False)
    said = r.stderr.strip().splitlines()  # the step's start, then one line
    assert r.returncode == 2 and said[:-1] == ["▶ generate:general"], r.stderr
    assert said[-1].startswith(
        "error: generate:general: 8 of 8 answered pairs (100.0%) contradict their mode (teacher."
        "max_mode_mismatch_share: 0.01): 8 IFT answers hold a reasoning trace, 0 reasoning "
        "answers hold none, e.g. id "
    )
    assert "the IFT switch (chat_template_kwargs `enable_thinking`) was ignored" in said[-1]
    assert not (tmp_path / "run" / "pairs" / "general.parquet").exists()
    assert not (tmp_path / "run" / "steps" / "generate:general.json").exists()


def test_a_pair_of_models_on_two_servers_runs_the_whole_study(served, tmp_path):
    """Qwen3-2507's shape: the IFT model (never thinks) on one server, the thinking model on
    another; the judge panel answers through the first, at most 16 new tokens a verdict."""
    teacher = {"preset": "qwen3-2507-pair"}
    teacher["ift"] = {"model": served.instruct, "base_urls": [served.a.url]} | _greedy(24)
    teacher["reasoning"] = {"model": served.thinking, "base_urls": [served.b.url]} | _greedy(24)
    judge = {"name": "served", "model": served.instruct, "base_urls": [served.a.url]}
    study = _study(
        tmp_path,
        teacher,
        QUESTIONS[:16],
        train={"global_batch_tokens": 512, "micro_batch_size": 8, "max_seq_len": 64}
        | {"warmup_steps": 1, "decay_steps": 1},
        eval={"benchmarks": ["tiny-math-oe"], "max_new_tokens": 16, "batch_size": 8},
        judge={"enabled": True, "max_tokens": 16, "judges": [judge]},
        report=False,
    )
    run = tmp_path / "run"
    ponder_cli("run", study, "--out", str(run))
    pairs = pd.read_parquet(run / "pairs" / "general.parquet")
    assert (pairs["ift"] == "\\boxed{yes}").all()
    assert pairs["reasoning"].str.startswith("<think>\nLet me check the question.\n</think>").all()
    manifest = json.loads((run / "pairs" / "general.parquet.manifest.json").read_text())
    assert manifest["teacher_models"] == {"ift": served.instruct, "reasoning": served.thinking}
    results = pd.read_parquet(run / "results.parquet")
    assert len(results) == 3  # two students and the teacher on tiny-math-oe
    for model in results["model"]:
        verdicts = pd.read_parquet(run / "judgements" / model / "tiny-math-oe.parquet")
        assert len(verdicts) == 4 and (verdicts["judge:served"] == "yes").all()
