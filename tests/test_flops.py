"""Appendix C FLOPs: hand-computed Eqs. (1)-(6), the closed form of Eq. (6), the `ponder flops`
CLI contract, and the `exact` method against torch's FlopCounterMode on a tiny Qwen2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _cli import run_cli
from ponder import flops as F
from ponder.errors import PonderError

# V=10, d_model=4, d_ff=8, h=2, N_l=3: small enough to expand Eqs. (1)-(6) by hand.
TOY = F.ModelDims(
    vocab_size=10,
    hidden_size=4,
    intermediate_size=8,
    num_attention_heads=2,
    num_hidden_layers=3,
    num_key_value_heads=1,
    head_dim=2,
    name="toy",
)

# Eq. (1), l=5: embeddings 2*5*10*4 = 400; attention per layer 6*5*16 + 2*25*4 + 3*25*2 + 2*25*4
# + 2*5*16 = 1190, x3 = 3570; feed-forward 4*5*4*8*3 = 1920; logits 400.  Total 6290.
# Eq. (4), l_p=5: same but logits 2*4*10 = 80 -> 5970.  Eq. (5) at context L: 80 + (96 + 8L + 6L
# + 8L + 32)*3 = 464 + 66L, so Eq. (6) with l_g=2 adds (464+66*6) + (464+66*7) = 860 + 926.
HAND = [
    # (quantity, call, expected)
    ("Eq.1 forward l=5", lambda: F.forward_flops(TOY, 5), 6290),
    # l=1: 80 + (96 + 8 + 6 + 8 + 32)*3 + 4*4*8*3 + 80 = 994.
    ("Eq.1 forward l=1", lambda: F.forward_flops(TOY, 1), 994),
    ("Eq.3 train 2 x l=5", lambda: F.train_flops(TOY, [5, 5]), 3 * 6290 * 2),
    ("Eq.3 train l=5 and l=1", lambda: F.train_flops(TOY, [5, 1]), 3 * (6290 + 994)),
    ("Eq.6 infer l_p=5 l_g=2", lambda: F.infer_flops(TOY, 5, 2), 5970 + 860 + 926),
    ("Eq.6 infer l_p=5 l_g=0", lambda: F.infer_flops(TOY, 5, 0), 5970),
    # exact, l=5: attention proj 2*5*4*(2*4 + 2*2)*3 = 1440; scores 4*25*4*3 = 1200; softmax 450;
    # SwiGLU 6*5*4*8*3 = 2880; lm head 400; embedding lookup 0.  Total 6370.
    ("exact forward l=5", lambda: F.forward_flops(TOY, 5, "exact"), 1440 + 1200 + 450 + 2880 + 400),
    # exact infer l_p=5 l_g=2: prefill 1440+1200+450+2880+80 = 6050; one cached step at L=6:
    # proj 2*4*12*3 = 288, scores 4*6*4*3 = 288, softmax 3*6*2*3 = 108, SwiGLU 576, lm head 80.
    ("exact infer l_p=5 l_g=2", lambda: F.infer_flops(TOY, 5, 2, "exact"), 6050 + 1340),
]


@pytest.mark.parametrize("name,call,expected", HAND, ids=[h[0] for h in HAND])
def test_hand_computed_appendix_c(name, call, expected):
    assert call() == pytest.approx(expected, rel=1e-12)


# Real model: Qwen2.5-7B (V=152064, d=3584, d_ff=18944, h=28, N_l=28), the paper's formula typed
# out independently of flops.py.
def _eq1(V, d, ff, h, n, ln):
    attn = 6 * ln * d**2 + 2 * ln**2 * d + 3 * ln**2 * h + 2 * ln**2 * d + 2 * ln * d**2
    return 2 * ln * V * d + attn * n + 4 * ln * d * ff * n + 2 * ln * d * V


@pytest.mark.parametrize("seq_len", [1, 512, 4096, 16384])
def test_qwen7b_eq1_matches_typed_formula(seq_len):
    dims = F.resolve_model("qwen2.5-7b")
    assert F.forward_flops(dims, seq_len) == pytest.approx(
        _eq1(152064, 3584, 18944, 28, 28, seq_len), rel=1e-12
    )


def _paper_step(dims: F.ModelDims, ctx: int) -> float:  # Eq. (5) at context ctx
    d, n, h = dims.hidden_size, dims.num_hidden_layers, dims.num_attention_heads
    return 2 * d * dims.vocab_size + (6 * d**2 + 4 * ctx * d + 3 * ctx * h + 2 * d**2) * n


def _exact_step(dims: F.ModelDims, ctx: int) -> float:  # one cached token attending to ctx keys
    d, n, h = dims.hidden_size, dims.num_hidden_layers, dims.num_attention_heads
    qw, kvw = h * dims.head_dim, dims.num_key_value_heads * dims.head_dim
    layer = 2 * d * (2 * qw + 2 * kvw) + 4 * ctx * qw + 3 * ctx * h + 6 * d * dims.intermediate_size
    return layer * n + 2 * d * dims.vocab_size


@pytest.mark.parametrize("model", ["qwen2.5-0.5b", "qwen2.5-14b", "gemma-3-4b"])
@pytest.mark.parametrize("lp,lg", [(1, 1), (37, 1), (120, 999), (3000, 16384)])
def test_eq6_closed_form_equals_literal_sum(model, lp, lg):
    dims = F.resolve_model(model)
    paper = F.infer_breakdown(dims, lp, lg)["prefill"] + sum(
        _paper_step(dims, lp + i) for i in range(1, lg + 1)
    )
    exact = F.infer_breakdown(dims, lp, lg, "exact")["prefill"] + sum(
        _exact_step(dims, lp + j) for j in range(1, lg)
    )
    assert F.infer_flops(dims, lp, lg) == pytest.approx(paper, rel=1e-12)
    assert F.infer_flops(dims, lp, lg, "exact") == pytest.approx(exact, rel=1e-12)


def test_vectorised_over_arrays_equals_elementwise():
    dims = F.resolve_model("qwen2.5-1.5b")
    lp, lg = np.array([10, 200, 3000]), np.array([0, 50, 16384])
    got = F.infer_flops(dims, lp, lg, "exact")
    assert isinstance(got, np.ndarray) and got.shape == (3,)
    assert got == pytest.approx(
        [F.infer_flops(dims, a, b, "exact") for a, b in zip(lp, lg, strict=True)]
    )
    lens = np.array([100, 2000, 9000])
    a, b = F.forward_coefficients(dims)
    assert F.train_flops(dims, lens) == pytest.approx(3 * (a * lens.sum() + b * (lens**2).sum()))


# Published sizes (model cards): the dims table reproduces each model's parameter count.
PARAMS = [
    ("qwen2.5-0.5b", 0.49e9),
    ("qwen2.5-1.5b", 1.54e9),
    ("qwen2.5-3b", 3.09e9),
    ("qwen2.5-7b", 7.61e9),
    ("qwen2.5-14b", 14.7e9),
    ("gemma-3-1b", 1.00e9),
]


@pytest.mark.parametrize("model,published", PARAMS)
def test_builtin_dims_reproduce_published_param_counts(model, published):
    assert F.count_params(F.resolve_model(model)) == pytest.approx(published, rel=0.01)


@pytest.mark.parametrize(
    "alias,name",
    [
        ("Qwen/Qwen2.5-7B", "qwen2.5-7b"),
        ("QWEN2.5-7B", "qwen2.5-7b"),
        ("google/gemma-3-1b-pt", "gemma-3-1b"),
    ],
)
def test_builtin_models_resolve_by_hub_id_too(alias, name):
    assert F.resolve_model(alias) == F.resolve_model(name)


def test_mixture_of_experts_flops_use_active_weights_memory_uses_all():
    teacher = F.resolve_model("Qwen/Qwen3-235B-A22B")  # 22B active of 235B
    assert F.count_params(teacher) == pytest.approx(22e9, rel=0.01)
    assert F.model_params_total("qwen3-235b-a22b") == 235e9


def test_config_json_paths_including_gemma3_nested_text_config(tmp_path):
    # google/gemma-3-4b-pt's config.json nests the text model and leaves heads/vocab at defaults.
    gemma = {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "text_config": {
            "hidden_size": 2560,
            "intermediate_size": 10240,
            "model_type": "gemma3_text",
            "num_hidden_layers": 34,
            "sliding_window": 1024,
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(gemma))
    from_file = F.resolve_model(str(tmp_path / "config.json"))
    from_dir = F.resolve_model(str(tmp_path))
    builtin = F.resolve_model("gemma-3-4b")
    for dims in (from_file, from_dir):
        assert (dims.vocab_size, dims.num_attention_heads, dims.head_dim) == (262208, 8, 256)
        assert F.forward_flops(dims, 1000, "exact") == F.forward_flops(builtin, 1000, "exact")


BAD = [
    # (call, words the one-line message must contain)
    (lambda tmp: F.resolve_model("qwen9-1b"), "model: 'qwen9-1b'"),
    (lambda tmp: F.resolve_model(str(tmp / "missing.json")), "missing.json"),
    (lambda tmp: F.resolve_model(str(_write(tmp, "{not json"))), "not a readable JSON"),
    (lambda tmp: F.resolve_model(str(_write(tmp, '{"hidden_size": 8}'))), "'num_attention_heads'"),
    (lambda tmp: F.forward_flops(TOY, 0), "seq_len"),
    (lambda tmp: F.train_flops(TOY, [5, -1]), "seq_lens"),
    (lambda tmp: F.infer_flops(TOY, 0, 5), "prompt_tokens"),
    (lambda tmp: F.infer_flops(TOY, 5, -2), "gen_tokens"),
    (lambda tmp: F.forward_flops(TOY, 5, "chinchilla"), "method"),
]


def _write(tmp, text):
    path = tmp / "config.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize("call,words", BAD)
def test_bad_input_is_one_line_ponder_error(tmp_path, call, words):
    with pytest.raises(PonderError) as info:
        call(tmp_path)
    assert words in str(info.value) and "\n" not in str(info.value)


def _cli(monkeypatch, capsys, *args):
    return run_cli(monkeypatch, capsys, "flops_cmd", "flops", *args)


CLI = [
    (
        ["forward", "--model", "qwen2.5-7b", "--seq-len", "4096"],
        _eq1(152064, 3584, 18944, 28, 28, 4096),
    ),
    (
        ["train", "--model", "qwen2.5-7b", "--seq-len", "4096", "--samples", "10"],
        30 * _eq1(152064, 3584, 18944, 28, 28, 4096),
    ),
    (
        ["infer", "--model", "qwen2.5-0.5b", "--prompt-tokens", "300", "--gen-tokens", "2000"],
        F.infer_flops(F.resolve_model("qwen2.5-0.5b"), 300, 2000),
    ),
    (
        [
            "infer",
            "--model",
            "qwen2.5-0.5b",
            "--prompt-tokens",
            "300",
            "--gen-tokens",
            "2000",
            "--method",
            "exact",
        ],
        F.infer_flops(F.resolve_model("qwen2.5-0.5b"), 300, 2000, "exact"),
    ),
]


@pytest.mark.parametrize("args,expected", CLI)
def test_cli_json_contract(monkeypatch, capsys, args, expected):
    code, out, _ = _cli(monkeypatch, capsys, *args, "--json")
    record = json.loads(out)
    assert code == 0 and record["flops"] == pytest.approx(expected, rel=1e-12)
    assert sum(record["breakdown"].values()) == pytest.approx(record["flops"], rel=1e-12)


def test_cli_table_without_json(monkeypatch, capsys):
    code, out, _ = _cli(monkeypatch, capsys, "forward", "--model", "gemma-3-1b", "--seq-len", "8")
    assert code == 0 and "total" in out and "gemma-3-1b" in out


@pytest.mark.parametrize(
    "args,words",
    [
        (["forward", "--model", "nope", "--seq-len", "8"], "model: 'nope'"),
        (["forward", "--model", "/no/such/config.json", "--seq-len", "8"], "config.json"),
        (["forward", "--model", "qwen2.5-3b", "--seq-len", "0"], "--seq-len"),
        (["train", "--model", "qwen2.5-3b", "--seq-len", "8", "--samples", "-1"], "--samples"),
        (
            ["infer", "--model", "qwen2.5-3b", "--prompt-tokens", "8", "--gen-tokens", "0"],
            "--gen-tokens",
        ),
        (["forward", "--model", "qwen2.5-3b", "--seq-len", "8", "--method", "x"], "--method"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(monkeypatch, capsys, args, words):
    code, out, err = _cli(monkeypatch, capsys, *args)
    # rich's stderr console wraps at the terminal width, so the one line is read unwrapped.
    assert code == 2 and out == "" and err.startswith("error:")
    assert words in err.replace("\n", "")


# `exact` against torch.utils.flop_counter.FlopCounterMode. The counter counts matmuls only
# (mm/addmm/bmm, 2 FLOPs per multiply-add; addmm's bias add is not counted), so we compare it with
# `exact` minus its one non-matmul term, the softmax (3 l^2 h per layer). Eager attention makes
# QK^T and AV explicit matmuls (dense l x l, as `exact` counts them); the embedding is a lookup
# and absent from both. Backward runs 2 matmuls per forward matmul, hence training = 3 x forward.
TINY = dict(
    vocab_size=97,
    hidden_size=48,
    intermediate_size=80,
    num_attention_heads=6,
    num_key_value_heads=2,
    num_hidden_layers=2,
)


@pytest.fixture(scope="module")
def tiny_qwen2():
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(**TINY, tie_word_embeddings=True, attn_implementation="eager")
    return Qwen2ForCausalLM(cfg).eval(), F.ModelDims.from_hf_config(cfg)


def _counted(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _softmax(dims, contexts) -> float:  # rows of length `ctx` per head per layer
    return sum(3 * ctx * dims.num_attention_heads * dims.num_hidden_layers for ctx in contexts)


@pytest.mark.parametrize("seq_len", [1, 17, 64])
def test_exact_forward_and_train_match_flop_counter(tiny_qwen2, seq_len):
    import torch

    model, dims = tiny_qwen2
    ids = torch.randint(0, TINY["vocab_size"], (1, seq_len))
    matmul = F.forward_flops(dims, seq_len, "exact") - _softmax(dims, [seq_len] * seq_len)
    with torch.no_grad():
        assert _counted(lambda: model(ids)) == matmul
    assert _counted(lambda: model(ids, labels=ids).loss.backward()) == 3 * matmul
    assert (
        F.train_flops(dims, [seq_len], "exact") - 3 * _softmax(dims, [seq_len] * seq_len)
        == 3 * matmul
    )


@pytest.mark.parametrize("lp,lg", [(5, 1), (5, 7), (23, 12)])
def test_exact_generation_matches_flop_counter(tiny_qwen2, lp, lg):
    import torch

    model, dims = tiny_qwen2
    ids = torch.randint(0, TINY["vocab_size"], (1, lp))
    # HF generate: the prefill computes logits for the last position only, then lg-1 cached steps.
    counted = _counted(
        lambda: model.generate(
            ids, max_new_tokens=lg, min_new_tokens=lg, do_sample=False, pad_token_id=0
        )
    )
    contexts = [lp] * lp + [lp + j for j in range(1, lg)]
    assert counted == F.infer_flops(dims, lp, lg, "exact") - _softmax(dims, contexts)
