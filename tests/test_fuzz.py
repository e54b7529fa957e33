"""Fuzzing what a user hands ponder: study YAML mutated from the built-in tiny study, and response
files for `ponder eval --responses`. Every generated input is wrong in one way; each must end in
exit code 2 and exactly one `error:` line on stderr naming the field or file, with no traceback
and nothing written (no run directory, no verdicts file).

Hypothesis draws the cases (derandomized: the same cases on every run). The mutations are chosen
to be wrong wherever they land: NaN and infinities, magnitudes past every bound, negatives (no
study value is negative), a mapping where a value goes, non-numeric text for numbers, zeros where
a value must be positive, empty grid lists, unknown keys, non-UTF-8 bytes, deep nesting.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from itertools import count

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _cli import run_cli
from ponder.resources import resource

BASE = yaml.safe_load(resource("studies", "tiny.yaml").read_text(encoding="utf-8"))
SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PONDER = [sys.executable, "-c", "from ponder.cli import main; main()"]


def _nodes(node, path=()) -> list[tuple]:
    """The path of every value below the root (mappings, lists and leaves)."""
    out = [path] if path else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for k, v in items:
        out += _nodes(v, (*path, k))
    return out


def _get(data, path):
    for k in path:
        data = data[k]
    return data


NODES = _nodes(BASE)
MAPPINGS = [()] + [p for p in NODES if isinstance(_get(BASE, p), dict)]
NUMBERS = [p for p in NODES if type(_get(BASE, p)) in (int, float)]
# Values that must be positive (a 0 is as wrong as a negative there).
POSITIVE = [
    p
    for p in NUMBERS
    if p[-1]
    in (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "n",
        "n_test",
        "global_batch_tokens",
        "micro_batch_size",
        "max_seq_len",
        "max_new_tokens",
        "batch_size",
        "ift",
        "reasoning",
    )
]
# Lists that are a factor of the grid's product (or the study's only students / grid).
GRID_LISTS = [("students",), ("grid",)] + [
    p for p in NODES if len(p) == 3 and p[0] == "grid" and isinstance(_get(BASE, p), list)
]
BAD_ANYWHERE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(min_value=10**20, max_value=10**300),
    st.integers(min_value=-(10**300), max_value=-1),
    st.floats(min_value=-1e300, max_value=-1e-9),
    st.builds(lambda k: {f"zz-{k}": 1}, st.text("abcdef", min_size=1, max_size=5)),
)


STUDY_KINDS = [
    "bad value",
    "not a number",
    "zero",
    "empty list",
    "unknown key",
    "not UTF-8",
    "nested deeply",
]
RESPONSE_KINDS = [
    "duplicate id",
    "unknown id",
    "not an object",
    "no response",
    "invalid JSON",
    "binary",
    "nested deeply",
    "empty",
]
STUDY_EXAMPLES, RESPONSE_EXAMPLES = 25, 12  # per kind: 175 studies, 96 response files


@st.composite
def study_cases(draw, kind: str) -> tuple[str, bytes]:
    """(words the error must contain, the study file's bytes) for one kind of mistake."""
    data = json.loads(json.dumps(BASE))  # a deep copy
    if kind in ("bad value", "not a number", "zero", "empty list", "nested deeply"):
        pools = {
            "bad value": NODES,
            "not a number": NUMBERS,
            "zero": POSITIVE,
            "empty list": GRID_LISTS,
            "nested deeply": NODES,
        }
        path = draw(st.sampled_from(pools[kind]))
        value = {
            "bad value": BAD_ANYWHERE,
            "zero": st.just(0),
            "empty list": st.just([]),
            "not a number": st.text("qwxz", min_size=1, max_size=8),
            "nested deeply": st.just("@DEEP@"),
        }[kind]
        _get(data, path[:-1])[path[-1]] = draw(value)
        text = yaml.safe_dump(data, sort_keys=False)
        depth = draw(st.integers(min_value=50, max_value=5000))
        text = text.replace("'@DEEP@'", "[" * depth + "]" * depth)
        return str(path[0]), text.encode()
    if kind == "unknown key":
        path = draw(st.sampled_from(MAPPINGS))
        key = "zz-" + draw(st.text("abcdef", min_size=1, max_size=5))
        _get(data, path)[key] = 1
        return str(path[0]) if path else key, yaml.safe_dump(data).encode()
    raw = yaml.safe_dump(data).encode()  # ASCII: any byte >= 0x80 inserted alone is not UTF-8
    at = draw(st.integers(min_value=0, max_value=len(raw)))
    bad = bytes([draw(st.integers(min_value=0x80, max_value=0xFF))])
    return "not UTF-8 text", raw[:at] + bad + raw[at:]


# (command module, command and its options): every command that reads a study.
COMMANDS = [
    ("study_cmd", ["run"]),
    ("study_cmd", ["validate"]),
    ("study_cmd", ["report"]),
    ("train_cmd", ["train"]),
    ("train_cmd", ["mix"]),
    ("eval_cmd", ["eval"]),
    ("generate_cmd", ["generate"]),
    ("generate_cmd", ["generate", "--dry-run", "--json"]),
    ("plan_cmd", ["plan", "--json"]),
    ("plan_cmd", ["estimate", "--json"]),
]


def _one_error_line(code, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("kind", STUDY_KINDS)
def test_fuzzed_studies_end_in_one_error_line_and_write_nothing(
    monkeypatch, capsys, tmp_path, kind
):
    ran = count(1)
    t0 = time.perf_counter()

    @settings(SETTINGS, max_examples=STUDY_EXAMPLES)
    @given(case=study_cases(kind), command=st.sampled_from(COMMANDS))
    def check(case, command):
        words, raw = case
        module, argv = command
        case_dir = tmp_path / f"case{next(ran)}"
        case_dir.mkdir()
        study, out = case_dir / "study.yaml", case_dir / "run"
        study.write_bytes(raw)
        extra = [] if argv[0] == "validate" else ["--out", str(out)]
        code, stdout, err = run_cli(
            monkeypatch, capsys, module, argv[0], str(study), *argv[1:], *extra
        )
        line = _one_error_line(code, err)
        if kind == "nested deeply":  # past 100 levels the reader stops; below, the schema does
            assert "nested too deeply" in line or words in line, line
        else:
            assert words in line, (words, line)
        assert (
            stdout == ""
            and not out.exists()
            and [p.name for p in case_dir.iterdir()] == ["study.yaml"]
        )

    check()
    cases = len(list(tmp_path.iterdir()))
    print(f"fuzzed studies ({kind}): {cases} cases in {time.perf_counter() - t0:.1f} s")
    assert cases >= STUDY_EXAMPLES // 2  # Hypothesis may stop early on a small space (zero)


@st.composite
def response_files(draw, kind: str, ids: list[str]) -> bytes:
    """A responses file: some good rows and one bad thing of `kind` among them."""
    good = [
        json.dumps({"id": i, "response": f"\\boxed{{{n}}}"})
        for n, i in enumerate(draw(st.lists(st.sampled_from(ids), max_size=5, unique=True)))
    ]
    if kind == "empty":
        return "\n".join(draw(st.lists(st.sampled_from(["", " ", "\t"]), max_size=4))).encode()
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=64)) + b"\xff" + draw(st.binary(max_size=64))
    if kind == "duplicate id":
        good = good or [json.dumps({"id": ids[0], "response": "x"})]
        bad = json.dumps({"id": json.loads(draw(st.sampled_from(good)))["id"], "response": "y"})
    else:
        depth = draw(st.integers(min_value=1500, max_value=20000))
        bad = {
            "unknown id": json.dumps(
                {"id": f"no-such-{draw(st.integers(0, 99))}", "response": "x"}
            ),
            "not an object": json.dumps(
                draw(
                    st.one_of(
                        st.integers(), st.lists(st.text(max_size=3)), st.text(max_size=5), st.none()
                    )
                )
            ),
            "no response": json.dumps(
                {
                    "id": ids[0],
                    **draw(
                        st.sampled_from(
                            [{}, {"response": 7}, {"response": None}, {"response": ["a"]}]
                        )
                    ),
                }
            ),
            "invalid JSON": draw(
                st.sampled_from(['{"id": ', "{'id': 1}", '{"id": "x", "response": }'])
            ),
            "nested deeply": '{"id": ' + "[" * depth + "]" * depth + ', "response": "x"}',
        }[kind]
    rows = list(good)
    rows.insert(draw(st.integers(min_value=0, max_value=len(rows))), bad)
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("kind", RESPONSE_KINDS)
def test_fuzzed_response_files_end_in_one_error_line_and_write_nothing(
    monkeypatch, capsys, tmp_path, kind
):
    from ponder.evaluate.benchmarks import load_benchmark

    item_ids = [it.id for it in load_benchmark("tiny-math-oe").items()[:20]]
    ran = count(1)
    t0 = time.perf_counter()

    @settings(SETTINGS, max_examples=RESPONSE_EXAMPLES)
    @given(raw=response_files(kind, item_ids))
    def check(raw):
        path = tmp_path / f"responses{next(ran)}.jsonl"
        path.write_bytes(raw)
        verdicts = tmp_path / "verdicts.jsonl"
        code, stdout, err = run_cli(
            monkeypatch,
            capsys,
            "eval_cmd",
            "eval",
            "--benchmark",
            "tiny-math-oe",
            "--responses",
            str(path),
            "--json",
            "--out",
            str(verdicts),
        )
        assert str(path) in _one_error_line(code, err), err
        assert stdout == "" and not verdicts.exists()

    check()
    cases = len(list(tmp_path.glob("responses*.jsonl")))
    print(f"fuzzed response files ({kind}): {cases} cases in {time.perf_counter() - t0:.1f} s")
    assert cases >= RESPONSE_EXAMPLES // 2


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["run", "{d}/study.yaml", "--out", "{d}/run"],
            "{d}/study.yaml line 2: not UTF-8 text (byte 0xff)",
        ),
        (
            ["eval", "--benchmark", "tiny-math-oe", "--responses", "{d}/responses.jsonl", "--json"],
            "{d}/responses.jsonl:1: not UTF-8 text (byte 0x89); is it a binary file?",
        ),
        (
            ["plan", "tiny", "--slurm", "{d}/study.yaml"],
            "--slurm: {d}/study.yaml exists and is not a folder",
        ),
    ],
)
def test_the_console_script_prints_one_line(tmp_path, args, words):
    (tmp_path / "study.yaml").write_bytes(b"name: tiny\n\xff\n")
    (tmp_path / "responses.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n")
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    r = subprocess.run([*PONDER, *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "error: " + words.replace("{d}", str(tmp_path))
    assert not (tmp_path / "run").exists()
