"""`ponder generate --dry-run`: count a domain's prompts and estimate tokens and teacher FLOPs.

Nothing is sent to the teacher. Prompt tokens are counted with the scripted teacher's word/symbol
split (a stand-in for the teacher's tokenizer, within ~30% of BPE counts on English text).
Generated tokens per answer are each mode's `expected_tokens`, or `max_tokens` (16,384 by
default, §2.2) as an upper bound. Teacher FLOPs follow Appendix C Eq. (6) (prefill Eq. 4 plus
cached decode steps Eq. 5) for `teacher.flops_model`, summed over both answers of every prompt.
"""

from __future__ import annotations

import numpy as np

from ponder.config import StudyConfig
from ponder.generate.sources import iter_pairs, iter_prompts
from ponder.lm.scripted import count_tokens

MODES = ("ift", "reasoning")


def estimate_domain(cfg: StudyConfig, domain: str) -> dict:
    """Prompts, estimated prompt/generated tokens per mode and teacher FLOPs (None without a
    `teacher.flops_model`). For a paired source the answers exist: their tokens are counted."""
    src = cfg.domains[domain].source
    paired = src.kind == "paired"
    rows = iter_pairs(cfg, domain) if paired else iter_prompts(cfg, domain)
    prompt_tokens, answer_tokens = [], {m: [] for m in MODES}
    for r in rows:
        prompt_tokens.append(count_tokens(r["prompt"]))
        if paired:
            for m in MODES:
                answer_tokens[m].append(r[f"{m}_tokens"])
    n = len(prompt_tokens)
    lp = np.asarray(prompt_tokens, dtype=np.float64)
    out: dict = {"dry_run": True, "domain": domain, "prompts": n, "prompt_tokens": int(lp.sum())}
    gen: dict[str, np.ndarray] = {}
    for m in MODES:
        s = getattr(cfg.teacher, m)
        per = np.asarray(answer_tokens[m], dtype=np.float64) if paired else None
        if per is None:
            per = np.full(n, float(s.expected_tokens or s.max_tokens))
        gen[m] = per
        out[f"{m}_gen_tokens"] = int(per.sum())
        out[f"{m}_tokens_basis"] = (
            "dataset" if paired else ("expected_tokens" if s.expected_tokens else "max_tokens")
        )
    out["teacher_flops"] = None
    if cfg.teacher.flops_model and n and not paired:
        from ponder.flops import infer_flops, resolve_model

        dims = resolve_model(cfg.teacher.flops_model)
        per_mode = {m: float(np.sum(infer_flops(dims, np.maximum(lp, 1), gen[m]))) for m in MODES}
        out |= {f"{m}_teacher_flops": v for m, v in per_mode.items()}
        out["teacher_flops"] = sum(per_mode.values())
        out["flops_model"] = dims.name
    return out
