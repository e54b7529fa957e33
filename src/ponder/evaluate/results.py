"""The results table: one row per (model, benchmark), from the per-item evaluations.

Columns are the README's contract (model, student, params, domain, ratio, schedule, benchmark,
family, format, accuracy, n, mean_tokens, train_flops, infer_flops) plus the run's seed, kind, arm,
the 95% bootstrap CI of the accuracy, the judge panel's accuracy and its CI when judges ran, the
accuracy of guessing (`chance`: mean 1/options for MC, 0 for OE), and mean tokens of correct and
incorrect answers (Fig. 8). Training FLOPs of a bi-phasic model add its parents'.

A checkpoint arm (trained elsewhere) is a `student` row like a trained one, with its labels; its
`checkpoint` column says where it is ('' for every model this study trained or served), and its
parameter count and training FLOPs (from the tokens it was trained on, NaN when not given) come
from the caller, which can read outside the run directory.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from ponder.config import StudyConfig
from ponder.evaluate.run import load_study_benchmark
from ponder.evaluate.stats import accuracy_ci
from ponder.records import ModelKind, ModelRun, effective_seed, evaluated_models, init_seed
from ponder.rundir import RunDir


def _train_flops(rd: RunDir, run: ModelRun, runs: dict[str, ModelRun]) -> float:
    """Cumulative training FLOPs of a model: its own phase plus every parent phase (bi-phasic)."""
    total, cur = 0.0, run
    while cur:
        p = rd.train_summary(cur.model)
        if not p.exists():
            return math.nan
        total += float(json.loads(p.read_text()).get("train_flops", math.nan))
        cur = runs.get(cur.parent) if cur.parent else None
    return total


def _params(rd: RunDir, cfg: StudyConfig) -> dict[tuple[str, int], float]:
    out = {}
    for s in cfg.students:
        for p in rd.root.glob(f"students/{s.name}*/student.json"):
            seed = int(p.parent.name.rsplit("-s", 1)[1]) if p.parent.name != s.name else 0
            out[(s.name, seed)] = json.loads(p.read_text())["params"]
    return out


def _describe(cfg: StudyConfig, rd: RunDir, target, runs, params, arms) -> dict:
    """The config columns of one evaluated model."""
    if target.kind is ModelKind.STUDENT:
        r = target.run
        if target.checkpoint is not None:  # labelled as trained elsewhere; the rest from `arms`
            arm = arms.get(target.model, {})
            p = arm.get("params")
            own = {
                "params": float(p) if p is not None else math.nan,
                "seed": r.seed,  # the seed it was trained with, as labelled
                "train_flops": arm.get("train_flops", math.nan),
                "checkpoint": arm.get("checkpoint", target.checkpoint.where()),
            }
        else:
            own = {
                "params": params.get((r.student, init_seed(cfg, r.student, r.seed)), math.nan),
                "seed": effective_seed(cfg, r.seed),
                "train_flops": _train_flops(rd, r, runs),
                "checkpoint": "",
            }
        arm_cols = {"domain": r.domains, "ratio": r.ratio, "schedule": r.schedule, "arm": r.arm}
        return {"student": r.student, "params": own.pop("params"), **arm_cols, **own}
    student = target.student if target.kind is ModelKind.BASE else cfg.teacher.model
    return {
        "student": student,
        "params": params.get((target.student, target.seed), math.nan),
        "domain": "",
        "ratio": math.nan,
        "schedule": "",
        "arm": "",
        "seed": effective_seed(cfg, target.seed),
        "train_flops": math.nan,
        "checkpoint": "",
    }


def _ci(verdicts) -> tuple[float, float]:
    _, lo, hi = (x / 100 for x in accuracy_ci(verdicts)) if len(verdicts) else (math.nan,) * 3
    return lo, hi


def _scores(df: pd.DataFrame, judged) -> dict:
    correct = df["correct"].astype(bool).to_numpy()
    lo, hi = _ci(correct)
    verdicts = pd.read_parquet(judged)["judge_correct"].to_numpy() if judged.exists() else []
    judge = float(verdicts.mean()) if len(verdicts) else math.nan
    jlo, jhi = _ci(verdicts)
    tokens = df["tokens"]
    return {
        "accuracy": float(correct.mean()) if len(df) else math.nan,
        "n": len(df),
        "mean_tokens": float(tokens.mean()),
        "infer_flops": float(df["infer_flops"].sum()),
        "judge_accuracy": judge,
        "ci_low": lo,
        "ci_high": hi,
        "judge_ci_low": jlo,
        "judge_ci_high": jhi,
        "mean_tokens_correct": float(tokens[correct].mean()) if correct.any() else math.nan,
        "mean_tokens_incorrect": float(tokens[~correct].mean()) if (~correct).any() else math.nan,
    }


def _chance(bench) -> float:
    """Accuracy of guessing: mean 1/options over MC items; 0 for open-ended answers."""
    opts = [len(it.options) for it in bench.items() if it.options]
    return float(sum(1 / n for n in opts) / len(opts)) if bench.format == "MC" and opts else 0.0


def collect_results(cfg: StudyConfig, rd: RunDir, arms: dict | None = None) -> pd.DataFrame:
    """One row per (model, benchmark) evaluated in this study. `arms`: per checkpoint arm, its
    `checkpoint` (where it is), `params` and `train_flops`."""
    targets = evaluated_models(cfg)
    runs = {t.run.model: t.run for t in targets if t.run is not None}
    params = _params(rd, cfg)
    benches = {b: load_study_benchmark(cfg, b) for b in cfg.eval.benchmarks}  # family, format
    chance = {b: _chance(bench) for b, bench in benches.items()}
    rows = []
    for t in targets:
        for name, bench in benches.items():
            path = rd.eval(t.model, name)
            if not path.exists():
                continue
            rows.append(
                {
                    "model": t.model,
                    "kind": str(t.kind),
                    "benchmark": name,
                    "family": bench.family,
                    "format": bench.format,
                    "suite": bench.suite,
                    "chance": chance[name],
                    **_describe(cfg, rd, t, runs, params, arms or {}),
                    **_scores(pd.read_parquet(path), rd.judgement(t.model, name)),
                }
            )
    return pd.DataFrame(rows)
