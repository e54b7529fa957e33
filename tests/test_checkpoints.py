"""Checkpoint arms, as a specification: the labels a study may give a model it does not train,
the one line each wrong label or checkpoint gets before anything runs, what a checkpoint's
evaluation and results hash, its training FLOPs from token counts, and the report's comparison
with a reference study (`report.compare_to`).

Checkpoints here are config.json folders written by transformers (no weights: every check reads
the config and the tokenizer's chat template only), and hub ids resolved from a Hugging Face cache
laid out in a temporary folder, offline.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from _reportrun import synthetic
from ponder import flops
from ponder.config import load_study
from ponder.errors import PonderError
from ponder.pipeline import checkpoints as ck
from ponder.pipeline.expand import expand
from ponder.pipeline.validate import validate_study
from ponder.records import evaluated_models
from ponder.report import registry
from ponder.report.data import ReportData

TINY_QWEN = dict(
    vocab_size=512,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=1,
    tie_word_embeddings=True,
)
TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def save_checkpoint(d: Path, *, template: bool = True, **config) -> Path:
    """A checkpoint folder as transformers writes it: config.json (+ chat_template.jinja)."""
    from transformers import AutoConfig

    kind = config.pop("model_type", "qwen2")
    AutoConfig.for_model(kind, **(TINY_QWEN | config)).save_pretrained(d)
    if template:
        (d / "chat_template.jinja").write_text(TEMPLATE)
    return d


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    bert = dict(vocab_size=512, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    (root / "empty").mkdir()
    (root / "weights.bin").write_bytes(b"not a folder")
    return {
        "ok": save_checkpoint(root / "ok"),
        "bert": save_checkpoint(
            root / "bert", model_type="bert", architectures=["BertForMaskedLM"], **bert
        ),
        "no-template": save_checkpoint(root / "no-template", template=False),
        "empty": root / "empty",
        "file": root / "weights.bin",
    }


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test here asks the hub: offline, with an empty Hugging Face cache of its own."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    ck.hub_reachable.cache_clear()
    yield tmp_path / "hf-cache"
    ck.hub_reachable.cache_clear()


def cache_repo(cache: Path, repo: str, files: Path) -> Path:
    """`repo` at its main branch in a Hugging Face cache (the layout snapshot_download reads)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    d = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(files, d / "snapshots" / commit)
    (d / "refs").mkdir()
    (d / "refs" / "main").write_text(commit)
    return d / "snapshots" / commit


@pytest.fixture
def study(tmp_path, folders):
    """A study of one checkpoint arm (the `ok` folder) on a tiny-world benchmark (no data)."""
    path = tmp_path / "study.yaml"
    arm = {"name": "arm", "path": str(folders["ok"]), "student": "s", "domain": "g", "ratio": 1}
    path.write_text(
        yaml.safe_dump(
            {
                "name": "arms",
                "world": {"n_test": 8},
                "checkpoints": [arm],
                "eval": {"benchmarks": ["tiny-math-oe"], "include_teacher": False},
            }
        )
    )
    return path


def load(study: Path, folders: dict, *sets: str):
    """The study with `--set` overrides, `<name>` standing for that checkpoint folder."""
    for name, d in folders.items():
        sets = tuple(s.replace(f"<{name}>", str(d)) for s in sets)
    return load_study(study, list(sets))


# ---------------------------------------------------------------- labels (the schema)
BAD_LABELS = [  # (case, override of checkpoints.0, words of the one line)
    ("no phase", "{name: a, path: x, student: s}", "needs `domain` and `ratio` (mono-phasic)"),
    ("domain alone", "{name: a, path: x, student: s, domain: general}", "needs `ratio` too"),
    (
        "both kinds",
        "{name: a, path: x, student: s, domain: general, ratio: 0, "
        "phases: [{domain: general, ratio: 0}, {domain: math, ratio: 1}]}",
        "give either `domain` and `ratio` (mono-phasic) or `phases`",
    ),
    (
        "one phase",
        "{name: a, path: x, student: s, phases: [{domain: math, ratio: 1}]}",
        "two or more `phases`",
    ),
    (
        "ratio above 1",
        "{name: a, path: x, student: s, domain: g, ratio: 1.5}",
        "checkpoints.0.ratio",
    ),
    (
        "tokens without sequences",
        "{name: a, path: x, student: s, domain: g, ratio: 1, trained_tokens: 1000}",
        "give `trained_tokens` and `trained_sequences` together",
    ),
    (
        "more sequences than tokens",
        "{name: a, path: x, student: s, domain: g, ratio: 1, trained_tokens: 10, "
        "trained_sequences: 11}",
        "trained_sequences is more than trained_tokens",
    ),
    ("a spaced name", "{name: a b, path: x, student: s, domain: g, ratio: 0}", "not a plain name"),
    ("an unknown key", "{name: a, path: x, student: s, domain: g, ratio: 0, lr: 1}", "unknown key"),
    (
        "an unknown request setting",
        "{name: a, path: x, student: s, domain: g, ratio: 0, eval: {thinking: true}}",
        "checkpoints.0.eval.thinking: unknown key",
    ),
]


