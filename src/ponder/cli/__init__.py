"""The `ponder` console script: a thin Typer layer over the stage functions.

Each command group lives in its own module here and exposes `register(app)`. The entry point maps
`PonderError` (bad input) to one `error: ...` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import os
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


@app.callback()
def _root() -> None:
    # A callback keeps `ponder` a command group however few commands are registered (Typer
    # runs a lone command without its name), so `ponder generate ...` means the same in tests.
    pass


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"ponder.cli.{name}").register(app)


def _fail(message: str) -> None:
    """Print one `error: ...` line (whatever newlines the message holds) and exit 2."""
    err_console.print("error: " + " ".join(str(message).split()), highlight=False, markup=False)
    sys.exit(2)


def main() -> None:
    """Console-script entry point."""
    # One bar per checkpoint load/save (dozens a run) buries the step lines; rich shows progress.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _register_all()
    try:
        app(standalone_mode=False)
    except PonderError as e:
        _fail(str(e))
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    # Last resort for bad input that a command did not catch where it read it (they should: the
    # file and line belong in the message); a bug elsewhere still shows its traceback.
    except UnicodeDecodeError as e:
        _fail(f"input is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})")
    except RecursionError:
        _fail("input is nested too deeply")
    except (FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
        _fail(f"{e.filename}: {e.strerror}")
    except Exception as e:  # usage errors arrive here in non-standalone mode
        # Typer >= 0.29 vendors its own click; older releases use the click package.
        if type(e).__name__ == "NoArgsIsHelpError" or not hasattr(e, "format_message"):
            if hasattr(e, "show") and hasattr(e, "exit_code"):
                e.show()
                sys.exit(2)
            raise
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _fail(e.format_message() + hint)
