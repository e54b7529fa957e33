"""The tiny synthetic task world: seeded (prompt, gold) generators in the paper's 2×2 taxonomy.

Four families, one per cell of §2.3's taxonomy (general vs math × multiple-choice vs open-ended):

| family      | task                                   | steps | role                          |
|-------------|----------------------------------------|-------|-------------------------------|
| general-mc  | which option belongs to a category      | 1     | recall, MC                    |
| general-oe  | the colour of a thing (memorised)       | 1     | negative control: a look-up   |
| math-mc     | a*b+c*d, four options                   | 3     | positive control, MC          |
| math-oe     | (a+b)*c-d                               | 3     | positive control (FEASIBILITY)|

Prompts follow Table 4: an instruction ending "… put the answer (and only answer) inside
\\boxed{}." then the question. Test and train splits are disjoint by the item's key (the underlying
problem, not just its wording), and both are fixed by the world seed. `solve` parses a question back
into its answer and steps: the scripted teacher answers from the prompt text alone, as a real
teacher would.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

FAMILIES = ("general-mc", "general-oe", "math-mc", "math-oe")
DOMAIN_FAMILIES = {"general": FAMILIES, "math": ("math-mc", "math-oe")}
LETTERS = "ABCD"

# Table 4 instructions (Appendix D.2): mmlu_misc for general MC, the math one for both math
# families; general OE has no Table 4 row of its own and keeps the same boxed-answer ending.
INSTRUCTIONS = {
    "general-mc": "Answer the following multiple-choice question by selecting the option that best "
    "fits the correct knowledge. Make sure to put the answer (and only answer) inside \\boxed{}.",
    "general-oe": "Answer the following question. "
    "Make sure to put the answer (and only answer) inside \\boxed{}.",
    "math-mc": "Solve the following math problem. "
    "Make sure to put the answer (and only answer) inside \\boxed{}.",
    "math-oe": "Solve the following math problem. "
    "Make sure to put the answer (and only answer) inside \\boxed{}.",
}
# The distinct instructions: the student tokenizer gives each a single token (students.py).
INSTRUCTION_PHRASES = tuple(sorted(set(INSTRUCTIONS.values())))

CATEGORIES = {
    "fruit": ["apple", "pear", "plum", "fig", "kiwi", "mango", "lemon", "grape"],
    "animal": ["cat", "dog", "horse", "mouse", "tiger", "sheep", "goat", "wolf"],
    "color": ["red", "blue", "green", "black", "white", "pink", "brown", "gray"],
    "vehicle": ["car", "bus", "truck", "train", "boat", "plane", "bike", "taxi"],
    "tool": ["hammer", "saw", "drill", "wrench", "knife", "rake", "shovel", "axe"],
    "drink": ["tea", "coffee", "milk", "juice", "water", "soda", "wine", "beer"],
}
NAMES = [
    "Ana",
    "Ben",
    "Cleo",
    "Dan",
    "Eva",
    "Finn",
    "Gus",
    "Hana",
    "Ivo",
    "Jana",
    "Kai",
    "Lea",
    "Max",
    "Nia",
    "Omar",
    "Pia",
    "Raj",
    "Sara",
    "Tom",
    "Uma",
    "Vera",
    "Will",
    "Xena",
    "Yuri",
    "Zoe",
    "Alex",
    "Bea",
    "Carl",
    "Dora",
    "Emil",
    "Fay",
    "Gina",
    "Hugo",
    "Iris",
    "Jon",
    "Kim",
    "Leo",
    "Mia",
    "Ned",
    "Ola",
]
# general-oe recalls one of 16 facts (a thing's colour); names, towns and wordings vary the prompt.
# Earlier designs failed as controls at the study's budget: 80 memorised word opposites (no
# student learned them in either format), and copying a number or a digit out of a passage
# (reasoning students reached ~99%, IFT ~20-55%: copying operands in the math traces taught them
# to copy, while IFT students never saw a copy). A negative control must need no skill that the
# other families' traces teach.
COLOURS = {
    "banana": "yellow", "lemon": "yellow", "grass": "green", "leaf": "green", "sky": "blue",
    "ocean": "blue", "snow": "white", "milk": "white", "coal": "black", "crow": "black",
    "cherry": "red", "tomato": "red", "carrot": "orange", "pumpkin": "orange", "plum": "purple",
    "violet": "purple",
}  # fmt: skip
TOWNS = ("Oslo", "Lima", "Rome", "Kyiv", "Bern", "Riga", "Doha", "Pune", "Graz", "Nice")
OE_TEMPLATES = (
    "{n} from {t} asks: what colour is the {w}?",
    "{n} from {t} wants to know the colour of the {w}.",
    "Tell {n} from {t} the colour of the {w}.",
    "{n} from {t} needs the colour of the {w}.",
)
# Wordings of the same math-oe problem (the split is by numbers, so wording never leaks a test item).
MATH_OE_TEMPLATES = ("Compute", "Calculate", "Evaluate", "Work out")
# Operands 1-6: every sub-step (sums to 12, products to 72) is seen in training, so a student that
# writes the steps down can generalise to unseen problems, while a direct answer must compute the
# whole 3-step function at once (the paper's positive control in miniature). With 1-9 the tiny
# students did not pass their learning transition within the study's budget.
MATH_DIGITS = (1, 6)


@dataclass(frozen=True)
class Solution:
    answer: str  # the gold answer (a letter for MC)
    steps: tuple[str, ...]  # the reasoning steps a careful solver writes down


def _key_hash(family: str, key: tuple) -> str:
    return hashlib.sha1(f"{family}|{key}".encode()).hexdigest()[:12]


def _sample_key(family: str, rng: random.Random) -> tuple:
    d = lambda: rng.randint(*MATH_DIGITS)  # noqa: E731
    if family == "math-oe":
        # A name in the wording varies the surface of the same problem (1,296 problems only).
        return (d(), d(), d(), d(), rng.randrange(len(MATH_OE_TEMPLATES)), rng.choice(NAMES))
    if family == "math-mc":
        key = (d(), d(), d(), d())
        return (*key, rng.randrange(4), rng.randrange(1 << 16))
    if family == "general-oe":
        return (rng.choice(sorted(COLOURS)), rng.choice(NAMES), rng.choice(TOWNS),
                rng.randrange(len(OE_TEMPLATES)))  # fmt: skip
    cat = rng.choice(sorted(CATEGORIES))
    word = rng.choice(CATEGORIES[cat])
    others = [w for c, ws in sorted(CATEGORIES.items()) if c != cat for w in ws]
    return (cat, word, tuple(rng.sample(others, 3)), rng.randrange(4))


def _split_key(family: str, key: tuple) -> tuple:
    """The part of the key that defines the problem: math items with the same numbers are the
    same problem whatever their option order, so splits are disjoint by numbers."""
    return key[:4] if family.startswith("math") else key


def _math_mc_options(key: tuple) -> tuple[list[str], int]:
    a, b, c, d, pos, salt = key
    n = a * b + c * d
    rng = random.Random(salt)
    cands = [n + 1, n - 1, n + 10, n - 10, a * b + c + d, (a + b) * (c + d), n + 2]
    distract: list[int] = []
    for x in rng.sample(cands, len(cands)):
        if x != n and x not in distract and x >= 0:
            distract.append(x)
    opts = distract[:3]
    opts.insert(pos, n)
    return [str(x) for x in opts], pos


def render(family: str, key: tuple) -> tuple[str, str, list[str]]:
    """Return (question, gold, options) for a key."""
    if family == "math-oe":
        a, b, c, d, t, n = key
        q = f"{n} asks: {MATH_OE_TEMPLATES[t].lower()} ({a}+{b})*{c}-{d}."
        return q, str((a + b) * c - d), []
    if family == "math-mc":
        a, b, c, d = key[:4]
        opts, pos = _math_mc_options(key)
        lines = " ".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(opts))
        return f"What is {a}*{b}+{c}*{d}? {lines}", LETTERS[pos], opts
    if family == "general-oe":
        w, n, t, k = key
        return OE_TEMPLATES[k].format(w=w, n=n, t=t), COLOURS[w], []
    cat, word, others, pos = key
    opts = list(others)
    opts.insert(pos, word)
    lines = " ".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(opts))
    art = "an" if cat[0] in "aeiou" else "a"
    return f"Which of these is {art} {cat}? {lines}", LETTERS[pos], opts


def make_prompt(family: str, question: str) -> str:
    return f"{INSTRUCTIONS[family]}\n{question}"


def _items(family: str, n: int, seed: int, exclude: set, split: str) -> list[dict]:
    rng = random.Random(f"{seed}|{family}|{split}")
    out, seen, tries = [], set(), 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n + 10_000:
            raise ValueError(f"world family {family}: cannot draw {n} distinct {split} items")
        key = _sample_key(family, rng)
        sk = _split_key(family, key)
        if sk in exclude or key in seen:
            continue
        seen.add(key)
        q, gold, opts = render(family, key)
        out.append(
            {
                "id": f"{family}-{_key_hash(family, key)}",
                "family": family,
                "question": q,
                "prompt": make_prompt(family, q),
                "gold": gold,
                "options": opts,
                "split_key": sk,
            }
        )
    return out


def test_items(family: str, n: int = 200, seed: int = 0) -> list[dict]:
    """The held-out test set of one family: `n` items with distinct problems."""
    if family not in FAMILIES:
        raise ValueError(f"unknown world family {family!r} (known: {', '.join(FAMILIES)})")
    items = _items(family, n, seed, set(), "test")
    return [{k: v for k, v in it.items() if k != "split_key"} for it in items]


def train_prompts(
    domain: str, n: int, seed: int = 0, weights: dict[str, float] | None = None, n_test: int = 200
) -> list[dict]:
    """`n` training prompts of a domain (general: all four families; math: the math ones), with
    no problem shared with the family's first `n_test` test items."""
    fams = DOMAIN_FAMILIES[domain]
    w = {f: (weights or {}).get(f, 1.0) for f in fams}
    total = sum(w.values())
    counts = {f: int(round(n * w[f] / total)) for f in fams}
    counts[fams[-1]] += n - sum(counts.values())
    rows: list[dict] = []
    for f in fams:
        held = {it["split_key"] for it in _items(f, n_test, seed, set(), "test")}
        rows += _items(f, counts[f], seed, held, f"train-{domain}")
    random.Random(f"{seed}|{domain}|order").shuffle(rows)
    return [{k: v for k, v in r.items() if k != "split_key"} for r in rows]


