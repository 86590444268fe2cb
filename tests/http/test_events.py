"""Events about a request share ``seq``; data-less actions share a base; none compare equal
across kinds (a state table playbook compares event lists)."""

from __future__ import annotations

from shadowgate.http import events as ev


def test_request_events_keep_their_fields_in_order_and_their_kind() -> None:
    assert ev.Body(3, b"x") == ev.Body(seq=3, data=b"x")
    assert ev.BodyFailed(2, "gone").message == "gone"
    assert ev.BodyEnd(1) != ev.StartRequest(1)
    assert all(isinstance(e, ev.RequestEvent) for e in (ev.StartRequest(0), ev.BodyEnd(0)))


def test_transport_actions_are_equal_only_to_their_own_kind() -> None:
    actions = [ev.WriteEof(), ev.Close(), ev.PauseReading(), ev.ResumeReading()]
    assert actions == [ev.WriteEof(), ev.Close(), ev.PauseReading(), ev.ResumeReading()]
    assert len(set(actions)) == 4
    assert repr(ev.Close()) == "Close()"
