"""What `ponder validate` and the eval step check of a checkpoint arm before anything runs: it can
be found (a folder with config.json, or a well-formed hub id), it is a causal LM, its parameter
count is within 10% of its label, and it has a chat template when it is evaluated zero-shot
through one (§2.3). Each failure is one `PonderError` naming the field.

The hub is asked only when it answers (`checkpoints.hub_reachable`). A hub checkpoint that is
neither cached nor reachable is checked by its id's form and by its labels against the built-in
dimensions its student label names; `unchecked` says so, and the eval step checks the rest once
the checkpoint is downloaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ponder import flops
from ponder.config import StudyConfig
from ponder.config.checkpoints import Checkpoint
from ponder.errors import PonderError
from ponder.pipeline import checkpoints as ck

# A hub model id `org/name` (pipeline/validate.py checks students' ids with it too).
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# Labels and config within 10% agree: two configs of one family differ by 2x or more (Qwen2.5
# 0.5B/1.5B: 3.1x), while the same weights counted with and without biases or tied embeddings
# differ by < 0.01% (Qwen2.5-0.5B: 494,032,768 with its q/k/v biases, 494,005,120 without).
PARAMS_TOLERANCE = 0.10


def check_checkpoint(cfg: StudyConfig, c: Checkpoint, online: bool = True) -> str | None:
    """Raise a PonderError for the first thing wrong with `c`; return what could not be checked
    here (None when everything was)."""
    f = ck.field(cfg, c)
    if ck.is_local(c.path):
        if c.revision is not None:
            raise PonderError(f"{f}.revision: a local folder has no revisions ({c.path})")
        _check_folder_found(f, Path(c.path).expanduser())
    elif not HUB_ID.fullmatch(c.path):
        raise PonderError(
            f"{f}.path: {c.path[:200]!r} is neither a checkpoint folder nor a hub id (org/name)"
        )
    try:
        d = ck.config_dir(c, online)
    except PonderError as e:
        raise PonderError(f"{f}.path: {e}") from None
    if d is not None:
        check_folder(cfg, c, d)
        return None
    _check_labels(f, c)
    return "found, causal LM, parameter count, chat template"


def _check_folder_found(f: str, path: Path) -> None:
    if not path.is_dir():
        what = "is a file; give the checkpoint's folder" if path.exists() else "folder not found"
        raise PonderError(f"{f}.path: {what}: {path}")
    if not (path / "config.json").is_file():
        raise PonderError(f"{f}.path: {path} has no config.json (not a Hugging Face checkpoint)")


def check_folder(cfg: StudyConfig, c: Checkpoint, d: Path) -> None:
    """The checks that read the checkpoint's files (a local folder or its hub snapshot)."""
    f = ck.field(cfg, c)
    config = ck.read_config(d)
    kind = _causal_lm(config)
    if kind:
        raise PonderError(f"{f}.path: {c.where()} is {kind}, not a causal LM")
    try:
        actual = ck.config_params(d)
    except (OSError, ValueError, KeyError, TypeError) as e:  # a model type transformers lacks
        raise PonderError(f"{f}.path: cannot build {c.where()} from its config ({e})") from None
    _check_params(f, c, actual, "its config.json")
    if cfg.eval.backend != "openai" and not has_chat_template(d):
        # A served model is rendered by its server's template; local backends need the file's.
        raise PonderError(
            f"{f}.path: {c.where()} has no chat template (no chat_template in "
            "tokenizer_config.json, no chat_template.jinja): students are evaluated zero-shot "
            "through their chat template (§2.3)"
        )


def _causal_lm(config: dict) -> str | None:
    """None for a causal LM, else what the config says it is."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as M

    causal = set()
    for v in M.values():
        causal |= set(v) if isinstance(v, tuple | list) else {v}
    archs = config.get("architectures") or []
    if archs:
        return None if set(archs) & causal else f"a {', '.join(map(str, archs))}"
    kind = config.get("model_type")
    return None if kind in M else f"model_type {kind!r}"


def _off(a: float, b: float) -> float:
    return abs(a - b) / b


def _check_params(f: str, c: Checkpoint, actual: int, source: str) -> None:
    """The labels (`params`, a built-in student name) against `actual` from `source`."""
    name = ck.builtin_name(c)
    claims = [(f"{f}.params", c.params, "its label")]
    if name:
        claims.append((f"{f}.student", flops.count_params(flops.resolve_model(name)), name))
    for where, claim, what in claims:
        if claim is not None and _off(claim, actual) > PARAMS_TOLERANCE:
            raise PonderError(
                f"{where}: {what} says {claim:,} parameters, {source} has {actual:,} "
                f"(off by {_off(claim, actual):.0%}, more than {PARAMS_TOLERANCE:.0%})"
            )


def _check_labels(f: str, c: Checkpoint) -> None:
    """Without its config: the `params` label against the built-in size its student label names."""
    name = ck.builtin_name(c)
    if name:
        _check_params(f, c, flops.count_params(flops.resolve_model(name)), f"the built-in {name}")


def has_chat_template(d: Path) -> bool:
    if (d / "chat_template.jinja").is_file() or (d / "chat_template.json").is_file():
        return True
    try:
        tok = json.loads((d / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(tok, dict) and bool(tok.get("chat_template"))


def unchecked_note(names: list[str], what: str) -> str:
    """One line for `ponder validate`: the hub checkpoints it could not read, and what it left."""
    from huggingface_hub import constants

    why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the hub does not answer"
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"note: {len(names)} hub checkpoint(s) are not in the local cache and {why}: {shown} "
        f"checked by id and label only; {what} are checked when their eval step downloads them"
    )
