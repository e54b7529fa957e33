"""The performance figures: Fig. 1 (gain vs extra tokens), Fig. 2 / 18 and Fig. 9 (accuracy by
size), Fig. 3 / 19 (sequential vs mixed), Fig. 4 / 20 and Fig. 10 (gap to IFT across ρ), Fig. 5 /
21 (bi-phasic arms) and Fig. 8 / 24 (answer length by correctness). Each draw function takes the
`Analysis` its registry entry produced and returns the PNG names it wrote; error bars and seed dots
follow `report.figures`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ponder.report.data import Analysis
from ponder.report.figures import (
    CAT_COLORS,
    FMT,
    legend,
    panels,
    points,
    save,
    seed_dots,
    sizes_axis,
)


def fig1(a: Analysis, out: Path) -> list[str]:
    t = a.table
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for cat, g in t.groupby("category"):
        yerr = np.vstack([g["gain"] - g["gain_low"], g["gain_high"] - g["gain"]]) * 100
        ax.errorbar(
            g["token_factor"],
            g["gain"] * 100,
            yerr=yerr,
            fmt="o",
            ms=6,
            capsize=2,
            color=CAT_COLORS.get(cat),
            label=cat,
        )
        seed_dots(ax, g["token_factor"], g["seed_values"], CAT_COLORS.get(cat, "k"))
    for _, r in t.iterrows():
        ax.annotate(
            r["benchmark"],
            (r["token_factor"], r["gain"] * 100),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("extra-token factor (reasoning / IFT tokens)")
    ax.set_ylabel("accuracy gain (pts, paired 95% CI)")
    ax.legend(fontsize=7)
    return [save(fig, out / "fig1_task_sensitivity.png", a)]


def accuracy_by_size(a: Analysis, t: pd.DataFrame, by: str, out: Path) -> str:
    fig, pans = panels(t, by, cols=4 if by == "category" else 3)
    students = t[t["kind"] == "student"]
    for name, ax in pans:
        p = students[students[by] == name]
        for series, g in p.groupby("series"):
            color, ls = FMT["reasoning" if "reasoning" in series else "IFT"]
            general = series.startswith("general")
            points(
                ax,
                g.sort_values("params"),
                "params",
                color,
                ls="-" if general else ls,
                marker="o" if general else "s",
                ms=4,
                label=series,
            )
        base = t[(t["kind"] == "base") & (t[by] == name)]
        ax.scatter(base["params"], base["accuracy"] * 100, color="grey", marker="x", label="base")
        teach = t[(t["kind"] == "teacher") & (t[by] == name)]
        if len(teach):
            ax.axhline(teach["accuracy"].mean() * 100, color="k", lw=1, label="teacher")
        if "chance" in t.columns and len(p) and p["chance"].max() > 0:
            ax.axhline(p["chance"].max() * 100, color="grey", lw=0.6, ls=":", label="chance")
        ax.set_title(name, fontsize=9)
        sizes_axis(ax)
        ax.set_ylabel("accuracy (%)")
    legend(pans[0][1])
    return save(fig, out, a)


def fig2(a: Analysis, out: Path) -> list[str]:
    files = [accuracy_by_size(a, a.table, "category", out / "fig2_mono_phasic.png")]
    if a.detail is not None and a.detail["benchmark"].nunique() > a.table["category"].nunique():
        files.append(
            accuracy_by_size(a, a.detail, "benchmark", out / "fig18_mono_phasic_tasks.png")
        )
    return files


def fig9(a: Analysis, out: Path) -> list[str]:
    return [accuracy_by_size(a, a.table, "panel", out / "fig9_extended_by_size.png")]


def fig3(a: Analysis, out: Path) -> list[str]:
    fig, pans = panels(a.table)
    for name, ax in pans:
        p = a.table[a.table["category"] == name]
        twin = ax.twinx()
        for (s, g), c in zip(p.groupby("schedule"), ("#d1495b", "#00798c"), strict=False):
            g = g.sort_values("ratio")
            points(
                ax,
                g.assign(r=g["ratio"] * 100),
                "r",
                c,
                y="gap",
                marker="o",
                ms=4,
                label=f"{s} (gap)",
            )
            twin.plot(g["ratio"] * 100, g["mean_tokens"], "--", color=c, label=f"{s} (tokens)")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("reasoning ratio ρ (%)")
        ax.set_ylabel("gap to ρ=0 (pts)")
        twin.set_ylabel("mean answer tokens", fontsize=8)
    legend(pans[0][1])
    return [save(fig, out / "fig3_sequential_vs_mixed.png", a)]


def ratio_lines(a: Analysis, by: str, out: Path) -> str:
    fig, pans = panels(a.table, by, cols=4 if by == "category" else 3)
    cmap = plt.get_cmap("viridis")
    sizes = sorted(a.table["params"].unique())
    for name, ax in pans:
        p = a.table[a.table[by] == name]
        for params, g in p.groupby("params", sort=True):
            g = g.sort_values("ratio")
            points(
                ax,
                g.assign(r=g["ratio"] * 100),
                "r",
                cmap(sizes.index(params) / max(1, len(sizes) - 1)),
                y="gap",
                marker="o",
                ms=4,
                label=g["student"].iloc[0],
            )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("reasoning ratio ρ (%)")
        ax.set_ylabel("gap to IFT (pts)")
    legend(pans[0][1])
    return save(fig, out, a)


def fig4(a: Analysis, out: Path) -> list[str]:
    return [ratio_lines(a, "category", out / "fig4_ratio_gap.png")]


def fig10(a: Analysis, out: Path) -> list[str]:
    return [ratio_lines(a, "panel", out / "fig10_extended_ratio_gap.png")]


def fig5(a: Analysis, out: Path) -> list[str]:
    fig, pans = panels(a.table, width=4.2)
    series = sorted(a.table["series"].unique())
    cmap = plt.get_cmap("tab10")
    for name, ax in pans:
        p = a.table[a.table["category"] == name]
        students = p.sort_values("params")["student"].unique()
        w = 0.8 / max(1, len(series))
        for j, s in enumerate(series):
            v = p[p["series"] == s].set_index("student").reindex(students)
            x = np.arange(len(students)) + j * w - 0.4 + w / 2
            ax.bar(x, v["gap"] * 100, w, label=s, color=cmap(j), yerr=v["ci"] * 100, capsize=2)
            seed_dots(ax, x, v["seed_values"].fillna("").to_list(), "k")
        ax.set_xticks(np.arange(len(students)), students, fontsize=7)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("gap to general IFT (pts)")
    pans[0][1].legend(fontsize=6)
    return [save(fig, out / "fig5_domain_adaptation.png", a)]


def fig8(a: Analysis, out: Path) -> list[str]:
    fig, pans = panels(a.table, width=3.8)
    for name, ax in pans:
        p = a.table[a.table["category"] == name].sort_values("params")
        x = np.arange(len(p))
        ax.bar(x - 0.2, p["tokens_correct"], 0.4, color="#3c8d5a", label="correct")
        ax.bar(x + 0.2, p["tokens_incorrect"], 0.4, color="#d1495b", label="incorrect")
        ax.set_xticks(x, p["student"], fontsize=7)
        ax.set_ylabel("mean answer tokens")
        twin = ax.twinx()
        points(twin, p.assign(x=x), "x", "k", marker="o", ms=4)
        twin.set_ylabel("accuracy (%)", fontsize=8)
        ax.set_title(name, fontsize=9)
    pans[0][1].legend(fontsize=6)
    return [save(fig, out / "fig8_length_by_correctness.png", a)]


def compare(a: Analysis, out: Path) -> list[str]:
    """Each matched arm beside its reference arm (report.compare_to), per benchmark, 95% CIs."""
    t = a.table
    fig, pans = panels(t, "arm", width=max(3.4, 0.45 * t["benchmark"].nunique() + 1.2), cols=2)
    series = (("", -0.15, FMT["reasoning"][0], "this study"), ("ref_", 0.15, "#777", "reference"))
    for name, ax in pans:
        g = t[t["arm"] == name].reset_index(drop=True)
        x = np.arange(len(g))
        for pre, dx, color, label in series:
            y = g[f"{pre}accuracy"].to_numpy(float) * 100
            lo = np.clip(y - g[f"{pre}ci_low"].to_numpy(float) * 100, 0, None)
            hi = np.clip(g[f"{pre}ci_high"].to_numpy(float) * 100 - y, 0, None)
            ax.errorbar(
                x + dx, y, yerr=[lo, hi], fmt="o", ms=4, capsize=2, color=color, label=label
            )
        ax.set_xticks(x, g["benchmark"], rotation=45, ha="right", fontsize=7)
        ax.set_title(name, fontsize=8)
        ax.set_ylabel("accuracy % (95% CI)")
        legend(ax)
    return [save(fig, out / "compare_reference.png", a)]
