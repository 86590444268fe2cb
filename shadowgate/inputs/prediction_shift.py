"""The prediction-shift test, kept under this name: it lives in :mod:`shadowgate.stats`
(``stats/class_shift.py``) so that the rollout checks can use it too."""

from shadowgate.stats.class_shift import OTHER, PredictionShiftTest, Question

__all__ = ["OTHER", "PredictionShiftTest", "Question"]
