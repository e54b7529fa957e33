"""Any OpenAI-compatible chat server (vLLM `vllm serve`, SGLang, hosted APIs) as an LM backend.

Requests go through the official `openai` client's async API, with its aiohttp transport (the
`openai[aiohttp]` extra) and its raw `client.post("/chat/completions")`: a plain dict body out, a
JSON dict back. The typed `chat.completions.create` spends most of its CPU transforming the
request and building response models: 2.9 ms per request against 0.8 ms this way (2-core CPU,
loopback server), which caps one process near 350 instead of 1,000 requests/s. Status errors,
timeouts and connection errors are the client's own exceptions either way.

The thinking toggle is the body's `chat_template_kwargs: {"enable_thinking": ...}` (Qwen3's switch,
§2.2; `extra_body` in the typed API). Servers spell reasoning three ways: `message.reasoning`
(current vLLM), `message.reasoning_content` (SGLang, older vLLM), or inline `<think>…</think>` in
the content; all become Qwen3's own rendering `<think>\\n{reasoning}\\n</think>\\n\\n{answer}`
(an unclosed trace keeps no `</think>`).

Several base URLs form a fleet (fleet.py): each request goes to the live server with the fewest
requests in flight; a server that refuses connections is benched with an exponential cool-down,
while one slow answer or one dropped connection only retries that request. 429, 5xx, timeouts,
dropped connections and malformed bodies are retried with capped exponential backoff and full
jitter, at most `max_retries` times; a request that still has no answer comes back
`UNANSWERED` (asking again later may work: the generate stage does not keep it). 400/422 (e.g.
prompt longer than the context) mark that request rejected (finish "error"): asking again gives
the same. 401/403/404 (bad key, unknown model or wrong URL path) and a fleet where no server can
be reached stop the run: every request would fail the same way.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import Sequence

from ponder.errors import PonderError
from ponder.lm.base import GenRequest, GenResult, split_thinking, template_kwargs
from ponder.lm.fleet import CONNECT, UNANSWERED, Fleet, failure

# A host that does not answer a connect within this many seconds is down; the answer itself may
# take up to request_timeout_s (a long reasoning trace).
CONNECT_TIMEOUT_S = 10.0


class Malformed(Exception):
    """A 200 response without a usable choice: retried like a transient error."""


def normalise(content: str | None, reasoning: str | None) -> tuple[str, str | None]:
    """(text, reasoning) in one form whatever the server's spelling. A separate reasoning field
    with no content means the parser never saw `</think>`: the trace is unclosed."""
    closed = True
    if reasoning is None and content is not None:
        if "</think>" in content and "<think>" not in content:
            content = "<think>" + content  # the template pre-filled <think> (Qwen3-2507 style)
        reasoning, content, closed = split_thinking(content)
    elif reasoning is not None and content is None:
        closed = False
    answer = content or ""
    if reasoning is None or (closed and not reasoning.strip()):
        return answer.lstrip("\n") if reasoning is not None else answer, None
    reasoning = reasoning.strip("\n")
    if not closed:
        return f"<think>\n{reasoning}", reasoning
    return f"<think>\n{reasoning}\n</think>\n\n{answer.lstrip(chr(10))}", reasoning


class OpenAILM:
    """A fleet of OpenAI-compatible servers serving one model."""

    def __init__(
        self,
        model: str,
        base_urls: Sequence[str] = (),
        *,
        api_key_env: str | None = None,
        max_concurrency: int = 64,
        max_retries: int = 6,
        request_timeout_s: float = 600.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        if not base_urls:
            raise PonderError("teacher.base_urls: the openai backend needs at least one server URL")
        self._key = "EMPTY"  # vLLM and SGLang accept any key unless started with --api-key
        if api_key_env:
            if not os.environ.get(api_key_env):
                raise PonderError(f"api_key_env: environment variable {api_key_env} is not set")
            self._key = os.environ[api_key_env]
        self.name = model
        self.model = model
        self.fleet = Fleet(base_urls)
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = request_timeout_s
        self.backoff = backoff_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"requests": 0, "retries": 0, "failed": 0}

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAILM(model={self.model!r}, servers={[s.url for s in self.servers]})"

    @property
    def servers(self):
        return self.fleet.servers

    # ---------------------------------------------------------------- fleet
    def _clients_for_this_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        import openai

        timeout = openai.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT_S, self.timeout))
        self.fleet = Fleet([s.url for s in self.servers])  # a new run: health starts afresh
        for s in self.servers:  # the client's connection pool belongs to one event loop
            s.client = openai.AsyncOpenAI(
                base_url=s.url,
                api_key=self._key,
                max_retries=0,
                timeout=timeout,
                http_client=openai.DefaultAioHttpClient(timeout=timeout),
            )
        self._loop = loop

    # ---------------------------------------------------------------- one request
    @staticmethod
    def endpoint(req: GenRequest) -> str:
        """Chat completions, or plain completions for a raw (few-shot, base model) prompt."""
        return "/completions" if req.extra.get("raw_prompt") is not None else "/chat/completions"

    def _body(self, req: GenRequest) -> dict:
        """The JSON body (what `create(..., extra_body=...)` would send)."""
        body = dict(req.extra.get("extra_body") or {})
        raw = req.extra.get("raw_prompt")
        body.update(
            model=self.model,
            temperature=req.temperature,
            top_p=req.top_p,
            max_tokens=req.max_tokens,  # always set: vLLM's own default is 16
        )
        if raw is not None:
            body["prompt"] = raw
        else:
            body["messages"] = req.messages
        if req.seed is not None:
            body["seed"] = req.seed
        if req.stop:
            body["stop"] = list(req.stop)
        ctk = template_kwargs(body.get("chat_template_kwargs") or {}, req)
        if ctk:
            body["chat_template_kwargs"] = ctk
        return body

    def _parse(self, resp, req: GenRequest) -> GenResult:
        choices = resp.get("choices") if isinstance(resp, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise Malformed("response has no choices[0]")
        choice = choices[0]
        if "message" not in choice:  # plain completions answer with `text`
            if not isinstance(choice.get("text"), str):
                raise Malformed("response has no choices[0].message or .text")
            choice = {**choice, "message": {"content": choice["text"]}}
        msg = choice["message"] or {}
        reasoning = msg.get("reasoning") or msg.get("reasoning_content")
        finish = choice.get("finish_reason") or "stop"
        content = msg.get("content")
        if reasoning and not content and finish == "length":
            content = None  # cut inside the trace (transformers serve sends content ""): unclosed
        text, reasoning = normalise(content, reasoning)
        usage = resp.get("usage") or {}
        return GenResult(
            id=req.id,
            text=text,
            reasoning=reasoning,
            finish_reason=finish,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )

    async def agenerate(self, req: GenRequest) -> GenResult:
        """One request with retries and fail-over: an answer, a rejected request (finish
        "error") or an unanswered one (`UNANSWERED`); PonderError when no request can work."""
        import openai

        self._clients_for_this_loop()
        self.stats["requests"] += 1
        body, last = self._body(req), ""
        for attempt in range(self.max_retries + 1):
            server = await self.fleet.pick()
            server.inflight += 1
            sent_at = time.monotonic()
            kind = ""
            try:
                resp = await server.client.post(self.endpoint(req), body=body, cast_to=object)
                server.ok()
                return self._parse(resp, req)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as e:
                server.ok()
                self.stats["failed"] += 1
                return _failed(req, f"{e.status_code}: {_short(e)}", "error")
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise PonderError(
                    f"server {server.url}: {e.status_code} (check the API key)"
                ) from None
            except openai.NotFoundError as e:
                said = f": {_short(e)}" if _short(e) else ""
                raise PonderError(
                    f"server {server.url}: 404 (unknown model {self.model!r} or wrong URL path)"
                    + said
                ) from None
            except openai.APIConnectionError as e:  # refused, unknown host, timed out, dropped
                kind, words = failure(e, self.timeout)
                self.fleet.failed(server, kind, words, sent_at)
                if self.fleet.unreachable is not None:
                    raise self.fleet.unreachable from None
                last = f"{server.url}: {words}"
            except openai.APIStatusError as e:  # 429, 5xx, anything else the server may recover
                server.ok()
                last = f"{server.url}: {e.status_code}: {_short(e)}"
            except (openai.APIResponseValidationError, Malformed, ValueError, TypeError) as e:
                server.ok()
                last = f"{server.url}: malformed response: {_short(e)}"
            finally:
                server.inflight -= 1
            if attempt < self.max_retries:
                self.stats["retries"] += 1
                if kind not in CONNECT:  # a benched server already waits out its cool-down
                    base, cap = self.backoff
                    await asyncio.sleep(random.uniform(0, min(cap, base * 2**attempt)))
        self.stats["failed"] += 1
        return _failed(req, f"{last} (gave up after {self.max_retries + 1} attempts)", UNANSWERED)

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        """A batch, `max_concurrency` requests in flight, results in input order."""

        async def run() -> list[GenResult]:
            sem = asyncio.Semaphore(self.max_concurrency)

            async def one(r: GenRequest) -> GenResult:
                async with sem:
                    return await self.agenerate(r)

            tasks = [asyncio.ensure_future(one(r)) for r in requests]
            try:
                return list(await asyncio.gather(*tasks))
            finally:  # on a fatal error, the others stop before the clients close
                for t in tasks:
                    t.cancel()
                await self.aclose()

        return asyncio.run(run())

    async def aclose(self) -> None:
        for s in self.servers:
            if s.client is not None:
                await s.client.close()
                s.client = None
        self._loop = None


def _short(e: Exception) -> str:
    msg = re.sub(r"^Error code: \d+( - )?", "", str(getattr(e, "message", None) or e))
    return " ".join(msg.split())[:200]


def _failed(req: GenRequest, reason: str, finish: str) -> GenResult:
    return GenResult(req.id, "", None, finish, 0, 0, reason)
