"""GPU smoke test of the vLLM offline backend: both thinking modes through `vllm.LLM.chat`.

Run on a GPU host with vLLM installed (`pip install 'ponder[gpu]'`):
    python scripts/gpu_smoke_vllm.py                      # a tiny random Qwen2 built here
    python scripts/gpu_smoke_vllm.py --model /path/to/Qwen3-0.6B   # a real local checkpoint
With no --model it builds a random-weight Qwen2 with a Qwen-style chat template (nothing is
downloaded), so the text is gibberish: the check is that requests, the thinking toggle, max_tokens
and finish reasons flow through vLLM. Exit code 0 and one JSON line per request on success.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ponder.lm.base import GenRequest  # noqa: E402
from ponder.lm.vllm_offline import VLLMOfflineLM  # noqa: E402

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)


def tiny_model(out: Path) -> Path:
    """A random Qwen2 (hidden 64, 2 layers) with a word-level tokenizer, saved for vLLM."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    words = [
        "what",
        "is",
        "two",
        "plus",
        "three",
        "the",
        "answer",
        "boxed",
        "a",
        "b",
        "c",
        "d",
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "+",
        "*",
        "?",
    ]
    specials = ["<|im_end|>", "<|endoftext|>", "<|im_start|>", "<think>", "</think>", "<unk>"]
    vocab = {w: i for i, w in enumerate(specials + words + ["\n", "user", "assistant"])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>"
    )
    tok.chat_template = TEMPLATE
    cfg = Qwen2Config(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tok.eos_token_id,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--max-tokens", type=int, default=32)
    a = p.parse_args()
    model = a.model or str(tiny_model(Path(tempfile.mkdtemp()) / "tiny-qwen2"))
    lm = VLLMOfflineLM(model, seed=0, max_model_len=512, gpu_memory_utilization=0.3)
    reqs = [
        GenRequest(
            [{"role": "user", "content": q}],
            thinking=t,
            temperature=temp,
            top_p=top_p,
            max_tokens=a.max_tokens,
            seed=1,
            id=f"{q}|{t}",
        )
        for q in ("what is two plus three ?", "what is 2 * 3 ?")
        for t, temp, top_p in ((False, 0.7, 0.8), (True, 0.6, 0.95))
    ]
    t0 = time.perf_counter()
    out = lm.generate(reqs)
    dt = time.perf_counter() - t0
    for r in out:
        print(
            json.dumps(
                {
                    "id": r.id,
                    "finish": r.finish_reason,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "text": r.text[:80],
                }
            )
        )
    assert all(r.completion_tokens <= a.max_tokens for r in out)
    assert all(r.finish_reason in ("stop", "length") for r in out)
    print(f"ok: {len(out)} requests in {dt:.2f} s")


if __name__ == "__main__":
    main()
