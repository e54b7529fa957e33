"""GPU smoke test of ponder's training path at real scale: a ~0.5B Qwen2 student, random init.

Builds Qwen2.5-0.5B's architecture from its published dimensions (no hub access: random weights,
a throwaway byte-level tokenizer with a ChatML template), synthesises long variable-length
examples, and runs a few `train_phase` steps with bf16 autocast, packing into 4,096-token windows
and fused AdamW, with the attention kernel named by `--attention` (train.attention). Prints
tokens/s and MFU over the whole run and over the steady state (train_summary's steady_* fields:
the steps after the first three), packing efficiency, and checks that the loss is finite and the checkpoint
reloads.

`--isolation` instead checks, on the GPU, that packed examples do not attend to each other for
each kernel: the logits of example B packed after A equal B's logits alone, perturbing A leaves
them unchanged, and (negative control) continuous position ids do change them.

    python scripts/gpu_smoke_train.py [--steps 12] [--window 4096] [--micro 4] [--attention sdpa]
    python scripts/gpu_smoke_train.py --isolation sdpa,flex_attention
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

    from ponder.tiny.students import build_tokenizer

    words = [f"w{i}" for i in range(4000)]
    texts = [" ".join(random.sample(words, 50)) for _ in range(2000)]
    fast = build_tokenizer(texts, vocab_size=8192)  # the tiny students' tokenizer, ChatML template
    cfg = Qwen2Config(vocab_size=len(fast), pad_token_id=fast.pad_token_id, **DIMS)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(tmp / "init")
    fast.save_pretrained(tmp / "init")
    return tmp / "init"


def isolation(attentions: list[str], device: str = "cuda") -> None:
    """Packed B vs B alone, A perturbed, and the continuous-positions control, per kernel."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=1000,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    a, b = torch.randint(0, 1000, (1, 300)), torch.randint(0, 1000, (1, 200))
    a2 = torch.randint(0, 1000, (1, 300))
    for attn in attentions:
        for dtype in (torch.float32, torch.bfloat16):
            model = Qwen2ForCausalLM._from_config(cfg, attn_implementation=attn)
            model = model.to(device).eval()

            def logits(ids, pos, model=model, dtype=dtype):
                bf16 = dtype != torch.float32
                with torch.no_grad(), torch.autocast(device, dtype, enabled=bf16):
                    out = model(
                        input_ids=ids.to(device), position_ids=pos.to(device), use_cache=False
                    ).logits
                return out.float()[0, -200:]

            restart = torch.cat([torch.arange(300), torch.arange(200)])[None]
            alone = logits(b, torch.arange(200)[None])
            packed = logits(torch.cat([a, b], 1), restart)
            other = logits(torch.cat([a2, b], 1), restart)
            control = logits(torch.cat([a, b], 1), torch.arange(500)[None])
            row = {
                "attention": attn,
                "dtype": str(dtype).split(".")[-1],
                "packed_vs_alone": (packed - alone).abs().max().item(),
                "A_perturbed": (other - packed).abs().max().item(),
                "control_continuous_positions": (control - alone).abs().max().item(),
            }
            tol = 1e-3 if dtype == torch.float32 else 5e-2
            row["isolated"] = row["packed_vs_alone"] < tol and row["A_perturbed"] < tol
            row["control_differs"] = row["control_continuous_positions"] > 10 * tol
            print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--window", type=int, default=4096)
    ap.add_argument("--micro", type=int, default=4)
    ap.add_argument("--attention", default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--isolation", default="", help="comma-separated kernels to check instead")
    ap.add_argument("--device", default="cuda", help="for --isolation (cpu: check the check)")
    args = ap.parse_args()
    if args.isolation:
        return isolation(args.isolation.split(","), args.device)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_smoke_train: no CUDA device")

    from ponder.config import TrainConfig
    from ponder.train.loop import train_phase
    from ponder.train.runtime import attention_kernel

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
        attention=args.attention,
        compile=args.compile,
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
        "steady_tokens_per_s",
        "steady_mfu",
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
                "attn": attention_kernel(cfg),
                "compile": args.compile,
                "total_s": round(time.time() - t0, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
