"""The judge panel: Table 5 prompts, verdict parsing, retries then abstention, majority and ties."""

from __future__ import annotations

import pytest

from ponder.evaluate.judge import (
    JudgeInput,
    JudgePanel,
    answer_tail,
    majority,
    parse_verdict,
    render,
)
from ponder.lm.base import GenResult


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("The final results match. \\boxed{yes}", True),
        ("\\boxed{no}", False),
        ("\\boxed{Yes}", True),
        ("\\boxed{\\text{no}}", False),
        ("<think>maybe \\boxed{no}</think>On reflection \\boxed{yes}", True),
        ("First \\boxed{yes}, but the unit is wrong: \\boxed{no}", False),
        ("They are equivalent.", None),
        ("\\boxed{maybe}", None),
        ("<think>\\boxed{yes} ... (truncated)", None),
        ("", None),
    ],
)
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) is verdict


@pytest.mark.parametrize(
    ("votes", "tie", "expected"),
    [
        ([True, True, False], "no", True),  # odd panel: 2-1
        ([False, True, False], "no", False),
        ([True, None, None], "no", True),  # abstentions do not vote
        ([True, False], "no", False),  # even panel split: the tie rule decides
        ([True, False], "yes", True),
        ([True, False], "abstain", None),
        ([True, True, False, False], "no", False),
        ([None, None, None], "no", False),  # everybody abstained
        ([None, None, None], "abstain", None),
        ([True], "no", True),
    ],
)
def test_majority(votes, tie, expected):
    assert majority(votes, tie) is expected


def test_default_prompt_shows_question_truth_and_only_the_answer_ending():
    long_answer = "x" * 5000 + " so the answer is \\boxed{42}"
    text = render("default", "What is 6*7?", long_answer, "42", tail_chars=100)
    assert text.startswith("You will be given a Question, a User Answer (only its ending")
    assert "Question: What is 6*7?" in text and text.endswith("Ground Truth: 42")
    assert "x" * 101 not in text and answer_tail(long_answer, 100) in text
    assert "respond with \\boxed{yes}." in text


def test_ifeval_prompt_has_no_ground_truth():
    text = render("ifeval", "Write without commas.", "Done", "ignored")
    assert "Ground Truth" not in text and text.endswith("User Answer: Done")


class ScriptedJudge:
    """An in-process LM that replies from a script, one list of replies per item id."""

    def __init__(self, name, replies):
        self.name, self.replies, self.calls = name, replies, []

    def generate(self, requests):
        self.calls.append(requests)
        out = []
        for r in requests:
            item, attempt = r.id.split("#")
            text = self.replies[item][min(int(attempt), len(self.replies[item]) - 1)]
            err = "HTTP 500" if text is None else None
            out.append(GenResult(r.id, text or "", None, "error" if err else "stop", 10, 5, err))
        return out


def _inputs(*ids):
    return [JudgeInput(i, f"question {i}", f"answer {i}", "truth") for i in ids]


def test_panel_votes_keeps_raw_replies_and_retries_unparseable_then_abstains():
    a = ScriptedJudge("A", {"q1": ["\\boxed{yes}"], "q2": ["hmm", "\\boxed{no}"]})
    b = ScriptedJudge("B", {"q1": ["\\boxed{yes}"], "q2": ["?", "??", "???"]})
    c = ScriptedJudge("C", {"q1": ["\\boxed{no}"], "q2": [None, "\\boxed{yes}"]})
    v1, v2 = JudgePanel([a, b, c], retries=2).judge(_inputs("q1", "q2"))
    assert v1.verdicts == {"A": True, "B": True, "C": False} and v1.correct is True
    assert v2.verdicts == {"A": False, "B": None, "C": True}
    assert v2.correct is False  # 1 yes, 1 no, 1 abstention: a tie, resolved to "no"
    assert v2.raw["B"] == ["?", "??", "???"] and v2.raw["C"][0] == "[error] HTTP 500"
    assert [len(batch) for batch in b.calls] == [2, 1, 1]  # whole batch, then only retries
    req = a.calls[0][0]
    assert (req.temperature, req.top_p) == (0.7, 0.95)  # paper §2.3


def test_panel_names_are_unique_and_an_empty_panel_is_refused():
    j = ScriptedJudge("same", {"q": ["\\boxed{yes}"]})
    [v] = JudgePanel([j, j]).judge(_inputs("q"))
    assert set(v.verdicts) == {"same", "same#2"}
    with pytest.raises(ValueError):
        JudgePanel([])


# ---------------------------------------------------------------- agreement statistics


@pytest.mark.parametrize(
    ("ratings", "kappa"),
    [
        # (3 yes), (1 yes 2 no), (3 no): P̄ = 7/9, P_e = (4/9)² + (5/9)² = 41/81
        ([[True] * 3, [False, False, True], [False] * 3], (7 / 9 - 41 / 81) / (1 - 41 / 81)),
        ([[True, True], [False, False]], 1.0),  # perfect agreement
        ([[True, False], [False, True]], -1.0),  # systematic disagreement
        ([[True, True, True], [True, None, False]], 1.0),  # the abstaining row is left out
    ],
)
def test_fleiss_kappa(ratings, kappa):
    from ponder.evaluate.stats import fleiss_kappa

    assert fleiss_kappa(ratings) == pytest.approx(kappa)


