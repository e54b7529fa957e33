"""The `openai` backend against a real HTTP server on 127.0.0.1 (tests/fakeserver.py), through the
official `openai` client: thinking toggle, reasoning spellings, retries, permanent errors, fleets,
dead servers, truncation and secrets."""

from __future__ import annotations

import threading
import time

import pytest

from fakeserver import FakeServer, free_port, scripted_answer
from ponder.errors import PonderError
from ponder.generate.stream import is_truncated
from ponder.lm.base import GenRequest
from ponder.lm.openai_api import OpenAILM, normalise

FAST = {"backoff_s": (0.01, 0.05)}


def req(prompt: str, thinking: bool | None = True, **kw) -> GenRequest:
    return GenRequest([{"role": "user", "content": prompt}], thinking=thinking, id=prompt, **kw)


def lm_for(*urls: str, **kw) -> OpenAILM:
    return OpenAILM("fake", list(urls), **(FAST | kw))


@pytest.fixture
def server():
    with FakeServer() as srv:
        yield srv


@pytest.mark.parametrize(
    ("content", "reasoning", "text", "closed"),
    [
        ("plain answer", None, "plain answer", True),
        ("<think>\nR\n</think>\n\nA", None, "<think>\nR\n</think>\n\nA", True),
        ("R</think>\n\nA", None, "<think>\nR\n</think>\n\nA", True),  # template pre-filled <think>
        ("A", "\nR\n", "<think>\nR\n</think>\n\nA", True),
        ("\n\nA", "R", "<think>\nR\n</think>\n\nA", True),
        (None, "R cut", "<think>\nR cut", False),  # parser never saw </think>
        ("<think>\nR cut", None, "<think>\nR cut", False),
        ("<think>\n\n</think>\n\nA", None, "A", True),  # thinking off: an empty think block
        ("A", "", "A", True),
    ],
)
def test_normalise_spellings(content, reasoning, text, closed):
    got, _ = normalise(content, reasoning)
    assert got == text
    assert ("</think>" in got or not got.startswith("<think>")) == closed


@pytest.mark.parametrize("style", ["reasoning", "reasoning_content", "inline"])
def test_three_spellings_give_one_form_and_the_toggle_reaches_the_server(style):
    with FakeServer(style=style) as srv:
        lm = lm_for(srv.url)
        on, off = lm.generate(
            [req("q1", True, temperature=0.6, top_p=0.95, max_tokens=333, seed=5), req("q1", False)]
        )
        bodies = sorted(srv.requests, key=lambda b: b["chat_template_kwargs"]["enable_thinking"])
    thought, answer = scripted_answer("q1")
    assert on.text == f"<think>\n{thought}\n</think>\n\n{answer}"
    assert (on.reasoning, on.finish_reason, off.text) == (thought, "stop", answer)
    assert [b["chat_template_kwargs"] for b in bodies] == [
        {"enable_thinking": False},
        {"enable_thinking": True},
    ]
    sent = bodies[1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"]) == (
        0.6,
        0.95,
        333,
        5,
    )
    assert bodies[0]["max_tokens"] == 16384  # always sent: vLLM's own default is 16


@pytest.mark.parametrize(
    ("prompt", "attempts", "finish", "error_has"),
    [
        ("rate limited [429x2]", 3, "stop", None),
        ("server error [500x1]", 2, "stop", None),
        ("overloaded [503x3]", 4, "stop", None),
        ("broken body [badjsonx2]", 3, "stop", None),
        ("no choices [nochoicex1]", 2, "stop", None),
        ("too long [400]", 1, "error", "maximum context length"),
        ("never recovers [500x99]", 4, "unanswered", "500: injected 500 (gave up after 4"),
    ],
)
def test_retries_and_permanent_errors(server, prompt, attempts, finish, error_has):
    (out,) = lm_for(server.url, max_retries=3).generate([req(prompt)])
    assert server.attempts[(prompt, True)] == attempts
    assert out.finish_reason == finish
    if error_has is None:
        assert out.error is None and out.text.startswith("<think>")
    else:
        assert error_has in out.error and out.text == ""


def test_timeout_is_retried(server):
    server.hang_s = 2.0
    (out,) = lm_for(server.url, request_timeout_s=0.3).generate([req("slow [hangx1]")])
    assert (out.finish_reason, server.attempts[("slow [hangx1]", True)]) == ("stop", 2)


@pytest.mark.parametrize("style", ["reasoning", "reasoning_content", "inline"])
@pytest.mark.parametrize("thinking", [True, False])
def test_truncation_is_flagged(style, thinking):
    with FakeServer(style=style) as srv:
        (out,) = lm_for(srv.url).generate([req("long one [length]", thinking)])
    assert out.finish_reason == "length" and is_truncated(out)
    if thinking:
        assert out.text.startswith("<think>") and "</think>" not in out.text


def test_fleet_spreads_requests():
    with FakeServer(latency_s=0.02) as a, FakeServer(latency_s=0.02) as b:
        out = lm_for(a.url, b.url, max_concurrency=16).generate([req(f"q{i}") for i in range(120)])
    assert all(r.error is None for r in out)
    assert len(a.requests) + len(b.requests) == 120
    assert 40 <= len(a.requests) <= 80


def test_dead_server_share_moves_to_the_others():
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with FakeServer(latency_s=0.01) as live:
        lm = lm_for(dead, live.url, max_concurrency=8, max_retries=2)
        out = lm.generate([req(f"q{i}") for i in range(60)])
    assert all(r.error is None for r in out)
    assert len(live.requests) == 60


