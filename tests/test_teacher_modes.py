"""Each teacher mode is its own request recipe, and every pair is checked against its modes.

Presets (resources/teachers/presets.yaml) and the exact body each mode sends; the refusal of a
teacher that cannot turn reasoning off; the check of stored answers (an IFT answer with a trace, a
reasoning answer without one), its failure above `teacher.max_mode_mismatch_share` and, below it,
the flagged pairs left out of every mix and counted in the record, the manifest and the report;
and the step hashes of the built-in studies, unchanged by all of it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from _cli import run_cli
from _paths import FIXTURES
from _studies import one_student_study
from fakeserver import FakeServer
from ponder.config import StudyConfig, load_study
from ponder.config.load import builtin_studies
from ponder.errors import PonderError
from ponder.generate.run import generate_domain
from ponder.generate.stream import make_requests, pair_row
from ponder.lm import teacher_modes
from ponder.lm.base import GenResult, has_trace, mode_mismatch
from ponder.pipeline import ledger
from ponder.pipeline.expand import expand, pairs_content
from ponder.pipeline.validate import validate_study
from ponder.report.pairs_check import pairs_check
from ponder.rundir import RunDir, config_hash, read_manifest
from ponder.train.mix import build_mix

URL = "http://127.0.0.1:9/v1"  # never called: bodies are built, not sent


def study(teacher: dict | None = None, **domains) -> StudyConfig:
    return one_student_study(teacher, domains or {"general": {"kind": "world", "n": 200}})


# ---------------------------------------------------------------- hashes of existing studies
def test_step_hashes_of_the_built_in_studies_are_unchanged():
    """The generate/mix/train/eval/judge step hashes of every built-in study, computed on main
    (c1b9940) before mode recipes, the mode check and judge.max_tokens existed: a new field at
    its default must leave every finished step of an existing study done. `paper-extended` is
    pinned anew: its teacher (Nemotron-Super v1.5) had v1's switch and now has the preset's."""
    pinned = json.loads((FIXTURES / "step_hashes.json").read_text())
    assert set(pinned) <= set(builtin_studies())
    for name, kinds in pinned.items():
        steps = expand(load_study(name))
        for kind, want in kinds.items():
            got = sorted((s.id, s.hash) for s in steps if str(s.kind) == kind)
            for sid, h in want.get("steps", {}).items():
                assert dict(got)[sid] == h, f"{name} {sid}"
            digest = hashlib.sha256("\n".join(f"{i} {h}" for i, h in got).encode()).hexdigest()
            assert (len(got), digest) == (want["count"], want["digest"]), f"{name}: {kind} steps"


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"ift": {"temperature": 0.7, "top_p": 0.8, "base_urls": [URL]}}, True),  # transport
        ({"max_mode_mismatch_share": 0.2}, True),
        ({"preset": "qwen3"}, True),  # the default recipe, by name
        ({"preset": "deepseek-v3.1"}, False),
        ({"reasoning": {"temperature": 0.6, "top_p": 0.95, "model": "other"}}, False),
        ({"ift": {"temperature": 0.7, "top_p": 0.8, "system_prompt": "/no_think"}}, False),
        ({"ift": {"temperature": 0.7, "top_p": 0.8, "chat_template_kwargs": {}}}, False),
    ],
)
def test_pairs_hash_covers_the_recipe_not_its_servers(change, same):
    base = config_hash(pairs_content(study(), "general"))
    assert (config_hash(pairs_content(study(change), "general")) == base) is same


# ---------------------------------------------------------------- presets: the exact bodies
def _bodies(teacher: dict) -> dict[str, dict]:
    """The JSON body each mode sends for the prompt "Q" (openai backend)."""
    cfg = study({"backend": "openai", "model": "m", "base_urls": [URL], **teacher})
    lms = teacher_modes(cfg.teacher)
    reqs = make_requests({"id": "x", "messages": [{"role": "user", "content": "Q"}]}, cfg)
    return {m: lms[m]._body(r) for m, r in zip(("ift", "reasoning"), reqs, strict=True)}


def _body(model, t, p, *, system=None, ctk=None, **fields) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    body = {"model": model, "temperature": t, "top_p": p, "max_tokens": 16384, **fields}
    body["messages"] = [*messages, {"role": "user", "content": "Q"}]
    return body | ({"chat_template_kwargs": ctk} if ctk is not None else {})


PAIR = ("Qwen/Qwen3-235B-A22B-Instruct-2507", "Qwen/Qwen3-235B-A22B-Thinking-2507")
PRESET_BODIES = [
    # preset, ift body, reasoning body
    (
        "qwen3",
        _body("m", 0.7, 0.8, ctk={"enable_thinking": False}),
        _body("m", 0.6, 0.95, ctk={"enable_thinking": True}),
    ),
    ("qwen3-2507-pair", _body(PAIR[0], 0.7, 0.8), _body(PAIR[1], 0.6, 0.95)),
    (
        "deepseek-v3.1",
        _body("m", 0.7, 0.8, ctk={"thinking": False}),
        _body("m", 0.6, 0.95, ctk={"thinking": True}),
    ),
    ("smollm3", _body("m", 0.7, 0.8, system="/no_think"), _body("m", 0.6, 0.95, system="/think")),
    (
        "nemotron-super",
        _body("m", 0.7, 0.8, system="/no_think"),
        _body("m", 0.6, 0.95, system="/think"),
    ),
    (
        "nemotron-super-v1",
        _body("m", 0.7, 0.8, system="detailed thinking off"),
        _body("m", 0.6, 0.95, system="detailed thinking on"),
    ),
    (
        "gpt-oss",
        _body("m", 0.7, 0.8, reasoning_effort="low"),
        _body("m", 0.6, 0.95, reasoning_effort="high"),
    ),
]


def test_every_preset_is_covered():
    from ponder.config.generation import teacher_presets

    assert sorted(teacher_presets()) == sorted(p for p, _, _ in PRESET_BODIES)


@pytest.mark.parametrize(("preset", "ift", "reasoning"), PRESET_BODIES)
def test_each_mode_sends_exactly_its_recipe(preset, ift, reasoning):
    opt_in = {"ift_answer_only": True} if preset == "gpt-oss" else {}
    pair = {m: {"base_urls": [URL]} for m in ("ift", "reasoning")} if "pair" in preset else {}
    bodies = _bodies({"preset": preset, **opt_in, **pair})
    assert bodies == {"ift": ift, "reasoning": reasoning}


def test_no_preset_is_qwen3s_switch_and_the_study_wins_over_a_preset():
    assert _bodies({}) == _bodies({"preset": "qwen3"})
    mine = {"preset": "deepseek-v3.1", "ift": {"chat_template_kwargs": {"extra": 1}}}
    assert _bodies(mine)["ift"]["chat_template_kwargs"] == {"thinking": False, "extra": 1}
    assert _bodies(mine)["ift"]["temperature"] == 0.7  # the paper's sampling under a preset


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["teacher.backend=openai", "teacher.preset=gpt-oss"],
            "teacher: ift.extra_body: `reasoning_effort: low` lowers the reasoning effort but does "
            "not turn reasoning off",
        ),
        (
            ["teacher.backend=openai", "teacher.ift.extra_body={reasoning: {effort: minimal}}"],
            "set teacher.ift_answer_only: true to keep only the final answer",
        ),
        (["teacher.preset=gpt-oss"], "body fields are sent by the openai backend only"),
        (["teacher.preset=qwen4"], "teacher: preset: unknown 'qwen4' (known: qwen3, "),
        (["teacher.max_mode_mismatch_share=2"], "teacher.max_mode_mismatch_share: Input should"),
    ],
)
def test_bad_teacher_recipes_are_one_line_errors(sets, message):
    with pytest.raises(PonderError) as e:
        load_study("tiny", sets)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_an_effort_of_none_is_an_off_switch():
    sets = ["teacher.backend=openai", "teacher.ift.extra_body={reasoning_effort: none}"]
    assert load_study("tiny", sets).teacher.ift.extra_body == {"reasoning_effort": "none"}


def test_a_pair_of_models_names_each_modes_servers():
    teacher = {"backend": "openai", "preset": "qwen3-2507-pair"}
    teacher["reasoning"] = {"base_urls": [URL]}
    with pytest.raises(PonderError, match=r"^teacher.ift.base_urls: the ift mode is its own model"):
        validate_study(study(teacher))
    validate_study(study(teacher | {"base_urls": [URL]}))  # a gateway serving both models


# ---------------------------------------------------------------- the check of stored answers
@pytest.mark.parametrize(
    ("text", "trace"),
    [
        ("\\boxed{4}", False),
        ("<think>\n\n</think>\n\n\\boxed{4}", False),  # Qwen3's IFT pre-fill: no trace
        ("<think></think>\\boxed{4}", False),
        ("<think>\nadd 2 and 2\n</think>\n\n\\boxed{4}", True),
        ("<think>\nadd 2 and", True),  # cut off by max_tokens: still a trace
        ("add 2 and 2</think>\\boxed{4}", True),  # a template that pre-filled <think>
        ("Sure. <think>add</think> \\boxed{4}", True),
        ("<think>", False),
        ("", False),
    ],
)
def test_a_trace_is_a_think_block_with_content(text, trace):
    assert has_trace(text) is trace
    assert mode_mismatch("ift", text) is trace
    assert mode_mismatch("reasoning", text) is not trace


def test_answer_only_keeps_the_final_answer_of_an_effort_only_teacher():
    row = {"idx": 0, "id": "x", "prompt": "Q"}
    low = GenResult("x:ift", "<think>\nbrief\n</think>\n\nA", "brief", "stop", 3, 9)
    high = GenResult("x:reasoning", "<think>\nlong\n</think>\n\nA", "long", "stop", 3, 40)
    assert pair_row(row, low, high, answer_only=True)["ift"] == "A"
    assert pair_row(row, low, high, answer_only=True)["ift_tokens"] == 9  # what it generated
    assert pair_row(row, low, high)["ift"] == low.text


def test_a_teacher_that_ignores_the_switch_fails_generation(tmp_path, monkeypatch, capsys):
    """The scripted teacher is switched by `enable_thinking` only: told DeepSeek's `thinking`, it
    answers IFT style both times, and the step fails with one line; nothing is kept or done."""
    sets = ["--set", "teacher.preset=deepseek-v3.1", "--set", "domains.general.source.n=200"]
    args = ("generate", "tiny", "--out", str(tmp_path), "--quiet", *sets)
    for _ in range(2):  # the flagged rows were dropped: a second run asks them again and fails
        code, _, err = run_cli(monkeypatch, capsys, "generate_cmd", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert err.startswith(
            "error: generate:general: 200 of 200 answered pairs (100.0%) contradict their mode "
            "(teacher.max_mode_mismatch_share: 0.01): 0 IFT answers hold a reasoning trace, 200 "
            "reasoning answers hold none, e.g. id "
        )
        assert 'chat_template_kwargs {"thinking": true}' in err
        assert not (tmp_path / "pairs" / "general.parquet").exists()
        assert ledger.read(RunDir(tmp_path), "generate:general") is None


# ---------------------------------------------------------------- below the share: left out
def _released(tmp_path: Path, n: int, flagged: dict[int, str]) -> Path:
    """A released-pairs file of `n` rows; `flagged[i]` spoils row i's "ift" or "reasoning"."""
    rows = []
    for i in range(n):
        ift, reasoning = f"\\boxed{{{i}}}", f"<think>\nstep {i}\n</think>\n\n\\boxed{{{i}}}"
        if flagged.get(i) == "ift":
            ift = reasoning
        if flagged.get(i) == "reasoning":
            reasoning = ift
        rows.append({"prompt": f"Question {i}?", "ift": ift, "reasoning": reasoning, "uid": str(i)})
    path = tmp_path / "released.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_flagged_pairs_below_the_share_are_counted_and_left_out(tmp_path):
    path = _released(tmp_path, 300, {7: "ift", 8: "reasoning"})  # 2 of 300: 0.7% < 1%
    cfg = study(x={"kind": "paired", "path": str(path), "id_column": "uid"})
    rd = RunDir(tmp_path / "run")
    from ponder.pipeline.runner import run_steps

    run_steps(cfg, rd, only=["generate:x"], quiet=True)
    want = {"ift_mode_mismatch": 1, "reasoning_mode_mismatch": 1, "mode_mismatch": 2}
    record = ledger.read(rd, "generate:x")["info"]
    assert {k: record[k] for k in want} == want
    assert {k: read_manifest(rd.pairs("x"))[k] for k in want} == want
    pairs = pd.read_parquet(rd.pairs("x"))
    assert sorted(pairs.index[pairs["ift_mode_mismatch"] | pairs["reasoning_mode_mismatch"]]) == [
        7,
        8,
    ]
    for ratio in (0.0, 0.5, 1.0):  # whichever answer X_ρ takes, the pair is out
        examples, stats = build_mix(pairs, ratio, "mixed", seed=0)
        assert stats["dropped_mode_mismatch"] == 2 and stats["n"] == 298
        assert not {"7", "8"} & {e["id"] for e in examples}
    reading = pairs_check(SimpleNamespace(rd=rd)).reading
    assert reading.endswith(
        "x: 2 of 300 pairs left out of every mix (1 IFT answers with a reasoning trace, 1 "
        "reasoning answers without one)."
    )


