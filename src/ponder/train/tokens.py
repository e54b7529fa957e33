"""Token stores: a mix tokenised once, on disk, memory-mapped by every training rank.

At the paper's scale a mix is ~990k examples × ~2.7k tokens; as Python lists that is ~100 GB per
rank before the first step. Instead one process per mix and tokenizer renders and tokenises it
(`batching.encode_rows`, in a process pool over the mix's Parquet record batches, so memory
follows the batch, not the mix) into a folder:

    tokens.bin     int32 token ids of every example, prompt then answer, in file order
    starts.npy     int64, per example in training order: its first token in tokens.bin
    lengths.npy    int64, untruncated token count (max_seq_len is applied when a rank opens it)
    n_prompt.npy   int32, prompt tokens (label -100)
    rows.npy       int64, the example's row in the mix file (names it in error messages)
    ids.parquet    the examples' ids, in file order
    meta.json      written last: format, key, counts, tokenisation time

The folder's name is its key: the SHA-256 of the mix file's bytes and of the tokenizer (its full
serialisation and chat template), so a changed mix or tokenizer gets a new folder and an old one
is never read for it. It is built in a temporary sibling and renamed into place (`atomic_dir`), so
a killed build leaves nothing a reader trusts; builders take an flock on `<cache>/.lock`, and the
one that holds it removes temporary folders left by killed builds. `datasets.map` would first
copy the mix's text into its own Arrow cache; the pool writes the flat token file directly.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ponder.errors import PonderError
from ponder.rundir import atomic_dir, atomic_write_json
from ponder.train.batching import Encoded, encode_rows

FORMAT = 1
COLUMNS = ("id", "prompt", "completion")
BATCH_ROWS = 1024  # examples per task: ~10 MB of text at the paper's ~10 kB per example
_WORKER: dict = {}


def tokenizer_digest(tokenizer) -> str:
    """What decides the token ids: the tokenizer's full serialisation and its chat template."""
    h = hashlib.sha256(f"{FORMAT}\x1f{type(tokenizer).__name__}\x1f".encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = (
        backend.to_str()
        if backend is not None
        else json.dumps(sorted(tokenizer.get_vocab().items()))
    )
    h.update(body.encode())
    h.update(f"\x1f{tokenizer.chat_template or ''}".encode())
    return h.hexdigest()


def file_digest(path: Path) -> str:
    if not Path(path).is_file():
        raise PonderError(f"mix: {path}: no such file")
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def store_key(mix: Path, tokenizer) -> str:
    return f"{file_digest(mix)[:20]}-{tokenizer_digest(tokenizer)[:20]}"


def is_ready(store: Path) -> bool:
    return (store / "meta.json").is_file()


def _init_worker(tokenizer_dir: str) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the pool is the parallelism
    from transformers import AutoTokenizer

    _WORKER["tok"] = AutoTokenizer.from_pretrained(tokenizer_dir)


def _encode_batch(cols: dict, tokenizer=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [
        dict(zip(COLUMNS, r, strict=True)) for r in zip(*(cols[c] for c in COLUMNS), strict=True)
    ]
    return encode_rows(tokenizer or _WORKER["tok"], rows)


def _parquet(mix: Path):
    """The mix, opened to be read page by page (memory follows the batch, not the file)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(mix, pre_buffer=False, buffer_size=1 << 20)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise PonderError(f"mix: {mix}: not a readable Parquet file ({e})") from e
    missing = [c for c in COLUMNS if c not in pf.schema_arrow.names]
    if missing:
        raise PonderError(f"mix: {mix}: missing column(s) {', '.join(missing)}")
    return pf


def _batches(pf, batch_rows: int):
    """Column dicts of `batch_rows` examples (with `order` when the mix has it)."""
    cols = [*COLUMNS, "order"] if "order" in pf.schema_arrow.names else list(COLUMNS)
    for batch in pf.iter_batches(batch_size=batch_rows, columns=cols):
        yield batch.to_pydict()


def _encoded(pf, tokenizer, tokenizer_dir: Path, procs: int):
    """(column dict, (ids, lengths, n_prompt)) per batch in file order; a pool if procs > 1."""
    if procs <= 1:
        for cols in _batches(pf, BATCH_ROWS):
            yield cols, _encode_batch(cols, tokenizer)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a forked child would inherit torch's threads and the tokenizer's thread pool
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        procs, mp_context=ctx, initializer=_init_worker, initargs=(str(tokenizer_dir),)
    ) as pool:
        window: deque = deque()  # at most 2 batches per worker in flight: bounded memory
        for cols in _batches(pf, BATCH_ROWS):
            window.append((cols, pool.submit(_encode_batch, {c: cols[c] for c in COLUMNS})))
            if len(window) >= 2 * procs:
                cols0, fut = window.popleft()
                yield cols0, fut.result()
        while window:
            cols0, fut = window.popleft()
            yield cols0, fut.result()


def _build(mix: Path, tokenizer, tokenizer_dir: Path, procs: int, key: str, tmp: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0, total, pf = time.perf_counter(), 0, _parquet(mix)
    procs = procs if pf.metadata.num_rows > 2 * BATCH_ROWS else 1  # a pool pays from a few batches
    starts, lengths, n_prompt, order = [], [], [], []
    with (
        open(tmp / "tokens.bin", "wb") as out,
        pq.ParquetWriter(tmp / "ids.parquet", pa.schema([("id", pa.string())])) as id_writer,
    ):
        for cols, (ids, lens, n_p) in _encoded(pf, tokenizer, tokenizer_dir, procs):
            out.write(ids.tobytes())
            starts.append(total + np.concatenate([[0], np.cumsum(lens)[:-1]]))
            total += int(lens.sum())
            lengths.append(lens)
            n_prompt.append(n_p)
            order.append(np.asarray(cols.get("order", []), dtype=np.int64))
            id_writer.write_table(pa.table({"id": pa.array(cols["id"], pa.string())}))
    n = sum(map(len, lengths))
    if n == 0:
        raise PonderError(f"mix: {mix}: no training examples")
    # Training order: the mix's `order` column when it has one (stable), else file order.
    rows = np.argsort(np.concatenate(order), kind="stable") if len(order[0]) else np.arange(n)
    np.save(tmp / "starts.npy", np.concatenate(starts)[rows])
    np.save(tmp / "lengths.npy", np.concatenate(lengths)[rows])
    np.save(tmp / "n_prompt.npy", np.concatenate(n_prompt)[rows])
    np.save(tmp / "rows.npy", rows)
    seconds = time.perf_counter() - t0
    atomic_write_json(
        tmp / "meta.json",
        {
            "format": FORMAT,
            "key": key,
            "mix": str(mix),
            "examples": n,
            "tokens": total,
            "dtype": "int32",
            "procs": procs,
            "tokenize_s": round(seconds, 3),
            "tokens_per_s": round(total / seconds, 1) if seconds > 0 else None,
        },
    )


@contextmanager
def _locked(cache: Path):
    """Yields whether an exclusive flock on `<cache>/.lock` is held (False where the filesystem
    has no flock: the rename still guarantees that only whole stores are read)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_store(
    mix: Path, tokenizer, tokenizer_dir: Path, cache: Path, key: str, procs: int
) -> Path:
    """The store `<cache>/<key>` of this mix and tokenizer, built unless a whole one is there."""
    store = cache / key
    if is_ready(store):
        return store
    with _locked(cache) as locked:
        if is_ready(store):  # another process built it while this one waited
            return store
        if locked:  # no live builder can own them: they were left by killed builds
            for stale in cache.glob(".*"):
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
        atomic_dir(store, lambda tmp: _build(mix, tokenizer, tokenizer_dir, procs, key, tmp))
    return store


def wait_for_store(store: Path, poll_s: float = 1.0) -> None:
    """Block until another rank's build of `store` is whole (no collective: builds take long)."""
    while not is_ready(store):
        time.sleep(poll_s)


def open_store(store: Path, max_seq_len: int) -> Encoded:
    """The store as an `Encoded` view in training order, truncated to `max_seq_len`."""
    meta = json.loads((store / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise PonderError(f"token store {store}: format {meta.get('format')}, expected {FORMAT}")
    ids = np.memmap(store / "tokens.bin", dtype=np.int32, mode="r", shape=(meta["tokens"],))
    load = lambda name: np.load(store / f"{name}.npy")  # noqa: E731

    def name(i: int) -> str:
        import pyarrow.parquet as pq

        row = int(np.load(store / "rows.npy", mmap_mode="r")[i])
        return str(pq.read_table(store / "ids.parquet")["id"][row])

    return Encoded.from_rows(
        ids, load("starts"), load("lengths"), load("n_prompt"), max_seq_len, name
    )


def store_meta(store: Path) -> dict:
    return json.loads((store / "meta.json").read_text())
