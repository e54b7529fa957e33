"""What each stage of a study is configured with: teacher and prompt sources, the tiny world,
students, mixing, training, evaluation, judging and the report (pydantic, strict: unknown keys and
out-of-range values are errors that name the field)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

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


# ---------------------------------------------------------------- generation (§2.2, Appendix D.1)
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


# ---------------------------------------------------------------- students
class StudentConfig(Strict):
    name: Name
    init: Literal["scratch", "pretrained"] = "scratch"
    path: str | None = None  # pretrained: a local checkpoint or hub id (pipeline/validate.py)
    # scratch: Qwen2 dimensions (random init), tokenizer trained on the world text. Bounds above the
    # largest published models (Llama 3.1 405B: d 16,384, 126 layers; Gemma 3: vocab 262,144).
    hidden_size: int = Field(64, gt=0, le=65_536)
    num_hidden_layers: int = Field(2, gt=0, le=1024)
    num_attention_heads: int = Field(4, gt=0, le=1024)
    num_key_value_heads: int = Field(2, gt=0, le=1024)
    intermediate_size: int = Field(256, gt=0, le=1_048_576)
    vocab_size: int = Field(1024, gt=0, le=4_194_304)
    max_position_embeddings: Tokens = 512
    # Init std; None: 1/sqrt(hidden_size). Qwen2's 0.02 leaves a width-96 student's attention flat
    # for hundreds of steps (tiny world, general-oe alone: 110 steps to learn at 0.02, 40 at 0.1).
    initializer_range: float | None = Field(None, gt=0, le=1)
    lr: dict[Literal["ift", "reasoning"], Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _check(self) -> StudentConfig:
        if self.init == "pretrained" and not self.path:
            raise ValueError("pretrained students need `path`")
        h, heads, kv = self.hidden_size, self.num_attention_heads, self.num_key_value_heads
        if h % heads:
            raise ValueError(f"hidden_size {h} must be divisible by num_attention_heads {heads}")
        if heads % kv:
            raise ValueError(f"num_attention_heads {heads} must be divisible by "
                             f"num_key_value_heads {kv}")  # fmt: skip
        if (h // heads) % 2:  # rotary embeddings turn pairs of dimensions
            raise ValueError(f"hidden_size / num_attention_heads = {h // heads} must be even")
        if self.init == "scratch" and self.scratch_params() > SCRATCH_PARAMS_MAX:
            raise ValueError(f"a scratch student of ~{self.scratch_params():.2g} parameters is "
                             f"over {SCRATCH_PARAMS_MAX:.0e} (it is built in memory, fp32)")  # fmt: skip
        return self

    def scratch_params(self) -> int:
        """About how many parameters the scratch model has: tied embeddings, and per layer the
        attention (q, o: d^2 each; k, v: d^2 x kv/heads each) and the SwiGLU MLP (3 d d_ff)."""
        d, kv_share = self.hidden_size, self.num_key_value_heads / self.num_attention_heads
        layer = 2 * d * d + 2 * d * d * kv_share + 3 * d * self.intermediate_size
        return int(self.vocab_size * d + self.num_hidden_layers * layer)


# ---------------------------------------------------------------- mixing and training (App. B)
class MixConfig(Strict):
    seed: Seed = 0  # fixes X_ρ; nested across ρ (X_.25 ⊂ X_.5 ⊂ X_.75)
    drop_truncated: bool = True


class TrainConfig(Strict):
    epochs: float = Field(1.0, gt=0, le=1000)  # paper: one epoch
    max_tokens: int | None = Field(None, gt=0, le=10**15)  # optional cap per phase
    global_batch_tokens: int = Field(262_144, gt=0, le=2**32)  # Appendix B
    micro_batch_size: int = Field(8, gt=0, le=65_536)  # sequences (padded) or windows (packed)
    max_seq_len: Tokens = 16_384
    packing: bool = False
    lr: float | None = Field(None, gt=0, le=1)  # None: Table 1 by student size and format
    warmup_steps: int = Field(150, ge=0, le=COUNT_MAX)  # WSD (Shen et al., 2024), Appendix B
    decay_steps: int = Field(300, ge=0, le=COUNT_MAX)
    final_lr_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.95, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, ge=0, le=1e6)  # 0: no clipping
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    gradient_checkpointing: bool = False
    # Attention kernel (runtime.attention_kernel). auto: flash_attention_2 when flash_attn is
    # installed and a GPU is there; else flex_attention on a GPU with packing (skips the masked
    # blocks, no CPU backward in torch 2.13); else sdpa with the block-diagonal mask that
    # transformers builds from the position ids.
    attention: Literal["auto", "sdpa", "flex_attention", "flash_attention_2", "eager"] = "auto"
    # torch.compile the model: fuses the element-wise ops around the matmuls (CPU, tiny-1.2m,
    # packed 256-token windows: 1.3x tokens/s after ~45 s of compiling). Pays off with packing,
    # whose windows give every forward the same shape; padded rows change shape every step.
    compile: bool = False
    liger: bool = False  # Liger's fused Triton kernels, GPU only (runtime.apply_liger)
    fsdp: bool = False  # FSDP2 under torchrun (train/sharding.py); fsdp.yaml turns it on too
    # processes that build a mix's token store (train/tokens.py); 0: one per core, at most 16
    tokenize_procs: int = Field(0, ge=0, le=4096)
    save_every: int = Field(0, ge=0, le=COUNT_MAX)  # steps between checkpoints (0: end only)
    seed: Seed = 0
    threads: int | None = Field(None, gt=0, le=4096)  # torch CPU threads
    report_to: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- evaluation and judging (§2.3)
class EvalConfig(Strict):
    benchmarks: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    data_dir: str | None = Field(None, min_length=1)  # a folder, or `hub`
    limit: Count | None = None
    seed: Seed = 0
    temperature: Temperature = 1.0  # paper: τ = 1.0, p = 1.0
    top_p: TopP = 1.0
    max_new_tokens: Tokens = 16_384
    batch_size: int = Field(64, gt=0, le=65_536)
    fewshot_base: int = Field(3, ge=0, le=64)  # base models 3-shot, distilled 0-shot
    include_teacher: bool = True
    include_base: bool = False
    backend: Backend = "hf"
    flops_method: Literal["paper", "exact"] = "paper"

    @field_validator("benchmarks")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        twice = sorted({b for b in v if v.count(b) > 1})
        if twice:
            raise ValueError(f"{twice[0]!r} is listed twice")
        return v


class JudgeModel(Strict):
    name: Name
    backend: Backend = "openai"
    model: str
    base_urls: list[str] = Field(default_factory=list)
    api_key_env: str | None = None


class JudgeConfig(Strict):
    enabled: bool = False
    judges: list[JudgeModel] = Field(default_factory=list)
    temperature: Temperature = 0.7  # Appendix D.3
    top_p: TopP = 0.95
    tail_chars: int = Field(4000, gt=0, le=10_000_000)  # the judge sees only the answer's ending
    max_retries: int = Field(2, ge=0, le=100)

    @model_validator(mode="after")
    def _panel(self) -> JudgeConfig:
        if self.enabled and not self.judges:
            raise ValueError("enabled needs at least one judge in `judges`")
        return self


# ---------------------------------------------------------------- the report
class ReportConfig(Strict):
    """`report: {enabled, metric}`; `report: true|false` in YAML means `{enabled: …}`."""

    enabled: bool = True
    # The score the figures and the headline use (the other is shown beside it). auto: the judge
    # panel's majority for a benchmark whose answers were judged (as the paper's figures), else the
    # rule scorer.
    metric: Literal["auto", "judge", "rule"] = "auto"
