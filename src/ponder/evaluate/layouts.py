"""Local release files into rows of the hub schema, so one reader serves both.

Users may hold the benchmarks' official release files (GSM8K's test.jsonl, MMLU's header-less
CSVs, OpenBookQA's TSV, SQuAD's and CoQA's nested JSON, ...). Each layout here reads one such file
and returns rows shaped like the benchmark's hub dataset (same column names and nesting), so
`readers.py` maps both with the same field names. Hand-written because these release formats
predate the hub datasets and no library reads them into the hub's shapes.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

from ponder.errors import PonderError
from ponder.evaluate.extract import LETTERS


def jsonl(path: Path) -> list[dict]:
    """JSON Lines (also AQuA's test.json, which is JSON Lines despite its name)."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def json_list(path: Path) -> list[dict]:
    """A JSON array of rows (SciBench's per-book files)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise PonderError(f"{path}: expected a JSON array of rows")
    return data


def tsv(path: Path) -> list[dict]:
    """A TSV with a header row (LegalBench tasks)."""
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def mmlu_csv(path: Path) -> list[dict]:
    """MMLU's release CSVs (no header: question, A, B, C, D, answer letter) as cais/mmlu rows:
    question, subject, choices[4], answer (the ClassLabel index 0-3)."""
    subject = re.sub(r"_(test|dev|val)$", "", path.stem)
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        for n, r in enumerate(csv.reader(f)):
            if len(r) != 6 or r[5].strip() not in LETTERS[:4]:
                raise PonderError(f"{path}:{n + 1}: expected question, A, B, C, D, answer letter")
            rows.append(
                {
                    "question": r[0],
                    "subject": subject,
                    "choices": r[1:5],
                    "answer": LETTERS.index(r[5].strip()),
                }
            )
    return rows


def obqa_tsv(path: Path) -> list[dict]:
    """OpenBookQA's release TSV (ID, Question Stem, Choices "(A) x (B) y ...", Answer Key) as
    allenai/openbookqa `main` rows: id, question_stem, choices{text, label}, answerKey."""
    rows = []
    for n, r in enumerate(tsv(path)):
        parts = re.split(r"\s*\(([A-J])\)\s*", r.get("Choices") or "")
        labels, texts = parts[1::2], [t.strip() for t in parts[2::2]]
        if not labels:
            raise PonderError(f"{path}:{n + 2}: column 'Choices' has no '(A) ...' options")
        rows.append(
            {
                "id": r.get("ID"),
                "question_stem": r.get("Question Stem"),
                "choices": {"text": texts, "label": labels},
                "answerKey": r.get("Answer Key"),
            }
        )
    return rows


def squad_official(path: Path) -> list[dict]:
    """SQuAD v1.1's release JSON (data[].paragraphs[].qas[]) as rajpurkar/squad rows:
    id, title, context, question, answers{text[], answer_start[]}."""
    rows = []
    for art in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                ans = qa.get("answers") or []
                rows.append(
                    {
                        "id": qa["id"],
                        "title": art.get("title", ""),
                        "context": p["context"],
                        "question": qa["question"],
                        "answers": {
                            "text": [a["text"] for a in ans],
                            "answer_start": [a.get("answer_start", -1) for a in ans],
                        },
                    }
                )
    return rows


def coqa_official(path: Path) -> list[dict]:
    """CoQA's release JSON (data[] stories with questions[]/answers[] of turn dicts) as
    stanfordnlp/coqa rows (source, story, questions[], answers{input_text[], answer_start[],
    answer_end[]}), plus `additional_answers`: the other annotators' answers, one list per
    annotator aligned with the turns (the hub copy does not carry them)."""
    rows = []
    for s in json.loads(path.read_text(encoding="utf-8"))["data"]:
        qs, ans = s["questions"], s["answers"]
        extra = [
            [a.get("input_text", "") for a in alt]
            for alt in (s.get("additional_answers") or {}).values()
        ]
        rows.append(
            {
                "source": s.get("source", ""),
                "story": s["story"],
                "questions": [q["input_text"] for q in qs],
                "answers": {
                    "input_text": [a["input_text"] for a in ans],
                    "answer_start": [a.get("span_start", -1) for a in ans],
                    "answer_end": [a.get("span_end", -1) for a in ans],
                },
                "additional_answers": extra,
            }
        )
    return rows


LAYOUTS: dict[str, Callable[[Path], list[dict]]] = {
    "jsonl": jsonl,
    "json": json_list,
    "tsv": tsv,
    "mmlu_csv": mmlu_csv,
    "obqa_tsv": obqa_tsv,
    "squad_official": squad_official,
    "coqa_official": coqa_official,
}


def read_local(layout: str, path: Path) -> list[dict]:
    """Rows of one local file, in the hub schema; a malformed file is one error naming it."""
    if layout not in LAYOUTS:
        raise PonderError(
            f"benchmark definition: unknown local layout {layout!r} ({', '.join(LAYOUTS)})"
        )
    try:
        return LAYOUTS[layout](path)
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise PonderError(
            f"{path}: not a {layout} file as released ({type(e).__name__}: {e})"
        ) from None
