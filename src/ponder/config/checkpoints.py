"""Checkpoint arms: models a study evaluates but does not train — the paper's released students, a
team's own students trained elsewhere (TRL, Axolotl, an earlier ponder run), or one hybrid model
asked in two modes. Each is labelled like a trained student (size, domain, ρ, schedule, phases,
seed, the tokens it was trained on) so it flows through evaluation, judging, `results.parquet` and
the report as a trained student does; its own request settings make one model an arm per mode.

Where the checkpoint is and what its config says are checked by `ponder validate`
(pipeline/checkpoints.py); this schema checks each label on its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue, model_validator

from ponder.config.base import Name, Seed, Strict

# The largest published dense and MoE models are ~2·10^12 parameters: 10^13 is a typo guard.
PARAMS_MAX = 10**13
# Tokens a model was trained on: the paper's largest run saw ~10^10 (1.3M pairs, §2.2); Llama 3
# pretraining 1.5·10^13. 10^15 stays above both.
TRAINED_TOKENS_MAX = 10**15
Ratio = Annotated[float, Field(ge=0, le=1)]


class ArmPhase(Strict):
    """One phase of a bi-phasic checkpoint (§3.3): the domain it was trained on and its ρ."""

    domain: Name
    ratio: Ratio


class RequestSettings(Strict):
    """How this arm is asked (`lm.base.GenRequest`): a system message before every prompt and
    chat-template arguments over the backend's own. One hybrid model listed twice, with
    `{enable_thinking: false}` (ρ = 0) and `{enable_thinking: true}` (ρ = 1), is an IFT/reasoning
    pair without any training."""

    system: str | None = Field(None, min_length=1, max_length=100_000)
    chat_template_kwargs: dict[Annotated[str, Field(min_length=1)], JsonValue] = Field(
        default_factory=dict
    )


class Checkpoint(Strict):
    """A model the study evaluates as an arm, labelled like the students its grid trains."""

    name: Name  # its model id in evals/ and results.parquet
    path: str = Field(min_length=1, max_length=4096)  # a local checkpoint folder or a hub id
    revision: str | None = Field(None, min_length=1, max_length=255)  # hub branch, tag or commit
    student: Name  # the size label figures group by (e.g. qwen2.5-0.5b, as the `paper` study)
    params: int | None = Field(None, gt=0, le=PARAMS_MAX)  # None: read from its config.json
    # Mono-phasic: `domain` and `ratio`; bi-phasic (Fig. 5 arms): two or more `phases`.
    domain: Name | None = None
    ratio: Ratio | None = None
    schedule: Literal["sequential", "mixed"] = "sequential"  # as a grid block's schedules
    phases: list[ArmPhase] = Field(default_factory=list)
    seed: Seed = 0  # the training seed it was trained with (a label: the study seed adds nothing)
    # Appendix C training FLOPs need the token count and, for the attention term that grows with
    # each sequence's length, how many sequences carried it (sum over every phase).
    trained_tokens: int | None = Field(None, gt=0, le=TRAINED_TOKENS_MAX)
    trained_sequences: int | None = Field(None, gt=0, le=TRAINED_TOKENS_MAX)
    eval: RequestSettings = Field(default_factory=RequestSettings)

    @model_validator(mode="after")
    def _arm(self) -> Checkpoint:
        mono = self.domain is not None or self.ratio is not None
        if mono and self.phases:
            raise ValueError("give either `domain` and `ratio` (mono-phasic) or `phases`")
        if mono and (self.domain is None or self.ratio is None):
            missing = "ratio" if self.ratio is None else "domain"
            raise ValueError(f"a mono-phasic checkpoint needs `{missing}` too")
        if not mono and len(self.phases) < 2:
            raise ValueError(
                "needs `domain` and `ratio` (mono-phasic) or two or more `phases` (bi-phasic)"
            )
        if (self.trained_tokens is None) != (self.trained_sequences is None):
            raise ValueError(
                "give `trained_tokens` and `trained_sequences` together (Appendix C's attention "
                "term needs the sequences' lengths)"
            )
        if self.trained_tokens is not None and self.trained_sequences > self.trained_tokens:
            raise ValueError("trained_sequences is more than trained_tokens")
        return self

    def chain(self) -> tuple[tuple[str, float], ...]:
        """Its phases as the grid's records spell them: ((domain, ρ), ...)."""
        if self.phases:
            return tuple((p.domain, p.ratio) for p in self.phases)
        return ((self.domain, self.ratio),)

    def where(self) -> str:
        """Its path with the revision, as results.parquet names it."""
        return self.path + (f"@{self.revision}" if self.revision else "")
