"""The generate stage against failing servers (loopback, tests/fakeserver.py): a prompt that went
unanswered never becomes a done row, the next run asks exactly those again, too many of them (or
a server nobody can reach) is one `error:` line naming the server, and a storm of mixed faults
still ends with every prompt answered exactly once."""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fakeserver import FakeServer, free_port, scripted_answer
from ponder import cli
from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.generate.sources import prompt_id
from ponder.pipeline import ledger
from ponder.pipeline.runner import run_steps
from ponder.rundir import RunDir

STEP = "generate:x"


def study_data(path: Path, url: str, **teacher) -> dict:
    return {
        "name": "faults",
        "students": [{"name": "s"}],
        "grid": [{"students": ["s"], "domains": ["x"]}],
        "teacher": {"backend": "openai", "model": "fake", "base_urls": [url], "max_retries": 1}
        | teacher,
        "domains": {"x": {"source": {"kind": "file", "path": str(path), "column": "q"}}},
    }


def prompts_file(tmp_path: Path, prompts: list[str]) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"q": q}) + "\n" for q in prompts))
    return path


def answers(prompts: list[str]) -> pd.DataFrame:
    """What a fault-free teacher gives: ids and IFT answers in source order."""
    return pd.DataFrame(
        {"id": [prompt_id(q) for q in prompts], "ift": [scripted_answer(q)[1] for q in prompts]}
    )


def pairs(rd: RunDir) -> pd.DataFrame:
    return pd.read_parquet(rd.pairs("x"))


def asked_twice(srv: FakeServer) -> int:
    """Answers the server gave more than once: prompts asked again after they were answered."""
    return sum(n - 1 for n in srv.answered.values() if n > 1)


# ---------------------------------------------------------------- unanswered prompts
def test_unanswered_prompts_are_not_done_and_the_next_run_asks_only_them(tmp_path):
    # [500x2] fails both attempts (max_retries 1) of the first run, then the server recovers
    prompts = [f"question {i}" + (" [500x2]" if i in (4, 17, 25) else "") for i in range(30)]
    path, rd = prompts_file(tmp_path, prompts), RunDir(tmp_path / "run")
    with FakeServer() as srv:
        cfg = StudyConfig.model_validate(study_data(path, srv.url, max_failed_share=0.2))
        run_steps(cfg, rd, only=[STEP], quiet=True)
        record = ledger.read(rd, STEP)
        first = pairs(rd)
        run_steps(cfg, rd, only=[STEP], quiet=True)
        assert run_steps(cfg, rd, only=[STEP], quiet=True) == {}  # now done: nothing to do
    assert (record["complete"], record["info"]["incomplete"], record["info"]["failed"]) == (
        False,
        3,
        3,
    )
    assert record["info"]["why"].startswith(f"{srv.url}: 500: injected 500 (gave up after 2")
    assert len(first) == 27 and first["ift_error"].isna().all()  # only answered rows are kept
    assert ledger.read(rd, STEP)["complete"] and "incomplete" not in ledger.read(rd, STEP)["info"]
    pd.testing.assert_frame_equal(pairs(rd)[["id", "ift"]], answers(prompts))
    assert asked_twice(srv) == 0  # the second run asked the 3 prompts, nothing else
    assert not (rd.root / "pairs" / ".x.shards").exists()


def test_more_unanswered_than_the_share_is_an_error_and_nothing_is_recorded(tmp_path):
    prompts = [f"question {i}" + (" [503x2]" if i == 7 else "") for i in range(30)]
    path, rd = prompts_file(tmp_path, prompts), RunDir(tmp_path / "run")
    with FakeServer() as srv:
        cfg = StudyConfig.model_validate(study_data(path, srv.url))  # max_failed_share: 0
        with pytest.raises(PonderError) as err:
            run_steps(cfg, rd, only=[STEP], quiet=True)
        assert ledger.read(rd, STEP) is None and not rd.pairs("x").exists()
        run_steps(cfg, rd, only=[STEP], quiet=True)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("generate:x: 1 of 30 prompts went unanswered")
    assert msg.endswith(f"last error: {srv.url}: 503: injected 503 (gave up after 2 attempts)")
    assert ledger.read(rd, STEP)["complete"] and asked_twice(srv) == 0
    pd.testing.assert_frame_equal(pairs(rd)[["id", "ift"]], answers(prompts))


def test_a_teacher_that_rejects_every_prompt_is_an_error_and_they_are_asked_again(tmp_path):
    prompts = [f"long question {i} [400]" for i in range(5)]
    path, rd = prompts_file(tmp_path, prompts), RunDir(tmp_path / "run")
    with FakeServer() as srv:
        cfg = StudyConfig.model_validate(study_data(path, srv.url))
        for _ in range(2):
            with pytest.raises(PonderError, match="rejected every prompt, e.g. 400: This model"):
                run_steps(cfg, rd, only=[STEP], quiet=True)
    # the second run did not trust the first run's rejections (the server may have changed)
    assert set(srv.attempts.values()) == {2} and ledger.read(rd, STEP) is None


