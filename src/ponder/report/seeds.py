"""Aggregate per-seed results into the points the figures draw: benchmark or category means of
each configuration, averaged over replicate seeds, with two 95% CIs.

For one configuration (the `keys`) and one seed, benchmarks are averaged first (the paper's
category panels average their benchmarks, §2.3); then seeds are averaged. Every point carries
- `ci`: the half-width of the per-item bootstrap CI (from `ci_low/ci_high` of each results row,
  i.e. `evaluate/stats.accuracy_ci`) propagated to the mean: sqrt(Σ hw²) / (k·S) over k
  benchmarks and S seeds, treating them as independent; it measures test-set noise only;
- `ci_seed`: the half-width of Student's t-interval over the S per-seed means (NaN for S < 2);
  it measures training randomness (init, data order) on the fixed test set;
- `seed_values`: the per-seed means, which the figures draw as small dots around the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ponder.evaluate.stats import seed_ci

MEANS = {  # output column: results column, averaged over benchmarks, then over seeds
    "accuracy": "accuracy",
    "rule_accuracy": "rule_accuracy",
    "judge_accuracy": "judge_accuracy",
    "mean_tokens": "mean_tokens",
    "train_flops": "train_flops",
    "infer_flops": "infer_flops",
    "tokens_correct": "mean_tokens_correct",
    "tokens_incorrect": "mean_tokens_incorrect",
    "chance": "chance",
}


def _per_seed(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    d = rows.assign(hw2=((rows["ci_high"] - rows["ci_low"]) / 2) ** 2)
    g = d.groupby(keys + ["seed"], dropna=False, sort=True)
    out = g.agg(
        **{k: (v, "mean") for k, v in MEANS.items()},
        hw2=("hw2", lambda s: s.sum(min_count=len(s))),
        k=("benchmark", "nunique"),
        models=("model", lambda s: sorted(set(s))),
    ).reset_index()
    out["var_mean"] = out.pop("hw2") / out["k"] ** 2
    return out


def aggregate(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per `keys` group: seed means of the benchmark-averaged columns, `ci`, `ci_seed`,
    `seeds`, `seed_values`, `k` (benchmarks) and `models` (every model id behind the point)."""
    if rows.empty:
        cols = keys + list(MEANS) + ["ci", "ci_seed", "seeds", "seed_values", "k", "models"]
        return pd.DataFrame(columns=cols)
    per = _per_seed(rows, keys)
    out = []
    for key, g in per.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        vals = g["accuracy"].to_list()
        _, lo, hi = seed_ci(vals)
        s = len(g)
        var = g["var_mean"].sum(min_count=s)
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                **{c: g[c].mean() for c in MEANS},
                "ci": float(np.sqrt(var) / s) if np.isfinite(var) else np.nan,
                "ci_seed": (hi - lo) / 2,
                "seeds": s,
                "seed_values": vals,
                "k": int(g["k"].max()),
                "models": sorted({m for ms in g["models"] for m in ms}),
            }
        )
    return pd.DataFrame(out)


def by_category(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`aggregate` per task category (the paper's aggregated panels)."""
    return aggregate(rows, keys + ["category"])


def by_benchmark(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`aggregate` per benchmark (the task-level figures of Appendix G and F.1)."""
    extra = [c for c in ("category", "field") if c in rows.columns and c not in keys]
    return aggregate(rows, keys + ["benchmark"] + extra)
