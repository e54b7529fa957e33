"""A study: its grid (students × domains × ratios × schedules × seeds, or bi-phasic
phases; §2.2, §3.3), the checkpoints it evaluates without training them
(config/checkpoints.py), and the stage sections, with the cross-references checked (students
and domains the grid names exist, model names unique)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ponder.config.base import SEED_MAX, Name, Seed, Strict
from ponder.config.checkpoints import Checkpoint
from ponder.config.evaluation import EvalConfig, JudgeConfig, ReportConfig
from ponder.config.generation import DomainConfig, TeacherConfig, WorldConfig
from ponder.config.training import MixConfig, StudentConfig, TrainConfig

# ---------------------------------------------------------------- the grid
Schedule = Literal["sequential", "mixed"]


class Phase(Strict):
    domain: str
    ratios: list[float] = Field(default_factory=lambda: [0.0, 1.0], min_length=1)

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, v: list[float]) -> list[float]:
        for r in v:
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"ratio {r} is outside [0, 1]")
        return v


class GridBlock(Strict):
    """One product of the grid: students × domains × ratios × schedules, or bi-phasic arms."""

    # Every list is a factor of the product: an empty one would silently make it empty.
    students: list[str] = Field(min_length=1)
    domains: list[str] = Field(default_factory=list)
    ratios: list[float] = Field(default_factory=lambda: [0.0, 1.0], min_length=1)
    schedules: list[Schedule] = Field(default_factory=lambda: ["sequential"], min_length=1)
    phases: list[Phase] = Field(default_factory=list)  # bi-phasic: phase i starts from phase i-1
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, v: list[float]) -> list[float]:
        return Phase._ratios(v)

    @model_validator(mode="after")
    def _one_kind(self) -> GridBlock:
        if bool(self.domains) == bool(self.phases):
            raise ValueError("a grid block needs either `domains` (mono-phasic) or `phases`")
        return self


class StudyConfig(Strict):
    name: Name
    seed: Seed = 0
    out_dir: str = Field("runs", min_length=1)
    world: WorldConfig = Field(default_factory=WorldConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    domains: dict[Name, DomainConfig] = Field(default_factory=dict)
    students: list[StudentConfig] = Field(default_factory=list)  # those the grid trains
    # Models evaluated as arms without training (before `grid`: the grid may then be empty).
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    grid: list[GridBlock] = Field(default_factory=list, validate_default=True)
    mix: MixConfig = Field(default_factory=MixConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @field_validator("report", mode="before")
    @classmethod
    def _report_bool(cls, v: object) -> object:
        return {"enabled": v} if isinstance(v, bool) else v

    @field_validator("checkpoints")
    @classmethod
    def _unique_names(cls, v: list[Checkpoint]) -> list[Checkpoint]:
        names = [c.name for c in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"name {twice[0]!r} is listed twice")
        return v

    @field_validator("grid")
    @classmethod
    def _something_to_evaluate(cls, v: list[GridBlock], info: ValidationInfo) -> list[GridBlock]:
        if not v and not info.data.get("checkpoints"):
            raise ValueError("List should have at least 1 item (or list `checkpoints`)")
        return v

    @model_validator(mode="after")
    def _refs(self) -> StudyConfig:
        names = [s.name for s in self.students]
        if len(set(names)) != len(names):
            raise ValueError("student names must be unique")
        for i, block in enumerate(self.grid):
            for s in block.students:
                if s not in names:
                    raise ValueError(f"grid.{i}.students: unknown student {s!r}")
            doms = block.domains or [p.domain for p in block.phases]
            for d in doms:
                if d not in self.domains:
                    raise ValueError(f"grid.{i}: unknown domain {d!r}")
            # A run's seed is study seed + block seed (records.effective_seed): both must fit.
            if self.seed + max(block.seeds) > SEED_MAX:
                raise ValueError(f"grid.{i}.seeds: seed + {max(block.seeds)} is over {SEED_MAX}")
        return self

    def student(self, name: str) -> StudentConfig:
        return next(s for s in self.students if s.name == name)
