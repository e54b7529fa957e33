"""Curve fits and frontiers behind the paper's efficiency figures.

- `pareto_mask`: which (cost, accuracy) points are Pareto-optimal (Figs. 6, 7, 15).
- `fit_saturating`: Appendix E's f(x) = α + β(1 − exp(−γ x^δ)) by mean absolute error under
  α, β > 0, α + β ≤ cap (teacher accuracy), γ > 0, 0 < δ ≤ 1 (Fig. 7 curves).
- `fit_loglinear`: y = α x^β by least squares in log–log space (Appendix F.5, Fig. 17).
- `fit_decode_cost`: recover an item's cost at a shorter generation length from per-item
  (prompt tokens, generated tokens, FLOPs), using the functional form of Appendix C Eq. (4)–(6)
  (early stopping, Fig. 15).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import differential_evolution, minimize


def pareto_mask(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """True for points no other point beats: lower-or-equal cost and higher-or-equal accuracy,
    strictly better in one. Exact duplicates are both kept (neither strictly beats the other)."""
    cost, acc = np.asarray(cost, float), np.asarray(acc, float)
    # O(n^2) by hand: n is a few dozen models; no maintained library owns a 2-D Pareto mask.
    le_cost = cost[None, :] <= cost[:, None]
    ge_acc = acc[None, :] >= acc[:, None]
    strict = (cost[None, :] < cost[:, None]) | (acc[None, :] > acc[:, None])
    return ~np.any(le_cost & ge_acc & strict, axis=1)


def frontier_steps(cost: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Pareto frontier as a staircase (x, y) to draw: best accuracy reachable at each cost."""
    mask = pareto_mask(cost, acc)
    order = np.argsort(np.asarray(cost)[mask], kind="stable")
    fx, fy = np.asarray(cost, float)[mask][order], np.asarray(acc, float)[mask][order]
    xs, ys = [fx[0]], [fy[0]]
    for x, y in zip(fx[1:], fy[1:], strict=True):
        xs += [x, x]
        ys += [ys[-1], y]
    return np.array(xs), np.array(ys)


@dataclass(frozen=True)
class SaturatingFit:
    """f(x) = alpha + beta * (1 - exp(-gamma * x**delta)); x in raw FLOPs."""

    alpha: float
    beta: float
    gamma: float
    delta: float
    mae: float
    cap: float
    n: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        # γ·x^δ computed as exp(log γ + δ log x): γ is ~1e-6 and x ~1e15, so the direct
        # product under/overflows for small δ.
        return self.alpha + self.beta * (
            1.0 - np.exp(-np.exp(np.log(self.gamma) + self.delta * np.log(x)))
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _sat(theta: np.ndarray, lx: np.ndarray, cap: float) -> np.ndarray:
    # θ = (a, b, log γ', δ) with α = a·cap and β = b·(cap − α): the box a, b ∈ (0, 1]
    # encodes α, β > 0 and α + β ≤ cap exactly, so the optimiser only needs bounds.
    a, b, lg, d = theta
    alpha = a * cap
    beta = b * (cap - alpha)
    return alpha + beta * (1.0 - np.exp(-np.exp(np.clip(lg + d * lx, -50, 50))))


def fit_saturating(x: np.ndarray, y: np.ndarray, cap: float = 1.0, seed: int = 0) -> SaturatingFit:
    """Appendix E's saturating curve, minimising mean absolute error under its constraints.

    MAE is non-differentiable and the (γ, δ) surface has long flat valleys, so a gradient method
    (SLSQP, L-BFGS-B) stalls: we use scipy's differential_evolution (global, derivative-free,
    seeded, so deterministic) on a reparameterised box, then polish with bounded Nelder–Mead.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if len(x) < 2:
        raise ValueError("saturating fit needs at least 2 points with positive FLOPs")
    if not 0 < cap <= 1:
        raise ValueError(f"cap must be in (0, 1], got {cap}")
    # FLOPs span 1e9..1e20; fit on x / s with s the geometric mean so log γ' is O(1).
    lscale = float(np.mean(np.log(x)))
    lx = np.log(x) - lscale
    eps = 1e-6

    def loss(theta: np.ndarray) -> float:
        return float(np.mean(np.abs(_sat(theta, lx, cap) - y)))

    bounds = [(eps, 1.0), (eps, 1.0), (-12.0, 12.0), (eps, 1.0)]
    de = differential_evolution(
        loss, bounds, seed=seed, tol=1e-10, atol=1e-12, maxiter=150, popsize=10, polish=False
    )
    nm = minimize(
        loss,
        de.x,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    )
    best = nm.x if nm.fun <= de.fun else de.x
    a, b, lg, d = best
    alpha = a * cap
    beta = b * (cap - alpha)
    # Back to raw FLOPs: γ'·(x/s)^δ = γ'·s^(−δ)·x^δ.
    gamma = float(np.exp(lg - d * lscale))
    return SaturatingFit(float(alpha), float(beta), gamma, float(d), loss(best), cap, len(x))


@dataclass(frozen=True)
class LogLinearFit:
    """y = alpha * x**beta, fitted as log y = log alpha + beta log x."""

    alpha: float
    beta: float
    r2: float
    n: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.alpha * np.asarray(x, float) ** self.beta


def fit_loglinear(x: np.ndarray, y: np.ndarray) -> LogLinearFit:
    """Least squares on (log x, log y), as Fig. 17's 'log-linear scaling trends'."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if len(np.unique(lx)) < 2:
        raise ValueError("log-linear fit needs at least 2 distinct positive x values")
    beta, lalpha = np.polyfit(lx, ly, 1)
    resid = ly - (lalpha + beta * lx)
    ss = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss if ss > 0 else 1.0
    return LogLinearFit(float(np.exp(lalpha)), float(beta), r2, int(ok.sum()))


def _decode_basis(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    # Eq. (4) is c0 + c1·l_p + c2·l_p²; Eq. (5) is A + B·(context) per cached step, so Eq. (6)'s
    # sum over i = 1..l_g adds A·l_g + B·(l_g·l_p + l_g(l_g+1)/2). The method `exact` keeps the
    # same shape (only the coefficients change), so one linear basis covers both.
    p, g = np.asarray(p, float), np.asarray(g, float)
    return np.stack([np.ones_like(p), p, p * p, g, g * p + g * (g + 1) / 2], axis=1)


def fit_decode_cost(
    prompt_tokens: np.ndarray, gen_tokens: np.ndarray, flops: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Return cost(p, g) fitted to per-item FLOPs of one model on one benchmark.

    Exact when the items span enough distinct prompt and answer lengths; otherwise the
    minimum-norm least-squares solution still reproduces every observed item, and early-stopping
    cuts are percentiles of the observed lengths, so it only interpolates.
    """
    basis = _decode_basis(prompt_tokens, gen_tokens)
    f = np.asarray(flops, float)
    norm = np.linalg.norm(basis, axis=0)
    norm[norm == 0] = 1.0
    coef, *_ = np.linalg.lstsq(basis / norm, f, rcond=None)
    coef = coef / norm
    return lambda p, g: _decode_basis(p, g) @ coef
