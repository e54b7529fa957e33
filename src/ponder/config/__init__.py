"""Typed study configuration (pydantic): shared types and bounds (base.py), the stage sections
(generation.py, training.py, evaluation.py), the study and its grid (study.py), and loading YAML
with `--set` overrides (load.py). Everything is importable from here.
"""

from ponder.config.base import Strict
from ponder.config.evaluation import EvalConfig, JudgeConfig, JudgeModel, ReportConfig
from ponder.config.generation import (
    DomainConfig,
    PromptSource,
    Sampling,
    TeacherConfig,
    WorldConfig,
)
from ponder.config.load import apply_override, builtin_studies, dump_study, load_study
from ponder.config.study import GridBlock, Phase, Schedule, StudyConfig
from ponder.config.training import MixConfig, StudentConfig, TrainConfig

__all__ = [
    "DomainConfig",
    "EvalConfig",
    "GridBlock",
    "JudgeConfig",
    "JudgeModel",
    "MixConfig",
    "Phase",
    "PromptSource",
    "ReportConfig",
    "Sampling",
    "Schedule",
    "StudentConfig",
    "Strict",
    "StudyConfig",
    "TeacherConfig",
    "TrainConfig",
    "WorldConfig",
    "apply_override",
    "builtin_studies",
    "dump_study",
    "load_study",
]
