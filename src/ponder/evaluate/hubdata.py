"""Where a benchmark's rows come from: the hub, the data dir's hub cache, or local release files.

For each role (test items, few-shot examples) `load_part` looks, in order, at:
1. `--data-dir hub`: the hub itself, through `datasets.load_dataset` (network, accepted terms);
2. the data dir's cache, `<data dir>/hub/<id>/<config>/<split>.parquet`, which
   `ponder data download` fills (Parquet keeps the hub's nested types: SQuAD's answers struct,
   MMLU's ClassLabel index, CoQA's lists);
3. the official release files of the definition's `local` part (`layouts.py`);
and otherwise fails with one line saying how to get the data. `fetch` is the one place that
calls the hub; `hub_root` replaces the hub by a folder of hub-shaped copies
(`<root>/<owner>/<name>/` with the repository's files), which is how tests and offline mirrors
run the same code path.
"""

from __future__ import annotations

import re
from pathlib import Path

from ponder.errors import PonderError
from ponder.evaluate.layouts import read_local
from ponder.evaluate.readers import Source
from ponder.evaluate.spec import BenchmarkSpec, HubSource, Part
from ponder.resources import resource

HUB = "hub"  # the --data-dir value that reads the hub directly


def cache_path(data_dir: Path, src: HubSource) -> Path:
    return Path(data_dir) / "hub" / src.cache_name


def fetch(src: HubSource, hub_root: Path | None = None, benchmark: str = ""):
    """One hub split as a pyarrow Table, in its published schema (the hub, or `hub_root/<id>`)."""
    import datasets

    where = str(Path(hub_root) / src.id) if hub_root else src.id
    if hub_root and not Path(where).is_dir():
        raise PonderError(
            f"{benchmark}: no copy of {src.id} in {hub_root} (expected folder {where})"
        )
    datasets.disable_progress_bars()
    # Listed files are loaded one by one and concatenated: SciBench's files do not all have the
    # same columns (class.json carries `solution`), which one JSON builder call rejects.
    groups = [[f] for f in src.data_files] if src.data_files else [None]
    # A local copy is built in a fresh cache every time: `datasets` may otherwise reuse the
    # build (and features) of an earlier version of the same folder.
    import tempfile

    scratch = tempfile.TemporaryDirectory() if hub_root else None
    try:
        tables = [
            datasets.load_dataset(
                where,
                src.config,
                split=src.split,
                data_files=g,
                cache_dir=scratch.name if scratch else None,
            ).with_format("arrow")[:]
            for g in groups
        ]
    except Exception as e:  # datasets raises many types (offline, gated, missing split): one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        hint = ""
        if not hub_root:
            hint = (
                "; offline or gated? run `ponder data download` where the hub is reachable, "
                "or pass --from DIR with a copy"
            )
        raise PonderError(
            f"{benchmark}: cannot load {src.label} from {where} ({first[:200]}){hint}"
        ) from None
    finally:
        if scratch is not None:
            tables = [t.combine_chunks() for t in tables] if "tables" in locals() else []
            scratch.cleanup()
    import pyarrow as pa

    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")


def _select(rows: list[dict], src: HubSource) -> list[dict]:
    for k, v in src.filter.items():
        rows = [r for r in rows if str(r.get(k)) == v]
    for k, pattern in src.match.items():
        rows = [r for r in rows if re.search(pattern, str(r.get(k) or ""))]
    return rows


def _hub_chunks(spec: BenchmarkSpec, part: Part, data_dir, hub_root) -> list | None:
    """(Source, rows) per hub split, from the hub or the cache; None when not all are cached."""
    import pyarrow.parquet as pq

    out = []
    for h in part.hub:
        tag = h.tag or spec.name
        if str(data_dir) == HUB:
            table = fetch(h, hub_root, spec.name)
        else:
            path = cache_path(data_dir, h)
            if not path.is_file():
                return None
            table = pq.read_table(path)
        out.append((Source(spec.name, h.label, tag), _select(table.to_pylist(), h)))
    return out


def _local_chunks(spec: BenchmarkSpec, part: Part, data_dir: Path) -> list | None:
    loc = part.local
    if loc is None:
        return None
    paths = [Path(data_dir) / p for p in loc.paths]
    found = [p for p in paths if p.is_file()]
    if loc.any_path:
        found = found[:1]
    if not found or (not loc.any_path and len(found) < len(paths)):
        return None

    def tag(p: Path) -> str:  # several files: one prefix each (aime24, abstract_algebra, ...)
        return loc.tag or (spec.name if len(found) == 1 else re.sub(r"_(test|dev)$", "", p.stem))

    return [(Source(spec.name, str(p), tag(p)), read_local(loc.layout, p)) for p in found]


def _builtin_chunks(spec: BenchmarkSpec, part: Part) -> list:
    import yaml

    path = resource("prompts", "fewshot", part.builtin)
    rows = yaml.safe_load(path.read_text())["examples"]
    return [(Source(spec.name, f"prompts/fewshot/{part.builtin}", f"{spec.name}-demo"), rows)]


def load_part(spec: BenchmarkSpec, part: Part, data_dir, role: str, hub_root=None) -> list:
    """[(Source, hub-schema rows)] of one role ("test" or "few-shot"), from the first place that
    has them all (see the module docstring); one clear error when none has."""
    if part.builtin:
        return _builtin_chunks(spec, part)
    hub = _hub_chunks(spec, part, data_dir, hub_root) if part.hub else None
    if hub is not None:
        return hub
    local = _local_chunks(spec, part, data_dir)
    if local is not None:
        return local
    wants = []
    if part.hub:
        ids = ", ".join(sorted({h.id for h in part.hub}))
        wants.append(f"run `ponder data download {spec.name}` (fills it from the hub: {ids})")
    if part.local:
        sep = " or " if part.local.any_path else ", "
        wants.append(f"provide {sep.join(part.local.paths)} (the official release files)")
    note = f"; {spec.note}" if spec.note else ""
    raise PonderError(f"{spec.name}: no {role} data in {data_dir}: {' or '.join(wants)}{note}")
