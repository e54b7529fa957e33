"""Assemble a study's report: every registry entry's analysis, its PNG figures, `index.html`,
`report.md` and `numbers.json`.

`build_report(run_dir, metric)` reads `results.parquet` (and `evals/`, `judgements/`, `study.yaml`,
`manifest.json` when present), runs the entries of `report.registry` in order, draws their
figures beside the page, and writes a self-contained `report/index.html` (inline CSS, relative
PNG links, no network request), a short `report/report.md` and `report/numbers.json` (readings,
metrics, fits and the shown tables). Model outputs are escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from ponder.report import registry
from ponder.report.data import Analysis, ReportData, endpoints, primary_domain
from ponder.rundir import (
    RunDir,
    atomic_write_json,
    atomic_write_text,
    code_version,
    write_manifest,
)

TABLE_KEYS = {e.key for e in registry.ENTRIES if e.show_table}
QUOTE_CHARS = 1200  # long reasoning traces are cut in the page; the evals keep them whole


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, float | np.floating):
        return f"{v:.3g}" if abs(v) >= 1e4 or abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
    return str(v)


def _tables(a: Analysis) -> list[dict]:
    """The numbers a reader wants beside a figure: headline, Fig. 1 points, fit parameters."""
    out = []
    if a.key in TABLE_KEYS and a.table is not None:
        t = a.table.drop(columns=[c for c in ("seed_values", "models") if c in a.table.columns])
        out.append(
            dict(
                caption="values",
                header=list(t.columns),
                rows=[[_fmt(v) for v in r] for r in t.itertuples(index=False)],
            )
        )
    if a.fits:
        f = pd.DataFrame(a.fits)
        cap = (
            "saturating fit f(x)=α+β(1−exp(−γx^δ)) by MAE (Appendix E); cap = teacher "
            "accuracy bound on α+β"
            if a.key in ("fig7", "fig11")
            else "log-linear fit y=αx^β"
        )
        out.append(
            dict(
                caption=cap,
                header=list(f.columns),
                rows=[[_fmt(v) for v in r] for r in f.itertuples(index=False)],
            )
        )
    return out


def _examples(analyses: list[Analysis], df: pd.DataFrame, rd: RunDir) -> list[dict]:
    """IFT and reasoning answers to one item of the benchmark where reasoning gained most."""
    fig1 = next(a for a in analyses if a.key == "fig1")
    if fig1.skipped:
        return []
    top = fig1.table.iloc[0]
    rows = endpoints(df, primary_domain(df))
    rows = rows[(rows["benchmark"] == top["benchmark"]) & (rows["student"] == top["student"])]
    rows = rows.sort_values("seed").drop_duplicates("fmt")  # one seed's answers per format
    evs = {}
    for _, r in rows.iterrows():
        path = rd.eval(r["model"], top["benchmark"])
        if path.exists():
            ev = pd.read_parquet(path)
            if {"id", "response", "correct"} <= set(ev.columns) and len(ev):
                evs[(r["fmt"], r["model"])] = ev.set_index("id")
    if not evs:
        return []
    common = sorted(set.intersection(*(set(ev.index) for ev in evs.values())))
    # Prefer an item the reasoning student gets right and the IFT student wrong: Fig. 1's gain.
    want = [
        i
        for i in common
        if all(bool(ev.loc[i, "correct"]) == (fmt == "reasoning") for (fmt, _), ev in evs.items())
    ]
    item = (want or common or [None])[0]
    if item is None:
        return []
    out = []
    for (_, model), ev in sorted(evs.items()):
        resp = str(ev.loc[item, "response"])
        out.append(
            dict(
                model=model,
                benchmark=top["benchmark"],
                id=item,
                correct=bool(ev.loc[item, "correct"]),
                tokens=_fmt(ev.loc[item, "tokens"]) if "tokens" in ev.columns else "?",
                response=resp if len(resp) <= QUOTE_CHARS else resp[:QUOTE_CHARS] + " […]",
            )
        )
    return out


def _provenance(rd: RunDir) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    man_path = rd.manifest()
    man = {}
    if man_path.exists():
        try:
            man = json.loads(man_path.read_text())
        except json.JSONDecodeError:
            man = {"manifest.json": "unreadable (not JSON)"}
    rows = [("run directory", str(rd.root.resolve())), ("report code version", code_version())]
    for k in ("code_version", "config_hash", "hardware", "host", "python"):
        if k in man:
            rows.append((f"study {k.replace('_', ' ')}", str(man[k])))
    rows.append(("report built on", f"{platform.node()} ({platform.platform()})"))
    stages = man.get("stages", {})
    if isinstance(stages, dict):
        stage_rows = [
            (str(k), _fmt(float(v)) if isinstance(v, int | float) else str(v))
            for k, v in stages.items()
        ]
    else:
        stage_rows = []
    return rows, stage_rows


def _markdown(analyses: list[Analysis], name: str) -> str:
    lines = [f"# ponder report: {name}", "", "Figures and the full page: `index.html`.", ""]
    head = analyses[0]
    if not head.skipped:
        t = head.table
        lines += ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
        lines += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in t.itertuples(index=False)]
        lines.append("")
    for a in analyses:
        lines.append(f"## {a.title} ({a.paper})")
        lines.append(f"Skipped: {a.skipped}." if a.skipped else a.reading)
        if a.metric and not a.skipped:
            lines.append(f"Score: {a.metric}.")
        lines += [f"![{a.paper}]({f})" for f in a.figures] + [""]
    return "\n".join(lines)


def _numbers(analyses: list[Analysis], data: ReportData) -> dict:
    def records(t: pd.DataFrame | None) -> list[dict] | None:
        if t is None:
            return None
        t = t.drop(columns=[c for c in ("seed_values", "models") if c in t.columns])
        return json.loads(t.to_json(orient="records", double_precision=10))

    out = {
        a.key: dict(
            title=a.title,
            paper=a.paper,
            skipped=a.skipped,
            reading=a.reading,
            metric=a.metric,
            fits=a.fits,
            figures=a.figures,
            table=records(a.table),
        )
        for a in analyses
    }
    out["_metric"] = {"requested": data.requested, "per_benchmark": data.metrics}
    return out


def _page(data: ReportData, analyses: list[Analysis]) -> str:
    df, rd = data.df, data.rd
    study_yaml = rd.study_yaml()
    prov, stages = _provenance(rd)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ponder.resources", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2").render(
        study_name=rd.root.name,
        code_version=code_version(),
        n_rows=len(df),
        n_models=df["model"].nunique(),
        n_benchmarks=df["benchmark"].nunique(),
        seeds=data.max_seeds(),
        metric=data.requested,
        judged=sorted(b for b, m in data.metrics.items() if m == "judge"),
        analyses=[
            dict(
                key=a.key,
                title=a.title,
                paper=a.paper,
                skipped=a.skipped,
                reading=a.reading,
                metric=a.metric,
                figures=a.figures,
                tables=_tables(a),
            )
            for a in analyses
        ],
        examples=_examples(analyses, data.core, rd),
        provenance=prov,
        stages=stages,
        study_yaml=study_yaml.read_text(encoding="utf-8") if study_yaml.exists() else "",
    )


def build_report(run_dir: Path, metric: str | None = None) -> Path:
    """Draw every analysis the study supports into RUN_DIR/report/; return index.html's path.

    `metric` (auto | judge | rule) defaults to `report.metric` of the run's study.yaml, else auto.
    Idempotent: rebuilding overwrites every file atomically and removes figures of analyses
    that no longer apply.
    """
    started = time.time()
    data = ReportData(Path(run_dir), metric)
    rd = data.rd
    out = rd.report_dir()
    out.mkdir(parents=True, exist_ok=True)
    analyses = []
    for entry in registry.ENTRIES:
        a = registry.run(entry, data)
        a.figures = registry.draw(entry, a, out)
        analyses.append(a)
    keep = {f for a in analyses for f in a.figures}
    for stale in out.glob("*.png"):
        if stale.name not in keep:
            stale.unlink()
    index = atomic_write_text(rd.report_index(), _page(data, analyses))
    atomic_write_text(out / "report.md", _markdown(analyses, rd.root.name))
    atomic_write_json(out / "numbers.json", _numbers(analyses, data))
    digest = hashlib.sha256(rd.results().read_bytes()).hexdigest()[:16]
    write_manifest(index, started, results_sha256=digest, figures=sorted(keep))
    return index
