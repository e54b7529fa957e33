"""Evaluate models on benchmarks and gather one results table.

§2.3: distilled students answer zero-shot through their chat template, base models three-shot,
sampling at τ = 1.0, p = 1.0 (config). Answers are generated in batches through the shared LM
interface (KV-cached `generate`), scored by each benchmark's rule scorer, and every item carries its
inference FLOPs (Appendix C, Eq. 6) from its prompt and generated token counts.
`evals/<model>/<benchmark>.parquet` holds one row per item; `results.parquet` one row per
(model, benchmark).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ponder.config import StudyConfig
from ponder.lm.base import GenRequest
from ponder.rundir import atomic_write_parquet

FAMILY_OF = {"general": "general", "math": "math"}


def load_study_benchmark(cfg: StudyConfig, name: str):
    from ponder.evaluate.benchmarks import load_benchmark

    data_dir = Path(cfg.eval.data_dir) if cfg.eval.data_dir else None
    if name.startswith("tiny-"):  # the world's test split is fixed by the world seed and size
        return load_benchmark(name, data_dir, limit=cfg.world.n_test, seed=cfg.world.seed)
    return load_benchmark(name, data_dir, limit=cfg.eval.limit, seed=cfg.eval.seed)


def _fewshot_prompt(bench, item, k: int) -> str:
    """Base models (§2.3): k solved examples from the benchmark's dev/train split, then the item."""
    shots = bench.fewshot(k)
    blocks = [f"Question: {p}\nAnswer: {a}" for p, a in shots]
    return "\n\n".join([*blocks, f"Question: {item.prompt}\nAnswer:"])


def model_dir(run_dir: Path, model: str) -> Path | str:
    if model.endswith("_base"):
        from ponder.pipeline.runner import student_init_dir

        return student_init_dir(run_dir, model.removesuffix("_base"))
    return run_dir / "models" / model


def _lm_for(cfg: StudyConfig, run_dir: Path, model: str):
    if model == "teacher":
        from ponder.lm import make_teacher

        return make_teacher(cfg.teacher), None
    path = model_dir(run_dir, model)
    if cfg.eval.backend == "hf":
        from ponder.lm.hf_local import HFLocalLM

        return HFLocalLM(path, batch_size=cfg.eval.batch_size), path
    from ponder.lm import make_lm

    return make_lm(cfg.eval.backend, str(path)), path


def _dims(path):
    if path is None:
        return None
    from transformers import AutoConfig

    from ponder.flops import ModelDims

    return ModelDims.from_hf_config(AutoConfig.from_pretrained(path))


def evaluate_step(cfg: StudyConfig, run_dir: Path, model: str, benchmark: str) -> dict:
    """Generate and score one model's answers on one benchmark; write the per-item parquet."""
    from ponder.flops import infer_flops

    bench = load_study_benchmark(cfg, benchmark)
    items = bench.items()
    lm, path = _lm_for(cfg, run_dir, model)
    base = model.endswith("_base")
    reqs = []
    for it in items:
        extra = {"raw_prompt": _fewshot_prompt(bench, it, cfg.eval.fewshot_base)} if base else {}
        reqs.append(
            GenRequest(
                messages=[{"role": "user", "content": it.prompt}],
                thinking=True if model == "teacher" else None,
                temperature=cfg.eval.temperature,
                top_p=cfg.eval.top_p,
                max_tokens=cfg.eval.max_new_tokens,
                seed=cfg.eval.seed,
                id=it.id,
                extra=extra,
            )
        )
    outs = lm.generate(reqs)
    rows = []
    for it, out in zip(items, outs, strict=True):
        score = bench.score(it, out.text)
        rows.append(
            {
                "id": it.id,
                "prompt": it.prompt,
                "gold": it.gold,
                "response": out.text,
                "tokens": out.completion_tokens,
                "prompt_tokens": out.prompt_tokens,
                "finish": out.finish_reason,
                **{k: _cell(v) for k, v in score.items()},
            }
        )
    df = pd.DataFrame(rows)
    df["correct"] = df["correct"].astype(bool)
    dims = _dims(path)
    if dims is not None and len(df):
        df["infer_flops"] = np.asarray(
            infer_flops(
                dims,
                df["prompt_tokens"].clip(lower=1).to_numpy(),
                df["tokens"].to_numpy(),
                method=cfg.eval.flops_method,
            ),  # fmt: skip
            dtype=float,
        )
    else:
        df["infer_flops"] = math.nan
    atomic_write_parquet(run_dir / "evals" / model / f"{benchmark}.parquet", df)
    return {"n": len(df), "accuracy": float(df["correct"].mean()) if len(df) else math.nan}


