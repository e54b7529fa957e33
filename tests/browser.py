"""Open a local HTML page in headless Chromium and report what a reader would see.

Drives Chromium over the DevTools protocol (aiohttp's websocket client) rather than `--dump-dom`
because only the protocol reports console errors, failed loads and every network request, and can
screenshot each <img> as actually rendered (a decoded but blank image would pass a naturalWidth
check). Used by tests/test_report.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1400,1000",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    images: list[dict] = field(default_factory=list)  # src, naturalWidth, rendered pixel stats


async def _inspect(ws_url: str, page: Path, timeout: float) -> PageReport:
    import aiohttp

    rep, ids, pending = PageReport(), itertools.count(1), {}
    loaded = asyncio.Event()
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url, max_msg_size=0) as ws:

        async def reader() -> None:
            async for msg in ws:
                m = json.loads(msg.data)
                if "id" in m and m["id"] in pending:
                    pending.pop(m["id"]).set_result(m)
                    continue
                method, p = m.get("method"), m.get("params", {})
                if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                    rep.errors.append(
                        "console: " + " ".join(str(a.get("value")) for a in p["args"])
                    )
                elif method == "Runtime.exceptionThrown":
                    d = p["exceptionDetails"]
                    desc = d.get("exception", {}).get("description", "")
                    rep.errors.append(f"exception: {d.get('text', '')} {desc}")
                elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                    rep.errors.append("log: " + p["entry"]["text"])
                elif method == "Network.requestWillBeSent":
                    rep.requests.append(p["request"]["url"])
                elif method == "Page.loadEventFired":
                    loaded.set()

        async def call(method: str, **params) -> dict:
            i = next(ids)
            pending[i] = asyncio.get_running_loop().create_future()
            await ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
            res = await asyncio.wait_for(pending[i], timeout)
            if "error" in res:
                raise RuntimeError(f"{method}: {res['error']}")
            return res.get("result", {})

        task = asyncio.create_task(reader())
        for domain in ("Runtime", "Log", "Network", "Page"):
            await call(f"{domain}.enable")
        await call("Page.navigate", url=page.resolve().as_uri())
        await asyncio.wait_for(loaded.wait(), timeout)
        js = """JSON.stringify(Array.from(document.images).map(i => {
            const r = i.getBoundingClientRect();
            return {src: i.getAttribute('src'), complete: i.complete, w: i.naturalWidth,
                    h: i.naturalHeight, x: r.left + scrollX, y: r.top + scrollY,
                    cw: r.width, ch: r.height};
        }))"""
        res = await call("Runtime.evaluate", expression=js, returnByValue=True)
        from PIL import Image

        for img in json.loads(res["result"]["value"]):
            clip = {
                "x": img["x"],
                "y": img["y"],
                "width": max(1, img["cw"]),
                "height": max(1, img["ch"]),
                "scale": 1,
            }
            shot = await call(
                "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
            )
            px = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("L"))
            img["pixel_std"] = float(px.std())
            img["ink"] = float(np.mean(px < 200))  # share of clearly non-white pixels
            rep.images.append(img)
        task.cancel()
    return rep


def inspect_page(page: Path, timeout: float = 60.0) -> PageReport:
    """Load `page` from the file system in headless Chromium and return what happened."""
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium not installed")
    # Chromium helper processes may still write to the profile while it is removed.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for line in proc.stderr:  # Chromium announces its DevTools endpoint on stderr
                if m := re.search(r"DevTools listening on (ws://\S+)", line):
                    break
            else:
                raise RuntimeError("chromium exited without a DevTools endpoint")
            port = re.search(r":(\d+)/", m.group(1)).group(1)
            return asyncio.run(_page_target(port, page, timeout))
        finally:
            proc.terminate()
            proc.wait(timeout=20)


async def _page_target(port: str, page: Path, timeout: float) -> PageReport:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/json/list") as r:
        targets = await r.json(content_type=None)
    ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    return await _inspect(ws, page, timeout)
