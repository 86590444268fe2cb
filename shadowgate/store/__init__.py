"""shadowgate.store: outcome, label, rollout-state and audit persistence.

``open_store(url)`` picks the backend from the URL: ``sqlite:///path.db`` (relative),
``sqlite:////abs/path.db``, ``sqlite://`` (in memory) or ``postgresql://user@host/db``
(``?schema=NAME`` keeps the tables in their own schema). The ``Store`` protocol in
``shadowgate.store.base`` documents what every backend guarantees; ``BatchWriter`` in
``shadowgate.store.writer`` is the non-blocking way for the data plane to record.
"""

from __future__ import annotations

from shadowgate.errors import StoreError
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store.base import Store
from shadowgate.store.rows import (
    AuditRecord,
    JudgeState,
    LabeledOutcome,
    LabelResult,
    MonitorSnapshot,
    PolledState,
    PruneResult,
    Rollout,
    SchemaTooNewError,
    StaleStateError,
    StoredLabel,
    StoredOutcome,
)

__all__ = [
    "AuditRecord",
    "JudgeState",
    "LabelResult",
    "LabeledOutcome",
    "MonitorSnapshot",
    "OutcomeRecord",
    "PolledState",
    "PruneResult",
    "Rollout",
    "SchemaTooNewError",
    "StaleStateError",
    "Store",
    "StoredLabel",
    "StoredOutcome",
    "open_store",
    "sqlite_path",
]


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite://`` URL (``":memory:"`` for ``sqlite://``)."""
    rest = url[len("sqlite://") :]
    if rest in ("", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or len(rest) < 2:
        raise StoreError(
            f"invalid SQLite URL {url!r}: write sqlite:///relative.db or sqlite:////abs.db"
        )
    return rest[1:]


def open_store(url: str, *, retention: float = 0.0, max_rows: int = 0) -> Store:
    """A (not yet opened) store for ``url``; call ``await store.open()`` before use.

    ``retention`` (seconds) and ``max_rows`` (per route) drive ``prune``; 0 disables each.
    """
    if url.startswith("sqlite://"):
        from shadowgate.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), retention=retention, max_rows=max_rows)
    if url.startswith(("postgresql://", "postgres://")):
        from shadowgate.store.postgres import PostgresStore

        return PostgresStore(url, retention=retention, max_rows=max_rows)
    raise StoreError(
        f"unsupported store URL {url!r}: use sqlite:///path/to/file.db or postgresql://user@host/db"
    )
