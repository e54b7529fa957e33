"""Expand a study into steps and run them with caching and resume.

The grid (§2.2: students × domains × ρ × schedules, §3.3: bi-phasic arms) becomes a list of
`Step`s — generate, student, mix, train, eval, judge, results, report — each with the steps it
depends on, the artifact it writes and a hash of exactly the config that determines it (chained
through its dependencies). A step whose artifact's manifest records the same hash is skipped, so a
finished study re-runs instantly, a killed one resumes, and a changed config re-runs exactly the
affected steps. The cluster planner (plan.py) schedules the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ponder.config import StudyConfig
from ponder.rundir import config_hash

STAGES = ("generate", "student", "mix", "train", "eval", "judge", "results", "report")


@dataclass
class Step:
    id: str
    kind: str
    depends_on: list[str]
    params: dict
    artifact: str  # relative to the run directory
    hash: str = ""
    extra: dict = field(default_factory=dict)


def fmt_ratio(r: float) -> str:
    return f"{r:g}"


def phase_tag(domain: str, ratio: float) -> str:
    return f"{domain}-r{fmt_ratio(ratio)}"


def model_id(student: str, phases: list[tuple[str, float]], schedule: str, seed: int) -> str:
    """e.g. `tiny-2m_general-r1_sequential` or `tiny-2m_general-r0+math-r1_sequential_s1`."""
    tag = "+".join(phase_tag(d, r) for d, r in phases)
    return f"{student}_{tag}_{schedule}" + (f"_s{seed}" if seed else "")


def _canon_schedule(ratio: float, schedule: str) -> str:
    # With ρ ∈ {0, 1} the mix has one style only: sequential and mixed are the same run.
    return "sequential" if ratio in (0.0, 1.0) else schedule


def _gen_hash(cfg: StudyConfig, domain: str) -> str:
    t = cfg.teacher.model_dump(
        exclude={"base_urls", "api_key_env", "max_concurrency", "max_retries", "request_timeout_s"}
    )
    return config_hash(
        {"teacher": t, "source": cfg.domains[domain].source.model_dump(), "world": cfg.world}
    )


def model_runs(cfg: StudyConfig) -> list[dict]:
    """Every trained model of the grid, parents before children, without duplicates."""
    runs: dict[str, dict] = {}
    for block in cfg.grid:
        if block.domains:
            chains = [[(d, r)] for d in block.domains for r in block.ratios]
        else:
            chains = [[]]
            for ph in block.phases:
                chains = [c + [(ph.domain, r)] for c in chains for r in ph.ratios]
        for student in block.students:
            for seed in block.seeds:
                for chain in chains:
                    for sched in block.schedules:
                        for k in range(1, len(chain) + 1):
                            sub = chain[:k]
                            s = _canon_schedule(sub[-1][1], sched) if len(sub) == 1 else sched
                            mid = model_id(student, sub, s, seed)
                            if mid in runs:
                                continue
                            parent = None
                            if k > 1:
                                p = chain[: k - 1]
                                ps = _canon_schedule(p[-1][1], sched) if len(p) == 1 else sched
                                parent = model_id(student, p, ps, seed)
                            runs[mid] = {
                                "model": mid,
                                "student": student,
                                "phases": sub,
                                "schedule": s,
                                "seed": seed,
                                "parent": parent,
                            }
    return list(runs.values())


def expand(cfg: StudyConfig) -> list[Step]:
    """The study's steps in a valid execution order, each with its chained config hash."""
    steps: dict[str, Step] = {}

    def add(step: Step, own: object) -> Step:
        deps = [steps[d].hash for d in step.depends_on]
        step.hash = config_hash(
            {"kind": step.kind, "params": step.params, "own": own, "deps": deps}
        )
        steps[step.id] = step
        return step

    runs = model_runs(cfg)
    used_domains = sorted({d for r in runs for d, _ in r["phases"]})
    for d in used_domains:
        add(Step(f"generate:{d}", "generate", [], {"domain": d}, f"pairs/{d}.parquet"),
            _gen_hash(cfg, d))  # fmt: skip
    scratch = any(cfg.student(s).init == "scratch" for s in {r["student"] for r in runs})
    tok_deps = [f"generate:{d}" for d in used_domains]
    if scratch:
        add(Step("tokenizer", "student", tok_deps, {}, "students/tokenizer/tokenizer.json"),
            {"world": cfg.world, "vocab": max(s.vocab_size for s in cfg.students)})  # fmt: skip
    for sname in sorted({r["student"] for r in runs}):
        s = cfg.student(sname)
        deps = ["tokenizer"] if s.init == "scratch" else []
        add(Step(f"student:{sname}", "student", deps, {"student": sname},
                 f"students/{sname}/student.json"), {"student": s, "seed": cfg.seed})  # fmt: skip
    for r in runs:
        dom, ratio = r["phases"][-1]
        mix_id = f"mix:{dom}:r{fmt_ratio(ratio)}:{r['schedule']}:s{r['seed']}"
        if mix_id not in steps:
            params = {"domain": dom, "ratio": ratio, "schedule": r["schedule"], "seed": r["seed"]}
            name = f"{dom}-r{fmt_ratio(ratio)}-{r['schedule']}-s{r['seed']}"
            add(Step(mix_id, "mix", [f"generate:{dom}"], params, f"mixes/{name}.parquet"),
                cfg.mix)  # fmt: skip
        init = f"train:{r['parent']}" if r["parent"] else f"student:{r['student']}"
        add(Step(f"train:{r['model']}", "train", [init, mix_id], dict(r),
                 f"models/{r['model']}/train_summary.json"), cfg.train)  # fmt: skip
    evaluated = [(r["model"], f"train:{r['model']}") for r in runs]
    if cfg.eval.include_teacher:
        evaluated.append(("teacher", ""))
    if cfg.eval.include_base:
        for sname in sorted({r["student"] for r in runs}):
            evaluated.append((f"{sname}_base", f"student:{sname}"))
    eval_cfg = cfg.eval.model_dump(exclude={"batch_size", "data_dir"})
    for model, dep in evaluated:
        for b in cfg.eval.benchmarks:
            own = {"eval": eval_cfg, "teacher": cfg.teacher.model if model == "teacher" else None}
            add(Step(f"eval:{model}:{b}", "eval", [dep] if dep else [],
                     {"model": model, "benchmark": b}, f"evals/{model}/{b}.parquet"),
                own)  # fmt: skip
    eval_ids = [s for s in steps if s.startswith("eval:")]
    if cfg.judge.enabled:
        # Server addresses and key names do not change a verdict: keep them out of the hash.
        judge_own = cfg.judge.model_dump(
            exclude={"judges": {"__all__": {"base_urls", "api_key_env"}}}
        )
        for sid in list(eval_ids):
            _, model, b = sid.split(":", 2)
            add(Step(f"judge:{model}:{b}", "judge", [sid], {"model": model, "benchmark": b},
                     f"judgements/{model}/{b}.parquet"), judge_own)  # fmt: skip
    final = [s for s in steps if s.startswith(("eval:", "judge:"))]
    add(Step("results", "results", final, {}, "results.parquet"), {})
    if cfg.report:
        add(Step("report", "report", ["results"], {}, "report/index.html"), {})
    return list(steps.values())


def grid_rows(cfg: StudyConfig) -> list[dict]:
    """The expanded grid, one row per trained model (for `ponder validate`)."""
    return [
        {
            "model": r["model"],
            "student": r["student"],
            "phases": " → ".join(phase_tag(d, x) for d, x in r["phases"]),
            "schedule": r["schedule"],
            "seed": r["seed"],
            "benchmarks": len(cfg.eval.benchmarks),
        }
        for r in model_runs(cfg)
    ]


def run_dir_for(cfg: StudyConfig, out: str | Path | None) -> Path:
    return Path(out) if out else Path(cfg.out_dir) / cfg.name
