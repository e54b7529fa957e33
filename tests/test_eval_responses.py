"""`ponder eval --responses`: the score-existing-answers contract, on fixtures and on real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import _register_all, app
from ponder.errors import PonderError

FIX = Path(__file__).parent / "fixtures" / "eval"
from _paths import DATA  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*the definition expects:UserWarning")


@pytest.fixture(scope="module")
def cli():
    if "eval" not in {c.name for c in app.registered_commands}:
        _register_all()
    runner = CliRunner()

    def run(*args):
        res = runner.invoke(app, list(args), catch_exceptions=True)
        if isinstance(res.exception, PonderError):
            raise res.exception
        assert res.exit_code == 0, res.output
        return res.output

    return run


def _json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("benchmark", "responses", "expected"),
    [
        # row 1: id + think block; row 2: matched by question text, "2,500 pens";
        # row 3: no box, wrong
        ("gsm8k", "responses_gsm8k.jsonl", {"n": 3, "accuracy": 200 / 3}),
        ("mmlu-misc", "responses_mmlu.jsonl", {"n": 2, "accuracy": 100.0}),
        (
            "squad",
            "responses_squad.jsonl",
            {"n": 2, "accuracy": 50.0, "exact_match": 50.0, "f1": 50.0},
        ),
    ],
)
def test_eval_responses_json_summary(cli, benchmark, responses, expected):
    out = _json(
        cli(
            "eval",
            "--benchmark",
            benchmark,
            "--responses",
            str(FIX / responses),
            "--data-dir",
            str(FIX / "data"),
            "--json",
        )
    )
    assert out["benchmark"] == benchmark
    for k, v in expected.items():
        assert out[k] == pytest.approx(v), k


def test_eval_out_writes_per_item_verdicts(cli, tmp_path):
    out = tmp_path / "verdicts.jsonl"
    cli(
        "eval",
        "--benchmark",
        "gsm8k",
        "--responses",
        str(FIX / "responses_gsm8k.jsonl"),
        "--data-dir",
        str(FIX / "data"),
        "--out",
        str(out),
        "--json",
    )
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [(r["id"], r["extracted"], r["boxed"], r["correct"]) for r in rows] == [
        ("gsm8k-0", "7", True, True),
        ("gsm8k-1", "2,500 pens", True, True),
        ("gsm8k-2", "One book costs $7", False, False),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"id": "gsm8k-0", "response": "\\\\boxed{7}"}\n{"id": "gsm8k-99", "response": "x"}\n',
            r"responses.jsonl:2: id 'gsm8k-99' is not an item of gsm8k",
        ),
        ('{"prompt": "What is 1+1?", "response": "2"}\n', r"responses.jsonl:1: prompt matches no"),
        ('{"id": "gsm8k-0"}\n', r"responses.jsonl:1: row needs a string field `response`"),
        ('{"id": "gsm8k-0", "response": "7"\n', r"responses.jsonl:1: not valid JSON"),
        ('{"response": "7"}\n', r"responses.jsonl:1: row needs `id` or `prompt`"),
    ],
)
def test_bad_rows_name_their_line(cli, tmp_path, content, message):
    path = tmp_path / "responses.jsonl"
    path.write_text(content)
    with pytest.raises(PonderError, match=message):
        cli(
            "eval",
            "--benchmark",
            "gsm8k",
            "--responses",
            str(path),
            "--data-dir",
            str(FIX / "data"),
            "--json",
        )


def test_console_script_prints_one_error_line_and_exits_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ponder.cli import main; main()",
            "eval",
            "--benchmark",
            "gsm8k",
            "--responses",
            str(FIX / "responses_bad_line.jsonl"),
            "--data-dir",
            str(FIX / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "responses_bad_line.jsonl:2" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.realdata
def test_ifeval_reproduces_googles_gpt4_reference(cli):
    """Google's GPT-4 sample responses: strict 77.08 / 83.69, loose 79.48 / 85.49 (±0.4)."""
    out = _json(
        cli(
            "eval",
            "--benchmark",
            "ifeval",
            "--responses",
            str(DATA / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl"),
            "--data-dir",
            str(DATA),
            "--json",
        )
    )
    assert out["n"] == 541
    assert out["strict_prompt"] == pytest.approx(77.08, abs=0.4)
    assert out["strict_instruction"] == pytest.approx(83.69, abs=0.4)
    assert out["loose_prompt"] == pytest.approx(79.48, abs=0.4)
    assert out["loose_instruction"] == pytest.approx(85.49, abs=0.4)
    assert out["accuracy"] == out["strict_prompt"]


GSM8K_0_RIGHT = '{"id": "gsm8k-0", "response": "\\\\boxed{7}"}\n'
GSM8K_1_WRONG = '{"id": "gsm8k-1", "response": "\\\\boxed{3}"}\n'
GSM8K_1_QUESTION = "A shop sells 1,250 pens a day for 2 days. How many pens is that?"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # 3 x gsm8k-0 right + gsm8k-1 wrong would score n=4, 75%: the truth is 2 items, 50%
        (
            GSM8K_0_RIGHT * 3 + GSM8K_1_WRONG,
            r"responses.jsonl:2: item 'gsm8k-0' is already answered on line 1",
        ),
        (
            GSM8K_1_WRONG + f'{{"prompt": "{GSM8K_1_QUESTION}", "response": "x"}}\n',
            r"responses.jsonl:2: item 'gsm8k-1' is already answered on line 1",
        ),  # by its prompt
        (b"", r"responses.jsonl: no responses \(the file is empty or only blank lines\)"),
        ("\n  \n\t\n", r"responses.jsonl: no responses"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            r"responses.jsonl:1: not UTF-8 text \(byte 0x89\)",
        ),
        (
            GSM8K_0_RIGHT + '{"id": ' + "[" * 5000 + "]" * 5000 + ', "response": "x"}\n',
            r"responses.jsonl:2: not valid JSON \(nested too deeply\)",
        ),
        (
            '{"id": "gsm8k-0", "response": NaN}\n',
            r"responses.jsonl:1: row needs a string field `response`",
        ),
        ('["gsm8k-0", "7"]\n', r"responses.jsonl:1: row needs a string field `response`"),
    ],
)
def test_response_files_that_cannot_be_scored_honestly(cli, tmp_path, content, message):
    path = tmp_path / "responses.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(PonderError, match=message):
        cli(
            "eval",
            "--benchmark",
            "gsm8k",
            "--responses",
            str(path),
            "--data-dir",
            str(FIX / "data"),
            "--json",
            "--out",
            str(tmp_path / "verdicts.jsonl"),
        )
    assert not (tmp_path / "verdicts.jsonl").exists()


def test_one_answer_per_item_scores_each_item_once(cli, tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_text(GSM8K_0_RIGHT + GSM8K_1_WRONG)
    out = _json(
        cli(
            "eval",
            "--benchmark",
            "gsm8k",
            "--responses",
            str(path),
            "--data-dir",
            str(FIX / "data"),
            "--json",
        )
    )
    assert (out["n"], out["accuracy"]) == (2, 50.0)