@pytest.mark.parametrize(("case", "arm", "words"), BAD_LABELS, ids=[c[0] for c in BAD_LABELS])
def test_a_wrong_label_is_one_line_naming_the_field(study, folders, case, arm, words):
    with pytest.raises(PonderError) as e:
        load_study(study, [f"checkpoints.0={arm}"])
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["checkpoints=[]"], "grid: List should have at least 1 item (or list `checkpoints`)"),
        (
            [
                "checkpoints=[{name: a, path: y, student: s, domain: g, ratio: 0}, "
                "{name: a, path: z, student: s, domain: g, ratio: 1}]"
            ],
            "checkpoints: name 'a' is listed twice",
        ),
    ],
)
def test_a_study_needs_something_to_evaluate_and_unique_names(study, sets, words):
    with pytest.raises(PonderError) as e:
        load_study(study, sets)
    assert words in str(e.value)


def test_a_checkpoint_named_like_a_trained_model_is_refused():
    arm = "{name: tiny-0.05m_general-r0_sequential, path: x, student: s, domain: g, ratio: 0}"
    cfg = load_study("tiny", [f"checkpoints=[{arm}]"])
    with pytest.raises(PonderError, match="checkpoints.0.name: 'tiny-0.05m_general-r0_sequential'"):
        evaluated_models(cfg)


# ---------------------------------------------------------------- checks (ponder validate)
BAD_CHECKPOINTS = [  # (case, --set overrides, words of the one line)
    (
        "missing folder",
        ["checkpoints.0.path=/no/such/ckpt"],
        "checkpoints.0.path: folder not found",
    ),
    ("a file", ["checkpoints.0.path=<file>"], "is a file; give the checkpoint's folder"),
    ("no config.json", ["checkpoints.0.path=<empty>"], "has no config.json"),
    ("not a causal LM", ["checkpoints.0.path=<bert>"], "is a BertForMaskedLM, not a causal LM"),
    ("no chat template", ["checkpoints.0.path=<no-template>"], "has no chat template"),
    (
        "params off by more than 10%",
        ["checkpoints.0.params=29000"],
        "checkpoints.0.params: its label says 29,000 parameters, its config.json has 25,760",
    ),
    (
        "a built-in size label of another size",
        ["checkpoints.0.student=qwen2.5-0.5b"],
        "checkpoints.0.student: qwen2.5-0.5b says 494,005,120 parameters, its config.json has",
    ),
    ("a revision of a folder", ["checkpoints.0.revision=main"], "a local folder has no revisions"),
    ("not a hub id", ["checkpoints.0.path=org/a/b"], "neither a checkpoint folder nor a hub id"),
    (
        "an uncached hub id labelled off its built-in size",
        [
            "checkpoints.0.path=org/model",
            "checkpoints.0.student=qwen2.5-7b",
            "checkpoints.0.params=494000000",
        ],
        "its label says 494,000,000 parameters, the built-in qwen2.5-7b has 7,615,487,488",
    ),
    ("no reference run", ["report.compare_to=/no/such/run"], "report.compare_to: /no/such/run"),
]


@pytest.mark.parametrize(
    ("case", "sets", "words"), BAD_CHECKPOINTS, ids=[c[0] for c in BAD_CHECKPOINTS]
)
def test_validate_refuses_a_checkpoint_with_one_line(study, folders, case, sets, words):
    cfg = load(study, folders, *sets)
    with pytest.raises(PonderError) as e:
        validate_study(cfg)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_checkpoint_as_labelled_passes_and_is_read_from_its_config(study, folders, capsys):
    cfg = load(study, folders, "checkpoints.0.params=26000")  # within 10% of 25,760
    validate_study(cfg)
    assert capsys.readouterr().err == ""  # nothing left unchecked
    c = cfg.checkpoints[0].model_copy(update={"params": None})
    assert ck.params(c) == 25_760 and ck.dims(c).hidden_size == 32


