"""What evaluation, judging and the report are configured with (§2.3, Appendix D.3): benchmarks
and sampling, the judge panel, and which score the report's figures use."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ponder.config.base import Backend, Count, Name, Seed, Sparse, Strict, Temperature, Tokens, TopP


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


class JudgeConfig(Sparse):
    _SPARSE = ("max_tokens",)

    enabled: bool = False
    judges: list[JudgeModel] = Field(default_factory=list)
    temperature: Temperature = 0.7  # Appendix D.3
    top_p: TopP = 0.95
    tail_chars: int = Field(4000, gt=0, le=10_000_000)  # the judge sees only the answer's ending
    max_retries: int = Field(2, ge=0, le=100)
    # New tokens per verdict (a judge thinks before its \\boxed{yes|no}); a weak server at 8,192
    # takes minutes a verdict. Out of the dump at its default: older judge steps keep their hash.
    max_tokens: Tokens = 8192

    @model_validator(mode="after")
    def _panel(self) -> JudgeConfig:
        if self.enabled and not self.judges:
            raise ValueError("enabled needs at least one judge in `judges`")
        return self


# ---------------------------------------------------------------- the report
class ReportConfig(Sparse):
    """`report: {enabled, metric, compare_to}`; `report: true|false` in YAML means
    `{enabled: …}`."""

    _SPARSE = ("compare_to",)  # reports made before it existed stay done

    enabled: bool = True
    # The score the figures and the headline use (the other is shown beside it). auto: the judge
    # panel's majority for a benchmark whose answers were judged (as the paper's figures), else the
    # rule scorer.
    metric: Literal["auto", "judge", "rule"] = "auto"
    # A run directory (or its results.parquet) of a study that evaluated reference checkpoints,
    # e.g. `ponder run paper-students`: arms of the same size, domain, ρ and phases are placed
    # beside them per benchmark (report/compare.py).
    compare_to: str | None = Field(None, min_length=1, max_length=4096)
