"""The tiny synthetic task world: seeded (prompt, gold) generators in the paper's 2×2 taxonomy.

Four families, one per cell of §2.3's taxonomy (general vs math × multiple-choice vs open-ended):

| family     | task                                         | steps | role                        |
|------------|----------------------------------------------|-------|-----------------------------|
| general-mc | which of four words belongs to a category    | 1-4   | knowledge MC (a scan)       |
| general-oe | the colour of a thing (one of 16 facts)      | 1     | negative control: a look-up |
| math-mc    | which of four sums/products is even (or odd) | 1-4   | math MC (a scan)            |
| math-oe    | (a+b)*c-d                                    | 3     | positive control            |

Prompts follow Table 4: an instruction ending "… put the answer (and only answer) inside
\\boxed{}." then the question. Test and train splits are disjoint by the item's key (the underlying
problem, not just its wording), and both are fixed by the world seed. `capacity` says how many
distinct items a family holds. Reading a prompt back into its answer lives in tiny/solver.py.
"""

from __future__ import annotations

import hashlib
import math
import random

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

# general-mc: 30 memorised memberships. No word is also a general-oe thing or colour, so the MC
# traces state no fact the negative control asks for.
CATEGORIES = {
    "fruit": ["apple", "pear", "fig", "kiwi", "mango", "grape"],
    "animal": ["cat", "dog", "horse", "tiger", "sheep", "wolf"],
    "vehicle": ["car", "bus", "truck", "train", "boat", "bike"],
    "tool": ["hammer", "saw", "drill", "wrench", "rake", "axe"],
    "drink": ["tea", "coffee", "juice", "water", "soda", "wine"],
}
NAMES = (
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
)
# general-oe recalls one of 16 facts (a thing's colour); names, towns and wordings vary the prompt.
COLOURS = {
    "banana": "yellow",
    "lemon": "yellow",
    "grass": "green",
    "leaf": "green",
    "sky": "blue",
    "ocean": "blue",
    "snow": "white",
    "milk": "white",
    "coal": "black",
    "crow": "black",
    "cherry": "red",
    "tomato": "red",
    "carrot": "orange",
    "pumpkin": "orange",
    "plum": "purple",
    "violet": "purple",
}
TOWNS = ("Oslo", "Lima", "Rome", "Kyiv", "Bern", "Riga", "Doha", "Pune", "Graz", "Nice")
OE_TEMPLATES = (
    "{n} from {t} asks: what colour is the {w}?",
    "{n} from {t} wants to know the colour of the {w}.",
    "Tell {n} from {t} the colour of the {w}.",
    "{n} from {t} needs the colour of the {w}.",
)
# Wordings of the same math problem (the split is by numbers, so wording never leaks a test item).
MATH_OE_TEMPLATES = ("Compute", "Calculate", "Evaluate", "Work out")
PARITY = ("even", "odd")
# Operands 1-6: every sub-step (sums to 12, products to 72) is seen in training, so a student that
# writes the steps down can generalise to unseen problems, while a direct answer must compute the
# whole 3-step function at once (the paper's positive control in miniature).
MATH_DIGITS = (1, 6)


def _key_hash(family: str, key: tuple) -> str:
    return hashlib.sha1(f"{family}|{key}".encode()).hexdigest()[:12]


def _sample_key(family: str, rng: random.Random) -> tuple:
    d = lambda: rng.randint(*MATH_DIGITS)  # noqa: E731
    if family == "math-oe":
        # A name in the wording varies the surface of the same problem (1,296 problems only).
        return (d(), d(), d(), d(), rng.randrange(len(MATH_OE_TEMPLATES)), rng.choice(NAMES))
    if family == "math-mc":
        want = rng.randrange(2)  # 0: asks for the even one, 1: the odd one
        terms = [_parity_term(rng, want)]
        while len(terms) < 4:  # three distinct distractors of the other parity
            t = _parity_term(rng, 1 - want)
            terms += [t] if t not in terms else []
        pos = rng.randrange(4)
        terms.insert(pos, terms.pop(0))
        return (PARITY[want], tuple(terms), pos)
    if family == "general-oe":
        return (
            rng.choice(sorted(COLOURS)),
            rng.choice(NAMES),
            rng.choice(TOWNS),
            rng.randrange(len(OE_TEMPLATES)),
        )
    cats = sorted(CATEGORIES)
    cat = rng.choice(cats)
    others = rng.sample([c for c in cats if c != cat], 3)  # one distractor per other category
    words = tuple(rng.choice(CATEGORIES[c]) for c in others)
    return (cat, rng.choice(CATEGORIES[cat]), words, rng.randrange(4))


