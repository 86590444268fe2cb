"""Protocol adapters: how many rows a request holds, and one prediction per row of a response.

Each adapter reads already-decoded JSON (see :func:`decode_json`) and knows one wire format:

- ``open-inference-v2`` (KServe v2 / Open Inference Protocol, served by MLServer, Triton):
  ``{"inputs": [{"name", "shape", "datatype", "data"}]}`` →
  ``{"model_name", "id", "outputs": [{"name", "shape", "datatype", "data"}]}``; rows are the
  first dimension of ``shape`` and ``data`` is split row by row (flat row-major or nested).
- ``kserve-v1`` and ``tfserving`` (TF Serving REST): ``{"instances": [...]}`` (row format) or
  ``{"inputs": ...}`` (columnar) → ``{"predictions": [...]}`` or ``{"outputs": ...}``.
- ``mlflow`` (``/invocations``): ``dataframe_split``, ``dataframe_records``, ``instances`` or
  ``inputs`` → ``{"predictions": [...]}`` (or a bare list, as MLflow 1.x answered).
- ``json``: predictions found by the route's JMESPath ``prediction.path``; without one the
  whole body is a single prediction.

A response that does not follow its protocol raises :class:`InvalidResponse`, which the
outcome builder records as error class ``invalid``. The route's ``prediction.path``, when set,
overrides where any protocol's predictions are found.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import jmespath
import orjson
from jmespath.exceptions import JMESPathError

from shadowgate.config.model import PredictionConfig, Protocol
from shadowgate.errors import InvalidDataError
from shadowgate.model.outcome import FloatRows


class CompareError(InvalidDataError):
    """A body could not be read per the route's protocol; the message says what and where."""


class InvalidResponse(CompareError):
    """A model server's response does not follow the protocol (error class ``invalid``)."""


class InvalidRequest(CompareError):
    """A client request does not follow the protocol (its row count is then unknown)."""


#: every digit read as "0", to find runs of digits with one substring search
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
#: 19 digits in a row: perhaps an integer beyond 64 bits, which orjson reads as a float
_LONG_NUMBER = b"0" * 19


