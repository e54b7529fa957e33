"""What each stage of a study is configured with: teacher and prompt sources, the tiny world,
students, mixing, training, evaluation, judging and the report (pydantic, strict: unknown keys and
out-of-range values are errors that name the field)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------- generation (§2.2, Appendix D.1)
class Sampling(Strict):
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(16384, gt=0)  # paper: 16,384 new tokens; vLLM's own default is 16
    seed: int | None = None
    # --dry-run only: expected mean new tokens per answer (None: max_tokens, an upper bound).
    expected_tokens: int | None = Field(None, gt=0)


class TeacherConfig(Strict):
    backend: Literal["scripted", "openai", "vllm", "hf"] = "scripted"
    model: str = "scripted"
    base_urls: list[str] = Field(default_factory=list)  # an OpenAI-compatible fleet
    api_key_env: str | None = None  # name of the env var holding the key; never the key itself
    max_concurrency: int = Field(64, gt=0)
    max_retries: int = Field(6, ge=0)
    request_timeout_s: float = Field(600.0, gt=0)
    tensor_parallel_size: int = Field(1, gt=0)
    shard_size: int = Field(1000, gt=0)  # rows committed atomically per shard
    # openai backend: processes sending requests (each ~1 ms CPU per request; see clients.py)
    client_processes: int = Field(1, gt=0)
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
    split: str = "train"
    column: str = "prompt"
    id_column: str | None = None  # stable ids: given, or a hash of the prompt text
    columns: dict[str, str] = Field(default_factory=dict)  # paired: our column -> source column
    limit: int | None = Field(None, gt=0)
    sample_seed: int | None = None  # seeded sample of `limit` rows instead of the first ones
    n: int = Field(2000, gt=0)  # world: number of training prompts


class DomainConfig(Strict):
    source: PromptSource = Field(default_factory=PromptSource)


class WorldConfig(Strict):
    """The synthetic task world (world.py): its seed and the test-set size per family."""

    seed: int = 0
    n_test: int = Field(200, gt=0)
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


# ---------------------------------------------------------------- students
class StudentConfig(Strict):
    name: str
    init: Literal["scratch", "pretrained"] = "scratch"
    path: str | None = None  # pretrained: a local checkpoint or hub id
    # scratch: Qwen2 architecture dimensions (random init); tokenizer trained on the world text
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 256
    vocab_size: int = 1024
    max_position_embeddings: int = 512
    lr: dict[Literal["ift", "reasoning"], float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> StudentConfig:
        if self.init == "pretrained" and not self.path:
            raise ValueError("pretrained students need `path`")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads")
        return self


# ---------------------------------------------------------------- mixing and training (App. B)
class MixConfig(Strict):
    seed: int = 0  # fixes X_ρ; nested across ρ (X_.25 ⊂ X_.5 ⊂ X_.75)
    drop_truncated: bool = True


class TrainConfig(Strict):
    epochs: float = Field(1.0, gt=0)  # paper: one epoch
    max_tokens: int | None = Field(None, gt=0)  # optional cap on trained tokens per phase
    global_batch_tokens: int = Field(262_144, gt=0)  # Appendix B
    micro_batch_size: int = Field(8, gt=0)  # sequences (padded) or windows (packed) per forward
    max_seq_len: int = Field(16_384, gt=0)
    packing: bool = False
    lr: float | None = Field(None, gt=0)  # None: Table 1 by student size and format
    warmup_steps: int = Field(150, ge=0)  # WSD (Shen et al., 2024), Appendix B
    decay_steps: int = Field(300, ge=0)
    final_lr_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    max_grad_norm: float = 1.0
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
    # Liger's fused Triton kernels (RMSNorm, SwiGLU, RoPE, LM head + cross-entropy): GPU only,
    # `pip install 'ponder[gpu]'` (runtime.apply_liger)
    liger: bool = False
    # Shard the student with FSDP2 (train/sharding.py) under torchrun; an accelerate FSDP launch
    # (launch/fsdp.yaml) turns it on by itself
    fsdp: bool = False
    # Processes that tokenise a mix into its token store once (train/tokens.py); 0: one per CPU
    # core, at most 16
    tokenize_procs: int = Field(0, ge=0)
    save_every: int = Field(0, ge=0)  # steps between resumable checkpoints (0: end only)
    seed: int = 0
    threads: int | None = None  # torch CPU threads
    report_to: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- evaluation and judging (§2.3)
class EvalConfig(Strict):
    benchmarks: list[str] = Field(default_factory=list)
    data_dir: str | None = None
    limit: int | None = Field(None, gt=0)
    seed: int = 0
    temperature: float = Field(1.0, ge=0)  # paper: τ = 1.0, p = 1.0
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(16_384, gt=0)
    batch_size: int = Field(64, gt=0)
    fewshot_base: int = Field(3, ge=0)  # base models 3-shot, distilled 0-shot
    include_teacher: bool = True
    include_base: bool = False
    backend: Literal["hf", "vllm", "openai"] = "hf"
    flops_method: Literal["paper", "exact"] = "paper"


class JudgeModel(Strict):
    name: str
    backend: Literal["openai", "vllm", "hf"] = "openai"
    model: str
    base_urls: list[str] = Field(default_factory=list)
    api_key_env: str | None = None


class JudgeConfig(Strict):
    enabled: bool = False
    judges: list[JudgeModel] = Field(default_factory=list)
    temperature: float = 0.7  # Appendix D.3
    top_p: float = 0.95
    tail_chars: int = Field(4000, gt=0)  # the judge sees only the answer's ending
    max_retries: int = Field(2, ge=0)
