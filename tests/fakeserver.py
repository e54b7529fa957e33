"""A loopback OpenAI-compatible chat server for tests and benchmarks (aiohttp, 127.0.0.1).

Answers are scripted and deterministic from the prompt, so a resumed run can be compared with an
uninterrupted one. Reusable by any test that needs a real HTTP server behind the `openai` client:

    with FakeServer(style="reasoning", latency_s=0.05) as srv:
        lm = OpenAILM("fake", [srv.url])        # srv.url == "http://127.0.0.1:<port>/v1"
        ...
        srv.requests                             # every JSON body received, in order

`style` picks how reasoning is spelled: "reasoning" (current vLLM), "reasoning_content" (SGLang,
older vLLM) or "inline" (`<think>…</think>` in the content); "judge" answers Table 5 judge prompts
with a scripted verdict (`judge_verdict`), "judge-no" always says no. Faults are injected per prompt
by markers in its text, counted per (prompt, thinking) so retries see the next outcome:
  [429x2]   the first 2 attempts get 429, then success     [500x1] [503x3] likewise
  [badjsonx1] a 200 with a non-JSON body                   [nochoicex1] a 200 without choices
  [hangx1]  the attempt sleeps `hang_s` (client timeout)   [dropx1] the connection is closed
            before any answer (a crashed worker, a proxy reset)  [400] always 400 (context too long)
  [length]  the answer is cut: finish_reason "length", reasoning without `</think>`
`api_key="k"` makes the server answer 401 to any other key. `stop()` kills it mid-run.
`answered` counts the successful answers per (prompt, thinking): more than one means the client
asked again for an answer it had already received (e.g. lost to a kill before it was committed).
Run standalone (benchmarks): `python tests/fakeserver.py --port 8000 --latency 0.05`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import socket
import threading
import time
from collections import Counter

from aiohttp import web

from ponder.generate.pool import die_with_parent

_MARK = re.compile(r"\[(\d{3}|badjson|nochoice|hang|drop)x(\d+)\]")


def scripted_answer(prompt: str) -> tuple[str, str]:
    """(reasoning, answer) the fake teacher gives for a prompt: stable across processes."""
    h = hashlib.sha256(prompt.encode()).hexdigest()
    return f"Let me think about {h[:8]}. Step one. Step two.", f"The answer is \\boxed{{{h[-4:]}}}."


class FakeServer:
    """Start with `start()` (or `with`), stop with `stop()`; `url` ends in `/v1`."""

    def __init__(
        self,
        style: str = "reasoning",
        latency_s: float = 0.0,
        hang_s: float = 5.0,
        port: int = 0,
        record: bool = True,
        api_key: str | None = None,
        capacity: int = 0,
    ) -> None:
        assert style in ("reasoning", "reasoning_content", "inline", "judge", "judge-no"), style
        self.style, self.latency_s, self.hang_s = style, latency_s, hang_s
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.record = record
        self.api_key = api_key  # when set, other keys get 401
        # At most `capacity` requests in their latency at once, the rest queue (0: unbounded):
        # a real server's batch limit (vLLM --max-num-seqs), which is what a fleet multiplies.
        self.capacity = capacity
        self._slots: asyncio.Semaphore | None = None
        self.requests: list[dict] = []
        self.attempts: Counter = Counter()
        self.answered: Counter = Counter()
        self.arrivals: list[float] = []  # time.monotonic() of each request (with `record`)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # ---------------------------------------------------------------- HTTP
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        body = await request.json()
        if self.record:
            self.requests.append(body)
            self.arrivals.append(time.monotonic())
        prompt = body["messages"][-1]["content"]
        thinking = bool((body.get("chat_template_kwargs") or {}).get("enable_thinking", False))
        key = (prompt, thinking)
        self.attempts[key] += 1
        n = self.attempts[key]
        if self.capacity:
            self._slots = self._slots or asyncio.Semaphore(self.capacity)
            async with self._slots:
                await asyncio.sleep(self.latency_s)
        elif self.latency_s:
            await asyncio.sleep(self.latency_s)
        for kind, times in _MARK.findall(prompt):
            if n <= int(times):
                return await self._fault(kind, request)
        if "[400]" in prompt:
            msg = "This model's maximum context length is 32768 tokens."
            return web.json_response(
                {"error": {"message": msg, "type": "BadRequestError"}}, status=400
            )
        self.answered[key] += 1
        return web.json_response(self._completion(prompt, thinking, body))

    async def _fault(self, kind: str, request: web.Request) -> web.Response:
        if kind == "drop":  # no status line at all: the client sees the connection close
            request.transport.close()
            return web.Response()
        if kind == "badjson":
            return web.Response(text="{not json", content_type="application/json")
        if kind == "nochoice":
            return web.json_response({"id": "x", "object": "chat.completion", "choices": []})
        if kind == "hang":
            await asyncio.sleep(self.hang_s)
            return web.json_response({"error": "late"}, status=504)
        err = {"error": {"message": f"injected {kind}", "type": "server_error"}}
        return web.json_response(err, status=int(kind))

    def _completion(self, prompt: str, thinking: bool, body: dict) -> dict:
        if self.style.startswith("judge"):
            ok = self.style == "judge" and judge_verdict(prompt)
            msg = {
                "role": "assistant",
                "content": f"Comparing the results. \\boxed{{{'yes' if ok else 'no'}}}",
            }
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "fake"),
                "usage": None,
                "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
            }
        reasoning, answer = scripted_answer(prompt)
        finish = "stop"
        if "[length]" in prompt:  # cut mid-answer (IFT) or mid-thought (reasoning)
            finish = "length"
            reasoning, answer = (reasoning[:20], None) if thinking else (reasoning, answer[:10])
        msg: dict = {"role": "assistant"}
        if not thinking:
            msg["content"] = answer
        elif self.style == "inline":
            closed = "\n</think>\n\n" + answer if answer is not None else ""
            msg["content"] = f"<think>\n{reasoning}{closed}"
        else:
            msg[self.style] = reasoning
            msg["content"] = answer
        words = len(prompt.split())
        out_words = len(((reasoning + " ") if thinking else "").split()) + len(
            (answer or "").split()
        )
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": words,
                "completion_tokens": out_words,
                "total_tokens": words + out_words,
            },
        }

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FakeServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            # a stopped server drops its connections at once, like a crashed one
            self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.05)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        """Shut down: from now on connections to `url` are refused (a dead server)."""
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def judge_verdict(prompt: str) -> bool:
    """A scripted judge for Table 5 prompts: the user answer's last \\boxed{} equals the ground
    truth's result (for "B) option text", the letter)."""
    answer, _, truth = prompt.partition("User Answer:")[2].partition("Ground Truth:")
    boxed = re.findall(r"\\boxed\{([^{}]*)\}", answer)
    return bool(boxed) and boxed[-1].strip() == truth.strip().split(")")[0].strip()


def free_port() -> int:
    """A port nothing listens on right now (also the URL of a dead server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--style", default="reasoning")
    p.add_argument("--capacity", type=int, default=0)
    p.add_argument("--hang", type=float, default=5.0, help="seconds a [hangxN] attempt sleeps")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    a = p.parse_args()
    first = os.getpid()
    for _ in range(a.workers - 1):  # SO_REUSEPORT: the kernel spreads connections over them
        if os.fork() == 0:
            die_with_parent(first)
            break
    srv = FakeServer(
        style=a.style,
        latency_s=a.latency,
        hang_s=a.hang,
        port=a.port,
        record=False,
        capacity=a.capacity,
    )
    web.run_app(
        srv.app(),
        host="127.0.0.1",
        port=a.port,
        access_log=None,
        print=None,
        backlog=1024,
        reuse_port=a.workers > 1,
    )


if __name__ == "__main__":
    main()
