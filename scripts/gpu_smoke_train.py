"""GPU smoke test of ponder's training path at real scale: a ~0.5B Qwen2 student, random init.

Builds Qwen2.5-0.5B's architecture from its published dimensions (no hub access: random weights,
a throwaway byte-level tokenizer with a ChatML template), synthesises long variable-length
examples, and runs a few `train_phase` steps with bf16 autocast, packing into 4,096-token windows
(flash-attention varlen when `flash_attn` is installed, else SDPA with a block-diagonal mask) and
fused AdamW. Prints tokens/s, packing efficiency and MFU from the run's summary, and checks that
the loss is finite and the checkpoint reloads.

    python scripts/gpu_smoke_train.py [--steps 8] [--window 4096] [--micro 4]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

# Qwen2.5-0.5B config.json values (vocab trimmed to the throwaway tokenizer's size).
DIMS = dict(
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rope_theta=1_000_000.0,
    tie_word_embeddings=True,
)


def build(tmp: Path) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from ponder.students import build_tokenizer

    words = [f"w{i}" for i in range(4000)]
    texts = [" ".join(random.sample(words, 50)) for _ in range(2000)]
    fast = build_tokenizer(texts, vocab_size=8192)  # the tiny students' tokenizer, ChatML template
    cfg = Qwen2Config(vocab_size=len(fast), pad_token_id=fast.pad_token_id, **DIMS)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(tmp / "init")
    fast.save_pretrained(tmp / "init")
    return tmp / "init"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--window", type=int, default=4096)
    ap.add_argument("--micro", type=int, default=4)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_smoke_train: no CUDA device")

    from ponder.config import TrainConfig
    from ponder.train import train_phase

    rng = random.Random(0)
    tmp = Path(tempfile.mkdtemp(prefix="gpu_smoke_train."))
    t0 = time.time()
    init = build(tmp)
    k = args.micro  # windows per step = one micro-batch per step
    budget = args.steps * k * args.window
    examples, total = [], 0
    while total < budget:
        n = int(min(args.window - 64, rng.lognormvariate(6.5, 0.8)))  # skewed, like reasoning
        text = " ".join(f"w{rng.randrange(4000)}" for _ in range(max(8, n // 2)))
        examples.append(
            {
                "id": str(len(examples)),
                "prompt": "q " + text[:200],
                "completion": text,
                "style": "reasoning",
            }
        )
        total += n
    cfg = TrainConfig(
        global_batch_tokens=k * args.window,
        micro_batch_size=args.micro,
        max_seq_len=args.window,
        packing=True,
        precision="bf16",
        warmup_steps=2,
        decay_steps=4,
    )
    s = train_phase(init, examples, tmp / "out", cfg, lr=2e-5, seed=0, progress=False)
    assert s["final_loss"] == s["final_loss"], "loss is NaN"
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tmp / "out")
    keys = [
        "steps",
        "tokens",
        "tokens_per_s",
        "packing_efficiency",
        "mfu",
        "final_loss",
        "precision",
        "device",
        "wall_s",
    ]
    print(
        json.dumps(
            {k: s.get(k) for k in keys}
            | {
                "gpu": torch.cuda.get_device_name(),
                "attn": AutoModelForCausalLM.from_pretrained(init).config._attn_implementation,
                "total_s": round(time.time() - t0, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
