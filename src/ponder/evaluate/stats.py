"""How far to trust a score: bootstrap confidence intervals and judge agreement statistics.

- `accuracy_ci`: percentile bootstrap 95% CI of one model's accuracy over items
  (scipy.stats.bootstrap, resampling items);
- `paired_diff_ci`: the CI of the accuracy difference of two models on the SAME items, resampling
  item indices jointly (paired), which is much tighter than two independent CIs;
- `judge_mae`: Appendix D.3's agreement number: for each pair of judges, the mean over benchmarks
  of |accuracy_i − accuracy_j| in points (the paper: 0.9, 1.0, 1.8 for its three pairs, median
  1.2); an abstention counts as "not correct" in a judge's accuracy;
- `fleiss_kappa`: chance-corrected agreement of the panel on yes/no, over the items where every
  judge voted (Fleiss, 1971);
- `disagreement_table`: rule scorer vs judge majority, counts and examples of each disagreement.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

N_RESAMPLES = 10_000


def _as01(x: Sequence) -> np.ndarray:
    return np.asarray([1.0 if v is True or v == 1 else 0.0 for v in x], dtype=float)


def accuracy_ci(
    correct: Sequence, level: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """(accuracy, low, high) in percent; None/False count as wrong."""
    a = _as01(correct)
    if len(a) == 0:
        return (float("nan"),) * 3
    acc = 100.0 * a.mean()
    if len(a) < 2 or a.min() == a.max():  # no variation to resample: the interval is the point
        return acc, acc, acc
    res = stats.bootstrap(
        (a,), np.mean, confidence_level=level, n_resamples=n_resamples,
        method="percentile", random_state=np.random.default_rng(seed),
    )  # fmt: skip
    ci = res.confidence_interval
    return acc, 100.0 * ci.low, 100.0 * ci.high


def paired_diff_ci(
    a: Sequence, b: Sequence, level: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """(acc_a − acc_b, low, high) in points, bootstrapping items jointly for both models."""
    x, y = _as01(a), _as01(b)
    if len(x) != len(y):
        raise ValueError(f"paired CI needs the same items: {len(x)} vs {len(y)} verdicts")
    diff = 100.0 * (x.mean() - y.mean()) if len(x) else float("nan")
    if len(x) < 2 or np.all(x - y == (x - y)[0]):
        return diff, diff, diff
    res = stats.bootstrap(
        (x, y), lambda u, v: np.mean(u) - np.mean(v), paired=True, confidence_level=level,
        n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed),
    )  # fmt: skip
    ci = res.confidence_interval
    return diff, 100.0 * ci.low, 100.0 * ci.high


def judge_mae(
    verdicts: Mapping[str, Mapping[str, Sequence[bool | None]]],
) -> dict[str, float]:
    """Pairwise mean absolute error between judges' benchmark accuracies (points).

    `verdicts[benchmark][judge]` is that judge's per-item verdicts. Returns {"A | B": mae, …,
    "median": median over pairs}.
    """
    judges = sorted({j for per in verdicts.values() for j in per})
    out: dict[str, float] = {}
    for ja, jb in itertools.combinations(judges, 2):
        errs = [
            abs(100.0 * _as01(per[ja]).mean() - 100.0 * _as01(per[jb]).mean())
            for per in verdicts.values()
            if ja in per and jb in per and len(per[ja])
        ]
        if errs:
            out[f"{ja} | {jb}"] = float(np.mean(errs))
    if out:
        out["median"] = float(statistics.median(out.values()))
    return out


def fleiss_kappa(ratings: Sequence[Sequence[bool | None]]) -> float:
    """Fleiss' κ for yes/no ratings, rows = items, columns = judges; rows with an abstention are
    left out (κ needs the same number of raters per item). Hand-written: ~10 lines, and the
    maintained implementation (statsmodels) is not otherwise a dependency."""
    rows = [r for r in ratings if len(r) >= 2 and all(v is not None for v in r)]
    if not rows:
        return float("nan")
    n = len(rows[0])
    counts = np.asarray([[sum(v is True for v in r), sum(v is False for v in r)] for r in rows])
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), (p_j**2).sum()
    return 1.0 if p_e == 1.0 else float((p_bar - p_e) / (1.0 - p_e))


def disagreement_table(
    ids: Sequence[str],
    rule: Sequence[bool],
    judge: Sequence[bool | None],
    extracted: Sequence[str] | None = None,
    golds: Sequence[str] | None = None,
    examples: int = 5,
) -> dict:
    """Counts of (rule, judge) outcomes and up to `examples` items of each disagreement."""
    cells = {"both_correct": 0, "both_wrong": 0, "rule_only": 0, "judge_only": 0}
    ex: dict[str, list[dict]] = {"rule_only": [], "judge_only": []}
    for i, (r, j) in enumerate(zip(rule, judge, strict=True)):
        r, j = bool(r), bool(j)
        key = "both_correct" if r and j else "both_wrong" if not (r or j) else (
            "rule_only" if r else "judge_only"
        )  # fmt: skip
        cells[key] += 1
        if key in ex and len(ex[key]) < examples:
            row = {"id": ids[i]}
            if extracted is not None:
                row["extracted"] = extracted[i]
            if golds is not None:
                row["gold"] = golds[i]
            ex[key].append(row)
    n = max(len(rule), 1)
    return {**cells, "agreement": 100.0 * (cells["both_correct"] + cells["both_wrong"]) / n,
            "examples": ex}  # fmt: skip
