"""Packed vs padded training of the largest tiny student on tiny-world reasoning data.

One run, same student, same token budget per step (16 windows of `--window` tokens): ponder's
`train_phase` with `packing=false` (one example per row, rows padded to the longest in the
micro-batch) and `packing=true` (windows filled by `batching._fill`, block-diagonal attention
through per-example position ids), on two data sets:
- `tiny`: the tiny world's reasoning examples as the tiny study trains on them (mildly skewed:
  cv ≈ 0.3, longest ≈ 1.5× the mean);
- `long-tail`: the same examples with each reasoning answer repeated 1-4 times (55/25/12/8%),
  a long tail like real reasoning traces, where padding wastes far more.
Plus `packed +compile` (train.compile, torch.compile) on `tiny`. Printed per arm: non-pad
fraction of the computed token slots, steady-state useful tokens/s (per-step clock in
train_log.jsonl, first 3 and last step excluded) and achieved FLOP/s (Appendix C `exact` FLOPs of
those tokens ÷ their seconds) against the machine's fp32 matmul peak, timed in the same run.

    python bench/bench_packing.py [--examples 2000] [--window 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from transformers import AutoTokenizer

from _tiny_world_data import setup
from ponder.config import TrainConfig
from ponder.train.batching import encode
from ponder.train.loop import prepare_steps, train_phase


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    """FLOP/s of a large fp32 torch.mm on this machine, now (best of reps)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def long_tail(examples: list[dict], seed: int = 0) -> list[dict]:
    """Each reasoning answer's thinking repeated 1-4 times: a long-tailed length mix."""
    rng = np.random.default_rng(seed)
    out = []
    for ex, r in zip(
        examples, rng.choice(4, len(examples), p=[0.55, 0.25, 0.12, 0.08]), strict=True
    ):
        think, sep, answer = ex["completion"].partition("</think>")
        body = think.removeprefix("<think>")
        out.append({**ex, "completion": "<think>" + body * (r + 1) + sep + answer})
    return out


def steady(run_dir, summary: dict) -> tuple[float, float]:
    """(useful tokens/s, exact FLOP/s) over the steps after the first 3 and before the last."""
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").open()]
    mid = log[3:-1]
    secs = mid[-1]["elapsed_s"] - log[2]["elapsed_s"]
    tokens = sum(r["tokens"] for r in mid)
    return tokens / secs, summary["train_flops_exact"] * tokens / summary["tokens"] / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tmp, init, params, examples = setup("bench_packing.", args.examples, ratio=1.0)
    tokenizer = AutoTokenizer.from_pretrained(init)
    base = TrainConfig(
        global_batch_tokens=16 * args.window,
        micro_batch_size=16,
        max_seq_len=args.window,
        threads=args.threads,
    )
    peak_before = matmul_peak()
    data = {"tiny": examples, "long-tail": long_tail(examples)}
    arms = [(d, m, False) for d in data for m in ("padded", "packed")] + [("tiny", "packed", True)]
    results = {}
    for name, mode, compiled in arms:
        enc, _ = prepare_steps(encode(tokenizer, data[name], base.max_seq_len), base)
        # Padded rows hold one example each: give them the tokens of the packed micro-batch
        # (16 windows), since CPU throughput depends strongly on forward size.
        rows = max(1, round(16 * args.window / enc.lengths.mean()))
        update = {"packing": True} if mode == "packed" else {"micro_batch_size": rows}
        cfg = base.model_copy(update={**update, "compile": compiled})
        label = f"{name:9s} {mode}{' +compile' if compiled else ''}"
        run_dir = tmp / label.replace(" ", "_").replace("+", "")
        s = train_phase(init, data[name], run_dir, cfg, lr=1e-3, seed=0, progress=False)
        results[label] = (s, enc.lengths, *steady(run_dir, s))
    peak = max(peak_before, matmul_peak())

    print(
        f"student {params / 1e6:.2f}M params, {len(examples)} reasoning examples, "
        f"{args.window}-token windows x 16 per step, {torch.get_num_threads()} threads"
    )
    print(f"matmul peak (fp32 torch.mm 2048^2): {peak / 1e9:.1f} GFLOP/s")
    for label, (s, lens, tok_s, flop_s) in results.items():
        print(
            f"{label:26s} lengths mean {lens.mean():5.1f} cv {lens.std() / lens.mean():.2f}  "
            f"non-pad {s['packing_efficiency']:.3f}  useful {tok_s:7,.0f} tok/s  "
            f"{flop_s / 1e9:5.1f} GFLOP/s = {flop_s / peak:3.0%} of peak  "
            f"({s['steps']} steps, loop {s['wall_s']:.1f} s)"
        )
    for name in data:
        ratio = results[f"{name:9s} packed"][2] / results[f"{name:9s} padded"][2]
        print(f"{name}: packed/padded useful tokens/s {ratio:.2f}")


if __name__ == "__main__":
    main()
