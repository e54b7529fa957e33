"""The paper's performance analyses (§3, Figs. 1–5, 8 and the headline) from `results.parquet`.

Each analysis returns an `Analysis`: the tidy table its figure is drawn from, a one-sentence
reading generated from those numbers, or the reason it was skipped when the study lacks the runs
it needs. Efficiency analyses (§4, Figs. 6, 7, 15, 17) are in `ponder.report.efficiency`; drawing is in
`ponder.report.figures`; `ponder.report.build` assembles everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ponder.errors import PonderError
from ponder.rundir import RunDir

REQUIRED = [
    "model",
    "student",
    "params",
    "domain",
    "ratio",
    "schedule",
    "benchmark",
    "family",
    "format",
    "accuracy",
    "n",
    "mean_tokens",
    "train_flops",
    "infer_flops",
]
OPTIONAL = {
    "kind": "student", "arm": "", "seed": 0, "ci_low": np.nan, "ci_high": np.nan,
    "mean_tokens_correct": np.nan, "mean_tokens_incorrect": np.nan,
}  # fmt: skip
# The paper's 2×2 taxonomy (§2.3): task family × answer format, in its panel order.
CATEGORIES = ("general-MC", "general-OE", "math-MC", "math-OE")
# Columns that identify one trained configuration; seeds of it are averaged.
CONFIG = ["kind", "student", "params", "domain", "ratio", "schedule", "arm"]


@dataclass
class Analysis:
    key: str
    title: str
    paper: str
    reading: str = ""
    skipped: str | None = None
    table: pd.DataFrame | None = None
    detail: pd.DataFrame | None = None  # task-level version (Appendix G) when there is one
    fits: list[dict] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def skip(key: str, title: str, paper: str, reason: str) -> Analysis:
    return Analysis(key, title, paper, skipped=reason)


def load_results(run_dir: Path) -> pd.DataFrame:
    """Read and validate RUN_DIR/results.parquet; fill optional columns; average seeds."""
    path = RunDir(run_dir).results()
    if not path.exists():
        raise PonderError(f"{path}: not found (run the eval stage first)")
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) on junk
        raise PonderError(f"{path}: not a readable Parquet file ({type(e).__name__})") from e
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise PonderError(f"{path}: missing column(s) {', '.join(missing)}")
    for col, default in OPTIONAL.items():
        if col not in df.columns:
            df[col] = default
    for col, allowed in (("family", {"general", "math"}), ("format", {"MC", "OE"})):
        bad = ~df[col].isin(allowed)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PonderError(
                f"{path}: row {i}: {col}={df[col].iloc[i]!r} not in {sorted(allowed)}"
            )
    bad = ~df["accuracy"].between(0, 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PonderError(f"{path}: row {i}: accuracy={df['accuracy'].iloc[i]} not in [0, 1]")
    df["arm"] = df["arm"].fillna("").astype(str)
    df["domain"] = df["domain"].fillna("").astype(str)
    df["schedule"] = df["schedule"].fillna("").astype(str)
    df["category"] = df["family"] + "-" + df["format"]
    # ρ = 0 and ρ = 1 are the same data under either schedule (§2.2): one configuration.
    df.loc[df["ratio"].isin([0.0, 1.0]) & (df["arm"] == ""), "schedule"] = "sequential"
    keys = CONFIG + ["benchmark", "family", "format", "category"]
    num = [
        c for c in df.columns if c not in keys + ["model"] and pd.api.types.is_numeric_dtype(df[c])
    ]
    out = df.groupby(keys, dropna=False, sort=False)[num].mean().reset_index()
    models = (
        df.groupby(keys, dropna=False, sort=False)["model"].agg(lambda s: sorted(s)).reset_index()
    )
    out["models"] = models["model"].to_numpy()
    out["seeds"] = out["models"].map(len)
    return out


def half_width(df: pd.DataFrame) -> pd.Series:
    return (df["ci_high"] - df["ci_low"]) / 2


def by_category(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Average benchmarks within each task category, as the paper's aggregated figures do.

    The CI half-width of a mean of k benchmarks is sqrt(Σ hw²)/k, treating benchmarks as
    independent; NaN when any benchmark lacks a CI.
    """
    d = df.assign(hw2=half_width(df) ** 2)
    g = d.groupby(keys + ["category"], dropna=False, sort=True)
    out = g.agg(
        accuracy=("accuracy", "mean"), mean_tokens=("mean_tokens", "mean"),
        train_flops=("train_flops", "mean"), infer_flops=("infer_flops", "mean"),
        tokens_correct=("mean_tokens_correct", "mean"),
        tokens_incorrect=("mean_tokens_incorrect", "mean"),
        hw2=("hw2", lambda s: s.sum(min_count=len(s))), k=("benchmark", "nunique"),
    ).reset_index()  # fmt: skip
    out["ci"] = np.sqrt(out.pop("hw2")) / out["k"]
    return out


