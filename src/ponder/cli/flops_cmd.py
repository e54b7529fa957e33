"""`ponder flops forward|train|infer`: Appendix C FLOPs for a built-in model or a config.json.

`--json` prints one object whose key `flops` is the total (contract), beside the inputs, the
method, the model's dimensions and the term-by-term breakdown; without it, a rich table.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ponder import flops as F
from ponder.cli.options import JsonOpt, echo_json
from ponder.config.base import COUNT_MAX, TOKENS_MAX
from ponder.errors import PonderError

flops_app = typer.Typer(
    help="Appendix C FLOPs: forward (Eq. 1), train (Eqs. 2-3), infer (Eq. 6).",
    no_args_is_help=True,
)

MODEL_HELP = "Built-in model (qwen2.5-0.5b ... -14b, gemma-3-1b/-4b/-12b) or a config.json path."
METHOD_HELP = "paper: formulas as printed; exact: GQA, SwiGLU, cached-step FFN, lm head."


def _positive(value: int, option: str, most: int = TOKENS_MAX) -> int:
    if not 1 <= value <= most:
        raise PonderError(f"{option}: must be an integer in 1..{most}, got {value}")
    return value


def _emit(
    command: str,
    dims: F.ModelDims,
    method: str,
    inputs: dict[str, int],
    breakdown: dict[str, Any],
    total: float,
    as_json: bool,
) -> None:
    record = {
        "command": command,
        "model": dims.name,
        "method": method,
        "inputs": inputs,
        "dims": dims.as_dict(),
        "params": F.count_params(dims),
        "breakdown": {k: float(v) for k, v in breakdown.items()},
        "flops": float(total),
    }
    if as_json:
        echo_json(record)
        return
    table = Table(title=f"FLOPs {command} - {dims.name} ({method})", show_lines=False)
    table.add_column("term")
    table.add_column("FLOPs", justify="right")
    for key, value in record["breakdown"].items():
        table.add_row(key, f"{value:.4e}")
    table.add_row("[bold]total[/bold]", f"[bold]{total:.4e}[/bold]")
    console = Console()
    console.print(table)
    shown = ", ".join(f"{k}={v}" for k, v in inputs.items())
    console.print(f"{shown}; params={record['params']:,}", highlight=False)


def _method(method: str) -> str:
    if method not in F.METHODS:
        raise PonderError(f"--method: {method!r} is not one of {', '.join(F.METHODS)}")
    return method


@flops_app.command("forward")
def forward_cmd(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    seq_len: int = typer.Option(..., "--seq-len", help="Sequence length l (tokens)."),
    method: str = typer.Option("paper", "--method", help=METHOD_HELP),
    as_json: JsonOpt = False,
) -> None:
    """Eq. (1): one forward pass over SEQ_LEN tokens."""
    method, seq_len = _method(method), _positive(seq_len, "--seq-len")
    dims = F.resolve_model(model)
    parts = F.forward_breakdown(dims, seq_len, method)
    total = sum(float(v) for v in parts.values())
    _emit("forward", dims, method, {"seq_len": seq_len}, parts, total, as_json)


@flops_app.command("train")
def train_cmd(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    seq_len: int = typer.Option(..., "--seq-len", help="Length of each training sample."),
    samples: int = typer.Option(1, "--samples", help="Number of samples N_s."),
    method: str = typer.Option("paper", "--method", help=METHOD_HELP),
    as_json: JsonOpt = False,
) -> None:
    """Eqs. (2)-(3): SAMPLES training samples of SEQ_LEN tokens (3 x forward each)."""
    method, seq_len = _method(method), _positive(seq_len, "--seq-len")
    samples = _positive(samples, "--samples", COUNT_MAX)
    dims = F.resolve_model(model)
    parts = {
        k: 3 * samples * float(v) for k, v in F.forward_breakdown(dims, seq_len, method).items()
    }
    total = F.train_flops(dims, [seq_len], method) * samples
    _emit("train", dims, method, {"seq_len": seq_len, "samples": samples}, parts, total, as_json)


@flops_app.command("infer")
def infer_cmd(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    prompt_tokens: int = typer.Option(..., "--prompt-tokens", help="Prompt length l_p."),
    gen_tokens: int = typer.Option(..., "--gen-tokens", help="Generated tokens l_g."),
    method: str = typer.Option("paper", "--method", help=METHOD_HELP),
    as_json: JsonOpt = False,
) -> None:
    """Eq. (6): prefill a PROMPT_TOKENS prompt (Eq. 4), then GEN_TOKENS cached steps (Eq. 5)."""
    method = _method(method)
    prompt_tokens = _positive(prompt_tokens, "--prompt-tokens")
    gen_tokens = _positive(gen_tokens, "--gen-tokens")
    dims = F.resolve_model(model)
    parts = F.infer_breakdown(dims, prompt_tokens, gen_tokens, method)
    total = F.infer_flops(dims, prompt_tokens, gen_tokens, method)
    inputs = {"prompt_tokens": prompt_tokens, "gen_tokens": gen_tokens}
    _emit("infer", dims, method, inputs, parts, total, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(flops_app, name="flops")
