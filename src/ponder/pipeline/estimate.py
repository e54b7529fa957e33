"""Price a study in GPU-hours before spending them: Appendix C FLOPs per step over stated token
counts, divided by a stated peak and model-FLOPs utilisation (MFU) per stage.

Token counts come from the pairs' answer-length statistics when generation has run
(`pairs/<domain>.parquet`: `ift_tokens`, `reasoning_tokens`) and from `Assumptions` otherwise
(defaults: the released pairs' dataset card and the paper's Table 3, in Qwen tokens); checkpoint
arms are priced for evaluation only, at the lengths expected of their ρ;
every number used is printed beside the result. Training FLOPs use Eq. (2)-(3) exactly through
two length moments (sum l and sum l^2, `flops.forward_coefficients`); generation, evaluation and
judging use Eq. (6) at the mean lengths.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ponder import flops
from ponder.errors import PonderError
from ponder.resources import resource
from ponder.rundir import RunDir
from ponder.train.runtime import MEASURED_TRAIN_MFU

# Bytes per token of the teacher's vocabulary (Qwen2/Qwen3 BPE, 151,643 merges: `qwen.tiktoken` in
# PyPI `dashscope`), measured with tiktoken and Qwen's split pattern (docs/cluster.md, "Estimate").
# General: 4.04 on the teacher's own general answers (paper Table 2 excerpts, 2.2 kB), between the
# paper's prose (3.58, 55 kB) and IFEval's GPT-4 responses (4.36, 661 kB); rounded to 4.0.
GENERAL_BYTES_PER_TOKEN = 4.0
# Math: IFT 2.42 on both MATH-500 solutions (265 kB) and Table 3's IFT excerpts (0.6 kB); reasoning
# 3.09 on Table 3's reasoning excerpts (0.9 kB: only two traces, more prose than LaTeX).
MATH_BYTES_PER_TOKEN = {"ift": 2.4, "reasoning": 3.1}
# Per domain, mean tokens (prompt, IFT answer, reasoning answer), from public evidence:
DEFAULT_LENGTHS = {
    # Released general pairs' dataset card (When-Does-Reasoning-Matter/general-reasoning-ift-pairs,
    # `dataset_info`, 990,098 examples): per example prompt 558, IFT 1,739, reasoning 10,365 bytes
    # (split bytes: pairs = P+R+I, reasoning = P+R, ift = P+I), / GENERAL_BYTES_PER_TOKEN. Only
    # 990,098 of the 1.3M generated (§2.2) were released; the study still pays for n = 1.3M.
    "general": {"prompt": 140, "ift": 435, "reasoning": 2591},
    # Appendix D Table 3, only two examples: prompts 59 and 41 tokens (tokenized); answers IFT
    # 1,417 and 2,806 chars (mean 2,111.5 / 2.4), reasoning 11,225 and 26,747 (mean 18,986 / 3.1).
    "math": {"prompt": 50, "ift": 880, "reasoning": 6125},
}
# Mean generated tokens at evaluation by (family, format) for IFT and reasoning students, set so
# reasoning/IFT matches §4.2: ~7x on open-ended tasks, 10-15x on general multiple-choice.
DEFAULT_EVAL_TOKENS = {
    ("general", "MC"): (150, 1800),
    ("general", "OE"): (300, 2100),
    ("math", "MC"): (350, 3500),
    ("math", "OE"): (400, 2800),
}


Stage = Literal["generate", "train", "eval", "judge"]
STAGES: tuple[str, ...] = get_args(Stage)
# A share of peak: 0 would divide by zero, above 1 is faster than the hardware.
MFU = Annotated[float, Field(gt=0, le=1)]
# Mean tokens: positive, below 2**24 (config.base.TOKENS_MAX).
Length = Annotated[float, Field(gt=0, le=2**24)]


class Assumptions(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    gpu: str = "H100 SXM, bf16 dense"
    # NVIDIA H100 SXM datasheet, bf16 without sparsity; at most 10^17 (100x a B200's bf16 peak).
    peak_flops: float = Field(989e12, gt=0, le=1e17)
    # generate: Qwen3-235B-A22B in bf16, TP=8 on vLLM decodes ~830 output tok/s on 8xA100 (vllm
    # PR #17715: 797-828, 5k in/1k out; issue #20890: ~900 on 8xA800, batch 32, 1k/1k), i.e.
    # 2 x 22e9 active params x 830 / (8 x 312e12 A100 bf16 peak) = 1.5%, assumed to carry to H100.
    # 2 x active params per token is what --method exact counts; the paper's Eq. (5) has no FFN.
    # train: measured, train.runtime.MEASURED_TRAIN_MFU (docs/training.md). eval 5%, judge 10%:
    # assumptions (memory-bound decoding of small students; prefill-heavy judging).
    mfu: dict[Stage, MFU] = Field(
        default_factory=lambda: {
            "generate": 0.015,
            "train": MEASURED_TRAIN_MFU,
            "eval": 0.05,
            "judge": 0.10,
        }
    )
    method: flops.Method = "paper"
    lengths: dict[str, dict[Literal["prompt", "ift", "reasoning"], Length]] = Field(
        default_factory=lambda: {dom: dict(v) for dom, v in DEFAULT_LENGTHS.items()}
    )
    # spread of answer lengths: E[l^2] = mean^2 (1 + cv^2)
    length_cv: float = Field(0.8, ge=0, le=10)
    chat_overhead: int = Field(10, ge=0, le=2**24)  # chat-template tokens around each sample
    # Table 4 instruction + question (+ options); x4 when 3-shot
    eval_prompt_tokens: int = Field(250, gt=0, le=2**24)
    # Table 5 prompt + question + truth + the answer's last 4k chars
    judge_prompt_tokens: int = Field(1400, gt=0, le=2**24)
    judge_gen_tokens: int = Field(400, gt=0, le=2**24)
    # Appendix B picks each peak LR from 6 candidates per student and format; set to 5 to count
    # the other 5 candidates as full general-domain IFT and reasoning runs.
    lr_search_extra_runs: int = Field(0, ge=0, le=100)

    @field_validator("mfu")
    @classmethod
    def _every_stage(cls, v: dict[str, float]) -> dict[str, float]:
        missing = [s for s in STAGES if s not in v]
        if missing:
            raise ValueError(f"no MFU for stage {missing[0]!r}")
        return v

    @field_validator("lengths")
    @classmethod
    def _three_lengths(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for dom, parts in v.items():
            missing = [p for p in ("prompt", "ift", "reasoning") if p not in parts]
            if missing:
                raise ValueError(f"{dom}: no {missing[0]!r} length (give prompt, ift, reasoning)")
        return v


def _benchmark_meta(name: str) -> tuple[str, str, int]:
    """(family, format, items) from the benchmark's definition (`ponder/benchmarks/<name>.yaml`)."""
    path = resource("benchmarks") / f"{name}.yaml"
    if not path.is_file():  # the tiny world's families: tiny-math-oe …
        fam, fmt = (
            name.removeprefix("tiny-").split("-")[:2]
            if name.startswith("tiny-")
            else ("general", "oe")
        )
        return fam, fmt.upper(), 200
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    return d.get("family", "general"), d.get("format", "OE"), int(d.get("expected_items") or 500)


