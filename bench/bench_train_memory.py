"""Peak memory of a training phase against the size of its mix, and tokenisation throughput.

A mix of 20,000 tiny-world examples (the tiny study's general domain) at 1×, 10× and 100× (the
world's examples repeated under new ids), each trained by the largest tiny student in a fresh
process through `train_phase` with the mix as a file (the pipeline's path: token store built
once, memory-mapped), `train.max_tokens` capping the trained tokens so every size trains the same
steps. Printed per size: the training process's peak RSS (ru_maxrss) and its tokeniser
processes' (RUSAGE_CHILDREN), the store's build rate (tokens/s, all of render + tokenise + write,
`--procs` processes; at 1× the processes' start-up weighs), and that rate against the tokenizer's
own batch call (`tokenizer(texts)`, Rust threads on every core) on the 1× mix's rendered texts in
this process, timed right before each size (the machine is shared). Target: 100× within +25% of
1×.

    python bench/bench_train_memory.py [--scales 1,10,100] [--procs 2] [--max-tokens 30000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

TINY_MIX = 20_000  # the tiny study's general domain (resources/studies/tiny.yaml)


def child(init: Path, mix: Path, out: Path, cfg_json: str) -> None:
    """One training phase in this (fresh) process; prints its memory and the store's rate."""
    from ponder.config import TrainConfig
    from ponder.train import tokens
    from ponder.train.loop import train_phase

    cfg = TrainConfig.model_validate_json(cfg_json)
    s = train_phase(
        init, mix, out / "model", cfg, lr=3e-3, seed=0, progress=False, cache=out / "tokens"
    )
    meta = tokens.store_meta(out / "tokens" / s["token_store"])
    kb = 1024  # ru_maxrss is in KiB on Linux
    print(
        json.dumps(
            {
                "rss_train_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kb,
                "rss_tokenizer_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                / kb,
                "examples": meta["examples"],
                "store_tokens": meta["tokens"],
                "tokenize_s": meta["tokenize_s"],
                "tokens_per_s": meta["tokens_per_s"],
                "procs": meta["procs"],
                "steps": s["steps"],
                "trained_tokens": s["tokens"],
            }
        )
    )


def write_mix(base, scale: int, path: Path) -> None:
    """`scale` copies of the 1× mix in one file, ids made unique, `order` continuing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, base.schema) as w:
        for k in range(scale):
            ids = pa.array(
                [f"{i}#{k}" for i in base["id"].to_pylist()], base.schema.field("id").type
            )
            order = pa.array(base["order"].to_numpy() + k * base.num_rows, pa.int64())
            w.write_table(base.set_column(0, "order", order).set_column(1, "id", ids))


def tokenizer_rate(init: Path, examples: list[dict]) -> float:
    """Tokens/s of the tokenizer's own batch call on the mix's rendered prompts and answers."""
    from transformers import AutoTokenizer

    from ponder.train.batching import _split_renders

    tok = AutoTokenizer.from_pretrained(init)
    prompts, answers = _split_renders(tok, examples)
    t0 = time.perf_counter()
    n = sum(map(len, tok(prompts, add_special_tokens=False)["input_ids"]))
    n += sum(map(len, tok(answers, add_special_tokens=False)["input_ids"]))
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,10,100")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=30_000)
    ap.add_argument("--child", nargs=4, metavar=("INIT", "MIX", "OUT", "CFG"))
    args = ap.parse_args()
    if args.child:
        init, mix, out, cfg = args.child
        return child(Path(init), Path(mix), Path(out), cfg)

    import pyarrow as pa

    from _tiny_world_data import setup
    from ponder.config import TrainConfig, load_study
    from ponder.train.mix import mix_frame

    tmp, init, params, examples = setup("bench_train_memory.", TINY_MIX, ratio=0.5)
    base = pa.Table.from_pandas(mix_frame(examples), preserve_index=False)
    cfg = load_study("tiny").train.model_copy(
        update={"max_tokens": args.max_tokens, "threads": 2, "tokenize_procs": args.procs}
    )
    print(
        f"student {params / 1e6:.2f}M params; 1x mix = {TINY_MIX:,} examples; trained tokens "
        f"capped at {args.max_tokens:,}"
    )
    rows = {}
    for scale in map(int, args.scales.split(",")):
        rate = tokenizer_rate(init, examples)
        mix = tmp / f"mix-{scale}x.parquet"
        write_mix(base, scale, mix)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(init),
            str(mix),
            str(tmp / f"run-{scale}x"),
            TrainConfig.model_validate(cfg.model_dump()).model_dump_json(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        r = rows[scale] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{scale:4d}x  {r['examples']:>9,} examples {r['store_tokens']:>12,} tokens  "
            f"peak RSS train {r['rss_train_mb']:7.1f} MB, tokenizer worker "
            f"{r['rss_tokenizer_worker_mb']:6.1f} MB  store built in {r['tokenize_s']:6.1f} s = "
            f"{r['tokens_per_s']:>10,.0f} tokens/s ({r['procs']} procs; "
            f"{r['tokens_per_s'] / rate:.2f}x the batch call's {rate:,.0f})  trained "
            f"{r['steps']} steps, "
            f"{r['trained_tokens']:,} tokens",
            flush=True,
        )
    lo, hi = min(rows), max(rows)
    growth = rows[hi]["rss_train_mb"] / rows[lo]["rss_train_mb"] - 1
    print(f"peak RSS {hi}x vs {lo}x: {growth:+.1%}   (target <= +25%)")


if __name__ == "__main__":
    main()
