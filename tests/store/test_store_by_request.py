"""read_outcomes_by_request: what a posted label will join, on every backend."""

from __future__ import annotations

from shadowgate.store import OutcomeRecord, Store


def rec(rid: str, route: str, pred: list[int]) -> OutcomeRecord:
    return OutcomeRecord(route, f"{route}-1", rid, 1.0, "shadow", "production",
                         rows=len(pred), prod_pred=pred)  # fmt: skip


async def test_outcomes_of_request_ids_across_routes_oldest_first(store: Store) -> None:
    await store.insert_outcomes([rec("a", "r", [1]), rec("b", "r", [2]), rec("a", "s", [3, 4])])
    got = await store.read_outcomes_by_request(["a", "a", "missing"])
    assert [(o.record.route, o.record.prod_pred) for o in got] == [("r", [1]), ("s", [3, 4])]
    assert got[0].id < got[1].id
    only = await store.read_outcomes_by_request(["b"], fields=("route",))
    assert [(o.record.request_id, o.record.prod_pred) for o in only] == [("b", None)]
    assert await store.read_outcomes_by_request([]) == []
