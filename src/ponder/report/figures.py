"""Drawing helpers shared by every figure (matplotlib, Agg backend), styled after the paper.

One panel per task category (the paper's 2×2 taxonomy) or per benchmark (task-level figures).
IFT is purple and dotted, reasoning blue and dashed, as in Fig. 7. A point is the mean over
seeds; its error bar is the 95% CI the analysis table carries in `ci` (per-item bootstrap of the
seed mean, or the paired CI of a gap); with several seeds each seed is also drawn as a small
hollow dot, so the spread across seeds is visible. Every figure names its metric in its title.
The figures themselves are in `report.draw_perf` and `report.draw_eff`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ponder.report.data import Analysis  # noqa: E402
from ponder.report.fits import SaturatingFit, frontier_steps  # noqa: E402
from ponder.rundir import atomic_write  # noqa: E402

FMT = {"IFT": ("#7b3fa0", ":"), "reasoning": ("#1f6fd1", "--")}
CAT_COLORS = {
    "general-MC": "#e07b39",
    "general-OE": "#c9a227",
    "math-MC": "#3c8d5a",
    "math-OE": "#2a6f97",
}
DPI = 110


def panels(t: pd.DataFrame, by: str = "category", width: float = 3.4, cols: int = 4):
    names = sorted(t[by].dropna().unique())
    cols = min(cols, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, 2.9 * rows + 0.3), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    return fig, list(zip(names, axes.flat, strict=False))


def save(fig, out: Path, a: Analysis) -> str:
    if a.metric:
        fig.suptitle(f"{a.paper} · score: {a.metric}", fontsize=8, color="#555")
    atomic_write(out, lambda p: fig.savefig(p, dpi=DPI, format="png"))
    plt.close(fig)
    return out.name


def frontier(ax, cost: np.ndarray, acc: np.ndarray) -> None:
    """Black dashed Pareto staircase; red shading over the region it dominates (Figs. 6, 7)."""
    ok = np.isfinite(cost) & np.isfinite(acc)
    if not ok.any():
        return
    xs, ys = frontier_steps(cost[ok], acc[ok])
    right = cost[ok].max() * 3
    xs, ys = np.append(xs, right), np.append(ys, ys[-1])
    ax.plot(xs, ys, "k--", lw=1, label="Pareto frontier", drawstyle="steps-post")
    ax.fill_between(xs, 0, ys, step="post", color="red", alpha=0.08, lw=0)


def sizes_axis(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("student parameters")


def seed_dots(ax, x, values, color, scale: float = 100.0) -> None:
    """Each seed's value as a small hollow dot at the point's x (only with ≥ 2 seeds)."""
    for xi, vs in zip(np.asarray(x, float), values, strict=True):
        vs = list(vs) if isinstance(vs, list | tuple | np.ndarray) else []
        if len(vs) >= 2:
            ax.scatter(
                [xi] * len(vs),
                np.asarray(vs, float) * scale,
                s=9,
                facecolors="none",
                edgecolors=color,
                linewidths=0.7,
                zorder=4,
                alpha=0.8,
            )


def points(
    ax, g: pd.DataFrame, x: str, color, *, y: str = "accuracy", scale: float = 100.0, **kw
) -> None:
    """Seed means with their CI (`ci`) as error bars, plus each seed (`seed_values`)."""
    yerr = g["ci"].to_numpy(float) * scale if "ci" in g.columns else None
    ax.errorbar(g[x], g[y] * scale, yerr=yerr, color=color, capsize=2, **kw)
    if "seed_values" in g.columns:
        seed_dots(ax, g[x], g["seed_values"], color, scale)


def legend(ax) -> None:
    h, labels = ax.get_legend_handles_labels()
    keep = {lab: hh for hh, lab in zip(h, labels, strict=True)}
    if keep:
        ax.legend(keep.values(), keep.keys(), fontsize=6)


def pareto_panels(
    a: Analysis, cost: str, color_by: str, xlabel: str, out: Path, by: str = "category"
) -> str:
    """Accuracy vs a cost, one panel per `by`: frontier, points with CIs, saturating fits."""
    fig, pans = panels(a.table, by, cols=3 if by != "category" else 4)
    sc = None
    for name, ax in pans:
        p = a.table[a.table[by] == name]
        frontier(ax, p[cost].to_numpy(float), p["accuracy"].to_numpy(float) * 100)
        if color_by == "ratio":
            sc = ax.scatter(
                p[cost],
                p["accuracy"] * 100,
                c=p["ratio"] * 100,
                cmap="viridis",
                s=12 + 30 * np.log10(p["params"] / p["params"].min() + 1),
                zorder=3,
            )
            ax.errorbar(
                p[cost],
                p["accuracy"] * 100,
                yerr=p["ci"] * 100,
                fmt="none",
                ecolor="grey",
                lw=0.6,
                zorder=2,
            )
            seed_dots(ax, p[cost], p["seed_values"], "grey")
        else:
            for fmt, g in p.groupby("fmt"):
                points(ax, g, cost, FMT[fmt][0], fmt="o", ms=4, label=fmt, zorder=3)
        for f in a.fits:
            if f[by] == name:
                fit = SaturatingFit(
                    **{k: f[k] for k in ("alpha", "beta", "gamma", "delta", "mae", "cap", "n")}
                )
                xs = np.logspace(np.log10(p[cost].min() / 2), np.log10(p[cost].max() * 2), 100)
                color, ls = FMT[f["fmt"]]
                ax.plot(xs, fit(xs) * 100, ls=ls, color=color, lw=1.2)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(name, fontsize=9)
        ax.set_ylim(bottom=max(0, p["accuracy"].min() * 100 - 10))
    if sc is not None:
        fig.colorbar(sc, ax=[ax for _, ax in pans], label="reasoning ratio ρ (%)", shrink=0.8)
    else:
        legend(pans[0][1])
    return save(fig, out, a)