def test_a_hub_checkpoint_is_read_from_the_local_cache(study, folders, offline, capsys):
    cache_repo(offline, "org/bert", folders["bert"])
    with pytest.raises(PonderError, match="checkpoints.0.path: org/bert is a BertForMaskedLM"):
        validate_study(load(study, folders, "checkpoints.0.path=org/bert"))
    snap = cache_repo(offline, "org/tiny", folders["ok"])
    cfg = load(study, folders, "checkpoints.0.path=org/tiny")
    validate_study(cfg)
    assert capsys.readouterr().err == ""
    assert (
        ck.weights_dir(cfg, cfg.checkpoints[0]) == snap and ck.params(cfg.checkpoints[0]) == 25_760
    )
    with pytest.raises(PonderError, match="org/tiny@v2 is neither in the Hugging Face cache"):
        ck.weights_dir(cfg, cfg.checkpoints[0].model_copy(update={"revision": "v2"}))


def test_an_uncached_hub_checkpoint_offline_is_checked_by_its_labels_and_says_so(study, capsys):
    path = "When-Does-Reasoning-Matter/Qwen2.5-0.5B-ift"
    cfg = load_study(study, [f"checkpoints.0.path={path}", "checkpoints.0.student=qwen2.5-0.5b"])
    validate_study(cfg)
    err = capsys.readouterr().err
    assert err.startswith("note: 1 hub checkpoint(s) are not in the local cache and HF_HUB_OFFLINE")
    assert "arm checked by id and label only" in err and "chat template" in err
    assert ck.params(cfg.checkpoints[0]) == 494_005_120  # the built-in Qwen2.5-0.5B dimensions
    with pytest.raises(PonderError, match="checkpoints.0.path: .* is neither in the Hugging"):
        ck.weights_dir(cfg, cfg.checkpoints[0])


# ---------------------------------------------------------------- what is hashed
def _hashes(cfg) -> dict[str, str]:
    return {s.id: s.hash for s in expand(cfg)}


@pytest.mark.parametrize(
    ("changes", "evals_redone"),
    [
        (["checkpoints.0.student=s2"], False),  # labels change results rows only
        (["checkpoints.0.params=25760"], False),
        (["checkpoints.0.seed=3"], False),
        (["checkpoints.0.ratio=0"], False),
        (["checkpoints.0.trained_tokens=9000", "checkpoints.0.trained_sequences=90"], False),
        (["checkpoints.0.eval.chat_template_kwargs={enable_thinking: false}"], True),
        (["checkpoints.0.eval.system=Answer in one word."], True),
        (["checkpoints.0.path=<no-template>"], True),
        (["checkpoints.0.path=org/model"], True),
    ],
)
def test_relabelling_redoes_the_results_step_and_asking_differently_the_evaluations(
    study, folders, changes, evals_redone
):
    before, after = _hashes(load(study, folders)), _hashes(load(study, folders, *changes))
    assert (before["eval:arm:tiny-math-oe"] != after["eval:arm:tiny-math-oe"]) == evals_redone
    assert before["results"] != after["results"]
    assert set(before) == {"eval:arm:tiny-math-oe", "results", "report"}  # nothing trained


def test_a_checkpoint_is_asked_with_its_own_request_settings(study, folders):
    from ponder.evaluate.run import build_requests, load_study_benchmark

    sets = [
        "checkpoints.0.eval={system: Think first., chat_template_kwargs: {enable_thinking: true}}"
    ]
    cfg = load(study, folders, *sets)
    arm = next(t for t in evaluated_models(cfg) if t.model == "arm")
    req = build_requests(cfg, load_study_benchmark(cfg, "tiny-math-oe"), arm)[0]
    assert req.messages[0] == {"role": "system", "content": "Think first."}
    assert req.messages[1]["role"] == "user" and req.chat_template_kwargs == {
        "enable_thinking": True
    }
    assert (req.temperature, req.top_p, req.thinking) == (1.0, 1.0, None)  # §2.3, as students


