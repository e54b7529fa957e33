"""Benchmarks as data: one YAML definition per benchmark, loaded into items, prompts and a scorer.

A definition (`ponder/benchmarks/<name>.yaml`) names its source files inside a data directory laid
out like `shared/benchmarks` (or a Hugging Face dataset id), the fields that hold id / question /
gold / options, the Table 4 instruction (`ponder/prompts/table4.yaml`), the answer format (MC|OE),
the rule scorer, the Table 5 judge prompt and the expected item count. The tiny synthetic world's
four families are benchmarks too (`tiny-general-mc`, …), built from `ponder.world.test_items`.

Prompting (paper §2.3, Appendix D.2): the user message is the Table 4 instruction, a blank line,
the question (through the definition's `template`, e.g. passage + question), and for MC the options
as `A. text` lines. `--data-dir hub` reads the definition's Hugging Face dataset instead.
"""

from __future__ import annotations

import collections
import csv
import functools
import json
import os
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ponder.errors import PonderError
from ponder.evaluate import scorers as scoring
from ponder.evaluate.extract import LETTERS, extract_answer, strip_think
from ponder.resources import resource

TINY_FAMILIES = ("general-mc", "general-oe", "math-mc", "math-oe")
TINY_DEFAULT_N = 200
_DEFS = resource("benchmarks")


@dataclass(frozen=True)
class BenchItem:
    id: str
    question: str  # the item's question text as it appears in the data file
    prompt: str  # the user message: Table 4 instruction + question (+ options)
    gold: str  # MC: the letter; OE: the reference answer text; ifeval: ''
    options: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)  # ifeval instructions/kwargs, squad golds, …


@functools.cache
def _instructions() -> dict[str, str]:
    d = yaml.safe_load(resource("prompts", "table4.yaml").read_text())
    return {**d["extended"], **d["paper"]}


def list_benchmarks() -> list[str]:
    """Every benchmark name: the 12 of the paper, the 6 extended ones, and the tiny families."""
    names = sorted(p.name[:-5] for p in _DEFS.iterdir() if p.name.endswith(".yaml"))
    return names + [f"tiny-{f}" for f in TINY_FAMILIES]


def _spec(name: str) -> dict:
    path = _DEFS / f"{name}.yaml"
    if not path.is_file():
        raise PonderError(f"--benchmark: unknown benchmark {name!r}; known: {', '.join(list_benchmarks())}")  # fmt: skip
    return yaml.safe_load(path.read_text())


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

    def __init__(self, spec: dict, items: list[BenchItem], fewshot_loader=None):
        self.spec = spec
        self.name: str = spec["name"]
        self.family: str = spec["family"]
        self.format: str = spec["format"]
        self.judge_prompt: str = spec.get("judge_prompt", "default")
        self.scorer: str = spec["scorer"]
        self._items = items
        self._fewshot_loader = fewshot_loader

    def items(self) -> list[BenchItem]:
        return list(self._items)

    def fewshot(self, k: int = 3) -> list[tuple[str, str]]:
        """(prompt, answer) pairs from the dev/train split, for base models (paper §2.3: 3-shot)."""
        if self._fewshot_loader is None:
            raise PonderError(f"{self.name}: no dev/train split is defined for few-shot examples")
        shots = self._fewshot_loader()[:k]
        return [(it.prompt, f"\\boxed{{{it.gold}}}") for it in shots]

    def score(self, item: BenchItem, response: str) -> dict:
        """Rule verdict: always 'extracted', 'boxed', 'correct', plus the scorer's own keys."""
        if self.scorer == "ifeval":
            from ponder.evaluate import ifeval

            r = ifeval.check(
                item.question, item.meta["instruction_id_list"], item.meta["kwargs"],
                strip_think(response),
            )  # fmt: skip
            return {
                "extracted": "", "boxed": False, "correct": r.strict_prompt,
                "strict_prompt": r.strict_prompt, "loose_prompt": r.loose_prompt,
                "follow_strict": r.follow_strict, "follow_loose": r.follow_loose,
            }  # fmt: skip
        ext = extract_answer(response)
        out: dict = {"extracted": ext.answer, "boxed": ext.boxed}
        if self.scorer == "mc":
            ok, letter = scoring.mc_equal(item.gold, ext.answer, item.options)
            out.update(correct=ok, letter=letter)
        elif self.scorer == "math":
            out["correct"] = scoring.math_equal(item.gold, ext.answer)
        elif self.scorer in ("squad", "coqa"):
            golds = item.meta.get("answers") or [item.gold]
            fn = scoring.squad_scores if self.scorer == "squad" else scoring.coqa_scores
            em, f1 = fn(golds, ext.answer)
            out.update(correct=em == 1.0, em=em, f1=f1)
        elif self.scorer == "scibench":
            out["correct"] = scoring.scibench_equal(item.gold, ext.answer)
        elif self.scorer == "exact":
            out["correct"] = scoring.exact_equal(item.gold, ext.answer)
        else:
            raise PonderError(f"benchmark {self.name}: unknown scorer {self.scorer!r}")
        return out


