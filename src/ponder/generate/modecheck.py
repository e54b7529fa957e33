"""Every pair checked against its modes (§2.2's premise: the IFT answer holds no reasoning, the
reasoning answer holds a trace, for the same prompt).

The check reads the stored answers (`lm.base.mode_mismatch` on the normalised text), never a
backend's own flags, so it is the same for every backend (scripted, hf, vllm, openai) and for
released pairs (`kind: paired`). A rejected answer (`*_error` set) is not checked: it has no text.
The pairs file gets two boolean columns, `ift_mode_mismatch` and `reasoning_mode_mismatch`, and
the summary (the step's record, the manifest) their counts; mixes and the report read the
columns, or compute them from the text for pairs written before the columns existed, so those
need no regenerating. Above
`teacher.max_mode_mismatch_share` the domain fails with one line naming the share, an example id
and the likely cause: a switch the teacher ignored, a server without a reasoning parser, a wrong
preset, or, for released pairs, their columns.
"""

from __future__ import annotations

import json

import pyarrow as pa

from ponder.config import StudyConfig
from ponder.errors import PonderError
from ponder.lm.base import mode_mismatch
from ponder.lm.recipe import MODES

FLAGS = tuple(f"{m}_mode_mismatch" for m in MODES)


def flags(texts, errors, mode: str) -> list[bool]:
    """Per answer of one mode: does it contradict its mode (answers with an error: no)?"""
    return [
        not err and mode_mismatch(mode, str(t or "")) for t, err in zip(texts, errors, strict=True)
    ]


def frame_flags(pairs) -> dict[str, list[bool]]:
    """The two flag columns of a pairs DataFrame: as the generate stage stored them, or, for pairs
    written before the columns existed, computed from the answers' text."""
    out = {}
    for mode, col in zip(MODES, FLAGS, strict=True):
        if col in pairs.columns:
            out[col] = pairs[col].fillna(False).astype(bool).tolist()
            continue
        err = f"{mode}_error"
        errors = pairs[err].tolist() if err in pairs.columns else [None] * len(pairs)
        out[col] = flags(pairs[mode].tolist(), errors, mode)
    return out


def tally(per: dict[str, list[bool]]) -> dict:
    """Flagged answers per mode and flagged pairs (either answer), for the summary."""
    either = [a or b for a, b in zip(*(per[c] for c in FLAGS), strict=True)]
    return {c: sum(per[c]) for c in FLAGS} | {"mode_mismatch": sum(either)}


def with_flags(table: pa.Table) -> pa.Table:
    """`table` (pairs rows) with the two flag columns, computed afresh from its answers."""
    table = table.drop_columns([c for c in FLAGS if c in table.column_names])
    for mode, col in zip(MODES, FLAGS, strict=True):
        errors = table.column(f"{mode}_error").to_pylist()
        table = table.append_column(
            col, pa.array(flags(table.column(mode).to_pylist(), errors, mode), pa.bool_())
        )
    return table


def counts(table: pa.Table) -> dict:
    """Flagged answers per mode and flagged pairs (either answer) of a pairs table."""
    return tally({c: table.column(c).to_pylist() for c in FLAGS})


def describe_switch(recipe) -> str:
    """How a mode recipe switches the teacher, in words (for the error's likely cause)."""
    parts = []
    if recipe.chat_template_kwargs is None:
        parts.append("chat_template_kwargs `enable_thinking`")
    elif recipe.chat_template_kwargs:
        parts.append(f"chat_template_kwargs {json.dumps(recipe.chat_template_kwargs)}")
    if recipe.system_prompt is not None:
        parts.append(f"system prompt {recipe.system_prompt!r}")
    if recipe.extra_body:
        parts.append(f"body fields {json.dumps(recipe.extra_body)}")
    return " + ".join(parts) or "no switch (a model of one mode)"


def _cause(cfg: StudyConfig, domain: str, n_ift: int, n_reasoning: int) -> str:
    t = cfg.teacher
    if cfg.domains[domain].source.kind == "paired":
        return (
            f"the released answers do not fit their columns (domains.{domain}.source.columns: "
            "ift and reasoning swapped, or a split of one style)"
        )
    if n_ift >= n_reasoning:
        return (
            f"the IFT switch ({describe_switch(t.ift)}) was ignored or never reached "
            f"{t.mode_model('ift')}: a chat template that does not honour it, a gateway that "
            "drops unknown body fields, or a teacher.preset that does not fit this teacher"
        )
    return (
        f"reasoning answers came back without a trace: the switch ({describe_switch(t.reasoning)})"
        f" was ignored or never reached {t.mode_model('reasoning')}, a wrong teacher.preset, or a"
        " server that drops the thinking (no reasoning parser, e.g. vLLM --reasoning-parser, and "
        "`<think>` tags stripped from its output)"
    )


def check(cfg: StudyConfig, domain: str, table: pa.Table, where: str) -> list[str]:
    """Raise when more than `max_mode_mismatch_share` of the answered pairs are flagged; return
    the flagged ids (kept, and left out of every mix)."""
    c = counts(table)
    per = [table.column(col).to_pylist() for col in FLAGS]
    ids = table.column("id").to_pylist()
    flagged = [i for i, a, b in zip(ids, *per, strict=True) if a or b]
    answered = sum(
        1
        for a, b in zip(*(table.column(f"{m}_error").to_pylist() for m in MODES), strict=True)
        if not a and not b
    )
    limit = cfg.teacher.max_mode_mismatch_share
    if not flagged or len(flagged) <= limit * answered:
        return flagged
    first = flagged[0]
    mode = "ift" if per[0][ids.index(first)] else "reasoning"
    paired = cfg.domains[domain].source.kind == "paired"
    raise PonderError(
        f"{where}: {len(flagged)} of {answered} answered pairs "
        f"({len(flagged) / max(answered, 1):.1%}) contradict their mode (teacher."
        f"max_mode_mismatch_share: {limit:g}): {c[FLAGS[0]]} IFT answers hold a reasoning trace, "
        f"{c[FLAGS[1]]} reasoning answers hold none, e.g. id {first!r} ({mode}); likely cause: "
        f"{_cause(cfg, domain, c[FLAGS[0]], c[FLAGS[1]])}; "
        + (
            "nothing is kept"
            if paired
            else "the flagged pairs are not kept: the next run asks them again"
        )
    )
