"""Compact binary for the per-row prediction columns (``agree``, ``prod_pred``,
``cand_pred``, ``prob_gap``), with the JSON text of older rows still readable.

A value that is a flat list, or a rectangular list of lists, of one Python type (all
``bool``, all ``int`` within int64, or all finite ``float``) is stored as an array:

    0x00 | dtype code (1 byte: ``?`` bool, ``q`` int64, ``d`` float64) | ndim (1 byte)
         | ndim × uint32 shape | the elements, little-endian (bools packed 8 to a byte)

so 32 rows of two FP64 probabilities take 523 bytes instead of about 1 300 of JSON text,
and decode with one ``numpy.frombuffer``. Anything else (strings, ``None`` among the
values, ragged or deeper nesting, NaN or ±inf, integers beyond int64, empty lists) is
stored as its canonical JSON text (``codec.dumps``), encoded as UTF-8: exactly what was
stored before, NaN and ±inf still becoming ``null``. JSON text never begins with a zero
byte, so ``unpack`` tells the two apart by the first byte; it also reads ``str`` (SQLite
rows written before version 2 of the schema). Every value round-trips exactly: the same
types, the same numbers (``tests/store/test_store_packed.py``). A numpy array of bools,
integers or floats is packed as is and reads back as the equal list.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np

MAGIC = 0x00
_HEAD = struct.Struct("<BcB")
_INT64 = (-(2**63), 2**63 - 1)
_DTYPES = {b"q": np.dtype("<i8"), b"d": np.dtype("<f8")}


def _flat(value: list[Any]) -> tuple[list[Any], tuple[int, ...]] | None:
    """The elements of a flat or rectangular two-level list, and its shape."""
    first = value[0]
    if type(first) is not list:
        return value, (len(value),)
    width = len(first)
    if not all(type(r) is list and len(r) == width for r in value):
        return None
    return [x for r in value for x in r], (len(value), width)


_CODES = {"b": b"?", "i": b"q", "u": b"q", "f": b"d"}


def _ndarray(value: np.ndarray) -> tuple[bytes, np.ndarray] | None:
    """A numpy array of bools, integers or floats (a vectorised compare's output)."""
    code = _CODES.get(value.dtype.kind)
    if code is None or value.ndim > 2 or value.size == 0 or value.dtype.itemsize > 8:
        return None
    if code == b"d" and not np.isfinite(value).all():
        return None
    if value.dtype.kind == "u" and value.dtype.itemsize == 8 and value.max() > _INT64[1]:
        return None
    return code, value


def _array(value: Any) -> tuple[bytes, np.ndarray] | None:
    """``value`` as (dtype code, array), or None when it is not a plain numeric array."""
    if isinstance(value, np.ndarray):
        return _ndarray(value)
    if type(value) is not list or not value:
        return None
    flat = _flat(value)
    if flat is None:
        return None
    items, shape = flat
    kinds = set(map(type, items))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind is float:
        arr = np.array(items, dtype=np.float64)
        if not np.isfinite(arr).all():  # JSON keeps them as null, as it always did
            return None
        return b"d", arr.reshape(shape)
    if kind is bool:
        return b"?", np.array(items, dtype=np.bool_).reshape(shape)
    if kind is int:
        if min(items) < _INT64[0] or max(items) > _INT64[1]:
            return None
        return b"q", np.array(items, dtype=np.int64).reshape(shape)
    return None


def pack(value: Any, dumps: Callable[[Any], str]) -> bytes | None:
    """``value`` (None stays NULL) as compact binary, or as UTF-8 ``dumps(value)``."""
    if value is None:
        return None
    found = _array(value)
    if found is None:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return dumps(value).encode()
    code, arr = found
    head = _HEAD.pack(MAGIC, code, arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape)
    if code == b"?":
        return head + np.packbits(arr.ravel()).tobytes()
    return head + arr.astype(_DTYPES[code], copy=False).tobytes()


def unpack(stored: Any, loads: Callable[[Any], Any]) -> Any:
    """The value ``pack`` stored (None for NULL); JSON text (``str`` or UTF-8 bytes) goes
    to ``loads``."""
    if stored is None:
        return None
    if isinstance(stored, str):
        return loads(stored)
    data = bytes(stored)
    if not data or data[0] != MAGIC:
        return loads(data.decode())
    _, code, ndim = _HEAD.unpack_from(data)
    shape = struct.unpack_from(f"<{ndim}I", data, _HEAD.size)
    offset = _HEAD.size + 4 * ndim
    count = int(np.prod(shape))
    if code == b"?":
        bits = np.unpackbits(np.frombuffer(data, np.uint8, offset=offset), count=count)
        return bits.astype(np.bool_).reshape(shape).tolist()
    dtype = _DTYPES.get(code)
    if dtype is None:
        raise ValueError(f"unknown packed dtype code {code!r}")
    return np.frombuffer(data, dtype, count=count, offset=offset).reshape(shape).tolist()
