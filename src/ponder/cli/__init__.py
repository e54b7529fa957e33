"""The `ponder` console script: a thin Typer layer over the stage functions.

Each command group lives in its own module here and exposes `register(app)`. The entry point maps
`PonderError` (bad input) to one `error: ...` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from ponder.errors import PonderError

app = typer.Typer(
    name="ponder",
    help="When does reasoning matter? Distil IFT vs reasoning traces, evaluate, and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command group; each defines `register(app: typer.Typer) -> None`.
COMMAND_MODULES = (
    "study_cmd",
    "flops_cmd",
    "eval_cmd",
    "generate_cmd",
    "plan_cmd",
    "train_cmd",
    "data_cmd",
)

err_console = Console(stderr=True, soft_wrap=True)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"ponder.cli.{name}").register(app)


def main() -> None:
    """Console-script entry point."""
    _register_all()
    try:
        app(standalone_mode=False)
    except PonderError as e:
        err_console.print(f"error: {e}", highlight=False, markup=False)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as e:  # usage errors arrive here in non-standalone mode
        # Typer >= 0.29 vendors its own click; older releases use the click package.
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            e.show()
            sys.exit(2)
        raise
