"""Share of py-spy samples per part of shadowgate, from a ``py-spy record -f raw`` file.

    py-spy record -p PID -d 8 -r 200 -f raw -o prof.txt --nonblocking
    .venv/bin/python benchmarks/profile_summary.py prof.txt

Samples of the event loop waiting in ``epoll`` land in "loop (idle and C callbacks)":
py-spy cannot see inside uvloop.
"""

from __future__ import annotations

import sys
from collections import Counter

#: first matching marker in a stack names its part (order matters)
PARTS: tuple[tuple[str, str], ...] = (
    # the store's thread between steps, runnable but handing the core over: py-spy counts
    # it as active, /proc does not count it as CPU
    ("offer_core", "store thread: offering the core (sched_yield, not CPU)"),
    ("Recorder.", "recorder: build outcomes (parse, compare)"),
    ("read_outcomes", "judge: read outcomes (SQLite thread)"),
    ("Judge", "judge: statistics and decisions"),
    ("insert_outcomes", "writer: encode + insert + commit (SQLite thread)"),
    ("BatchWriter", "writer: batching"),
    ("http/client", "upstream client: pool, write, parse"),
    ("_run_mirror", "mirror to the candidate"),
    ("Proxy.", "handler: route, headers, forward, relay"),
    ("Gateway._handle", "handler: route, headers, forward, relay"),
    ("http/server", "server: parse requests, write answers"),
    ("web_protocol", "aiohttp server: parse and write"),
    ("threading.py", "other threads"),
)


def summarize(path: str) -> list[tuple[str, float]]:
    parts: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack or not count.isdigit():
                continue  # a frame's name with a line break in it splits its stack's line
            n = int(count)
            total += n
            part = next((p for marker, p in PARTS if marker in stack), None)
            parts[part or "loop (idle and C callbacks)"] += n
    return [(p, n / total * 100.0) for p, n in parts.most_common()]


if __name__ == "__main__":
    for part, pct in summarize(sys.argv[1]):
        print(f"{pct:5.1f} %  {part}")
