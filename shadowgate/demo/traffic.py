"""The demo's clients: held-out rows replayed through the proxy, labels posted later.

Arrivals are a Poisson process at ``rate`` requests per second (open loop: a slow proxy
does not slow the clients down, as with real users). Each request is one held-out row
as an Open Inference Protocol v2 request; the proxy's ``X-Request-Id`` answer header is
remembered and, ``label_delay`` seconds later, the row's true class is posted to the
admin ``/api/feedback`` in batches, the way ground truth trickles in in production.

Run alone against any shadowgate: ``python -m shadowgate.demo.traffic --proxy URL
--admin URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shadowgate.demo.models import N_FEATURES, dataset

#: labels are sent at most this often, as one batch
LABEL_FLUSH = 0.2


@dataclass
class TrafficStats:
    """What the generator did so far (read by the live view and the summary)."""

    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # arrivals dropped because ``concurrency`` requests were in flight
    labels_sent: int = 0
    labels_unknown: int = 0
    labels_failed: int = 0
    last_error: str | None = None
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=4096))

    def record(self, now: float) -> None:
        self._recent.append(now)

    def rate(self, window: float = 5.0) -> float:
        """Requests answered per second over the last ``window`` seconds."""
        now = time.monotonic()
        while self._recent and self._recent[0] < now - window:
            self._recent.popleft()
        span = min(window, max(now - self.started, 1e-9))
        return len(self._recent) / span


class Traffic:
    """Sends requests and labels until ``stop`` is set (see the module docstring)."""

    def __init__(
        self,
        proxy_url: str,
        admin_url: str,
        *,
        rate: float = 50.0,
        label_delay: float = 3.0,
        model: str = "cancer",
        seed: int = 1,
        concurrency: int = 64,
        token: str | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be greater than 0")
        self.infer_url = f"{proxy_url.rstrip('/')}/v2/models/{model}/infer"
        self.feedback_url = f"{admin_url.rstrip('/')}/api/feedback"
        self.rate = rate
        self.label_delay = label_delay
        self.rng = random.Random(seed)
        self.slots = asyncio.Semaphore(concurrency)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.stats = TrafficStats()
        split = dataset()
        self.rows = split.x_test.tolist()
        self.labels = split.y_test.tolist()
        self._due: deque[tuple[float, str, int]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    def body(self, i: int) -> dict[str, Any]:
        return {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [1, N_FEATURES],
                    "datatype": "FP64",
                    "data": self.rows[i],
                }
            ]
        }

    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            labeler = asyncio.create_task(self._labels(session, stop))
            try:
                await self._arrivals(session, stop)
            finally:
                for t in list(self._tasks):
                    t.cancel()
                for t in list(self._tasks):
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
                labeler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await labeler

    async def _arrivals(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            next_at += self.rng.expovariate(self.rate)
            delay = next_at - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return
            if self.slots.locked():
                self.stats.skipped += 1
                continue
            i = self.rng.randrange(len(self.rows))
            task = asyncio.create_task(self._one(session, i))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(self, session: aiohttp.ClientSession, i: int) -> None:
        async with self.slots:
            self.stats.sent += 1
            try:
                async with session.post(self.infer_url, json=self.body(i)) as resp:
                    await resp.read()
                    rid = resp.headers.get("X-Request-Id")
                    if resp.status >= 400:
                        self.stats.failed += 1
                        self.stats.last_error = f"HTTP {resp.status} from the proxy"
                    else:
                        self.stats.ok += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.stats.failed += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                return
            self.stats.record(time.monotonic())
            if rid is not None:
                self._due.append((time.monotonic() + self.label_delay, rid, self.labels[i]))

    async def _labels(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(LABEL_FLUSH)
            now = time.monotonic()
            items: list[dict[str, Any]] = []
            while self._due and self._due[0][0] <= now:
                _, rid, label = self._due.popleft()
                items.append({"request_id": rid, "label": label})
            if items:
                await self._post_labels(session, items)

    async def _post_labels(
        self, session: aiohttp.ClientSession, items: list[dict[str, Any]]
    ) -> None:
        try:
            async with session.post(
                self.feedback_url, json={"items": items}, headers=self.headers
            ) as resp:
                doc = await resp.json(content_type=None) if resp.status < 500 else None
                if resp.status >= 400:
                    self.stats.labels_failed += len(items)
                    self.stats.last_error = f"feedback: HTTP {resp.status} {doc}"
                    return
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.stats.labels_failed += len(items)
            self.stats.last_error = f"feedback: {type(exc).__name__}: {exc}"
            return
        self.stats.labels_sent += len(items)
        unknown = doc.get("unknown") if isinstance(doc, dict) else None
        if isinstance(unknown, list):
            self.stats.labels_unknown += len(unknown)
        elif isinstance(unknown, int):
            self.stats.labels_unknown += unknown


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m shadowgate.demo.traffic",
        description="Replay held-out rows through a shadowgate proxy, labels after a delay.",
    )
    p.add_argument("--proxy", default="http://127.0.0.1:8080", help="data-plane URL")
    p.add_argument("--admin", default="http://127.0.0.1:9090", help="admin URL (feedback)")
    p.add_argument("--rate", type=float, default=50.0, help="requests per second")
    p.add_argument("--label-delay", type=float, default=3.0, help="seconds until a label")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run")
    p.add_argument("--model", default="cancer")
    p.add_argument("--token", default=None, help="admin token for /api/feedback")
    args = p.parse_args(argv)

    async def go() -> TrafficStats:
        traffic = Traffic(
            args.proxy,
            args.admin,
            rate=args.rate,
            label_delay=args.label_delay,
            model=args.model,
            token=args.token,
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(args.duration, stop.set)
        runner = asyncio.create_task(traffic.run(stop))
        while not runner.done():
            await asyncio.sleep(5)
            s = traffic.stats
            print(
                f"{s.rate():5.1f} req/s  sent {s.sent}  ok {s.ok}  failed {s.failed}  "
                f"labels {s.labels_sent}",
                flush=True,
            )
        await runner
        return traffic.stats

    s = asyncio.run(go())
    print(f"done: {s.sent} requests, {s.failed} failed, {s.labels_sent} labels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
