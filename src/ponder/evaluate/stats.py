"""How far to trust a score: bootstrap confidence intervals and judge agreement statistics.

- `accuracy_ci`: percentile bootstrap 95% CI of one model's accuracy over items
  (scipy.stats.bootstrap, resampling items);
- `paired_diff_ci`: the CI of the accuracy difference of two models on the SAME items, resampling
  item indices jointly (paired), which is much tighter than two independent CIs;
- `contrast_ci`: the CI of a linear combination of per-item scores over several benchmarks (a
  difference of two models, a gap averaged over sizes, a difference of gains), resampling items
  within each benchmark, all models' answers to an item together (stratified, paired);
- `seed_ci`: Student's t-interval over replicate seeds (the training randomness the per-item
  bootstrap does not see);
- `length_ratio_ci`: mean tokens of incorrect over correct answers, resampling items (Fig. 8);
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
        (a,),
        np.mean,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
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
        (x, y),
        lambda u, v: np.mean(u) - np.mean(v),
        paired=True,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return diff, 100.0 * ci.low, 100.0 * ci.high


def contrast_ci(
    parts: Sequence[np.ndarray], level: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(Σ_g mean(parts[g]), low, high): parts[g] holds one benchmark's per-item contributions
    (each model's verdict on the item times its weight, summed), so resampling an item moves every
    model's answer to it together; benchmarks are resampled independently (scipy's multi-sample
    bootstrap with paired=False). Fractions, not points; 2,000 resamples keep a report of ~100
    comparisons to seconds while the percentile endpoints move by ~1% of the interval's width."""
    xs = [np.asarray(p, float) for p in parts if len(p)]
    if not xs:
        return (float("nan"),) * 3
    point = float(sum(x.mean() for x in xs))
    varied = [x for x in xs if len(x) >= 2 and x.min() != x.max()]
    if not varied:  # nothing to resample: the interval is the point
        return point, point, point
    fixed = point - sum(x.mean() for x in varied)
    res = stats.bootstrap(
        tuple(varied),
        lambda *s, axis: sum(np.mean(x, axis=axis) for x in s),
        paired=False,
        vectorized=True,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
        batch=250,
    )
    ci = res.confidence_interval
    return point, float(ci.low + fixed), float(ci.high + fixed)


def seed_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student's t-interval over seeds; low = high = NaN with fewer than 2."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if len(v) == 0:
        return (float("nan"),) * 3
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    hw = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - hw, m + hw


def length_ratio_ci(
    tokens: Sequence[float],
    correct: Sequence[bool],
    level: float = 0.95,
    seed: int = 0,
    n_resamples: int = 2000,
) -> tuple[float, float, float]:
    """(mean tokens of incorrect / of correct answers, low, high), resampling items; the CI is NaN
    with fewer than 5 answers in either group. Hand-written percentile bootstrap: scipy's interval
    is NaN as soon as one resample has an empty group, which happens at ~5 answers per group."""
    t, c = np.asarray(tokens, float), np.asarray(correct, bool)
    n_ok = int(c.sum())
    if n_ok == 0 or n_ok == len(c):
        return (float("nan"),) * 3
    point = float(t[~c].mean() / t[c].mean())
    if min(n_ok, len(c) - n_ok) < 5:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(t), (n_resamples, len(t)))
    tt, cc = t[idx], c[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((tt * ~cc).sum(1) / (~cc).sum(1)) / ((tt * cc).sum(1) / cc.sum(1))
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(r, [alpha, 1 - alpha])
    return point, float(lo), float(hi)


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
        key = (
            "both_correct"
            if r and j
            else "both_wrong"
            if not (r or j)
            else ("rule_only" if r else "judge_only")
        )
        cells[key] += 1
        if key in ex and len(ex[key]) < examples:
            row = {"id": ids[i]}
            if extracted is not None:
                row["extracted"] = extracted[i]
            if golds is not None:
                row["gold"] = golds[i]
            ex[key].append(row)
    n = max(len(rule), 1)
    return {
        **cells,
        "agreement": 100.0 * (cells["both_correct"] + cells["both_wrong"]) / n,
        "examples": ex,
    }
