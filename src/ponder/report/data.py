"""What every analysis receives (`ReportData`) and returns (`Analysis`), and the row selections
they share (mono-phasic students, the IFT/reasoning endpoints, the primary domain).

`ReportData` holds the per-seed results under the chosen metric, split into the paper suite
(`core`: the 2×2 category figures) and Appendix F.1's extended suite, and reads per-item verdicts
from `evals/` and `judgements/` on demand (`items`), which the paired CIs resample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ponder.evaluate.stats import accuracy_ci
from ponder.report.load import apply_metric, benchmark_metrics, load_results, study_settings
from ponder.rundir import RunDir


@dataclass
class Analysis:
    """One section of the report: its table, one reading, or why it was skipped. `key`, `title`
    and `paper` come from the registry entry."""

    reading: str = ""
    skipped: str | None = None
    table: pd.DataFrame | None = None
    detail: pd.DataFrame | None = None  # task-level version (Appendix G) when there is one
    fits: list[dict] = field(default_factory=list)
    metric: str = ""  # which score the figure draws, in words
    key: str = ""
    title: str = ""
    paper: str = ""
    figures: list[str] = field(default_factory=list)


def skip(reason: str) -> Analysis:
    return Analysis(skipped=reason)


class ReportData:
    """The results of one run under one metric, and lazy access to its per-item verdicts."""

    def __init__(self, run_dir: Path, metric: str | None = None):
        self.rd = RunDir(run_dir)
        self.settings = study_settings(self.rd)
        rep = self.settings.get("report")
        if metric is None:
            metric = rep.get("metric", "auto") if isinstance(rep, dict) else "auto"
        self.requested = metric
        raw = load_results(self.rd.root)
        self.metrics = benchmark_metrics(raw, metric)
        self.df = apply_metric(raw, self.metrics)
        self._items: dict[tuple[str, str], pd.Series | None] = {}
        self._evals: dict[tuple[str, str], pd.DataFrame | None] = {}
        self._fill_judge_ci()
        self.core = self.df[self.df["suite"] == "paper"]
        self.extended = self.df[self.df["suite"] == "extended"]

    # ------------------------------------------------------------ per-item data
    def evals(self, model: str, benchmark: str) -> pd.DataFrame | None:
        """RUN_DIR/evals/<model>/<benchmark>.parquet, or None when it is missing."""
        key = (model, benchmark)
        if key not in self._evals:
            path = self.rd.eval(model, benchmark)
            ok = path.exists()
            self._evals[key] = pd.read_parquet(path).set_index("id", drop=False) if ok else None
        return self._evals[key]

    def items(self, model: str, benchmark: str) -> pd.Series | None:
        """Per-item verdict (1.0 / 0.0, indexed by item id) under the benchmark's metric."""
        key = (model, benchmark)
        if key not in self._items:
            self._items[key] = self._read_items(model, benchmark)
        return self._items[key]

    def _read_items(self, model: str, benchmark: str) -> pd.Series | None:
        if self.metrics.get(benchmark) == "judge":
            path = self.rd.judgement(model, benchmark)
            if not path.exists():
                return None
            j = pd.read_parquet(path, columns=["id", "judge_correct"])
            return j.set_index("id")["judge_correct"].astype(float)
        ev = self.evals(model, benchmark)
        if ev is None or "correct" not in ev.columns:
            return None
        return ev["correct"].astype(bool).astype(float)

    def _fill_judge_ci(self) -> None:
        """Results written before judge CIs were recorded: bootstrap them from the verdicts."""
        need = (self.df["metric"] == "judge") & self.df["ci_low"].isna()
        for i in np.flatnonzero(need):
            r = self.df.iloc[i]
            v = self.items(r["model"], r["benchmark"])
            if v is not None and len(v):
                _, lo, hi = accuracy_ci(v.to_numpy() > 0.5)
                self.df.loc[self.df.index[i], ["ci_low", "ci_high"]] = lo / 100, hi / 100

    # ------------------------------------------------------------ wording helpers
    def metric_note(self, benchmarks) -> str:
        """Which score a figure draws, e.g. 'judge-panel majority (rule score beside it)'."""
        used = {self.metrics[b] for b in set(benchmarks) if b in self.metrics}
        if used == {"judge"}:
            return "judge-panel majority (the rule scorer's accuracy is in numbers.json)"
        if used == {"rule"}:
            why = " (no judgements)" if self.requested == "auto" else ""
            return f"rule scorer{why}"
        judged = sorted(b for b in set(benchmarks) if self.metrics.get(b) == "judge")
        return f"judge-panel majority on {', '.join(judged)}; rule scorer elsewhere"

    def max_seeds(self, rows: pd.DataFrame | None = None) -> int:
        """Most replicate seeds of any trained configuration."""
        rows = self.df if rows is None else rows
        s = rows[rows["kind"] == "student"]
        if s.empty:
            return 1
        return int(
            s.groupby(["student", "domain", "ratio", "schedule", "arm"])["seed"].nunique().max()
        )


# ---------------------------------------------------------------- shared selections
def mono(df: pd.DataFrame, domain: str | None = None) -> pd.DataFrame:
    """Mono-phasic students (one data distribution, §3.1)."""
    m = df[(df["kind"] == "student") & (df["arm"] == "") & ~df["domain"].str.contains(">")]
    return m if domain is None else m[m["domain"] == domain]


def primary_domain(df: pd.DataFrame) -> str | None:
    """§4 uses general-distribution students; fall back to math when a study has only math."""
    doms = set(mono(df)["domain"])
    return "general" if "general" in doms else ("math" if "math" in doms else None)


def endpoints(df: pd.DataFrame, domain: str | None) -> pd.DataFrame:
    """IFT (ρ = 0) and reasoning (ρ = 1) students of one domain, labelled `fmt`."""
    if domain is None:
        return df.iloc[:0].assign(fmt=pd.Series(dtype=str))
    m = mono(df, domain)
    m = m[m["ratio"].isin([0.0, 1.0])].copy()
    m["fmt"] = np.where(m["ratio"] == 1.0, "reasoning", "IFT")
    return m


def largest(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the largest student size present."""
    return rows[rows["params"] == rows["params"].max()]
