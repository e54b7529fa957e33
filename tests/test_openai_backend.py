"""The `openai` backend against a real HTTP server on 127.0.0.1 (tests/fakeserver.py), through the
official `openai` client: thinking toggle, reasoning spellings, retries, permanent errors, fleets,
dead servers, truncation and secrets."""

from __future__ import annotations

import threading

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
        ("never recovers [500x99]", 4, "error", "gave up after 4 attempts"),
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


def test_server_dying_mid_run_loses_nothing():
    with FakeServer(latency_s=0.02) as a, FakeServer(latency_s=0.02) as b:
        threading.Timer(0.3, b.stop).start()
        lm = lm_for(a.url, b.url, max_concurrency=16, request_timeout_s=2.0)
        out = lm.generate([req(f"q{i}") for i in range(300)])
        assert all(r.error is None for r in out)
        assert len(b.requests) > 0 and len(a.requests) > len(b.requests)


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
