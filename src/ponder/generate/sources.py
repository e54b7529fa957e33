"""Prompt sources for the generate stage: the built-in world, local files, hub datasets, pairs.

Every source yields rows `{"idx", "id", "prompt", "messages", ...}` in a fixed order, one at a time,
so a million-prompt dataset never sits in Python lists. Local files are streamed with
`pyarrow.dataset`; hub datasets go through 🤗 `datasets` (Arrow, memory-mapped). `limit` keeps the
first rows, or a seeded sample of them when `sample_seed` is set. Ids are the `id_column` value or a
hash of the prompt text, so they are stable across runs and machines (the resume key). An already
paired dataset (e.g. the paper's released `When-Does-Reasoning-Matter/*-reasoning-ift-pairs`) maps
its columns onto ours.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

from ponder.config import PromptSource, StudyConfig
from ponder.errors import PonderError

FILE_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
PAIRED_DEFAULTS = {"prompt": "prompt", "ift": "ift", "reasoning": "reasoning"}


def prompt_id(text: str) -> str:
    """Stable id of a prompt without one: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _where(src: PromptSource) -> str:
    return src.path or src.dataset or "world"


class Table:
    """A source's rows after `limit` / seeded sample: column names, length, row batches.
    Local files are scanned with `pyarrow.dataset` (streamed in batches, never loaded whole);
    hub datasets come from 🤗 `datasets` (downloaded once, memory-mapped)."""

    def __init__(self, scan, column_names: list[str], n: int, indices: list[int] | None):
        self._scan, self.column_names, self._indices = scan, column_names, indices
        self.n = len(indices) if indices is not None else n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[dict]:
        if self._indices is not None:
            for s in range(0, len(self._indices), 4096):
                yield from self._scan.take(self._indices[s : s + 4096]).to_pylist()
            return
        left = self.n
        for batch in self._scan.to_batches():
            rows = batch.to_pylist()[:left]
            yield from rows
            left -= len(rows)
            if left <= 0:
                return


def load_table(src: PromptSource) -> Table:
    """The source's rows, `limit` / seeded sample applied."""
    try:
        if src.path:
            scan = _local(src)
        elif src.dataset:
            import datasets

            datasets.disable_progress_bars()
            hub = datasets.load_dataset(src.dataset, src.subset, split=src.split)
            scan = _ArrowTable(hub.with_format("arrow")[:])
        else:
            raise PonderError(f"source: kind {src.kind!r} needs `path` or `dataset`")
        n = scan.count_rows()
        names = list(scan.schema.names)
    except PonderError:
        raise
    except Exception as e:  # arrow/datasets raise many types; the user needs one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PonderError(f"source {_where(src)}: cannot load ({first})") from None
    indices = None
    if src.limit is not None and src.limit < n:
        if src.sample_seed is not None:
            # sorted indices keep the file's order in the sample (stable shards, readable output)
            indices = sorted(random.Random(src.sample_seed).sample(range(n), src.limit))
        else:
            n = src.limit
    return Table(scan, names, n, indices)


def _local(src: PromptSource):
    import pyarrow.dataset as pads

    path = Path(src.path)
    if not path.is_file():
        raise PonderError(f"source.path: file not found: {path}")
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(FILE_FORMATS)
        raise PonderError(f"source.path: {path.name}: unsupported format (use {known})")
    return pads.dataset(str(path), format=fmt)


class _ArrowTable:
    """A pyarrow Table with the three `pyarrow.dataset` calls `Table` uses."""

    def __init__(self, table) -> None:
        self.table, self.schema = table, table.schema

    def count_rows(self) -> int:
        return self.table.num_rows

    def take(self, indices):
        return self.table.take(indices)

    def to_batches(self):
        return self.table.to_batches(max_chunksize=4096)


def _require(ds, column: str, field: str, src: PromptSource) -> None:
    if column not in ds.column_names:
        have = ", ".join(ds.column_names)
        raise PonderError(f"source.{field}: no column {column!r} in {_where(src)} (has: {have})")


# ShareGPT-style turns (Infinity-Instruct's `conversations`: {from: human|gpt, value}) as chat roles
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}


def _turn(m: dict) -> dict:
    if "role" in m:
        return m
    if "from" in m and "value" in m:
        return {
            "role": _SHAREGPT_ROLES.get(str(m["from"]).lower(), str(m["from"])),
            "content": m["value"],
        }
    return m


def _messages(value, src: PromptSource, i: int) -> tuple[list[dict], str]:
    """A prompt cell as chat messages plus its text: a string, or a list of chat turns
    ({role, content}, or ShareGPT's {from, value} as in Infinity-Instruct); the prompt is the
    conversation up to its last user turn (the teacher answers that one)."""
    if isinstance(value, str) and value.strip():
        return [{"role": "user", "content": value}], value
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        turns = [_turn(m) for m in value]
        while turns and turns[-1].get("role") == "assistant":  # we want the teacher's answer
            turns.pop()
        users = [m for m in turns if m.get("role") == "user"]
        if users:
            return turns, str(users[-1].get("content", ""))
    raise PonderError(
        f"source {_where(src)}: row {i}: column {src.column!r} is empty or not a prompt "
        "(a string, or a list of {role, content} / {from, value} turns with a user turn)"
    )


