"""GPU check of ponder's training path at real scale: MFU per model size and kernel choice.

Builds a Qwen2.5-0.5B or -1.5B architecture from its published dimensions (no hub access: random
weights, the real 151,936-token vocabulary so the LM head and cross-entropy cost what they cost,
a throwaway byte-level tokenizer with a ChatML template), synthesises long variable-length
examples, and runs `train_phase` with bf16 autocast, packing into `--window`-token windows (16,384
as the paper), fused AdamW, the attention kernel `--attention`, and optionally Liger's fused
kernels (`--liger`) and `torch.compile` (`--compile`). Prints one JSON line: tokens/s and MFU over
the whole run and the steady state (the steps after the first three), peak GPU memory per rank,
packing efficiency; checks that the loss is finite and the checkpoint reloads. `--record FILE`
appends the line to FILE; `--table FILE` prints those lines as a table.

`--dry` runs the same path on the CPU at tiny dimensions (a 256-token window, a few steps, kernels
the CPU lacks replaced by sdpa and Liger/compile left out, saying so), so the check is known to run
before a GPU is at hand (tests/test_gpu_check.py). Under `torchrun`/`accelerate launch` with
`--fsdp` (or an FSDP launch config) the student is sharded (train/sharding.py).

`--isolation` instead checks, on the GPU, that packed examples do not attend to each other for
each kernel: the logits of example B packed after A equal B's logits alone, perturbing A leaves
them unchanged, and (negative control) continuous position ids do change them.

    python scripts/gpu_smoke_train.py --size 0.5b --attention flex_attention --liger
    python scripts/gpu_smoke_train.py --dry --size 1.5b --attention flex_attention --liger
    python scripts/gpu_smoke_train.py --isolation sdpa,flex_attention [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# Qwen2.5 config.json values (hub: Qwen/Qwen2.5-0.5B, Qwen/Qwen2.5-1.5B).
SIZES = {
    "0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
    ),
    "1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    ),
}
QWEN_VOCAB = 151_936
KEYS = [
    "label",
    "size",
    "attention",
    "liger",
    "compile",
    "sharding",
    "window",
    "steps",
    "tokens",
    "steady_tokens_per_s",
    "steady_mfu",
    "mfu",
    "peak_gpu_mem_gb",
    "packing_efficiency",
    "final_loss",
    "wall_s",
    "total_s",
    "gpu",
]


def build(out: Path, size: str, vocab: int) -> Path:
    """A random-init Qwen2 of `size` and a throwaway tokenizer, saved once under `out`."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from ponder.tiny.students import build_tokenizer

    if (out / "config.json").is_file():
        return out
    words = [f"w{i}" for i in range(4000)]
    texts = [" ".join(random.Random(k).sample(words, 50)) for k in range(2000)]
    fast = build_tokenizer(texts, vocab_size=8192)  # the tiny students' tokenizer, ChatML template
    cfg = Qwen2Config(
        vocab_size=max(vocab, len(fast)),
        pad_token_id=fast.pad_token_id,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        **SIZES[size],
    )
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out


