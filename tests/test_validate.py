"""Bad studies are caught before anything is written: one `error:` line naming the field or file,
exit code 2, no run directory; `ponder validate` rejects exactly what `ponder run` rejects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _cli import run_cli
from _paths import FIXTURES

GSM8K_DATA = FIXTURES / "eval" / "data"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Input files a user could point a study at, each wrong in one way."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "latin1.yaml").write_bytes("name: caf\xe9\nstudents: []\n".encode("latin-1"))
    (d / "deep.yaml").write_text("name: deep\nseed: " + "[" * 2000 + "]" * 2000 + "\n")
    (d / "deep_block.yaml").write_text("name: deep\nseed:\n" + "- " * 2000 + "1\n")
    (d / "malformed.yaml").write_text("name: x\nstudents: [\n  - a\n grid: ]\n")
    (d / "empty.jsonl").write_bytes(b"")
    (d / "no_prompt.jsonl").write_text('{"text": "What is 2+2?"}\n')
    (d / "blank_prompt.jsonl").write_text('{"prompt": ""}\n')
    (d / "garbage.jsonl").write_text("prompt: not json\n")
    (d / "header_only.csv").write_text("prompt\n")
    (d / "prompts.txt").write_text("What is 2+2?\n")
    (d / "no_config").mkdir()
    (d / "empty_data").mkdir()
    locked = d / "locked.jsonl"
    locked.write_text('{"prompt": "What is 2+2?"}\n')
    locked.chmod(0)
    return d


def _source(path: str, kind: str = "file") -> str:
    return f"domains.general.source={{kind: {kind}, path: '{path}'}}"


# (case, study, --set overrides, the message's words). `<d>` is the folder of `files`.
BAD_STUDIES = [
    ("study not UTF-8", "<d>/latin1.yaml", [], "latin1.yaml line 1: not UTF-8 text (byte 0xe9)"),
    (
        "study nested too deeply",
        "<d>/deep.yaml",
        [],
        "deep.yaml line 2: malformed YAML (nested too deeply)",
    ),
    (
        "study nested too deeply in blocks",
        "<d>/deep_block.yaml",
        [],
        "deep_block.yaml: malformed YAML (nested too deeply)",
    ),
    ("study malformed", "<d>/malformed.yaml", [], "malformed.yaml line 3: malformed YAML"),
    (
        "zero heads",
        "tiny",
        ["students.0.num_attention_heads=0"],
        "students.0.num_attention_heads: Input should be greater than 0",
    ),
    (
        "negative hidden size",
        "tiny",
        ["students.0.hidden_size=-48"],
        "students.0.hidden_size: Input should be greater than 0",
    ),
    (
        "negative vocabulary",
        "tiny",
        ["students.0.vocab_size=-1"],
        "students.0.vocab_size: Input should be greater than 0",
    ),
    (
        "huge hidden size",
        "tiny",
        ["students.0.hidden_size=4.0e+15"],
        "students.0.hidden_size: Input should be less than or equal to 65536",
    ),
    (
        "heads do not divide",
        "tiny",
        ["students.0.num_attention_heads=5"],
        "students.0: hidden_size 32 must be divisible by num_attention_heads 5",
    ),
    (
        "kv heads do not divide",
        "tiny",
        ["students.0.num_key_value_heads=3"],
        "students.0: num_attention_heads 4 must be divisible by num_key_value_heads 3",
    ),
    (
        "odd head size",
        "tiny",
        ["students.0.hidden_size=36"],
        "students.0: hidden_size / num_attention_heads = 9 must be even",
    ),
    (
        "scratch student too big",
        "tiny",
        ["students.0.hidden_size=32768", "students.0.vocab_size=400000"],
        "students.0: a scratch student of ~2e+10 parameters is over 1e+10",
    ),
    (
        "seed 2**200",
        "tiny",
        [f"seed={2**200}"],
        "seed: Input should be less than or equal to 4294967295",
    ),
    (
        "seeds sum past 2**32",
        "tiny",
        [f"seed={2**32 - 1}", "grid.0.seeds=[1]"],
        "grid.0.seeds: seed + 1 is over 4294967295",
    ),
    (
        "NaN ratio",
        "tiny",
        ["grid.0.ratios=[.nan]"],
        "grid.0.ratios.0: Input should be a finite number",
    ),
    ("infinite lr", "tiny", ["train.lr=.inf"], "train.lr: Input should be a finite number"),
    (
        "source.n 10**30",
        "tiny",
        [f"domains.general.source.n={10**30}"],
        "domains.general.source.n: Input should be less than or equal to 1000000000",
    ),
    (
        "more prompts than the world holds",
        "tiny",
        ["domains.general.source.n=200000"],
        "domains.general.source.n: 200000 prompts take 33334 distinct general-oe items; "
        "the world holds 25400",
    ),
    (
        "world family misspelt",
        "tiny",
        ["world.weights.general-mx=1"],
        "world.weights: unknown family 'general-mx'",
    ),
    (
        "world families all weight 0",
        "tiny",
        ["world.weights={general-mc: 0, general-oe: 0, math-mc: 0, math-oe: 0}"],
        "world.weights: every family of domain 'general'",
    ),
    (
        "world domain the world lacks",
        "tiny",
        ["domains.science={source: {kind: world}}"],
        "domains.science: the world has no domain 'science' (world domains: general, math)",
    ),
    (
        "empty students in a grid block",
        "tiny",
        ["grid.0.students=[]"],
        "grid.0.students: List should have at least 1 item",
    ),
    (
        "empty ratios",
        "tiny",
        ["grid.0.ratios=[]"],
        "grid.0.ratios: List should have at least 1 item",
    ),
    (
        "empty schedules",
        "tiny",
        ["grid.0.schedules=[]"],
        "grid.0.schedules: List should have at least 1 item",
    ),
    ("empty seeds", "tiny", ["grid.0.seeds=[]"], "grid.0.seeds: List should have at least 1 item"),
    (
        "empty phase ratios",
        "tiny",
        ["grid=[{students: [tiny-0.05m], phases: [{domain: general, ratios: []}]}]"],
        "grid.0.phases.0.ratios: List should have at least 1 item",
    ),
    ("no grid", "tiny", ["grid=[]"], "grid: List should have at least 1 item"),
    (
        "missing pretrained path",
        "tiny",
        ["students.0={name: tiny-0.05m, init: pretrained, path: /no/such/checkpoint}"],
        "students.0.path: folder not found: /no/such/checkpoint",
    ),
    (
        "pretrained folder without config.json",
        "tiny",
        ["students.0={name: tiny-0.05m, init: pretrained, path: '<d>/no_config'}"],
        "no_config has no config.json",
    ),
    (
        "missing source file",
        "tiny",
        [_source("/no/such/prompts.jsonl")],
        "domains.general.source.path: file not found: /no/such/prompts.jsonl",
    ),
    (
        "empty source file",
        "tiny",
        [_source("<d>/empty.jsonl")],
        "domains.general.source.path: <d>/empty.jsonl is empty",
    ),
    (
        "source without its column",
        "tiny",
        [_source("<d>/no_prompt.jsonl")],
        "domains.general.source.column: no column 'prompt' in <d>/no_prompt.jsonl (has: text)",
    ),
    (
        "source with an empty first prompt",
        "tiny",
        [_source("<d>/blank_prompt.jsonl")],
        "domains.general.source: <d>/blank_prompt.jsonl: row 0: column 'prompt' is empty",
    ),
    (
        "source not JSON",
        "tiny",
        [_source("<d>/garbage.jsonl")],
        "domains.general.source: <d>/garbage.jsonl: cannot load",
    ),
    (
        "source with a header only",
        "tiny",
        [_source("<d>/header_only.csv")],
        "header_only.csv has no rows",
    ),
    (
        "source of unknown format",
        "tiny",
        [_source("<d>/prompts.txt")],
        "prompts.txt: unsupported format",
    ),
    (
        "paired source without answers",
        "tiny",
        [_source("<d>/no_prompt.jsonl", "paired")],
        "domains.general.source.columns.prompt: no column 'prompt'",
    ),
    (
        "file source without a path",
        "tiny",
        ["domains.general.source={kind: file}"],
        "domains.general.source: kind 'file' needs `path`",
    ),
    (
        "hub id malformed",
        "tiny",
        ["domains.general.source={kind: hub, dataset: 'two words'}"],
        "domains.general.source.dataset: 'two words' is neither a hub id",
    ),
    (
        "unknown benchmark",
        "tiny",
        ["eval.benchmarks=[no-such-benchmark]"],
        "eval.benchmarks: unknown benchmark 'no-such-benchmark'",
    ),
    (
        "benchmark listed twice",
        "tiny",
        ["eval.benchmarks=[tiny-math-oe, tiny-math-oe]"],
        "eval.benchmarks: 'tiny-math-oe' is listed twice",
    ),
    (
        "missing eval data dir",
        "tiny",
        ["eval.benchmarks=[gsm8k]", "eval.data_dir=/no/such/data"],
        "eval.data_dir: folder not found: /no/such/data",
    ),
    (
        "benchmark data not in the data dir",
        "tiny",
        ["eval.benchmarks=[gsm8k]", "eval.data_dir=<d>/empty_data"],
        "eval.benchmarks: gsm8k: no test data in <d>/empty_data",
    ),
    (
        "judging without judges",
        "tiny",
        ["judge.enabled=true"],
        "judge: enabled needs at least one judge",
    ),
    ("name with a slash", "tiny", ["name=../escape"], "name: '../escape' is not a plain name"),
]
if os.geteuid() != 0:  # root reads any file
    BAD_STUDIES.append(("unreadable source", "tiny", [_source("<d>/locked.jsonl")], "locked.jsonl"))


def _argv(study: str, sets: list[str], d: Path) -> list[str]:
    argv = [study.replace("<d>", str(d))]
    for s in sets:
        argv += ["--set", s.replace("<d>", str(d))]
    return argv


def _one_error_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("case, study, sets, words", BAD_STUDIES, ids=[c[0] for c in BAD_STUDIES])
def test_run_rejects_a_bad_study_before_writing(
    monkeypatch, capsys, tmp_path, files, case, study, sets, words
):
    out = tmp_path / "run"
    code, _, err = run_cli(
        monkeypatch, capsys, "study_cmd", "run", *_argv(study, sets, files), "--out", str(out)
    )
    assert words.replace("<d>", str(files)) in _one_error_line(code, err)
    assert not out.exists()


@pytest.mark.parametrize("case, study, sets, words", BAD_STUDIES, ids=[c[0] for c in BAD_STUDIES])
def test_validate_rejects_what_run_rejects_with_the_same_line(
    monkeypatch, capsys, tmp_path, files, case, study, sets, words
):
    argv = _argv(study, sets, files)
    code, _, err = run_cli(monkeypatch, capsys, "study_cmd", "validate", *argv)
    checked = _one_error_line(code, err)
    code, _, err = run_cli(
        monkeypatch, capsys, "study_cmd", "run", *argv, "--out", str(tmp_path / "r")
    )
    assert _one_error_line(code, err) == checked


# Every other command that reads a study validates it first, through the same checks.
STAGE_COMMANDS = [
    ("study_cmd", ["report"]),
    ("train_cmd", ["mix"]),
    ("train_cmd", ["train"]),
    ("eval_cmd", ["eval"]),
    ("eval_cmd", ["judge"]),
    ("generate_cmd", ["generate"]),
    ("generate_cmd", ["generate", "--dry-run", "--json"]),
    ("plan_cmd", ["plan", "--json"]),
    ("plan_cmd", ["estimate", "--json"]),
]


@pytest.mark.parametrize(
    "module, command", STAGE_COMMANDS, ids=[" ".join(c) for _, c in STAGE_COMMANDS]
)
def test_every_stage_command_validates_first(monkeypatch, capsys, tmp_path, module, command):
    out = tmp_path / "run"
    for sets, words in [
        (["students.0.hidden_size=-48"], "students.0.hidden_size"),
        (["world.weights.general-mx=1"], "unknown family 'general-mx'"),
    ]:
        argv = [command[0], "tiny", *command[1:], "--out", str(out)]
        code, _, err = run_cli(monkeypatch, capsys, module, *argv, *(f"--set={s}" for s in sets))
        assert words in _one_error_line(code, err)
        assert not out.exists()


def test_a_source_is_checked_only_while_its_generation_is_pending(monkeypatch, capsys, tmp_path):
    """A finished stage's inputs are not asked for again: the ledger, not the file, decides."""
    from ponder.config import load_study
    from ponder.pipeline import ledger
    from ponder.pipeline.expand import expand
    from ponder.pipeline.validate import pending, validate_study
    from ponder.rundir import RunDir

    cfg = load_study("tiny", [_source(str(tmp_path / "gone.jsonl"))])
    rd = RunDir(tmp_path / "run")
    steps = expand(cfg)
    gen = next(s for s in steps if s.id == "generate:general")
    with pytest.raises(Exception, match="domains.general.source.path: file not found"):
        validate_study(cfg, pending(rd, steps))
    (rd.root / gen.artifact).parent.mkdir(parents=True)
    (rd.root / gen.artifact).write_bytes(b"pairs")
    ledger.record(rd, gen, 1.0, {})  # generation finished before the file went away
    assert gen not in pending(rd, steps)
    validate_study(cfg, pending(rd, steps))


