"""Deep checks of a study before anything is written: what a stage would otherwise fail on minutes
into a run, leaving a half-built run directory behind.

The schema (`ponder.config`) checks each value on its own; this module checks what needs the
world, the registries and the files: world domains and how many distinct prompts a world family
holds, benchmarks known and their data present, prompt sources readable with their columns and at
least one row, pretrained students found, checkpoint arms found and matching their labels
(pipeline/checkpoint_checks.py), the report's reference run present. Each failure is one
`PonderError` naming the field (`domains.general.source.path: file not found: …`).

`validate_study(cfg, steps)` checks what `steps` read (default: every step of the study; the
registry checks always run); `validate_run` is what `ponder run` and the stage commands call: the
steps the command would run that the ledger does not record as done, so a finished stage's inputs
are not asked for again.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

from ponder.config import StudyConfig
from ponder.errors import PonderError, first_line
from ponder.pipeline import ledger
from ponder.pipeline.checkpoint_checks import HUB_ID
from ponder.pipeline.expand import expand
from ponder.pipeline.steps import Step, StepKind
from ponder.rundir import RunDir

# A Hugging Face hub id: `org/name` (models and datasets), or a legacy canonical dataset `name`.
# The hub cannot be reached from every machine that validates, so an id is accepted by its form.
HUB_DATASET = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def validate_study(
    cfg: StudyConfig, steps: Iterable[Step] | None = None, *, data: bool = True
) -> None:
    """Raise one PonderError for the first thing `steps` would fail on (default: every step).
    `data=False` skips the benchmark files (a cluster plan: the jobs find them on the cluster)."""
    check_registries(cfg)
    steps = expand(cfg) if steps is None else list(steps)
    kinds: dict[StepKind, list[str]] = {}
    for s in steps:
        key = s.domain if s.kind is StepKind.GENERATE else s.student or s.benchmark
        if key is not None and key not in kinds.setdefault(s.kind, []):
            kinds[s.kind].append(key)
    for domain in kinds.get(StepKind.GENERATE, []):
        check_source(cfg, domain)
    if any(cfg.domains[d].source.kind != "paired" for d in kinds.get(StepKind.GENERATE, [])):
        from ponder.lm.recipe import check_pair

        check_pair(cfg.teacher)
    for student in kinds.get(StepKind.STUDENT, []):
        check_student(cfg, student)
    for bench in kinds.get(StepKind.EVAL, []) if data else []:
        check_benchmark_data(cfg, bench)
    arms = {s.target.model: s.target.checkpoint for s in steps if s.kind is StepKind.EVAL}
    check_arms(cfg, [c for c in arms.values() if c is not None])
    if any(s.kind is StepKind.REPORT for s in steps):
        check_compare_to(cfg)


def check_arms(cfg: StudyConfig, arms: list) -> None:
    """Every checkpoint arm found and as labelled; one note for the hub ones left unread."""
    from rich.console import Console

    from ponder.pipeline.checkpoint_checks import check_checkpoint, unchecked_note

    left = [(c.name, what) for c in arms if (what := check_checkpoint(cfg, c)) is not None]
    if left:
        note = unchecked_note([n for n, _ in left], left[0][1])
        Console(stderr=True, highlight=False, soft_wrap=True).print(note)


def check_compare_to(cfg: StudyConfig) -> None:
    """`report.compare_to` is a run directory with results.parquet, or a results.parquet."""
    ref = cfg.report.compare_to
    if ref is None:
        return
    path = Path(ref).expanduser()
    table = path / "results.parquet" if path.is_dir() else path
    if not table.is_file():
        raise PonderError(
            f"report.compare_to: {ref}: no results.parquet there (a run directory of a study "
            "that evaluated the reference checkpoints, or its results.parquet)"
        )


def validate_run(
    cfg: StudyConfig,
    rd: RunDir,
    stage: str | None = None,
    only: list[str] | None = None,
    rerun_outdated: bool = False,
) -> None:
    """Validate what a local run of `stage` (or of the `only` step ids) would execute now."""
    from ponder.pipeline.runner import select

    check_registries(cfg)  # a config mistake comes before a step the config cannot have
    steps = {s.id: s for s in expand(cfg)}
    wanted = [steps[sid] for sid in select(steps, stage, only)]
    validate_study(cfg, pending(rd, wanted, rerun_outdated))


def pending(rd: RunDir, steps: list[Step], rerun_outdated: bool = False) -> list[Step]:
    """The steps a run executes: those the ledger does not record as done (and, with
    --rerun-outdated, those another ponder version made)."""
    redo = set(ledger.outdated(rd, steps)) if rerun_outdated else set()
    return [s for s in steps if s.id in redo or not ledger.is_done(rd, s)]


# ---------------------------------------------------------------- registries (no files)
def check_registries(cfg: StudyConfig) -> None:
    """World families and domains real, each world domain with a non-zero weight and enough
    distinct prompts for `n`; benchmarks known."""
    from ponder.evaluate.benchmarks import list_benchmarks
    from ponder.tiny import world

    for fam in cfg.world.weights:
        if fam not in world.FAMILIES:
            raise PonderError(
                f"world.weights: unknown family {fam!r} (families: {', '.join(world.FAMILIES)})"
            )
    known = list_benchmarks()
    for b in cfg.eval.benchmarks:
        if b not in known:
            raise PonderError(
                f"eval.benchmarks: unknown benchmark {b!r} (known: {', '.join(known)})"
            )
    for domain, dcfg in cfg.domains.items():
        if dcfg.source.kind != "world":
            continue
        if domain not in world.DOMAIN_FAMILIES:
            have = ", ".join(world.DOMAIN_FAMILIES)
            raise PonderError(
                f"domains.{domain}: the world has no domain {domain!r} (world domains: {have})"
            )
        _check_world_counts(cfg, domain)


def _check_world_counts(cfg: StudyConfig, domain: str) -> None:
    from ponder.tiny import world

    fams = world.DOMAIN_FAMILIES[domain]
    w = {f: cfg.world.weights.get(f, 1.0) for f in fams}  # as world.train_prompts weighs them
    if sum(w.values()) <= 0:
        raise PonderError(
            f"world.weights: every family of domain {domain!r} ({', '.join(fams)}) has weight 0"
        )
    n = cfg.domains[domain].source.n
    for fam in fams:
        need, cap = math.ceil(n * w[fam] / sum(w.values())), world.capacity(fam, cfg.world.n_test)
        if cap is not None and need > cap:
            raise PonderError(
                f"domains.{domain}.source.n: {n} prompts take {need} distinct {fam} items; the "
                f"world holds {cap} (lower n, or world.weights.{fam})"
            )


# ---------------------------------------------------------------- files
def check_source(cfg: StudyConfig, domain: str) -> None:
    """A file source exists, is readable, has its columns and a first usable row; a hub source
    is a well-formed id (or a local folder)."""
    from ponder.generate.sources import iter_pairs, iter_prompts

    src, field = cfg.domains[domain].source, f"domains.{domain}.source"
    if src.kind == "world":
        return
    if not src.path:
        if not (HUB_DATASET.fullmatch(src.dataset) or Path(src.dataset).is_dir()):
            raise PonderError(
                f"{field}.dataset: {src.dataset!r} is neither a hub id (org/name) "
                "nor a local folder"
            )
        return  # the hub is asked at generation time
    path = Path(src.path)
    if not path.is_file():
        raise PonderError(f"{field}.path: file not found: {path}")
    try:
        with path.open("rb") as f:
            if not f.read(1):
                raise PonderError(f"{field}.path: {path} is empty")
        rows = iter_pairs(cfg, domain) if src.kind == "paired" else iter_prompts(cfg, domain)
        first = next(rows, None)
    except PonderError as e:
        raise PonderError(_in_domain(str(e), domain)) from None
    except Exception as e:  # pyarrow raises many types while reading a batch; one line for all
        raise PonderError(f"{field}.path: cannot read {path} ({first_line(e)})") from None
    if first is None:
        raise PonderError(f"{field}.path: {path} has no rows")


def _in_domain(msg: str, domain: str) -> str:
    """A sources.py message (`source.column: …`, `source X: …`) under its domain's field."""
    if msg.startswith("source."):
        return f"domains.{domain}.{msg}"
    if msg.startswith("domains."):
        return msg
    return f"domains.{domain}.source: {msg.removeprefix('source ')}"


