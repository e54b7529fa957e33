"""Read `results.parquet` into the per-seed table every analysis starts from.

`load_results` validates the file (one-line errors naming the file, row and field), fills the
optional columns, tags each row with its task category (the paper's 2×2 taxonomy, §2.3), its
benchmark suite (`paper` or `extended`, Appendix F.1) and the accuracy of guessing (`chance`).
Seeds are NOT averaged here: every row stays one (model, seed, benchmark), so analyses can put a
CI across seeds next to the per-item one (`ponder.report.seeds`).

`apply_metric` picks the score the figures use (`report.metric`): the judge panel's majority
(as the paper's figures) or the rule scorer's verdict, per benchmark.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ponder.errors import PonderError
from ponder.resources import resource
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
    "kind": "student",
    "arm": "",
    "seed": 0,
    "ci_low": np.nan,
    "ci_high": np.nan,
    "judge_accuracy": np.nan,
    "judge_ci_low": np.nan,
    "judge_ci_high": np.nan,
    "chance": np.nan,
    "mean_tokens_correct": np.nan,
    "mean_tokens_incorrect": np.nan,
    "checkpoint": "",
}
# The paper's 2×2 taxonomy (§2.3): task family × answer format, in its panel order.
CATEGORIES = ("general-MC", "general-OE", "math-MC", "math-OE")
# Appendix F.1's extended benchmarks and their field; they are drawn in Figs. 9–11 and kept out
# of the 2×2 category averages. A benchmark spec's own `suite:` field wins over this list.
EXTENDED = {
    "mmlu-pro-law": "law",
    "consumer-qa": "law",
    "mmlu-pro-code": "code",
    "c-code-summarization": "code",
    "mmlu-pro-physics": "physics",
    "scibench": "physics",
}
# Columns that identify one trained configuration; its replicate seeds share them.
CONFIG = ["kind", "student", "params", "domain", "ratio", "schedule", "arm"]
METRICS = ("auto", "judge", "rule")
# Guessing accuracy for results written without a `chance` column: 1/options of the paper's MC
# benchmarks (their definitions: WinoGrande 2 options, AQuA-RAT 5, MMLU-Pro up to 10), else 4.
MC_CHANCE = {
    "winogrande": 1 / 2,
    "aqua-rat": 1 / 5,
    "mmlu-pro-math": 1 / 10,
    "mmlu-pro-law": 1 / 10,
    "mmlu-pro-code": 1 / 10,
    "mmlu-pro-physics": 1 / 10,
}


@functools.cache
def suite_of(benchmark: str) -> str:
    """`paper` or `extended`: the spec's `suite:` field when it has one, else Appendix F.1's
    list."""
    path = resource("benchmarks") / f"{benchmark}.yaml"
    if path.is_file():
        suite = (yaml.safe_load(path.read_text()) or {}).get("suite")
        if suite in ("paper", "extended"):
            return suite
    return "extended" if benchmark in EXTENDED else "paper"


def _check(df: pd.DataFrame, path: Path) -> None:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise PonderError(f"{path}: missing column(s) {', '.join(missing)}")
    for col, allowed in (("family", {"general", "math"}), ("format", {"MC", "OE"})):
        bad = ~df[col].isin(allowed)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PonderError(
                f"{path}: row {i}: {col}={df[col].iloc[i]!r} not in {sorted(allowed)}"
            )
    for col in ("accuracy", "judge_accuracy"):
        bad = ~df[col].between(0, 1) & df[col].notna()
        if col == "accuracy":
            bad |= df[col].isna()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PonderError(f"{path}: row {i}: {col}={df[col].iloc[i]} not in [0, 1]")


def load_results(run_dir: Path) -> pd.DataFrame:
    """RUN_DIR/results.parquet (or a results file itself), validated, one row per (model, seed,
    benchmark), with `category`, `suite`, `field` (law/code/physics for extended benchmarks) and
    `chance` filled in."""
    path = Path(run_dir) if Path(run_dir).suffix == ".parquet" else RunDir(run_dir).results()
    if not path.exists():
        raise PonderError(f"{path}: not found (run the eval stage first)")
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) on junk
        raise PonderError(f"{path}: not a readable Parquet file ({type(e).__name__})") from e
    for col, default in OPTIONAL.items():
        if col not in df.columns:
            df[col] = default
    _check(df, path)
    for col in ("arm", "domain", "schedule", "checkpoint"):
        df[col] = df[col].fillna("").astype(str)
    df["seed"] = df["seed"].fillna(0).astype(int)
    df["category"] = df["family"] + "-" + df["format"]
    df["suite"] = df["benchmark"].map(suite_of)
    df["field"] = df["benchmark"].map(lambda b: EXTENDED.get(b, b))
    guess = df["benchmark"].map(lambda b: MC_CHANCE.get(b, 0.25)).where(df["format"] == "MC", 0.0)
    df["chance"] = df["chance"].fillna(guess)
    # ρ = 0 and ρ = 1 are the same data under either schedule (§2.2): one configuration.
    df.loc[df["ratio"].isin([0.0, 1.0]) & (df["arm"] == ""), "schedule"] = "sequential"
    # A student's size is the same for every seed; NaN sizes would split its seeds apart.
    df["params"] = df.groupby(["kind", "student"])["params"].transform("max")
    return df.reset_index(drop=True)


def benchmark_metrics(df: pd.DataFrame, metric: str) -> dict[str, str]:
    """Per benchmark, the score the report uses: `judge` or `rule`.

    auto: judge when every model evaluated on the benchmark was judged, else rule (a benchmark
    scored two ways would compare models on different scales). judge: an error when a benchmark
    lacks judgements. rule: the rule scorer everywhere.
    """
    if metric not in METRICS:
        raise PonderError(f"report.metric: {metric!r} not in {list(METRICS)}")
    judged = df.groupby("benchmark")["judge_accuracy"].agg(lambda s: bool(s.notna().all()))
    if metric == "judge" and not judged.all():
        bench = judged.index[~judged][0]
        raise PonderError(
            f"report.metric: judge, but benchmark {bench!r} has models without judgements "
            "(run the judge stage, or set report.metric: auto)"
        )
    return {b: "judge" if (metric != "rule" and ok) else "rule" for b, ok in judged.items()}


def apply_metric(df: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """`accuracy`, `ci_low`, `ci_high` become the chosen metric's; the rule score stays beside it
    as `rule_accuracy` (and the panel's as `judge_accuracy`)."""
    df = df.copy()
    df["metric"] = df["benchmark"].map(metrics)
    judge = df["metric"] == "judge"
    df["rule_accuracy"] = df["accuracy"]
    df["rule_ci_low"], df["rule_ci_high"] = df["ci_low"], df["ci_high"]
    df.loc[judge, "accuracy"] = df.loc[judge, "judge_accuracy"]
    df.loc[judge, "ci_low"] = df.loc[judge, "judge_ci_low"]
    df.loc[judge, "ci_high"] = df.loc[judge, "judge_ci_high"]
    return df


def study_settings(rd: RunDir) -> dict:
    """The run's study.yaml as a dict ({} when absent or unreadable): report.metric and the
    generation budget (eval.max_new_tokens, Fig. 16) are read from it."""
    path = rd.study_yaml()
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}
