"""Throughput of `ponder generate` against loopback OpenAI-compatible servers (one run, ratios).

Each fake server (tests/fakeserver.py) runs in its own process and answers after a fixed latency
(default 50 ms). With C requests in flight, the ideal rate is C / latency. We report, from one run:
  - a minimal `AsyncOpenAI` + `asyncio.gather` loop (semaphore C) doing the same requests,
  - `generate_domain` (sources, retries, fleet, shards, Parquet) on the same prompts,
  - the fleet at 1, 2 and 4 servers with C per server, to show how it scales.
Usage: python benchmarks/bench_generate.py [--requests 2000] [--latency 0.05] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from ponder.generate import generate_domain  # noqa: E402


def start_servers(k: int, latency: float) -> tuple[list[subprocess.Popen], list[str]]:
    procs, urls = [], []
    for _ in range(k):
        port = free_port()
        cmd = [sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--port", str(port)]
        procs.append(subprocess.Popen(cmd + ["--latency", str(latency)]))
        urls.append(f"http://127.0.0.1:{port}/v1")
    for url in urls:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
    return procs, urls


async def minimal_loop(url: str, n: int, concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int):
        async with sem:
            return await client.chat.completions.create(
                model="fake",
                messages=[{"role": "user", "content": f"prompt number {i // 2}"}],
                max_tokens=16384,
                extra_body={"chat_template_kwargs": {"enable_thinking": bool(i % 2)}},
            )

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    dt = time.perf_counter() - t
    await client.close()
    return n / dt


def ponder_rate(urls: list[str], n: int, concurrency: int, work: Path) -> float:
    prompts = work / f"prompts-{n}.jsonl"
    prompts.write_text(
        "".join(json.dumps({"q": f"prompt number {i}"}) + "\n" for i in range(n // 2))
    )
    cfg = StudyConfig.model_validate(
        {
            "name": "bench",
            "students": [{"name": "s"}],
            "grid": [{"students": ["s"], "domains": ["x"]}],
            "teacher": {
                "backend": "openai",
                "model": "fake",
                "base_urls": urls,
                "max_concurrency": concurrency,
            },
            "domains": {"x": {"source": {"kind": "file", "path": str(prompts), "column": "q"}}},
        }
    )
    run = Path(tempfile.mkdtemp(dir=work))
    t = time.perf_counter()
    summary = generate_domain(cfg, "x", run, progress=False)
    dt = time.perf_counter() - t
    assert summary["rows"] == n // 2 and summary["failed"] == 0, summary
    return n / dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--fleet", default="1,2,4")
    a = p.parse_args()
    ideal = a.concurrency / a.latency
    work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    procs, urls = start_servers(max(int(k) for k in a.fleet.split(",")), a.latency)
    try:
        base = asyncio.run(minimal_loop(urls[0], a.requests, a.concurrency))
        ours = ponder_rate(urls[:1], a.requests, a.concurrency, work)
        print(
            f"{a.requests} requests, latency {a.latency * 1000:.0f} ms, concurrency {a.concurrency}"
        )
        print(f"ideal (concurrency / latency): {ideal:8.1f} req/s")
        print(f"minimal AsyncOpenAI loop:      {base:8.1f} req/s  ({base / ideal:.0%} of ideal)")
        print(
            f"ponder generate:               {ours:8.1f} req/s  ({ours / ideal:.0%} of ideal, "
            f"{ours / base:.2f}x the minimal loop)"
        )
        one = None
        for k in (int(x) for x in a.fleet.split(",")):
            rate = ponder_rate(urls[:k], a.requests * k, a.concurrency * k, work)
            one = one or rate
            print(
                f"fleet of {k}: {rate:8.1f} req/s  (ideal {ideal * k:.0f}; "
                f"{rate / one:.2f}x one server)"
            )
    finally:
        for proc in procs:
            proc.kill()


if __name__ == "__main__":
    main()
