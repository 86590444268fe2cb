"""Triton's binary tensor data extension to the Open Inference Protocol over HTTP.

``tritonclient`` sends and asks for tensors in binary by default: the body is a JSON header
followed by each tensor's raw bytes, in the order of the tensors whose
``parameters.binary_data_size`` gives their byte length (the HTTP header
``Inference-Header-Content-Length`` holds the header's length, but the body delimits
itself: the header is one JSON value, and the sizes must add up to what follows it).
Elements are little-endian in row-major order; ``BOOL`` is one byte; ``BYTES`` elements are
each a 4-byte little-endian length and that many bytes.

:func:`decode_binary` turns such a body back into the JSON form, each binary tensor's
``data`` filled from its bytes, so the rest of ``compare/`` reads both forms alike. The
data plane forwards the bytes unchanged; only the recorder decodes them.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from shadowgate.compare.protocols import CompareError

#: numpy dtypes of the fixed-size datatypes (``BF16`` and ``BYTES`` are handled apart)
_DTYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_DECODER = json.JSONDecoder()


def _bytes_elements(chunk: bytes, where: str) -> list[Any]:
    out: list[Any] = []
    pos = 0
    while pos < len(chunk):
        if pos + 4 > len(chunk):
            raise CompareError(f"{where}: BYTES element length cut short at byte {pos}")
        (n,) = struct.unpack_from("<I", chunk, pos)
        pos += 4
        if pos + n > len(chunk):
            raise CompareError(f"{where}: BYTES element of {n} bytes overruns the tensor")
        out.append(chunk[pos : pos + n].decode("utf-8", "replace"))
        pos += n
    return out


def _elements(chunk: bytes, datatype: Any, where: str) -> list[Any]:
    if datatype == "BYTES":
        return _bytes_elements(chunk, where)
    if datatype == "BF16":
        if len(chunk) % 2:
            raise CompareError(f"{where}: {len(chunk)} bytes is no whole number of BF16 values")
        wide = np.frombuffer(chunk, "<u2").astype("<u4") << 16
        out: list[Any] = wide.view("<f4").tolist()
        return out
    dtype = _DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise CompareError(f"{where}: unknown datatype {datatype!r} for binary data")
    size = np.dtype(dtype).itemsize
    if len(chunk) % size:
        raise CompareError(f"{where}: {len(chunk)} bytes is no whole number of {datatype} values")
    values: list[Any] = np.frombuffer(chunk, dtype).tolist()
    return values


def _fill(tensors: Any, raw: memoryview, key: str, pos: int) -> int:
    """Fill each binary tensor's ``data`` from ``raw[pos:]`` in order; the new position."""
    if not isinstance(tensors, list):
        return pos
    for i, t in enumerate(tensors):
        params = t.get("parameters") if isinstance(t, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            continue
        where = f"{key}[{i}]"
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise CompareError(f"{where}.parameters.binary_data_size must be a byte count")
        if pos + size > len(raw):
            raise CompareError(f"{where}: {size} bytes of binary data, {len(raw) - pos} left")
        data = _elements(bytes(raw[pos : pos + size]), t.get("datatype"), where)
        shape = t.get("shape")
        known = isinstance(shape, list) and all(type(d) is int for d in shape)
        if known and len(data) != math.prod(shape):
            raise CompareError(
                f"{where}: {len(data)} values in binary data but shape {shape} "
                f"needs {math.prod(shape)}"
            )
        t["data"] = data
        pos += size
    return pos


def decode_binary(body: bytes) -> Any | None:
    """A binary-extension body as its JSON form, or None when the body is not one.

    Raises :class:`CompareError` when the header announces binary data that the bytes
    after it do not hold.
    """
    if not body.startswith(b"{"):
        return None
    text = body.decode("utf-8", "surrogateescape")
    try:
        doc, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or end == len(text):
        return None
    header = len(text[:end].encode("utf-8", "surrogateescape"))
    raw = memoryview(body)[header:]
    used = 0
    for key in ("inputs", "outputs"):
        used = _fill(doc.get(key), raw, key, used)
    if used == 0:
        return None  # trailing bytes, but no tensor says they are its data
    if used != len(raw):
        raise CompareError(f"binary tensor data is {len(raw)} bytes but the tensors declare {used}")
    return doc
