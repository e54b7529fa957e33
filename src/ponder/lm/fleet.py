"""Health of a fleet of OpenAI-compatible servers: where the next request goes, which server is
down, and what went wrong, in words.

The `openai` client's aiohttp transport reports almost every network failure as
`APITimeoutError` (a refused connection, an unknown host and a dropped connection all become
`httpx.ConnectTimeout`), so `failure()` reads the exception chain down to the socket error.
Failures fall in two classes, and only one of them says anything about the server:
- connect failures (connection refused, unknown host, connect timeout, no route): the server is
  down. It is benched for 1 s, doubling to 30 s. Requests already on their way when it was
  benched do not count again, so 64 refusals at once are one strike, not six doublings.
- answer failures (no answer within `request_timeout_s` after the request was accepted, a
  connection dropped before the answer): that request's bad luck, e.g. one long reasoning
  answer. The request is retried with backoff while the server keeps serving the others; only
  `SOFT_LIMIT` of them in a row, with no answer in between (a hung server), bench it.
Any HTTP answer, even a 500, proves the server alive and clears its strikes. When every server
has struck out (`DEAD_AFTER`), the fleet is unreachable: requests stop at once with one line
naming each URL and why, instead of every queued prompt spending its retries against nothing.
"""

from __future__ import annotations

import asyncio
import socket
import time

from ponder.errors import PonderError

COOLDOWN_S = (1.0, 30.0)  # a server that refuses connections is retried after 1 s, doubling
# Answer failures in a row that bench a server: 8 at a 20% fault rate happen by chance about
# once in 390,000 answers (0.2**8); a hung server, whose every request times out, gets there at
# once.
SOFT_LIMIT = 8
# Strikes (one per cool-down) after which a server counts as dead: 2 (1 s apart) for one that has
# not answered in this run (a wrong port, a server that is not up: the launch scripts wait for
# /health before generating), 5 (about 15 s of refusals) for one that was serving.
DEAD_AFTER = (2, 5)
CONNECT = ("refused", "dns", "unreachable")  # failures before the request reached the server
UNANSWERED = "unanswered"  # finish_reason of a request that ran out of retries


def _chain(e: BaseException):
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def failure(e: BaseException, timeout_s: float) -> tuple[str, str]:
    """(kind, words) of a transport failure; kind is one of refused, dns, unreachable (the
    connect failures), timeout, dropped."""
    import aiohttp

    connect = None
    for x in _chain(e):
        if isinstance(x, aiohttp.ClientConnectorDNSError | socket.gaierror):
            host = getattr(x, "host", None)
            return "dns", f"host {host!r} not found (DNS)" if host else "host not found (DNS)"
        if isinstance(x, ConnectionRefusedError):
            return "refused", "connection refused"
        if isinstance(x, aiohttp.ConnectionTimeoutError):
            return "unreachable", "cannot connect (connect timed out)"
        if isinstance(x, aiohttp.ClientConnectorError):
            connect = connect or x  # its cause says why (refused, DNS); else unreachable
        elif isinstance(x, aiohttp.SocketTimeoutError):
            break
        elif isinstance(x, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
            return "dropped", "connection dropped before the answer"
        elif isinstance(x, ConnectionResetError | BrokenPipeError | aiohttp.ClientOSError):
            return "dropped", f"connection dropped before the answer ({type(x).__name__})"
    if connect is not None:
        return "unreachable", f"cannot connect ({getattr(connect, 'os_error', connect)})"
    if any(isinstance(x, TimeoutError | asyncio.TimeoutError) for x in _chain(e)) or (
        type(e).__name__ == "APITimeoutError"
    ):
        return "timeout", f"no answer within {timeout_s:g} s (teacher.request_timeout_s)"
    return "dropped", f"connection failed ({type(e).__name__})"


class Server:
    """One base URL: its client, requests in flight, and health."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.client = None
        self.inflight = 0
        self.strikes = 0  # connect failures in a row, one per cool-down
        self.soft = 0  # answer failures in a row
        self.answered = False  # an HTTP answer in this run (even an error status)
        self.benched_at = -1.0
        self.down_until = 0.0
        self.why = ""  # the last failure, in words

    def ok(self) -> None:
        self.strikes = self.soft = 0
        self.answered = True

    def bench(self) -> None:
        self.strikes += 1
        lo, hi = COOLDOWN_S
        self.benched_at = time.monotonic()
        self.down_until = self.benched_at + min(hi, lo * 2 ** (self.strikes - 1))

    def dead(self) -> bool:
        return self.strikes >= DEAD_AFTER[self.answered]


class Fleet:
    """Servers serving one model: each request goes to the live server with the fewest requests
    in flight (ties in turn)."""

    def __init__(self, urls) -> None:
        self.servers = [Server(u) for u in urls]
        self._rr = 0
        self.unreachable: PonderError | None = None

    async def pick(self) -> Server:
        while True:
            if self.unreachable is not None:
                raise self.unreachable
            now = time.monotonic()
            live = [s for s in self.servers if s.down_until <= now]
            if live:
                self._rr += 1
                n = len(self.servers)
                order = {id(s): i for i, s in enumerate(self.servers)}
                return min(live, key=lambda s: (s.inflight, (order[id(s)] - self._rr) % n))
            await asyncio.sleep(max(0.01, min(s.down_until for s in self.servers) - now))

    def failed(self, server: Server, kind: str, words: str, sent_at: float) -> None:
        """Record a transport failure of a request sent at `sent_at` (monotonic seconds)."""
        server.why = words
        if kind in CONNECT:
            if sent_at >= server.benched_at:  # news, not an echo of the last strike
                server.bench()
        else:
            server.soft += 1
            if server.soft >= SOFT_LIMIT:
                server.soft = 0
                server.bench()
        if all(s.dead() for s in self.servers):
            why = "; ".join(f"{s.url}: {s.why}" for s in self.servers)
            self.unreachable = PonderError(f"no teacher server can be reached ({why})")
