"""ponder's training loop vs a minimal hand-written PyTorch loop, in one run.

Both train the same tiny student (the tiny study's largest) from the same initial weights on the
same token-measured steps (one epoch of a ρ=0.5 tiny-world mix, padded micro-batches), with AdamW
and gradient clipping; only the loop differs. The hand loop is what one writes from scratch: padded
`input_ids` + `attention_mask` + `labels`, `model(...).loss.backward()`, `opt.step()`. Printed:
tokens/s of each (non-pad tokens / loop seconds) and their ratio (target ≥ 0.90). The two are
interleaved `--repeats` times and the best of each kept, because the machine is shared.

    python bench/bench_train_loop.py [--examples 3000] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from _tiny_world_data import setup
from ponder.config import TrainConfig
from ponder.train.batching import collate, encode
from ponder.train.loop import prepare_steps, train_phase


def hand_loop(init: Path, tok, enc, steps, lr: float) -> float:
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    batches = []
    for s in steps:  # build tensors up front: the hand loop gets its batching for free
        mbs = []
        for rows in s.micro:
            b = collate(enc, rows, tok.pad_token_id)
            mask = torch.zeros_like(b["input_ids"])
            for r, row in enumerate(rows):
                mask[r, : int(enc.lengths[row].sum())] = 1
            mbs.append((b["input_ids"], mask, b["labels"]))
        batches.append(mbs)
    tokens = sum(s.tokens for s in steps)
    t0 = time.perf_counter()
    for mbs in batches:
        for ids, mask, labels in mbs:
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            (out.loss / len(mbs)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tmp, init, params, examples = setup("bench_train_loop.", args.examples, ratio=0.5)
    cfg = TrainConfig(
        global_batch_tokens=8192, micro_batch_size=48, max_seq_len=512, threads=args.threads
    )
    tok = AutoTokenizer.from_pretrained(init)
    enc, steps = prepare_steps(encode(tok, examples, cfg.max_seq_len), cfg)
    print(
        f"student: {params / 1e6:.2f}M params; {len(examples)} examples, {enc.lengths.sum()} "
        f"tokens, {len(steps)} steps of ~{cfg.global_batch_tokens} tokens; "
        f"{torch.get_num_threads()} threads"
    )

    hand, ours = [], []
    for r in range(args.repeats):
        hand.append(hand_loop(init, tok, enc, steps, lr=1e-3))
        s = train_phase(init, examples, tmp / f"ponder{r}", cfg, lr=1e-3, seed=0, progress=False)
        ours.append(s["tokens_per_s"])
        print(f"repeat {r}: hand {hand[-1]:,.0f} tok/s   ponder {ours[-1]:,.0f} tok/s")
    print(f"hand loop     : {max(hand):,.0f} tokens/s")
    print(f"ponder        : {max(ours):,.0f} tokens/s")
    print(f"ratio (ponder/hand): {max(ours) / max(hand):.3f}   (target >= 0.90)")


if __name__ == "__main__":
    main()
