"""Where a checkpoint arm is and what it is: a local folder, or a hub id at a revision whose files
come from the local Hugging Face cache or, when the hub answers, from the hub; its parameter count
and Appendix C dimensions; and the training FLOPs of the tokens it was trained on.

A hub checkpoint whose config cannot be read here (offline, not cached) falls back on the built-in
dimensions (`ponder flops` names) its student label or hub id names: `qwen2.5-0.5b` for a
fine-tune of Qwen2.5-0.5B. The checks made of a checkpoint live in `checkpoint_checks.py`.
"""

from __future__ import annotations

import math
import socket
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from ponder import flops
from ponder.config import StudyConfig
from ponder.config.checkpoints import Checkpoint
from ponder.errors import PonderError, first_line

# The files that say what a checkpoint is, without its weights (a few kB from the hub).
META_FILES = ["config.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json"]
# Weights and tokenizer sit at a checkpoint repository's top level; folders hold training states
# (`checkpoint-500/`, optimizer shards) an evaluation never reads.
NOT_WEIGHTS = ["*/*", "*.pt", "*.pth", "*.ckpt"]


def field(cfg: StudyConfig, c: Checkpoint) -> str:
    """`checkpoints.<i>`: how errors name a checkpoint."""
    return f"checkpoints.{next(i for i, x in enumerate(cfg.checkpoints) if x.name == c.name)}"


def is_local(path: str) -> bool:
    """A folder (present or meant: /abs, ./rel, ~/home, or under a folder that exists), else a
    hub id."""
    p = Path(path).expanduser()
    return p.exists() or path.startswith(("/", ".", "~")) or p.parent.is_dir() and "/" in path


@cache
def hub_reachable() -> bool:
    """Whether the hub can answer now: not HF_HUB_OFFLINE, and its host takes a connection within
    3 s (one probe per process; a refused request costs 23 s of retries otherwise)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=3).close()
    except OSError:
        return False
    return True


def _snapshot(c: Checkpoint, mode: str, allow=None, ignore=None) -> Path | None:
    """The hub checkpoint's snapshot folder (the files `allow`ed, without those `ignore`d), or None.
    `mode`: "cache" never asks the hub; "cache-first" asks it for what the cache lacks (a config);
    "hub-first" asks it whenever it answers, which completes a snapshot the cache holds only part
    of (weights after a validate fetched the config), and falls back on the cache offline."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    files = {"revision": c.revision, "allow_patterns": allow, "ignore_patterns": ignore}
    online = mode != "cache" and hub_reachable()
    if not (mode == "hub-first" and online):
        try:
            return Path(snapshot_download(c.path, local_files_only=True, **files))
        except LocalEntryNotFoundError:
            if not online:
                return None
    try:
        return Path(snapshot_download(c.path, **files))
    except (HfHubHTTPError, OSError) as e:  # not found, gated, a revision it does not have
        raise PonderError(f"cannot fetch {c.where()} from the hub ({first_line(e)})") from None


def config_dir(c: Checkpoint, online: bool = False) -> Path | None:
    """A folder holding the checkpoint's config.json (and tokenizer config): the local folder, the
    cached snapshot, or (`online` and the hub answering) its metadata files fetched; None when
    none can be read here."""
    mode = "cache-first" if online else "cache"
    d = Path(c.path).expanduser() if is_local(c.path) else _snapshot(c, mode, META_FILES)
    return d if d is not None and (d / "config.json").is_file() else None


def weights_dir(cfg: StudyConfig, c: Checkpoint) -> Path:
    """The folder the eval step loads: the local folder, or the hub snapshot (downloaded once into
    the Hugging Face cache; the cached copy when offline)."""
    if is_local(c.path):
        return Path(c.path).expanduser()
    try:
        d = _snapshot(c, "hub-first", ignore=NOT_WEIGHTS)
    except PonderError as e:
        raise PonderError(f"{field(cfg, c)}.path: {e}") from None
    if d is None:
        raise PonderError(
            f"{field(cfg, c)}.path: {c.where()} is neither in the Hugging Face cache nor "
            "reachable (HF_HUB_OFFLINE, or no route to the hub)"
        )
    return d


def read_config(d: Path) -> dict:
    return flops.read_hf_config(d / "config.json")


def builtin_name(c: Checkpoint) -> str | None:
    """The built-in model (`ponder flops` names) its student label or hub id names."""
    return flops.builtin_key(c.student) or flops.builtin_key(c.path)


def config_params(d: Path) -> int:
    """Exact parameter count from a config (a model built on the meta device: no weights)."""
    from ponder.tiny.students import checkpoint_params

    return int(checkpoint_params(d))


def params(c: Checkpoint) -> int | None:
    """Its label's `params`, else its config's count (folder or cache), else the count of the
    built-in dimensions it names; None when none is known here."""
    if c.params is not None:
        return c.params
    d = config_dir(c)
    if d is not None:
        return config_params(d)
    name = builtin_name(c)
    return flops.count_params(flops.resolve_model(name)) if name else None


def dims(c: Checkpoint) -> flops.ModelDims | None:
    """Appendix C dimensions: from its config (folder or cache), else the built-in ones it
    names."""
    d = config_dir(c)
    if d is not None:
        return flops.ModelDims.from_hf_config(read_config(d), name=c.name)
    name = builtin_name(c)
    return flops.resolve_model(name) if name else None


def trained_flops(c: Checkpoint) -> float:
    """Appendix C Eqs. (2)-(3) over the tokens it was trained on: 3 x forward, with sum l = the
    tokens and sum l^2 = tokens^2 / sequences (every sequence at the mean length, the least sum l^2
    those two numbers allow). NaN without token counts or dimensions."""
    d = dims(c) if c.trained_tokens else None
    if d is None:
        return math.nan
    a, b = flops.forward_coefficients(d, "paper")
    tokens, seqs = float(c.trained_tokens), float(c.trained_sequences)
    return 3 * (a * tokens + b * tokens * tokens / seqs)


def labels(cfg: StudyConfig) -> dict[str, dict]:
    """Per checkpoint arm, what results.parquet reads from outside the run directory: where it
    is, its parameter count and training FLOPs."""
    return {
        c.name: {"checkpoint": c.where(), "params": params(c), "train_flops": trained_flops(c)}
        for c in cfg.checkpoints
    }
