"""shadowgate.compare: pure protocol adapters and per-pair comparison (no I/O, no clock).

- :mod:`.protocols`: rows of a request and per-row predictions of a response, per protocol
- :mod:`.compare`: do two predictions agree (by task, with tolerances, ignoring fields)
- :mod:`.batch`: the same verdicts for a whole batch at once, vectorised with numpy
- :mod:`.outcome`: :func:`build_outcome` turns an :class:`Exchange` into an ``OutcomeRecord``
- :mod:`.loss`: per-row loss once a label arrives, and both sides' paired losses
- :mod:`.noise`: the disagreement floor of production compared with itself
"""

from shadowgate.compare.batch import compare_batch, compare_rows
from shadowgate.compare.compare import RowComparison, compare_values
from shadowgate.compare.loss import LabelError, PairedLoss, RowLoss, paired_loss, row_loss
from shadowgate.compare.noise import NoiseFloor
from shadowgate.compare.outcome import build_outcome
from shadowgate.compare.protocols import CompareError, InvalidRequest, InvalidResponse
from shadowgate.model.exchange import Exchange, Side

__all__ = [
    "CompareError",
    "Exchange",
    "InvalidRequest",
    "InvalidResponse",
    "LabelError",
    "NoiseFloor",
    "PairedLoss",
    "RowComparison",
    "RowLoss",
    "Side",
    "build_outcome",
    "compare_batch",
    "compare_rows",
    "compare_values",
    "paired_loss",
    "row_loss",
]
