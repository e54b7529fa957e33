"""How the report words numbers and comparisons, so every reading follows the same rules:

- accuracies in percent with one decimal ("42.5%"), differences in points with a sign
  ("+8.8 pts"), factors with one decimal below 100 ("11.4×") and none above ("250×");
- a comparison is stated with its 95% CIs, per item and (with ≥ 2 seeds) across seeds;
- "beats" / "trails" only when both CIs exclude 0 on that side (`Diff.sign`); otherwise
  "no significant difference" with the numbers;
- a multiple-choice result that is not significantly above guessing is "at chance" and is not
  compared (a 0.26 vs 0.19 pair at 25% chance says nothing about training formats);
- with one training seed the reading says that its CIs cover test items only.
"""

from __future__ import annotations

import math

from ponder.report.paired import Diff


def pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 100:.1f}%"


def _p(x: float) -> str:
    v = round(x * 100, 1)
    return f"{v + 0.0:+.1f}"  # + 0.0 turns −0.0 into 0.0


def pts(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{_p(x)} pts"


def factor(x: float) -> str:
    """11.4×, 250×, 0.21× (two significant digits below 1)."""
    if not math.isfinite(x):
        return "–"
    if x >= 100:
        return f"{x:.0f}×"
    return f"{x:.1f}×" if x >= 1 else f"{x:.2g}×"


def _pair(lo: float, hi: float) -> str:
    return f"[{_p(lo)}, {_p(hi)}]"


def ci(d: Diff) -> str:
    """'95% CI [+2.5, +15.0] over items, [+1.0, +12.0] over 3 seeds'."""
    txt = f"95% CI {_pair(d.lo, d.hi)} over items"
    if not d.paired:
        txt += " (unpaired: per-item answers missing)"
    if d.seeds >= 2:
        txt += f", {_pair(d.seed_lo, d.seed_hi)} over {d.seeds} seeds"
    return txt


def signed(d: Diff) -> str:
    """'+8.8 pts, 95% CI […] over items…'."""
    return f"{pts(d.diff)}, {ci(d)}"


def difference(d: Diff) -> str:
    """'difference +8.8 pts, 95% CI …' (for a difference between two gains)."""
    return f"difference {signed(d)}"


def compare(d: Diff, a: str, b: str) -> str:
    """'A beats B (+8.8 pts, 95% CI …)' / 'A trails B (…)' / 'no significant difference between
    A and B (…)'."""
    if d.sign > 0:
        return f"{a} beats {b} ({signed(d)})"
    if d.sign < 0:
        return f"{a} trails {b} ({signed(d)})"
    return f"no significant difference between {a} and {b} ({signed(d)})"


def change(d: Diff, what: str) -> str:
    """'raises X (+4.0 pts, …)' / 'lowers X (…)' / 'does not significantly change X (…)'."""
    verb = {1: "raises", -1: "lowers", 0: "does not significantly change"}[d.sign]
    return f"{verb} {what} ({signed(d)})"


def seed_note(seeds: int) -> str:
    """The caveat a one-seed study's readings carry."""
    if seeds >= 2:
        return ""
    return (
        " One training seed: these CIs cover the test items only, not training randomness"
        " (add `seeds: [0, 1, 2]` to the grid)."
    )


def listing(parts: list[str], empty: str = "none") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if not parts:
        return empty
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def tally(signs: dict[str, int], better: str, worse: str, chance: list[str], what: str) -> str:
    """'beats IFT in 2 of 3 task categories above chance: a (…) and b (…); no significant
    difference in 1: c (…); at chance, not compared: d'. Keys are labels with their numbers."""
    n = len(signs)
    if n == 0 and chance:
        return f"is not compared: none of the {what} is above chance ({listing(chance)})"
    up = [k for k, s in signs.items() if s > 0]
    down = [k for k, s in signs.items() if s < 0]
    same = [k for k, s in signs.items() if s == 0]
    out = f"{better} in {len(up)} of {n} {what}" + (" above chance" if chance else "")
    out += f": {listing(up)}" if up else ""
    if same:
        out += f"; no significant difference in {len(same)}: {listing(same)}"
    if down:
        out += f"; {worse} in {len(down)}: {listing(down)}"
    if chance:
        out += f"; at chance, not compared: {listing(chance)}"
    return out
