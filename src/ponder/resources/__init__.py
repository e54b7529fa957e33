"""Data files shipped with ponder: studies, benchmark definitions, the paper's prompt texts,
Slurm and report templates, accelerate launch configs, and reference tables.

`resource("studies", "tiny.yaml")` is the one place that knows where they live in the package.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def resource(*parts: str) -> Traversable:
    """A file or folder under `ponder/resources/`."""
    node = files(__name__)
    for p in parts:
        node = node / p
    return node
