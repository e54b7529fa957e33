"""Local generation with transformers: batched, left-padded, KV-cached, through the chat template.

Used for real teachers that fit one device, and by evaluation to sample student answers (§2.3:
T=1.0, top_p=1.0). Requests are sorted by prompt length so each batch pads little, generated in
batches of `batch_size`, and returned in input order. The thinking toggle reaches the template as
`enable_thinking` (Qwen3's switch, §2.2); `extra["raw_prompt"]` bypasses the template for base
models evaluated few-shot. Temperature 0 means greedy decoding.

Stopping: a distilled student ends every trained answer with its chat template's end-of-turn token
(`<|im_end|>` for Qwen2.5), while a base checkpoint's generation config may list only
`<|endoftext|>`; so the template's end-of-turn token (`end_of_turn`) joins the EOS ids. A request's
`stop` strings end generation too: one-token strings as EOS ids, longer ones through
transformers' `stop_strings`, the text cut before them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.errors import PonderError
from ponder.lm.base import GenRequest, GenResult, split_thinking, template_kwargs


def _pick_device(device: str | None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":  # bf16 on GPU, fp32 on CPU (bf16 matmuls are slow on most CPUs)
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise PonderError(f"dtype: unknown torch dtype {dtype!r}") from None


class HFLocalLM:
    """A transformers causal LM behind the `LM` interface."""

    def __init__(
        self,
        model: str | Path | Any,
        tokenizer: Any = None,
        *,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 64,
        chat_template_kwargs: dict | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

        self.device = _pick_device(device)
        if isinstance(model, PreTrainedModel):
            self.model = model.to(self.device)
            self.name = Path(str(getattr(model, "name_or_path", "") or "hf-model")).name
            source = getattr(model, "name_or_path", None)
        else:
            source = str(model)
            self.name = Path(source).name or source
            try:
                self.model = AutoModelForCausalLM.from_pretrained(
                    source, dtype=_torch_dtype(dtype, self.device)
                ).to(self.device)
            except OSError as e:
                raise PonderError(f"model: cannot load {source!r} ({e})") from None
        if tokenizer is None:
            if not source:
                raise PonderError("tokenizer: required when passing a model object without a path")
            tokenizer = AutoTokenizer.from_pretrained(source)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only batching: pad before the prompt
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.eval()
        self.batch_size = batch_size
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self._eos = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        eot = end_of_turn(self.tokenizer)
        if eot is not None:
            ids.add(self.tokenizer.convert_tokens_to_ids(eot))
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif gen_eos:
            ids.update(gen_eos)
        return sorted(i for i in ids if i is not None)

    def render(self, req: GenRequest) -> str:
        """The exact prompt text the model sees (chat template, or the raw few-shot prompt)."""
        raw = req.extra.get("raw_prompt")
        if raw is not None:
            return raw
        kwargs = template_kwargs(self.chat_template_kwargs, req)
        if self.tokenizer.chat_template is None:
            raise PonderError(f"model {self.name}: tokenizer has no chat template (use raw_prompt)")
        return self.tokenizer.apply_chat_template(
            req.messages, tokenize=False, add_generation_prompt=True, **kwargs
        )

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        texts = [self.render(r) for r in requests]
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        # A batch shares sampling settings (one generate call): group by them, then sort each group
        # by prompt length so a batch pads little. A seed applies to the whole batch.
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.temperature, r.top_p, r.max_tokens, r.seed, r.stop), []).append(i)
        out: list[GenResult | None] = [None] * len(requests)
        for members in groups.values():
            members.sort(key=lambda i: lengths[i])
            for s in range(0, len(members), self.batch_size):
                idx = members[s : s + self.batch_size]
                batch = self._batch([requests[k] for k in idx], [texts[k] for k in idx])
                for k, res in zip(idx, batch, strict=True):
                    out[k] = res
        return out  # type: ignore[return-value]

    def _batch(self, reqs: list[GenRequest], texts: list[str]) -> list[GenResult]:
        import torch

        head = reqs[0]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        n_prompt = enc["attention_mask"].sum(dim=1).tolist()
        limit = self._context_limit()
        width = enc["input_ids"].shape[1]
        if limit is not None and width >= limit:
            msg = f"prompt of {width} tokens does not fit the context of {limit}"
            return [
                GenResult(r.id, "", None, "error", p, 0, msg)
                for r, p in zip(reqs, n_prompt, strict=True)
            ]
        max_new = head.max_tokens if limit is None else min(head.max_tokens, limit - width)
        sample = head.temperature > 0
        eos, strings = self._stops(head.stop)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": sample,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": eos,
        }
        if strings:
            gen_kwargs.update(stop_strings=list(strings), tokenizer=self.tokenizer)
        if sample:
            gen_kwargs.update(temperature=head.temperature, top_p=head.top_p, top_k=0)
        else:  # greedy: clear sampling knobs a checkpoint's generation_config may carry
            gen_kwargs.update(temperature=None, top_p=None, top_k=None)
        seeded = torch.random.fork_rng(devices=[]) if head.seed is not None else None
        with torch.inference_mode(), seeded or contextlib.nullcontext():
            if head.seed is not None:
                torch.manual_seed(head.seed)
            seqs = self.model.generate(**enc, **gen_kwargs)
        new = seqs[:, width:].tolist()
        results = []
        for r, toks, p in zip(reqs, new, n_prompt, strict=True):
            hit_eos = next((n for n, t in enumerate(toks) if t in eos), None)
            if hit_eos is not None:
                toks, finish = toks[:hit_eos], "stop"
                n_done = hit_eos + 1  # the EOS token was generated and costs compute
            else:
                finish, n_done = "length", len(toks)
            text = self.tokenizer.decode(toks, skip_special_tokens=True)
            cut = min((text.find(x) for x in strings if x in text), default=-1)
            if cut >= 0:  # a stop string ended it: keep the text before it, count what ran
                text, finish = text[:cut], "stop"
            reasoning = split_thinking(text)[0] if "<think>" in text[:64] else None
            results.append(GenResult(r.id, text, reasoning, finish, int(p), n_done))
        return results

    def _stops(self, stop: tuple[str, ...]) -> tuple[list[int], tuple[str, ...]]:
        """EOS ids for this batch (the model's plus one-token stop strings) and the longer ones."""
        eos, strings = list(self._eos), []
        for x in stop:
            ids = self.tokenizer(x, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                eos.append(ids[0])
            elif ids:
                strings.append(x)
        return sorted(set(eos)), tuple(strings)

    def _context_limit(self) -> int | None:
        n = getattr(self.model.config, "max_position_embeddings", None)
        return int(n) if n else None


def end_of_turn(tokenizer) -> str | None:
    """The special token that closes an assistant turn in the tokenizer's chat template
    (`<|im_end|>` for Qwen2.5, `<|eot_id|>` for Llama 3, `<end_of_turn>` for Gemma), found by
    rendering one assistant message and reading the first special token after it; None when the
    tokenizer has no template or the template closes turns with plain text."""
    if getattr(tokenizer, "chat_template", None) is None:
        return None
    mark = "PONDER-END-OF-ANSWER"
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": mark}]
    try:
        text = tokenizer.apply_chat_template(conv, tokenize=False)
    except Exception:  # templates that reject this conversation shape: no end-of-turn known
        return None
    if mark not in text:
        return None
    tail = text.split(mark, 1)[1]
    special = set(tokenizer.all_special_ids)
    special |= {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    for i in tokenizer(tail, add_special_tokens=False)["input_ids"]:
        if i in special:
            return tokenizer.convert_ids_to_tokens(i)
    return None
