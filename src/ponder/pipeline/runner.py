"""Run a study's steps locally: skip what is done, resume what was interrupted, time every stage.

Each finished step leaves `.steps/<step id>.json` in the run directory with its config hash and
timings (written atomically after its artifact), so "done" means "artifact present and produced by
this exact config". Stages do the work; this module only orders, skips and records.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import pandas as pd
from rich.console import Console

from ponder.config import StudyConfig, dump_study, load_study
from ponder.errors import PonderError
from ponder.pipeline.steps import STAGES, Step, expand, run_dir_for
from ponder.rundir import (
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    code_version,
)

console = Console(stderr=True, highlight=False)


def _state_path(run_dir: Path, step: Step) -> Path:
    return run_dir / ".steps" / (step.id.replace(":", "__").replace("/", "_") + ".json")


def step_done(run_dir: Path, step: Step) -> bool:
    p = _state_path(run_dir, step)
    if not p.exists() or not (run_dir / step.artifact).exists():
        return False
    try:
        return json.loads(p.read_text()).get("hash") == step.hash
    except json.JSONDecodeError:
        return False


def record_done(run_dir: Path, step: Step, seconds: float, info: dict) -> None:
    """Mark a step finished (after its artifact was written): its hash, timing and summary."""
    atomic_write_json(_state_path(run_dir, step),
                      {"id": step.id, "hash": step.hash, "seconds": round(seconds, 3),
                       "finished": time.time(), "info": info})  # fmt: skip


def _tokenizer(run_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(run_dir / "students" / "tokenizer")


def student_init_dir(run_dir: Path, student: str) -> str:
    return json.loads((run_dir / "students" / student / "student.json").read_text())["init_dir"]


def _run_student(cfg: StudyConfig, run_dir: Path, step: Step) -> dict:
    from ponder.tiny import students

    if step.id == "tokenizer":
        from ponder.tiny import world

        texts = world.corpus(cfg.world.seed)
        uses_world = any(d.source.kind == "world" for d in cfg.domains.values())
        phrases = world.INSTRUCTION_PHRASES if uses_world else ()
        for d in cfg.domains:
            pairs = run_dir / "pairs" / f"{d}.parquet"
            if pairs.exists() and cfg.domains[d].source.kind != "world":
                df = pd.read_parquet(pairs, columns=["prompt", "ift", "reasoning"]).head(20_000)
                texts += [t for col in df.columns for t in df[col].astype(str)]
        vocab = max(s.vocab_size for s in cfg.students)
        tok = students.build_tokenizer(texts, vocab, phrases)
        tok.save_pretrained(run_dir / "students" / "tokenizer")
        return {"vocab_size": len(tok)}
    s = cfg.student(step.params["student"])
    if s.init == "scratch":
        init = students.init_student(s, _tokenizer(run_dir), run_dir / "students" / s.name / "init",
                                     seed=cfg.seed)  # fmt: skip
        init_dir = str(init.resolve())
    else:
        init_dir = s.path
    params = students.checkpoint_params(init_dir)
    atomic_write_json(run_dir / step.artifact, {"init_dir": init_dir, "params": params})
    return {"params": params}


def _run_mix(cfg: StudyConfig, run_dir: Path, step: Step) -> dict:
    from ponder.train.mix import build_mix

    p = step.params
    pairs = pd.read_parquet(run_dir / "pairs" / f"{p['domain']}.parquet")
    examples, stats = build_mix(pairs, p["ratio"], p["schedule"], cfg.mix.seed + p["seed"],
                                drop_truncated=cfg.mix.drop_truncated)  # fmt: skip
    atomic_write_parquet(run_dir / step.artifact, pd.DataFrame(examples))
    if stats.get("dropped_truncated"):
        console.print(f"  {step.id}: dropped {stats['dropped_truncated']} truncated answers")
    return stats


def _run_train(cfg: StudyConfig, run_dir: Path, step: Step, steps: dict[str, Step]) -> dict:
    from ponder.train.loop import default_lr, train_phase

    r = step.params
    student = cfg.student(r["student"])
    if r["parent"]:
        init_dir = run_dir / "models" / r["parent"]
    else:
        init_dir = Path(student_init_dir(run_dir, r["student"]))
    mix_step = steps[step.depends_on[1]]
    examples = pd.read_parquet(run_dir / mix_step.artifact).to_dict("records")
    ratio = r["phases"][-1][1]
    params = json.loads((run_dir / "students" / r["student"] / "student.json").read_text())[
        "params"
    ]
    lr = default_lr(params, "reasoning" if ratio > 0 else "ift", dict(student.lr), cfg.train.lr)
    out = run_dir / "models" / r["model"]
    summary = train_phase(
        init_dir, examples, out, cfg.train, lr=lr, seed=cfg.train.seed + r["seed"]
    )
    return {k: v for k, v in summary.items() if isinstance(v, int | float | str)}


def execute(cfg: StudyConfig, run_dir: Path, step: Step, steps: dict[str, Step]) -> dict:
    if step.kind == "generate":
        from ponder.generate.run import generate_domain

        return generate_domain(cfg, step.params["domain"], run_dir)
    if step.kind == "student":
        return _run_student(cfg, run_dir, step)
    if step.kind == "mix":
        return _run_mix(cfg, run_dir, step)
    if step.kind == "train":
        return _run_train(cfg, run_dir, step, steps)
    if step.kind == "eval":
        from ponder.evaluate.run import evaluate_step

        return evaluate_step(cfg, run_dir, step.params["model"], step.params["benchmark"])
    if step.kind == "judge":
        from ponder.evaluate.judge import judge_step

        return judge_step(cfg, run_dir, step.params["model"], step.params["benchmark"])
    if step.kind == "results":
        from ponder.evaluate.run import collect_results

        df = collect_results(cfg, run_dir)
        atomic_write_parquet(run_dir / step.artifact, df)
        return {"rows": len(df)}
    if step.kind == "report":
        from ponder.report.build import build_report

        build_report(run_dir)
        return {}
    raise AssertionError(step.kind)


def rank() -> int:
    """This process's rank under torchrun / accelerate launch (0 when launched alone)."""
    return int(os.environ.get("RANK", 0)) if int(os.environ.get("WORLD_SIZE", 1)) > 1 else 0