def test_released_pairs_above_the_share_fail_naming_their_columns(tmp_path):
    path = _released(tmp_path, 50, {i: "ift" for i in range(10)})
    cfg = study(x={"kind": "paired", "path": str(path), "id_column": "uid"})
    out = RunDir(tmp_path / "run").pairs("x")
    with pytest.raises(PonderError) as e:
        generate_domain(cfg, "x", out, "h", progress=False)
    assert str(e.value).startswith(
        "generate:x: 10 of 50 answered pairs (20.0%) contradict their mode (teacher."
        "max_mode_mismatch_share: 0.01): 10 IFT answers hold a reasoning trace, 0 reasoning "
        "answers hold none, e.g. id '0' (ift); likely cause: the released answers do not fit "
        "their columns (domains.x.source.columns"
    )
    assert not out.exists()


def test_mixes_read_old_pairs_without_the_flag_columns():
    """Pairs written before the check existed carry no flag columns: the mix reads the text."""
    pairs = pd.DataFrame(
        {
            "id": ["a", "b"],
            "prompt": ["Q1", "Q2"],
            "ift": ["A1", "<think>\nt\n</think>\n\nA2"],
            "reasoning": ["<think>\nt\n</think>\n\nA1", "<think>\nt\n</think>\n\nA2"],
        }
    )
    examples, stats = build_mix(pairs, 0.0, "sequential", seed=0)
    assert [e["id"] for e in examples] == ["a"] and stats["dropped_mode_mismatch"] == 1


