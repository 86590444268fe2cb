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

from shadowgate.compare.binary import decode_binary
from shadowgate.compare.protocols import CompareError, loads
from shadowgate.model.exchange import Exchange

Body = Literal["request", "request_binary", "production", "candidate"]


def decode_request(body: bytes | None, binary: bool = False) -> Any:
    """A request body as JSON (None when empty); with ``binary``, a body that is not JSON
    is read as Triton's binary tensor extension (a JSON header whose tensors'
    ``parameters.binary_data_size`` say how many of the bytes after it are their data).

    Raises ``ValueError`` saying why when the body is neither.
    """
    if not body:
        return None
    try:
        return loads(body)
    except ValueError as exc:
        if not binary:
            raise
        return _binary(body, exc)


def _binary(body: bytes, not_json: ValueError) -> Any:
    """``body`` read as binary tensors, once its JSON decode has failed with ``not_json``."""
    try:
        doc = decode_binary(body)
    except CompareError as exc:
        raise ValueError(f"binary tensor data does not fit its header: {exc}") from None
    if doc is None:
        raise not_json
    return doc


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

    def request(self, binary: bool = False) -> Any:
        """The request body as JSON, None when it is empty or absent.

        With ``binary`` (Open Inference Protocol routes), a body that is not JSON is read
        as Triton's binary tensor extension, as :func:`decode_request` does.

        Raises what :func:`loads` raised (``ValueError``, ``RecursionError``), every time.
        """
        body = self.exchange.request_body
        try:
            return self._json("request", body)
        except ValueError as not_json:
            if not binary or not body:
                raise
            doc = self._docs.get("request_binary")
            if doc is None:  # the JSON decode has failed already: not tried again
                try:
                    doc = _binary(body, not_json)
                except ValueError as exc:
                    doc = _Failed(exc)
                self._docs["request_binary"] = doc
            if isinstance(doc, _Failed):
                raise doc.error from None
            return doc

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
