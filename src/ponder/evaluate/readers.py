"""Readers: one function per benchmark schema, from a row in the hub's published schema to items.

Every row of a benchmark, fetched from the hub or read from a local release file (which
`layouts.py` first turns into the hub schema), goes through its benchmark's reader, so field names
live in one place. A reader checks the columns it uses and raises one `PonderError` naming the
dataset, split, row and column when a row does not fit: never a silently wrong gold. Multi-gold
answers (SQuAD, CoQA) stay lists; a CoQA story yields one item per question, carrying the story and
the turns before it. Schemas were confirmed from each dataset card's `dataset_info` (cited in the
test fixtures under tests/fixtures/hub/).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ponder.errors import PonderError
from ponder.evaluate.extract import LETTERS, last_boxed


@dataclass(frozen=True)
class Source:
    """Where rows came from, for ids and error messages."""

    benchmark: str
    label: str  # "allenai/winogrande (winogrande_debiased) [validation]" or a file path
    tag: str  # id prefix for items without a native id


@dataclass
class Record:
    id: str
    question: str
    golds: list[str]  # the first is the gold; more for multi-reference answers
    options: list[str] = field(default_factory=list)
    fields: dict = field(default_factory=dict)  # template fields (passage, history, unit, ...)
    meta: dict = field(default_factory=dict)  # kept on the item (IFEval instructions, ...)


Reader = Callable[[dict, int, Source], list[Record]]


def _bad(src: Source, i: int, column: str, what: str) -> PonderError:
    return PonderError(f"{src.benchmark}: {src.label} row {i}: column {column!r} {what}")


def col(row: dict, name: str, i: int, src: Source, kind: type | tuple = str):
    """The row's `name` value, checked: present, of `kind`, and non-empty when a string."""
    if name not in row:
        have = ", ".join(sorted(row)) or "none"
        raise _bad(src, i, name, f"is missing (columns: {have}); is this the right dataset?")
    v = row[name]
    if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
        raise _bad(
            src,
            i,
            name,
            f"should be {getattr(kind, '__name__', kind)}, got {type(v).__name__} {str(v)[:40]!r}",
        )
    if isinstance(v, str) and not v.strip():
        raise _bad(src, i, name, "is empty")
    return v


def _letter(value, n: int, i: int, src: Source, column: str) -> str:
    s = str(value).strip().upper()
    if s not in LETTERS[:n]:
        raise _bad(src, i, column, f"should be an option letter A-{LETTERS[n - 1]}, got {value!r}")
    return s


def gsm8k(row, i, src):  # openai/gsm8k: question, answer = "rationale #### 72"
    ans = col(row, "answer", i, src)
    if "####" not in ans:
        raise _bad(src, i, "answer", "has no '#### <number>' final answer")
    gold = ans.split("####")[-1].strip().replace(",", "")
    return [Record(f"{src.tag}-{i}", col(row, "question", i, src), [gold])]


def math500(row, i, src):  # HuggingFaceH4/MATH-500: problem, answer, unique_id, ...
    rid = col(row, "unique_id", i, src)
    return [Record(rid, col(row, "problem", i, src), [col(row, "answer", i, src)])]


def math_train(row, i, src):  # EleutherAI/hendrycks_math: problem, solution with \boxed{answer}
    gold = last_boxed(col(row, "solution", i, src))
    if not gold:
        raise _bad(src, i, "solution", "has no \\boxed{} final answer")
    return [Record(f"{src.tag}-{i}", col(row, "problem", i, src), [gold])]


def aime(row, i, src):  # AIME: problem, answer (str or int); ids from the source's tag
    gold = str(col(row, "answer", i, src, (str, int))).strip()
    if not re.fullmatch(r"\d{1,3}", gold):
        raise _bad(src, i, "answer", f"should be an integer 0-999, got {gold!r}")
    return [Record(f"{src.tag}-{i}", col(row, "problem", i, src), [str(int(gold))])]


def ifeval(row, i, src):  # google/IFEval: key, prompt, instruction_id_list, kwargs
    ids = col(row, "instruction_id_list", i, src, list)
    kwargs = col(row, "kwargs", i, src, list)
    if len(ids) != len(kwargs):
        raise _bad(src, i, "kwargs", f"has {len(kwargs)} entries for {len(ids)} instructions")
    # The hub's Parquet gives every kwargs struct all keys, null where unused (the checkers take
    # only the set ones, as lm-eval's ifeval task does); `datasets`' JSON loader gives JSON text.
    kwargs = [json.loads(kw) if isinstance(kw, str) else kw for kw in kwargs]
    if not all(isinstance(kw, dict | None) for kw in kwargs):
        raise _bad(src, i, "kwargs", "should hold one dict per instruction")
    clean = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in kwargs]
    meta = {"instruction_id_list": list(ids), "kwargs": clean}
    return [
        Record(
            str(col(row, "key", i, src, (int, str))), col(row, "prompt", i, src), [""], meta=meta
        )
    ]


def aqua(row, i, src):  # deepmind/aqua_rat raw: question, options ["A)5", ...], correct
    opts = [re.sub(r"^\s*[A-J]\s*\)\s*", "", str(o)) for o in col(row, "options", i, src, list)]
    gold = _letter(col(row, "correct", i, src), len(opts), i, src, "correct")
    return [Record(f"{src.tag}-{i}", col(row, "question", i, src), [gold], opts)]


def mmlu(row, i, src):  # cais/mmlu: question, subject, choices[4], answer ClassLabel int 0-3
    opts = [str(c) for c in col(row, "choices", i, src, list)]
    ans = col(row, "answer", i, src, int)
    if not 0 <= ans < len(opts):
        raise _bad(src, i, "answer", f"should index one of {len(opts)} choices, got {ans}")
    return [Record(f"{src.tag}-{i}", col(row, "question", i, src), [LETTERS[ans]], opts)]