def check_student(cfg: StudyConfig, name: str) -> None:
    """A pretrained student's `path` is a checkpoint folder with config.json, or a hub id."""
    i, s = next((i, s) for i, s in enumerate(cfg.students) if s.name == name)
    if s.init != "pretrained":
        return
    field, path = f"students.{i}.path", Path(s.path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise PonderError(f"{field}: {path} has no config.json (not a Hugging Face checkpoint)")
        return
    if path.exists():
        raise PonderError(f"{field}: {path} is a file; give the checkpoint's folder")
    local = s.path.startswith(("/", ".", "~")) or (path.parent != Path() and path.parent.is_dir())
    if local or not HUB_ID.fullmatch(s.path):
        raise PonderError(
            f"{field}: folder not found: {s.path} "
            "(a checkpoint folder with config.json, or a hub id org/name)"
        )


def check_benchmark_data(cfg: StudyConfig, name: str) -> None:
    """The benchmark's data files are present and readable in `eval.data_dir` (default:
    $PONDER_DATA_DIR, else the user cache); the tiny families need none, `hub` is asked later."""
    from ponder.evaluate.benchmarks import load_benchmark

    data_dir = cfg.eval.data_dir
    if name.startswith("tiny-") or data_dir == "hub":
        return
    if data_dir and not Path(data_dir).is_dir():
        raise PonderError(f"eval.data_dir: folder not found: {data_dir}")
    try:
        with warnings.catch_warnings():  # an item-count warning is the eval stage's to give
            warnings.simplefilter("ignore")
            load_benchmark(name, Path(data_dir) if data_dir else None, limit=1)
    except PonderError as e:  # its hints name the `ponder eval` flag; a study sets eval.data_dir
        hint = (
            str(e)
            .replace("--data-dir hub", "eval.data_dir: hub")
            .replace("--data-dir", "eval.data_dir")
        )
        raise PonderError(f"eval.benchmarks: {hint}") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, RecursionError) as e:
        raise PonderError(
            f"eval.benchmarks: {name}: cannot read its data ({first_line(e)})"
        ) from None
