"""Scoring throughput of `ponder eval --responses` (items/s) on MATH-500 and IFEval.

MATH-500 is scored on its own reference solutions (math-verify on each `\\boxed{}`), IFEval on
Google's GPT-4 sample responses (the official instruction checkers, strict + loose). Two numbers
per benchmark, measured in this one run: the scorer alone (data already loaded) and the whole
console command (process start, imports, loading, scoring). Prints one JSON line per benchmark and
the ratio between the two benchmarks' scorer throughputs.

    python bench/bench_scoring.py --data-dir DIR [--repeats 3]

DIR holds the benchmark files (default: $PONDER_DATA_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ponder.cli.eval_cmd import read_responses, score_responses
from ponder.evaluate.benchmarks import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def math500_responses(data: Path, out: Path) -> Path:
    with (data / "math500" / "test.jsonl").open() as f, out.open("w") as g:
        for ln in f:
            r = json.loads(ln)
            g.write(json.dumps({"id": r["unique_id"], "response": r["solution"]}) + "\n")
    return out


def measure(name: str, responses: Path, data: Path, repeats: int) -> dict:
    bench = load_benchmark(name, data)
    rows = read_responses(responses)
    score_responses(bench, rows[:5], str(responses))  # warm imports (math-verify, lm-eval, NLTK)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        summary, _ = score_responses(bench, rows, str(responses))
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from ponder.cli import main; main()",
            "eval",
            "--benchmark",
            name,
            "--responses",
            str(responses),
            "--data-dir",
            str(data),
            "--json",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    cli_s = time.perf_counter() - t0
    n = len(rows)
    return {
        "benchmark": name,
        "n": n,
        "accuracy": round(summary["accuracy"], 2),
        "scorer_items_per_s": round(n / best, 1),
        "cli_wall_s": round(cli_s, 2),
        "cli_items_per_s": round(n / cli_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get("PONDER_DATA_DIR")
    ap.add_argument("--data-dir", type=Path, default=Path(env) if env else None, required=not env)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        m = measure(
            "math-500",
            math500_responses(args.data_dir, Path(tmp) / "m.jsonl"),
            args.data_dir,
            args.repeats,
        )
        ife = args.data_dir / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl"
        i = measure("ifeval", ife, args.data_dir, args.repeats)
    print(json.dumps(m))
    print(json.dumps(i))
    ratio = m["scorer_items_per_s"] / i["scorer_items_per_s"]
    print(json.dumps({"math500_over_ifeval_scorer_throughput": round(ratio, 2)}))


if __name__ == "__main__":
    main()
