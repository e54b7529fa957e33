"""Rule scorers: math-verify for open-ended math, letter match for MC, SQuAD/CoQA EM and F1.

Each scorer takes the already-extracted answer (see `ponder.evaluate.extract`) and the gold, and
returns a verdict the way the reference implementation would:
- math OE: `math_verify.verify(gold, pred)` with the GOLD FIRST (its comparison is asymmetric:
  the gold decides e.g. whether an interval or a set is meant), on `\\boxed{…}`-wrapped strings;
  a numeric gold also accepts the same number followed by plain unit words ("18 dollars"), which
  math-verify parses as a product of symbols (GSM8K golds are bare numbers, Cobbe et al. 2021);
- MC: the extracted answer normalised to its option letter equals the gold letter;
- SQuAD v1.1 / CoQA: the official answer normalisation (lower-case, strip punctuation and
  articles a/an/the, collapse whitespace), exact match and token F1, max over the gold answers;
- exact: normalised string equality, integers compared as integers (the tiny world's OE tasks).

`SCORERS` maps a definition's `scorer` name to a function (item, response) -> verdict dict with at
least `extracted`, `boxed` and `correct`: adding a scorer is one function and one table entry.
"""

from __future__ import annotations

import collections
import re
import string
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ponder.evaluate.extract import extract_answer, normalize_mc, strip_think

MATH_TIMEOUT_S = 5  # math-verify's own default per parse/verify call

# ---------------------------------------------------------------- math (math-verify)

_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_UNIT_TAIL = re.compile(
    r"^\\?\$?\s*([-+]?[\d,]*\.?\d+)\s*(?:\\%|%)?\s*([A-Za-z][A-Za-z .'/-]*)?\.?$"
)
_TEXT_WRAP = re.compile(r"\\(?:text|mathrm|textbf|mbox)\s*\{([^{}]*)\}")


def _verify(gold: str, pred: str, timeout: int | None) -> bool:
    from math_verify import parse, verify

    g = parse(f"\\boxed{{{gold}}}", parsing_timeout=timeout)
    p = parse(f"\\boxed{{{pred}}}", parsing_timeout=timeout)
    if not g or not p:
        return False
    return bool(verify(g, p, timeout_seconds=timeout))


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _verify_off_main_thread(gold: str, pred: str) -> bool:
    """math-verify times out with SIGALRM, which only the main thread may set; from a worker thread
    run it in a one-process pool whose main thread can (its result is waited on with a timeout)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=1)
        fut = _pool.submit(_verify, gold, pred, MATH_TIMEOUT_S)
    try:
        return fut.result(timeout=4 * MATH_TIMEOUT_S + 10)
    except (FutureTimeout, Exception):
        return False


def _plain_number(s: str) -> float | None:
    s = _TEXT_WRAP.sub(r" \1 ", s).replace("{,}", ",").replace("\\!", "").strip()
    m = _UNIT_TAIL.match(s)
    if not m:
        return None
    try:
        return float(m.group(1).replace(",", ""))
    except ValueError:
        return None


def math_equal(gold: str, pred: str) -> bool:
    """True when `pred` is mathematically equal to `gold` (both LaTeX or plain text, no box)."""
    if not pred.strip():
        return False
    if threading.current_thread() is threading.main_thread():
        try:
            ok = _verify(gold, pred, MATH_TIMEOUT_S)
        except Exception:  # math-verify raises on pathological sympy input: count as wrong
            ok = False
    else:
        ok = _verify_off_main_thread(gold, pred)
    if ok:
        return True
    g = gold.strip().replace("\\$", "").replace("$", "")
    if _NUMBER.match(g):  # numeric gold: "18 dollars", "\text{18 eggs}" name the same number
        v = _plain_number(pred)
        return v is not None and abs(v - float(g.replace(",", ""))) < 1e-9
    return False


# ---------------------------------------------------------------- multiple choice


def mc_equal(gold_letter: str, pred: str, options: tuple[str, ...] | list[str]) -> tuple[bool, str]:
    """(correct, letter): the prediction mapped to an option letter, compared with the gold."""
    letter = normalize_mc(pred, options)
    return (letter != "" and letter == gold_letter.strip().upper()), letter


# ---------------------------------------------------------------- SQuAD / CoQA


def normalize_answer(s: str) -> str:
    """The official SQuAD v1.1 / CoQA normalisation (evaluate-v1.1.py, Rajpurkar et al. 2016).

    Hand-written: the official script is not a package; `evaluate`'s copy is fetched from the hub.
    """
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(gold: str, pred: str) -> float:
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    common = collections.Counter(g) & collections.Counter(p)
    same = sum(common.values())
    if len(g) == 0 or len(p) == 0:  # CoQA's "unknown": both empty is a match
        return float(g == p)
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(golds: list[str], pred: str) -> tuple[float, float]:
    """(exact_match, f1) in [0, 1], each the max over the gold answers (SQuAD v1.1 official)."""
    em = max(float(normalize_answer(g) == normalize_answer(pred)) for g in golds)
    f1 = max(_f1(g, pred) for g in golds)
    return em, f1


def coqa_scores(golds: list[str], pred: str) -> tuple[float, float]:
    """(exact_match, f1) as the official CoQA script: with n>1 references, the mean over the n
    leave-one-out sets of the max against the remaining references (Reddy et al. 2019, §5)."""
    if len(golds) <= 1:
        return squad_scores(golds or [""], pred)
    ems, f1s = [], []
    for i in range(len(golds)):
        em, f1 = squad_scores(golds[:i] + golds[i + 1 :], pred)
        ems.append(em)
        f1s.append(f1)
    return sum(ems) / len(ems), sum(f1s) / len(f1s)


# ---------------------------------------------------------------- exact (tiny world)


def exact_equal(gold: str, pred: str) -> bool:
    """Whitespace/case-insensitive equality; integers compare as integers ("007" == "7")."""
    g, p = gold.strip(), _TEXT_WRAP.sub(r"\1", pred).strip().strip("$").strip()
    if re.fullmatch(r"[-+]?\d+", g) and re.fullmatch(r"[-+]?\d+", p):
        return int(g) == int(p)
    return " ".join(g.lower().split()) == " ".join(p.lower().split())


# ---------------------------------------------------------------- SciBench

SCIBENCH_REL_TOL = 0.05  # SciBench's own checker accepts a 5% relative error (Wang et al., 2024a)


def _as_float(s: str) -> float | None:
    v = _plain_number(s)
    if v is not None:
        return v
    try:
        from math_verify import parse

        main = threading.current_thread() is threading.main_thread()
        parsed = parse(f"\\boxed{{{s}}}", parsing_timeout=MATH_TIMEOUT_S if main else None)
        return float(parsed[0]) if parsed else None
    except Exception:  # not a number (a symbol, a set, an equation)
        return None


def scibench_equal(gold: str, pred: str) -> bool:
    """Numeric answers within SciBench's 5% relative tolerance (gold 0: absolute 1e-9)."""
    g, p = _as_float(gold), _as_float(pred)
    if g is None or p is None:
        return False
    return abs(p - g) <= (SCIBENCH_REL_TOL * abs(g) if g else 1e-9)


