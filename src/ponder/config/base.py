"""The building blocks every config section uses: the bounds a value must sit in, the constrained
types (seeds, token counts, plain names, backends) and `Strict`, the base model that makes unknown
keys and out-of-range values errors naming the field."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_serializer

# Bounds a value must sit in before any stage sees it (a huge count or length is a typo, and a
# run that trips over one fails deep inside a stage, after writing a half-built run directory).
# numpy's legacy seeding (transformers/accelerate `set_seed`) takes 0 <= seed < 2**32.
SEED_MAX = 2**32 - 1
# Lengths in tokens: 16.8M, above the longest context windows published (10M).
TOKENS_MAX = 2**24
# Rows or items: the paper's largest source has 1.3M prompts (§2.2); 10^9 is three orders above.
COUNT_MAX = 10**9
# A plain name: it becomes part of file names and model ids in the run directory.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# A scratch student is built in memory in fp32: 10^10 parameters are 40 GB before the optimizer.
SCRATCH_PARAMS_MAX = 10**10

Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
Tokens = Annotated[int, Field(gt=0, le=TOKENS_MAX)]
Count = Annotated[int, Field(gt=0, le=COUNT_MAX)]


def plain_name(v: str) -> str:
    if not NAME_PATTERN.fullmatch(v):
        raise ValueError(f"{v[:100]!r} is not a plain name (letters, digits, '.', '_', '-')")
    return v


Name = Annotated[str, AfterValidator(plain_name)]
Temperature = Annotated[float, Field(ge=0, le=100)]
TopP = Annotated[float, Field(gt=0, le=1)]


def _known_backend(name: str) -> str:
    from ponder.lm import BACKENDS  # the one table of backends (lm/__init__.py)

    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    return name


Backend = Annotated[str, AfterValidator(_known_backend)]


class Strict(BaseModel):
    # allow_inf_nan: YAML's .nan / .inf are never a setting (NaN passes every `ge`/`le` check).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Sparse(Strict):
    """A section whose newer fields (`_SPARSE`) stay out of its dump while at their default, so
    the step hashes of studies made before those fields existed do not change."""

    _SPARSE: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_defaults(self, handler) -> dict:
        out = handler(self)
        for name in self._SPARSE:
            if name in out and getattr(self, name) == type(self).model_fields[name].default:
                del out[name]
        return out
