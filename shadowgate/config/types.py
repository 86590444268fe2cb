"""Scalar types of the config file: durations, percentages, fractions, sizes, URLs.

Each is an ``Annotated`` float/int with a "before" validator, so the YAML may say
``2s`` or ``2`` and the model always holds plain numbers (seconds, bytes, ...).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_duration(value: object) -> float:
    """``500ms``, ``2s``, ``5m``, ``24h``, ``7d`` or a bare number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 2s, 5m or 24h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(
                f"invalid duration {value!r}: use a number with ms, s, m, h or d (e.g. 500ms, 2s)"
            )
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ValueError("expected a duration such as 500ms, 2s, 5m or 24h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_percent(value: object) -> float:
    """A quantity in percent units: ``10%`` or ``10`` both mean ten percent → 10.0."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 10% or 10")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            text = text[:-1]
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"invalid percentage {value!r}: write e.g. 10% or 10") from None
    if isinstance(value, int | float):
        return float(value)
    raise ValueError("expected a percentage such as 10% or 10")


def parse_fraction(value: object) -> float:
    """A fraction: ``10%`` → 0.1, ``0.1`` → 0.1 (DESIGN §3: "percentages accept 10% or 0.1")."""
    if isinstance(value, bool):
        raise ValueError("expected a fraction such as 0.1 or 10%")
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            return float(text)
        except ValueError:
            raise ValueError(f"invalid fraction {value!r}: write e.g. 0.1 or 10%") from None
    if isinstance(value, int | float):
        return float(value)
    raise ValueError("expected a fraction such as 0.1 or 10%")


def parse_size(value: object) -> int:
    """``10MB``, ``512KiB`` or a bare number of bytes → bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 10MB")
    if isinstance(value, int):
        size = value
    elif isinstance(value, float):
        size = int(value)
    elif isinstance(value, str):
        m = _SIZE.match(value)
        if not m:
            raise ValueError(f"invalid size {value!r}: use e.g. 512KB, 10MB, 1GiB")
        size = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
    else:
        raise ValueError("expected a size such as 10MB")
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


def _redact(value: str) -> str:
    """``value`` with any ``user:password@`` replaced: error messages end up in logs."""
    scheme, sep, rest = value.partition("://")
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{slash}{path}" if sep else value


def check_http_url(value: str) -> str:
    """An absolute http(s) URL with a host; no credentials in it, no fragment."""
    parts = urlsplit(value)
    shown = _redact(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"invalid URL {shown!r}: must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"invalid URL {shown!r}: no host")
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValueError(f"invalid URL {shown!r}: bad port") from None
    if parts.username or parts.password:
        raise ValueError(
            f"invalid URL {shown!r}: credentials in URLs leak into logs; "
            "send them as headers from the client instead"
        )
    if parts.fragment:
        raise ValueError(f"invalid URL {shown!r}: a fragment (#...) is not allowed")
    return value.rstrip("/")


def check_listen(value: str) -> str:
    """``host:port`` (``[::1]:8080`` for IPv6)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) <= 65535):
        raise ValueError(f"invalid listen address {value!r}: write host:port, e.g. 0.0.0.0:8080")
    if not host:
        raise ValueError(f"invalid listen address {value!r}: no host before the port")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
Percent = Annotated[float, BeforeValidator(parse_percent)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
Size = Annotated[int, BeforeValidator(parse_size)]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
ListenAddress = Annotated[str, AfterValidator(check_listen)]


def split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)
