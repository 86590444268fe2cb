"""Open-loop HTTP load at a fixed rate, latency measured from the intended send time.

``clients`` keep-alive connections, each one a thread sending one request every
``clients / rate`` seconds on its own schedule: a random phase per client plus a small
random jitter per request, so arrivals are spread out rather than in lockstep bursts.
Latency is taken from the *intended* send time to the end of the response body, so a
slow answer that delays the client's next requests is charged to those requests too
(no coordinated omission, as in wrk2). The service time (from the actual send) is
reported beside it. Threads with blocking sockets and ``time.sleep`` keep the schedule
to well under a millisecond, which an event loop's millisecond timers would not.

    python benchmarks/loadgen.py --url http://127.0.0.1:8080/v2/models/m/infer \
        --rate 1000 --clients 10 --duration 10 --warmup 1

Prints one JSON object: scheduled, sent, errors, unsent, achieved rate, and latency
percentiles in ms.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import threading
import time
from urllib.parse import urlsplit

_perf = time.perf_counter


def _read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one HTTP/1.1 response with a Content-Length; returns its status code."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head = bytes(buf[:end]).decode("latin-1")
    status = int(head[9:12])
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
            break
    total = end + 4 + length
    while len(buf) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    del buf[:total]
    return status


def _client(
    host: str,
    port: int,
    request: bytes,
    start: float,
    stop: float,
    period: float,
    jitter: float,
    seed: int,
    out: list[tuple[float, float, float, int]],
) -> None:
    rng = random.Random(seed)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    t = start + rng.uniform(0, period)
    # a target that holds each answer back (nginx's mirror with a slow candidate) would
    # stretch the run without bound: stop a few seconds after the schedule ends; requests
    # never sent are charged, from their intended time to that moment (``unsent``)
    give_up = stop + 3.0
    while t < stop:
        if _perf() > give_up:
            while t < stop:
                out.append((t, give_up, give_up, -1))
                t += period
            break
        intended = t + rng.uniform(-jitter, jitter)
        delay = intended - _perf()
        if delay > 0:
            time.sleep(delay)
        sent = _perf()
        try:
            sock.sendall(request)
            status = _read_response(sock, buf)
        except OSError:
            status = 0
            sock.close()
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf.clear()
        out.append((intended, sent, _perf(), status))
        t += period
    sock.close()


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, max(0, round(q / 100.0 * len(sorted_ms)) - 1))
    return sorted_ms[i]


def run(
    url: str,
    rate: float,
    clients: int,
    duration: float,
    warmup: float,
    body: bytes,
) -> dict[str, object]:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    period = clients / rate
    start = _perf() + 0.2
    stop = start + warmup + duration
    results: list[list[tuple[float, float, float, int]]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_client,
            args=(host, port, request, start, stop, period, period * 0.25, i, results[i]),
            daemon=True,
        )
        for i in range(clients)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    measured = [r for rs in results for r in rs if r[0] >= start + warmup]
    unsent = [r for r in measured if r[3] == -1]
    ok = [r for r in measured if 200 <= r[3] < 300 or r[3] == -1]
    lat = sorted((r[2] - r[0]) * 1000.0 for r in ok)
    svc = sorted((r[2] - r[1]) * 1000.0 for r in ok)
    late = sorted(max(0.0, r[1] - r[0]) * 1000.0 for r in measured)
    return {
        "scheduled": len(measured),
        "sent": len(measured) - len(unsent),
        "errors": len(measured) - len(ok),
        "unsent": len(unsent),
        "rate": (len(measured) - len(unsent)) / duration,
        "latency_ms": {f"p{q:g}": _pct(lat, q) for q in (50, 90, 99, 99.9)}
        | {"max": lat[-1] if lat else float("nan")},
        "service_ms": {f"p{q:g}": _pct(svc, q) for q in (50, 99)},
        "send_lateness_ms": {f"p{q:g}": _pct(late, q) for q in (50, 99)},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, default=1000.0, help="requests/s over all clients")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds sent but not measured")
    p.add_argument("--body", default='{"inputs":[]}')
    a = p.parse_args()
    print(json.dumps(run(a.url, a.rate, a.clients, a.duration, a.warmup, a.body.encode())))


if __name__ == "__main__":
    main()