def _wait_done(run_dir: Path, step: Step, poll_s: float) -> None:
    # Under a multi-process launch only training runs on every rank (train_phase shards it);
    # the other ranks wait for rank 0's completion record. If rank 0 dies, the launcher
    # (torchrun, accelerate) stops the others.
    while not step_done(run_dir, step):
        time.sleep(poll_s)


def run_steps(
    cfg: StudyConfig, run_dir: Path, only: str | None = None, poll_s: float = 2.0
) -> dict[str, float]:
    """Run every step (or only one stage's), skipping finished ones; returns seconds per stage.

    Rank-aware: under `torchrun` / `accelerate launch`, rank 0 runs and records every step and the
    other ranks join only the training steps."""
    steps = {s.id: s for s in expand(cfg)}
    me = rank()
    run_dir.mkdir(parents=True, exist_ok=True)
    if me == 0:
        atomic_write_text(run_dir / "study.yaml", dump_study(cfg))
    timings: dict[str, float] = {}
    for step in steps.values():
        if only and step.kind != only:
            continue
        if step_done(run_dir, step):
            continue
        if me and step.kind != "train":
            _wait_done(run_dir, step, poll_s)
            continue
        if me:
            for d in step.depends_on:
                _wait_done(run_dir, steps[d], poll_s)
        missing = [d for d in step.depends_on if not step_done(run_dir, steps[d])]
        if missing:
            raise PonderError(f"step {step.id} needs {missing[0]} first (run `ponder run`)")
        if me == 0:
            console.print(f"[bold]▶ {step.id}[/bold]")
        t0 = time.time()
        info = execute(cfg, run_dir, step, steps) or {}
        dt = time.time() - t0
        timings[step.kind] = timings.get(step.kind, 0.0) + dt
        if me == 0:
            record_done(run_dir, step, dt, info)
    if me == 0:
        _write_manifest(cfg, run_dir, steps, timings)
    return timings


def _write_manifest(cfg: StudyConfig, run_dir: Path, steps: dict[str, Step], new: dict) -> None:
    """Provenance for the report: code version, config hash, hardware, wall seconds per stage."""
    stages: dict[str, float] = {}
    for step in steps.values():
        p = _state_path(run_dir, step)
        if p.exists():
            rec = json.loads(p.read_text())
            stages[step.kind] = round(stages.get(step.kind, 0.0) + rec.get("seconds", 0.0), 3)
    import torch

    hardware = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    atomic_write_json(run_dir / "manifest.json", {
        "study": cfg.name, "config_hash": _cfg_hash(cfg), "code_version": code_version(),
        "hardware": f"{hardware}, {platform.machine()}, {torch.get_num_threads()} threads",
        "host": platform.node(), "stages": stages, "stage_order": list(STAGES),
        "steps": len(steps), "updated": time.time(),
    })  # fmt: skip


def _cfg_hash(cfg: StudyConfig) -> str:
    from ponder.rundir import config_hash

    return config_hash(cfg.model_dump(mode="json"))


def run_stage(stage: str, study: str | None, out: str | None, overrides: list[str]) -> None:
    """CLI entry for one stage (`ponder generate|mix|train|eval|judge|report`)."""
    cfg = load_study(study, overrides)
    run_steps(cfg, run_dir_for(cfg, out), only=stage)