def _split_key(family: str, key: tuple) -> tuple:
    """The part of the key that defines the problem: math items with the same numbers are the
    same problem whatever their wording, options or family, so splits are disjoint by numbers."""
    return key[:4] if family == "math-oe" else key


def _parity_term(rng: random.Random, parity: int) -> str:
    """A sum or product of two operands (MATH_DIGITS) whose value has the given parity."""
    while True:
        a, b, op = rng.randint(*MATH_DIGITS), rng.randint(*MATH_DIGITS), rng.choice("+*")
        if term_value(f"{a}{op}{b}") % 2 == parity:
            return f"{a}{op}{b}"


def term_value(term: str) -> int:
    a, op, b = int(term[0]), term[1], int(term[2])
    return a + b if op == "+" else a * b


def render(family: str, key: tuple) -> tuple[str, str, list[str]]:
    """Return (question, gold, options) for a key."""
    if family == "math-oe":
        a, b, c, d, t, n = key
        q = f"{n} asks: {MATH_OE_TEMPLATES[t].lower()} ({a}+{b})*{c}-{d}."
        return q, str((a + b) * c - d), []
    if family == "math-mc":
        want, terms, pos = key
        lines = " ".join(f"{LETTERS[i]}) {t}" for i, t in enumerate(terms))
        return f"Which of these is {want}? {lines}", LETTERS[pos], list(terms)
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


def draw_items(family: str, n: int, seed: int, exclude: set, split: str) -> list[dict]:
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


def _held_out(family: str, n_test: int, seed: int) -> set:
    """Split keys no training item of `family` may have: the family's test problems."""
    return {it["split_key"] for it in draw_items(family, n_test, seed, set(), "test")}


def test_items(family: str, n: int = 200, seed: int = 0) -> list[dict]:
    """The held-out test set of one family: `n` items with distinct problems."""
    if family not in FAMILIES:
        raise ValueError(f"unknown world family {family!r} (known: {', '.join(FAMILIES)})")
    items = draw_items(family, n, seed, set(), "test")
    return [{k: v for k, v in it.items() if k != "split_key"} for it in items]


def train_prompts(
    domain: str, n: int, seed: int = 0, weights: dict[str, float] | None = None, n_test: int = 200
) -> list[dict]:
    """`n` training prompts of a domain (general: all four families; math: the math ones), with
    no problem shared with any family's first `n_test` test items."""
    fams = DOMAIN_FAMILIES[domain]
    w = {f: (weights or {}).get(f, 1.0) for f in fams}
    total = sum(w.values())
    counts = {f: int(round(n * w[f] / total)) for f in fams}
    counts[fams[-1]] += n - sum(counts.values())
    rows: list[dict] = []
    for f in fams:
        rows += draw_items(f, counts[f], seed, _held_out(f, n_test, seed), f"train-{domain}")
    random.Random(f"{seed}|{domain}|order").shuffle(rows)
    return [{k: v for k, v in r.items() if k != "split_key"} for r in rows]


def capacity(family: str, n_test: int) -> int | None:
    """Distinct training items a family can draw: its key space (`_sample_key`) less the held-out
    test items (math-oe: an upper bound, as a held-out problem removes all its wordings). None for
    a family this does not know. Past it `draw_items` gives up only after 200 tries per item."""
    lo, hi = MATH_DIGITS
    digits = hi - lo + 1
    if family == "math-oe":  # four operands x wording x asking name
        return digits**4 * len(MATH_OE_TEMPLATES) * len(NAMES) - n_test
    if family == "math-mc":  # asked parity x four distinct terms x position
        terms = digits * digits * 2  # a op b, two operators (some values repeat; an upper bound)
        return 2 * math.perm(terms, 4) * 4 - n_test
    if family == "general-oe":  # thing x name x town x wording
        return len(COLOURS) * len(NAMES) * len(TOWNS) * len(OE_TEMPLATES) - n_test
    if family == "general-mc":  # category x word x a word from 3 other categories x position
        per_cat = len(next(iter(CATEGORIES.values())))
        others = math.perm(len(CATEGORIES) - 1, 3) * per_cat**3
        return len(CATEGORIES) * per_cat * others * 4 - n_test
    return None
