"""A real OpenAI-compatible server for tests: `transformers serve` (transformers[serving]) on CPU,
serving tiny checkpoints built here in seconds, with chat templates that honour Qwen3's thinking
switch or ignore it.

`build_teachers(root)` trains one tiny Qwen2 model (1 layer, hidden 32, ~70k parameters; about
3 s on 2 CPU cores) to answer like a hybrid teacher: after the template's IFT pre-fill
`<think>\\n\\n</think>\\n\\n` it writes `\\boxed{yes}`, after the thinking pre-fill `<think>\\n` it
writes a short trace, `</think>` and the same box. Greedy decoding is deterministic, so a test
can ask the server again and compare. The weights are saved three times, with three templates:
  hybrid    honours `enable_thinking` (Qwen3's switch; thinking unless it is false)
  thinking  always pre-fills `<think>\\n` (a template that ignores the switch, or a Thinking-2507)
  instruct  always pre-fills the empty block (a model of one mode, like Instruct-2507)
`transformers serve` parses `<think>…</think>` into `reasoning_content` for `qwen2` models.

`TransformersServe()` starts one server process on a free port (no model on its command line:
it loads whichever checkpoint path a request names); `wait()` waits for `/health`; `stop()` ends
it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fakeserver import free_port

_HEAD = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}"
)
OFF, ON = "<think>\\n\\n</think>\\n\\n", "<think>\\n"
TEMPLATES = {
    "hybrid": _HEAD
    + "{%- if enable_thinking is defined and enable_thinking is false -%}"
    + f"{{{{ '{OFF}' }}}}{{%- else -%}}{{{{ '{ON}' }}}}{{%- endif -%}}{{%- endif -%}}",
    "thinking": _HEAD + f"{{{{ '{ON}' }}}}{{%- endif -%}}",
    "instruct": _HEAD + f"{{{{ '{OFF}' }}}}{{%- endif -%}}",
}
TRACE = "Let me check the question.\n</think>\n\n"
ANSWER = "\\boxed{yes}"


QUESTIONS = [f"What is {a} plus {b}?" for a in range(1, 7) for b in range(1, 7)]


def _long_prompts() -> list[str]:
    """Prompts a study also sends: the tiny world's test items (the teacher is evaluated on them)
    and Table 5 judge prompts (the judge panel)."""
    from ponder.evaluate.judge import render
    from ponder.tiny import world

    items = world.test_items("math-oe", 8) + world.test_items("general-mc", 8)
    judged = [render("default", it["prompt"], "\\boxed{3}", "3") for it in items[:6]]
    return [it["prompt"] for it in items] + judged


def _batch(tok, prompts: list[str]):
    """Both modes of each prompt as one padded batch: (input ids, labels on the answer, mask)."""
    import torch

    rows = []
    for p in prompts:
        for on in (True, False):
            head = tok.apply_chat_template(
                [{"role": "user", "content": p}],
                tokenize=False,
                add_generation_prompt=True,
                enable_thinking=on,  # the hybrid template's pre-fill
            )
            a = tok(head, add_special_tokens=False)["input_ids"]
            b = tok((TRACE if on else "") + ANSWER + "<|im_end|>", add_special_tokens=False)
            rows.append((a + b["input_ids"], [-100] * len(a) + b["input_ids"]))
    width = max(len(x) for x, _ in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = (
            torch.tensor(x),
            torch.tensor(y),
            1,
        )
    return ids, labels, mask


def _train(tok, batches: list[list[str]]):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny matrices: threads only contend with the test run's others
    model = Qwen2ForCausalLM(cfg)
    data = [_batch(tok, prompts) for prompts in batches]  # by length: little padding
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(120):  # loss < 0.01: greedy answers are the trained ones
        for ids, labels, mask in data:
            model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    return model


def build_teachers(root: Path) -> dict[str, Path]:
    """Train the tiny teacher once; save it under root/<template name> for each template."""
    from ponder.tiny.students import build_tokenizer

    long = _long_prompts()
    tok = build_tokenizer(QUESTIONS + long + [TRACE, ANSWER] * 20, vocab_size=600)
    tok.chat_template = TEMPLATES["hybrid"]
    # 4 of the long prompts are enough for the pattern to hold after any of them
    model = _train(tok, [QUESTIONS, long[:2] + long[-2:]])
    out = {}
    for name, template in TEMPLATES.items():
        tok.chat_template = template
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
        out[name] = root / name
    return out


class TransformersServe:
    """One `transformers serve` process on 127.0.0.1 (CPU), serving any local checkpoint."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        cli = Path(sys.executable).with_name("transformers")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        self.log = log
        self.proc = subprocess.Popen(
            [str(cli), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + ["--device", "cpu", "--log-level", "warning"],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.ready = False

    def wait(self, timeout_s: float = 90.0) -> bool:
        """Whether `/health` answers 200 within `timeout_s` (the process may still be importing)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready and time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url[: -len("/v1")] + "/health", timeout=2) as r:
                    self.ready = r.status == 200
            except OSError:
                time.sleep(0.25)
        return self.ready

    def why_not(self) -> str:
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        return f"transformers serve did not start ({' | '.join(tail) or 'no output'})"

    def chat(self, body: dict) -> dict:
        """One chat completion, sent as a plain HTTP request (not through ponder)."""
        req = urllib.request.Request(
            self.url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