# ---------------------------------------------------------------- solving from the text alone
_RE = {
    "math-oe": re.compile(
        r"(?:compute|calculate|evaluate|work out) \((\d)\+(\d)\)\*(\d)-(\d)\.", re.IGNORECASE
    ),
    "math-mc": re.compile(r"What is (\d)\*(\d)\+(\d)\*(\d)\? (.*)$"),
    "general-mc": re.compile(r"Which of these is an? (\w+)\? (.*)$"),
    "general-oe": re.compile(r"colour (?:is|of) the (\w+)[?.]"),
}
_OPT = re.compile(r"([A-D])\) (\S+)")


def family_of(prompt: str) -> str | None:
    for fam in ("math-oe", "math-mc", "general-mc", "general-oe"):
        if _RE[fam].search(prompt):
            return fam
    return None


def solve(prompt: str) -> Solution:
    """Answer a world prompt from its text; raises ValueError for text outside the world."""
    fam = family_of(prompt)
    if fam is None:
        raise ValueError("not a tiny-world prompt")
    m = _RE[fam].search(prompt)
    assert m is not None
    if fam == "math-oe":
        a, b, c, d = map(int, m.groups())
        s, p = a + b, (a + b) * c
        return Solution(str(p - d), (f"{a}+{b}={s}", f"{s}*{c}={p}", f"{p}-{d}={p - d}"))
    if fam == "math-mc":
        a, b, c, d = map(int, m.groups()[:4])
        p, q = a * b, c * d
        opts = dict((v, k) for k, v in _OPT.findall(m.group(5)))
        letter = opts[str(p + q)]
        steps = (f"{a}*{b}={p}", f"{c}*{d}={q}", f"{p}+{q}={p + q}", f"{p + q} is {letter}")
        return Solution(letter, steps)
    if fam == "general-oe":
        # A one-step look-up has nothing to decompose: the trace states no intermediate fact (not
        # even the asked thing, which would hand the student a copy path IFT lacks), so this
        # family is the negative control.
        return Solution(COLOURS[m.group(1)], ("a single fact to recall",))
    cat = m.group(1)
    for letter, word in _OPT.findall(m.group(2)):
        if word in CATEGORIES[cat]:
            art = "an" if cat[0] in "aeiou" else "a"
            return Solution(letter, (f"{word} is {art} {cat}", f"{word} is {letter}"))
    raise ValueError("no option belongs to the category")


def corpus(seed: int = 0, n: int = 400) -> list[str]:
    """Text for training the tiny tokenizer: prompts and both answer styles of every family."""
    from ponder.lm.scripted import ift_answer, reasoning_answer

    texts = []
    for fam in FAMILIES:
        for it in _items(fam, n, seed + 1, set(), "corpus"):
            sol = solve(it["prompt"])
            texts += [it["prompt"], ift_answer(sol), reasoning_answer(sol)]
    return texts
