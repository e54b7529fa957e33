"""Specification of `ponder report`: the numbers it states (golden), what the page contains, that
it escapes model outputs, rebuilds idempotently, states why analyses are skipped, and opens in
headless Chromium with no console error, no network request and every figure rendered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ponder.report.build import build_report

FIXTURE = Path(__file__).parent / "fixtures" / "report" / "run"
GOLDEN = FIXTURE.parent / "golden.json"
FIGURES = [
    "fig1_task_sensitivity.png", "fig2_mono_phasic.png", "fig18_mono_phasic_tasks.png",
    "fig3_sequential_vs_mixed.png", "fig4_ratio_gap.png", "fig5_domain_adaptation.png",
    "fig6_training_pareto.png", "fig7_inference_pareto.png", "fig8_length_by_correctness.png",
    "fig15_early_stopping.png", "fig17_inference_scaling.png",
]  # fmt: skip


def golden_view(numbers: dict) -> dict:
    """The part of numbers.json pinned by golden.json (also used to regenerate it)."""
    view = {}
    for key, a in numbers.items():
        fits = []
        for f in a["fits"]:
            keep = ["category", "fmt", "mae", "identified"]
            # An interpolating fit (n ≤ 4 points for 4 parameters) has no unique parameters.
            if f.get("identified", True):
                keep += [k for k in ("alpha", "beta", "gamma", "delta") if k in f]
            fits.append({k: f[k] for k in keep if k in f})
        view[key] = dict(skipped=a["skipped"], reading=a["reading"], fits=fits, table=a["table"])
    return view


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(FIXTURE, run)
    build_report(run)
    return run


def _close(got, want, path="") -> None:
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            _close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-6), path
    else:
        assert got == want, path


def test_numbers_match_golden(built):
    numbers = json.loads((built / "report" / "numbers.json").read_text())
    _close(golden_view(numbers), json.loads(GOLDEN.read_text()))


@pytest.mark.parametrize(
    "key, phrase",
    [  # readings are generated from the fixture's numbers, checked here by hand
        ("headline", "In 4 of 4 task categories a reasoning student matches the largest IFT"),
        ("fig1", "Reasoning helps most on arith-oe (+46.2 pts"),
        ("fig1", "least on lookup-mc (+3.5 pts"),
        ("fig2", "reasoning beats IFT on 4 of 4 task categories, most on math-OE (+43.7 pts)"),
        ("fig8", "Incorrect answers are longer than correct ones in 12 of 12"),
        ("fig7", "ceilings are not identified"),
    ],
)
def test_readings_state_the_numbers(built, key, phrase):
    numbers = json.loads((built / "report" / "numbers.json").read_text())
    assert phrase in numbers[key]["reading"]


def test_page_has_every_section_figure_and_provenance(built):
    out = built / "report"
    html = (out / "index.html").read_text()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(FIGURES)
    for fig in FIGURES:
        assert f'src="{fig}"' in html
    for needle in ("Fig. 1", "Fig. 6 / 22", "Fig. 15", "Fig. 17", "f1x7u4e0c0ffee00",
                   "0.1.0+fixture", "2-core CPU, no GPU", "train</td><td>212.500",
                   "ratios: [0.0, 0.25, 0.5, 0.75, 1.0]"):  # fmt: skip
        assert needle in html, needle
    assert "http://" not in html and "https://" not in html  # nothing to fetch from a network
    md = (out / "report.md").read_text()
    assert "| general-OE | tiny-2m | 0.375 | tiny-0.5m | 0.375 |" in md


def test_model_outputs_are_escaped(built):
    html = (built / "report" / "index.html").read_text()
    assert "&lt;script&gt;console.error(&#39;unescaped model output&#39;)" in html
    assert "<script" not in html


def test_rebuild_is_idempotent_and_drops_stale_figures(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built, run)  # carries the full study's report and its 11 figures
    # Keep general ρ ∈ {0, 1} students on one benchmark: the mixed, arm and ratio figures go.
    df = pd.read_parquet(run / "results.parquet")
    keep = (df["domain"] == "general") & df["ratio"].isin([0.0, 1.0]) | (df["kind"] != "student")
    keep &= df["benchmark"] == "arith-oe"
    df[keep].to_parquet(run / "results.parquet", index=False)
    html = build_report(run).read_text()
    names = {p.name for p in (run / "report").glob("*.png")}
    assert "fig3_sequential_vs_mixed.png" not in names and "fig5_domain_adaptation.png" not in names
    assert "Skipped: needs intermediate ratios under both schedules." in html
    assert "Skipped: needs bi-phasic arms and mono-phasic general IFT students." in html
    assert build_report(run).read_text() == html
    assert {p.name for p in (run / "report").glob("*.png")} == names


def _ponder(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from ponder.cli import main; sys.argv = ['ponder', *sys.argv[1:]]; main()"
    env = {**os.environ, "COLUMNS": "500"}  # rich wraps at the terminal width otherwise
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "results.parquet: not found"),
        (lambda d: (d / "results.parquet").write_text("not parquet"), "results.parquet"),
    ],
)
def test_cli_bad_run_dir_is_one_line_exit_2(tmp_path, setup, message):
    setup(tmp_path)
    r = _ponder("report", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _chromium_or_skip() -> None:
    from browser import chromium

    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (Debian package `chromium`)")
        pytest.skip("chromium not installed (apt-get install chromium); CI installs it")


def test_report_opens_in_headless_chromium(built):
    _chromium_or_skip()
    from browser import inspect_page

    page = inspect_page(built / "report" / "index.html")
    assert page.errors == []
    assert all(u.startswith("file://") for u in page.requests), page.requests
    assert sorted(i["src"] for i in page.images) == sorted(FIGURES)
    for img in page.images:
        assert img["complete"] and img["w"] > 100, img
        assert img["pixel_std"] > 5 and img["ink"] > 0.01, img  # drawn, not blank


def test_browser_check_catches_a_broken_page(tmp_path):
    """Negative control: the checker itself must see a script error, a missing image and a
    network request."""
    _chromium_or_skip()
    from browser import inspect_page

    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><link rel="icon" href="data:,"><img src="missing.png">'
        "<script>console.error('boom'); undefinedFunction();</script>"
        '<img src="http://127.0.0.1:9/x.png">'
    )
    rep = inspect_page(page)
    assert any("boom" in e for e in rep.errors)
    assert any("undefinedFunction" in e for e in rep.errors)
    assert any(u.startswith("http://") for u in rep.requests)
    assert any(i["src"] == "missing.png" and i["w"] == 0 for i in rep.images)
