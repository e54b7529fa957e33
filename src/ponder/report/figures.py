"""Draw each `Analysis` as PNG figures (matplotlib, Agg backend), styled after the paper.

One panel per task category (the paper's 2×2 taxonomy), or per benchmark for the task-level
versions (Appendix G). IFT is purple and dotted, reasoning blue and dashed, as in Fig. 7;
bootstrap 95% CIs are drawn as error bars where the paper had none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ponder.report.analyses import Analysis  # noqa: E402
from ponder.report.fits import SaturatingFit, frontier_steps  # noqa: E402
from ponder.rundir import atomic_write  # noqa: E402

FMT = {"IFT": ("#7b3fa0", ":"), "reasoning": ("#1f6fd1", "--")}
CAT_COLORS = {"general-MC": "#e07b39", "general-OE": "#c9a227", "math-MC": "#3c8d5a",
              "math-OE": "#2a6f97"}  # fmt: skip
DPI = 110


def _panels(t: pd.DataFrame, by: str = "category", width: float = 3.4):
    names = sorted(t[by].dropna().unique())
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, 2.9 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    return fig, list(zip(names, axes.flat, strict=False))


def _save(fig, out: Path) -> str:
    atomic_write(out, lambda p: fig.savefig(p, dpi=DPI, format="png"))
    plt.close(fig)
    return out.name


def _frontier(ax, cost: np.ndarray, acc: np.ndarray) -> None:
    """Black dashed Pareto staircase; red shading over the region it dominates (Figs. 6, 7)."""
    xs, ys = frontier_steps(cost, acc)
    right = cost.max() * 3
    xs, ys = np.append(xs, right), np.append(ys, ys[-1])
    ax.plot(xs, ys, "k--", lw=1, label="Pareto frontier", drawstyle="steps-post")
    ax.fill_between(xs, 0, ys, step="post", color="red", alpha=0.08, lw=0)


def _sizes_axis(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("student parameters")


def fig1(a: Analysis, out: Path) -> list[str]:
    t = a.table
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for cat, g in t.groupby("category"):
        ax.scatter(g["token_factor"], g["gain"] * 100, color=CAT_COLORS.get(cat), label=cat, s=40)
    for _, r in t.iterrows():
        ax.annotate(r["benchmark"], (r["token_factor"], r["gain"] * 100), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")  # fmt: skip
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("extra-token factor (reasoning / IFT tokens)")
    ax.set_ylabel("accuracy gain (pts)")
    ax.legend(fontsize=7)
    return [_save(fig, out / "fig1_task_sensitivity.png")]


def _accuracy_by_size(t: pd.DataFrame, by: str, out: Path) -> str:
    fig, panels = _panels(t, by)
    students = t[t["kind"] == "student"]
    for name, ax in panels:
        p = students[students[by] == name]
        for series, g in p.groupby("series"):
            g = g.sort_values("params")
            color, ls = FMT["reasoning" if "reasoning" in series else "IFT"]
            ls = "-" if series.startswith("general") else ls
            ax.errorbar(g["params"], g["accuracy"] * 100, yerr=g["ci"] * 100, color=color,
                        ls=ls, marker="o" if series.startswith("general") else "s", ms=4,
                        capsize=2, label=series)  # fmt: skip
        base = t[(t["kind"] == "base") & (t[by] == name)]
        ax.scatter(base["params"], base["accuracy"] * 100, color="grey", marker="x", label="base")
        teach = t[(t["kind"] == "teacher") & (t[by] == name)]
        if len(teach):
            ax.axhline(teach["accuracy"].mean() * 100, color="k", lw=1, label="teacher")
        ax.set_title(name, fontsize=9)
        _sizes_axis(ax)
        ax.set_ylabel("accuracy (%)")
    panels[0][1].legend(fontsize=6)
    return _save(fig, out)


def fig2(a: Analysis, out: Path) -> list[str]:
    files = [_accuracy_by_size(a.table, "category", out / "fig2_mono_phasic.png")]
    if a.detail is not None and a.detail["benchmark"].nunique() > a.table["category"].nunique():
        files.append(_accuracy_by_size(a.detail, "benchmark", out / "fig18_mono_phasic_tasks.png"))
    return files


def fig3(a: Analysis, out: Path) -> list[str]:
    fig, panels = _panels(a.table)
    for name, ax in panels:
        p = a.table[a.table["category"] == name]
        twin = ax.twinx()
        for (s, g), c in zip(p.groupby("schedule"), ("#d1495b", "#00798c"), strict=False):
            g = g.sort_values("ratio")
            ax.plot(g["ratio"] * 100, g["gap"] * 100, "-o", color=c, ms=4, label=f"{s} (gap)")
            twin.plot(g["ratio"] * 100, g["mean_tokens"], "--", color=c, label=f"{s} (tokens)")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("reasoning ratio ρ (%)")
        ax.set_ylabel("gap to ρ=0 (pts)")
        twin.set_ylabel("mean answer tokens", fontsize=8)
    panels[0][1].legend(fontsize=6, loc="upper left")
    return [_save(fig, out / "fig3_sequential_vs_mixed.png")]


def fig4(a: Analysis, out: Path) -> list[str]:
    fig, panels = _panels(a.table)
    cmap = plt.get_cmap("viridis")
    sizes = sorted(a.table["params"].unique())
    for name, ax in panels:
        p = a.table[a.table["category"] == name]
        for params, g in p.groupby("params", sort=True):
            i, g = sizes.index(params), g.sort_values("ratio")
            ax.plot(g["ratio"] * 100, g["gap"] * 100, "-o", ms=4,
                    color=cmap(i / max(1, len(sizes) - 1)), label=g["student"].iloc[0])  # fmt: skip
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("reasoning ratio ρ (%)")
        ax.set_ylabel("gap to IFT (pts)")
    panels[0][1].legend(fontsize=6)
    return [_save(fig, out / "fig4_ratio_gap.png")]


def _grouped_bars(ax, p: pd.DataFrame, series: list[str], value: str, scale: float = 1.0):
    students = p.sort_values("params")["student"].unique()
    w = 0.8 / max(1, len(series))
    cmap = plt.get_cmap("tab10")
    for j, s in enumerate(series):
        v = p[p["series"] == s].set_index("student")[value].reindex(students) * scale
        ax.bar(np.arange(len(students)) + j * w - 0.4 + w / 2, v, w, label=s, color=cmap(j))
    ax.set_xticks(np.arange(len(students)), students, fontsize=7)
    return students


def fig5(a: Analysis, out: Path) -> list[str]:
    fig, panels = _panels(a.table, width=4.2)
    series = sorted(a.table["series"].unique())
    for name, ax in panels:
        _grouped_bars(ax, a.table[a.table["category"] == name], series, "gap", 100)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("gap to general IFT (pts)")
    panels[0][1].legend(fontsize=6)
    return [_save(fig, out / "fig5_domain_adaptation.png")]


def _pareto_panels(a: Analysis, cost: str, color_by: str, xlabel: str, out: Path) -> str:
    fig, panels = _panels(a.table)
    for name, ax in panels:
        p = a.table[a.table["category"] == name]
        _frontier(ax, p[cost].to_numpy(float), p["accuracy"].to_numpy(float) * 100)
        if color_by == "ratio":
            sc = ax.scatter(p[cost], p["accuracy"] * 100, c=p["ratio"] * 100, cmap="viridis",
                            s=12 + 30 * np.log10(p["params"] / p["params"].min() + 1), zorder=3)  # fmt: skip
            ax.errorbar(p[cost], p["accuracy"] * 100, yerr=p["ci"] * 100, fmt="none",
                        ecolor="grey", lw=0.6, zorder=2)  # fmt: skip
        else:
            for fmt, g in p.groupby("fmt"):
                ax.errorbar(g[cost], g["accuracy"] * 100, yerr=g["ci"] * 100, fmt="o", ms=4,
                            color=FMT[fmt][0], capsize=2, label=fmt, zorder=3)  # fmt: skip
        for f in a.fits:
            if f["category"] == name:
                fit = SaturatingFit(
                    **{k: f[k] for k in (["alpha", "beta", "gamma", "delta", "mae", "cap", "n"])}
                )
                xs = np.logspace(np.log10(p[cost].min() / 2), np.log10(p[cost].max() * 2), 100)
                color, ls = FMT[f["fmt"]]
                ax.plot(xs, fit(xs) * 100, ls=ls, color=color, lw=1.2)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(name, fontsize=9)
        ax.set_ylim(bottom=max(0, p["accuracy"].min() * 100 - 10))
    if color_by == "ratio":
        fig.colorbar(sc, ax=[ax for _, ax in panels], label="reasoning ratio ρ (%)", shrink=0.8)
    else:
        panels[0][1].legend(fontsize=6)
    return _save(fig, out)


def fig6(a: Analysis, out: Path) -> list[str]:
    return [_pareto_panels(a, "train_flops", "ratio", "training FLOPs",
                           out / "fig6_training_pareto.png")]  # fmt: skip


def fig7(a: Analysis, out: Path) -> list[str]:
    return [_pareto_panels(a, "infer_flops", "fmt", "inference FLOPs",
                           out / "fig7_inference_pareto.png")]  # fmt: skip


def fig8(a: Analysis, out: Path) -> list[str]:
    fig, panels = _panels(a.table, width=3.8)
    for name, ax in panels:
        p = a.table[a.table["category"] == name].sort_values("params")
        x = np.arange(len(p))
        ax.bar(x - 0.2, p["tokens_correct"], 0.4, color="#3c8d5a", label="correct")
        ax.bar(x + 0.2, p["tokens_incorrect"], 0.4, color="#d1495b", label="incorrect")
        ax.set_xticks(x, p["student"], fontsize=7)
        ax.set_ylabel("mean answer tokens")
        twin = ax.twinx()
        twin.errorbar(x, p["accuracy"] * 100, yerr=p["ci"] * 100, color="k", marker="o", ms=4)
        twin.set_ylabel("accuracy (%)", fontsize=8)
        ax.set_title(name, fontsize=9)
    panels[0][1].legend(fontsize=6)
    return [_save(fig, out / "fig8_length_by_correctness.png")]


def fig15(a: Analysis, out: Path) -> list[str]:
    fig, panels = _panels(a.table)
    for name, ax in panels:
        p = a.table[a.table["category"] == name]
        _frontier(ax, p["infer_flops"].to_numpy(float), p["accuracy"].to_numpy(float) * 100)
        for (fmt, _), g in p.groupby(["fmt", "params"]):
            g = g.sort_values("pct")
            ax.plot(g["infer_flops"], g["accuracy"] * 100, marker="o", ms=3, ls=FMT[fmt][1],
                    color=FMT[fmt][0], label=fmt)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("inference FLOPs")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(name, fontsize=9)
    h, labels = panels[0][1].get_legend_handles_labels()
    keep = {lab: hh for hh, lab in zip(h, labels, strict=True)}
    panels[0][1].legend(keep.values(), keep.keys(), fontsize=6)
    return [_save(fig, out / "fig15_early_stopping.png")]


def fig17(a: Analysis, out: Path) -> list[str]:
    fig, panels = _panels(a.table)
    for name, ax in panels:
        p = a.table[a.table["category"] == name]
        for fmt, g in p.groupby("fmt"):
            color, ls = FMT[fmt]
            ax.scatter(g["params"], g["infer_flops"], color=color)
            for f in a.fits:
                if f["category"] == name and f["fmt"] == fmt:
                    xs = np.logspace(np.log10(g["params"].min()), np.log10(g["params"].max()), 50)
                    ax.plot(xs, f["alpha"] * xs ** f["beta"], ls=ls, color=color,
                            label=f"{fmt}: β={f['beta']:.2f}")  # fmt: skip
        _sizes_axis(ax)
        ax.set_yscale("log")
        ax.set_ylabel("inference FLOPs")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=6)
    return [_save(fig, out / "fig17_inference_scaling.png")]


DRAW: dict[str, Callable[[Analysis, Path], list[str]]] = {
    "fig1": fig1, "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6,
    "fig7": fig7, "fig8": fig8, "fig15": fig15, "fig17": fig17,
}  # fmt: skip


def draw(a: Analysis, out_dir: Path) -> list[str]:
    """Write the analysis's figures into `out_dir`; return their file names."""
    if a.skipped or a.key not in DRAW:
        return []
    return DRAW[a.key](a, Path(out_dir))
