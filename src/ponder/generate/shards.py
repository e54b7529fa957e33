"""Resumable sharded writer for the generate stage: rows committed in atomic Parquet shards.

A long generation (the paper's 1.6M prompt pairs) must survive `kill -9` at any moment. Finished
rows are committed `shard_size` at a time, each shard written to a temp file and renamed into
`pairs/.<domain>.shards/shard-NNNNNN.parquet`; a shard either exists whole or not at all. On
restart the ids already committed are skipped, so at most the in-flight requests are lost and no
row is written twice. `finalize` merges the shards into `pairs/<domain>.parquet` in source order.
The shard folder records the config hash it belongs to; a different hash starts it afresh.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ponder.rundir import atomic_write, atomic_write_json, atomic_write_parquet

# Sorting the merged table in memory is exact and simple; past this size merge shard by shard
# (each shard is already in source order) so memory stays flat at the paper's scale.
IN_MEMORY_MERGE_BYTES = 2 << 30


class ShardStore:
    """The committed shards of one artifact (`final`), valid for one config hash."""

    def __init__(
        self, final: Path, cfg_hash: str, schema: pa.Schema, series: str = "", owner: bool = True
    ) -> None:
        """`series` names this writer's shards (`shard-<series>NNNNNN`) when several processes
        commit to one folder; only the `owner` validates, stamps and cleans the folder."""
        self.final = Path(final)
        self.dir = self.folder(self.final)
        self.schema = schema
        self.series = series
        stamp = self.dir / "config.json"
        if not owner:
            if json.loads(stamp.read_text())["config_hash"] != cfg_hash:
                raise RuntimeError(f"{self.dir}: shards of another config")
            self._next = self._next_index()
            return
        if self.dir.exists():
            try:
                same = json.loads(stamp.read_text())["config_hash"] == cfg_hash
            except (OSError, ValueError, KeyError):
                same = False
            if not same:  # shards of another config must never leak into this one
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.dir.glob(".*.tmp"):  # a write killed before its rename
            tmp.unlink(missing_ok=True)
        if not stamp.exists():
            atomic_write_json(stamp, {"config_hash": cfg_hash})
        self._next = self._next_index()

    def _next_index(self) -> int:
        mine = [p.stem.removeprefix("shard-" + self.series) for p in self.shards()]
        return 1 + max((int(n) for n in mine if n.isdigit()), default=-1)

    @staticmethod
    def folder(final: Path) -> Path:
        return Path(final).parent / f".{Path(final).stem}.shards"

    @classmethod
    def discard(cls, final: Path) -> None:
        shutil.rmtree(cls.folder(final), ignore_errors=True)

    def shards(self) -> list[Path]:
        return sorted(self.dir.glob("shard-*.parquet"))

    def done_ids(self) -> set[str]:
        """Ids of every committed row (read from the `id` column only)."""
        done: set[str] = set()
        for p in self.shards():
            done.update(pq.read_table(p, columns=["id"]).column("id").to_pylist())
        return done

    def drop_rows_with(self, columns: list[str]) -> int:
        """Remove the committed rows where any of `columns` is set (a shard with such rows is
        rewritten atomically, so a kill leaves it old or new); returns how many went."""
        import pyarrow.compute as pc

        dropped = 0
        for p in self.shards():
            # the named columns only, first: rows to drop are rare, shards are big
            flags = pq.read_table(p, columns=columns, schema=self.schema)
            keep = pc.is_null(flags[columns[0]])
            for c in columns[1:]:
                keep = pc.and_(keep, pc.is_null(flags[c]))
            n_keep = pc.sum(keep).as_py() or 0
            if n_keep == flags.num_rows:
                continue
            dropped += flags.num_rows - n_keep
            if n_keep:
                atomic_write_parquet(p, pq.read_table(p, schema=self.schema).filter(keep))
            else:
                p.unlink()
        return dropped

    def drop_ids(self, ids: set[str]) -> int:
        """Remove the committed rows with these ids (each shard rewritten atomically), so the
        next run asks them again; returns how many went."""
        import pyarrow.compute as pc

        dropped = 0
        for p in self.shards():
            hit = pc.is_in(pq.read_table(p, columns=["id"])["id"], value_set=pa.array(list(ids)))
            n_hit = pc.sum(hit).as_py() or 0
            if not n_hit:
                continue
            dropped += n_hit
            table = pq.read_table(p, schema=self.schema)
            if n_hit == table.num_rows:
                p.unlink()
            else:
                atomic_write_parquet(p, table.filter(pc.invert(hit)))
        return dropped

    def commit(self, rows: list[dict]) -> Path | None:
        """Write `rows` as the next shard, atomically. Rows are sorted by source index."""
        if not rows:
            return None
        rows = sorted(rows, key=lambda r: r["idx"])
        table = pa.Table.from_pylist(rows, schema=self.schema)
        path = self.dir / f"shard-{self.series}{self._next:06d}.parquet"
        atomic_write_parquet(path, table)
        self._next += 1
        return path

    def read_all(self, columns: Iterable[str] | None = None) -> pa.Table:
        parts = [pq.read_table(p, columns=columns, schema=self.schema) for p in self.shards()]
        if not parts:
            return self.schema.empty_table()
        return pa.concat_tables(parts)

    def finalize(self, drop: tuple[str, ...] = ("idx",), extend=None) -> int:
        """Merge all shards into `final` (atomically), in source order; returns the row count.
        `extend(table) -> table` adds columns computed from each part's rows (the mode flags)."""
        shards = self.shards()
        keep = [n for n in self.schema.names if n not in drop]
        extend = extend or (lambda t: t)
        if sum(p.stat().st_size for p in shards) <= IN_MEMORY_MERGE_BYTES:
            table = self.read_all()
            table = table.sort_by("idx") if table.num_rows else table
            atomic_write_parquet(self.final, extend(table.select(keep)))
            return table.num_rows
        order = sorted(shards, key=lambda p: pq.read_table(p, columns=["idx"])["idx"][0].as_py())
        out_schema = extend(pa.schema([self.schema.field(n) for n in keep]).empty_table()).schema
        n = 0

        def write(tmp: Path) -> None:
            nonlocal n
            with pq.ParquetWriter(tmp, out_schema) as w:
                for p in order:
                    t = extend(pq.read_table(p, schema=self.schema).select(keep))
                    w.write_table(t)
                    n += t.num_rows

        atomic_write(self.final, write)
        return n

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