def stop_after(srv: FakeServer, n: int) -> None:
    """Kill `srv` (connections dropped, then refused) once it has received n requests."""

    def watch() -> None:
        while len(srv.requests) < n:
            time.sleep(0.005)
        srv.stop()

    threading.Thread(target=watch, daemon=True).start()


def test_server_dying_mid_run_loses_nothing():
    with FakeServer(latency_s=0.02) as a, FakeServer(latency_s=0.02) as b:
        stop_after(b, 30)
        lm = lm_for(a.url, b.url, max_concurrency=16, request_timeout_s=2.0)
        out = lm.generate([req(f"q{i}") for i in range(300)])
        assert all(r.error is None for r in out)
        assert len(b.requests) >= 30 and len(a.requests) > len(b.requests)


def test_api_key_comes_from_the_environment_and_is_never_shown(monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-secret-123")
    with FakeServer(api_key="sk-secret-123") as srv:
        lm = lm_for(srv.url, api_key_env="FAKE_KEY")
        (out,) = lm.generate([req("hello")])
        assert out.error is None
        assert "sk-secret" not in repr(lm)
        monkeypatch.setenv("WRONG_KEY", "nope")
        with pytest.raises(PonderError, match="401"):
            lm_for(srv.url, api_key_env="WRONG_KEY").generate([req("hello")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_urls": []}, "base_urls"),
        ({"base_urls": ["http://x/v1"], "api_key_env": "PONDER_UNSET_KEY_VAR"}, "not set"),
    ],
)
def test_bad_configuration_is_one_line(kwargs, message):
    with pytest.raises(PonderError, match=message):
        OpenAILM("fake", **kwargs)


# ---------------------------------------------------------------- failing servers, in words
@pytest.mark.parametrize(
    ("prompt", "opts", "error_has"),
    [
        ("cut off [dropx9]", {}, "connection dropped before the answer"),
        ("slow [hangx9]", {"request_timeout_s": 0.3}, "no answer within 0.3 s"),
        ("broken body [badjsonx9]", {}, "malformed response"),
        ("overloaded [503x9]", {}, "503: injected 503"),
    ],
)
def test_an_unanswered_request_says_why_and_names_the_server(prompt, opts, error_has):
    with FakeServer(hang_s=1.0) as srv:
        (out,) = lm_for(srv.url, max_retries=1, **opts).generate([req(prompt)])
    assert out.finish_reason == "unanswered" and out.text == ""
    assert out.error.startswith(f"{srv.url}: {error_has}")
    assert out.error.endswith("(gave up after 2 attempts)")


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        (["http://127.0.0.1:{dead}/v1"], r"\(http://127.0.0.1:\d+/v1: connection refused\)"),
        (
            ["http://no-such-host.invalid/v1"],
            "no-such-host.invalid/v1: host 'no-such-host.invalid' "
            r"not found \(DNS\)",
        ),
        (
            ["http://127.0.0.1:{dead}/v1", "http://127.0.0.1:{dead2}/v1"],
            r"refused; http://127.0.0.1:\d+/v1: connection refused\)$",
        ),
    ],
)
def test_a_fleet_nobody_answers_stops_at_once_with_each_url_and_why(urls, message):
    urls = [u.format(dead=free_port(), dead2=free_port()) for u in urls]
    lm = lm_for(*urls, max_retries=6, backoff_s=(0.5, 30.0))  # retries would take ~16 s
    t0 = time.monotonic()
    with pytest.raises(PonderError, match=f"^no teacher server can be reached .*{message}"):
        lm.generate([req(f"q{i}") for i in range(20)])
    if "invalid" not in urls[0]:  # (how long a failed DNS lookup takes is the resolver's)
        assert time.monotonic() - t0 < 5  # two strikes 1 s apart, not 20 x 7 attempts


def test_a_wrong_url_path_is_a_404_that_says_so(server):
    with pytest.raises(PonderError, match=r"404 \(unknown model 'fake' or wrong URL path\)"):
        lm_for(server.url.removesuffix("/v1") + "/api").generate([req("hello")])


def test_a_slow_answer_or_a_dropped_connection_does_not_stall_the_others():
    """One request times out and one connection drops while 400 others flow through the one
    server: none of them waits (benching the server would stop every request for 1-30 s)."""
    prompts = [f"q{i}" for i in range(400)]
    prompts[40], prompts[80] = "slow one [hangx1]", "dropped one [dropx1]"
    with FakeServer(latency_s=0.01, hang_s=3.0) as srv:
        lm = lm_for(srv.url, max_concurrency=8, request_timeout_s=0.5)
        out = lm.generate([req(p) for p in prompts])
        gaps = [b - a for a, b in zip(srv.arrivals, srv.arrivals[1:], strict=False)]
    assert all(r.error is None for r in out)
    assert srv.attempts[("slow one [hangx1]", True)] == 2
    assert max(gaps) < 0.5, f"the server waited {max(gaps):.2f} s for a request"
    assert lm.servers[0].strikes == 0


@pytest.mark.slow
def test_a_server_that_stops_answering_mid_run_is_benched_then_the_fleet_gives_up():
    with FakeServer(latency_s=0.01) as srv:
        lm = lm_for(srv.url, max_concurrency=4, max_retries=20)
        stop_after(srv, 50)
        with pytest.raises(PonderError, match="connection refused"):
            lm.generate([req(f"q{i}") for i in range(20_000)])
        stopped = srv.arrivals[-1]
    # five strikes 1, 2, 4 and 8 s apart (a restarting server gets ~15 s), not 21 retries each
    assert lm.servers[0].answered and 12 < time.monotonic() - stopped < 30
