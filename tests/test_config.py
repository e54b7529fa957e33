"""Study configs: typed, strict, overridable, with one-line errors naming the field or file."""

import pytest

from ponder.config import apply_override, load_study
from ponder.errors import PonderError
from ponder.pipeline.expand import expand, grid_rows
from ponder.records import model_runs


def test_builtin_tiny_study_loads_and_expands():
    cfg = load_study("tiny")
    rows = grid_rows(cfg)
    assert len(rows) == 6  # 3 sizes × {IFT, reasoning}
    assert {r["student"] for r in rows} == {"tiny-0.05m", "tiny-0.2m", "tiny-0.6m"}


@pytest.mark.parametrize(
    "override, message",
    [
        ("grid.0.ratios=[0, 1.5]", "grid.0.ratios: ratio 1.5 is outside [0, 1]"),
        ("train.lr=fast", "train.lr: Input should be a valid number"),
        ("train.bogus=1", "train.bogus: unknown key"),
        ("eval.batch_size=0", "eval.batch_size: Input should be greater than 0"),
        ("grid.0.students=[nobody]", "unknown student 'nobody'"),
        ("teacher.backend=magic", "teacher.backend: unknown backend 'magic'"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(PonderError) as e:
        load_study("tiny", [override])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nstudents: [\n  - a\n grid: ]\n")
    with pytest.raises(PonderError, match=r"bad\.yaml line \d+: malformed YAML"):
        load_study(str(p))


@pytest.mark.parametrize(
    "study, message",
    [
        ("no-such-study", "unknown built-in study 'no-such-study'"),
        ("missing.yaml", "study file not found: missing.yaml"),
    ],
)
def test_unknown_study_or_missing_file(study, message):
    with pytest.raises(PonderError, match=message):
        load_study(study)


def test_overrides_reach_nested_fields_and_list_items():
    cfg = load_study("tiny-full", ["train.lr=0.001", "grid.1.ratios=[0.25]", "eval.limit=10"])
    assert cfg.train.lr == 0.001 and cfg.grid[1].ratios == [0.25] and cfg.eval.limit == 10
    data = {"a": [{"b": 1}]}
    apply_override(data, "a.0.b=2")
    assert data == {"a": [{"b": 2}]}
    with pytest.raises(PonderError, match="expected key=value"):
        apply_override(data, "a.0.b")


def test_biphasic_arms_chain_from_the_first_phase():
    cfg = load_study(
        "tiny",
        [
            "grid=[{students: [tiny-0.05m], phases: "
            "[{domain: general, ratios: [0, 1]}, {domain: math, ratios: [0, 1]}]}]"
        ],
    )
    runs = {r.model: r for r in model_runs(cfg)}
    arms = [m for m in runs if "+" in m]
    assert len(arms) == 4  # the paper's Figure 5 arms
    arm = runs["tiny-0.05m_general-r0+math-r1_sequential"]
    assert arm.parent == "tiny-0.05m_general-r0_sequential"
    assert runs[arm.parent].parent is None
    steps = {s.id: s for s in expand(cfg)}
    assert steps[f"train:{arm.model}"].depends_on[0] == f"train:{arm.parent}"


def test_step_hashes_change_only_downstream_of_a_change():
    a = {s.id: s.hash for s in expand(load_study("tiny"))}
    b = {s.id: s.hash for s in expand(load_study("tiny", ["eval.max_new_tokens=50"]))}
    changed = {k for k in a if a[k] != b[k]}
    assert changed and all(k.startswith(("eval:", "results", "report")) for k in changed)
    c = {s.id: s.hash for s in expand(load_study("tiny", ["train.warmup_steps=10"]))}
    changed = {k for k in a if a[k] != c[k]}
    assert not any(k.startswith(("generate:", "mix:", "student:")) for k in changed)
    assert any(k.startswith("train:") for k in changed)


def test_mono_phasic_extremes_do_not_duplicate_across_schedules():
    cfg = load_study("tiny", ["grid.0.schedules=[sequential, mixed]"])
    models = [r.model for r in model_runs(cfg)]
    assert len(models) == len(set(models)) == 6


@pytest.mark.parametrize(
    "override, message",
    [
        ("world.weights.math-oe=-1", "world.weights: math-oe: weight -1.0 is outside [0, 1e6]"),
        ("eval.temperature=.nan", "eval.temperature: Input should be a finite number"),
        ("train.seed=-1", "train.seed: Input should be greater than or equal to 0"),
        ("students.0.name=a/b", "students.0.name: 'a/b' is not a plain name"),
        ("domains.general.source.path=x.jsonl", "kind 'world' reads no `path`"),
        ("grid.0.seeds=[1, 4294967296]", "grid.0.seeds.1: Input should be less than or equal"),
    ],
)
def test_out_of_range_values_name_the_field(override, message):
    with pytest.raises(PonderError) as e:
        load_study("tiny", [override])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_non_utf8_and_deeply_nested_study_files_name_the_file(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_bytes(b"name: tiny\n# caf\xe9\n")
    with pytest.raises(PonderError, match=r"study\.yaml line 2: not UTF-8 text \(byte 0xe9\)"):
        load_study(str(p))
    p.write_text("name: x\nseed: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n")  # brackets
    with pytest.raises(
        PonderError, match=r"study\.yaml line 2: malformed YAML \(nested too deeply\)"
    ):
        load_study(str(p))
    p.write_text("name: x\nseed:\n" + "- " * 2000 + "1\n")  # block sequences
    with pytest.raises(PonderError, match=r"study\.yaml: malformed YAML \(nested too deeply\)"):
        load_study(str(p))
    with pytest.raises(PonderError, match=r"--set seed: value nested too deeply"):
        load_study("tiny", ["seed=" + "[" * 500 + "]" * 500])
