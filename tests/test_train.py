"""Training (Appendix B): token batches, WSD, LR table, answer-only loss, packing isolation,
accumulation equivalence, resume and bi-phasic chaining — on a tiny Qwen2 student on CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _train_world import make_pairs, make_student
from ponder.config import TrainConfig
from ponder.errors import PonderError
from ponder.train import loop as T
from ponder.train import runtime
from ponder.train.batching import IGNORE, Encoded, collate, encode, plan_steps
from ponder.train.mix import build_mix
from ponder.train.schedule import default_lr, wsd_factor, wsd_phases

PAIRS = make_pairs(160)
CFG = TrainConfig(
    global_batch_tokens=1024,
    micro_batch_size=64,
    max_seq_len=128,
    warmup_steps=3,
    decay_steps=6,
    threads=1,
    max_grad_norm=1.0,
)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return make_student(tmp_path_factory.mktemp("student"), PAIRS)


@pytest.fixture(scope="module")
def tokenizer(student):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(student)


def _enc(lengths, prompt=3):
    lengths = np.asarray(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ids = np.arange(lengths.sum(), dtype=np.int32) % 50 + 5
    return Encoded(ids, starts, lengths, np.full(len(lengths), prompt))


# ------------------------------------------------------------------ token-batch arithmetic
@pytest.mark.parametrize(
    ("lengths", "global_tokens", "micro", "world", "steps", "micro_per_step"),
    [
        ([10] * 100, 100, 4, 1, 10, 3),  # 10 examples/step, 4 rows/forward -> 3 forwards
        ([10] * 100, 100, 10, 1, 10, 1),
        ([10] * 100, 100, 2, 2, 10, 6),  # 5 forwards rounded up to a multiple of 2 ranks
        ([10] * 100, 1000, 100, 1, 1, 1),  # the whole epoch in one step
        ([30, 10] * 50, 200, 64, 1, 10, 1),  # skewed lengths: 200 tokens a step
    ],
)
def test_steps_follow_from_tokens_micro_batch_and_world(
    lengths, global_tokens, micro, world, steps, micro_per_step
):
    plan = plan_steps(_enc(lengths), global_tokens, micro, world_size=world)
    assert len(plan) == steps
    assert {len(s.micro) for s in plan} == {micro_per_step}
    assert all(s.tokens <= global_tokens for s in plan)
    # one epoch: every example exactly once, steps in training order
    assert [i for s in plan for i in sorted(s.examples)] == list(range(len(lengths)))


def test_a_rank_with_nothing_to_do_in_a_step_gets_an_unlabelled_row():
    # 3 windows over 2 ranks with one window per forward: 4 forwards, one of them empty
    plan = plan_steps(_enc([100] * 3), 3 * 128, 1, world_size=2, packing=True, window=128)
    assert [len(m) for m in plan[0].micro] == [1, 1, 0, 1]  # rank 1 gets [] in its 2nd forward
    empty = collate(_enc([100] * 3), [], pad_id=0, pad_to=128)
    assert empty["input_ids"].shape == (1, 128) and (empty["labels"] == IGNORE).all()


@pytest.mark.parametrize("window", [256, 512])
def test_packing_fills_fixed_windows_in_order(window):
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(20, 28, 300), rng.integers(40, 60, 300)])  # IFT, then R
    plan = plan_steps(_enc(lengths), 8 * window, 4, packing=True, window=window)
    rows = [r for s in plan for m in s.micro for r in m]
    assert all(sum(lengths[r]) <= window for r in rows)
    assert all(sum(len(m) for m in s.micro) <= 8 for s in plan)  # K = 8 windows per step
    assert sorted(i for s in plan for i in s.examples) == list(range(600))
    fill = lengths.sum() / (len(rows) * window)
    assert fill > 0.95
    # examples move by a few steps at most (2 steps of look-ahead): IFT and reasoning blocks
    # stay apart
    step_of = {i: k for k, s in enumerate(plan) for i in s.examples}
    in_order = np.cumsum(lengths) // (8 * window)
    assert max(abs(step_of[i] - in_order[i]) for i in range(600)) <= 3


# ------------------------------------------------------------------ WSD and learning rates
@pytest.mark.parametrize(
    ("total", "phases"),
    [
        (1000, (150, 550, 300)),
        (450, (150, 0, 300)),
        (90, (30, 0, 60)),
        (3, (1, 0, 2)),
        (1, (0, 0, 1)),
    ],
)
def test_wsd_phases_scale_proportionally_for_short_runs(total, phases):
    assert wsd_phases(total, 150, 300) == phases


def test_wsd_shape():
    phases = (150, 550, 300)
    f = [wsd_factor(k, phases, 0.1) for k in range(1000)]
    assert f[0] == pytest.approx(1 / 150) and f[149] == 1.0  # linear warm-up from 0
    assert set(f[150:700]) == {1.0}  # plateau
    assert f[-1] == pytest.approx(0.1)  # decays to 10% of peak
    assert np.all(np.diff(f[700:]) < 0) and np.allclose(np.diff(f[700:]), -0.9 / 300)


@pytest.mark.parametrize(
    ("params", "fmt", "student_lr", "cfg_lr", "lr"),
    [
        (494_000_000, "reasoning", {}, None, 2e-5),  # Table 1
        (494_000_000, "ift", {}, None, 1e-5),
        (7_600_000_000, "ift", {}, None, 3e-6),
        (14_800_000_000, "reasoning", {}, None, 3e-6),
        (2_000_000_000, "reasoning", {}, None, 1e-5),  # nearest size: 1.5B
        (2_000_000, "ift", {}, None, 1e-5),  # far below the table: the 0.5B row
        (2_000_000, "ift", {}, 5e-4, 5e-4),  # train.lr beats the table
        (2_000_000, "ift", {"ift": 3e-3}, 5e-4, 3e-3),  # the student's own LR beats both
        (2_000_000, "reasoning", {"ift": 3e-3}, None, 2e-5),  # ...for its format only
    ],
)
def test_default_lr(params, fmt, student_lr, cfg_lr, lr):
    assert default_lr(params, fmt, student_lr, cfg_lr) == pytest.approx(lr)


def test_default_lr_rejects_an_unknown_format():
    with pytest.raises(PonderError, match="format: 'cot'"):
        default_lr(1000, "cot", {}, None)


# ------------------------------------------------------------------ answer-only loss
def test_labels_cover_exactly_the_assistant_turn(tokenizer):
    examples, _ = build_mix(PAIRS.head(4), 0.5, "mixed", seed=0)
    enc = encode(tokenizer, examples, 128)
    batch = collate(enc, [[i] for i in range(4)], tokenizer.pad_token_id)
    for b, ex in enumerate(examples):
        labelled = batch["labels"][b][batch["labels"][b] != IGNORE].tolist()
        assert tokenizer.decode(labelled) == ex["completion"] + "<|im_end|>\n"
    reasoning = [b for b, e in enumerate(examples) if e["style"] == "reasoning"]
    assert "<think>" in tokenizer.decode(
        batch["labels"][reasoning[0]][batch["labels"][reasoning[0]] != IGNORE]
    )


def test_answer_tokens_change_the_loss_prompt_tokens_do_not(student, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(student)
    examples, _ = build_mix(PAIRS.head(2), 1.0, "mixed", seed=0)
    enc = encode(tokenizer, examples, 128)
    base = collate(enc, [[0, 1]], tokenizer.pad_token_id)

    def loss_with_label_changed(pos):
        ids = enc.ids.copy()
        ids[pos] = (ids[pos] + 1) % len(tokenizer)
        labels = collate(Encoded(ids, enc.starts, enc.lengths, enc.n_prompt), [[0, 1]], 0)["labels"]
        with torch.no_grad():
            return model(**{**base, "labels": labels}, use_cache=False).loss.item()

    ref = loss_with_label_changed(slice(0, 0))
    assert loss_with_label_changed(int(enc.n_prompt[0]) - 1) == ref  # last prompt token
    assert loss_with_label_changed(int(enc.n_prompt[0]) + 2) != pytest.approx(
        ref
    )  # an answer token


# ------------------------------------------------------------------ packing isolation
def test_packed_examples_do_not_attend_to_each_other(student, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(student).eval()
    examples, _ = build_mix(PAIRS.head(3), 1.0, "mixed", seed=0)
    enc = encode(tokenizer, examples, 128)
    n0, n1 = (int(x) for x in enc.lengths[:2])
    packed = collate(enc, [[0, 1, 2]], tokenizer.pad_token_id, pad_to=256)
    perturbed = {k: v.clone() for k, v in packed.items()}
    perturbed["input_ids"][0, : n0 - 1] = tokenizer.pad_token_id  # rewrite example 0

    def logits(batch):
        with torch.no_grad():
            kw = {k: batch[k] for k in ("input_ids", "position_ids")}
            return model(**kw, use_cache=False).logits[0]

    a, b = logits(packed), logits(perturbed)
    assert not torch.allclose(a[: n0 - 1], b[: n0 - 1])  # the perturbation is visible...
    torch.testing.assert_close(a[n0:], b[n0:], atol=1e-5, rtol=0)  # ...only inside example 0
    alone = collate(enc, [[1]], tokenizer.pad_token_id)
    with torch.no_grad():
        ref = model(input_ids=alone["input_ids"], use_cache=False).logits[0]
    torch.testing.assert_close(a[n0 : n0 + n1], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "attention, packing, expected",
    [
        ("auto", True, "sdpa"),  # no GPU here: never flash_attention_2
        ("sdpa", True, "sdpa"),
        ("eager", False, "eager"),
        ("flex_attention", True, "train.attention: flex_attention has no CPU backward"),
    ],
)
def test_attention_kernel_choice_on_cpu(attention, packing, expected):
    cfg = TrainConfig(attention=attention, packing=packing)
    if expected.startswith("train."):
        with pytest.raises(PonderError, match=expected):
            runtime.attention_kernel(cfg)
    else:
        assert runtime.attention_kernel(cfg) == expected


def test_packing_refuses_a_transformers_without_packed_sequence_detection(monkeypatch):
    import transformers.masking_utils as masking

    monkeypatch.delattr(masking, "find_packed_sequence_indices")  # what transformers < 4.54 lacks
    with pytest.raises(PonderError, match="train.packing: .*transformers>=4.54"):
        runtime.attention_kernel(TrainConfig(packing=True))
    # padded rows need no detection
    assert runtime.attention_kernel(TrainConfig(packing=False)) == "sdpa"


# ------------------------------------------------------------------ training runs
def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def _weights(out):
    from safetensors.torch import load_file

    return load_file(out / "model.safetensors")


@pytest.fixture(scope="module")
def examples():
    return build_mix(PAIRS, 0.5, "sequential", seed=0)[0]


@pytest.fixture(scope="module")
def reference(student, examples, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    summary = T.train_phase(student, examples, out, CFG, lr=3e-3, seed=0, progress=False)
    return out, summary


def test_summary_and_ledger(reference):
    out, s = reference
    assert s["steps"] == len(_log(out)) > 9  # more steps than warm-up + decay: a plateau
    assert s["examples"] == 160 and s["tokens"] > s["answer_tokens"] > 0
    assert s["train_flops"] > 0 and s["train_flops_exact"] > 0
    assert np.load(out / "seq_lens.npy").sum() == s["tokens"]
    assert 0.5 < s["packing_efficiency"] <= 1.0
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    log = _log(out)
    assert log[-1]["loss"] < log[0]["loss"]
    assert log[-1]["lr"] == pytest.approx(3e-4)  # 10% of the peak
    assert s["attention"] == "sdpa"
    # steady-state speed: the steps after the first T.WARM, timed by train_log's clock
    span = log[-1]["elapsed_s"] - log[T.WARM - 1]["elapsed_s"]
    steady = sum(r["tokens"] for r in log[T.WARM :]) / span
    assert s["steady_tokens_per_s"] == pytest.approx(steady, rel=0.01)


@pytest.mark.parametrize("update", [{"micro_batch_size": 4}, {"packing": True, "max_seq_len": 256}])
def test_micro_batching_is_equivalent_to_accumulation(
    student, examples, reference, tmp_path, update
):
    ref_out, ref = reference
    cfg = CFG.model_copy(update=update)
    s = T.train_phase(student, examples, tmp_path / "run", cfg, lr=3e-3, seed=0, progress=False)
    if "packing" in update:  # same tokens, different step grouping: only the ledger matches
        assert (s["tokens"], s["train_flops"]) == (ref["tokens"], ref["train_flops"])
        assert s["packing_efficiency"] > 0.9
        return
    assert s["micro_batches_per_step"] > 2  # accumulation, where the reference has 1
    np.testing.assert_allclose(
        [r["loss"] for r in _log(tmp_path / "run")], [r["loss"] for r in _log(ref_out)], rtol=1e-4
    )
    for name, w in _weights(tmp_path / "run").items():
        torch.testing.assert_close(w, _weights(ref_out)[name], atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_compiled_training_matches_eager(student, examples, tmp_path):
    # packed windows: every forward has one shape, what train.compile is for
    cfg = CFG.model_copy(update={"packing": True, "max_seq_len": 256, "max_tokens": 4000})
    runs = {}
    for compiled in (False, True):
        out = tmp_path / f"compile-{compiled}"
        c = cfg.model_copy(update={"compile": compiled})
        runs[compiled] = T.train_phase(student, examples, out, c, lr=3e-3, seed=0, progress=False)
    assert runs[True]["steps"] == runs[False]["steps"] >= 4
    losses = [[r["loss"] for r in _log(tmp_path / f"compile-{c}")] for c in (False, True)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    clock = [r["elapsed_s"] for r in _log(tmp_path / "compile-True")]
    # the loop's wall clock stops at the last step's end
    assert clock == sorted(clock) and clock[-1] == pytest.approx(runs[True]["wall_s"], abs=1e-4)


def test_tensorboard_logs_are_kept_with_the_checkpoint(student, examples, tmp_path):
    pytest.importorskip("tensorboard")  # the dev extra installs it
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = CFG.model_copy(update={"report_to": ["tensorboard"], "max_tokens": 3000})
    s = T.train_phase(student, examples, tmp_path / "run", cfg, lr=3e-3, seed=0, progress=False)
    runs = [p.parent for p in (tmp_path / "run" / "tracking").rglob("events.out.tfevents.*")]
    assert runs and not (tmp_path / "run.partial").exists()
    acc = EventAccumulator(str(runs[0]))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("loss")]
    assert len(losses) == s["steps"]
    np.testing.assert_allclose(losses, [r["loss"] for r in _log(tmp_path / "run")], rtol=1e-6)


def test_resume_after_a_kill_matches_an_uninterrupted_run(
    student, examples, reference, tmp_path, monkeypatch
):
    ref_out, _ = reference
    cfg = CFG.model_copy(update={"save_every": 4})
    real_save = runtime.save_checkpoint

    def save_then_die(acc, root, step, plan_hash, shards=None):
        real_save(acc, root, step, plan_hash, shards)
        if step == 8:
            raise KeyboardInterrupt

    monkeypatch.setattr(runtime, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        T.train_phase(student, examples, tmp_path / "run", cfg, lr=3e-3, seed=0, progress=False)
    assert not (tmp_path / "run").exists()  # nothing a later run would trust
    monkeypatch.setattr(runtime, "save_checkpoint", real_save)
    s = T.train_phase(student, examples, tmp_path / "run", cfg, lr=3e-3, seed=0, progress=False)
    assert s["resumed_from_step"] == 8
    # the same token store and the same step plan: every step holds the reference's tokens
    assert s["token_store"] == reference[1]["token_store"]
    assert [r["tokens"] for r in _log(tmp_path / "run")] == [r["tokens"] for r in _log(ref_out)]
    np.testing.assert_allclose(
        [r["loss"] for r in _log(tmp_path / "run")], [r["loss"] for r in _log(ref_out)], rtol=1e-5
    )
    for name, w in _weights(tmp_path / "run").items():
        torch.testing.assert_close(w, _weights(ref_out)[name], atol=1e-5, rtol=1e-5)
    assert not (tmp_path / "run.partial").exists()


def test_bi_phasic_chaining_starts_from_the_first_phase(student, reference, tmp_path):
    ref_out, _ = reference  # phase 1: the general mix
    phase2, _ = build_mix(make_pairs(80, seed=1), 1.0, "sequential", seed=0)
    s = T.train_phase(ref_out, phase2, tmp_path / "math", CFG, lr=1e-3, seed=0, progress=False)
    assert s["examples"] == 80
    before, after = _weights(ref_out), _weights(tmp_path / "math")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # a finished phase is returned as it is, not retrained
    again = T.train_phase(ref_out, phase2, tmp_path / "math", CFG, lr=1e-3, seed=0, progress=False)
    assert again == json.loads((tmp_path / "math" / "train_summary.json").read_text())


def test_max_tokens_caps_the_run(student, examples, tmp_path):
    cfg = CFG.model_copy(update={"max_tokens": 3000})
    s = T.train_phase(student, examples, tmp_path / "run", cfg, lr=3e-3, seed=0, progress=False)
    assert 2900 < s["tokens"] <= 3000
