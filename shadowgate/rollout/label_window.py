"""Label checks see each pair once its label window has passed, in request order (pure).

When a label's delay depends on its value (fraud is confirmed later than a legitimate
payment), reading labels as they arrive shows the analysis one class first, and the
estimate drifts with the mix of what has arrived. With a fixed window ``W`` every pair is
evaluated exactly once, ``W`` after its request, labelled or not: which pairs carry a
label no longer depends on when the analysis looks. Unlabelled pairs are counted, so the
labelled share can be reported next to the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass
class LabelWindow:
    """Which pairs are due for evaluation; positions are request indices (or timestamps)."""

    window: float
    #: first request not yet evaluated
    next_index: int = 0
    evaluated: int = 0
    labelled: int = 0

    def due(
        self, request_at: npt.NDArray[np.float64], label_at: npt.NDArray[np.float64], now: float
    ) -> npt.NDArray[np.int64]:
        """Indices (in request order) of pairs due now that carry a label within the window.

        ``request_at`` and ``label_at`` cover every request from index 0 (label_at is inf
        for a pair never labelled); pairs due but unlabelled are counted, not returned.
        """
        start = self.next_index
        stop = int(np.searchsorted(request_at, now - self.window, side="right"))
        if stop <= start:
            return np.empty(0, dtype=np.int64)
        idx = np.arange(start, stop)
        keep = label_at[idx] <= request_at[idx] + self.window
        self.next_index = stop
        self.evaluated += idx.size
        self.labelled += int(keep.sum())
        out: npt.NDArray[np.int64] = idx[keep]
        return out

    @property
    def labelled_share(self) -> float:
        return self.labelled / self.evaluated if self.evaluated else float("nan")
