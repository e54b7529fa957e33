"""Training and inference FLOPs from the paper's Appendix C (Eqs. 1-6), tied to model dimensions.

Two methods:
- `paper`: the formulas exactly as printed (Chinchilla-style, Hoffmann et al. 2022): an embedding
  "matmul" 2lVd, full-width K/V projections (6ld^2), a two-matrix feed-forward (4l d d_ff), and a
  cached decode step (Eq. 5) with neither feed-forward nor output logits.
- `exact`: the matmuls a Qwen2-style decoder really runs: the embedding is a lookup (0 FLOPs),
  K/V projections are num_key_value_heads*head_dim wide (GQA), the SwiGLU feed-forward has three
  matrices (6l d d_ff), every decode step runs the feed-forward and the lm head, and generating
  l_g tokens is one prefill plus l_g-1 cached steps. Attention scores are counted dense (l x l), as
  eager/SDPA kernels compute them; the softmax keeps the paper's 3l^2h (not a matmul).

Every function is vectorised: lengths may be ints or numpy arrays (float64 results).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from ponder.errors import PonderError
from ponder.resources import resource

Method = Literal["paper", "exact"]
METHODS: tuple[str, ...] = ("paper", "exact")


@dataclass(frozen=True)
class ModelDims:
    """The dimensions Appendix C needs (C.1 notation in comments), plus GQA widths for `exact`."""

    vocab_size: int  # V
    hidden_size: int  # d_model
    intermediate_size: int  # d_ff
    num_attention_heads: int  # h
    num_hidden_layers: int  # N_l
    num_key_value_heads: int
    head_dim: int
    tie_word_embeddings: bool = False
    name: str = ""

    @classmethod
    def from_hf_config(cls, cfg: Any, name: str = "") -> ModelDims:
        """From a config.json dict or a `transformers.PretrainedConfig` (Gemma-3 nests under
        `text_config`; transformers fills the fields a published config.json leaves at default)."""
        from transformers import CONFIG_MAPPING, PretrainedConfig

        top = cfg
        if isinstance(cfg, dict) and cfg.get("model_type") in CONFIG_MAPPING:
            kwargs = {k: v for k, v in cfg.items() if k != "model_type"}
            try:
                top = CONFIG_MAPPING[cfg["model_type"]](**kwargs)
            except (TypeError, ValueError) as e:
                raise PonderError(f"config {name or '<dict>'}: not a valid config: {e}") from e
        if isinstance(top, PretrainedConfig):
            text = top.get_text_config().to_dict()
            text.setdefault("tie_word_embeddings", getattr(top, "tie_word_embeddings", False))
        elif isinstance(top, dict):
            text = dict(top.get("text_config") or top)
            text.setdefault("tie_word_embeddings", top.get("tie_word_embeddings", False))
        else:
            raise PonderError(f"config {name}: expected a dict or PretrainedConfig")

        def need(key: str) -> int:
            value = text.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PonderError(f"config {name or '<dict>'}: field {key!r} missing or not >= 1")
            return value

        heads = need("num_attention_heads")
        hidden = need("hidden_size")
        return cls(
            vocab_size=need("vocab_size"),
            hidden_size=hidden,
            intermediate_size=need("intermediate_size"),
            num_attention_heads=heads,
            num_hidden_layers=need("num_hidden_layers"),
            num_key_value_heads=text.get("num_key_value_heads") or heads,
            head_dim=text.get("head_dim") or hidden // heads,
            tie_word_embeddings=bool(text.get("tie_word_embeddings")),
            name=name,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def builtin_models() -> dict[str, dict[str, Any]]:
    """Built-in model table (`src/ponder/data/models.yaml`: published config.json values)."""
    text = resource("data", "models.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def resolve_model(name_or_path: str) -> ModelDims:
    """A built-in name (`qwen2.5-7b`) or a path to a Hugging Face config.json (or its folder)."""
    key = builtin_key(name_or_path)
    table = builtin_models()
    if key:
        keep = {f.name for f in fields(ModelDims)}
        return ModelDims(**{k: v for k, v in table[key].items() if k in keep}, name=key)
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        names = ", ".join(table)
        raise PonderError(f"model: {name_or_path!r} is not a config.json nor one of: {names}")
    try:
        cfg = read_hf_config(path)
    except PonderError as e:
        raise PonderError(f"model: {e}") from None
    return ModelDims.from_hf_config(cfg, name=str(path))


def read_hf_config(path: Path) -> dict:
    """A Hugging Face config.json as a dict; one line naming the file when it is not one."""
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PonderError(f"{path}: not a readable JSON config ({e})") from None
    if not isinstance(cfg, dict):
        raise PonderError(f"{path}: a config.json must hold a JSON object")
    return cfg


def builtin_key(name_or_hub_id: str) -> str | None:
    """A built-in name (`qwen2.5-7b`) or its source hub id (`Qwen/Qwen2.5-7B`), any case."""
    key = str(name_or_hub_id).strip().lower()
    for name, entry in builtin_models().items():
        if key in (name, str(entry.get("source", "")).lower()):
            return name
    return None


def model_params_total(name_or_path: str) -> int:
    """All weights (every expert of a mixture-of-experts), to size memory; FLOPs use the dims."""
    key = builtin_key(name_or_path)
    if key and "params_total" in builtin_models()[key]:
        return int(builtin_models()[key]["params_total"])
    return count_params(resolve_model(name_or_path))


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise PonderError(f"method: {method!r} is not one of {', '.join(METHODS)}")


def _lengths(value: Any, field: str, minimum: int = 1) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr < minimum)):
        raise PonderError(f"{field}: every length must be an integer >= {minimum}")
    return arr


def _out(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def forward_breakdown(dims: ModelDims, seq_len: Any, method: Method = "paper") -> dict[str, Any]:
    """Eq. (1) term by term for a forward pass over `seq_len` tokens (all positions' logits)."""
    _check_method(method)
    ln = _lengths(seq_len, "seq_len")
    return _forward_terms(dims, ln, method, logits_tokens=ln)


def _forward_terms(dims: ModelDims, ln: np.ndarray, method: str, logits_tokens: Any) -> dict:
    V, d, ff = dims.vocab_size, dims.hidden_size, dims.intermediate_size
    h, n = dims.num_attention_heads, dims.num_hidden_layers
    if method == "paper":
        return {
            "embeddings": 2 * ln * V * d,
            # Eq. (1) attention: 6ld^2 (Q,K,V) + 2l^2d (QK^T) + 3l^2h (softmax) + 2l^2d
            # + 2ld^2 (out)
            "attention": (6 * ln * d**2 + 4 * ln**2 * d + 3 * ln**2 * h + 2 * ln * d**2) * n,
            "feed_forward": 4 * ln * d * ff * n,
            "logits": 2 * np.asarray(logits_tokens, dtype=np.float64) * d * V,
        }
    q_width, kv_width = h * dims.head_dim, dims.num_key_value_heads * dims.head_dim
    return {
        "embeddings": 0.0 * ln,  # a row lookup, not a matmul (tied or not)
        "attention_proj": 2 * ln * d * (2 * q_width + 2 * kv_width) * n,  # q, o + GQA k, v
        "attention_scores": 4 * ln**2 * q_width * n,  # QK^T and AV, dense l x l
        "softmax": 3 * ln**2 * h * n,  # not a matmul: the paper's term, kept
        "feed_forward": 6 * ln * d * ff * n,  # SwiGLU: gate, up, down
        "logits": 2 * np.asarray(logits_tokens, dtype=np.float64) * d * V,
    }


def forward_flops(dims: ModelDims, seq_len: Any, method: Method = "paper") -> float | np.ndarray:
    """Eq. (1): FLOPs of one forward pass over a sequence of `seq_len` tokens."""
    return _out(sum(forward_breakdown(dims, seq_len, method).values()))


def forward_coefficients(dims: ModelDims, method: Method = "paper") -> tuple[float, float]:
    """(a, b) with forward_flops(l) = a*l + b*l^2, so sum_i forward(l_i) = a*sum(l) + b*sum(l^2):
    exact totals from two length moments, without the per-sample lengths."""
    f1, f2 = forward_flops(dims, 1, method), forward_flops(dims, 2, method)
    b = (f2 - 2 * f1) / 2
    return f1 - b, b


def train_flops(dims: ModelDims, seq_lens: Any, method: Method = "paper") -> float:
    """Eqs. (2)-(3): sum over samples of 3 x forward (backward = 2 x forward for every matmul)."""
    lens = np.atleast_1d(_lengths(seq_lens, "seq_lens"))
    return float(np.sum(3 * np.asarray(forward_flops(dims, lens, method))))


def infer_breakdown(
    dims: ModelDims, prompt_tokens: Any, gen_tokens: Any, method: Method = "paper"
) -> dict[str, Any]:
    """Eq. (6) split into the prefill (Eq. 4) and the cached decode steps (sum of Eq. 5)."""
    _check_method(method)
    lp = _lengths(prompt_tokens, "prompt_tokens")
    lg = _lengths(gen_tokens, "gen_tokens", minimum=0)
    V, d, ff = dims.vocab_size, dims.hidden_size, dims.intermediate_size
    h, n = dims.num_attention_heads, dims.num_hidden_layers
    # Eq. (4): the prompt's forward, but logits for the last position only (2 d V).
    prefill = sum(_forward_terms(dims, lp, method, logits_tokens=1.0).values())
    if method == "paper":
        # Eq. (5) at context L is c0 + c1*L with c0 = 2dV + 8d^2 N_l, c1 = (4d + 3h) N_l; Eq. (6)
        # sums L = l_p+1 .. l_p+l_g, an arithmetic series: O(1) per item instead of l_g terms.
        steps, c0, c1 = lg, 2 * d * V + 8 * d**2 * n, (4 * d + 3 * h) * n
        sum_ctx = lg * lp + lg * (lg + 1) / 2
    else:
        # The prefill emits the first token; each of the other l_g-1 tokens costs one cached step
        # attending over L = l_p+1 .. l_p+l_g-1 keys (that step's own token included).
        qw, kvw = h * dims.head_dim, dims.num_key_value_heads * dims.head_dim
        steps = np.maximum(lg - 1, 0)
        c0 = 2 * d * (2 * qw + 2 * kvw) * n + 6 * d * ff * n + 2 * d * V
        c1 = (4 * qw + 3 * h) * n
        sum_ctx = steps * lp + steps * (steps + 1) / 2
    prefill, decode = np.broadcast_arrays(prefill, steps * c0 + c1 * sum_ctx)
    return {"prefill": _out(prefill.copy()), "decode": _out(decode.copy())}


def infer_flops(
    dims: ModelDims, prompt_tokens: Any, gen_tokens: Any, method: Method = "paper"
) -> float | np.ndarray:
    """Eq. (6): FLOPs to read a `prompt_tokens` prompt and generate `gen_tokens` tokens."""
    parts = infer_breakdown(dims, prompt_tokens, gen_tokens, method)
    return _out(np.asarray(parts["prefill"]) + np.asarray(parts["decode"]))


def count_params(dims: ModelDims) -> int:
    """Weights of a Qwen2/Gemma-style decoder: embeddings (+ untied lm head), attention, SwiGLU,
    RMSNorm scales. Biases (Qwen2's q/k/v, ~0.01%) and Gemma's q/k norms are left out."""
    d, kvw = dims.hidden_size, dims.num_key_value_heads * dims.head_dim
    qw = dims.num_attention_heads * dims.head_dim
    per_layer = d * qw * 2 + d * kvw * 2 + 3 * d * dims.intermediate_size + 2 * d
    embed = dims.vocab_size * d * (1 if dims.tie_word_embeddings else 2)
    return int(embed + dims.num_hidden_layers * per_layer + d)
