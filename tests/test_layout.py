"""The code's shape, checked: a folder per stage, no import cycles, short modules and functions,
and every module saying what it owns.

Imports are read with `ast` from every module under src/ponder, including imports inside
functions (a lazy import still ties two modules together) but not those under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from _paths import TESTS

SRC = TESTS.parent / "src" / "ponder"
# The stage folders, plus `config` (the study schema) and `resources` (data files).
FOLDERS = [
    "cli",
    "config",
    "evaluate",
    "generate",
    "lm",
    "pipeline",
    "report",
    "resources",
    "tiny",
    "train",
]
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` blocks
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m in MODULES and m != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_a_folder_per_stage():
    folders = sorted(p.name for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == FOLDERS
    loose = sorted(p.stem for p in SRC.glob("*.py"))
    assert loose == ["__init__", "__main__", "errors", "flops", "records", "rundir"]


# Stage packages do their stage's work; only the pipeline (and the CLI above it) sees steps.
STAGE_PACKAGES = ["evaluate", "generate", "lm", "report", "tiny", "train"]


@pytest.mark.parametrize("package", STAGE_PACKAGES)
def test_stage_packages_never_import_the_pipeline(package):
    reaching_up = sorted(
        f"{name} imports {m}"
        for name, path in MODULES.items()
        if name.startswith(f"ponder.{package}")
        for m in _imports(name, path)
        if m == "ponder.pipeline" or m.startswith("ponder.pipeline.")
    )
    assert reaching_up == []


def test_no_import_cycles():
    graph = {}
    for name, path in MODULES.items():
        # a package's __init__ importing its own modules is not a cycle through them
        graph[name] = {m for m in _imports(name, path) if not m.startswith(name + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short_and_says_what_it_owns(name):
    path = MODULES[name]
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines"
    if text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{name} has no module docstring"


def _long_functions() -> list[str]:
    out = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    out.append(f"{name}.{node.name} ({n} lines)")
    return out


def test_no_line_over_a_hundred_characters():
    long = [
        f"{name}:{i}"
        for name, path in MODULES.items()
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > 100
    ]
    assert long == []


def test_fmt_skip_only_beside_a_few_data_tables():
    # `ruff format` owns line breaks; a skip marker is for a table whose alignment carries meaning
    skips = sum(p.read_text(encoding="utf-8").count("# fmt: skip") for p in MODULES.values())
    assert skips <= 20


def test_no_function_over_sixty_lines():
    assert _long_functions() == []


def test_no_utils_module():
    assert not [p for p in SRC.rglob("*.py") if p.stem in ("utils", "helpers", "misc")]
