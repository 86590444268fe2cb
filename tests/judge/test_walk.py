"""The judge's bounded walk: pages announced before their chunks, chunks of CHUNK rows."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from shadowgate.judge import walk


class Row:
    def __init__(self, id: int) -> None:
        self.id = id


def test_pages_are_announced_then_folded_in_chunks_up_to_the_page_bound() -> None:
    total = walk.PAGE * (walk.MAX_PAGES + 1)
    asked: list[tuple[str, int, int, str | None, Collection[str] | None]] = []

    async def read(
        route: str, after: int, limit: int, rollout_id: str | None, *, fields: Any = None
    ) -> list[Any]:
        asked.append((route, after, limit, rollout_id, fields))
        return [Row(i) for i in range(after + 1, min(after + limit, total) + 1)]

    events: list[tuple[str, int]] = []

    async def main() -> None:
        async for chunk in walk.chunks(
            read, "r", 0, "r1", ("ts",), lambda rows: events.append(("page", rows[-1].id))
        ):
            assert len(chunk) == walk.CHUNK
            events.append(("chunk", chunk[-1].id))

    asyncio.run(main())
    pages = [e for e in events if e[0] == "page"]
    assert len(pages) == walk.MAX_PAGES  # the last page is left for the next look
    assert events[0] == ("page", walk.PAGE)
    assert events[1] == ("chunk", walk.CHUNK)
    assert events[walk.PAGE // walk.CHUNK + 1] == ("page", 2 * walk.PAGE)
    assert sum(1 for e in events if e[0] == "chunk") == walk.MAX_PAGES * walk.PAGE // walk.CHUNK
    assert asked[0] == ("r", 0, walk.PAGE, "r1", ("ts",))
    assert asked[1][1] == walk.PAGE
