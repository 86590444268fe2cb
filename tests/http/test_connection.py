"""The server connection's state table, playbook-style: bytes and "now" in, events out.

No sockets and no event loop, the way h11 tests its ``_state.py``: each test feeds a
``ServerConnection`` plain bytes and tells it when handlers finish and timers fire, and
checks the exact events (requests to serve, bytes to write, reading paused or resumed,
half-close, close) and the phase it is in.
"""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from shadowgate.http import connection as hc
from shadowgate.http import events as ev
from shadowgate.http.connection import TRANSITIONS, Ev, ServerConnection, State
from shadowgate.http.reply import Reply

GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"


def conn(now: float = 0.0, timeout: float = 5.0, eof: bool = True) -> ServerConnection:
    return ServerConnection(now, timeout, eof)


def kinds(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def written(events: list[ev.Event] | bytes) -> bytes:
    if isinstance(events, bytes):  # what ``answer`` and ``start_stream`` hand back
        return events
    return b"".join(e.data for e in events if isinstance(e, ev.Write))


def heads(events: list[ev.Event]) -> list[ev.RequestHead]:
    return [e for e in events if isinstance(e, ev.RequestHead)]


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def ok(body: bytes = b"ok") -> Reply:
    r = Reply(200, body)
    r.headers["Date"] = "d"  # a fixed Date keeps the bytes exact
    return r


# -- keep-alive ------------------------------------------------------------------------------


def test_a_request_is_served_then_the_connection_waits_with_the_idle_deadline() -> None:
    c = conn(now=0.0, timeout=5.0)
    assert c.state == State.IDLE and c.deadline == 5.0
    out = c.receive_data(GET, now=1.0)
    assert kinds(out) == ["RequestHead"]
    head = heads(out)[0]
    assert head.start and head.complete and not head.has_body  # served now, body-less
    assert (head.method, head.target, head.version, head.keep_alive) == ("GET", b"/a", "1.1", True)
    assert c.state == State.ANSWERING and c.deadline is None  # no timeout while answering
    assert c.answer(ok()) == b"HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 2\r\n\r\nok"
    assert c.answered(now=2.0, client_timeout=5.0) == []
    assert c.state == State.IDLE and c.deadline == 7.0


def test_idle_connection_times_out_only_at_its_deadline() -> None:
    c = conn(now=0.0, timeout=5.0)
    assert c.timer(4.9) == []  # fired early: wait on
    assert c.timer(5.0) == [ev.Close()]
    assert c.state == State.CLOSED


def test_http10_closes_unless_keep_alive_was_asked() -> None:
    c = conn()
    c.receive_data(b"GET / HTTP/1.0\r\n\r\n", 0.0)
    assert b"Connection: close\r\n" in written(c.answer(ok()))
    assert c.answered(0.0, 5.0) == [ev.Close()]
    c = conn()
    c.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0.0)
    assert b"Connection: keep-alive\r\n" in written(c.answer(ok()))
    assert c.answered(0.0, 5.0) == [] and c.state == State.IDLE


# -- pipelining ------------------------------------------------------------------------------


def test_pipelined_requests_start_one_after_the_other() -> None:
    c = conn()
    out = c.receive_data(GET + GET.replace(b"/a", b"/b"), 0.0)
    assert kinds(out) == ["RequestHead", "RequestHead"]
    assert [h.start for h in heads(out)] == [True, False]  # the second waits its turn
    c.answer(ok())
    nxt = c.answered(0.0, 5.0)
    assert nxt == [ev.StartRequest(2)] and c.state == State.ANSWERING
    assert c.current is not None and c.current.target == b"/b"


def test_reading_pauses_while_the_pipeline_is_full_and_resumes_as_it_drains() -> None:
    c = conn()
    out = c.receive_data(GET * (hc.MAX_PIPELINE + 1), 0.0)  # one answering, 16 waiting
    assert kinds(out).count("PauseReading") == 1
    c.answer(ok())
    assert kinds(c.answered(0.0, 5.0)) == ["ResumeReading", "StartRequest"]


def test_a_pipelining_flood_is_cut_off_after_the_queued_ones() -> None:
    c = conn()
    c.receive_data(GET * (hc.MAX_QUEUED + 10), 0.0)
    for _ in range(hc.MAX_QUEUED):
        c.answer(ok())
        c.answered(0.0, 5.0)
    assert b"Connection: close" in written(c.answer(ok()))  # the last queued one
    assert c.answered(0.0, 5.0) == [ev.Close()]


# -- bodies, 100-continue, linger ------------------------------------------------------------


def test_a_body_arrives_as_events_of_its_request() -> None:
    c = conn()
    out = c.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", 0.0)
    assert kinds(out) == ["RequestHead", "Body"] and heads(out)[0].has_body
    assert out[-1] == ev.Body(1, b"ab")
    assert c.receive_data(b"cde", 0.0) == [ev.Body(1, b"cde"), ev.BodyEnd(1)]


def test_100_continue_is_sent_only_before_the_answer_head() -> None:
    c = conn()
    out = c.receive_data(
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 0.0
    )
    assert heads(out)[0].expect_continue
    assert c.send_continue() == hc.CONTINUE
    c.start_stream(200, None, CIMultiDict({"Date": "d"}), 3)
    assert c.send_continue() == b""


def test_an_unread_body_lingers_then_closes_when_it_is_all_in() -> None:
    c = conn()
    c.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", now=0.0)
    assert b"Connection: close" in written(c.answer(Reply(413, b"no")))
    assert c.answered(now=1.0, client_timeout=5.0) == [ev.WriteEof()]
    assert c.state == State.LINGER and c.deadline == 1.0 + hc.LINGER
    assert c.receive_data(b"defg", now=1.5) == []  # read and dropped
    assert c.receive_data(b"hij", now=1.6) == [ev.Close()]  # the body's end
    assert c.state == State.CLOSED


