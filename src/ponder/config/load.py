"""Reading a study: a YAML file or a built-in name, `--set key.path=value` overrides (values are
YAML), and validation errors turned into one line that names the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ponder.config.study import StudyConfig
from ponder.errors import PonderError
from ponder.resources import resource


# ---------------------------------------------------------------- loading
def builtin_studies() -> list[str]:
    files = resource("studies")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(study: str | Path) -> tuple[dict, str]:
    path = Path(study)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise PonderError(f"study file not found: {path}")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        f = resource("studies") / f"{study}.yaml"
        if not f.is_file():
            known = ", ".join(builtin_studies())
            raise PonderError(f"unknown built-in study {study!r} (known: {known})")
        text, source = f.read_text(encoding="utf-8"), f"built-in study {study!r}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PonderError(f"{source}{where}: malformed YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise PonderError(f"{source}: a study must be a YAML mapping")
    return data, source


def apply_override(data: dict, assignment: str) -> None:
    """Apply one `--set a.b.c=value` (value parsed as YAML; list items by index: grid.0.ratios)."""
    if "=" not in assignment:
        raise PonderError(f"--set {assignment!r}: expected key=value")
    key, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    node: Any = data
    parts = key.strip().split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise PonderError(f"--set {key}: no list item {part!r}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise PonderError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping or list")


def _format_error(err: ValidationError, source: str) -> str:
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{source}: {loc}: {msg}{more}"


def load_study(study: str | Path | None = None, overrides: list[str] | None = None) -> StudyConfig:
    """Load a study by path or built-in name (default `tiny`), apply overrides, validate."""
    data, source = _read_yaml(study or "tiny")
    for o in overrides or []:
        apply_override(data, o)
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as e:
        raise PonderError(_format_error(e, source)) from None


def dump_study(cfg: StudyConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