@pytest.mark.parametrize(
    "args, words",
    [
        (["plan", "tiny", "--slurm", "{f}"], "--slurm: {f} exists and is not a folder"),
        (["plan", "tiny", "--slurm", "{f}/sub"], "--slurm: {f} exists and is not a folder"),
        (
            ["step", "tiny", "generate:general", "--set", "students.0.vocab_size=-1"],
            "students.0.vocab_size",
        ),
    ],
)
def test_plan_and_step_bad_input(monkeypatch, capsys, tmp_path, args, words):
    f = tmp_path / "plan.txt"
    f.write_text("not a folder")
    argv = [a.format(f=f) for a in args] + ["--out", str(tmp_path / "run")]
    code, _, err = run_cli(monkeypatch, capsys, "plan_cmd", *argv)
    assert words.format(f=f) in _one_error_line(code, err)
    assert f.read_text() == "not a folder" and not (tmp_path / "run").exists()


def test_usage_errors_are_one_line(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "eval_cmd", "eval", "--limit", "0")
    assert "--limit" in _one_error_line(code, err)
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "flops_cmd",
        "flops",
        "infer",
        "--model",
        "qwen2.5-0.5b",
        "--prompt-tokens",
        str(10**14),
        "--gen-tokens",
        "1",
    )
    assert "--prompt-tokens: must be an integer in 1..16777216" in _one_error_line(code, err)


def test_validate_accepts_what_is_there(monkeypatch, capsys, tmp_path):
    """The checks find real inputs: a prompt file, a checkpoint folder, hub ids, benchmark data."""
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "What is 2+2?"}\n')
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    sets = [
        _source(str(tmp_path / "prompts.jsonl")),
        "domains.math.source={kind: hub, dataset: openai/gsm8k}",
        f"students.0={{name: tiny-0.05m, init: pretrained, path: '{tmp_path / 'ckpt'}'}}",
        "students.1={name: tiny-0.2m, init: pretrained, path: Qwen/Qwen2.5-0.5B}",
        "eval.benchmarks=[gsm8k, tiny-math-oe]",
        f"eval.data_dir={GSM8K_DATA}",
    ]
    code, out, err = run_cli(
        monkeypatch, capsys, "study_cmd", "validate", "tiny", *(f"--set={s}" for s in sets)
    )
    assert code == 0, err
    assert "study tiny: 6 trained models" in out