def test_a_linger_ends_at_its_deadline() -> None:
    c = conn()
    c.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", now=0.0)
    c.answer(Reply(413, b"no"))
    c.answered(now=1.0, client_timeout=5.0)
    assert c.timer(2.0) == []
    assert c.timer(1.0 + hc.LINGER) == [ev.Close()]


def test_reading_paused_for_a_body_is_resumed_to_linger() -> None:
    c = conn()
    c.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", 0.0)
    assert c.pause("body") == [ev.PauseReading()]
    c.answer(Reply(413, b"no"))
    assert c.answered(0.0, 5.0) == [ev.WriteEof(), ev.ResumeReading()]


def test_without_half_close_the_linger_is_a_close() -> None:
    c = conn(eof=False)
    c.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", 0.0)
    c.answer(Reply(413, b"no"))
    assert c.answered(0.0, 5.0) == [ev.Close()]


def test_an_unread_complete_body_keeps_the_connection() -> None:
    c = conn()
    c.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", 0.0)
    assert b"Connection" not in written(c.answer(ok()))
    assert c.answered(0.0, 5.0) == [] and c.state == State.IDLE


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /" + b"a" * (hc.MAX_LINE + 1) + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nX: " + b"v" * (hc.MAX_FIELD + 1) + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
    ],
)
def test_bad_heads_get_a_json_error_then_a_linger(data: bytes, status: int) -> None:
    c = conn()
    out = c.receive_data(data, 0.0)
    assert kinds(out) == ["PauseReading", "Write", "WriteEof", "ResumeReading"]
    answer = written(out)
    assert status_of(answer) == status and b"Connection: close" in answer
    assert b'"error"' in answer and c.state == State.LINGER
    assert c.receive_data(b"more garbage", 0.1) == []  # dropped until the linger ends


def test_a_head_larger_than_the_limit_is_431_even_without_a_line_end() -> None:
    c = conn()
    c.receive_data(b"GET / HTTP/1.1\r\nX: ", 0.0)
    out: list[ev.Event] = []
    while not out:
        out = c.receive_data(b"v" * 16384, 0.0)
    assert status_of(written(out)) == 431


def test_bad_input_behind_a_request_is_answered_after_it() -> None:
    c = conn()
    out = c.receive_data(GET + b"garbage\r\n\r\n", 0.0)
    assert kinds(out) == ["RequestHead", "PauseReading"]
    first = written(c.answer(ok()))
    assert status_of(first) == 200
    after = c.answered(0.0, 5.0)
    assert status_of(written(after)) == 400 and kinds(after)[-2:] == ["WriteEof", "ResumeReading"]


def test_a_bad_chunk_fails_the_body_being_read() -> None:
    c = conn()
    c.receive_data(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0.0)
    out = c.receive_data(b"zz\r\n", 0.0)
    assert isinstance(out[0], ev.BodyFailed) and out[0].seq == 1
    assert c.state == State.ANSWERING  # answered after the handler sees the failed read


# -- timeouts, HEAD, Upgrade, shutdown, loss --------------------------------------------------


def test_slow_headers_behind_a_request_time_out_after_its_answer() -> None:
    c = conn(now=0.0, timeout=5.0)
    c.receive_data(GET + b"GET / HTTP/1.1\r\nHo", 0.0)
    c.answer(ok())
    c.answered(now=1.0, client_timeout=5.0)
    assert c.timer(5.9) == [] and c.timer(6.0) == [ev.Close()]


def test_head_answers_have_no_body() -> None:
    c = conn()
    c.receive_data(b"HEAD / HTTP/1.1\r\n\r\n", 0.0)
    data = written(c.answer(ok(b"body")))
    assert data.endswith(b"\r\n\r\n") and b"body" not in data


def test_a_streamed_answer_without_length_is_chunked_in_11_and_closes_in_10() -> None:
    c = conn()
    c.receive_data(GET, 0.0)
    out, chunked = c.start_stream(200, None, CIMultiDict({"Date": "d"}), None)
    assert chunked and b"Transfer-Encoding: chunked" in written(out)
    c = conn()
    c.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0.0)
    out, chunked = c.start_stream(200, None, CIMultiDict({"Date": "d"}), None)
    assert not chunked and b"Connection: close" in written(out) and c.closing


def test_an_upgrade_is_answered_as_a_plain_request_then_closed() -> None:
    c = conn()
    out = c.receive_data(b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\nxx", 0.0)
    assert kinds(out) == ["RequestHead", "PauseReading"]
    assert b"Connection: close" in written(c.answer(ok()))
    assert c.answered(0.0, 5.0) == [ev.Close()]


def test_shutdown_closes_idle_connections_and_lets_answers_finish() -> None:
    c = conn()
    assert c.shut_down() == [ev.Close()]
    c = conn()
    c.receive_data(GET, 0.0)
    assert c.shut_down() == [] and c.closing
    assert b"Connection: close" in written(c.answer(ok()))
    assert c.answered(0.0, 5.0) == [ev.Close()]


def test_a_lost_connection_fails_the_incomplete_and_queued_bodies() -> None:
    c = conn()
    c.receive_data(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", 0.0)
    assert c.connection_lost() == [ev.ClientGone((1,))]
    assert c.state == State.CLOSED and c.answer(ok()) == b""


def test_a_move_the_table_does_not_allow_is_refused() -> None:
    assert (State.CLOSED, Ev.REQUEST) not in TRANSITIONS
    c = conn()
    c.connection_lost()
    with pytest.raises(hc.LocalProtocolError):
        c._go(Ev.REQUEST)