# ---------------------------------------------------------------- training FLOPs from tokens
def test_training_flops_from_token_counts_are_appendix_c_at_the_mean_length(study, folders):
    c = load(study, folders).checkpoints[0]
    dims = ck.dims(c)
    rng = np.random.default_rng(0)
    for lens in (np.full(50, 300), rng.integers(20, 2000, size=50)):
        labelled = c.model_copy(
            update={"trained_tokens": int(lens.sum()), "trained_sequences": len(lens)}
        )
        exact = flops.train_flops(dims, lens, "paper")  # what train_summary.json records
        # sum l^2 >= (sum l)^2 / n: equal at equal lengths, a lower bound otherwise
        assert ck.trained_flops(labelled) == pytest.approx(exact) or (
            len(set(lens)) > 1 and ck.trained_flops(labelled) < exact
        )
    assert math.isnan(ck.trained_flops(c))  # no token counts: unknown, not a guess


# ---------------------------------------------------------------- beside a reference study
ACC = {
    ("IFT", 1_000_000): {"qa-oe": 0.40, "sums-oe": 0.30},
    ("reasoning", 1_000_000): {"qa-oe": 0.45, "sums-oe": 0.70},
}


def compare(tmp_path, ref_acc, ref_where=None) -> ReportData:
    """This study (ACC) with `report.compare_to` naming a reference study drawn at `ref_acc`."""
    mine = synthetic(tmp_path / "mine", ACC, seeds=(0,))
    ref = synthetic(tmp_path / "ref", ref_acc, seeds=(0,))
    where = ref_where(ref) if ref_where else ref
    (mine / "study.yaml").write_text(yaml.safe_dump({"report": {"compare_to": str(where)}}))
    entry = next(e for e in registry.ENTRIES if e.key == "compare")
    return registry.run(entry, ReportData(mine))


def test_arms_beside_their_reference_with_paired_cis(tmp_path):
    worse = {k: dict(v) for k, v in ACC.items()}
    worse[("reasoning", 1_000_000)]["sums-oe"] = 0.40  # the reference's reasoning arm: 30 pts less
    a = compare(tmp_path, worse)
    t = a.table.set_index(["arm", "benchmark"])
    assert len(t) == 4 and t["paired"].all() and (t["items"] == 200).all()
    same = t.drop(("s1000000 general ρ=1", "sums-oe"))
    assert (same["diff"] == 0).all() and (same["verdict"] == "no significant difference").all()
    up = t.loc[("s1000000 general ρ=1", "sums-oe")]
    assert up["diff"] == pytest.approx(0.30) and up["diff_low"] > 0 and up["verdict"] == "higher"
    assert (up["accuracy"], up["ref_accuracy"]) == (pytest.approx(0.70), pytest.approx(0.40))
    assert a.reading.startswith("2 arm(s) of this study match arms of")
    assert (
        "of their 4 benchmark comparisons, 3 show no significant difference; this study is "
        "higher in 1: s1000000 general ρ=1 on sums-oe (+30.0 pts, 95% CI [" in a.reading
    )


def test_a_bare_results_file_is_compared_unpaired(tmp_path):
    def copy(ref: Path) -> Path:
        shutil.copy(ref / "results.parquet", tmp_path / "released.parquet")
        return tmp_path / "released.parquet"

    t = compare(tmp_path, ACC, copy).table
    assert not t["paired"].any() and (t["diff"] == 0).all()
    hw = np.hypot((t["ci_high"] - t["ci_low"]) / 2, (t["ref_ci_high"] - t["ref_ci_low"]) / 2)
    assert np.allclose(t["diff_high"], hw)  # the two CIs as independent


@pytest.mark.parametrize(("ref_params", "matched"), [(1_050_000, True), (1_200_000, False)])
def test_sizes_match_within_ten_percent(tmp_path, ref_params, matched):
    a = compare(tmp_path, {(fmt, ref_params): acc for (fmt, _), acc in ACC.items()})
    assert (a.skipped is None) == matched
    if not matched:
        assert a.skipped.startswith("no arm of this study matches one in")


def test_a_benchmark_judged_in_one_run_only_is_compared_on_the_rule_scorer(tmp_path):
    def judged(ref: Path) -> Path:  # this study's panel scored every answer 10 points lower
        mine = tmp_path / "mine"
        df = pd.read_parquet(mine / "results.parquet")
        df["judge_accuracy"], df["judge_ci_low"] = df["accuracy"] - 0.1, df["ci_low"] - 0.1
        df["judge_ci_high"] = df["ci_high"] - 0.1
        df.to_parquet(mine / "results.parquet", index=False)
        return ref

    a = compare(tmp_path, ACC, judged)
    assert (a.table["metric"] == "rule").all() and (a.table["diff"] == 0).all()
