"""Small studies built in code for the generation tests: one scratch student and the domains
each test names (a world source unless it says otherwise)."""

from __future__ import annotations

from ponder.config import StudyConfig


def one_student_study(teacher: dict | None, domains: dict) -> StudyConfig:
    """A study of student `s` on the first of `domains` ({name: source}), with `teacher`."""
    return StudyConfig.model_validate(
        {
            "name": "t",
            "students": [{"name": "s"}],
            "grid": [{"students": ["s"], "domains": [next(iter(domains))]}],
            "teacher": teacher or {},
            "domains": {d: {"source": src} for d, src in domains.items()},
        }
    )
