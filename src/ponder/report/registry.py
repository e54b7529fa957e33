"""The report's table of contents: one entry per section, pairing its analysis with its figure.

Adding a figure is one entry here: a key (also the HTML anchor and the numbers.json key), a title,
the paper's reference, an analysis `(ReportData) -> Analysis` and a draw function
`(Analysis, out_dir) -> [png names]` (None for a section without a figure). Sections appear in
this order; `show_table` puts the analysis table on the page and into numbers.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ponder.report import draw_eff, draw_perf, efficiency, extended, lengths, performance, ratios
from ponder.report.compare import beside_reference
from ponder.report.data import Analysis, ReportData
from ponder.report.headline import headline
from ponder.report.judges import judge_agreement
from ponder.report.pairs_check import pairs_check

Draw = Callable[[Analysis, Path], list[str]]


@dataclass(frozen=True)
class Entry:
    key: str
    title: str
    paper: str
    analyze: Callable[[ReportData], Analysis]
    draw: Draw | None = None
    show_table: bool = False


ENTRIES: tuple[Entry, ...] = (
    Entry(
        "headline",
        "Smallest reasoning student not worse than the largest IFT student",
        "§3.1",
        headline,
        show_table=True,
    ),
    Entry(
        "fig1",
        "Task sensitivity to reasoning",
        "Fig. 1",
        performance.task_sensitivity,
        draw_perf.fig1,
        show_table=True,
    ),
    Entry(
        "fig2",
        "Mono-phasic accuracy by student size",
        "Fig. 2 / 18",
        performance.mono_phasic,
        draw_perf.fig2,
    ),
    Entry(
        "fig3",
        "Sequential vs mixed training across ρ",
        "Fig. 3 / 19",
        ratios.seq_vs_mixed,
        draw_perf.fig3,
    ),
    Entry(
        "fig4",
        "Accuracy gap to IFT across ρ, per student size",
        "Fig. 4 / 20",
        ratios.ratio_gap,
        draw_perf.fig4,
    ),
    Entry(
        "fig5",
        "Domain adaptation (general → math) vs general IFT",
        "Fig. 5 / 21",
        ratios.domain_adaptation,
        draw_perf.fig5,
    ),
    Entry(
        "fig6", "Accuracy vs training FLOPs", "Fig. 6 / 22", efficiency.train_pareto, draw_eff.fig6
    ),
    Entry(
        "fig7", "Accuracy vs inference FLOPs", "Fig. 7 / 23", efficiency.infer_pareto, draw_eff.fig7
    ),
    Entry(
        "fig8",
        "Answer length by correctness (reasoning students)",
        "Fig. 8 / 24",
        performance.length_by_correctness,
        draw_perf.fig8,
    ),
    Entry(
        "fig9",
        "Extended tasks (law, code, physics): accuracy by size",
        "Fig. 9 (App. F.1)",
        extended.extended_by_size,
        draw_perf.fig9,
    ),
    Entry(
        "fig10",
        "Extended tasks: accuracy gap to IFT across ρ",
        "Fig. 10 (App. F.1)",
        extended.extended_ratio_gap,
        draw_perf.fig10,
    ),
    Entry(
        "fig11",
        "Extended tasks: accuracy vs inference FLOPs",
        "Fig. 11 (App. F.1)",
        extended.extended_infer_pareto,
        draw_eff.fig11,
    ),
    Entry(
        "fig15",
        "Early stopping at answer-length percentiles",
        "Fig. 15 (App. F.3)",
        lengths.early_stopping,
        draw_eff.fig15,
    ),
    Entry(
        "fig16",
        "A longer generation budget",
        "Fig. 16 (App. F.4)",
        lengths.longer_budget,
        draw_eff.fig16,
    ),
    Entry(
        "fig17",
        "Inference FLOPs vs student size",
        "Fig. 17 (App. F.5)",
        efficiency.infer_scaling,
        draw_eff.fig17,
    ),
    Entry("judges", "Judge agreement", "App. D.3", judge_agreement, show_table=True),
    Entry("pairs", "Teacher pairs left out (mode check)", "§2.2", pairs_check, show_table=True),
    Entry(
        "compare",
        "Beside the reference checkpoints (report.compare_to)",
        "§3, released students",
        beside_reference,
        draw_perf.compare,
        show_table=True,
    ),
)


def run(entry: Entry, data: ReportData) -> Analysis:
    """The entry's analysis, labelled with the entry's key, title and paper reference."""
    a = entry.analyze(data)
    a.key, a.title, a.paper = entry.key, entry.title, entry.paper
    return a


def draw(entry: Entry, a: Analysis, out_dir: Path) -> list[str]:
    """Write the entry's figures for `a` into out_dir (none when skipped or figure-less)."""
    if a.skipped or entry.draw is None:
        return []
    return entry.draw(a, Path(out_dir))
