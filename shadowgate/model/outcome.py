"""Rows of the store: one outcome per mirrored (shadow) or served (canary) request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


class FloatRows(list[Any]):
    """Rows of K floats each, as a list of lists, with the same numbers as an (N, K) array.

    An Open Inference Protocol answer's ``[N, K]`` FP tensor arrives as one flat list of
    floats; it is split into rows once, and the array is built from the flat list in one
    call. The compare reads the array (no second pass over the rows) and the store packs
    it (no pass over the elements), while everyone else sees the plain list of lists it
    equals. The rows must not be modified: the array would no longer match them.
    """

    __slots__ = ("matrix",)

    matrix: npt.NDArray[np.float64]

    def __init__(self, flat: list[float], width: int) -> None:
        super().__init__(flat[i : i + width] for i in range(0, len(flat), width))
        matrix = np.array(flat, dtype=np.float64).reshape(-1, width)
        matrix.flags.writeable = False
        self.matrix = matrix


@dataclass(slots=True)
class OutcomeRecord:
    """A paired (shadow) or single (canary) outcome, ready to be written.

    Latencies are seconds; error classes are ``None`` or one of timeout, connect, reset,
    too_large, client_closed, 5xx, invalid. ``agree``/predictions are per row of a batch
    request (JSON-serialisable lists), ``None`` when nothing could be compared.
    """

    route: str
    rollout_id: str
    request_id: str
    ts: float
    kind: str  # shadow | canary | noise
    variant: str  # production | candidate (the variant that served the client)
    prod_status: int | None = None
    prod_latency: float | None = None
    prod_error: str | None = None
    cand_status: int | None = None
    cand_latency: float | None = None
    cand_error: str | None = None
    rows: int = 0
    agree: list[bool] | None = None
    prod_pred: list[Any] | None = None
    cand_pred: list[Any] | None = None
    prob_gap: list[float] | None = None
    segment: str | None = None
    request_body: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: error classes that are the client's doing, not a model's: never counted against either
NOT_A_FAILURE = frozenset({"client_closed"})


def side_failed(error: str | None, status: int | None) -> bool:
    """Whether one side of an outcome failed: the one definition every check and report uses.

    A transport error fails the side unless the client caused it (``client_closed``); a side
    that answered fails when it never gave a status or gave a 5xx.
    """
    if error is not None:
        return error not in NOT_A_FAILURE
    return status is None or status >= 500
