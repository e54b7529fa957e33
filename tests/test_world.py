"""The tiny world: seeded, correct, disjoint, in the paper's 2×2 taxonomy."""

import pytest

from ponder.lm.base import GenRequest
from ponder.lm.scripted import ScriptedTeacher
from ponder.tiny import solver, world


@pytest.mark.parametrize("family", world.FAMILIES)
def test_test_items_are_deterministic_by_seed(family):
    assert world.test_items(family, 50, seed=3) == world.test_items(family, 50, seed=3)
    assert world.test_items(family, 50, seed=3) != world.test_items(family, 50, seed=4)


@pytest.mark.parametrize("family", world.FAMILIES)
def test_gold_is_what_a_solver_computes(family):
    for it in world.test_items(family, 200):
        assert solver.solve(it["prompt"]).answer == it["gold"]
        if family.endswith("mc"):
            assert it["gold"] in "ABCD" and len(it["options"]) == 4
            assert len(set(it["options"])) == 4


@pytest.mark.parametrize(
    "question, gold",
    [
        ("Compute (3+4)*5-2.", "33"),
        ("Compute (9+9)*9-1.", "161"),
        ("Compute (1+1)*1-9.", "-7"),
        ("Which of these is even? A) 1+2 B) 3*3 C) 2*5 D) 5+6", "C"),
        ("Which of these is odd? A) 3+1 B) 2*2 C) 3+6 D) 6+6", "C"),
        ("Which of these is an animal? A) car B) tea C) wolf D) saw", "C"),
        ("Which of these is a fruit? A) kiwi B) bus C) rake D) soda", "A"),
        ("Tom from Rome asks: what colour is the banana?", "yellow"),
        ("Tell Uma from Oslo the colour of the plum.", "purple"),
        ("Ben asks: work out (6+6)*6-1.", "71"),
    ],
)
def test_solver_on_hand_written_questions(question, gold):
    assert solver.solve(f"Instruction.\n{question}").answer == gold


def test_prompts_follow_table4_style():
    for fam in world.FAMILIES:
        p = world.test_items(fam, 1)[0]["prompt"]
        assert "put the answer (and only answer) inside \\boxed{}." in p


def test_train_and_test_problems_are_disjoint():
    train = world.train_prompts("general", 4000, seed=0, n_test=200)
    for fam in world.FAMILIES:
        test = world.test_items(fam, 200, seed=0)
        test_q = {t["question"] for t in test}
        train_q = {t["question"] for t in train if t["family"] == fam}
        assert not (test_q & train_q)
    # math-oe problems are disjoint by their numbers, not just their wording
    test_nums = {
        tuple(c for c in t["question"] if c.isdigit()) for t in world.test_items("math-oe", 200)
    }
    train_nums = {
        tuple(c for c in t["question"] if c.isdigit()) for t in train if t["family"] == "math-oe"
    }
    assert not (test_nums & train_nums)


def test_domains_cover_their_families_with_weights():
    general = world.train_prompts("general", 1000, weights={"math-oe": 2.0})
    counts = {f: sum(t["family"] == f for t in general) for f in world.FAMILIES}
    assert counts == {"general-mc": 200, "general-oe": 200, "math-mc": 200, "math-oe": 400}
    math = world.train_prompts("math", 300)
    assert {t["family"] for t in math} == {"math-mc", "math-oe"}


def test_scripted_teacher_answers_both_ways_correctly():
    items = world.test_items("math-oe", 20)
    teacher = ScriptedTeacher()
    for thinking in (False, True):
        reqs = [
            GenRequest([{"role": "user", "content": it["prompt"]}], thinking=thinking)
            for it in items
        ]
        for it, out in zip(items, teacher.generate(reqs), strict=True):
            assert out.text.endswith(f"\\boxed{{{it['gold']}}}")
            assert out.finish_reason == "stop"
            if thinking:
                assert out.text.startswith("<think>") and "</think>" in out.text
                assert out.reasoning and out.reasoning.count("=") == 3


def test_scripted_teacher_truncates_like_a_server():
    it = world.test_items("math-oe", 1)[0]
    out = ScriptedTeacher().generate(
        [GenRequest([{"role": "user", "content": it["prompt"]}], thinking=True, max_tokens=5)]
    )[0]
    assert out.finish_reason == "length" and out.completion_tokens == 5
    assert "</think>" not in out.text


@pytest.mark.parametrize("family", world.FAMILIES)
def test_capacity_bounds_what_the_world_can_draw(family):
    cap = world.capacity(family, 200)
    assert cap is not None and cap > 1000
    # the key space is real: drawing 1,000 distinct items succeeds
    assert len(world.draw_items(family, 1000, 0, set(), "probe")) == 1000


def test_math_reasoning_is_at_least_three_times_the_ift_answer():
    """The effect the tiny study measures needs a trace worth writing: ≥3x the answer's length."""
    for it in world.test_items("math-oe", 50):
        sol = solver.solve(it["prompt"])
        assert len(solver.reasoning_answer(sol)) >= 3 * len(solver.ift_answer(sol))


def test_negative_control_trace_states_no_fact():
    """general-oe's trace never names the asked thing or its colour: no copy path IFT lacks."""
    for it in world.test_items("general-oe", 50):
        trace = " ".join(solver.solve(it["prompt"]).steps)
        assert it["gold"] not in trace and not any(w in trace for w in world.COLOURS)
