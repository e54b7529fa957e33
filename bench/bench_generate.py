"""Throughput of `ponder generate` against loopback OpenAI-compatible servers (one run, ratios).

Each fake server (tests/fakeserver.py) runs in its own process and answers after a fixed latency
(default 50 ms). With C requests in flight, the ideal rate is C / latency. We report, from one run:
  - a minimal `AsyncOpenAI` + `asyncio.gather` loop (semaphore C) doing the same requests through
    the typed `chat.completions.create`, and the same loop through the raw `client.post` over the
    aiohttp transport (the calls ponder makes, lm/openai_api.py);
  - `generate_domain` (sources, retries, fleet, shards, Parquet) on the same prompts;
  - a fleet of 1, 2 and 4 servers that each process at most `--capacity` requests at once (a real
    server's batch limit; the ideal is then servers x capacity / latency), with C in flight in
    total, to show that the fleet multiplies server capacity;
  - failing servers: the same prompts with `--fault-share` of the requests faulted once, first as
    HTTP errors only (500/429/503), then mixed (those, plus dropped connections, invalid JSON and
    answers slower than `--fault-timeout`, the client's request timeout); the mixed run's time
    over the HTTP-only run's is the cost of faults that never reach an HTTP status.
Usage: python bench/bench_generate.py [--requests 6000] [--latency 0.05] [--concurrency 64]
       [--processes 1,2] [--server-workers 1] [--fleet 1,2,4] [--capacity 8] [--fleet-processes 1]
       [--fault-share 0.2] [--fault-timeout 1.0] [--only faults]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakeserver import free_port  # noqa: E402
from ponder.config import StudyConfig  # noqa: E402
from ponder.generate.run import generate_domain  # noqa: E402

HTTP_FAULTS = ("500", "429", "503")
MIXED_FAULTS = (*HTTP_FAULTS, "drop", "badjson", "hang")


def start_servers(
    k: int, latency: float, capacity: int = 0, workers: int = 1, hang: float = 5.0
) -> tuple[list[subprocess.Popen], list[str]]:
    procs, urls = [], []
    for _ in range(k):
        port = free_port()
        cmd = [sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--port", str(port)]
        cmd += ["--latency", str(latency), "--capacity", str(capacity)]
        cmd += ["--workers", str(workers), "--hang", str(hang)]
        procs.append(subprocess.Popen(cmd))
        urls.append(f"http://127.0.0.1:{port}/v1")
    for url in urls:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
    return procs, urls


async def minimal_loop(url: str, n: int, concurrency: int, raw: bool = False) -> float:
    import openai

    extra = {"http_client": openai.DefaultAioHttpClient()} if raw else {}
    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0, **extra)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int):
        msgs = [{"role": "user", "content": f"prompt number {i // 2}"}]
        ctk = {"enable_thinking": bool(i % 2)}
        async with sem:
            if raw:
                body = {"model": "fake", "messages": msgs, "max_tokens": 16384}
                body["chat_template_kwargs"] = ctk
                return await client.post("/chat/completions", body=body, cast_to=object)
            return await client.chat.completions.create(
                model="fake",
                messages=msgs,
                max_tokens=16384,
                extra_body={"chat_template_kwargs": ctk},
            )

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    dt = time.perf_counter() - t
    await client.close()
    return n / dt


def fault_prompts(n: int, share: float, kinds: tuple[str, ...], seed: int = 0) -> list[str]:
    """n prompts, `share` of them marked to fault once (both their requests); the same prompts
    are marked whatever `kinds` is, so two arms differ only in the kind of fault."""
    which, kind = random.Random(seed), random.Random(seed + 1)
    out = []
    for i in range(n):
        mark = f" [{kind.choice(kinds)}x1]" if which.random() < share else ""
        out.append(f"prompt number {i}{mark}")
    return out


def ponder_time(
    urls: list[str], prompts: list[str], concurrency: int, work: Path, processes: int = 1, **kw
) -> float:
    """Seconds `generate_domain` takes to answer `prompts` (every row answered, none failed)."""
    path = work / f"prompts-{len(prompts)}-{abs(hash(tuple(prompts)))}.jsonl"
    path.write_text("".join(json.dumps({"q": q}) + "\n" for q in prompts))
    teacher = {"backend": "openai", "model": "fake", "base_urls": urls}
    teacher |= {"max_concurrency": concurrency, "client_processes": processes, **kw}
    cfg = StudyConfig.model_validate(
        {
            "name": "bench",
            "students": [{"name": "s"}],
            "grid": [{"students": ["s"], "domains": ["x"]}],
            "teacher": teacher,
            "domains": {"x": {"source": {"kind": "file", "path": str(path), "column": "q"}}},
        }
    )
    run = Path(tempfile.mkdtemp(dir=work))
    t = time.perf_counter()
    summary = generate_domain(cfg, "x", run / "x.parquet", "bench", progress=False)
    dt = time.perf_counter() - t
    assert summary["rows"] == len(prompts) and summary["failed"] == 0, summary
    return dt


def ponder_rate(urls: list[str], n: int, concurrency: int, work: Path, processes: int = 1) -> float:
    prompts = [f"prompt number {i}" for i in range(n // 2)]
    return n / ponder_time(urls, prompts, concurrency, work, processes)


def fault_arms(a: argparse.Namespace, work: Path) -> None:
    """HTTP-only faults against mixed faults, same prompts, same share, one server."""
    # a faulted slow answer sleeps twice the client's timeout: it always times out
    procs, urls = start_servers(1, a.latency, hang=2 * a.fault_timeout)
    try:
        n = a.requests // 2
        opts = {"request_timeout_s": a.fault_timeout}
        secs = {}
        for name, kinds in (("HTTP errors only", HTTP_FAULTS), ("mixed", MIXED_FAULTS)):
            prompts = fault_prompts(n, a.fault_share, kinds)
            secs[name] = ponder_time(urls, prompts, a.concurrency, work, **opts)
        print(
            f"{a.requests} requests, {a.fault_share:.0%} faulted once, latency "
            f"{a.latency * 1000:.0f} ms, concurrency {a.concurrency}, request timeout "
            f"{a.fault_timeout:g} s"
        )
        for name, dt in secs.items():
            print(f"{f'faults: {name}:':36} {dt:8.2f} s  ({a.requests / dt:.1f} req/s)")
        ratio = secs["mixed"] / secs["HTTP errors only"]
        print(f"{'faults: mixed / HTTP-only:':36} {ratio:8.2f}x")
    finally:
        for proc in procs:
            proc.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=6000)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--capacity", type=int, default=8, help="per server, for the fleet runs")
    p.add_argument("--fleet", default="1,2,4")
    p.add_argument(
        "--fleet-processes", type=int, default=1, help="client processes for the fleet runs"
    )
    p.add_argument("--processes", default="1,2", help="teacher.client_processes values to run")
    p.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="processes behind the main server's port (on a many-core host, so that the "
        "loopback server is not what limits the client)",
    )
    p.add_argument(
        "--minimal-requests", type=int, default=0, help="requests for the minimal loops (0: same)"
    )
    p.add_argument("--fault-share", type=float, default=0.2, help="requests faulted once")
    p.add_argument("--fault-timeout", type=float, default=1.0, help="request_timeout_s (faults)")
    p.add_argument("--only", choices=["faults"], help="run only the fault arms")
    a = p.parse_args()
    ideal = a.concurrency / a.latency
    work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    if a.only == "faults":
        fault_arms(a, work)
        return
    sizes = [int(k) for k in a.fleet.split(",") if k]
    n_min = a.minimal_requests or a.requests
    procs, urls = start_servers(1, a.latency, workers=a.server_workers)
    procs_cap, urls_cap = start_servers(max(sizes, default=0), a.latency, a.capacity)
    try:
        asyncio.run(minimal_loop(urls[0], 200, a.concurrency))  # warm-up: imports, connections
        base = asyncio.run(minimal_loop(urls[0], n_min, a.concurrency))
        raw = asyncio.run(minimal_loop(urls[0], n_min, a.concurrency, raw=True))
        rates = {
            k: ponder_rate(urls, a.requests, a.concurrency, work, processes=k)
            for k in (int(x) for x in a.processes.split(","))
        }
        print(
            f"{a.requests} requests ({n_min} for the minimal loops), latency "
            f"{a.latency * 1000:.0f} ms, concurrency {a.concurrency}, "
            f"{a.server_workers} server process(es)"
        )
        print(f"ideal (concurrency / latency):       {ideal:8.1f} req/s")
        print(
            f"minimal loop, typed create (httpx):  {base:8.1f} req/s  ({base / ideal:.0%} of ideal)"
        )
        print(
            f"minimal loop, raw post (aiohttp):    {raw:8.1f} req/s  ({raw / ideal:.0%} of ideal)"
        )
        for k, rate in rates.items():
            print(
                f"{f'ponder generate, {k} client process' + 'es' * (k > 1) + ':':36} "
                f"{rate:8.1f} req/s  "
                f"({rate / ideal:.0%} of ideal, {rate / base:.2f}x the typed loop, "
                f"{rate / raw:.2f}x the raw loop)"
            )
        one = None
        for k in sizes:
            rate = ponder_rate(urls_cap[:k], a.requests, a.concurrency, work, a.fleet_processes)
            one = one or rate
            cap_ideal = min(a.concurrency, k * a.capacity) / a.latency
            print(
                f"fleet of {k} (capacity {a.capacity} each, {a.fleet_processes} client "
                f"process(es)): {rate:7.1f} req/s  "
                f"(ideal {cap_ideal:.0f}: {rate / cap_ideal:.0%}; {rate / one:.2f}x one server)"
            )
    finally:
        for proc in procs + procs_cap:
            proc.kill()
    fault_arms(a, work)


if __name__ == "__main__":
    main()
