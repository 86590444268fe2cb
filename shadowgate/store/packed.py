"""Compact binary for the per-row prediction columns (``agree``, ``prod_pred``,
``cand_pred``, ``prob_gap``), with the JSON text of older rows still readable.

A flat list of at least ``MIN_PACKED`` values, or a rectangular list of lists, of one
Python type (all ``bool``, all ``int`` within int64, or all finite ``float``) is stored
as an array:

    0x00 | type code (1 byte) | ndim (1 byte, 1 or 2) | ndim × uint32 shape
         | the elements, little-endian

with the type code one of ``?`` (bool, one byte each), ``b``/``h``/``i``/``q`` (the
narrowest signed integer of 1, 2, 4 or 8 bytes that holds every value) or ``d`` (FP64).
32 rows of two FP64 probabilities take 523 bytes instead of about 1 300 of JSON text.
Flat values go through the stdlib ``array`` module (its per-call cost is a fraction of
numpy's), two-dimensional ones through numpy, which builds the nested lists in C. A flat
list shorter than ``MIN_PACKED`` stays JSON text: for a few labels or verdicts ``json``'s
C encoder is faster than any packing and the text is about as short
(``benchmarks/store_read.py`` with 4-row requests).

Anything else (strings, ``None`` among the values, ragged or deeper nesting, NaN or
±inf, integers beyond int64, empty lists) is stored as its canonical JSON text
(``codec.dumps``), encoded as UTF-8: exactly what was stored before, NaN and ±inf still
becoming ``null``. JSON text never begins with a zero byte, so ``unpack`` tells the two
apart by the first byte; it also reads ``str`` (SQLite rows written before version 2 of
the schema). Every value round-trips exactly: the same types, the same numbers
(``tests/store/test_store_packed.py``). A numpy array (a vectorised compare's output) is
packed by the same rules as its ``tolist()`` and reads back as that list; an FP64 array,
and the :class:`~shadowgate.model.outcome.FloatRows` an answer's tensor is split into,
are packed from the array's own bytes, to the same bytes as the list would be.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.model.outcome import FloatRows

MAGIC = 0x00
_HEAD = struct.Struct("<BcB")
_SHAPE = {1: struct.Struct("<I"), 2: struct.Struct("<II")}
#: integer type codes, narrowest first, with the range each holds
_INTS = [(b"b", 2**7), (b"h", 2**15), (b"i", 2**31), (b"q", 2**63)]
#: ``array`` typecodes of our type codes (``i`` and ``q`` checked to be 4 and 8 bytes)
_TYPECODES = {b"b": "b", b"h": "h", b"i": "i", b"q": "q", b"d": "d"}
_SIZES = {b"?": 1, b"b": 1, b"h": 2, b"i": 4, b"q": 8, b"d": 8}
#: numpy dtypes of the type codes, for two-dimensional values
_DTYPES = {c: np.dtype(f"<{c.decode()}") for c in (b"b", b"h", b"i", b"q", b"d")}
_BIG_ENDIAN = sys.byteorder == "big"
if array("i").itemsize != 4 or array("q").itemsize != 8:  # pragma: no cover - exotic ABI
    raise RuntimeError("shadowgate.store.packed needs 4-byte int and 8-byte long long")


def _flat(value: list[Any]) -> tuple[list[Any], tuple[int, ...]] | None:
    """The elements of a flat or rectangular two-level list, and its shape."""
    if type(value[0]) is not list:
        return value, (len(value),)
    # set() over map() and chain() run in C: no Python frame per row or element
    if set(map(type, value)) != {list}:
        return None
    widths = set(map(len, value))
    if len(widths) != 1:
        return None
    return list(chain.from_iterable(value)), (len(value), widths.pop())


def _int_code(items: list[int]) -> bytes | None:
    lo, hi = min(items), max(items)
    for code, bound in _INTS:
        if -bound <= lo and hi < bound:
            return code
    return None  # beyond int64: JSON keeps it


#: flat lists shorter than this stay JSON text (see the module doc)
MIN_PACKED = 8
#: the header of each (type code, shape) met so far (a few hundred at most: row counts)
_HEADERS: dict[tuple[bytes, tuple[int, ...]], bytes] = {}


def _header(code: bytes, shape: tuple[int, ...]) -> bytes:
    head = _HEADERS.get((code, shape))
    if head is None:
        head = _HEAD.pack(MAGIC, code, len(shape)) + _SHAPE[len(shape)].pack(*shape)
        if len(_HEADERS) < 4096:
            _HEADERS[code, shape] = head
    return head


def _float_matrix(m: npt.NDArray[Any]) -> tuple[bytes, tuple[int, ...], bytes] | None:
    """A non-empty FP64 array of one or two dimensions, all finite, as its elements (what
    its ``tolist()`` packs to, without a Python object per element); else None."""
    if m.dtype != np.float64 or m.ndim not in (1, 2) or not m.size:
        return None
    if not np.isfinite(m).all():
        return None  # NaN or an infinity: JSON text, as for the list
    return b"d", m.shape, np.ascontiguousarray(m, dtype="<f8").tobytes()


def _elements(value: Any) -> tuple[bytes, tuple[int, ...], bytes] | None:
    """``value`` as (type code, shape, little-endian elements), or None when it is not
    a plain array of one type."""
    if isinstance(value, np.ndarray):
        found = _float_matrix(value)
        if found is not None:
            return found
        value = value.tolist()  # a vectorised compare's output: the same rules apply
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
    if kind is bool:
        return b"?", shape, bytes(items)
    code: bytes | None
    if kind is float:
        # a NaN or an infinity anywhere keeps the JSON text (as an array's isfinite does)
        code = b"d" if all(map(math.isfinite, items)) else None
    elif kind is int:
        code = _int_code(items)
    else:
        code = None
    if code is None:
        return None
    arr = array(_TYPECODES[code], items)
    if _BIG_ENDIAN:  # pragma: no cover - no such CI machine
        arr.byteswap()
    return code, shape, arr.tobytes()


def pack(value: Any, dumps: Callable[[Any], str]) -> bytes | None:
    """``value`` (None stays NULL) as compact binary, or as UTF-8 ``dumps(value)``."""
    if value is None:
        return None
    if isinstance(value, FloatRows):  # rows split from an answer's tensor: its array
        found = _float_matrix(value.matrix)
        if found is not None:
            return _header(*found[:2]) + found[2]
        value = list(value)
    if type(value) is list and len(value) < MIN_PACKED and not (value and type(value[0]) is list):
        return dumps(value).encode()
    found = _elements(value)
    if found is None:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return dumps(value).encode()
    code, shape, data = found
    return _header(code, shape) + data


def unpack(stored: Any, loads: Callable[[Any], Any]) -> Any:
    """The value ``pack`` stored (None for NULL); JSON text (``str`` or UTF-8 bytes) goes
    to ``loads``."""
    if type(stored) is bytes:  # what both drivers return: the common case first
        if stored[:1] == _ZERO:
            return _array_of(stored)
        return loads(stored.decode())
    if stored is None:
        return None
    if isinstance(stored, str):
        return loads(stored)
    return unpack(bytes(stored), loads)


_ZERO = bytes([MAGIC])


def _array_of(data: bytes) -> Any:
    _, code, ndim = _HEAD.unpack_from(data)
    shape_of = _SHAPE.get(ndim)
    if shape_of is None:
        raise ValueError(f"a packed value has 1 or 2 dimensions, not {ndim}")
    shape = shape_of.unpack_from(data, _HEAD.size)
    body = memoryview(data)[_HEAD.size + shape_of.size :]
    size = _SIZES.get(code)
    if size is None:
        raise ValueError(f"unknown packed type code {code!r}")
    if len(body) != math.prod(shape) * size:
        raise ValueError(f"a packed value of shape {shape} holds {len(body) // size} elements")
    if ndim == 2:  # numpy builds the nested lists in C: twice as fast as slicing here
        if code == b"?":
            return np.frombuffer(body, np.uint8).astype(np.bool_).reshape(shape).tolist()
        return np.frombuffer(body, _DTYPES[code]).reshape(shape).tolist()
    if code == b"?":
        return list(map(bool, body))
    arr = array(_TYPECODES[code])
    arr.frombytes(body)
    if _BIG_ENDIAN:  # pragma: no cover - no such CI machine
        arr.byteswap()
    return arr.tolist()
