"""Schema validation and drift monitors for the inputs a route sees (pure: no I/O).

- :mod:`.schema`: an Open Inference Protocol v2 model's input schema, checked against a
  decoded request into located :class:`Violation` s; :mod:`.jsonschema_check` does the
  same for other protocols from a JSON Schema; :mod:`.schema_diff` compares two schemas.
- :mod:`.drift`: one anytime-valid drift monitor per feature (and on predictions), on
  reference-quantile bins, with an alarm that says which feature, since when and which bins.
- :mod:`.prediction_shift`: do the two models' predicted-class shares differ by more than
  a margin, on the same requests.
"""

from shadowgate.inputs.drift import DriftMonitor, FeatureAlarm
from shadowgate.inputs.eprocess import BinDriftEProcess
from shadowgate.inputs.prediction_shift import PredictionShiftTest
from shadowgate.inputs.schema import InputSpec, ModelSchema, check_request
from shadowgate.inputs.schema_diff import SchemaDifference, diff_schemas
from shadowgate.inputs.violations import REASONS, Violation

__all__ = [
    "REASONS",
    "BinDriftEProcess",
    "DriftMonitor",
    "FeatureAlarm",
    "InputSpec",
    "ModelSchema",
    "PredictionShiftTest",
    "SchemaDifference",
    "Violation",
    "check_request",
    "diff_schemas",
]
