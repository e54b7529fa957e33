"""Specification of `ponder report`: the numbers it states (golden), that every figure is drawn from
a tiny-full-shaped study (3 seeds, every arm), the extended figures and the judge metric from a
paper-extended-shaped one, what the page says about scores and CIs, that a one-seed study does not
overclaim, that model outputs are escaped, rebuilds are idempotent, skips say why, and the page
opens in headless Chromium with no console error, no network request and every figure rendered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from _reportrun import GOLDEN, build
from ponder.config import load_study
from ponder.errors import PonderError
from ponder.pipeline.expand import expand
from ponder.report import registry
from ponder.report.build import build_report
from ponder.report.data import ReportData

FIGURES = [  # every figure of the report that a tiny-full study can draw
    "fig1_task_sensitivity.png",
    "fig2_mono_phasic.png",
    "fig18_mono_phasic_tasks.png",
    "fig3_sequential_vs_mixed.png",
    "fig4_ratio_gap.png",
    "fig5_domain_adaptation.png",
    "fig6_training_pareto.png",
    "fig7_inference_pareto.png",
    "fig8_length_by_correctness.png",
    "fig15_early_stopping.png",
    "fig16_generation_budget.png",
    "fig17_inference_scaling.png",
]
EXTENDED_FIGURES = [
    "fig9_extended_by_size.png",
    "fig10_extended_ratio_gap.png",
    "fig11_extended_inference_pareto.png",
    "fig16_generation_budget.png",
]


PINNED_TABLES = ("headline", "fig1", "judges")  # the tables shown on the page


def golden_view(numbers: dict) -> dict:
    """The part of numbers.json pinned by golden.json (also used to regenerate it)."""
    view = {}
    for key, a in numbers.items():
        if key.startswith("_"):
            view[key] = a
            continue
        fits = []
        for f in a["fits"]:
            keep = ["category", "fmt", "mae", "identified"]
            # An interpolating fit (n ≤ 4 points for 4 parameters) has no unique parameters.
            if f.get("identified", True):
                keep += [k for k in ("alpha", "beta", "gamma", "delta") if k in f]
            fits.append({k: f[k] for k in keep if k in f})
        table = a["table"] if key in PINNED_TABLES else None
        view[key] = dict(
            skipped=a["skipped"], reading=a["reading"], metric=a["metric"], fits=fits, table=table
        )
    return view


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    run = build(tmp_path_factory.mktemp("report") / "run", "full")
    build_report(run)
    return run


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    run = build(tmp_path_factory.mktemp("extended") / "run", "extended")
    build_report(run)
    return run


def _numbers(run: Path) -> dict:
    return json.loads((run / "report" / "numbers.json").read_text())


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
    _close(golden_view(_numbers(built)), json.loads(GOLDEN.read_text()))


def test_every_figure_is_drawn_from_a_tiny_full_study(built):
    numbers = _numbers(built)
    skipped = {
        k: a["skipped"] for k, a in numbers.items() if not k.startswith("_") and a["skipped"]
    }
    # Only the sections whose data a tiny study cannot have: extended benchmarks and judges; the
    # pairs statement (the fixture holds results without the run's pairs); and the comparison
    # with a reference study it does not name (report.compare_to).
    assert set(skipped) == {"fig9", "fig10", "fig11", "judges", "pairs", "compare"}, skipped
    assert sorted(p.name for p in (built / "report").glob("*.png")) == sorted(FIGURES)


@pytest.mark.parametrize(
    "key, phrase",
    [  # readings are generated from the fixture's numbers, checked here by hand
        ("headline", "significantly beats it in 2 of 3 task categories above chance: math-MC"),
        (
            "headline",
            "math-OE: tiny-0.5m (4.0× smaller, 0.24× its inference FLOPs; +9.6 pts, 95% CI",
        ),
        ("headline", "At chance, not compared: general-MC (largest IFT 26.2%, chance 25.0%)"),
        (
            "fig1",
            "The largest gain is on arith-oe (+49.6 pts, 95% CI [+41.7, +57.5] over items, "
            "[+44.8, +54.3] over 3 seeds) for 4.9× the tokens, not significantly more than "
            "on chain-oe",
        ),
        ("fig2", "reasoning beats IFT in 2 of 3 task categories above chance: math-MC (+28.8 pts"),
        ("fig2", "no significant difference in 1: general-OE (+4.2 pts"),
        ("fig3", "no significant difference between the schedules"),
        ("fig8", "incorrect answers are significantly longer in 12 and shorter in 0"),
        ("fig7", "ceilings are not identified"),
        ("fig16", "Allowing 64 generated tokens instead of 32: for reasoning students"),
    ],
)
def test_readings_state_the_numbers(built, key, phrase):
    assert phrase in _numbers(built)[key]["reading"]


def test_page_has_every_section_figure_metric_and_provenance(built):
    out = built / "report"
    html = (out / "index.html").read_text()
    for fig in FIGURES:
        assert f'src="{fig}"' in html
    for needle in (
        "Fig. 1",
        "Fig. 6 / 22",
        "Fig. 15 (App. F.3)",
        "Fig. 16 (App. F.4)",
        "Fig. 17 (App. F.5)",
        "f1x7u4e0c0ffee00",
        "0.1.0+fixture",
        "2-core CPU, no GPU",
        "train</td><td>212.500",
        "ratios: [0.0, 0.25, 0.5, 0.75, 1.0]",
        "up to 3 training seeds",
        "Score: rule scorer (no judgements).",
        "hollow dots are the individual seeds",
        "Student's t 95% CI across seeds",
    ):
        assert needle in html, needle
    assert "http://" not in html and "https://" not in html  # nothing to fetch from a network
    md = (out / "report.md").read_text()
    assert "| general-MC | tiny-2m | 0.263 | 0.263 | – |" in md and "| at chance |" in md


def test_extended_study_draws_figs_9_to_11_and_16_with_the_judge_metric(extended):
    numbers = _numbers(extended)
    names = {p.name for p in (extended / "report").glob("*.png")}
    assert set(EXTENDED_FIGURES) <= names
    assert numbers["_metric"]["requested"] == "auto"
    assert set(numbers["_metric"]["per_benchmark"].values()) == {"judge"}
    for key in ("headline", "fig2", "fig9", "fig10", "fig11", "fig16"):
        assert numbers[key]["metric"].startswith("judge-panel majority"), key
    assert "law: mmlu-pro-law (MC)" in numbers["fig9"]["reading"]
    assert "Allowing 32,768 generated tokens instead of 16,384" in numbers["fig16"]["reading"]
    assert "One training seed" in numbers["fig9"]["reading"]
    html = (extended / "report" / "index.html").read_text()
    assert "the judge panel's majority verdict on aime, c-code-summarization" in html
    head = {r["category"]: r for r in numbers["headline"]["table"]}
    assert all("ift_rule" in r and "reasoning_rule" in r for r in head.values())


def test_metric_rule_overrides_the_judges(extended):
    data = ReportData(extended, metric="rule")
    assert set(data.metrics.values()) == {"rule"}
    entries = {e.key: e for e in registry.ENTRIES}
    assert registry.run(entries["fig9"], data).metric == "rule scorer"
    ruled = registry.run(entries["headline"], data).table
    judged = _numbers(extended)["headline"]["table"]
    assert ruled["ift_accuracy"].tolist() == pytest.approx([r["ift_rule"] for r in judged])


def test_a_one_seed_tiny_study_does_not_overclaim(built, tmp_path):
    """`tiny`'s grid (3 sizes × ρ ∈ {0, 1} + ρ=.5 at the largest, one seed) from the
    fixture."""
    run = tmp_path / "run"
    shutil.copytree(built, run, ignore=shutil.ignore_patterns("report"))
    df = pd.read_parquet(run / "results.parquet")
    keep = (df["seed"] == 0) & (df["domain"] == "general") & (df["arm"] == "")
    keep &= df["ratio"].isin([0.0, 1.0]) | ((df["ratio"] == 0.5) & (df["schedule"] == "sequential"))
    df[keep | (df["kind"] != "student")].to_parquet(run / "results.parquet", index=False)
    build_report(run)
    numbers = _numbers(run)
    for key, a in numbers.items():
        if key.startswith("_") or a["skipped"] or key in ("fig17",):
            continue
        assert "One training seed: these CIs cover the test items only" in a["reading"], key
        assert "over 3 seeds" not in a["reading"] and "matches" not in a["reading"], key
    assert "at chance, not compared: general-MC" in numbers["fig2"]["reading"]
    assert "This study has one training seed" in (run / "report" / "index.html").read_text()


def test_model_outputs_are_escaped(built):
    html = (built / "report" / "index.html").read_text()
    assert "&lt;script&gt;console.error(&#39;unescaped model output&#39;)" in html
    assert "<script" not in html


def test_rebuild_is_idempotent_and_drops_stale_figures(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built, run)  # carries the full study's report and its figures
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


@pytest.mark.parametrize(
    "override, enabled, metric",
    [
        ([], True, "auto"),
        (["report=false"], False, "auto"),
        (["report.metric=judge"], True, "judge"),
        (["report={enabled: false, metric: rule}"], False, "rule"),
    ],
)
def test_report_config_switches_the_step_and_the_metric(override, enabled, metric):
    cfg = load_study("tiny", override)
    assert (cfg.report.enabled, cfg.report.metric) == (enabled, metric)
    assert any(s.id == "report" for s in expand(cfg)) is enabled


def test_a_bad_metric_names_the_field():
    with pytest.raises(
        PonderError, match="report.metric: Input should be 'auto', 'judge' or 'rule'"
    ):
        load_study("tiny", ["report.metric=majority"])


def test_the_report_step_reruns_when_the_metric_changes():
    a = {s.id: s.hash for s in expand(load_study("tiny"))}
    b = {s.id: s.hash for s in expand(load_study("tiny", ["report.metric=rule"]))}
    assert {k for k in a if a[k] != b[k]} == {"report"}


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
