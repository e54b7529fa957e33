"""Run directories for the report's tests: the recorded studies of fixtures/report/make_fixture.py,
and small synthetic studies whose per-item verdicts are drawn at chosen accuracies."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd

from _paths import FIXTURES

_spec = importlib.util.spec_from_file_location(
    "make_fixture", FIXTURES / "report" / "make_fixture.py"
)
make_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixture)
GOLDEN = FIXTURES / "report" / "golden.json"


def build(out: Path, shape: str = "full") -> Path:
    return make_fixture.build(out, shape)


def synthetic(
    out: Path,
    acc: dict[tuple[str, int], dict[str, float]],
    *,
    seeds=(0, 1, 2),
    n: int = 200,
    seed_sd: float = 0.0,
    shared: float = 0.8,
    chance: dict[str, float] | None = None,
) -> Path:
    """A general-domain study: acc[(fmt, params)][benchmark] is the accuracy each seed of the
    IFT ('IFT', ρ=0) or reasoning ('reasoning', ρ=1) student of that size is drawn at. Items
    share a latent difficulty (weight `shared`), so paired comparisons see correlated verdicts.
    Benchmark names ending in '-mc' are MC (chance 25% unless given), others OE."""
    rng = np.random.default_rng(7)
    benches = sorted({b for per in acc.values() for b in per})
    difficulty = {b: rng.normal(size=n) for b in benches}
    rows = []
    for (fmt, params), per in acc.items():
        ratio = 1.0 if fmt == "reasoning" else 0.0
        for seed in seeds:
            model = f"s{params}_general-r{ratio:g}_sequential" + (f"_s{seed}" if seed else "")
            for b, p in per.items():
                p_s = float(np.clip(p + rng.normal(0, seed_sd) if seed_sd else p, 0, 1))
                score = shared * difficulty[b] + math.sqrt(1 - shared**2) * rng.normal(size=n)
                correct = np.zeros(n, bool)
                correct[np.argsort(score)[: round(p_s * n)]] = True
                tokens = np.where(correct, 40, 60) * (4 if fmt == "reasoning" else 1)
                ev = pd.DataFrame(
                    {
                        "id": [f"{b}-{i}" for i in range(n)],
                        "correct": correct,
                        "tokens": tokens,
                        "prompt_tokens": 30,
                        "infer_flops": tokens * params * 2.0,
                        "response": "x",
                    }
                )
                path = out / "evals" / model / f"{b}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                ev.to_parquet(path, index=False)
                a = float(correct.mean())
                hw = 1.96 * math.sqrt(max(a * (1 - a), 1e-9) / n)
                mc = b.endswith("-mc")
                rows.append(
                    dict(
                        model=model,
                        kind="student",
                        student=f"s{params}",
                        params=params,
                        domain="general",
                        ratio=ratio,
                        schedule="sequential",
                        arm="",
                        seed=seed,
                        benchmark=b,
                        family="math" if "math" in b else "general",
                        format="MC" if mc else "OE",
                        chance=(chance or {}).get(b, 0.25 if mc else 0.0),
                        accuracy=a,
                        n=n,
                        mean_tokens=float(tokens.mean()),
                        train_flops=params * 1e6 * (1 + 3 * ratio),
                        infer_flops=float(ev["infer_flops"].sum()),
                        ci_low=a - hw,
                        ci_high=a + hw,
                        mean_tokens_correct=40.0,
                        mean_tokens_incorrect=60.0,
                    )
                )
    pd.DataFrame(rows).to_parquet(out / "results.parquet", index=False)
    return out
