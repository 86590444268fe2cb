"""A mirrored request's two answers, collected before the exchange is handed on."""

from __future__ import annotations

from collections.abc import Callable

from shadowgate.model.exchange import Exchange, Side


class Pair:
    """Collects the serving side's answer and the mirror's; submits the exchange when both
    are in. The exchange keeps production's and the candidate's answers in their own
    fields whichever of them served: ``reverse`` (baking after a promotion) means the
    candidate served and production was the mirror."""

    __slots__ = ("exchange", "reverse", "submit", "waiting")

    def __init__(self, exchange: Exchange, submit: Callable[[Exchange], None]) -> None:
        self.exchange = exchange
        self.submit = submit
        self.reverse = exchange.variant == "candidate"
        self.waiting = 2

    def served_done(self, side: Side) -> None:
        if self.reverse:
            self.exchange.candidate = side
        else:
            self.exchange.production = side
        self._tick()

    def mirror_done(self, side: Side) -> None:
        if self.reverse:
            self.exchange.production = side
        else:
            self.exchange.candidate = side
        self._tick()

    def _tick(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.submit(self.exchange)
