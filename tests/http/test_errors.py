"""Every error the HTTP layer raises on purpose is in shadowgate's one error tree."""

from __future__ import annotations

import pytest

from shadowgate.errors import BadRequestError, ShadowgateError
from shadowgate.http.client import BodyTooLarge, UpstreamError
from shadowgate.http.events import LocalProtocolError, Rejected
from shadowgate.http.request import BadRequestBody, ClientClosed


@pytest.mark.parametrize(
    "error",
    [UpstreamError, BodyTooLarge, LocalProtocolError, Rejected, BadRequestBody, ClientClosed],
)
def test_http_errors_derive_from_the_tree(error: type[Exception]) -> None:
    assert issubclass(error, ShadowgateError)


def test_status_hints_are_where_answers_are_made() -> None:
    assert UpstreamError("timeout", "slow").status_hint == 504
    assert UpstreamError("reset", "gone").status_hint == 502
    rejected = Rejected(414, "uri_too_long", "too long")
    assert isinstance(rejected, BadRequestError) and rejected.error_status_hint == 414
    assert BadRequestBody("bad chunk").status == 400
    assert issubclass(ClientClosed, ConnectionError)  # handlers stop on it as before