def test_judge_mae_is_the_mean_over_benchmarks_of_accuracy_gaps():
    from ponder.evaluate.stats import judge_mae

    verdicts = {
        "gsm8k": {"llama": [True, True, False, False], "gpt-oss": [True, True, True, False]},
        "squad": {"llama": [True, False], "gpt-oss": [True, False]},
    }
    assert judge_mae(verdicts) == {"gpt-oss | llama": 12.5, "median": 12.5}


def test_bootstrap_cis_cover_the_point_and_pairing_tightens_the_difference():
    from ponder.evaluate.stats import accuracy_ci, paired_diff_ci

    a = [i % 5 != 0 for i in range(200)]  # 80%
    b = [x if i % 20 else not x for i, x in enumerate(a)]  # the same answers, 10 items flipped
    acc, lo, hi = accuracy_ci(a)
    assert acc == pytest.approx(80.0) and lo < 80.0 < hi and hi - lo < 15
    d, dlo, dhi = paired_diff_ci(a, b)
    assert dlo <= d <= dhi and dhi - dlo < (hi - lo)
    assert accuracy_ci([True] * 10) == (100.0, 100.0, 100.0)


def test_disagreement_table_counts_and_examples():
    from ponder.evaluate.stats import disagreement_table

    t = disagreement_table(
        ["a", "b", "c", "d"],
        [True, True, False, False],
        [True, False, True, None],
        extracted=["1", "2", "3", "4"],
    )
    assert (t["both_correct"], t["rule_only"], t["judge_only"], t["both_wrong"]) == (1, 1, 1, 1)
    assert t["agreement"] == 50.0 and t["examples"]["rule_only"] == [{"id": "b", "extracted": "2"}]


# ---------------------------------------------------------------- through the real openai client


class JudgeServer:
    """A loopback OpenAI-compatible chat server whose verdict depends on the model name and on a
    marker in the judged answer: `[all-yes]`, `[split]` (judge-a yes, judge-b no, judge-c garbled
    once then yes), `[garbled]` (never a box)."""

    def __init__(self):
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.bodies: list[dict] = []
        self.seen: dict[tuple[str, str], int] = {}

    def reply(self, model: str, prompt: str) -> str:
        key = (model, prompt)
        self.seen[key] = self.seen.get(key, 0) + 1
        if "[garbled]" in prompt:
            return "I cannot decide."
        if "[split]" in prompt:
            if model == "judge-c" and self.seen[key] == 1:
                return "equivalent, I think"
            return "\\boxed{no}" if model == "judge-b" else "<think>compare</think>\\boxed{yes}"
        return "Both say 42. \\boxed{yes}"

    def __enter__(self):
        import asyncio
        import threading

        from aiohttp import web

        async def chat(request):
            body = await request.json()
            self.bodies.append(body)
            text = self.reply(body["model"], body["messages"][-1]["content"])
            return web.json_response(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
                }
            )

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.runner = web.AppRunner(app)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc):
        import asyncio

        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.mark.parametrize("panel", [("judge-a", "judge-b", "judge-c"), ("judge-a", "judge-b")])
def test_panel_over_the_openai_client_against_a_loopback_server(panel):
    openai_api = pytest.importorskip("ponder.lm.openai_api")
    with JudgeServer() as srv:
        judges = [openai_api.OpenAILM(m, [srv.url], max_retries=0) for m in panel]
        inputs = [
            JudgeInput("ok", "What is 6*7?", "so 42 [all-yes]", "42"),
            JudgeInput("split", "What is 6*7?", "maybe 41 [split]", "42"),
            JudgeInput("junk", "What is 6*7?", "[garbled]", "42"),
        ]
        ok, split, junk = JudgePanel(judges, retries=1).judge(inputs)
    assert ok.correct is True and all(ok.verdicts.values())
    if len(panel) == 3:  # odd panel: judge-c's garbled first reply is retried, then yes: 2-1
        assert split.verdicts == {"judge-a": True, "judge-b": False, "judge-c": True}
        assert split.correct is True and len(split.raw["judge-c"]) == 2
    else:  # even panel 1-1: the documented tie rule says "no"
        assert split.verdicts == {"judge-a": True, "judge-b": False} and split.correct is False
    assert set(junk.verdicts.values()) == {None} and junk.correct is False  # all abstained
    assert all(len(r) == 2 for r in junk.raw.values())  # asked, retried once, then abstained
    sent = srv.bodies[0]
    assert (sent["temperature"], sent["top_p"]) == (0.7, 0.95)
    assert sent["messages"][0]["content"].startswith("You will be given a Question")
