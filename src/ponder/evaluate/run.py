"""Evaluate models on benchmarks and gather one results table.

§2.3: distilled students answer zero-shot through their chat template, base models three-shot,
sampling at τ = 1.0, p = 1.0 (config). A base model's request carries the few-shot text as
`extra["raw_prompt"]` (the same text in every backend, evaluate/fewshot.py) and stops before a
next "Question:"; a student's request stops at its chat template's end-of-turn token, which its
training put after every answer (`GenRequest.stop`, honoured by every backend). A checkpoint arm
is asked as a student, with its own request settings on top: a system message and chat-template
arguments (`{enable_thinking: false}` makes a hybrid model's IFT arm).
Answers are generated in batches through the shared LM interface (KV-cached `generate`), scored by
each benchmark's rule scorer, and every item carries its inference FLOPs (Appendix C, Eq. 6) from
its prompt and generated token counts. `evals/<model>/<benchmark>.parquet` holds one row per item;
`results.parquet` one row per (model, benchmark).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ponder.config import StudyConfig
from ponder.lm.base import GenRequest
from ponder.records import Evaluated, ModelKind
from ponder.rundir import atomic_write_parquet


def load_study_benchmark(cfg: StudyConfig, name: str):
    from ponder.evaluate.benchmarks import load_benchmark

    data_dir = Path(cfg.eval.data_dir) if cfg.eval.data_dir else None
    if name.startswith("tiny-"):  # the world's test split is fixed by the world seed and size
        return load_benchmark(name, data_dir, limit=cfg.world.n_test, seed=cfg.world.seed)
    return load_benchmark(name, data_dir, limit=cfg.eval.limit, seed=cfg.eval.seed)


def student_stop(path: Path | None) -> tuple[tuple[str, ...], list[int]]:
    """The end-of-turn token of a checkpoint's chat template, as stop strings and token ids (or
    none). The ids matter for servers: vLLM matches `stop` strings on text with special tokens
    removed, so only `stop_token_ids` stops a served student at `<|im_end|>`."""
    if path is None:
        return (), []
    from transformers import AutoTokenizer

    from ponder.lm.hf_local import end_of_turn

    tok = AutoTokenizer.from_pretrained(path)
    eot = end_of_turn(tok)
    return ((eot,), [tok.convert_tokens_to_ids(eot)]) if eot else ((), [])


_LOADED: dict[tuple, object] = {}  # the last model loaded here: an array task's steps reuse it


def _lm_for(cfg: StudyConfig, target: Evaluated, path: Path | None):
    """The LM answering for `target`; a student loads once per process for all its benchmarks."""
    if target.kind is ModelKind.TEACHER:
        from ponder.lm import make_teacher

        return make_teacher(cfg.teacher)
    key = (cfg.eval.backend, str(path), cfg.eval.batch_size)
    if key not in _LOADED:
        _LOADED.clear()  # one model in memory at a time
        from ponder.lm import make_evaluated

        _LOADED[key] = make_evaluated(cfg.eval, str(path))
    return _LOADED[key]


def _dims(path):
    if path is None:
        return None
    from transformers import AutoConfig

    from ponder.flops import ModelDims

    return ModelDims.from_hf_config(AutoConfig.from_pretrained(path))


def build_requests(
    cfg: StudyConfig,
    bench,
    target: Evaluated,
    stop: tuple[str, ...] = (),
    stop_ids: list[int] | None = None,
) -> list[GenRequest]:
    """One request per item: base models few-shot on the raw prompt, others through the chat
    template, students stopping at `stop` (their end-of-turn token; `stop_ids` its ids, sent to
    OpenAI-compatible servers as vLLM's `stop_token_ids`)."""
    from ponder.evaluate import fewshot as fs

    base = target.kind is ModelKind.BASE
    k = cfg.eval.fewshot_base
    shots = bench.fewshot(k) if base and k else []
    asked = target.checkpoint.eval if target.checkpoint is not None else None
    system = [{"role": "system", "content": asked.system}] if asked and asked.system else []
    out = []
    for it in bench.items():
        extra = {"raw_prompt": fs.render(shots, it.prompt)} if base else {}
        if stop_ids and cfg.eval.backend == "openai":
            extra["extra_body"] = {"stop_token_ids": list(stop_ids)}
        out.append(
            GenRequest(
                messages=system + [{"role": "user", "content": it.prompt}],
                thinking=True if target.kind is ModelKind.TEACHER else None,
                temperature=cfg.eval.temperature,
                top_p=cfg.eval.top_p,
                max_tokens=cfg.eval.max_new_tokens,
                seed=cfg.eval.seed,
                id=it.id,
                stop=fs.STOP if base else stop,
                chat_template_kwargs=dict(asked.chat_template_kwargs) if asked else {},
                extra=extra,
            )
        )
    return out


def evaluate_step(
    cfg: StudyConfig, target: Evaluated, benchmark: str, path: Path | None, out: Path
) -> dict:
    """Generate and score one model's answers on one benchmark; write the per-item parquet."""
    from ponder.flops import infer_flops

    bench = load_study_benchmark(cfg, benchmark)
    items = bench.items()
    stop, ids = student_stop(path) if target.kind is ModelKind.STUDENT else ((), [])
    outs = _lm_for(cfg, target, path).generate(build_requests(cfg, bench, target, stop, ids))
    rows = []
    for it, res in zip(items, outs, strict=True):
        score = bench.score(it, res.text)
        rows.append(
            {
                "id": it.id,
                "prompt": it.prompt,
                "gold": it.gold,
                "response": res.text,
                "tokens": res.completion_tokens,
                "prompt_tokens": res.prompt_tokens,
                "finish": res.finish_reason,
                **{k: _cell(v) for k, v in score.items()},
            }
        )
    df = pd.DataFrame(rows)
    df["correct"] = df["correct"].astype(bool)
    dims = _dims(path)
    df["infer_flops"] = math.nan
    if dims is not None and len(df):
        prompt, gen = df["prompt_tokens"].clip(lower=1).to_numpy(), df["tokens"].to_numpy()
        flops = infer_flops(dims, prompt, gen, method=cfg.eval.flops_method)
        df["infer_flops"] = np.asarray(flops, dtype=float)
    atomic_write_parquet(out, df)
    return {"n": len(df), "accuracy": float(df["correct"].mean()) if len(df) else math.nan}


def _cell(v):
    """Parquet-friendly cell: lists/dicts of verdicts are kept as JSON text."""
    return json.dumps(v) if isinstance(v, list | dict) else v
