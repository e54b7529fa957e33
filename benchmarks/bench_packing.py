"""Packed vs padded training of the largest tiny student on tiny-world reasoning data (issue 4).

One run, same student, same examples (ρ=1: the skewed reasoning lengths), same token budget per
step: ponder's `train_phase` with `packing=false` (length-sorted padded rows inside each step) and
`packing=true` (best-fit-decreasing windows of `--window` tokens, block-diagonal attention).
Printed per mode: non-pad fraction of the computed token slots, useful (non-pad) tokens/s, and
achieved FLOP/s (Appendix C `exact` training FLOPs of the real tokens ÷ loop seconds) against the
machine's matmul peak, measured in the same run by timing a large `torch.mm`.

    python benchmarks/bench_packing.py [--examples 2000] [--window 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoTokenizer

from _tiny_world_data import setup
from ponder.config import TrainConfig
from ponder.train import prepare_steps, train_phase


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tmp, init, params, examples = setup("bench_packing.", args.examples, ratio=1.0)
    base = TrainConfig(
        global_batch_tokens=16 * args.window,
        micro_batch_size=16,
        max_seq_len=args.window,
        threads=args.threads,
    )
    peak_before = matmul_peak()
    # Padded rows hold one example each: give them the same tokens per forward as the packed
    # micro-batch (16 windows), since CPU throughput depends strongly on forward size.
    enc, _ = prepare_steps(AutoTokenizer.from_pretrained(init), examples, base)
    rows = max(1, round(16 * args.window / enc.lengths.mean()))
    results = {}
    for mode in ("padded", "packed"):
        cfg = base.model_copy(
            update={"packing": True} if mode == "packed" else {"micro_batch_size": rows}
        )
        results[mode] = train_phase(
            init, examples, tmp / mode, cfg, lr=1e-3, seed=0, progress=False
        )
    peak = max(peak_before, matmul_peak())
    print(
        f"student {params / 1e6:.2f}M params, {len(examples)} reasoning examples, "
        f"{results['packed']['tokens']:,} tokens, {torch.get_num_threads()} threads"
    )
    print(f"matmul peak (fp32 torch.mm 2048^2): {peak / 1e9:.1f} GFLOP/s")
    for mode, s in results.items():
        achieved = s["train_flops_exact"] / s["wall_s"]
        print(
            f"{mode:7s} non-pad {s['packing_efficiency']:.3f}  useful {s['tokens_per_s']:,.0f} "
            f"tok/s  {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of peak  "
            f"({s['steps']} steps)"
        )
    ratio = results["packed"]["tokens_per_s"] / results["padded"]["tokens_per_s"]
    print(f"packed/padded useful tokens/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