def _world_rows(cfg: StudyConfig, domain: str, src: PromptSource) -> Iterator[dict]:
    from ponder.tiny import world

    if domain not in world.DOMAIN_FAMILIES:
        known = ", ".join(world.DOMAIN_FAMILIES)
        raise PonderError(f"domains.{domain}.source: the world has no domain {domain!r} ({known})")
    w = cfg.world
    items = world.train_prompts(domain, src.n, seed=w.seed, weights=w.weights, n_test=w.n_test)
    if src.limit is not None:
        items = items[: src.limit]
    for i, it in enumerate(items):
        yield {
            "idx": i,
            "id": it["id"],
            "prompt": it["prompt"],
            "messages": [{"role": "user", "content": it["prompt"]}],
            "family": it["family"],
            "gold": it["gold"],
        }


def iter_prompts(cfg: StudyConfig, domain: str) -> Iterator[dict]:
    """The domain's prompts in source order, duplicates (same id) dropped after the first."""
    src = cfg.domains[domain].source
    if src.kind == "world":
        yield from _world_rows(cfg, domain, src)
        return
    if src.kind == "paired":
        raise PonderError(f"domains.{domain}.source: kind 'paired' has answers; use iter_pairs")
    ds = load_table(src)
    _require(ds, src.column, "column", src)
    if src.id_column:
        _require(ds, src.id_column, "id_column", src)
    seen: set[str] = set()
    for i, row in enumerate(ds):
        messages, text = _messages(row[src.column], src, i)
        rid = str(row[src.id_column]) if src.id_column else prompt_id(text)
        if rid in seen:
            continue
        seen.add(rid)
        yield {"idx": i, "id": rid, "prompt": text, "messages": messages}


def iter_pairs(cfg: StudyConfig, domain: str) -> Iterator[dict]:
    """Rows of an already paired dataset as pair rows (the generate stage's format). `columns`
    maps ours -> theirs: prompt, ift, reasoning, and optionally thinking (a trace kept apart from
    the reasoning answer), ift_tokens / reasoning_tokens, ift_finish / reasoning_finish, id."""
    from ponder.lm.base import join_thinking, split_thinking

    src = cfg.domains[domain].source
    mapping = {**PAIRED_DEFAULTS, **src.columns}
    ds = load_table(src)
    for ours, theirs in mapping.items():
        _require(ds, theirs, f"columns.{ours}", src)
    id_col = src.id_column or mapping.get("id")
    count = pair_token_counter(cfg, src)
    seen: set[str] = set()
    for i, row in enumerate(ds):
        cell = {ours: row[theirs] for ours, theirs in mapping.items()}
        _, prompt = _messages(cell["prompt"], src, i)
        rid = str(cell["id"] if "id" in cell else row[id_col]) if id_col else prompt_id(prompt)
        if rid in seen:
            continue
        seen.add(rid)
        out = {"idx": i, "id": rid, "prompt": prompt, "prompt_tokens": count(prompt)}
        for mode in ("ift", "reasoning"):
            text = cell[mode] or ""
            if not str(text).strip():
                raise PonderError(
                    f"source {_where(src)} split {src.split!r}: row {i}: column {mapping[mode]!r} "
                    f"({mode} answer) is empty; a paired source needs both answers in every row "
                    "(the released pairs: split reasoning_ift_pairs)"
                )
            if mode == "reasoning" and cell.get("thinking") is not None:
                text = join_thinking(cell["thinking"], text)
            unclosed = text.lstrip().startswith("<think>") and not split_thinking(text)[2]
            finish = str(cell.get(f"{mode}_finish") or "unknown")  # not recorded by most releases
            tokens = cell.get(f"{mode}_tokens")
            out |= {
                mode: text,
                f"{mode}_tokens": int(tokens) if tokens is not None else count(text),
                f"{mode}_finish": finish,
                f"{mode}_truncated": unclosed or finish == "length",
                f"{mode}_error": None,
            }
        yield out


def pair_token_counter(cfg: StudyConfig, src: PromptSource):
    """Token counts of released answers without recorded counts: the student tokenizer's
    (`source.tokenizer`, else the first pretrained student's checkpoint), since those counts set
    training budgets and FLOPs. Only scratch students, whose tokenizer is trained on these very
    pairs later, fall back to the scripted word/symbol count."""
    name = src.tokenizer or next((s.path for s in cfg.students if s.init == "pretrained"), None)
    if name is None:
        from ponder.lm.scripted import count_tokens

        return count_tokens
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name)
    except OSError as e:
        raise PonderError(
            f"source.tokenizer: cannot load {name!r} ({str(e).splitlines()[0]})"
        ) from None
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def source_size(cfg: StudyConfig, domain: str) -> int:
    """Rows the source holds after `limit` (before de-duplication): cheap, for progress bars."""
    src = cfg.domains[domain].source
    if src.kind == "world":
        return min(src.n, src.limit or src.n)
    return len(load_table(src))


def count_prompts(cfg: StudyConfig, domain: str) -> int:
    """How many prompts a domain has (after limit and de-duplication), without generating."""
    src = cfg.domains[domain].source
    rows = iter_pairs(cfg, domain) if src.kind == "paired" else iter_prompts(cfg, domain)
    return sum(1 for _ in rows)
