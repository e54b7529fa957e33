"""Chat-template encoding with answer-only labels, token-measured batches, and packing (App. B).

Encoding: each example is rendered through the student's own chat template, split at the end of
the generation prompt; prompt tokens get label -100 and the assistant turn (its `<think>…</think>`
block, the answer and the end-of-turn token) is trained. The two parts are tokenised separately so
BPE never merges across the boundary. Examples longer than `max_seq_len` keep their prompt and
lose the tail of the answer (counted).

Batches (Appendix B measures the global batch in tokens, 262,144): consecutive examples in
training order form one optimizer step until the step holds `global_batch_tokens` real tokens;
a step's examples are then split into micro-batches (length-sorted rows, so padding is small).
With `packing`, a step is exactly K = global_batch_tokens // max_seq_len windows of max_seq_len
tokens, filled from a buffer of two steps' worth of consecutive examples (`_fill`); examples
that do not fit carry over and are placed first in the next step (in the tests no example moves
by more than three steps). The step plan never depends on
micro-batch size or world size, so those only change how one step's gradient is accumulated.

Rows carry per-example position ids and no attention mask: transformers then builds a
block-diagonal causal mask (sdpa/eager) or runs the varlen flash kernel, so packed examples never
attend to each other. Padding is its own position-id segment with label -100.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from ponder.errors import PonderError

IGNORE = -100
PACK_LOOKAHEAD = 2  # steps of examples the packer chooses from (examples move ≤ 3 steps)


@dataclass
class Encoded:
    """Token ids of examples, flat, with an index (one int32 array beats 30k Python lists).

    `ids` is an in-memory array or a `np.memmap` of a token store (train/tokens.py); example i is
    `ids[starts[i] : starts[i] + lengths[i]]`, so a view (epochs, a token cap) only re-indexes.
    """

    ids: np.ndarray
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64, after truncation to max_seq_len
    n_prompt: np.ndarray  # prompt tokens of each example (label -100)
    cut: np.ndarray | None = None  # bool: the example lost the tail of its answer

    @classmethod
    def from_rows(cls, ids, starts, full_lengths, n_prompt, max_seq_len: int, name) -> Encoded:
        """Truncate rows to `max_seq_len` (the prompt stays whole); `name(i)` names example i."""
        full = np.asarray(full_lengths, dtype=np.int64)
        n_prompt = np.asarray(n_prompt, dtype=np.int64)
        short = np.flatnonzero(n_prompt + 1 > max_seq_len)
        if len(short):
            i = int(short[0])
            raise PonderError(
                f"example {name(i)}: prompt of {n_prompt[i]} tokens leaves no room for an "
                f"answer within train.max_seq_len={max_seq_len}"
            )
        return cls(
            ids,
            np.asarray(starts, dtype=np.int64),
            np.minimum(full, max_seq_len),
            n_prompt,
            full > max_seq_len,
        )

    @property
    def answer_lengths(self) -> np.ndarray:
        return self.lengths - self.n_prompt

    @property
    def truncated(self) -> int:
        return 0 if self.cut is None else int(self.cut.sum())

    def take(self, index: np.ndarray | slice) -> Encoded:
        """The examples at `index`, in that order (the token array is shared, not copied)."""
        cut = None if self.cut is None else self.cut[index]
        return Encoded(self.ids, self.starts[index], self.lengths[index], self.n_prompt[index], cut)

    def tokens(self, i: int) -> np.ndarray:
        a = int(self.starts[i])
        return self.ids[a : a + int(self.lengths[i])]


def _split_renders(tokenizer, examples: list[dict]) -> tuple[list[str], list[str]]:
    """(prompt text, assistant text) per example, as the chat template renders them."""

    def render(prompt: str, completion: str | None) -> str:
        msgs = [{"role": "user", "content": prompt}]
        if completion is not None:
            msgs.append({"role": "assistant", "content": completion})
        return tokenizer.apply_chat_template(
            msgs, tokenize=False, add_generation_prompt=completion is None
        )

    # Render once with sentinels and reuse the frame when the template inserts content verbatim
    # (checked on the first examples): Jinja per example costs seconds on 30k examples.
    p_tag, c_tag = "\x00PROMPT\x00", "\x00ANSWER\x00"
    head = render(p_tag, None)
    full = render(p_tag, c_tag)
    fast = head.count(p_tag) == 1 and full.startswith(head) and full.count(c_tag) == 1
    if fast:
        h0, h1 = head.split(p_tag)
        c0, c1 = full[len(head) :].split(c_tag)
        for ex in examples[:4]:
            fast &= render(ex["prompt"], None) == h0 + ex["prompt"] + h1
            fast &= render(ex["prompt"], ex["completion"]) == (
                h0 + ex["prompt"] + h1 + c0 + ex["completion"] + c1
            )
    if fast:
        return [h0 + ex["prompt"] + h1 for ex in examples], [
            c0 + ex["completion"] + c1 for ex in examples
        ]
    prompts, completions = [], []
    for ex in examples:
        p, f = render(ex["prompt"], None), render(ex["prompt"], ex["completion"])
        if not f.startswith(p):
            raise PonderError(
                f"example {ex['id']}: chat template output does not extend its prompt"
            )
        prompts.append(p)
        completions.append(f[len(p) :])
        if "<think>" in ex["completion"] and "<think>" not in completions[-1]:
            raise PonderError(f"example {ex['id']}: the chat template dropped the <think> block")
    return prompts, completions


def encode_rows(tokenizer, examples: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flat int32 ids, full lengths, prompt lengths) of examples, untruncated: what one token
    store batch holds (train/tokens.py) and what `encode` truncates."""
    prompts, completions = _split_renders(tokenizer, examples)
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(completions, add_special_tokens=False)["input_ids"]
    n_prompt = np.fromiter(map(len, p_ids), dtype=np.int32, count=len(p_ids))
    lengths = n_prompt + np.fromiter(map(len, c_ids), dtype=np.int32, count=len(c_ids))
    flat = chain.from_iterable(chain.from_iterable(zip(p_ids, c_ids, strict=True)))
    ids = np.fromiter(flat, dtype=np.int32, count=int(lengths.sum()))
    return ids, lengths.astype(np.int64), n_prompt


