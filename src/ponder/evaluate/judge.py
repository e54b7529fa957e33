"""The LLM-judge panel (paper §2.3, Appendix D.3): N judges, Table 5 prompts, majority vote.

Each judge is any object with the shared LM interface (`generate(list[GenRequest])`): an
OpenAI-compatible endpoint, vLLM or a local model. Per item and judge:
- the prompt is Table 5's (`default`, or `ifeval` for IFEval) with the question, the ENDING of the
  answer (its last `tail_chars` characters, default 4,000: the paper shows "only its ending … due
  to length" without giving the length) and, for `default`, the ground truth;
- sampling is the paper's T=0.7, top_p=0.95;
- the verdict is the last `\\boxed{yes}` / `\\boxed{no}` after the judge's own thinking; an
  unparseable reply (or a backend error) is asked again up to `retries` times with a new seed, then
  counted as an abstention (None);
- every raw reply is kept.
Majority vote over the judges that did not abstain: more yes than no is correct, more no than yes
is wrong; a TIE (even panel split, or every judge abstaining) is resolved by `tie`: "no" by default
(an answer is only counted correct when a strict majority of the voting judges says so).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ponder.evaluate.extract import last_boxed, strip_think
from ponder.lm.base import LM, GenRequest
from ponder.resources import resource

DEFAULT_JUDGES = (  # the paper's panel; served by any OpenAI-compatible endpoint
    "meta-llama/Llama-3.3-70B-Instruct",
    "nvidia/Llama-3_1-Nemotron-Ultra-253B-v1",
    "openai/gpt-oss-120b",
)
TAIL_CHARS = 4000
JUDGE_TEMPERATURE, JUDGE_TOP_P = 0.7, 0.95
TIE_RULES = ("no", "yes", "abstain")


@functools.cache
def judge_template(kind: str) -> str:
    """Table 5 prompt text: kind 'default' or 'ifeval'."""
    if kind not in ("default", "ifeval"):
        raise ValueError(f"judge prompt must be 'default' or 'ifeval', got {kind!r}")
    return resource("prompts", f"judge_{kind}.txt").read_text(encoding="utf-8").strip()


def answer_tail(answer: str, tail_chars: int = TAIL_CHARS) -> str:
    """The ending the judge sees: the last `tail_chars` characters (all of a shorter answer)."""
    return answer if len(answer) <= tail_chars else answer[-tail_chars:]


def render(kind: str, question: str, answer: str, truth: str, tail_chars: int = TAIL_CHARS) -> str:
    # str.replace, not str.format: the Table 5 texts contain literal braces (\boxed{yes})
    text = judge_template(kind).replace("{question}", question)
    text = text.replace("{answer}", answer_tail(answer, tail_chars))
    return text.replace("{truth}", truth) if kind == "default" else text


_YES_NO = re.compile(r"^(?:\\text\{)?\s*(yes|no)\s*\}?\W*$", re.IGNORECASE)


def parse_verdict(reply: str) -> bool | None:
    """True for `\\boxed{yes}`, False for `\\boxed{no}` (the last box after any thinking), else
    None."""
    boxed = last_boxed(strip_think(reply or ""))
    if boxed is None:
        return None
    m = _YES_NO.match(boxed.strip())
    return None if m is None else m.group(1).lower() == "yes"


def majority(verdicts: Sequence[bool | None], tie: str = "no") -> bool | None:
    """Majority over non-abstaining judges; a tie resolves to False ("no"), True or None."""
    if tie not in TIE_RULES:
        raise ValueError(f"tie rule must be one of {TIE_RULES}, got {tie!r}")
    yes = sum(v is True for v in verdicts)
    no = sum(v is False for v in verdicts)
    if yes != no:
        return yes > no
    return {"no": False, "yes": True, "abstain": None}[tie]


@dataclass(frozen=True)
class JudgeInput:
    id: str
    question: str
    answer: str  # the full model response; the judge is shown its tail
    truth: str = ""
    kind: str = "default"  # Table 5 prompt: 'default' | 'ifeval'


@dataclass
class PanelVerdict:
    id: str
    verdicts: dict[str, bool | None]  # judge name -> yes/no/abstain
    raw: dict[str, list[str]] = field(default_factory=dict)  # judge name -> every reply, in order
    correct: bool | None = None  # the majority vote under the tie rule


class JudgePanel:
    """1..N judges voting on whether answers match their ground truths."""

    def __init__(
        self,
        judges: Sequence[LM],
        tail_chars: int = TAIL_CHARS,
        retries: int = 2,
        tie: str = "no",
        temperature: float = JUDGE_TEMPERATURE,
        top_p: float = JUDGE_TOP_P,
        max_tokens: int = 8192,
        seed: int = 0,
    ):
        if not judges:
            raise ValueError("a judge panel needs at least one judge")
        if tie not in TIE_RULES:
            raise ValueError(f"tie rule must be one of {TIE_RULES}, got {tie!r}")
        self.judges = list(judges)
        self.names = _unique_names([getattr(j, "name", f"judge{i}") for i, j in enumerate(judges)])
        self.tail_chars, self.retries, self.tie = tail_chars, retries, tie
        self.temperature, self.top_p, self.max_tokens, self.seed = (
            temperature,
            top_p,
            max_tokens,
            seed,
        )

    def _request(self, x: JudgeInput, attempt: int) -> GenRequest:
        prompt = render(x.kind, x.question, x.answer, x.truth, self.tail_chars)
        return GenRequest(
            messages=[{"role": "user", "content": prompt}],
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed + attempt,
            id=f"{x.id}#{attempt}",
        )

    def judge(self, inputs: Sequence[JudgeInput]) -> list[PanelVerdict]:
        """One verdict per input; each judge gets the whole batch at once, then the retries."""
        out = [PanelVerdict(x.id, {}, {}) for x in inputs]
        for name, lm in zip(self.names, self.judges, strict=True):
            pending = list(range(len(inputs)))
            for v in out:
                v.verdicts[name], v.raw[name] = None, []
            for attempt in range(self.retries + 1):
                if not pending:
                    break
                results = lm.generate([self._request(inputs[i], attempt) for i in pending])
                still = []
                for i, res in zip(pending, results, strict=True):
                    reply = res.text if res.error is None else f"[error] {res.error}"
                    out[i].raw[name].append(reply)
                    verdict = None if res.error is not None else parse_verdict(res.text)
                    if verdict is None:
                        still.append(i)
                    out[i].verdicts[name] = verdict
                pending = still
        for v in out:
            v.correct = majority(list(v.verdicts.values()), self.tie)
        return out


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def judge_step(cfg, benchmark: str, evals_path, out) -> dict:
    """The study's judge stage: the panel's verdicts on one model's answers to one benchmark.

    Reads the answers at `evals_path` and writes `out` (`judgements/<model>/<benchmark>.parquet`):
    per item each judge's verdict
    (`judge:<name>` = yes / no / abstain), every raw reply (JSON) and the majority `judge_correct`.
    For multiple-choice items the ground truth shown is the letter and its option text.
    """
    import json

    import pandas as pd

    from ponder.evaluate.run import load_study_benchmark
    from ponder.lm import make_judge
    from ponder.rundir import atomic_write_parquet

    evals = pd.read_parquet(evals_path)
    bench = load_study_benchmark(cfg, benchmark)
    items = {it.id: it for it in bench.items()}
    lms = [make_judge(j) for j in cfg.judge.judges]
    panel = JudgePanel(
        lms,
        tail_chars=cfg.judge.tail_chars,
        retries=cfg.judge.max_retries,
        temperature=cfg.judge.temperature,
        top_p=cfg.judge.top_p,
        max_tokens=cfg.judge.max_tokens,
    )
    inputs = []
    for row in evals.itertuples():
        it = items[row.id]
        truth = it.gold
        if it.options and it.gold:
            truth = f"{it.gold}) {it.options['ABCDEFGHIJ'.index(it.gold)]}"
        inputs.append(JudgeInput(row.id, it.question, row.response, truth, bench.judge_prompt))
    verdicts = panel.judge(inputs)
    word = {True: "yes", False: "no", None: "abstain"}
    rows = [
        {
            "id": v.id,
            **{f"judge:{n}": word[x] for n, x in v.verdicts.items()},
            "judge_raw": json.dumps(v.raw),
            "judge_correct": bool(v.correct),
        }
        for v in verdicts
    ]
    atomic_write_parquet(out, pd.DataFrame(rows))
    return {
        "n": len(rows),
        "judge_accuracy": sum(r["judge_correct"] for r in rows) / max(len(rows), 1),
    }
