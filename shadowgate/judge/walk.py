"""How the judge reads a rollout's new outcomes and labels in one look, bounded and polite.

Both walks read pages of the rollout after the context's cursor (at most ``MAX_PAGES`` of
``PAGE`` rows a look; the rest next look) and fold each page in chunks of ``CHUNK`` rows,
yielding to the event loop in between: a page of thousands of outcomes is milliseconds of
Python that would otherwise stall every client request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection

from shadowgate.store.pages import CursorRead, R, pages

#: at most this many outcomes/labels are read per route per look (the rest next look)
PAGE = 5000
#: outcomes folded into the tests between two yields to the event loop
CHUNK = 250
MAX_PAGES = 20


async def chunks(
    read: CursorRead[R],
    route: str,
    after: int,
    rollout_id: str,
    fields: Collection[str],
    on_page: Callable[[list[R]], None],
) -> AsyncIterator[list[R]]:
    """The rows after cursor ``after``, a chunk at a time; ``on_page`` sees each page first.

    ``on_page`` is where the caller moves its cursor past the page it is about to fold.
    """
    async for rows in pages(
        read, route, after, page=PAGE, rollout_id=rollout_id, fields=fields, max_pages=MAX_PAGES
    ):
        on_page(rows)
        for i in range(0, len(rows), CHUNK):
            yield rows[i : i + CHUNK]
            await asyncio.sleep(0)
