"""An exchange's JSON bodies, each decoded at most once for every reader on the recording path.

The recorder hands one :class:`DecodedExchange` to each reader of an exchange: the input
checks (schema and drift), :func:`~shadowgate.compare.outcome.build_outcome` and the body
join key. Whoever needs a body first decodes it (:func:`~shadowgate.compare.protocols.loads`)
and the others get the same document, or the same error: at the realistic payload the
request alone is 8 KB of JSON, and decoding it is a large share of the recording cost.

The documents are shared, so readers must not modify them.
"""

from __future__ import annotations

from typing import Any, Literal

from shadowgate.compare.protocols import loads
from shadowgate.model.exchange import Exchange

Body = Literal["request", "production", "candidate"]


class _Failed:
    """A decode that raised: every reader gets the same exception."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class DecodedExchange:
    """The request and both answers of one exchange as JSON, decoded on first use."""

    __slots__ = ("_docs", "exchange")

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self._docs: dict[Body, Any] = {}

    def request(self) -> Any:
        """The request body as JSON, None when it is empty or absent.

        Raises what :func:`loads` raised (``ValueError``, ``RecursionError``), every time.
        """
        return self._json("request", self.exchange.request_body)

    def answer(self, side: Literal["production", "candidate"]) -> Any:
        """One side's answer body as JSON, None when there is none (as :meth:`request`)."""
        answer = self.exchange.production if side == "production" else self.exchange.candidate
        return self._json(side, answer.body if answer is not None else None)

    def _json(self, key: Body, body: bytes | None) -> Any:
        if not body:
            return None
        try:
            doc = self._docs[key]
        except KeyError:
            try:
                doc = loads(body)
            except (ValueError, RecursionError) as exc:
                doc = _Failed(exc)
            self._docs[key] = doc
        if isinstance(doc, _Failed):
            raise doc.error
        return doc