def examples(tokens: int, window: int, seed: int = 0) -> list[dict]:
    """Variable-length examples (log-normal, a long tail like reasoning traces) of ~`tokens`."""
    rng, out, total = random.Random(seed), [], 0
    while total < tokens:
        n = int(min(window - 64, rng.lognormvariate(6.5, 0.8)))
        text = " ".join(f"w{rng.randrange(4000)}" for _ in range(max(8, n // 2)))
        out.append(
            {
                "id": str(len(out)),
                "prompt": "q " + text[:200],
                "completion": text,
                "style": "reasoning",
            }
        )
        total += n
    return out


def dry_args(args) -> list[str]:
    """Make the run CPU-sized; returns what was changed (printed)."""
    notes = [f"size {args.size} -> tiny dims, window {args.window} -> 256"]
    args.size, args.window, args.vocab = "tiny", 256, 1024
    args.steps, args.windows_per_step = min(args.steps, 6), 2
    if args.attention in ("flex_attention", "flash_attention_2", "auto"):
        notes.append(f"attention {args.attention} -> sdpa (no CPU backward)")
        args.attention = "sdpa"
    if args.liger:
        notes.append("liger left out (Triton GPU kernels)")
        args.liger = False
    if args.compile:
        notes.append("compile left out (minutes on a CPU)")
        args.compile = False
    return notes


def run(args) -> dict:
    from transformers import AutoModelForCausalLM

    from ponder.config import TrainConfig
    from ponder.train.loop import train_phase

    t0 = time.time()
    rank = int(os.environ.get("RANK", "0"))
    tmp = Path(args.workdir or tempfile.gettempdir()) / f"gpu_smoke_train.{args.size}.{args.vocab}"
    init = build(tmp / "init", args.size, args.vocab) if rank == 0 else tmp / "init"
    while not (init / "tokenizer_config.json").is_file():  # other ranks wait for rank 0's build
        time.sleep(1)
    k = args.windows_per_step
    cfg = TrainConfig(
        global_batch_tokens=k * args.window,
        micro_batch_size=args.micro,
        max_seq_len=args.window,
        packing=True,
        precision="fp32" if args.dry else "bf16",
        warmup_steps=2,
        decay_steps=4,
        attention=args.attention,
        compile=args.compile,
        liger=args.liger,
        fsdp=args.fsdp,
    )
    data = examples(args.steps * k * args.window, args.window)
    out = tmp / f"out-{args.label or 'run'}"  # one path for every rank
    s = train_phase(init, data, out, cfg, lr=2e-5, seed=0, progress=False)
    if rank:
        return {}
    assert s["final_loss"] == s["final_loss"], "loss is NaN"
    AutoModelForCausalLM.from_pretrained(out)  # the gathered checkpoint reloads
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (dry)"
    return {k: s.get(k) for k in KEYS} | {
        "label": args.label,
        "size": args.size,
        "compile": args.compile,
        "window": args.window,
        "gpu": gpu,
        "total_s": round(time.time() - t0, 1),
    }


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


def table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    cols = [
        "label",
        "size",
        "attention",
        "liger",
        "compile",
        "sharding",
        "steady_tokens_per_s",
        "steady_mfu",
        "peak_gpu_mem_gb",
        "total_s",
    ]
    print(" | ".join(cols))
    for r in rows:
        cells = [r.get(c) for c in cols]
        print(" | ".join(f"{c:.3g}" if isinstance(c, float) else str(c) for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="0.5b")
    ap.add_argument("--vocab", type=int, default=QWEN_VOCAB)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--window", type=int, default=16_384)
    ap.add_argument("--windows-per-step", type=int, default=4)
    ap.add_argument("--micro", type=int, default=1, help="windows per forward")
    ap.add_argument("--attention", default="auto")
    ap.add_argument("--liger", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--fsdp", action="store_true", help="shard (needs torchrun/accelerate)")
    ap.add_argument("--dry", action="store_true", help="CPU, tiny dims: check the check")
    ap.add_argument("--label", default="")
    ap.add_argument("--record", type=Path, help="append the result line to this file")
    ap.add_argument("--table", type=Path, help="print the recorded lines of this file")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--isolation", default="", help="comma-separated kernels to check instead")
    ap.add_argument("--device", default="cuda", help="for --isolation (cpu: check the check)")
    args = ap.parse_args()
    if args.table:
        return table(args.table)
    if args.isolation:
        return isolation(args.isolation.split(","), args.device)
    if args.dry:
        print("dry run: " + "; ".join(dry_args(args)), flush=True)
    elif not torch.cuda.is_available():
        raise SystemExit("gpu_smoke_train: no CUDA device (--dry checks the script on a CPU)")
    result = run(args)
    if result:
        line = json.dumps(result)
        print(line, flush=True)
        if args.record:
            with open(args.record, "a") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