def _cell(v):
    """Parquet-friendly cell: lists/dicts of verdicts are kept as JSON text."""
    return json.dumps(v) if isinstance(v, list | dict) else v


def _train_flops(run_dir: Path, run: dict, runs: dict[str, dict]) -> float:
    """Cumulative training FLOPs of a model: its own phase plus every parent phase (bi-phasic)."""
    total, cur = 0.0, run
    while cur:
        p = run_dir / "models" / cur["model"] / "train_summary.json"
        if not p.exists():
            return math.nan
        total += float(json.loads(p.read_text()).get("train_flops", math.nan))
        cur = runs.get(cur["parent"]) if cur["parent"] else None
    return total


def collect_results(cfg: StudyConfig, run_dir: Path) -> pd.DataFrame:
    """One row per (model, benchmark) with the DESIGN.md columns, from the per-item evaluations."""
    from ponder.evaluate.stats import accuracy_ci
    from ponder.pipeline.steps import model_runs

    runs = {r["model"]: r for r in model_runs(cfg)}
    params = {}
    for s in {r["student"] for r in runs.values()}:
        p = run_dir / "students" / s / "student.json"
        params[s] = json.loads(p.read_text())["params"] if p.exists() else math.nan
    rows, benches = [], {}
    for f in sorted((run_dir / "evals").glob("*/*.parquet")):
        model, benchmark = f.parent.name, f.stem
        df = pd.read_parquet(f)
        if benchmark not in benches:  # only family and format are needed: load each once
            benches[benchmark] = load_study_benchmark(cfg, benchmark)
        bench = benches[benchmark]
        run = runs.get(model)
        if run:
            kind, student = "student", run["student"]
            domain = ">".join(d for d, _ in run["phases"])
            ratio, schedule, seed = run["phases"][-1][1], run["schedule"], run["seed"]
            arm = ">".join(f"{d}-{'reasoning' if r == 1 else 'ift' if r == 0 else f'r{r:g}'}"
                           for d, r in run["phases"]) if len(run["phases"]) > 1 else ""  # fmt: skip
            tflops = _train_flops(run_dir, run, runs)
        else:
            kind = "teacher" if model == "teacher" else "base"
            student = model.removesuffix("_base") if kind == "base" else cfg.teacher.model
            domain, ratio, schedule, seed, arm, tflops = "", math.nan, "", 0, "", math.nan
        correct = df["correct"].astype(bool).to_numpy()
        judged = run_dir / "judgements" / model / f"{benchmark}.parquet"
        judge_acc = (
            float(pd.read_parquet(judged)["judge_correct"].mean()) if judged.exists() else math.nan
        )
        _, lo, hi = (x / 100 for x in accuracy_ci(correct)) if len(df) else (math.nan,) * 3
        rows.append({
            "model": model, "student": student, "params": params.get(student, math.nan),
            "domain": domain, "ratio": ratio, "schedule": schedule, "benchmark": benchmark,
            "family": bench.family, "format": bench.format, "accuracy": float(correct.mean()),
            "n": len(df), "mean_tokens": float(df["tokens"].mean()),
            "train_flops": tflops, "infer_flops": float(df["infer_flops"].sum()),
            "judge_accuracy": judge_acc, "kind": kind, "arm": arm, "seed": seed, "ci_low": lo, "ci_high": hi,
            "mean_tokens_correct": float(df.loc[correct, "tokens"].mean()) if correct.any() else math.nan,
            "mean_tokens_incorrect": float(df.loc[~correct, "tokens"].mean()) if (~correct).any() else math.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)