def loads(body: bytes) -> Any:
    """``json.loads(body)``, several times faster for the bodies model servers send.

    orjson reads strict JSON; what it refuses (``NaN``/``Infinity`` literals as Python's
    ``json.dumps`` writes them, ``1e400``, UTF-16 text, lone surrogates) is read by the
    standard library, and so is a body with a run of 19 digits, since orjson would turn an
    integer beyond 64 bits into a float. Every body decodes as it always did, or not at all.
    """
    if _LONG_NUMBER in body.translate(_DIGITS_AS_ZERO):
        return json.loads(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def decode_json(
    body: bytes | None, what: str = "response", parse: Callable[[], Any] | None = None
) -> Any:
    """Decode a JSON body, raising :class:`InvalidResponse` (or ``InvalidRequest``) if it isn't.

    ``parse()``, when given, stands for ``loads(body)`` (a decode shared with other readers).
    """
    err = InvalidRequest if what == "request" else InvalidResponse
    if body is None or body == b"":
        raise err(f"empty {what} body: expected JSON")
    try:
        return loads(body) if parse is None else parse()
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise err(f"{what} body is not JSON: {exc}") from None


# --------------------------------------------------------------------------- open inference v2


def _flatten(data: Any) -> list[Any]:
    """Flatten nested lists in row-major order; strings (BYTES) and dicts stay atoms."""
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _reshape(flat: Sequence[Any], dims: Sequence[int]) -> Any:
    """Nest a flat row-major sequence into ``dims``; a single element becomes a scalar."""
    if math.prod(dims) == 1:
        return flat[0]
    if len(dims) == 1:
        return list(flat)
    step = math.prod(dims[1:])
    return [_reshape(flat[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0])]


def _shape(tensor: dict[str, Any], where: str, err: type[CompareError]) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise err(f"{where}.shape must be a list of non-negative integers, got {shape!r}")
    return shape


def _float_rows(data: Any, shape: list[int]) -> list[Any] | None:
    """Rows of the common tensor, flat floats of shape [N], [N, 1] or [N, K], by slicing."""
    if len(shape) not in (1, 2) or not isinstance(data, list) or not data:
        return None
    if len(data) != math.prod(shape) or set(map(type, data)) != {float}:
        return None  # nested, mixed or mis-sized data: the general path splits or says why
    if len(shape) == 1 or shape[1] == 1:
        return list(data)
    return FloatRows(data, shape[1])


def split_tensor(tensor: Any, where: str = "output") -> list[Any]:
    """Split one OIP v2 tensor into rows by its ``shape`` (rows = the first dimension).

    ``shape [N]`` and ``[N, 1]`` give N scalars; ``[N, K]`` gives N lists of K values (e.g.
    class probabilities); a scalar tensor (``shape []``) is one row.
    """
    if not isinstance(tensor, dict):
        raise InvalidResponse(f"{where} must be an object with name, shape, datatype, data")
    shape = _shape(tensor, where, InvalidResponse)
    if "data" not in tensor:
        raise InvalidResponse(f"{where} has no 'data'")
    fast = _float_rows(tensor["data"], shape)
    if fast is not None:
        return fast
    flat = _flatten(tensor["data"])
    if len(flat) != math.prod(shape):
        raise InvalidResponse(
            f"{where} has {len(flat)} values but shape {shape} needs {math.prod(shape)}"
        )
    if not shape:
        return [flat[0]]
    rows, per_row = shape[0], shape[1:]
    step = math.prod(per_row)
    if step == 0:
        return [[] for _ in range(rows)]
    return [_reshape(flat[i * step : (i + 1) * step], per_row) for i in range(rows)]


def _oip_request_rows(body: Any) -> int:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
        raise InvalidRequest("open-inference-v2 request needs 'inputs': a non-empty list")
    shape = _shape(inputs[0], "inputs[0]", InvalidRequest)
    return shape[0] if shape else 1


def _oip_predictions(body: Any, output: str | None) -> list[Any]:
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list) or not outputs:
        raise InvalidResponse("open-inference-v2 response needs 'outputs': a non-empty list")
    if output is not None:
        names = [o.get("name") if isinstance(o, dict) else None for o in outputs]
        if output not in names:
            raise InvalidResponse(f"no output named {output!r}; the response has {names}")
        i = names.index(output)
        return split_tensor(outputs[i], f"outputs[{i}]")
    # several outputs and none chosen: the first, as the config reference documents
    return split_tensor(outputs[0], "outputs[0]")


# ------------------------------------------------------------- tfserving / kserve-v1 / mlflow


