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


def _locate(study: str | Path) -> tuple[bytes, str]:
    """The study's bytes and how to name it in errors: a file path, else a built-in name."""
    path = Path(study)
    try:
        is_path = path.suffix in (".yaml", ".yml") or path.exists()
        if is_path and path.is_dir():
            raise PonderError(f"study file {path} is a folder")
        if is_path and not path.is_file():
            raise PonderError(f"study file not found: {path}")
        if is_path:
            return path.read_bytes(), str(path)
    except OSError as e:  # a name too long, a folder without read permission …
        raise PonderError(f"study file {str(path)[:200]!r}: cannot read ({e.strerror})") from None
    f = resource("studies") / f"{study}.yaml"
    if not f.is_file():
        known = ", ".join(builtin_studies())
        raise PonderError(f"unknown built-in study {str(study)[:200]!r} (known: {known})")
    return f.read_bytes(), f"built-in study {study!r}"


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PonderError(
            f"{source} line {line}: not UTF-8 text (byte {raw[e.start]:#04x})"
        ) from None


# A study nests brackets a few levels deep. PyYAML's scanner slows quadratically with bracket depth
# (1.2 s at 1,000 levels) before its composer runs out of stack (~300 levels): stop at 100.
MAX_BRACKET_DEPTH = 100


def _too_deep(text: str) -> int | None:
    """The line where brackets nest past MAX_BRACKET_DEPTH, if any."""
    depth = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        for ch in line:
            depth += (ch in "[{") - (ch in "]}")
            if depth > MAX_BRACKET_DEPTH:
                return line_no
    return None


def _read_yaml(study: str | Path) -> tuple[dict, str]:
    raw, source = _locate(study)
    text = _decode(raw, source)
    if (line := _too_deep(text)) is not None:
        raise PonderError(f"{source} line {line}: malformed YAML (nested too deeply)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise PonderError(f"{source}{where}: malformed YAML ({problem})") from None
    except RecursionError:  # PyYAML composes recursively: ~300 levels of nesting exhaust it
        raise PonderError(f"{source}: malformed YAML (nested too deeply)") from None
    if not isinstance(data, dict):
        raise PonderError(f"{source}: a study must be a YAML mapping")
    return data, source


def apply_override(data: dict, assignment: str, option: str = "--set") -> None:
    """Apply one `--set a.b.c=value` (value parsed as YAML; list items by index: grid.0.ratios);
    errors name `option`."""
    if "=" not in assignment:
        raise PonderError(f"{option} {assignment!r}: expected key=value")
    key, raw = assignment.split("=", 1)
    if _too_deep(raw) is not None:
        raise PonderError(f"{option} {key}: value nested too deeply")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    except RecursionError:
        raise PonderError(f"{option} {key}: value nested too deeply") from None
    node: Any = data
    parts = key.strip().split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise PonderError(f"{option} {key}: no list item {part!r}")
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
            raise PonderError(f"{option} {key}: {'.'.join(parts[:i])} is not a mapping or list")


def _format_error(err: ValidationError, source: str) -> str:
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"] if x != "[key]") or "(top level)"
    msg = " ".join(e["msg"].removeprefix("Value error, ").split())  # one line
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
    except RecursionError:
        raise PonderError(f"{source}: a value is nested too deeply") from None


def dump_study(cfg: StudyConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