def test_a_server_that_answers_nothing_useful_stops_the_run_early(tmp_path):
    prompts = [f"question {i} [500x99]" for i in range(400)]
    path, rd = prompts_file(tmp_path, prompts), RunDir(tmp_path / "run")
    with FakeServer() as srv:
        cfg = StudyConfig.model_validate(study_data(path, srv.url, max_concurrency=4))
        with pytest.raises(PonderError, match="the last 16 prompts all went unanswered, stopping"):
            run_steps(cfg, rd, only=[STEP], quiet=True)
    # 16 prompts (twice max_concurrency, at least 16) and those in flight, not all 400
    assert len(srv.attempts) < 2 * (16 + 4 + 4)


# ---------------------------------------------------------------- the CLI, as a user meets it
def generate(monkeypatch, capsys, tmp_path, data: dict) -> tuple[int, str, str]:
    """`ponder generate study.yaml --out run --quiet --json` through `ponder.cli.main`."""
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(data))
    # two command groups, so that `generate` stays a sub-command as in the real CLI
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("generate_cmd", "study_cmd"))
    monkeypatch.setattr(
        sys,
        "argv",
        ["ponder", "generate", str(study), "--out", str(tmp_path / "run"), "--quiet", "--json"],
    )
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_server_down_is_one_error_line_then_the_same_command_completes(
    tmp_path, monkeypatch, capsys
):
    prompts = [f"question {i}" for i in range(20)]
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    data = study_data(prompts_file(tmp_path, prompts), url, max_retries=6)
    t0 = time.monotonic()
    code, out, err = generate(monkeypatch, capsys, tmp_path, data)
    assert time.monotonic() - t0 < 10  # not 20 prompts x 7 attempts with backoff
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"error: no teacher server can be reached ({url}: connection refused)"
    ]
    with FakeServer(port=port):
        code, out, err = generate(monkeypatch, capsys, tmp_path, data)
    assert code == 0, err
    assert json.loads(out)["x"]["rows"] == 20 and json.loads(out)["x"]["failed"] == 0
    pd.testing.assert_frame_equal(pairs(RunDir(tmp_path / "run"))[["id", "ift"]], answers(prompts))


@pytest.mark.parametrize(
    ("url", "teacher", "message"),
    [
        (
            "{srv}/api",
            {},
            r"error: server http://127.0.0.1:\d+/v1/api: 404 \(unknown model 'fake' "
            r"or wrong URL path\)",
        ),
        (
            "http://no-such-host.invalid/v1",
            {},
            r"error: no teacher server can be reached \("
            r"http://no-such-host.invalid/v1: host 'no-such-host.invalid' not found \(DNS\)\)",
        ),
        (
            "{srv}",
            {"api_key_env": "FAULTS_WRONG_KEY"},
            r"error: server http://127.0.0.1:\d+/v1: "
            r"401 \(check the API key\)",
        ),
    ],
)
def test_a_wrong_url_or_key_is_one_error_line(tmp_path, monkeypatch, capsys, url, teacher, message):
    monkeypatch.setenv("FAULTS_WRONG_KEY", "sk-wrong-key")
    path = prompts_file(tmp_path, [f"question {i}" for i in range(10)])
    with FakeServer(api_key="sk-right-key") as srv:
        data = study_data(path, url.format(srv=srv.url), **teacher)
        code, out, err = generate(monkeypatch, capsys, tmp_path, data)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert re.fullmatch(message, line), line
    assert "sk-wrong-key" not in err


# ---------------------------------------------------------------- a storm of mixed faults
FAULTS = ("500", "429", "503", "drop", "badjson", "hang")


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_mixed_faults_end_with_every_prompt_answered_exactly_once(tmp_path, processes):
    rng = random.Random(processes)
    prompts = [
        f"question {i}"
        + (f" [{rng.choice(FAULTS)}x{rng.randint(1, 2)}]" if rng.random() < 0.2 else "")
        for i in range(200)
    ]
    path, rd = prompts_file(tmp_path, prompts), RunDir(tmp_path / "run")
    with FakeServer(latency_s=0.01, hang_s=2.0) as srv:
        teacher = {"max_retries": 4, "request_timeout_s": 0.5, "max_concurrency": 16}
        teacher |= {"client_processes": processes, "shard_size": 25}
        cfg = StudyConfig.model_validate(study_data(path, srv.url, **teacher))
        run_steps(cfg, rd, only=[STEP], quiet=True)
    got = pairs(rd)
    assert ledger.read(rd, STEP)["complete"] and len(got) == got["id"].nunique() == 200
    pd.testing.assert_frame_equal(got[["id", "ift"]], answers(prompts))
    faulted = Counter(k for q in prompts for k in FAULTS if f"[{k}x" in q)
    assert set(faulted) == set(FAULTS)  # every kind of fault was met
    assert asked_twice(srv) == 0
