"""What the generate stage is configured with (§2.2, Appendix D.1): the teacher and its two modes'
sampling, the prompt sources of each domain, and the tiny synthetic world."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ponder.config.base import Backend, Count, Seed, Strict, Temperature, Tokens, TopP


class Sampling(Strict):
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    max_tokens: Tokens = 16384  # paper: 16,384 new tokens; vLLM's own default is 16
    seed: Seed | None = None
    # --dry-run only: expected mean new tokens per answer (None: max_tokens, an upper bound).
    expected_tokens: Tokens | None = None
    # A system message sent with this mode's requests, for teachers whose thinking switch is a
    # system prompt (Nemotron-Super: "detailed thinking on" / "detailed thinking off").
    system_prompt: str | None = None


class TeacherConfig(Strict):
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
    # Qwen3 recommendations the paper followed (§2.2 footnote 3).
    ift: Sampling = Field(default_factory=lambda: Sampling(temperature=0.7, top_p=0.8))
    reasoning: Sampling = Field(default_factory=lambda: Sampling(temperature=0.6, top_p=0.95))


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