def _length_stats(cfg, rd: RunDir | None, a: Assumptions) -> dict[str, dict]:
    """Per domain: n and, per style, (sum l, sum l^2) of training sequence lengths, plus means."""
    out = {}
    for dom, dcfg in cfg.domains.items():
        src = dcfg.source
        n = float(src.limit or src.n)
        assumed = a.lengths.get(dom, DEFAULT_LENGTHS["general"])
        pairs = rd.pairs(dom) if rd else None
        given = "published defaults" if assumed == DEFAULT_LENGTHS.get(dom) else "assumed"
        stats = {"n": n, "prompt": assumed["prompt"], "source": given}
        for style in ("ift", "reasoning"):
            mean = assumed[style] + assumed["prompt"] + a.chat_overhead
            stats[style] = (n * mean, n * mean**2 * (1 + a.length_cv**2), assumed[style])
        if pairs is not None and pairs.exists():
            import pandas as pd

            df = pd.read_parquet(pairs, columns=["ift_tokens", "reasoning_tokens"])
            if df.empty:  # no measured lengths: the assumed ones stand (a mean of none is NaN)
                out[dom] = stats
                continue
            n = float(len(df))
            stats.update(n=n, source=str(pairs))
            for style in ("ift", "reasoning"):
                seq = df[f"{style}_tokens"].to_numpy(float) + assumed["prompt"] + a.chat_overhead
                stats[style] = (seq.sum(), (seq**2).sum(), float(df[f"{style}_tokens"].mean()))
        out[dom] = stats
    return out


def _hours(f: float, stage: str, a: Assumptions) -> float:
    return f / (a.peak_flops * a.mfu[stage]) / 3600


def _generate_flops(rows: dict, stats: dict, used: list[str], teacher, m: str) -> None:
    for dom in used:
        s = stats[dom]
        if teacher is not None:  # Eq. (6), both answers of every prompt
            per = sum(
                flops.infer_flops(teacher, s["prompt"], s[st][2], m) for st in ("ift", "reasoning")
            )
            rows["generate"]["flops"] += s["n"] * per
        rows["generate"]["steps"] += 1


