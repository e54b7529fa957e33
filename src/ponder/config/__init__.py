"""Typed study configuration (pydantic): the stage sections (stages.py), the study and its grid
(study.py), and loading YAML with `--set` overrides (load.py). Everything is importable from here.
"""

from ponder.config.load import apply_override, builtin_studies, dump_study, load_study
from ponder.config.stages import (
    DomainConfig,
    EvalConfig,
    JudgeConfig,
    JudgeModel,
    MixConfig,
    PromptSource,
    Sampling,
    Strict,
    StudentConfig,
    TeacherConfig,
    TrainConfig,
    WorldConfig,
)
from ponder.config.study import GridBlock, Phase, Schedule, StudyConfig

__all__ = [
    "DomainConfig", "EvalConfig", "GridBlock", "JudgeConfig", "JudgeModel", "MixConfig", "Phase",
    "PromptSource", "Sampling", "Schedule", "StudentConfig", "Strict", "StudyConfig",
    "TeacherConfig", "TrainConfig", "WorldConfig", "apply_override", "builtin_studies",
    "dump_study", "load_study",
]  # fmt: skip
