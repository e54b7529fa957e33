"""Every benchmark reads its dataset's published hub schema, through `ponder data download`.

tests/fixtures/hub/<owner>/<name>/ are hub-shaped copies (README `configs:` front-matter, the
same configs, splits, columns and nested types; each README cites where the schema was
confirmed), a few rows each, real rows where a release file was at hand. `--from` makes them
stand in for the hub: the download, the Parquet cache and the readers run as for the real hub.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from _paths import DATA, FIXTURES
from ponder.errors import PonderError
from ponder.evaluate.benchmarks import load_benchmark
from ponder.evaluate.download import download, downloadable

HUB = FIXTURES / "hub"
# benchmark: (items in the fixture, first ids, first golds); golds checked against the releases
# (GSM8K "#### 18", WinoGrande answer "2" -> B, OpenBookQA 8-343 key B, MMLU ClassLabel 2 -> C).
CASES = {
    "gsm8k": (3, ["gsm8k-0", "gsm8k-1"], ["18", "3", "70000"]),
    "math-500": (
        3,
        ["test/precalculus/807.json"],
        ["\\left( 3, \\frac{\\pi}{2} \\right)", "p - q"],
    ),
    "aime": (4, ["aime24-0", "aime24-1", "aime25-0", "aime25-1"], ["204", "113", "70", "588"]),
    "ifeval": (3, ["1000", "1001", "1005"], ["", "", ""]),
    "aqua-rat": (3, ["aqua-rat-0"], ["A", "E", "A"]),
    "mmlu-misc": (3, ["miscellaneous-0", "miscellaneous-1"], ["C", "B", "D"]),
    "mmlu-math": (5, ["abstract_algebra-0", "college_mathematics-0"], ["B", "B", "C", "D", "B"]),
    "mmlu-pro-math": (2, ["7687", "7688"], ["H", "H"]),
    "mmlu-pro-law": (2, ["866"], ["D", "B"]),
    "mmlu-pro-code": (2, ["10356"], ["B", "A"]),
    "mmlu-pro-physics": (2, ["9044"], ["I", "D"]),
    "winogrande": (3, ["winogrande-0"], ["B", "A", "B"]),
    "openbookqa": (3, ["8-343", "1129", "880"], ["B", "A", "C"]),
    "squad": (3, ["56be4db0acb8001400a502ec"], ["Denver Broncos", "Carolina Panthers"]),
    "coqa": (5, ["coqa-0-1", "coqa-0-2", "coqa-0-3", "coqa-1-1"], ["red", "to school"]),
    "scibench": (10, ["atkins-704ecaa19e"], ["50.7", "0", "0.123"]),
    "consumer-qa": (2, ["consumer-qa-0"], ["Yes", "No"]),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    rows = download(None, out, HUB, check_counts=False)
    assert sorted(r["benchmark"] for r in rows) == sorted(downloadable()) == sorted(CASES)
    return out


def _load(name, data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fixtures hold fewer items than the real benchmarks
        return load_benchmark(name, data_dir)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hub_rows_give_the_right_items_golds_and_unique_ids(cache, name):
    n, ids, golds = CASES[name]
    items = _load(name, cache).items()
    assert len(items) == n and len({it.id for it in items}) == n
    assert [it.id for it in items][: len(ids)] == ids
    assert [it.gold for it in items][: len(golds)] == golds
    assert all(isinstance(it.gold, str) for it in items)
    if items[0].options:
        assert all(it.gold in "ABCDEFGHIJ"[: len(it.options)] for it in items)


def test_squad_golds_stay_a_list_and_a_correct_span_scores():
    bench = _load("squad", _cache_for(["squad"]))
    it = bench.items()[0]
    assert it.meta["answers"] == ["Denver Broncos"] * 3
    assert bench.score(it, "\\boxed{the Denver Broncos}")["em"] == 1.0


def test_coqa_is_one_item_per_question_with_its_story_and_prior_turns():
    items = _load("coqa", _cache_for(["coqa"])).items()
    third = items[2]
    assert third.question == "Who rides with her?" and third.gold == "her brother Tom"
    assert "Passage: Anna has a red bicycle." in third.prompt
    assert "Question: What color is Anna's bicycle?\nAnswer: red" in third.prompt
    assert "Question: Where does she ride it?\nAnswer: to school" in third.prompt
    assert third.prompt.endswith("Question: Who rides with her?")


def test_scibench_keeps_worked_examples_out_of_the_test_items():
    bench = _load("scibench", _cache_for(["scibench"]))
    test = {it.question for it in bench.items()}
    assert len(test) == 10 and all(not s.prompt.endswith(tuple(test)) for s in bench.fewshot(3))
    assert "The unit of the answer is" in bench.items()[0].prompt


def test_aime_fewshot_uses_earlier_years_never_the_test_problems():
    bench = _load("aime", _cache_for(["aime"]))
    shots = bench.fewshot(3)
    test = [it.question for it in bench.items()]
    assert len(shots) == 3 and not any(q in s.prompt for s in shots for q in test)


_CACHES: dict = {}


def _cache_for(names):
    key = tuple(names)
    if key not in _CACHES:
        import tempfile
        from pathlib import Path

        _CACHES[key] = Path(tempfile.mkdtemp())
        download(list(names), _CACHES[key], HUB, check_counts=False)
    return _CACHES[key]


def _copy_repo(tmp_path, repo):
    import shutil

    dest = tmp_path / "hub" / repo
    shutil.copytree(HUB / repo, dest)
    return dest


@pytest.mark.parametrize(
    ("name", "repo", "edit", "message"),
    [
        (
            "winogrande",
            "allenai/winogrande",
            ("winogrande_debiased/validation.jsonl", '"answer"', '"label"'),
            "winogrande: allenai/winogrande (winogrande_debiased) [validation] row 0: "
            "column 'answer' is missing",
        ),
        (
            "squad",
            "rajpurkar/squad",
            ("plain_text/validation.jsonl", '"answers": {"text": ', '"answers": {"texts": '),
            "squad: rajpurkar/squad [validation] row 0: "
            "column 'answers' should be {text: [str, ...]",
        ),
        (
            "mmlu-misc",
            "cais/mmlu",
            ("miscellaneous/test.jsonl", '"answer": 2', '"answer": 7'),
            "mmlu-misc: cais/mmlu (miscellaneous) [test] row 0: "
            "column 'answer' should index one of 4 choices, got 7",
        ),
    ],
)
def test_a_mis_shaped_dataset_is_one_error_naming_dataset_split_and_column(
    tmp_path, name, repo, edit, message
):
    folder = _copy_repo(tmp_path, repo)
    assert edit[1] in (folder / edit[0]).read_text()
    for path in folder.rglob("*.jsonl"):  # every split of the config: a consistent other schema
        path.write_text(path.read_text().replace(edit[1], edit[2]))
    with pytest.raises(PonderError) as e:
        download([name], tmp_path / "cache", tmp_path / "hub", check_counts=False)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
    assert not (tmp_path / "cache" / "hub").exists()  # nothing half-written


PONDER = [sys.executable, "-c", "from ponder.cli import main; main()"]


def _cli(*args, env=None):
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([*PONDER, *args], capture_output=True, text=True, env=env, timeout=300)


def test_download_checks_item_counts_and_writes_nothing_on_a_mismatch(tmp_path):
    r = _cli("data", "download", "gsm8k", "--from", str(HUB), "--data-dir", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        "error: gsm8k: the hub copy gives 3 items, the definition expects 1319; nothing was "
        "written (pass --no-count-check for a partial mirror)"
    )
    assert not any(tmp_path.rglob("*.parquet"))


def test_download_then_eval_reads_the_cache_by_default(tmp_path):
    r = _cli(
        "data",
        "download",
        "gsm8k",
        "--from",
        str(HUB),
        "--no-count-check",
        "--json",
        env={"PONDER_DATA_DIR": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "hub" / "openai/gsm8k/main/test.parquet").is_file()
    responses = tmp_path / "r.jsonl"
    responses.write_text('{"id": "gsm8k-0", "response": "\\\\boxed{18}"}\n')
    r = _cli(
        "eval",
        "--benchmark",
        "gsm8k",
        "--responses",
        str(responses),
        "--json",
        env={"PONDER_DATA_DIR": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert '"accuracy": 100.0' in r.stdout


def test_offline_without_a_copy_is_one_clear_line(tmp_path):
    r = _cli("data", "download", "winogrande", "--data-dir", str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: winogrande: cannot load allenai/winogrande"
    )
    assert "offline or gated?" in lines[0]


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name",
    [
        "gsm8k",
        "math-500",
        "aime",
        "ifeval",
        "aqua-rat",
        "mmlu-misc",
        "mmlu-pro-math",
        "winogrande",
        "openbookqa",
        "squad",
        "scibench",
    ],
)
def test_hub_rows_and_release_files_give_the_same_items(cache, name):
    hub = _load(name, cache).items()
    real = {it.id: it for it in _load(name, DATA).items()}
    for it in hub:
        assert it.id in real, it.id
        assert (real[it.id].gold, real[it.id].options) == (it.gold, it.options)
