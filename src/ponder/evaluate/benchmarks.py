"""Benchmarks as data: a validated definition (`spec.py`) loaded into items, few-shot examples and
a rule scorer (`scorers.SCORERS`).

Rows come from the hub, the data dir's hub cache or local release files (`hubdata.py`), always in
the hub's schema, and go through the benchmark's reader (`readers.py`). Prompting (paper §2.3,
Appendix D.2): the user message is the Table 4 instruction, a blank line, the question (through
the definition's `template`, e.g. passage + question), and for MC the options as `A. text` lines.
The tiny synthetic world's four families are benchmarks too (`tiny-general-mc`, ...).
"""

from __future__ import annotations

import functools
import os
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ponder.errors import PonderError
from ponder.evaluate import fewshot as fs
from ponder.evaluate.extract import LETTERS
from ponder.evaluate.hubdata import load_part
from ponder.evaluate.readers import READERS, Record
from ponder.evaluate.spec import (  # noqa: F401
    TINY_FAMILIES,
    BenchmarkSpec,
    Part,
    instructions,
    list_benchmarks,
    load_spec,
)

TINY_DEFAULT_N = 200


@dataclass(frozen=True)
class BenchItem:
    id: str
    question: str  # the item's question text as it appears in the data
    prompt: str  # the user message: Table 4 instruction + question (+ options)
    gold: str  # MC: the letter; OE: the (first) reference answer; ifeval: ''
    options: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)  # answers (all references), ifeval kwargs, ...