def _build_items(spec: dict, records: list[dict], instruction: str) -> list[BenchItem]:
    src_template = spec.get("template")
    items = []
    for r in records:
        body = r["question"]
        if src_template:
            body = src_template.replace("{question}", r["question"])
            for k, v in r["row"].items():
                body = body.replace("{" + k + "}", str(v))
        opts = tuple(r["options"])
        items.append(
            BenchItem(r["id"], r["question"], format_prompt(instruction, body, opts), r["gold"],
                      opts, r["meta"])
        )  # fmt: skip
    return items


def _subsample(items: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise PonderError(f"--limit: must be at least 1, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def load_benchmark(
    name: str, data_dir: Path | None = None, limit: int | None = None, seed: int = 0
) -> Benchmark:
    """Load a benchmark's items from `data_dir` (or the hub), optionally a seeded subsample."""
    if name.startswith("tiny-"):
        return _load_tiny(name, limit, seed)
    spec = _spec(name)
    instruction = _instructions()[spec["instruction"]]
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    rows = load_rows(spec["source"], spec.get("hub"), data_dir, name, split="split")
    items = _build_items(spec["source"], rows_to_records(spec["source"], rows, name), instruction)
    expected = spec.get("expected_items")
    if expected and len(items) != expected:
        warnings.warn(f"{name}: {len(items)} items, the definition expects {expected}", stacklevel=2)  # fmt: skip

    def fewshot() -> list[BenchItem]:
        fs = spec.get("fewshot")
        if fs is None:
            raise PonderError(f"{name}: no dev/train split is defined for few-shot examples")
        fs_rows = load_rows(fs, spec.get("hub"), data_dir, name, split="fewshot_split")
        return _build_items(fs, rows_to_records(fs, fs_rows, name), instruction)

    return Benchmark(spec, _subsample(items, limit, seed), functools.cache(fewshot))


def _load_tiny(name: str, limit: int | None, seed: int) -> Benchmark:
    family = name.removeprefix("tiny-")
    if family not in TINY_FAMILIES:
        raise PonderError(f"--benchmark: unknown tiny family {name!r}; known: tiny-{', tiny-'.join(TINY_FAMILIES)}")  # fmt: skip
    from ponder.tiny import world

    n = limit or TINY_DEFAULT_N
    items = [
        BenchItem(str(d["id"]), d["question"], d["prompt"], str(d["gold"]),
                  tuple(d.get("options") or ()), {})
        for d in world.test_items(family, n, seed)
    ]  # fmt: skip
    spec = {
        "name": name, "family": family.split("-")[0], "format": family.split("-")[1].upper(),
        "scorer": "mc" if family.endswith("mc") else "exact", "judge_prompt": "default",
        "expected_items": n,
    }  # fmt: skip

    def fewshot() -> list[BenchItem]:  # another seed's items, minus any shared with the test set
        seen = {it.question for it in items}
        return [
            BenchItem(str(d["id"]), d["question"], d["prompt"], str(d["gold"]),
                      tuple(d.get("options") or ()), {})
            for d in world.test_items(family, 16, seed + 1_000_003) if d["question"] not in seen
        ]  # fmt: skip

    return Benchmark(spec, items, functools.cache(fewshot))


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
            raise PonderError(f"{source}:{line}: prompt matches {len(hits)} {bench.name} items; give `id`")  # fmt: skip
        return hits[0]
    raise PonderError(f"{source}:{line}: row needs `id` or `prompt` beside `response`")


def _indexes(bench: Benchmark) -> tuple[dict, dict]:
    cached = getattr(bench, "_idx", None)
    if cached is None:
        by_id = {it.id: it for it in bench.items()}
        by_q: dict[str, list[BenchItem]] = {}
        for it in bench.items():
            keys = {it.question.strip(), it.prompt.strip()}
            for k in keys:
                by_q.setdefault(k, []).append(it)
        cached = bench._idx = (by_id, by_q)
    return cached


# ---------------------------------------------------------------- readers (one per file layout)


def _read_file(reader: str, path: Path, src: dict) -> list[dict]:
    if reader == "jsonl":
        with path.open(encoding="utf-8") as f:
            return [json.loads(ln) for ln in f if ln.strip()]
    if reader == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    if reader in ("csv", "tsv"):
        with path.open(encoding="utf-8", newline="") as f:
            if reader == "csv":  # MMLU: no header row, columns named by the definition
                return [dict(zip(src["columns"], r, strict=False)) for r in csv.reader(f)]
            return list(csv.DictReader(f, delimiter="\t"))
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    if reader == "squad":  # official v1.1 nesting: data[].paragraphs[].qas[]
        return [
            {**qa, "context": p["context"], "answers": [a["text"] for a in qa["answers"]]}
            for art in data for p in art["paragraphs"] for qa in p["qas"]
        ]  # fmt: skip
    if reader == "coqa":  # official layout; each turn sees the story and the turns before it
        rows = []
        for story in data:
            extra = story.get("additional_answers", {}).values()
            history = ""
            for q, a in zip(story["questions"], story["answers"], strict=False):
                golds = [a["input_text"]] + [x[q["turn_id"] - 1]["input_text"] for x in extra]
                rows.append({"id": f"{story['id']}-{q['turn_id']}", "question": q["input_text"],
                             "context": story["story"], "history": history, "answers": golds})  # fmt: skip
                history += f"Question: {q['input_text']}\nAnswer: {a['input_text']}\n\n"
        return rows
    raise PonderError(f"benchmark definition: unknown reader {reader!r}")


def load_rows(src: dict, hub: dict | None, data_dir: Path | None, name: str, split: str) -> list:
    """(file stem, raw row) pairs from the local data dir, or from the hub with `--data-dir hub`."""
    if data_dir is not None and str(data_dir) == "hub":
        if not hub or not hub.get(split):
            raise PonderError(f"{name}: no hub dataset is defined for this split ({split})")
        import datasets  # the hub path: needs network access and the dataset's terms accepted

        ds = datasets.load_dataset(hub["id"], hub.get("config"), split=hub[split])
        rows = [dict(r) for r in ds]
        for k, v in (hub.get("filter") or {}).items():
            rows = [r for r in rows if r.get(k) == v]
        return [(hub["id"].split("/")[-1], r) for r in rows]
    paths = [Path(data_dir or ".") / p for p in src["paths"]]
    found = [p for p in paths if p.is_file()] if data_dir is not None else []
    if src.get("any_path"):
        found = found[:1]
    if not found or (not src.get("any_path") and len(found) < len(paths)):
        missing = [str(p) for p in paths if p not in found]
        alt = f", or use --data-dir hub for {hub['id']}" if hub and hub.get(split) else ""
        where = data_dir if data_dir is not None else "(no data dir: pass --data-dir or set PONDER_DATA_DIR)"  # fmt: skip
        raise PonderError(
            f"{name}: data not found in {where}: provide {' or '.join(missing) if src.get('any_path') else ', '.join(missing)} (layout as shared/benchmarks, formats in its SOURCES.md){alt}"  # fmt: skip
        )
    return [(p.stem.removesuffix("_test"), r) for p in found for r in _read_file(src["reader"], p, src)]  # fmt: skip


def _options(src: dict, row: dict) -> list[str]:
    spec = src.get("options")
    if spec is None:
        return []
    opts = [str(row[k]) for k in spec] if isinstance(spec, list) else row[spec]
    how = src.get("options_transform")
    if how == "strip_letter_prefix":  # AQuA: "A)5(√3 + 1)"
        opts = [re.sub(r"^\s*[A-J]\s*\)\s*", "", o) for o in opts]
    elif how == "split_inline_choices":  # OpenBookQA TSV: "(A) x (B) y (C) z (D) w"
        opts = [o.strip() for o in re.split(r"\s*\([A-J]\)\s*", opts)[1:]]
    return [str(o) for o in opts]


def _gold(src: dict, row: dict) -> tuple[str, list[str]]:
    raw = row.get(src["gold"], "") if src.get("gold") else ""
    golds = [str(g) for g in raw] if isinstance(raw, list) else [str(raw)]
    how = src.get("gold_transform")
    if how == "after_hash":  # GSM8K: rationale, then "#### 72"
        golds = [g.split("####")[-1].strip().replace(",", "") for g in golds]
    elif how == "number_to_letter":  # WinoGrande: "1" | "2"
        golds = [LETTERS[int(g) - 1] for g in golds]
    elif how == "index_to_letter":
        golds = [LETTERS[int(g)] for g in golds]
    return golds[0].strip(), golds


def rows_to_records(src: dict, rows: list, name: str) -> list[dict]:
    """Map raw rows to {id, question, gold, options, meta, row} with the definition's fields."""
    out, per_file = [], collections.Counter()
    for stem, row in rows:
        i = per_file[stem]
        per_file[stem] += 1
        try:
            gold, golds = _gold(src, row)
            meta = {k: row[k] for k in src.get("meta", [])}
            if len(golds) > 1:
                meta["answers"] = golds
            rid = "".join(src.get("id", "{stem}-{index}").format(stem=stem, index=i, **row).split())
            out.append({"id": rid, "question": str(row[src["question"]]), "gold": gold,
                        "options": _options(src, row), "meta": meta, "row": row})  # fmt: skip
        except (KeyError, ValueError, IndexError) as e:
            raise PonderError(f"{name}: record {i} ({stem}) lacks or has a bad field: {e}") from e
    return out