def mmlu_pro(
    row, i, src
):  # TIGER-Lab/MMLU-Pro: question_id, question, options, answer, answer_index
    opts = [str(o) for o in col(row, "options", i, src, list)]
    gold = _letter(col(row, "answer", i, src), len(opts), i, src, "answer")
    if "answer_index" in row and LETTERS[int(row["answer_index"])] != gold:
        raise _bad(
            src,
            i,
            "answer_index",
            f"names {LETTERS[int(row['answer_index'])]}, `answer` says {gold}",
        )
    return [
        Record(
            str(col(row, "question_id", i, src, (int, str))),
            col(row, "question", i, src),
            [gold],
            opts,
        )
    ]


def winogrande(row, i, src):  # allenai/winogrande: sentence, option1, option2, answer "1"|"2"
    ans = str(col(row, "answer", i, src, (str, int))).strip()
    if ans not in ("1", "2"):
        raise _bad(
            src, i, "answer", f"should be '1' or '2', got {ans!r} (the test split has no labels)"
        )
    opts = [col(row, "option1", i, src), col(row, "option2", i, src)]
    return [Record(f"{src.tag}-{i}", col(row, "sentence", i, src), [LETTERS[int(ans) - 1]], opts)]


def openbookqa(
    row, i, src
):  # allenai/openbookqa main: id, question_stem, choices{text,label}, answerKey
    ch = col(row, "choices", i, src, dict)
    texts, labels = ch.get("text"), ch.get("label")
    if not isinstance(texts, list) or not isinstance(labels, list) or len(texts) != len(labels):
        raise _bad(src, i, "choices", "should be {text: [...], label: [...]} of equal lengths")
    key = col(row, "answerKey", i, src).strip()
    if key not in labels:
        raise _bad(src, i, "answerKey", f"{key!r} is not one of the labels {labels}")
    gold = LETTERS[labels.index(key)]
    return [
        Record(
            col(row, "id", i, src),
            col(row, "question_stem", i, src),
            [gold],
            [str(t) for t in texts],
        )
    ]


def squad(
    row, i, src
):  # rajpurkar/squad: id, title, context, question, answers{text[], answer_start[]}
    ans = col(row, "answers", i, src, dict)
    golds = ans.get("text")
    if not isinstance(golds, list) or not golds or not all(isinstance(g, str) for g in golds):
        raise _bad(
            src,
            i,
            "answers",
            "should be {text: [str, ...], answer_start: [...]} with at least one text",
        )
    fields = {"context": col(row, "context", i, src)}
    return [
        Record(col(row, "id", i, src), col(row, "question", i, src), list(golds), fields=fields)
    ]


def coqa(row, i, src):
    """stanfordnlp/coqa: one row per story (source, story, questions[], answers{input_text[], ...});
    one item per question, its prompt carrying the story and the previous turns. The official
    release's `additional_answers` (local layout) become extra references."""
    story = col(row, "story", i, src)
    questions = col(row, "questions", i, src, list)
    answers = col(row, "answers", i, src, dict).get("input_text")
    if not isinstance(answers, list) or len(answers) != len(questions):
        raise _bad(
            src, i, "answers", f"input_text should hold one answer per question ({len(questions)})"
        )
    extra = row.get("additional_answers") or []
    out, history = [], ""
    for t, (q, a) in enumerate(zip(questions, answers, strict=True)):
        golds = [a] + [x[t] for x in extra if t < len(x) and x[t]]
        fields = {"context": story, "history": history}
        out.append(Record(f"{src.tag}-{i}-{t + 1}", q, golds, fields=fields))
        history += f"Question: {q}\nAnswer: {a}\n\n"
    return out


def scibench(row, i, src):
    """xw27/scibench: problem_text, answer_number, unit, source (the book), problemid. Problem ids
    repeat within a book (diff has two page66-28), so the id is the book and a hash of the text:
    the same from the hub's one split as from the release's per-book files."""
    book = col(row, "source", i, src).strip()
    text = col(row, "problem_text", i, src)
    rid = f"{book}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    fields = {"unit": str(row.get("unit") or "").strip()}
    return [Record(rid, text, [col(row, "answer_number", i, src).strip()], fields=fields)]


def legalbench(
    row, i, src
):  # nguha/legalbench consumer_contracts_qa: index, contract, question, answer
    fields = {"contract": col(row, "contract", i, src)}
    return [
        Record(
            f"{src.tag}-{i}",
            col(row, "question", i, src),
            [col(row, "answer", i, src).strip()],
            fields=fields,
        )
    ]


def code_summary(row, i, src):  # local JSONL: code, summary
    return [Record(f"{src.tag}-{i}", col(row, "code", i, src), [col(row, "summary", i, src)])]


def demo(row, i, src):  # built-in few-shot demonstrations: question, answer (already solved)
    return [Record(f"{src.tag}-{i}", col(row, "question", i, src), [col(row, "answer", i, src)])]


READERS: dict[str, Reader] = {
    "gsm8k": gsm8k,
    "math500": math500,
    "math_train": math_train,
    "aime": aime,
    "ifeval": ifeval,
    "aqua": aqua,
    "mmlu": mmlu,
    "mmlu_pro": mmlu_pro,
    "winogrande": winogrande,
    "openbookqa": openbookqa,
    "squad": squad,
    "coqa": coqa,
    "scibench": scibench,
    "legalbench": legalbench,
    "code_summary": code_summary,
    "demo": demo,
}