def encode(tokenizer, examples: list[dict], max_seq_len: int) -> Encoded:
    """Tokenise examples in memory through the chat template; labels are implied by `n_prompt`.

    Training reads a token store instead (train/tokens.py: the same rows, on disk, mapped).
    """
    if not examples:
        raise PonderError("mix: no training examples")
    ids, lengths, n_prompt = encode_rows(tokenizer, examples)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return Encoded.from_rows(
        ids, starts, lengths, n_prompt, max_seq_len, lambda i: examples[i]["id"]
    )


@dataclass
class Step:
    """One optimizer step: micro-batches of rows, each row a list of example indices."""

    micro: list[list[list[int]]]
    tokens: int  # real (non-pad) tokens
    answer_tokens: int  # tokens that carry a label
    slots: int = 0  # padded token slots, filled at collate time
    examples: list[int] = field(default_factory=list)


def _split(rows: list[list[int]], micro_batch_size: int, world_size: int) -> list[list[list[int]]]:
    # Micro-batch count rounded up to a multiple of the world size: every rank does the same
    # number of forwards per step (DDP needs matching backward calls).
    n = -(-len(rows) // micro_batch_size)
    n = -(-n // world_size) * world_size
    bounds = np.linspace(0, len(rows), n + 1).round().astype(int)
    return [rows[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _fill(free: list[int], rows: list[list[int]], pool: list[int], lengths: np.ndarray):
    """Fill windows in turn from `pool`; returns the examples left over, in training order.

    Each pick is the longest example that either closes the window or leaves room for the
    shortest one still available. Plain best-fit decreasing places the long examples first and
    leaves every window a gap shorter than any example (tiny world, 256-token windows: 92%
    non-pad); closing gaps on purpose reaches 99%.
    """
    buckets: dict[int, deque] = {}
    for i in pool:
        buckets.setdefault(int(lengths[i]), deque()).append(i)
    avail = sorted(buckets)  # distinct lengths still available
    for w in range(len(free)):
        r = free[w]
        while avail and avail[0] <= r:
            j = bisect_right(avail, r) - 1
            while j > 0 and 0 < r - avail[j] < avail[0]:
                j -= 1
            n = avail[j]
            rows[w].append(buckets[n].popleft())
            if not buckets[n]:
                del buckets[n], avail[j]
            r -= n
        free[w] = r
    return sorted(i for q in buckets.values() for i in q)


def plan_steps(
    enc: Encoded,
    global_batch_tokens: int,
    micro_batch_size: int,
    world_size: int = 1,
    packing: bool = False,
    window: int = 0,
) -> list[Step]:
    """Group examples (in order) into optimizer steps of ~global_batch_tokens real tokens."""
    lengths, answers = enc.lengths, enc.answer_lengths
    steps: list[Step] = []

    def add(rows: list[list[int]]) -> None:
        flat = [i for r in rows for i in r]
        steps.append(
            Step(
                micro=_split(rows, micro_batch_size, world_size),
                tokens=int(lengths[flat].sum()),
                answer_tokens=int(answers[flat].sum()),
                examples=flat,
            )
        )

    if packing:
        if window <= 0:
            raise PonderError("train.max_seq_len: packing needs a positive window")
        if int(lengths.max()) > window:
            raise PonderError(f"train.max_seq_len: an example of {lengths.max()} tokens exceeds it")
        k = max(1, global_batch_tokens // window)
        # Two steps' worth of examples to choose from: with exactly one, the last windows keep
        # gaps that nothing left fits. Carried-over examples go in first, so none waits long.
        pending, carried = deque(range(len(lengths))), []
        while pending or carried:
            buffer, total = [], int(lengths[carried].sum())
            while pending and total < PACK_LOOKAHEAD * k * window:
                buffer.append(pending.popleft())
                total += int(lengths[buffer[-1]])
            free, rows = [window] * k, [[] for _ in range(k)]
            carried = _fill(free, rows, carried, lengths)
            carried = sorted(carried + _fill(free, rows, buffer, lengths))
            add([r for r in rows if r])
        return steps

    start, total = 0, 0
    for i, n in enumerate(lengths.tolist()):
        if total and total + n > global_batch_tokens:
            add([[j] for j in sorted(range(start, i), key=lambda j: lengths[j])])
            start, total = i, 0
        total += n
    add([[j] for j in sorted(range(start, len(lengths)), key=lambda j: lengths[j])])
    return steps


def collate(enc: Encoded, rows: list[list[int]], pad_id: int, pad_to: int = 0) -> dict:
    """Tensors for one micro-batch: input_ids, position_ids, labels (no attention mask)."""
    import torch

    # A rank whose share of a small step is empty still runs a forward (the collectives of
    # DDP/FSDP need every rank): one row of padding, no labels, zero loss.
    rows = rows or [[]]
    width = max(pad_to, 1, *(int(enc.lengths[r].sum()) for r in rows))
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    pos = np.empty((len(rows), width), dtype=np.int64)
    labels = np.full((len(rows), width), IGNORE, dtype=np.int64)
    for b, row in enumerate(rows):
        t = 0
        for i in row:
            toks, p = enc.tokens(i), int(enc.n_prompt[i])
            n = len(toks)
            ids[b, t : t + n] = toks
            pos[b, t : t + n] = np.arange(n)
            labels[b, t + p : t + n] = toks[p:]
            t += n
        pos[b, t:] = np.arange(width - t)  # padding: a segment of its own
    return {
        "input_ids": torch.from_numpy(ids),
        "position_ids": torch.from_numpy(pos),
        "labels": torch.from_numpy(labels),
    }
