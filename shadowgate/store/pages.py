"""``pages()``: a cursor read (``read_outcomes`` or ``read_labeled``) page after page.

Every reader that walks a route's outcomes or labelled outcomes in cursor order (the
judge, the report, ``export``) does it with this one loop: read a page after the cursor,
hand it over, move the cursor to its last row, stop after a short page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Protocol, TypeVar

from shadowgate.store.rows import DEFAULT_PAGE, LabeledOutcome, StoredOutcome

R = TypeVar("R", StoredOutcome, LabeledOutcome)


class CursorRead(Protocol[R]):
    """``Store.read_outcomes`` or ``Store.read_labeled``."""

    async def __call__(
        self,
        route: str,
        after: int,
        limit: int,
        rollout_id: str | None,
        /,
        *,
        fields: Collection[str] | None = None,
    ) -> list[R]: ...


def cursor_of(row: StoredOutcome | LabeledOutcome) -> int:
    """Where a cursor stands after ``row``: an outcome's id, a join's sequence number."""
    return row.seq if isinstance(row, LabeledOutcome) else row.id


async def pages(
    read: CursorRead[R],
    route: str,
    after: int = 0,
    *,
    page: int = DEFAULT_PAGE,
    rollout_id: str | None = None,
    fields: Collection[str] | None = None,
    upto: int | None = None,
    max_pages: int | None = None,
) -> AsyncIterator[list[R]]:
    """Non-empty pages of at most ``page`` rows of ``route`` after cursor ``after``.

    ``rollout_id`` and ``fields`` are passed to ``read``. ``upto`` stops at that cursor
    (rows past it, committed while reading, are left for later); ``max_pages`` bounds
    one walk (a caller that must get back to other work picks up at its cursor).
    """
    if page < 1:
        raise ValueError(f"a page holds at least one row, not {page}")
    cursor, n = after, 0
    while max_pages is None or n < max_pages:
        if upto is not None and cursor >= upto:
            return
        rows = await read(route, cursor, page, rollout_id, fields=fields)
        full = len(rows) == page
        if upto is not None:
            rows = [r for r in rows if cursor_of(r) <= upto]
        if not rows:
            return
        n += 1
        cursor = cursor_of(rows[-1])
        yield rows
        if not full:
            return
