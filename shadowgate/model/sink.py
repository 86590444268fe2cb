"""Where the data plane puts finished exchanges: a non-blocking, bounded hand-off."""

from __future__ import annotations

from collections import deque
from typing import Protocol

from shadowgate.model.exchange import Exchange


class ExchangeSink(Protocol):
    """Accepts exchanges without ever blocking or raising on the response path.

    ``submit`` returns True when the exchange was taken for recording, False when it was
    dropped (the sink counts why), and None when it is not evidence and is not recorded
    (e.g. requests production serves alone after a rollout ended). Every exchange that
    is not None is one of ``shadowgate_pairs_total``: pairs == recorded + dropped.
    """

    def submit(self, exchange: Exchange) -> bool | None: ...


class MemorySink:
    """A bounded in-memory sink: keeps the last ``maxlen`` exchanges, counts the rest dropped."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.items: deque[Exchange] = deque()
        self.maxlen = maxlen
        self.dropped = 0

    def submit(self, exchange: Exchange) -> bool:
        if len(self.items) >= self.maxlen:
            self.dropped += 1
            return False
        self.items.append(exchange)
        return True
