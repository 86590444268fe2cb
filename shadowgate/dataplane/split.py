"""Deterministic traffic splitting: a key hashes to a point in [0, 100).

A request goes to the candidate when its point is below the weight. The point depends
only on the route and the key, so a user keeps its variant while the weight holds, and
raising the weight only moves users from production to the candidate (their point is
already below the old weight, hence below the new one). The same function, on the
request id, decides which requests are mirrored, reproducibly.
"""

from __future__ import annotations

from hashlib import blake2b

_SCALE = 100.0 / 2.0**64


def point(salt: bytes, key: str) -> float:
    """The key's position in [0, 100) for this salt (route name + purpose)."""
    digest = blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") * _SCALE


def chosen(salt: bytes, key: str, percent: float) -> bool:
    """True for about ``percent`` % of keys; all keys at 100, none at 0."""
    if percent >= 100.0:
        return True
    if percent <= 0.0:
        return False
    return point(salt, key) < percent


def salt(route: str, purpose: str) -> bytes:
    """A hashing key per route and purpose (mirror, noise, canary), at most 64 bytes."""
    return blake2b(f"{purpose}\0{route}".encode(), digest_size=32).digest()
