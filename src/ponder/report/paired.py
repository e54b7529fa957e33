"""Paired comparisons behind every comparison sentence of the report.

A `Contrast` is a weighted sum of configurations' accuracies, each configuration on one benchmark
averaged over its seeds: "reasoning − IFT at 2M" is (+1, reasoning rows), (−1, IFT rows); a gap
averaged over sizes and benchmarks or a difference of two gains is the same shape with more
terms. `Contrast.result()` gives a `Diff` with two 95% CIs:

- `lo, hi`, per item: each term's per-item verdicts (seed-averaged) are weighted and summed per
  benchmark, so an item's answers from every model move together when items are resampled
  (`evaluate/stats.contrast_ci`: paired within a benchmark, benchmarks independent). Without
  per-item files for some term it falls back to a normal interval from the rows' own CIs
  (`paired=False`), which ignores the pairing and is wider;
- `seed_lo, seed_hi`, across seeds: the contrast computed seed by seed (terms with one seed,
  e.g. the teacher, enter every seed), then Student's t over the seeds (NaN with < 2).

`significant` needs both intervals to exclude 0 on the same side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ponder.evaluate.stats import contrast_ci, seed_ci
from ponder.report.data import ReportData


@dataclass(frozen=True)
class Diff:
    diff: float  # fraction (0.05 = 5 points)
    lo: float
    hi: float
    seed_lo: float = float("nan")
    seed_hi: float = float("nan")
    seeds: int = 1
    paired: bool = True
    per_seed: tuple[float, ...] = ()  # the contrast seed by seed (drawn as dots)

    @property
    def sign(self) -> int:
        """+1 / −1 when both CIs exclude 0 on that side, else 0 (no significant difference)."""
        for s in (1, -1):
            items = self.lo > 0 if s > 0 else self.hi < 0
            across = self.seeds < 2 or (self.seed_lo > 0 if s > 0 else self.seed_hi < 0)
            if items and across:
                return s
        return 0

    @property
    def significant(self) -> bool:
        return self.sign != 0

    def __neg__(self) -> Diff:
        return Diff(
            -self.diff,
            -self.hi,
            -self.lo,
            -self.seed_hi,
            -self.seed_lo,
            self.seeds,
            self.paired,
            tuple(-x for x in self.per_seed),
        )


@dataclass
class Contrast:
    data: ReportData
    terms: list[tuple[float, pd.DataFrame]] = field(default_factory=list)  # (weight, rows)
    const: float = 0.0  # e.g. −chance

    def add(self, weight: float, rows: pd.DataFrame) -> Contrast:
        """One configuration on one benchmark (several seeds allowed)."""
        assert rows["benchmark"].nunique() == 1, "one benchmark per term"
        self.terms.append((weight, rows))
        return self

    def minus(self, other: Contrast) -> Contrast:
        return Contrast(
            self.data, self.terms + [(-w, r) for w, r in other.terms], self.const - other.const
        )

    def result(self) -> Diff:
        point = self.const + sum(w * r["accuracy"].mean() for w, r in self.terms)
        parts = self._parts()
        if parts is not None:
            _, lo, hi = contrast_ci(list(parts.values()))
            lo, hi = lo + self.const, hi + self.const
            paired = True
        else:
            hw = float(np.sqrt(sum((w * _hw(r)) ** 2 for w, r in self.terms)))
            lo, hi, paired = point - hw, point + hw, False
        per_seed = self._per_seed()
        _, slo, shi = seed_ci(per_seed)
        return Diff(
            float(point),
            float(lo),
            float(hi),
            slo,
            shi,
            max(1, len(per_seed)),
            paired,
            tuple(per_seed),
        )

    def _parts(self) -> dict[str, np.ndarray] | None:
        """Per benchmark, Σ weight × seed-mean verdict per item over the items every term has."""
        sums: dict[str, pd.Series] = {}
        for w, rows in self.terms:
            vecs = [
                self.data.items(m, b) for m, b in zip(rows["model"], rows["benchmark"], strict=True)
            ]
            if any(v is None for v in vecs):
                return None
            v = pd.concat(vecs, axis=1, join="inner").mean(axis=1) * w
            b = rows["benchmark"].iloc[0]
            sums[b] = v if b not in sums else sums[b].add(v).dropna()  # common items only
        return {b: s.to_numpy() for b, s in sums.items()}

    def _per_seed(self) -> list[float]:
        by_seed = [(w, r.groupby("seed")["accuracy"].mean().to_dict()) for w, r in self.terms]
        multi = [set(v) for _, v in by_seed if len(v) > 1]
        if not multi:
            return []
        out = []
        for s in sorted(set.intersection(*multi)):
            # A term with one seed (the teacher, a base checkpoint) enters every seed's contrast.
            out.append(
                self.const
                + sum(w * (v[s] if len(v) > 1 else next(iter(v.values()))) for w, v in by_seed)
            )
        return [float(x) for x in out]


def _hw(rows: pd.DataFrame) -> float:
    """Per-item CI half-width of a seed mean (rows of one configuration on one benchmark)."""
    hw = (rows["ci_high"] - rows["ci_low"]) / 2
    return float(np.sqrt((hw**2).sum()) / len(rows)) if hw.notna().all() else 0.0


def cells(rows: pd.DataFrame, by: list[str]) -> dict[tuple, pd.DataFrame]:
    """Split rows into (by…, benchmark) cells: one configuration on one benchmark each."""
    return {
        k if isinstance(k, tuple) else (k,): g
        for k, g in rows.groupby(by + ["benchmark"], sort=True, dropna=False)
    }


def diff(
    data: ReportData, a: pd.DataFrame, b: pd.DataFrame, by: list[str] | None = None
) -> Contrast:
    """Mean over matched cells of (a − b): rows of a and b are matched on `by` + benchmark
    (e.g. by=["params"] pairs each size's reasoning student with its IFT student)."""
    by = by or []
    ca, cb = cells(a, by), cells(b, by)
    keys = sorted(set(ca) & set(cb), key=str)
    c = Contrast(data)
    for k in keys:
        c.add(1 / len(keys), ca[k]).add(-1 / len(keys), cb[k])
    return c


def mean_of(data: ReportData, a: pd.DataFrame, by: list[str] | None = None) -> Contrast:
    """Mean accuracy over the cells of a (a contrast with positive weights only)."""
    ca = cells(a, by or [])
    c = Contrast(data)
    for k in ca:
        c.add(1 / len(ca), ca[k])
    return c


def above_chance(data: ReportData, rows: pd.DataFrame) -> Diff:
    """Accuracy minus the accuracy of guessing, averaged over the benchmarks of `rows`."""
    c = mean_of(data, rows)
    c.const = -float(rows.groupby("benchmark")["chance"].first().mean())
    return c.result()


def average(contrasts: list[Contrast]) -> Contrast:
    """The mean of several contrasts (e.g. a gap averaged over ratios), as one contrast."""
    out = Contrast(contrasts[0].data)
    for c in contrasts:
        out.terms += [(w / len(contrasts), r) for w, r in c.terms]
        out.const += c.const / len(contrasts)
    return out


def per_item(data: ReportData, rows: pd.DataFrame, fn, by: list[str] | None = None) -> Diff:
    """Mean over (by…, benchmark) cells of a per-item quantity `fn(model, benchmark)` -> Series
    by item id (e.g. the accuracy an early-stopping cut loses), with the same two CIs as a
    `Contrast`; None from `fn` (no per-item file) leaves that model out."""
    cs = cells(rows, by or [])
    sums: dict[str, pd.Series] = {}
    seed_vals: dict[int, list[float]] = {}
    for _, g in cs.items():
        vecs = {s: fn(m, b) for m, b, s in zip(g["model"], g["benchmark"], g["seed"], strict=True)}
        vecs = {s: v for s, v in vecs.items() if v is not None}
        if not vecs:
            continue
        v = pd.concat(vecs.values(), axis=1, join="inner").mean(axis=1) / len(cs)
        b = g["benchmark"].iloc[0]
        sums[b] = v if b not in sums else sums[b].add(v).dropna()
        for s, x in vecs.items():
            seed_vals.setdefault(s, []).append(float(x.mean()))
    if not sums:
        nan = float("nan")
        return Diff(nan, nan, nan)
    point, lo, hi = contrast_ci([s.to_numpy() for s in sums.values()])
    full = [np.mean(v) for v in seed_vals.values() if len(v) == len(cs)]
    _, slo, shi = seed_ci(full) if len(seed_vals) > 1 else (0, float("nan"), float("nan"))
    n = len(full) if len(seed_vals) > 1 else 1
    return Diff(point, lo, hi, slo, shi, n, True, tuple(full) if n > 1 else ())
