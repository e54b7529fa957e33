"""What the generate stage is configured with (§2.2, Appendix D.1): the teacher and each mode's
request recipe (sampling, switch, model), the prompt sources of each domain, and the tiny world.

Each mode (`teacher.ift`: thinking off, `teacher.reasoning`: thinking on) is its own recipe. By
default the switch is Qwen3's `enable_thinking` and both modes ask `teacher.model`; a preset
(resources/teachers/presets.yaml) or the study sets another switch (chat-template arguments, a
system prompt, body fields) or another model per mode. Fields added after studies were first run
(`_SPARSE`) leave a config's dump, and so every step hash, unchanged while they keep their
default.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ponder.config.base import Backend, Count, Seed, Sparse, Strict, Temperature, Tokens, TopP

# Body fields that set a reasoning effort: a level other than "none" lowers reasoning, it does not
# turn it off (gpt-oss: low | medium | high; OpenAI's reasoning models before gpt-5.1).
EFFORT_FIELDS = ("reasoning_effort", "reasoning.effort")
# Each mode's sampling when a study sets none: Qwen3's recommendations, which the paper followed
# (§2.2 footnote 3).
PAPER_SAMPLING = {
    "ift": {"temperature": 0.7, "top_p": 0.8},
    "reasoning": {"temperature": 0.6, "top_p": 0.95},
}


@functools.cache
def teacher_presets() -> dict[str, dict]:
    """The named presets (resources/teachers/presets.yaml): per mode, the recipe fields."""
    import yaml

    from ponder.resources import resource

    return yaml.safe_load(resource("teachers", "presets.yaml").read_text(encoding="utf-8"))


class Sampling(Sparse):
    """One mode's request recipe: sampling, and how the mode is switched and served."""

    _SPARSE = ("model", "base_urls", "chat_template_kwargs", "extra_body")

    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    max_tokens: Tokens = 16384  # paper: 16,384 new tokens; vLLM's own default is 16
    seed: Seed | None = None
    # --dry-run only: expected mean new tokens per answer (None: max_tokens, an upper bound).
    expected_tokens: Tokens | None = None
    # A system message sent with this mode's requests, for teachers whose thinking switch is a
    # system prompt (Nemotron-Super v1.5: "/no_think" / "/think").
    system_prompt: str | None = None
    # This mode's own model (None: teacher.model): Qwen3-2507 ships its modes as two models.
    model: str | None = Field(None, min_length=1)
    # This mode's servers (None: teacher.base_urls); transport, outside every hash.
    base_urls: list[str] | None = None
    # Chat-template arguments (any keys). None: Qwen3's `enable_thinking` toggle (off for IFT, on
    # for reasoning); a mapping replaces the toggle (DeepSeek-V3.1: {thinking: false}; {}: none).
    chat_template_kwargs: dict[str, Any] | None = None
    # OpenAI-compatible body fields of this mode's requests (openai backend only).
    extra_body: dict[str, Any] | None = None

    def effort(self) -> str | None:
        """`field: value` of a reasoning-effort body field that is not an off switch, if any."""
        body = self.extra_body or {}
        for name in EFFORT_FIELDS:
            value: Any = body
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None and str(value).lower() != "none":
                return f"{name}: {value}"
        return None


def _merge(under: dict, over: dict) -> dict:
    """`over` on top of `under`, mappings merged key by key."""
    out = dict(under)
    for k, v in over.items():
        both = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = _merge(out[k], v) if both else v
    return out


