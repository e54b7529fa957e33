"""The efficiency figures: Fig. 6 / 22 (training FLOPs), Fig. 7 / 23 and Fig. 11 (inference
FLOPs), Fig. 15 (early stopping), Fig. 16 (a longer generation budget) and Fig. 17 (inference
FLOPs vs size). Each draw function takes its `Analysis` and returns the PNG names it wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ponder.report.data import Analysis
from ponder.report.figures import (
    FMT,
    frontier,
    legend,
    panels,
    pareto_panels,
    save,
    seed_dots,
    sizes_axis,
)


def fig6(a: Analysis, out: Path) -> list[str]:
    return [
        pareto_panels(a, "train_flops", "ratio", "training FLOPs", out / "fig6_training_pareto.png")
    ]


def fig7(a: Analysis, out: Path) -> list[str]:
    return [
        pareto_panels(a, "infer_flops", "fmt", "inference FLOPs", out / "fig7_inference_pareto.png")
    ]


def fig11(a: Analysis, out: Path) -> list[str]:
    return [
        pareto_panels(
            a,
            "infer_flops",
            "fmt",
            "inference FLOPs",
            out / "fig11_extended_inference_pareto.png",
            by="panel",
        )
    ]


def fig15(a: Analysis, out: Path) -> list[str]:
    fig, pans = panels(a.table)
    for name, ax in pans:
        p = a.table[a.table["category"] == name]
        frontier(ax, p["infer_flops"].to_numpy(float), p["accuracy"].to_numpy(float) * 100)
        for (fmt, _), g in p.groupby(["fmt", "params"]):
            g = g.sort_values("pct")
            ax.plot(
                g["infer_flops"],
                g["accuracy"] * 100,
                marker="o",
                ms=3,
                ls=FMT[fmt][1],
                color=FMT[fmt][0],
                label=fmt,
            )
        ax.set_xscale("log")
        ax.set_xlabel("inference FLOPs")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(name, fontsize=9)
    legend(pans[0][1])
    return [save(fig, out / "fig15_early_stopping.png", a)]


def fig16(a: Analysis, out: Path) -> list[str]:
    """Per benchmark: accuracy by size at the full budget (solid) and at half of it (dotted)."""
    fig, pans = panels(a.table, "benchmark", cols=3)
    for name, ax in pans:
        p = a.table[a.table["benchmark"] == name]
        for fmt, g in p.groupby("fmt"):
            g = g.sort_values("params")
            color = FMT[fmt][0]
            ax.plot(
                g["params"],
                g["acc_long"] * 100,
                "-o",
                color=color,
                ms=4,
                label=f"{fmt}, full budget",
            )
            seed_dots(ax, g["params"], g["seed_values"], color)
            ax.plot(
                g["params"],
                g["acc_short"] * 100,
                ":s",
                color=color,
                ms=3,
                mfc="none",
                label=f"{fmt}, half budget",
            )
        sizes_axis(ax)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(name, fontsize=9)
    legend(pans[0][1])
    return [save(fig, out / "fig16_generation_budget.png", a)]


def fig17(a: Analysis, out: Path) -> list[str]:
    fig, pans = panels(a.table)
    for name, ax in pans:
        p = a.table[a.table["category"] == name]
        for fmt, g in p.groupby("fmt"):
            color, ls = FMT[fmt]
            ax.scatter(g["params"], g["infer_flops"], color=color)
            for f in a.fits:
                if f["category"] == name and f["fmt"] == fmt:
                    xs = np.logspace(np.log10(g["params"].min()), np.log10(g["params"].max()), 50)
                    ax.plot(
                        xs,
                        f["alpha"] * xs ** f["beta"],
                        ls=ls,
                        color=color,
                        label=f"{fmt}: β={f['beta']:.2f}",
                    )
        sizes_axis(ax)
        ax.set_yscale("log")
        ax.set_ylabel("inference FLOPs")
        ax.set_title(name, fontsize=9)
        legend(ax)
    return [save(fig, out / "fig17_inference_scaling.png", a)]
