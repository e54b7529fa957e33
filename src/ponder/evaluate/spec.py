"""What a benchmark definition (`resources/benchmarks/<name>.yaml`) may say, validated on load.

A definition names where its rows come from, for the test items and for the few-shot examples:
- `hub`: one or more Hugging Face dataset splits, in their published schema (id, config, split,
  optional `data_files` inside the repository, optional exact-match `filter` / regex `match` on
  columns). `ponder data download` copies them into the data dir (`hub/<id>/<config>/...parquet`);
- `local`: the files of the official releases that users may already have, read by a named
  layout (`layouts.py`) into rows of the hub schema;
- `builtin` (few-shot only): demonstrations shipped with ponder (`resources/prompts/fewshot/`).
Both kinds of rows then go through the benchmark's one `reader` (`readers.py`), so a hub row and a
local row can never be mapped by different field names. `suite` tells the report which benchmarks
belong to the paper's 2x2 category averages (`paper`) and which are Appendix F.1's (`extended`).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ponder.errors import PonderError
from ponder.resources import resource

_DEFS = resource("benchmarks")
TINY_FAMILIES = ("general-mc", "general-oe", "math-mc", "math-oe")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSource(_Strict):
    """One split of a hub dataset, in its published schema."""

    id: str  # owner/name on the hub
    config: str | None = None
    split: str
    data_files: list[str] | None = None  # files inside the repository (SciBench: test vs _sol)
    filter: dict[str, str] = Field(default_factory=dict)  # column == value (MMLU-Pro category)
    match: dict[str, str] = Field(default_factory=dict)  # column matches regex (AIME years)
    tag: str | None = None  # id prefix of its items (default: the benchmark's name)

    @property
    def label(self) -> str:
        """How errors name it: `id` (config) [split]."""
        cfg = f" ({self.config})" if self.config else ""
        return f"{self.id}{cfg} [{self.split}]"

    @property
    def cache_name(self) -> str:
        """Its file under `<data dir>/hub/`: `<id>/<config>/<split>[-<files hash>].parquet`."""
        stem = self.split
        if self.data_files:
            stem += "-" + hashlib.sha256("\n".join(self.data_files).encode()).hexdigest()[:8]
        return f"{self.id}/{self.config or 'default'}/{stem}.parquet"


class LocalSource(_Strict):
    """Files of an official release, relative to the data dir, read by a named layout."""

    layout: str
    paths: list[str]
    any_path: bool = False  # one of `paths` is enough (alternative copies of one file)
    tag: str | None = None  # id prefix (default: the benchmark's name; per file when several)


class Part(_Strict):
    """Where one role's rows (test items or few-shot examples) come from."""

    hub: list[HubSource] = Field(default_factory=list)
    local: LocalSource | None = None
    builtin: str | None = None  # few-shot demonstrations shipped in resources/prompts/fewshot/
    reader: str | None = None  # when these rows have another schema than the test rows

    @model_validator(mode="after")
    def _some_source(self) -> Part:
        if not (self.hub or self.local or self.builtin):
            raise ValueError("needs `hub`, `local` or `builtin`")
        return self


class BenchmarkSpec(_Strict):
    name: str
    family: Literal["general", "math"]
    format: Literal["MC", "OE"]
    suite: Literal["paper", "extended"]  # extended: Appendix F.1, outside the 2x2 averages
    instruction: str  # a key of prompts/table4.yaml
    scorer: str  # a key of scorers.SCORERS
    judge_prompt: Literal["default", "ifeval"] = "default"
    expected_items: int | None = Field(None, gt=0)
    reader: str  # a key of readers.READERS
    template: str | None = None  # the question body: {question} and the reader's fields
    test: Part
    fewshot: Part | None = None
    note: str | None = None  # what a user should know (e.g. no hub copy exists)

    @model_validator(mode="after")
    def _names_exist(self) -> BenchmarkSpec:
        from ponder.evaluate.readers import READERS
        from ponder.evaluate.scorers import SCORERS

        if self.scorer not in SCORERS:
            raise ValueError(f"scorer {self.scorer!r} is not one of {', '.join(SCORERS)}")
        parts = [self.test] + ([self.fewshot] if self.fewshot else [])
        for reader in [self.reader] + [p.reader for p in parts if p.reader]:
            if reader not in READERS:
                raise ValueError(f"reader {reader!r} is not one of {', '.join(READERS)}")
        if self.instruction not in instructions():
            raise ValueError(f"instruction {self.instruction!r} is not in prompts/table4.yaml")
        if (self.format == "MC") != (self.scorer == "mc"):
            raise ValueError("MC benchmarks use the `mc` scorer, and only they")
        return self

    def hub_sources(self) -> list[HubSource]:
        """Every hub split the benchmark reads (test first), without repeats."""
        parts = [self.test] + ([self.fewshot] if self.fewshot else [])
        out: list[HubSource] = []
        for p in parts:
            out += [h for h in p.hub if h not in out]
        return out


@functools.cache
def instructions() -> dict[str, str]:
    """Table 4's instructions (and ours for the extended suite), by key."""
    d = yaml.safe_load(resource("prompts", "table4.yaml").read_text())
    return {**d["extended"], **d["paper"]}


def list_benchmarks() -> list[str]:
    """Every benchmark name: the 12 of the paper, the 6 extended ones, and the tiny families."""
    names = sorted(p.name[:-5] for p in _DEFS.iterdir() if p.name.endswith(".yaml"))
    return names + [f"tiny-{f}" for f in TINY_FAMILIES]


@functools.cache
def load_spec(name: str) -> BenchmarkSpec:
    """The validated definition of a benchmark; a bad file is one error naming it and the field."""
    path = _DEFS / f"{name}.yaml"
    if not path.is_file():
        raise PonderError(
            f"--benchmark: unknown benchmark {name!r}; known: {', '.join(list_benchmarks())}"
        )
    try:
        return BenchmarkSpec.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise PonderError(f"benchmark definition {path.name}: {where}: {err['msg']}") from None