class TeacherConfig(Sparse):
    _SPARSE = ("preset", "max_mode_mismatch_share", "ift_answer_only")

    backend: Backend = "scripted"
    model: str = "scripted"
    base_urls: list[str] = Field(default_factory=list)  # an OpenAI-compatible fleet
    api_key_env: str | None = None  # name of the env var holding the key; never the key itself
    max_concurrency: int = Field(64, gt=0, le=100_000)
    max_retries: int = Field(6, ge=0, le=100)
    request_timeout_s: float = Field(600.0, gt=0, le=86_400)  # at most a day
    tensor_parallel_size: int = Field(1, gt=0, le=1024)
    shard_size: int = Field(1000, gt=0, le=10_000_000)  # rows committed atomically per shard
    # ... or fewer, when this many seconds passed since the last commit: a kill loses at most the
    # requests in flight plus this interval (generate/stream.py)
    commit_every_s: float = Field(5.0, gt=0, le=86_400)
    # Share of a domain's prompts that may stay unanswered (out of retries) and still let the
    # step finish, incomplete (the next run asks them again); above it, or when nothing was
    # answered, generation stops with an error. 0: any unanswered prompt stops it, so students
    # are never trained on a set that a re-run would change (and retrain everything after it).
    max_failed_share: float = Field(0.0, ge=0, le=1)
    # openai backend: processes sending requests (each ~1 ms CPU per request; see clients.py)
    client_processes: int = Field(1, gt=0, le=1024)
    # --dry-run teacher FLOPs (Appendix C): a built-in model name or a config.json path.
    flops_model: str | None = None
    # A named switch recipe for both modes (resources/teachers/presets.yaml), under the study's.
    preset: str | None = None
    # Share of answered pairs whose answer does not match its mode (an IFT answer with a trace, a
    # reasoning answer without one) above which generation fails; below it those pairs are kept,
    # flagged, and left out of every mix. 1%: a few stray answers of a working switch pass, a
    # switch that is ignored (every answer of one side) never does.
    max_mode_mismatch_share: float = Field(0.01, ge=0, le=1)
    # Opt-in for a teacher that cannot turn reasoning off (only an effort level): its IFT answer is
    # the final answer of the IFT recipe's run, the trace it wrote discarded.
    ift_answer_only: bool = False
    ift: Sampling = Field(default_factory=lambda: Sampling(**PAPER_SAMPLING["ift"]))
    reasoning: Sampling = Field(default_factory=lambda: Sampling(**PAPER_SAMPLING["reasoning"]))

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        presets = teacher_presets()
        name = data["preset"]
        if name not in presets:
            raise ValueError(f"preset: unknown {name!r} (known: {', '.join(presets)})")
        out = dict(data)
        for mode in ("ift", "reasoning"):
            # The paper's sampling, the preset's switch, then what the study sets (so a study
            # naming only a mode's servers keeps the sampling).
            mine = data.get(mode, {})
            if isinstance(mine, dict):
                out[mode] = _merge(_merge(PAPER_SAMPLING[mode], presets[name][mode]), mine)
        return out

    @model_validator(mode="after")
    def _switches(self) -> TeacherConfig:
        for mode in ("ift", "reasoning"):
            if getattr(self, mode).extra_body and self.backend != "openai":
                raise ValueError(
                    f"{mode}.extra_body: body fields are sent by the openai backend only "
                    f"(backend: {self.backend})"
                )
        effort = self.ift.effort()
        if effort and not self.ift_answer_only:
            raise ValueError(
                f"ift.extra_body: `{effort}` lowers the reasoning effort but does not turn "
                "reasoning off, so every IFT answer would carry a trace and the study would "
                "compare reasoning with reasoning; use a teacher with an off switch, or set "
                "teacher.ift_answer_only: true to keep only the final answer of the low-effort "
                "run as the IFT answer (its trace discarded)"
            )
        return self

    def mode_model(self, mode: str) -> str:
        """The model answering `mode`: its own, else `model`."""
        return getattr(self, mode).model or self.model

    def mode_urls(self, mode: str) -> list[str]:
        """The servers answering `mode`: its own, else `base_urls`."""
        own = getattr(self, mode).base_urls
        return list(self.base_urls if own is None else own)


class PromptSource(Strict):
    kind: Literal["world", "file", "hub", "paired"] = "world"
    path: str | None = None  # local JSONL / Parquet / CSV (file, paired)
    dataset: str | None = None  # hub dataset id (hub, paired)
    subset: str | None = None  # hub config name
    split: str = Field("train", min_length=1)
    column: str = Field("prompt", min_length=1)
    id_column: str | None = None  # stable ids: given, or a hash of the prompt text
    columns: dict[str, str] = Field(default_factory=dict)  # paired: our column -> source column
    limit: Count | None = None
    sample_seed: Seed | None = None  # seeded sample of `limit` rows instead of the first ones
    n: Count = 2000  # world: number of training prompts (at most what the world holds)
    # paired: tokenizer counting the released answers' tokens (default: the first pretrained
    # student's checkpoint; the counts set training budgets and FLOPs)
    tokenizer: str | None = None

    @model_validator(mode="after")
    def _where(self) -> PromptSource:
        # A location the kind does not read would be silently ignored: name it instead.
        reads = {"file": ("path",), "hub": ("dataset",), "paired": ("path", "dataset")}
        need = reads.get(self.kind, ())
        if need and not any(getattr(self, f) for f in need):
            raise ValueError(f"kind {self.kind!r} needs `{'` or `'.join(need)}`")
        if self.kind == "world" and (self.path or self.dataset):
            raise ValueError("kind 'world' reads no `path` or `dataset` (file | hub | paired do)")
        return self


class DomainConfig(Strict):
    source: PromptSource = Field(default_factory=PromptSource)


class WorldConfig(Strict):
    """The synthetic task world (tiny/world.py): its seed and the test-set size per family."""

    seed: Seed = 0
    n_test: int = Field(200, gt=0, le=20_000)  # per family; general-oe holds 25,600 items
    # Share of each family among a domain's training prompts (general uses all four, math only
    # the math ones); renormalised over the families a domain contains.
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "general-mc": 1.0,
            "general-oe": 1.0,
            "math-mc": 1.0,
            "math-oe": 1.0,
        }
    )

    # (pipeline/validate.py checks that each key is a family of the world.)

    @field_validator("weights")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        for fam, w in v.items():
            if not 0 <= w <= 1e6:  # relative shares; 10^6 keeps their sum finite and exact
                raise ValueError(f"{fam}: weight {w} is outside [0, 1e6]")
        return v
