"""What the students, mixing and training stages are configured with (Appendix B): the students'
dimensions or checkpoints, the ρ-mix, and the training loop's budget, schedule and kernels."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ponder.config.base import COUNT_MAX, SCRATCH_PARAMS_MAX, Name, Seed, Strict, Tokens


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
            raise ValueError(
                f"num_attention_heads {heads} must be divisible by num_key_value_heads {kv}"
            )
        if (h // heads) % 2:  # rotary embeddings turn pairs of dimensions
            raise ValueError(f"hidden_size / num_attention_heads = {h // heads} must be even")
        if self.init == "scratch" and self.scratch_params() > SCRATCH_PARAMS_MAX:
            raise ValueError(
                f"a scratch student of ~{self.scratch_params():.2g} parameters is "
                f"over {SCRATCH_PARAMS_MAX:.0e} (it is built in memory, fp32)"
            )
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