def _columnar_rows(value: Any, where: str, err: type[CompareError]) -> int:
    """Rows of a columnar payload: a list, or a dict of equally long per-name lists."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict) and value:
        lens = {len(v) if isinstance(v, list) else 1 for v in value.values()}
        if len(lens) != 1:
            raise err(f"{where}: named columns have different lengths {sorted(lens)}")
        return lens.pop()
    raise err(f"{where} must be a list or an object of named lists")


def _columnar_predictions(value: Any, where: str) -> list[Any]:
    """Rows of a columnar response: a list as is, a dict of lists as one dict per row."""
    n = _columnar_rows(value, where, InvalidResponse)
    if isinstance(value, list):
        return list(value)
    cols = {k: v if isinstance(v, list) else [v] for k, v in value.items()}
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def _tf_request_rows(body: Any) -> int:
    if isinstance(body, dict) and isinstance(body.get("instances"), list):
        return len(body["instances"])
    if isinstance(body, dict) and "inputs" in body:
        return _columnar_rows(body["inputs"], "inputs", InvalidRequest)
    raise InvalidRequest("request needs 'instances' (a list) or 'inputs'")


def _tf_predictions(body: Any) -> list[Any]:
    if isinstance(body, dict) and "error" in body and "predictions" not in body:
        raise InvalidResponse(f"the model server answered an error: {str(body['error'])[:200]}")
    if isinstance(body, dict) and isinstance(body.get("predictions"), list):
        return list(body["predictions"])
    if isinstance(body, dict) and "outputs" in body:
        return _columnar_predictions(body["outputs"], "outputs")
    raise InvalidResponse("response needs 'predictions' (a list) or 'outputs'")


def _mlflow_request_rows(body: Any) -> int:
    if not isinstance(body, dict):
        raise InvalidRequest("an MLflow request is a JSON object")
    split = body.get("dataframe_split")
    if isinstance(split, dict) and isinstance(split.get("data"), list):
        return len(split["data"])
    for key in ("dataframe_records", "instances"):
        if isinstance(body.get(key), list):
            return len(body[key])
    if "inputs" in body:
        return _columnar_rows(body["inputs"], "inputs", InvalidRequest)
    raise InvalidRequest(
        "MLflow request needs one of dataframe_split, dataframe_records, instances, inputs"
    )


def _mlflow_predictions(body: Any) -> list[Any]:
    if isinstance(body, list):  # MLflow 1.x answered a bare list
        return list(body)
    if isinstance(body, dict) and "predictions" in body:
        return _columnar_predictions(body["predictions"], "predictions")
    if isinstance(body, dict) and "error_code" in body:
        raise InvalidResponse(f"the model server answered an error: {body.get('message', '')!s}")
    raise InvalidResponse("MLflow response needs 'predictions'")


# ---------------------------------------------------------------------------------- dispatch


def _by_path(body: Any, path: str) -> list[Any]:
    try:
        found = jmespath.search(path, body)
    except JMESPathError as exc:  # a runtime type error, e.g. indexing a string
        raise InvalidResponse(f"prediction.path {path!r} failed: {exc}") from None
    if found is None:
        raise InvalidResponse(f"prediction.path {path!r} found nothing in the response")
    if isinstance(found, dict) and "shape" in found and "data" in found:
        return split_tensor(found, path)  # an OIP v2 tensor: keep its row structure
    return list(found) if isinstance(found, list) else [found]


_REQUEST_ROWS: dict[str, Callable[[Any], int]] = {
    "open-inference-v2": _oip_request_rows,
    "kserve-v1": _tf_request_rows,
    "tfserving": _tf_request_rows,
    "mlflow": _mlflow_request_rows,
}


def request_rows(protocol: Protocol, body: Any) -> int | None:
    """How many rows (instances) a decoded request holds; None when the protocol can't tell.

    Raises :class:`InvalidRequest` when the body does not follow the protocol.
    """
    rows = _REQUEST_ROWS.get(protocol)
    return None if rows is None else rows(body)


def output_datatype(protocol: Protocol, body: Any, cfg: PredictionConfig) -> str | None:
    """The OIP v2 ``datatype`` of the output compared (None for other protocols)."""
    if protocol != "open-inference-v2" or cfg.path or not isinstance(body, dict):
        return None
    outputs = body.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        return None
    chosen = outputs[0]
    if cfg.output is not None:
        chosen = next(
            (o for o in outputs if isinstance(o, dict) and o.get("name") == cfg.output), None
        )
    dtype = chosen.get("datatype") if isinstance(chosen, dict) else None
    return dtype if isinstance(dtype, str) else None


def predictions(protocol: Protocol, body: Any, cfg: PredictionConfig) -> list[Any]:
    """One prediction per row of a decoded response; raises :class:`InvalidResponse`."""
    if cfg.path:
        return _by_path(body, cfg.path)
    if protocol == "open-inference-v2":
        return _oip_predictions(body, cfg.output)
    if protocol in ("kserve-v1", "tfserving"):
        return _tf_predictions(body)
    if protocol == "mlflow":
        return _mlflow_predictions(body)
    return [body]  # json without a path: the whole body is one prediction
