"""Typed records of a study: the models its grid trains and the models it evaluates.

The grid (§2.2: students × domains × ρ × schedules; §3.3: bi-phasic phases; × seeds) expands
into `ModelRun`s, one per trained model, parents (earlier phases) before children. A checkpoint arm
(`checkpoints:`, trained elsewhere) gets the same `ModelRun` labels without a training step.
`Evaluated` names every model the eval stage answers with: trained students, checkpoint arms, the
teacher, and base checkpoints.
Seeds: a run's `seed` is the study seed plus the grid block's seed, and it fixes the student's
random init, the mix order and the training order together, so replicate seeds are independent
draws of the whole pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ponder.config import StudyConfig
from ponder.config.checkpoints import Checkpoint
from ponder.errors import PonderError
from ponder.rundir import fmt_ratio

Phase = tuple[str, float]  # (domain, ρ)


class ModelKind(StrEnum):
    STUDENT = "student"  # distilled by this study, or a checkpoint arm labelled as one
    BASE = "base"  # a student's starting checkpoint, evaluated 3-shot (§2.3)
    TEACHER = "teacher"


def phase_tag(domain: str, ratio: float) -> str:
    return f"{domain}-r{fmt_ratio(ratio)}"


def model_id(student: str, phases: tuple[Phase, ...], schedule: str, seed: int) -> str:
    """e.g. `tiny-2m_general-r1_sequential` or `tiny-2m_general-r0+math-r1_sequential_s1`."""
    tag = "+".join(phase_tag(d, r) for d, r in phases)
    return f"{student}_{tag}_{schedule}" + (f"_s{seed}" if seed else "")


def canon_schedule(ratio: float, schedule: str) -> str:
    """With ρ ∈ {0, 1} a mix has one style only: sequential and mixed are the same run."""
    return "sequential" if ratio in (0.0, 1.0) else schedule


@dataclass(frozen=True)
class ModelRun:
    """One trained model: a student trained through `phases` (the last one is its own)."""

    model: str
    student: str
    phases: tuple[Phase, ...]
    schedule: str
    seed: int  # replicate index from the grid block (ids carry it)
    parent: str | None  # the model of the previous phase (bi-phasic), else None

    @property
    def domain(self) -> str:
        """The domain of its own (last) phase."""
        return self.phases[-1][0]

    @property
    def ratio(self) -> float:
        return self.phases[-1][1]

    @property
    def domains(self) -> str:
        """Every phase's domain, in order: `general>math` for a bi-phasic run."""
        return ">".join(d for d, _ in self.phases)

    @property
    def arm(self) -> str:
        """Figure 5's arm label for bi-phasic runs (`general-ift>math-reasoning`), else ''."""
        if len(self.phases) == 1:
            return ""
        word = {0.0: "ift", 1.0: "reasoning"}
        return ">".join(f"{d}-{word.get(r, 'r' + fmt_ratio(r))}" for d, r in self.phases)


def effective_seed(cfg: StudyConfig, run_seed: int) -> int:
    """The seed every random choice of a run uses: study seed + the grid block's seed."""
    return cfg.seed + run_seed


def init_seed(cfg: StudyConfig, student: str, run_seed: int) -> int:
    """The seed of a student's starting checkpoint: one per replicate for scratch students, one
    for all replicates of a pretrained checkpoint."""
    return run_seed if cfg.student(student).init == "scratch" else 0


def _chains(block) -> list[tuple[Phase, ...]]:
    if block.domains:
        return [((d, r),) for d in block.domains for r in block.ratios]
    chains: list[tuple[Phase, ...]] = [()]
    for ph in block.phases:
        chains = [c + ((ph.domain, r),) for c in chains for r in ph.ratios]
    return chains


def _prefix_run(student: str, chain: tuple[Phase, ...], k: int, sched: str, seed: int) -> ModelRun:
    """The run that trains the first k phases of `chain`."""

    def sched_of(n: int) -> str:
        return canon_schedule(chain[n - 1][1], sched) if n == 1 else sched

    parent = model_id(student, chain[: k - 1], sched_of(k - 1), seed) if k > 1 else None
    return ModelRun(
        model_id(student, chain[:k], sched_of(k), seed),
        student,
        chain[:k],
        sched_of(k),
        seed,
        parent,
    )


def model_runs(cfg: StudyConfig) -> list[ModelRun]:
    """Every trained model of the grid, parents before children, without duplicates."""
    runs: dict[str, ModelRun] = {}
    for block in cfg.grid:
        for student in block.students:
            for seed in block.seeds:
                for chain in _chains(block):
                    for sched in block.schedules:
                        for k in range(1, len(chain) + 1):
                            run = _prefix_run(student, chain, k, sched, seed)
                            runs.setdefault(run.model, run)
    return list(runs.values())


def checkpoint_run(c: Checkpoint) -> ModelRun:
    """A checkpoint arm's labels as a trained model's: its phases, schedule and seed (§2.2: with
    ρ ∈ {0, 1} sequential and mixed are one run), and no parent (its training happened
    elsewhere).
    """
    chain = c.chain()
    schedule = canon_schedule(chain[0][1], c.schedule) if len(chain) == 1 else c.schedule
    return ModelRun(c.name, c.student, chain, schedule, c.seed, None)


@dataclass(frozen=True)
class Evaluated:
    """A model the eval stage answers with."""

    model: str  # id in evals/<model>/
    kind: ModelKind
    student: str | None = None  # STUDENT and BASE
    seed: int = 0  # BASE: the init seed of the checkpoint; STUDENT: the run's replicate seed
    run: ModelRun | None = None  # STUDENT only
    # A checkpoint arm (a STUDENT this study does not train); its id already names it uniquely.
    checkpoint: Checkpoint | None = field(default=None, compare=False)


def base_id(student: str, seed: int) -> str:
    return f"{student}_base" + (f"_s{seed}" if seed else "")


def evaluated_models(cfg: StudyConfig) -> list[Evaluated]:
    """Trained students, checkpoint arms, then the teacher and the base checkpoints when the
    config asks."""
    runs = model_runs(cfg)
    out = [Evaluated(r.model, ModelKind.STUDENT, r.student, r.seed, r) for r in runs]
    taken = {r.model for r in runs} | {"teacher"}
    taken |= {base_id(r.student, r.seed) for r in runs} if cfg.eval.include_base else set()
    for i, c in enumerate(cfg.checkpoints):
        if c.name in taken:
            raise PonderError(
                f"checkpoints.{i}.name: {c.name!r} is also the id of a model the study "
                "trains or evaluates (give the checkpoint another name)"
            )
        run = checkpoint_run(c)
        out.append(Evaluated(c.name, ModelKind.STUDENT, c.student, c.seed, run, c))
    if cfg.eval.include_teacher:
        out.append(Evaluated("teacher", ModelKind.TEACHER))
    if cfg.eval.include_base:
        for student, seed in sorted({(r.student, r.seed) for r in runs}):
            if cfg.student(student).init == "pretrained" and seed:
                continue  # a pretrained checkpoint is the same for every replicate seed
            out.append(Evaluated(base_id(student, seed), ModelKind.BASE, student, seed))
    return out
