"""A study's grid (records.py) expanded into `Step`s with dependencies and chained hashes.

Each step's hash covers exactly the config that determines its artifact, chained through the
hashes of the steps it depends on, so a changed setting makes stale precisely the steps downstream
of it. Settings that change only how fast or where a stage runs (transport) stay outside. A
checkpoint arm's evaluations hash where it is and how it is asked; its labels (size, ρ, seed,
tokens) change only the results rows, so they are hashed into the results step alone.
"""

from __future__ import annotations

from pathlib import Path

from ponder.config import StudyConfig
from ponder.pipeline.checkpoints import is_local
from ponder.pipeline.steps import Step, StepKind, mix_step_id, student_step_id
from ponder.records import (
    Evaluated,
    ModelKind,
    ModelRun,
    checkpoint_run,
    effective_seed,
    init_seed,
    model_runs,
    phase_tag,
)
from ponder.records import evaluated_models as _evaluated
from ponder.rundir import RunDir, config_hash

# Settings that change how fast or where a stage runs, never what it writes: outside the hashes.
# (The teacher backend is transport too: one model served by vLLM offline or by a vLLM server.)
_TEACHER_TRANSPORT_FIELDS = (
    "backend",
    "base_urls",
    "api_key_env",
    "max_concurrency",
    "max_retries",
    "request_timeout_s",
    "tensor_parallel_size",
    "shard_size",
    "client_processes",
    "flops_model",
    "commit_every_s",
    "max_failed_share",
    "max_mode_mismatch_share",
    "preset",  # not hashed by name: the recipe fields it set are
)
# ... and each mode's own servers (a pair of models), as a pydantic `exclude`
TEACHER_TRANSPORT = dict.fromkeys(_TEACHER_TRANSPORT_FIELDS, True) | {
    m: {"base_urls": True} for m in ("ift", "reasoning")
}
EVAL_TRANSPORT = {"batch_size", "data_dir"}
# Which evaluations exist, not what any one of them answers: adding a benchmark or the teacher to a
# study leaves the evaluations already made valid.
EVAL_SELECTION = {"benchmarks", "include_teacher", "include_base"}
PAIRS_FORMAT = 1  # bump when the pairs row format changes, so old pairs are regenerated


def pairs_content(cfg: StudyConfig, domain: str) -> dict:
    """Exactly what determines a domain's pairs: teacher (not its transport), source, world."""
    src = cfg.domains[domain].source
    teacher = cfg.teacher.model_dump(mode="json", exclude=TEACHER_TRANSPORT)
    for mode in ("ift", "reasoning"):
        teacher[mode].pop("expected_tokens", None)  # a dry-run estimate only
    return {
        "teacher": None if src.kind == "paired" else teacher,  # paired: answers come with it
        "source": src.model_dump(mode="json"),
        "world": cfg.world.model_dump(mode="json") if src.kind == "world" else None,
        "domain": domain,
        "format": PAIRS_FORMAT,
    }


class _Builder:
    """Adds steps in order, each hashed over its kind, typed fields, own config and deps."""

    def __init__(self, cfg: StudyConfig) -> None:
        self.cfg, self.layout, self.steps = cfg, RunDir(Path()), {}

    def add(self, step: Step, own: object) -> None:
        if step.id in self.steps:
            return
        deps = [self.steps[d].hash for d in step.depends_on]
        spec = {"kind": str(step.kind), "params": step.params(), "own": own, "deps": deps}
        step.hash = config_hash(spec)
        self.steps[step.id] = step


def _prepare(b: _Builder, runs: list[ModelRun]) -> None:
    cfg, lay = b.cfg, b.layout
    domains = sorted({d for r in runs for d, _ in r.phases})
    for d in domains:
        b.add(
            Step(f"generate:{d}", StepKind.GENERATE, [], str(lay.pairs(d)), domain=d),
            pairs_content(cfg, d),
        )
    inits = sorted({(r.student, init_seed(cfg, r.student, r.seed)) for r in runs})
    if any(cfg.student(s).init == "scratch" for s, _ in inits):
        own = {
            "world": cfg.world.model_dump(mode="json"),
            "vocab": max(s.vocab_size for s in cfg.students),
        }
        # trained on the world's own text, plus the pairs of domains with other sources
        deps = [f"generate:{d}" for d in domains if cfg.domains[d].source.kind != "world"]
        b.add(
            Step("tokenizer", StepKind.TOKENIZER, deps, str(lay.tokenizer() / "tokenizer.json")),
            own,
        )
    for name, seed in inits:
        s = cfg.student(name)
        deps = ["tokenizer"] if s.init == "scratch" else []
        own = {"student": s.model_dump(mode="json"), "seed": effective_seed(cfg, seed)}
        b.add(
            Step(
                student_step_id(name, seed),
                StepKind.STUDENT,
                deps,
                str(lay.student_record(name, seed)),
                student=name,
                seed=seed,
            ),
            own,
        )


