"""The WriteRecords connection frames every answer HTTP/1.1 allows and says when it cannot be reused.

A local socket server answers each request with canned bytes, so framing, keep-alive and failures
are seen exactly as a client meets them on the wire (answers cut into pieces included).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from connector.timestream import http_exchange
from connector.timestream.http_exchange import Broken, Connection

HEAD = b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\n"
BODY = b"ping"


class _CannedServer:
    """Accepts connections; for each request read, sends the next answer (a list of pieces)."""

    def __init__(self, answers: Sequence[Sequence[bytes]], close_after: bool = False, pause: float = 0.0) -> None:
        self._answers = list(answers)
        self._close_after = close_after
        self._pause = pause
        self.connections = 0
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            while self._answers:
                request = b""
                while not request.endswith(BODY):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                self.requests.append(request)
                for piece in self._answers.pop(0):
                    conn.sendall(piece)
                    time.sleep(self._pause)
                if self._close_after:
                    return
            time.sleep(0.5)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture()
def serve() -> Iterator[object]:
    servers: list[_CannedServer] = []

    def start(*answers: Sequence[bytes], close_after: bool = False, pause: float = 0.0) -> _CannedServer:
        server = _CannedServer(answers, close_after, pause)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _open(server: _CannedServer, read_timeout: float = 5.0) -> Connection:
    return Connection.open("127.0.0.1", server.port, None, 5.0, read_timeout)


OK = b'{"RecordsIngested":{"Total":2}}'
PLAIN = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(OK), OK)


def test_a_kept_alive_connection_serves_one_request_after_another(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([PLAIN], [PLAIN])
    connection = _open(server)
    for _ in range(2):
        answer = connection.exchange(HEAD, BODY)
        assert (answer.status, answer.body) == (200, OK)
        assert answer.headers["content-type"] == "application/x-amz-json-1.0"
        assert connection.reusable
    assert server.connections == 1
    assert server.requests == [HEAD + BODY] * 2


def test_an_answer_arriving_byte_by_byte_is_read_whole(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([PLAIN[i : i + 1] for i in range(len(PLAIN))])
    answer = _open(server).exchange(HEAD, BODY)
    assert (answer.status, answer.body) == (200, OK)


def test_a_chunked_answer_with_repeated_headers_is_joined(serve) -> None:  # type: ignore[no-untyped-def]
    chunked = (
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nX-Amzn-ErrorType: A\r\nx-amzn-errortype: B\r\n\r\n"
        b"5\r\n{\"a\":\r\n4\r\n 1}\n\r\n0\r\n\r\n"
    )
    server = serve([chunked[:30], chunked[30:]])
    answer = _open(server).exchange(HEAD, BODY)
    assert (answer.status, answer.body) == (400, b'{"a": 1}\n')
    assert answer.headers["x-amzn-errortype"] == "A, B"


def test_an_answer_that_says_close_leaves_the_connection_unusable(serve) -> None:  # type: ignore[no-untyped-def]
    closing = PLAIN.replace(b"Content-Length", b"Connection: close\r\nContent-Length")
    server = serve([closing], close_after=True)
    connection = _open(server)
    assert connection.exchange(HEAD, BODY).body == OK
    assert not connection.reusable


def test_http_1_0_answers_are_not_kept_alive(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([PLAIN.replace(b"HTTP/1.1", b"HTTP/1.0")], close_after=True)
    connection = _open(server)
    assert connection.exchange(HEAD, BODY).status == 200
    assert not connection.reusable


def test_a_connection_closed_before_any_answer_says_nothing_was_answered(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([], close_after=True)  # reads nothing, closes at once
    connection = _open(server)
    with pytest.raises(Broken) as caught:
        connection.exchange(HEAD, BODY)
    assert not caught.value.answered
    assert not connection.reusable


def test_an_answer_cut_short_was_answered_and_is_broken(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([PLAIN[:-5]], close_after=True)
    with pytest.raises(Broken) as caught:
        _open(server).exchange(HEAD, BODY)
    assert caught.value.answered


def test_a_malformed_answer_is_broken(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([b"<html>not http</html>\r\n\r\n"], close_after=True)
    connection = _open(server)
    with pytest.raises(Broken, match="malformed"):
        connection.exchange(HEAD, BODY)
    assert not connection.reusable


def test_an_answer_beyond_the_size_bound_is_refused(serve, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(http_exchange, "MAX_ANSWER_BYTES", 1000)
    big = b"x" * 5000
    server = serve([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)], close_after=True)
    with pytest.raises(Broken, match="larger than 1000"):
        _open(server).exchange(HEAD, BODY)


def test_a_server_silent_past_the_read_timeout_is_a_timeout(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([b"", PLAIN], pause=1.0)  # nothing, then the answer a second later
    connection = _open(server, read_timeout=0.2)
    with pytest.raises(TimeoutError):
        connection.exchange(HEAD, BODY)
    assert not connection.reusable
