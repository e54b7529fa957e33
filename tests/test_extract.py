"""Answer extraction and MC-letter normalisation, as tables of real-looking model outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ponder.evaluate.extract import Extraction, extract_answer, normalize_mc, strip_think

FIX = Path(__file__).parent / "fixtures" / "eval"
EXTRACTION = yaml.safe_load((FIX / "extraction_cases.yaml").read_text())
MC = yaml.safe_load((FIX / "mc_cases.yaml").read_text())


@pytest.mark.parametrize(("response", "answer", "boxed"), EXTRACTION)
def test_extract_answer(response, answer, boxed):
    assert extract_answer(response) == Extraction(answer, boxed)


@pytest.mark.parametrize(("answer", "options", "letter"), MC)
def test_normalize_mc(answer, options, letter):
    assert normalize_mc(answer, options) == letter


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("<think>a</think>b", "b"),
        ("<think>a</think>b<think>c</think>d", "bd"),
        ("<think>never closed", ""),
        ("prefix</think>answer", "answer"),
        ("no thinking at all", "no thinking at all"),
    ],
)
def test_strip_think(text, kept):
    assert strip_think(text) == kept