def _train(b: _Builder, runs: list[ModelRun]) -> None:
    cfg, lay = b.cfg, b.layout
    for r in runs:
        mix_id = mix_step_id(r.domain, r.ratio, r.schedule, r.seed)
        b.add(
            Step(
                mix_id,
                StepKind.MIX,
                [f"generate:{r.domain}"],
                str(lay.mix(r.domain, r.ratio, r.schedule, r.seed)),
                domain=r.domain,
                seed=r.seed,
                ratio=r.ratio,
                schedule=r.schedule,
            ),
            {"mix": cfg.mix.model_dump(mode="json"), "seed": effective_seed(cfg, r.seed)},
        )
        init = (
            f"train:{r.parent}"
            if r.parent
            else student_step_id(r.student, init_seed(cfg, r.student, r.seed))
        )
        own = {"train": cfg.train.model_dump(mode="json"), "seed": effective_seed(cfg, r.seed)}
        b.add(
            Step(
                f"train:{r.model}",
                StepKind.TRAIN,
                [init, mix_id],
                str(lay.train_summary(r.model)),
                run=r,
                init=init,
                mix=mix_id,
            ),
            own,
        )


def _evaluate(b: _Builder) -> None:
    cfg, lay = b.cfg, b.layout
    eval_own = cfg.eval.model_dump(mode="json", exclude=EVAL_TRANSPORT | EVAL_SELECTION)
    world = cfg.world.model_dump(mode="json")  # the tiny benchmarks' items (seed, n_test)
    judge_own = cfg.judge.model_dump(
        mode="json", exclude={"judges": {"__all__": {"base_urls", "api_key_env"}}}
    )
    teacher = cfg.teacher.model_dump(mode="json", exclude=TEACHER_TRANSPORT)
    for t in _evaluated(cfg):
        if t.checkpoint is not None:
            deps = []  # trained elsewhere: no step makes it
        elif t.kind is ModelKind.STUDENT:
            deps = [f"train:{t.model}"]
        elif t.kind is ModelKind.BASE:
            deps = [student_step_id(t.student, init_seed(cfg, t.student, t.seed))]
        else:
            deps = []
        for bench in cfg.eval.benchmarks:
            own = {
                "eval": eval_own,
                "teacher": teacher if t.kind is ModelKind.TEACHER else None,
                "world": world if bench.startswith("tiny-") else None,
            }
            if t.checkpoint is not None:
                own["checkpoint"] = checkpoint_content(t)
            eid = f"eval:{t.model}:{bench}"
            b.add(
                Step(
                    eid,
                    StepKind.EVAL,
                    deps,
                    str(lay.eval(t.model, bench)),
                    target=t,
                    benchmark=bench,
                ),
                own,
            )
            if cfg.judge.enabled:
                b.add(
                    Step(
                        f"judge:{t.model}:{bench}",
                        StepKind.JUDGE,
                        [eid],
                        str(lay.judgement(t.model, bench)),
                        target=t,
                        benchmark=bench,
                    ),
                    judge_own,
                )


def checkpoint_content(t: Evaluated) -> dict:
    """What a checkpoint arm's answers depend on: which weights (a local folder by its absolute
    path) and how they are asked. Not its labels: relabelling re-runs the results step only."""
    c = t.checkpoint
    where = str(Path(c.path).expanduser().resolve()) if is_local(c.path) else c.path
    return {"path": where, "revision": c.revision, "request": c.eval.model_dump(mode="json")}


def expand(cfg: StudyConfig) -> list[Step]:
    """The study's steps in a valid execution order, each with its chained config hash."""
    b = _Builder(cfg)
    runs = model_runs(cfg)
    _prepare(b, runs)
    _train(b, runs)
    _evaluate(b)
    final = [s.id for s in b.steps.values() if s.kind in (StepKind.EVAL, StepKind.JUDGE)]
    # A checkpoint arm's labels are read into results.parquet by the results step.
    labels = [c.model_dump(mode="json", exclude={"eval"}) for c in cfg.checkpoints]
    b.add(
        Step("results", StepKind.RESULTS, final, str(b.layout.results())),
        {"checkpoints": labels} if labels else {},
    )
    if cfg.report.enabled:
        b.add(
            Step("report", StepKind.REPORT, ["results"], str(b.layout.report_index())),
            {"report": cfg.report.model_dump()},
        )
    return list(b.steps.values())


def grid_rows(cfg: StudyConfig) -> list[dict]:
    """The expanded grid, one row per trained model, then the checkpoint arms (for `ponder
    validate`)."""
    arms = [(r, "") for r in model_runs(cfg)]
    arms += [(checkpoint_run(c), " (checkpoint)") for c in cfg.checkpoints]
    return [
        {
            "model": r.model,
            "student": r.student,
            "phases": " → ".join(phase_tag(d, x) for d, x in r.phases) + where,
            "schedule": r.schedule,
            "seed": r.seed,
            "benchmarks": len(cfg.eval.benchmarks),
        }
        for r, where in arms
    ]