def mono(df: pd.DataFrame, domain: str | None = None) -> pd.DataFrame:
    """Mono-phasic students (one data distribution, §3.1)."""
    m = df[(df["kind"] == "student") & (df["arm"] == "") & ~df["domain"].str.contains(">")]
    return m if domain is None else m[m["domain"] == domain]


def primary_domain(df: pd.DataFrame) -> str | None:
    """§4 uses general-distribution students; fall back to math when a study has only math."""
    doms = set(mono(df)["domain"])
    return "general" if "general" in doms else ("math" if "math" in doms else None)


def endpoints(df: pd.DataFrame, domain: str) -> pd.DataFrame:
    """IFT (ρ = 0) and reasoning (ρ = 1) students of one domain, labelled by format."""
    m = mono(df, domain)
    m = m[m["ratio"].isin([0.0, 1.0])].copy()
    m["fmt"] = np.where(m["ratio"] == 1.0, "reasoning", "IFT")
    return m


def pts(x: float) -> str:
    return f"{x * 100:+.1f} pts"


def task_sensitivity(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig1", "Task sensitivity to reasoning", "Fig. 1"
    dom = primary_domain(df)
    if dom is None:
        return skip(key, title, paper, "no mono-phasic students in results.parquet")
    e = endpoints(df, dom)
    rows = []
    for bench, g in e.groupby("benchmark", sort=True):
        both = g.groupby("params").filter(lambda s: set(s["fmt"]) == {"IFT", "reasoning"})
        if both.empty:
            continue
        top = both[both["params"] == both["params"].max()].set_index("fmt")
        i, r = top.loc["IFT"], top.loc["reasoning"]
        rows.append(dict(
            benchmark=bench, category=i["category"], student=i["student"],
            ift=i["accuracy"], reasoning=r["accuracy"], gain=r["accuracy"] - i["accuracy"],
            token_factor=r["mean_tokens"] / i["mean_tokens"] if i["mean_tokens"] > 0 else np.nan,
        ))  # fmt: skip
    if not rows:
        return skip(key, title, paper, f"no {dom} student size has both ρ=0 and ρ=1 runs")
    t = pd.DataFrame(rows).sort_values("gain", ascending=False, ignore_index=True)
    hi, lo = t.iloc[0], t.iloc[-1]
    fmt_gain = t.assign(fmt=t["category"].str[-2:]).groupby("fmt")["gain"].mean()
    reading = (
        f"Reasoning helps most on {hi['benchmark']} ({pts(hi['gain'])} for "
        f"{hi['token_factor']:.1f}× the tokens) and least on {lo['benchmark']} "
        f"({pts(lo['gain'])} for {lo['token_factor']:.1f}× the tokens)"
    )
    if {"OE", "MC"} <= set(fmt_gain.index):
        reading += (
            f"; open-ended benchmarks gain {pts(fmt_gain['OE'])} on average against "
            f"{pts(fmt_gain['MC'])} for multiple-choice"
        )
    return Analysis(key, title, paper, reading + f" ({dom} students).", table=t)


def mono_phasic(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig2", "Mono-phasic accuracy by student size", "Fig. 2 / 18"
    e = pd.concat([endpoints(df, d) for d in ("general", "math")])
    if e.empty:
        return skip(key, title, paper, "no mono-phasic ρ=0 or ρ=1 students")
    e["series"] = e["domain"] + " " + e["fmt"]
    refs = df[df["kind"].isin(["teacher", "base"])].assign(series=lambda d: d["kind"])
    both = pd.concat([e, refs])
    t = by_category(both, ["series", "kind", "student", "params"])
    detail = both.assign(ci=half_width(both))
    dom = primary_domain(df)
    last = t[t["series"].str.startswith(dom)]
    top = last[last["params"] == last["params"].max()].pivot_table(
        index="category", columns="series", values="accuracy"
    )
    cols = [f"{dom} IFT", f"{dom} reasoning"]
    if not set(cols) <= set(top.columns):
        reading = f"Only one training format is present for {dom} students; no IFT/reasoning gap."
    else:
        gap = (top[cols[1]] - top[cols[0]]).dropna()
        best = gap.idxmax()
        size = last.loc[last["params"].idxmax(), "student"]
        reading = (
            f"At the largest {dom} student ({size}), reasoning beats IFT on {int((gap > 0).sum())}"
            f" of {len(gap)} task categories, most on {best} ({pts(gap[best])})"
            f" and least on {gap.idxmin()} ({pts(gap.min())})."
        )
    return Analysis(key, title, paper, reading, table=t, detail=detail)


def ratio_curves(df: pd.DataFrame, schedule: str) -> pd.DataFrame:
    """Accuracy gap to ρ = 0 of the same size (general students), per benchmark."""
    m = mono(df, primary_domain(df) or "general")
    m = m[(m["schedule"] == schedule) | m["ratio"].isin([0.0, 1.0])]
    base = m[m["ratio"] == 0.0][["params", "benchmark", "accuracy"]]
    base = base.rename(columns={"accuracy": "acc0"})
    out = m.merge(base, on=["params", "benchmark"], how="inner")
    return out.assign(gap=out["accuracy"] - out["acc0"], schedule=schedule)


def seq_vs_mixed(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig3", "Sequential vs mixed training across ρ", "Fig. 3 / 19"
    m = mono(df)
    mid = m[(m["ratio"] > 0) & (m["ratio"] < 1)]
    if not {"sequential", "mixed"} <= set(mid["schedule"]):
        return skip(key, title, paper, "needs intermediate ratios under both schedules")
    curves = pd.concat([ratio_curves(df, s) for s in ("sequential", "mixed")])
    per_cat = by_category(curves.rename(columns={"gap": "g"}).assign(accuracy=lambda d: d["g"]),
                          ["schedule", "params", "ratio"])  # fmt: skip
    # Fig. 3 averages over all student sizes.
    t = per_cat.groupby(["schedule", "ratio", "category"], as_index=False).agg(
        gap=("accuracy", "mean"), mean_tokens=("mean_tokens", "mean")
    )
    avg = t.groupby(["schedule", "ratio"])[["gap", "mean_tokens"]].mean()
    parts = []
    for s in ("mixed", "sequential"):
        # ρ = 0 and 1 are shared by both schedules; only intermediate ratios tell them apart.
        a = avg.loc[s]
        a = a[(a.index > 0) & (a.index < 1)]
        r = a["gap"].idxmax()
        parts.append(
            f"the best {s} ratio is ρ={r:g} ({pts(a.loc[r, 'gap'])} over IFT, "
            f"{a.loc[r, 'mean_tokens']:.0f}-token answers)"
        )
    spread = t.groupby(["schedule", "category"])["gap"].std().unstack(0)
    reading = (
        f"Averaged over sizes and task categories, {parts[0]}, while {parts[1]}; accuracy varies "
        f"more across ratios under {'mixed' if spread['mixed'].mean() > spread['sequential'].mean() else 'sequential'}"
        " training."
    )
    return Analysis(key, title, paper, reading, table=t, detail=curves)


def ratio_gap(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig4", "Accuracy gap to IFT across ρ, per student size", "Fig. 4 / 20"
    c = ratio_curves(df, "sequential")
    if c["ratio"].nunique() < 2:
        return skip(key, title, paper, "needs ρ=0 and at least one other sequential ratio per size")
    t = by_category(c.assign(accuracy=c["gap"]), ["student", "params", "ratio"])
    t = t.rename(columns={"accuracy": "gap"})
    top = t[t["params"] == t["params"].max()]
    at1 = top[top["ratio"] == top["ratio"].max()].set_index("category")["gap"]
    best = at1.idxmax()
    # "Intermediate beats both endpoints" counts (size, category) cells where a 0<ρ<1 run wins.
    wins, cells = 0, 0
    for _, g in t.groupby(["params", "category"]):
        inner = g[(g["ratio"] > 0) & (g["ratio"] < 1)]
        if len(inner) and len(g) > len(inner):
            cells += 1
            wins += int(inner["gap"].max() > g[~g.index.isin(inner.index)]["gap"].max())
    reading = (
        f"For the largest student ({top['student'].iloc[0]}), going from ρ=0 to "
        f"ρ={top['ratio'].max():g} changes accuracy most on {best} ({pts(at1[best])});"
        f" an intermediate ratio beats both ends in {wins} of {cells} (size, category) cells."
    )
    return Analysis(key, title, paper, reading, table=t, detail=c)


def domain_adaptation(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig5", "Domain adaptation (general → math) vs general IFT", "Fig. 5 / 21"
    s = df[df["kind"] == "student"]
    arms = s[(s["arm"] != "") | s["domain"].str.contains(">")].copy()
    ref = mono(df, "general")
    ref = ref[ref["ratio"] == 0.0][["params", "benchmark", "accuracy"]]
    if arms.empty or ref.empty:
        return skip(key, title, paper, "needs bi-phasic arms and mono-phasic general IFT students")
    arms["series"] = arms["arm"].where(arms["arm"] != "", arms["domain"])
    base = pd.concat([endpoints(df, d) for d in ("general", "math")])
    base = base[base["fmt"] == "reasoning"].assign(series=lambda d: d["domain"] + " reasoning")
    both = pd.concat([arms, base]).merge(ref.rename(columns={"accuracy": "acc0"}),
                                         on=["params", "benchmark"])  # fmt: skip
    both["accuracy"] = both["accuracy"] - both["acc0"]
    t = by_category(both, ["series", "student", "params"]).rename(columns={"accuracy": "gap"})
    top = t[t["params"] == t["params"].max()]
    math_gap = top[top["category"].str.startswith("math")].groupby("series")["gap"].mean()
    gen_gap = top[top["category"].str.startswith("general")].groupby("series")["gap"].mean()
    bm, bg = math_gap.idxmax(), gen_gap.idxmax()
    reading = (
        f"At {top['student'].iloc[0]}, the best arm on math tasks is {bm} ({pts(math_gap[bm])} "
        f"over general IFT) and on general tasks {bg} ({pts(gen_gap[bg])})."
    )
    return Analysis(key, title, paper, reading, table=t)


def length_by_correctness(df: pd.DataFrame) -> Analysis:
    key, title, paper = "fig8", "Answer length by correctness (reasoning students)", "Fig. 8 / 24"
    dom = primary_domain(df) or "general"
    e = endpoints(df, dom)
    e = e[e["fmt"] == "reasoning"]
    if e.empty or e[["mean_tokens_correct", "mean_tokens_incorrect"]].isna().all().all():
        return skip(key, title, paper, "needs ρ=1 students with mean_tokens_correct/incorrect")
    t = by_category(e, ["student", "params"])
    ok = t.dropna(subset=["tokens_correct", "tokens_incorrect"])
    ratio = ok["tokens_incorrect"] / ok["tokens_correct"]
    reading = (
        f"Incorrect answers are longer than correct ones in {int((ratio > 1).sum())} of "
        f"{len(ok)} (size, category) cells, by a median factor of {ratio.median():.2f}×."
    )
    return Analysis(key, title, paper, reading, table=t)
