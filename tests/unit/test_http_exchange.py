"""The WriteRecords connection frames every answer HTTP/1.1 allows and says when it cannot be reused.

A local socket server answers each request with canned bytes, so framing, keep-alive and failures
are seen exactly as a client meets them on the wire (answers cut into pieces included).
"""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connector.timestream import http_exchange
from connector.timestream.http_exchange import Broken, Connection, exchange_many

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


def test_answered_exchanges_leave_nothing_for_the_cycle_collector(serve) -> None:  # type: ignore[no-untyped-def]
    """Each call's parser and what it collected are freed as soon as the answer is read."""
    closing = PLAIN.replace(b"Content-Length", b"Connection: close\r\nContent-Length")
    kept, closed = _open(serve([PLAIN], [PLAIN], [PLAIN])), _open(serve([closing], close_after=True))
    kept.exchange(HEAD, BODY)  # the connection's first framing is replaced from here on
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        answers = [kept.exchange(HEAD, BODY) for _ in range(2)] + [closed.exchange(HEAD, BODY)]
        del answers
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if type(o).__module__ in ("httptools.parser.parser", __name__)]
        left += [type(o).__name__ for o in gc.garbage if isinstance(o, http_exchange._Framing)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


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


# --- many requests from one thread ------------------------------------------------------------------

class _Echo(BaseHTTPRequestHandler):
    """Answers each POST with its own body after the delay its X-Delay header asks for."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Any = self.server
        with server.lock:
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        time.sleep(float(self.headers.get("X-Delay", "0")))
        with server.lock:
            server.in_flight -= 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def echo() -> Iterator[Any]:
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()
    httpd.in_flight = httpd.most_in_flight = 0
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _requests(count: int, delay: float = 0.0) -> list[http_exchange.Request]:
    requests = []
    for i in range(count):
        body = f"request {i}".encode()
        head = f"POST / HTTP/1.1\r\nHost: t\r\nX-Delay: {delay}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        requests.append(lambda head=head, body=body: (head, body))
    return requests


def _ping() -> tuple[bytes, bytes]:
    return HEAD, BODY


def _pool(port: int, read_timeout: float = 5.0) -> http_exchange.Pool:
    return http_exchange.Pool("127.0.0.1", port, None, 2.0, read_timeout, keep=8)


def test_every_request_gets_its_own_answer_with_lanes_in_flight_at_once(echo: Any) -> None:
    requests = _requests(12, delay=0.2)
    started = time.monotonic()
    outcomes = exchange_many(_pool(echo.server_address[1]), requests, 4, time.monotonic() + 10)
    took = time.monotonic() - started
    assert [o.body for o in outcomes] == [request()[1] for request in requests]  # type: ignore[union-attr]
    assert echo.most_in_flight == 4
    assert 0.6 <= took < 1.6  # three rounds of 4, not twelve calls one after another


def test_slots_bound_the_calls_in_flight_across_threads(echo: Any) -> None:
    pool, slots = _pool(echo.server_address[1]), threading.BoundedSemaphore(3)
    results: list[list[Any]] = []

    def send() -> None:
        results.append(exchange_many(pool, _requests(4, delay=0.1), 4, time.monotonic() + 10, slots))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(o.status == 200 for outcomes in results for o in outcomes)
    assert echo.most_in_flight <= 3
    assert slots.acquire(blocking=False) and slots.acquire(blocking=False) and slots.acquire(blocking=False)


def test_requests_not_answered_by_the_deadline_are_none(echo: Any) -> None:
    outcomes = exchange_many(_pool(echo.server_address[1]), _requests(6, delay=0.5), 2, time.monotonic() + 0.3)
    assert outcomes == [None] * 6


def test_an_answer_overdue_past_the_read_timeout_is_a_timeout(echo: Any) -> None:
    slow = _requests(1, delay=1.0)
    outcomes = exchange_many(_pool(echo.server_address[1], read_timeout=0.2), slow, 2, time.monotonic() + 10)
    assert isinstance(outcomes[0], TimeoutError)


def test_no_endpoint_to_connect_to_fails_each_request() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    tries: list[int] = []
    pool = _pool(port)
    real_connections = pool.connections

    def counted(fresh_only: bool = False) -> Any:
        tries.append(1)
        return real_connections(fresh_only)

    pool.connections = counted  # type: ignore[method-assign]
    outcomes = exchange_many(pool, _requests(5), 2, time.monotonic() + 10)
    assert all(isinstance(o, http_exchange.ConnectFailed) and not o.timed_out for o in outcomes)
    assert len(tries) == 1  # the others were not each left to wait for a connect of their own


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_losing_the_request(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([PLAIN], [PLAIN], close_after=True)  # closes after each answer, without saying so
    pool = _pool(server.port)
    first = exchange_many(pool, [_ping], 1, time.monotonic() + 5)
    second = exchange_many(pool, [_ping], 1, time.monotonic() + 5)  # the idle one is dead by now
    assert [o.body for o in first + second] == [OK, OK]  # type: ignore[union-attr]
    assert server.connections == 2 and len(server.requests) == 2


# --- TLS, as every real Timestream endpoint speaks ---------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_answers_over_tls_arrive_whole_however_many_records_they_span(certificate: tuple[str, str]) -> None:
    import ssl

    cert_file, key_file = certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    pieces = [PLAIN[i : i + 7] for i in range(0, len(PLAIN), 7)]  # each write its own TLS record

    def answer() -> None:
        conn, _ = listener.accept()
        with server_side.wrap_socket(conn, server_side=True) as tls:
            for _ in range(3):
                request = b""
                while not request.endswith(BODY):
                    request += tls.recv(65536)
                for piece in pieces:
                    tls.sendall(piece)

    threading.Thread(target=answer, daemon=True).start()
    client_side = ssl.create_default_context(cafile=cert_file)
    pool = http_exchange.Pool("127.0.0.1", listener.getsockname()[1], client_side, 2.0, 2.0, keep=1)
    try:
        outcomes = [exchange_many(pool, [_ping], 1, time.monotonic() + 5)[0] for _ in range(3)]
    finally:
        listener.close()
    assert [o.body for o in outcomes] == [OK] * 3  # type: ignore[union-attr]


def test_a_certificate_the_client_does_not_trust_fails_the_connection(certificate: tuple[str, str]) -> None:
    import ssl

    cert_file, key_file = certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))

    def handshake() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(OSError), server_side.wrap_socket(conn, server_side=True):
            pass

    threading.Thread(target=handshake, daemon=True).start()
    pool = http_exchange.Pool("127.0.0.1", listener.getsockname()[1], ssl.create_default_context(), 2.0, 2.0, 1)
    try:
        outcome = exchange_many(pool, [_ping], 1, time.monotonic() + 5)[0]
    finally:
        listener.close()
    assert isinstance(outcome, http_exchange.ConnectFailed)
    assert isinstance(outcome.error, ssl.SSLCertVerificationError)


def test_requests_go_out_on_the_first_connections_while_slower_ones_still_open(
    echo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold pool opens its connections ahead in parallel; one slow to open (a SYN retransmitted,
    say) must not hold back the requests the fast ones can carry."""
    real_open = Connection.open.__func__  # type: ignore[attr-defined]
    opened = []

    def open_slowly_after_two(cls: Any, *args: Any) -> Connection:
        opened.append(1)
        if len(opened) > 2:
            time.sleep(1.5)
        return real_open(cls, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(Connection, "open", classmethod(open_slowly_after_two))
    started = time.monotonic()
    outcomes = exchange_many(_pool(echo.server_address[1]), _requests(8), 8, time.monotonic() + 1.0)
    answered = [o for o in outcomes if o is not None]
    assert len(answered) == 8, outcomes  # all carried by the two fast connections, one after another
    assert time.monotonic() - started < 1.4


def test_each_request_is_built_when_it_is_sent_and_a_failing_build_fails_only_itself(echo: Any) -> None:
    built_at: list[float] = []
    slow = _requests(2, delay=0.3)

    def timed(request: http_exchange.Request) -> http_exchange.Request:
        def build() -> tuple[bytes, bytes]:
            built_at.append(time.monotonic())
            return request()
        return build

    def unsignable() -> tuple[bytes, bytes]:
        raise RuntimeError("no credentials to sign with")

    requests = [timed(slow[0]), unsignable, timed(slow[1])]
    outcomes = exchange_many(_pool(echo.server_address[1]), requests, 1, time.monotonic() + 10)
    assert [o.body for o in (outcomes[0], outcomes[2])] == [b"request 0", b"request 1"]  # type: ignore[union-attr]
    assert isinstance(outcomes[1], RuntimeError)
    assert built_at[1] - built_at[0] >= 0.25  # the second was built once the first had been answered
