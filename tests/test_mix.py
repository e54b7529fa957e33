"""Reasoning-ratio mixes (§2.2): nested subsets, exact counts, schedules, truncation."""

from __future__ import annotations

import pytest

from _train_world import make_pairs
from ponder.errors import PonderError
from ponder.train.mix import build_mix, examples_from_frame, mix_format, mix_frame, reasoning_subset

PAIRS = make_pairs(1000)


@pytest.mark.parametrize(
    ("ratio", "n_reasoning"),
    [(0.0, 0), (0.25, 250), (0.5, 500), (0.75, 750), (1.0, 1000), (0.333, 333)],
)
def test_exact_counts_per_ratio(ratio, n_reasoning):
    examples, stats = build_mix(PAIRS, ratio, "sequential", seed=0)
    assert stats["n_reasoning"] == n_reasoning
    assert stats["n_ift"] == 1000 - n_reasoning
    assert sum(e["style"] == "reasoning" for e in examples) == n_reasoning
    assert len(examples) == stats["n"] == 1000


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_subsets_are_nested_across_ratios(seed):
    ids = PAIRS["id"].tolist()
    subsets = [reasoning_subset(ids, r, seed) for r in (0.0, 0.25, 0.5, 0.75, 1.0)]
    for small, big in zip(subsets, subsets[1:], strict=False):
        assert small < big
    assert subsets[-1] == set(ids)


def test_seed_fixes_the_subset_and_row_order_does_not():
    ids = PAIRS["id"].tolist()
    assert reasoning_subset(ids, 0.5, 0) == reasoning_subset(ids[::-1], 0.5, 0)
    assert reasoning_subset(ids, 0.5, 0) != reasoning_subset(ids, 0.5, 1)


def test_each_prompt_contributes_exactly_one_answer_of_its_style():
    examples, _ = build_mix(PAIRS, 0.5, "mixed", seed=3)
    by_id = PAIRS.set_index("id")
    assert sorted(e["id"] for e in examples) == sorted(PAIRS["id"])
    for e in examples:
        assert e["completion"] == by_id.loc[e["id"], e["style"]]
        assert e["prompt"] == by_id.loc[e["id"], "prompt"]


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_sequential_puts_all_ift_before_all_reasoning(ratio):
    examples, stats = build_mix(PAIRS, ratio, "sequential", seed=0)
    styles = [e["style"] for e in examples]
    n_ift = stats["n_ift"]
    assert styles == ["ift"] * n_ift + ["reasoning"] * (len(styles) - n_ift)
    # each block is shuffled, not left in file order
    assert [e["id"] for e in examples[:n_ift]] != sorted(e["id"] for e in examples[:n_ift])


def test_mixed_interleaves_styles_and_is_reproducible():
    a, _ = build_mix(PAIRS, 0.5, "mixed", seed=0)
    b, _ = build_mix(PAIRS, 0.5, "mixed", seed=0)
    assert a == b
    first_half = [e["style"] for e in a[:500]]
    assert 200 < first_half.count("reasoning") < 300


@pytest.mark.parametrize(
    ("ratio", "drop", "n", "dropped", "kept_truncated"),
    [
        (1.0, True, 997, 3, 0),  # the three truncated traces are in the mix and dropped
        (1.0, False, 1000, 0, 3),  # or kept as the teacher wrote them
        (0.0, True, 1000, 0, 0),  # IFT answers of those prompts are fine
    ],
)
def test_truncated_teacher_answers(ratio, drop, n, dropped, kept_truncated):
    pairs = make_pairs(1000, truncated=("q00001", "q00002", "q00003"))
    examples, stats = build_mix(pairs, ratio, "sequential", seed=0, drop_truncated=drop)
    assert (stats["n"], stats["dropped_truncated"], stats["kept_truncated"]) == (
        n,
        dropped,
        kept_truncated,
    )
    assert len(examples) == n


def test_unclosed_think_counts_as_truncated_without_flags():
    pairs = make_pairs(10).drop(columns=["reasoning_finish"])
    pairs.loc[0, "reasoning"] = "<think> 1+2=3 ; 3*4="
    _, stats = build_mix(pairs, 1.0, "mixed", seed=0)
    assert stats["dropped_truncated"] == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.drop(columns=["reasoning"]), "missing column(s) reasoning"),
        (lambda p: p.assign(id="same"), "duplicate id 'same'"),
        (lambda p: p.assign(ift=None), "empty 'ift'"),
    ],
)
def test_bad_pairs_name_the_problem(mutate, message):
    with pytest.raises(PonderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_mix(mutate(make_pairs(5)), 0.5, "mixed", seed=0)


@pytest.mark.parametrize(
    ("ratio", "schedule", "message"),
    [(1.5, "mixed", "ratio: 1.5"), (0.5, "interleaved", "schedule: 'interleaved'")],
)
def test_bad_arguments(ratio, schedule, message):
    with pytest.raises(PonderError, match=message):
        build_mix(PAIRS, ratio, schedule, seed=0)


@pytest.mark.parametrize(("ratio", "fmt"), [(0.0, "ift"), (0.25, "reasoning"), (1.0, "reasoning")])
def test_mix_format_for_the_lr_table(ratio, fmt):
    assert mix_format(ratio) == fmt


def test_frame_round_trip_keeps_training_order():
    examples, _ = build_mix(PAIRS, 0.5, "sequential", seed=0)
    frame = mix_frame(examples).sample(frac=1.0, random_state=0)
    assert examples_from_frame(frame) == examples


@pytest.mark.parametrize(("ratio", "n", "dropped_failed"), [(0.0, 997, 3), (1.0, 1000, 0)])
def test_answers_the_teacher_rejected_are_never_trained(ratio, n, dropped_failed):
    pairs = PAIRS.copy()
    pairs["ift_error"] = None
    pairs.loc[[5, 50, 500], "ift_error"] = "400: prompt longer than the context"
    pairs.loc[[5, 50, 500], "ift"] = ""
    examples, stats = build_mix(pairs, ratio, "mixed", seed=0)
    assert len(examples) == stats["n"] == n and stats["dropped_failed"] == dropped_failed
    assert all(e["completion"] for e in examples)