def _train_run_flops(cfg, s: dict, student: str, rho: float, m: str) -> float:
    """One training run on a domain's X_rho: a rho share of prompts with reasoning answers
    (expected sums of l and l^2 over its sequences)."""
    from ponder.pipeline.cluster import student_dims

    coef_a, coef_b = flops.forward_coefficients(student_dims(cfg, student), m)
    sum1 = (1 - rho) * s["ift"][0] + rho * s["reasoning"][0]
    sum2 = (1 - rho) * s["ift"][1] + rho * s["reasoning"][1]
    return 3 * (coef_a * sum1 + coef_b * sum2) * cfg.train.epochs


def _train_flops(cfg, rows: dict, runs, stats: dict, used: list[str], a: Assumptions) -> None:
    for r in runs:
        rows["train"]["flops"] += _train_run_flops(
            cfg, stats[r.domain], r.student, r.ratio, a.method
        )
        rows["train"]["steps"] += 1
    for student in sorted({r.student for r in runs}) if a.lr_search_extra_runs else []:
        s = stats["general" if "general" in used else used[0]]
        for rho in (0.0, 1.0):
            extra = a.lr_search_extra_runs * _train_run_flops(cfg, s, student, rho, a.method)
            rows["train"]["flops"] += extra
            rows["train"]["steps"] += a.lr_search_extra_runs


def _eval_flops(cfg, rows: dict, runs, teacher, a: Assumptions) -> None:
    """Eq. (6) per benchmark item for every evaluated model, and for every judge of each."""
    from ponder.pipeline.cluster import student_dims

    m = a.method
    evaluated = [(student_dims(cfg, r.student), r.ratio, 1) for r in runs]
    evaluated += [(_checkpoint_dims(cfg, c), c.chain()[-1][1], 1) for c in cfg.checkpoints]
    if cfg.eval.include_teacher and teacher is not None:
        evaluated.append((teacher, 1.0, 1))
    if cfg.eval.include_base:
        bases = sorted({r.student for r in runs})
        evaluated += [(student_dims(cfg, s), 0.0, 1 + cfg.eval.fewshot_base) for s in bases]
    judges = [flops.resolve_model(j.model) for j in cfg.judge.judges] if cfg.judge.enabled else []
    for bench in cfg.eval.benchmarks:
        fam, fmt, items = _benchmark_meta(bench)
        ift_len, rea_len = DEFAULT_EVAL_TOKENS.get((fam, fmt), (300, 2500))
        for dims, rho, shots in evaluated:
            gen = min((1 - rho) * ift_len + rho * rea_len, cfg.eval.max_new_tokens)
            prompt = a.eval_prompt_tokens * shots
            rows["eval"]["flops"] += items * flops.infer_flops(dims, prompt, gen, m)
            rows["eval"]["steps"] += 1
            for j in judges:
                rows["judge"]["flops"] += items * flops.infer_flops(
                    j, a.judge_prompt_tokens, a.judge_gen_tokens, m
                )
            rows["judge"]["steps"] += 1 if judges else 0


def _checkpoint_dims(cfg, c) -> flops.ModelDims:
    """A checkpoint arm's dimensions (its config here, or the built-in model it names)."""
    from ponder.pipeline.checkpoints import dims, field

    d = dims(c)
    if d is None:
        raise PonderError(
            f"{field(cfg, c)}: its dimensions are unknown here (hub config not in the local "
            "cache, student label not a built-in model): download its config.json "
            f"(`hf download {c.path} config.json`) or label it with a built-in student name"
        )
    return d


def estimate(cfg, rd: RunDir | None = None, a: Assumptions | None = None) -> dict:
    """GPU-hours by stage for a study: {'gpu_hours', 'stages': [rows], 'assumptions', ...}."""
    from ponder.records import model_runs

    a = a or Assumptions()
    stats = _length_stats(cfg, rd, a)
    teacher = flops.resolve_model(cfg.teacher.model) if cfg.teacher.backend != "scripted" else None
    rows: dict[str, dict] = {k: {"stage": k, "steps": 0, "flops": 0.0} for k in STAGES}
    runs = model_runs(cfg)
    used = sorted({d for r in runs for d, _ in r.phases})
    _generate_flops(rows, stats, used, teacher, a.method)
    _train_flops(cfg, rows, runs, stats, used, a)
    _eval_flops(cfg, rows, runs, teacher, a)
    stages = []
    for stage, row in rows.items():
        row["mfu"] = a.mfu[stage]
        row["gpu_hours"] = _hours(row["flops"], stage, a)
        stages.append(row)
    lengths = {
        d: {
            "n": s["n"],
            "source": s["source"],
            "prompt": s["prompt"],
            "ift": s["ift"][2],
            "reasoning": s["reasoning"][2],
        }
        for d, s in stats.items()
    }
    return {
        "study": cfg.name,
        "gpu_hours": sum(r["gpu_hours"] for r in stages),
        "flops": sum(r["flops"] for r in stages),
        "stages": stages,
        "lengths": lengths,
        "assumptions": a.model_dump(),
    }