def default_data_dir() -> Path:
    """`$PONDER_DATA_DIR`, else the user cache `${XDG_CACHE_HOME:-~/.cache}/ponder/benchmarks`."""
    env = os.environ.get("PONDER_DATA_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ponder" / "benchmarks"


def format_prompt(instruction: str, body: str, options: tuple[str, ...] = ()) -> str:
    text = f"{instruction}\n\n{body}"
    if options:
        text += "\n\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
    return text


class Benchmark:
    """A loaded benchmark: its items, few-shot examples and rule scorer."""

    def __init__(self, spec, items: list[BenchItem], shots=None):
        self.spec = spec
        self.name: str = spec.name
        self.family: str = spec.family
        self.format: str = spec.format
        self.suite: str = spec.suite  # "paper" | "extended" | "tiny"
        self.judge_prompt: str = spec.judge_prompt
        self.scorer: str = spec.scorer
        self._items = items
        self._shots = shots  # () -> list[fs.Shot], seeded and fixed

    def items(self) -> list[BenchItem]:
        return list(self._items)

    def fewshot(self, k: int = 3) -> list[fs.Shot]:
        """k solved examples from the train/dev split, for base models (§2.3: 3-shot)."""
        if self._shots is None:
            raise PonderError(f"{self.name}: no few-shot examples are defined")
        shots = self._shots()[:k]
        if len(shots) < k:
            raise PonderError(f"{self.name}: {len(shots)} few-shot examples available, {k} asked")
        return shots

    def score(self, item: BenchItem, response: str) -> dict:
        """Rule verdict: always 'extracted', 'boxed', 'correct', plus the scorer's own keys."""
        from ponder.evaluate.scorers import SCORERS

        return SCORERS[self.scorer](item, response)


def _items(spec: BenchmarkSpec, part: Part, chunks: list, test: bool = True) -> list[BenchItem]:
    """The part's rows as items; a repeated id is an error among test items, and a repeated
    few-shot candidate (SciBench's thermo worked examples hold one twice) is kept once."""
    read = READERS[part.reader or spec.reader]
    instruction = instructions()[spec.instruction]
    records: list[Record] = [
        r for src, rows in chunks for i, row in enumerate(rows) for r in read(row, i, src)
    ]
    items = []
    for r in records:
        body = r.question
        if spec.template:
            body = spec.template.replace("{question}", r.question)
            for k, v in r.fields.items():  # str.replace: LaTeX braces in the text stay as written
                body = body.replace("{" + k + "}", str(v))
        meta = dict(r.meta) | ({"answers": r.golds} if len(r.golds) > 1 else {})
        opts = tuple(r.options)
        items.append(
            BenchItem(
                r.id, r.question, format_prompt(instruction, body, opts), r.golds[0], opts, meta
            )
        )
    seen: set[str] = set()
    out = []
    for it in items:
        if it.id in seen and test:
            raise PonderError(
                f"{spec.name}: item id {it.id!r} occurs twice in {chunks[0][0].label}"
            )
        if it.id not in seen:
            out.append(it)
        seen.add(it.id)
    return out


def _subsample(items: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise PonderError(f"--limit: must be at least 1, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def load_benchmark(
    name: str, data_dir=None, limit: int | None = None, seed: int = 0, hub_root=None
) -> Benchmark:
    """Load a benchmark's items from `data_dir` (or `hub`), optionally a seeded subsample.
    Few-shot examples are loaded on first use, seeded by `seed`."""
    if name.startswith("tiny-"):
        return _load_tiny(name, limit, seed)
    spec = load_spec(name)
    data_dir = Path(data_dir) if data_dir not in (None, "hub") else (data_dir or default_data_dir())
    items = _items(spec, spec.test, load_part(spec, spec.test, data_dir, "test", hub_root))
    if spec.expected_items and len(items) != spec.expected_items:
        warnings.warn(
            f"{name}: {len(items)} items, the definition expects {spec.expected_items}",
            stacklevel=2,
        )
    test_questions = {it.question.strip() for it in items}

    def shots() -> list[fs.Shot]:
        if spec.fewshot is None:
            raise PonderError(f"{name}: the definition names no few-shot examples")
        chunks = load_part(spec, spec.fewshot, data_dir, "few-shot", hub_root)
        pool = _items(spec, spec.fewshot, chunks, test=False)
        demo = bool(spec.fewshot.builtin)
        return [
            fs.Shot(it.prompt, fs.solved(it.gold, demo))
            for it in fs.choose(pool, 8, seed, test_questions)
        ]

    return Benchmark(spec, _subsample(items, limit, seed), functools.cache(shots))


@dataclass(frozen=True)
class _TinySpec:
    name: str
    family: str
    format: str
    scorer: str
    suite: str = "tiny"
    judge_prompt: str = "default"


def _load_tiny(name: str, limit: int | None, seed: int) -> Benchmark:
    family = name.removeprefix("tiny-")
    if family not in TINY_FAMILIES:
        raise PonderError(
            f"--benchmark: unknown tiny family {name!r}; "
            f"known: tiny-{', tiny-'.join(TINY_FAMILIES)}"
        )
    from ponder.tiny import world

    def as_items(rows) -> list[BenchItem]:
        return [
            BenchItem(
                str(d["id"]),
                d["question"],
                d["prompt"],
                str(d["gold"]),
                tuple(d.get("options") or ()),
                {},
            )
            for d in rows
        ]

    items = as_items(world.test_items(family, limit or TINY_DEFAULT_N, seed))
    kind, fmt = family.split("-")
    spec = _TinySpec(name, kind, fmt.upper(), "mc" if fmt == "mc" else "exact")

    def shots() -> list[fs.Shot]:  # another seed's items, minus any shared with the test set
        seen = {it.question for it in items}
        pool = [
            it
            for it in as_items(world.test_items(family, 16, seed + 1_000_003))
            if it.question not in seen
        ]
        return [fs.Shot(it.prompt, fs.solved(it.gold, False)) for it in pool]

    return Benchmark(spec, items, functools.cache(shots))


def find_item(bench: Benchmark, row: dict, line: int, source: str) -> BenchItem:
    """The item a responses row refers to, by `id` or by `prompt` (question text or full prompt)."""
    by_id, by_q = _indexes(bench)
    if "id" in row and row["id"] is not None:
        it = by_id.get(str(row["id"]))
        if it is None:
            raise PonderError(f"{source}:{line}: id {row['id']!r} is not an item of {bench.name}")
        return it
    if "prompt" in row:
        hits = by_q.get(str(row["prompt"]).strip())
        if not hits:
            raise PonderError(f"{source}:{line}: prompt matches no {bench.name} question")
        if len(hits) > 1:
            raise PonderError(
                f"{source}:{line}: prompt matches {len(hits)} {bench.name} items; give `id`"
            )
        return hits[0]
    raise PonderError(f"{source}:{line}: row needs `id` or `prompt` beside `response`")


def _indexes(bench: Benchmark) -> tuple[dict, dict]:
    cached = getattr(bench, "_idx", None)
    if cached is None:
        by_id = {it.id: it for it in bench.items()}
        by_q: dict[str, list[BenchItem]] = {}
        for it in bench.items():
            for k in {it.question.strip(), it.prompt.strip()}:
                by_q.setdefault(k, []).append(it)
        cached = bench._idx = (by_id, by_q)
    return cached