# ---------------------------------------------------------------- the registry (item, response)


def _boxed(response: str) -> dict:
    ext = extract_answer(response)
    return {"extracted": ext.answer, "boxed": ext.boxed}


def score_math(item, response: str) -> dict:
    out = _boxed(response)
    return out | {"correct": math_equal(item.gold, out["extracted"])}


def score_mc(item, response: str) -> dict:
    out = _boxed(response)
    ok, letter = mc_equal(item.gold, out["extracted"], item.options)
    return out | {"correct": ok, "letter": letter}


def _span(fn):
    def score(item, response: str) -> dict:
        out = _boxed(response)
        em, f1 = fn(item.meta.get("answers") or [item.gold], out["extracted"])
        return out | {"correct": em == 1.0, "em": em, "f1": f1}

    return score


def score_scibench(item, response: str) -> dict:
    out = _boxed(response)
    return out | {"correct": scibench_equal(item.gold, out["extracted"])}


def score_exact(item, response: str) -> dict:
    out = _boxed(response)
    return out | {"correct": exact_equal(item.gold, out["extracted"])}


def score_ifeval(item, response: str) -> dict:
    """Google's IFEval checkers on the answer after the thinking block (no box to extract)."""
    from ponder.evaluate import ifeval

    r = ifeval.check(
        item.question, item.meta["instruction_id_list"], item.meta["kwargs"], strip_think(response)
    )
    return {
        "extracted": "",
        "boxed": False,
        "correct": r.strict_prompt,
        "strict_prompt": r.strict_prompt,
        "loose_prompt": r.loose_prompt,
        "follow_strict": r.follow_strict,
        "follow_loose": r.follow_loose,
    }


SCORERS: dict[str, Callable[..., dict]] = {
    "math": score_math,
    "mc": score_mc,
    "squad": _span(squad_scores),
    "coqa": _span(coqa_scores),
    "scibench": score_scibench,
    "exact": score_exact,
    "ifeval": score_ifeval,
}