# ---------------------------------------------------------------- the judge's budget
def test_judge_max_tokens_reaches_every_verdict_request(tmp_path):
    from ponder.evaluate.judge import judge_step
    from ponder.evaluate.run import load_study_benchmark

    with FakeServer(style="judge") as srv:
        panel = f"[{{name: j, model: fake, base_urls: ['{srv.url}']}}]"
        sets = ["judge.enabled=true", f"judge.judges={panel}", "world.n_test=3"]
        cfg = load_study("tiny", [*sets, "judge.max_tokens=64"])
        items = load_study_benchmark(cfg, "tiny-math-oe").items()
        answers = pd.DataFrame({"id": [it.id for it in items], "response": ["\\boxed{1}"] * 3})
        answers.to_parquet(tmp_path / "answers.parquet")
        judge_step(cfg, "tiny-math-oe", tmp_path / "answers.parquet", tmp_path / "j.parquet")
    assert [b["max_tokens"] for b in srv.requests] == [64] * 3
    default = load_study("tiny", sets)
    hashes = {
        n: {s.id: s.hash for s in expand(c) if str(s.kind) == "judge"}
        for n, c in (("64", cfg), ("default", default))
    }
    assert hashes["64"].keys() == hashes["default"].keys()
    assert all(hashes["64"][k] != hashes["default"][k] for k in hashes["64"])
