"""What each step kind does: a table from `StepKind` to the stage function that runs it.

Each entry reads its inputs from the run directory (`RunDir`), calls the stage package that owns
the work (generate/, tiny/, train/, evaluate/, report/) and returns a small summary for the step's
record. Stage packages never see steps or records; this table is the only bridge. Heavy imports
stay inside the functions so `ponder --help` and planning never load torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ponder.config import StudyConfig
from ponder.pipeline.steps import Step, StepKind
from ponder.records import Evaluated, ModelKind, effective_seed, init_seed
from ponder.rundir import RunDir, atomic_write_json, atomic_write_parquet


@dataclass
class Context:
    cfg: StudyConfig
    rd: RunDir
    steps: dict[str, Step]  # every step of the study (a train step reads its mix step's path)
    progress: bool = True  # progress bars on the terminal


def student_init_dir(rd: RunDir, student: str, seed: int) -> Path:
    """The checkpoint a student starts from, as its student step recorded it."""
    rec = json.loads(rd.student_record(student, seed).read_text())
    return Path(rec["init_dir"])


def model_path(ctx: Context, target: Evaluated) -> Path | None:
    """Where an evaluated model's weights are (None: the teacher, served by its backend). A
    checkpoint arm is fetched (hub) and checked against its labels before it answers."""
    if target.checkpoint is not None:
        from ponder.pipeline.checkpoint_checks import check_folder
        from ponder.pipeline.checkpoints import weights_dir

        path = weights_dir(ctx.cfg, target.checkpoint)
        check_folder(ctx.cfg, target.checkpoint, path)
        return path
    if target.kind is ModelKind.STUDENT:
        return ctx.rd.model(target.model)
    if target.kind is ModelKind.BASE:
        return student_init_dir(
            ctx.rd, target.student, init_seed(ctx.cfg, target.student, target.seed)
        )
    return None


def _generate(ctx: Context, step: Step) -> dict:
    from ponder.generate import run

    if step.shard is not None:
        k, n = step.shard
        out = ctx.rd.pair_shard(step.domain, k, n)
        return run.generate_shard(ctx.cfg, step.domain, k, n, out, step.hash, progress=ctx.progress)
    shards = [ctx.steps[d].shard for d in step.depends_on if ctx.steps[d].shard is not None]
    if shards:  # the planner split this domain: merge its finished shards
        paths = [ctx.rd.pair_shard(step.domain, k, n) for k, n in shards]
        return run.merge_shards(ctx.cfg, step.domain, paths, ctx.rd.pairs(step.domain))
    out = ctx.rd.pairs(step.domain)
    return run.generate_domain(ctx.cfg, step.domain, out, step.hash, progress=ctx.progress)


def _tokenizer(ctx: Context, step: Step) -> dict:
    from ponder.tiny.students import tokenizer_for_study

    pairs = [ctx.rd.pairs(ctx.steps[d].domain) for d in step.depends_on]  # non-world domains
    tok = tokenizer_for_study(ctx.cfg, pairs)
    tok.save_pretrained(ctx.rd.tokenizer())
    return {"vocab_size": len(tok)}


def _student(ctx: Context, step: Step) -> dict:
    from ponder.tiny import students

    s = ctx.cfg.student(step.student)
    if s.init == "scratch":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(ctx.rd.tokenizer())
        out = ctx.rd.student_init(s.name, step.seed)
        students.init_student(s, tok, out, seed=effective_seed(ctx.cfg, step.seed))
        init_dir = str(out.resolve())
    else:
        init_dir = s.path
    params = students.checkpoint_params(init_dir)
    atomic_write_json(
        ctx.rd.student_record(s.name, step.seed), {"init_dir": init_dir, "params": params}
    )
    return {"params": params}


def _mix(ctx: Context, step: Step) -> dict:
    import pandas as pd

    from ponder.train.mix import build_mix, mix_frame

    pairs = pd.read_parquet(ctx.rd.pairs(step.domain))
    seed = ctx.cfg.mix.seed + effective_seed(ctx.cfg, step.seed)
    examples, stats = build_mix(
        pairs, step.ratio, step.schedule, seed, drop_truncated=ctx.cfg.mix.drop_truncated
    )
    atomic_write_parquet(ctx.rd.root / step.artifact, mix_frame(examples))
    return stats


def _train(ctx: Context, step: Step) -> dict:
    from ponder.train.loop import train_phase
    from ponder.train.mix import mix_format
    from ponder.train.schedule import default_lr

    r, cfg, rd = step.run, ctx.cfg, ctx.rd
    seed = init_seed(cfg, r.student, r.seed)
    init_dir = rd.model(r.parent) if r.parent else student_init_dir(rd, r.student, seed)
    mix = rd.root / ctx.steps[step.mix].artifact  # every rank maps its token store, never the text
    params = json.loads(rd.student_record(r.student, seed).read_text())["params"]
    student = cfg.student(r.student)
    lr = default_lr(params, mix_format(r.ratio), dict(student.lr), cfg.train.lr)
    summary = train_phase(
        init_dir,
        mix,
        rd.model(r.model),
        cfg.train,
        lr=lr,
        seed=cfg.train.seed + effective_seed(cfg, r.seed),
        progress=ctx.progress,
        cache=rd.mix_tokens(mix),
    )
    return {k: v for k, v in summary.items() if isinstance(v, int | float | str)}


def _eval(ctx: Context, step: Step) -> dict:
    from ponder.evaluate.run import evaluate_step

    path = model_path(ctx, step.target)
    return evaluate_step(ctx.cfg, step.target, step.benchmark, path, ctx.rd.root / step.artifact)


def _judge(ctx: Context, step: Step) -> dict:
    from ponder.evaluate.judge import judge_step

    evals = ctx.rd.eval(step.target.model, step.benchmark)
    return judge_step(ctx.cfg, step.benchmark, evals, ctx.rd.root / step.artifact)


def _results(ctx: Context, step: Step) -> dict:
    from ponder.evaluate.results import collect_results
    from ponder.pipeline.checkpoints import labels

    df = collect_results(ctx.cfg, ctx.rd, labels(ctx.cfg))
    atomic_write_parquet(ctx.rd.results(), df)
    return {"rows": len(df)}


def _report(ctx: Context, step: Step) -> dict:
    from ponder.report.build import build_report

    build_report(ctx.rd.root)
    return {}


STAGES: dict[StepKind, Callable[[Context, Step], dict]] = {
    StepKind.GENERATE: _generate,
    StepKind.TOKENIZER: _tokenizer,
    StepKind.STUDENT: _student,
    StepKind.MIX: _mix,
    StepKind.TRAIN: _train,
    StepKind.EVAL: _eval,
    StepKind.JUDGE: _judge,
    StepKind.RESULTS: _results,
    StepKind.REPORT: _report,
}


def execute(ctx: Context, step: Step) -> dict:
    """Run one step's work (its record is the caller's: runner or worker)."""
    return STAGES[step.kind](ctx, step) or {}
