"""The rules of a ``metric: prediction_shift`` check (its one key is ``max_shift``)."""

from __future__ import annotations


def check_max_shift(metric: str, max_shift: float | None, margin: float | None, goal: str) -> None:
    """Raise ``ValueError`` with what to write when a check's keys do not fit its metric."""
    if metric != "prediction_shift":
        if max_shift is not None:
            raise ValueError(f"max_shift applies to metric prediction_shift only, not {metric}")
        return
    if max_shift is None:
        raise ValueError(
            "metric prediction_shift needs max_shift: the largest tolerated difference "
            "between the two models' predicted-class shares (e.g. max_shift: 5%)"
        )
    if margin is not None:
        raise ValueError("prediction_shift takes max_shift, not margin")
    if goal == "superior":
        raise ValueError("prediction_shift has no superiority goal; set max_shift instead")
