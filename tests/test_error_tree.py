"""The error tree drawn in ``shadowgate.errors`` is the real one."""

from __future__ import annotations

import re
from pathlib import Path

import shadowgate.errors as errors
from shadowgate.admin.feedback import FeedbackError
from shadowgate.compare.loss import LabelError
from shadowgate.compare.protocols import CompareError, InvalidRequest, InvalidResponse
from shadowgate.gateway import BodyTimeout
from shadowgate.http.client import BodyTooLarge, UpstreamError
from shadowgate.http.events import LocalProtocolError, Rejected
from shadowgate.http.request import BadRequestBody, ClientClosed
from shadowgate.rollout.machine import TransitionError
from shadowgate.store.rows import SchemaTooNewError, StaleStateError

#: every exception a user or a handler can meet, and where the tree puts it
TREE: dict[type[BaseException], type[BaseException]] = {
    errors.ConfigError: errors.ShadowgateError,
    errors.StoreError: errors.ShadowgateError,
    StaleStateError: errors.StoreError,
    SchemaTooNewError: errors.StoreError,
    errors.BadRequestError: errors.ShadowgateError,
    FeedbackError: errors.BadRequestError,
    Rejected: errors.BadRequestError,
    BadRequestBody: errors.BadRequestError,
    LocalProtocolError: errors.ShadowgateError,
    ClientClosed: errors.ShadowgateError,
    UpstreamError: errors.ShadowgateError,
    BodyTooLarge: errors.ShadowgateError,
    errors.ConflictError: errors.ShadowgateError,
    TransitionError: errors.ConflictError,
    errors.InvalidDataError: errors.ShadowgateError,
    CompareError: errors.InvalidDataError,
    InvalidResponse: CompareError,
    InvalidRequest: CompareError,
    LabelError: errors.InvalidDataError,
    errors.ClientError: errors.ShadowgateError,
    BodyTimeout: errors.ClientError,
}


def test_every_error_sits_where_the_tree_draws_it() -> None:
    for cls, parent in TREE.items():
        assert parent in cls.__mro__[1:], f"{cls.__name__} is not a {parent.__name__}"


def test_the_docstring_draws_every_class_of_the_tree_with_its_parent() -> None:
    doc = errors.__doc__ or ""
    depth: dict[str, int] = {}
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in doc.splitlines():
        m = re.match(r"^ {4}[│├└─ ]*([A-Z]\w+)\s{2,}", line)
        if not m:
            continue
        name = m.group(1)
        level = (m.start(1) - 4) // 4  # each level of the drawing is four columns
        del stack[level:]
        if stack:
            parents[name] = stack[-1]
        stack.append(name)
        depth[name] = level
    assert depth.get("ShadowgateError") == 0
    for cls, parent in TREE.items():
        assert parents.get(cls.__name__) == parent.__name__, cls.__name__


def test_the_old_compatibility_of_value_errors_holds() -> None:
    # code that caught ValueError before the tree existed still does
    assert issubclass(TransitionError, ValueError) and issubclass(CompareError, ValueError)
    assert issubclass(LabelError, ValueError)


def test_no_dead_upstream_errors_are_left_in_the_tree() -> None:
    source = Path(errors.__file__).read_text()
    assert "class UpstreamError" not in source and not hasattr(errors, "UpstreamTimeout")
