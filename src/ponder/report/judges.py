"""The report's judge section (Appendix D.3): how far the panel and the rule scorers agree."""

from __future__ import annotations

import pandas as pd

from ponder.evaluate.stats import disagreement_table, fleiss_kappa, judge_mae
from ponder.report.data import Analysis, ReportData, skip


def judge_agreement(data: ReportData) -> Analysis:
    """The report's judge section (Appendix D.3) from `judgements/<model>/<benchmark>.parquet`:
    per benchmark the panel's Fleiss κ and the rule scorer vs judge-majority agreement, pooled
    over every judged model; the pairwise judge MAE over benchmarks in the reading."""
    rd = data.rd
    files = rd.judgement_files()
    if not files:
        return skip("no judgements (judge.enabled is off)")
    rows, verdicts = [], {}
    word = {"yes": True, "no": False}
    for bench in sorted({f.stem for f in files}):
        parts = []
        for f in (f for f in files if f.stem == bench):
            ev = rd.eval(f.parent.name, f.stem)
            j = pd.read_parquet(f)
            parts.append(j.merge(pd.read_parquet(ev, columns=["id", "correct"]), on="id"))
        j = pd.concat(parts, ignore_index=True)
        cols = [c for c in j.columns if c.startswith("judge:")]
        votes = [[word.get(v) for v in r] for r in j[cols].itertuples(index=False)]
        verdicts[bench] = {
            c.removeprefix("judge:"): [r[i] for r in votes] for i, c in enumerate(cols)
        }
        table = disagreement_table(list(j["id"]), list(j["correct"]), list(j["judge_correct"]))
        rows.append(
            {
                "benchmark": bench,
                "items": len(j),
                "fleiss_kappa": fleiss_kappa(votes),
                "rule_judge_agreement": table["agreement"],
                "rule_only": table["rule_only"],
                "judge_only": table["judge_only"],
            }
        )
    table = pd.DataFrame(rows)
    mae = judge_mae(verdicts)
    pairs = "; ".join(f"{k} {v:.1f}" for k, v in mae.items() if k != "median")
    reading = (
        f"Rule scorer and judge majority agree on {table['rule_judge_agreement'].mean():.1f}% of "
        f"items (mean over {len(table)} benchmarks); panel Fleiss κ "
        f"{table['fleiss_kappa'].median():.2f} (median). Pairwise judge MAE in points: "
        f"{pairs or 'one judge'}"
        + (f" (median {mae['median']:.1f}; the paper: 0.9, 1.0, 1.8, median 1.2)." if mae else ".")
    )
    return Analysis(reading, table=table, metric="rule scorer vs judge-panel majority")
