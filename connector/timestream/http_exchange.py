"""One keep-alive HTTP/1.1 connection that sends a whole request in one write and frames its answer with llhttp.

``http.client`` cost ~110 µs of CPU per WriteRecords exchange here: headers validated and sent one
by one, a buffered reader, and the answer's headers parsed into ``email`` message objects. A call
here is one prebuilt body with a handful of headers, so the exchange is one ``sendall`` and the
answer is read into a buffer and framed by llhttp (``httptools``, the parser uvicorn uses):
Content-Length and chunked answers, keep-alive as the server states it. ~40 µs a call.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import httptools

# An answer to WriteRecords is a few hundred bytes; anything near this is not Timestream speaking.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024
# While connections are being opened ahead, how often a round looks for them between answers.
_AWAIT_POLL_SECONDS = 0.005


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header's values joined by ", "
    body: bytes


class Broken(Exception):
    """The connection failed before a whole answer arrived; ``answered`` says whether any byte did."""

    def __init__(self, reason: str, answered: bool) -> None:
        super().__init__(reason)
        self.answered = answered


class _Framing:
    """httptools' callbacks: collect one answer's headers and body."""

    __slots__ = ("chunks", "complete", "headers", "keep_alive", "parser", "size")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.keep_alive = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        previous = self.headers.get(key)
        self.headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # only valid until the message completes

    def on_body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.chunks.append(chunk)

    def on_message_complete(self) -> None:
        self.complete = True

    def status(self) -> int:
        """The answer's status, once it is complete (the parser is released)."""
        status: int = self.parser.get_status_code()
        self.release()
        return status

    def release(self) -> None:
        """Let go of the parser, which refers back to this object: both are freed at once, not left
        to the cycle collector (a pair per call, with the answer they hold)."""
        with contextlib.suppress(AttributeError):  # released already
            del self.parser


class Connection:
    """A connected (TLS when asked) socket; ``exchange`` may be called again while ``reusable``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray(_READ_SIZE)
        self._framing = _Framing()
        self._answered = False
        self.reusable = True

    @classmethod
    def open(
        cls, host: str, port: int, tls: ssl.SSLContext | None, connect_timeout: float, read_timeout: float
    ) -> Connection:
        """Raises ``TimeoutError`` or ``OSError`` as ``socket`` does when no connection is made."""
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def fileno(self) -> int:
        return self._sock.fileno()

    def exchange(self, head: bytes, body: bytes) -> Answer:
        """``start`` then ``read``: one request and its answer."""
        self.start(head, body)
        return self.read()

    def start(self, head: bytes, body: bytes) -> None:
        """Send ``head`` (request line and headers, blank line included) and ``body`` in one write.

        Raises ``TimeoutError`` when the socket stays full past the timeout, ``Broken`` when the
        connection fails; after either the connection is not reusable.
        """
        self._framing.release()  # unused yet, or left by an answer that failed
        self._framing = _Framing()
        self._answered = False
        try:
            self._sock.sendall(head + body)
        except TimeoutError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise Broken(f"connection failed: {exc}", answered=False) from exc

    def read(self) -> Answer:
        """The answer to the request ``start`` sent, waiting for it up to the read timeout per read."""
        while True:
            answer = self.read_ready()
            if answer is not None:
                return answer

    def read_ready(self) -> Answer | None:
        """Read what has arrived (once, so it does not wait when the socket is readable): the
        answer once it is whole. Raises ``TimeoutError`` or ``Broken`` as ``start`` does, also
        for an answer that is malformed, cut short or beyond ``MAX_ANSWER_BYTES``."""
        framing = self._framing
        try:
            while True:
                count = self._sock.recv_into(self._buffer)
                if not count:
                    raise Broken("connection closed before a whole answer", self._answered)
                self._answered = True
                framing.parser.feed_data(memoryview(self._buffer)[:count])
                if framing.size > MAX_ANSWER_BYTES:
                    raise Broken(f"answer larger than {MAX_ANSWER_BYTES} bytes", answered=True)
                if framing.complete or not self._tls_buffered():
                    break
        except TimeoutError:
            self.close()
            raise
        except httptools.HttpParserError as exc:
            self.close()
            raise Broken(f"malformed answer: {exc}", answered=True) from exc
        except OSError as exc:
            self.close()
            raise Broken(f"connection failed: {exc}", self._answered) from exc
        except Broken:
            self.close()
            raise
        if not framing.complete:
            return None
        status = framing.status()
        if not framing.keep_alive:
            self.close()
        return Answer(status, framing.headers, b"".join(framing.chunks))

    def _tls_buffered(self) -> bool:
        """Whether TLS holds decrypted bytes the socket will not signal as readable."""
        pending = getattr(self._sock, "pending", None)
        return bool(pending and pending())

    def close(self) -> None:
        self.reusable = False
        self._sock.close()
        self._framing.release()


class ConnectFailed(Exception):
    """No connection could be made: ``timed_out`` tells a connect timeout from a refusal or a bad name."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error
        self.timed_out = isinstance(error, TimeoutError)


class Pool:
    """Kept-alive connections to one endpoint, shared by every thread; at most ``keep`` lie idle."""

    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext | None, connect_timeout: float, read_timeout: float, keep: int
    ) -> None:
        self.read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._address = (host, port, tls, connect_timeout, read_timeout)
        self._keep = keep
        self._idle: list[Connection] = []
        self._opening = 0  # connections being opened ahead, in threads of their own
        self._changed = threading.Condition(threading.Lock())

    @property
    def awaiting(self) -> bool:
        """Whether no connection is idle but some are being opened ahead."""
        return not self._idle and self._opening > 0

    def connections(self, fresh_only: bool = False) -> Iterator[tuple[Connection, bool]]:
        """An idle connection (reused: True) unless ``fresh_only``, then a new one; ``ConnectFailed``."""
        if not fresh_only:
            idle = self._take_idle()
            if idle is not None:
                yield idle, True
        try:
            yield Connection.open(*self._address), False
        except OSError as exc:  # TimeoutError included
            raise ConnectFailed(exc) from exc

    def _take_idle(self) -> Connection | None:
        """An idle connection; while some are being opened ahead, one of those rather than yet another."""
        with self._changed:
            if self.awaiting:
                self._changed.wait_for(lambda: not self.awaiting, timeout=self._connect_timeout)
            return self._idle.pop() if self._idle else None

    def open_ahead(self, count: int) -> None:
        """Start opening, in parallel, the connections ``count`` requests in flight at once would lack.

        A new connection costs a round trip (TLS: two or three), and ``exchange_many`` opens them
        one after another: a cold process would pay them in series. Each joins the idle ones as it
        is ready, so the first requests go out on the first connections, however slow the others
        are to open; failures are left for the requests themselves to meet and report.
        """
        with self._changed:
            missing = count - len(self._idle) - self._opening
            if missing < 2:
                return
            self._opening += missing
        for _ in range(missing):
            threading.Thread(target=self._open_one, daemon=True).start()

    def _open_one(self) -> None:
        connection: Connection | None = None
        with contextlib.suppress(OSError):
            connection = Connection.open(*self._address)
        with self._changed:
            self._opening -= 1
            if connection is not None and len(self._idle) < self._keep:
                self._idle.append(connection)
                connection = None
            self._changed.notify_all()
        if connection is not None:
            connection.close()

    def give_back(self, connection: Connection) -> None:
        with self._changed:
            if connection.reusable and len(self._idle) < self._keep:
                self._idle.append(connection)
                self._changed.notify_all()
                return
        connection.close()


# Builds a request's (head, body) when it is sent: a round of a thousand calls must not spend its
# budget building every body (each series' first JSON included) before the first call goes out.
Request = Callable[[], tuple[bytes, bytes]]
# The answer; the failure (``Broken``, ``TimeoutError``, ``ConnectFailed``, or what building the
# request raised); None when the deadline came first.
Outcome = Answer | Exception | None


@dataclass(slots=True)
class _Flight:
    index: int
    request: tuple[bytes, bytes]
    connection: Connection
    reused: bool
    expires: float  # monotonic time the answer is overdue (the read timeout)


def exchange_many(
    pool: Pool,
    requests: Sequence[Request],
    lanes: int,
    deadline: float,
    slots: threading.Semaphore | None = None,
) -> list[Outcome]:
    """Each request's answer (built when sent), up to ``lanes`` of them in flight at once from this thread,
    each holding one of ``slots`` (shared by the threads of a process) while in flight.

    One thread waits on every connection at once (``selectors``) instead of one thread per request:
    threads waking for their answers contended for the GIL, and that cost more than the requests
    themselves. An outcome is the ``Answer``, the failure (``Broken``, ``TimeoutError`` past the
    read timeout, ``ConnectFailed``), or None when ``deadline`` came first. A kept-alive connection
    the server had closed fails before any answer: that request is sent again on a new connection
    (WriteRecords of the same records is idempotent), as urllib3 does for botocore. When no
    connection can be made, the requests not yet sent fail with that too (at once, not one connect
    timeout after another): their retries run in parallel elsewhere.
    """
    pool.open_ahead(min(lanes, len(requests)))
    with selectors.DefaultSelector() as selector:
        return _Round(pool, requests, lanes, deadline, slots, selector).run()


class _Round:
    """The state of one ``exchange_many``: requests waiting, requests in flight, outcomes."""

    def __init__(
        self,
        pool: Pool,
        requests: Sequence[Request],
        lanes: int,
        deadline: float,
        slots: threading.Semaphore | None,
        selector: selectors.BaseSelector,
    ) -> None:
        self.pool, self.requests, self.lanes, self.deadline = pool, requests, lanes, deadline
        self.slots, self.selector = slots, selector
        self.outcomes: list[Outcome] = [None] * len(requests)
        # (index, the request once built, or what building it raised; whether only a new connection will do)
        self.waiting: deque[tuple[int, tuple[bytes, bytes] | Exception | None, bool]] = deque(
            (index, None, False) for index in range(len(requests))
        )
        self.flights: dict[Connection, _Flight] = {}

    def run(self) -> list[Outcome]:
        try:
            while self.waiting or self.flights:
                self._launch_more()
                now = time.monotonic()
                if not self.flights or now >= self.deadline:
                    break
                self._read_ready(now)
                self._expire(time.monotonic())
        finally:
            for flight in list(self.flights.values()):  # past the deadline: answers not waited for
                self._land(flight)
                flight.connection.close()
        return self.outcomes

    def _launch_more(self) -> None:
        """Send waiting requests while lanes and slots allow (and connections are at hand).

        The requests about to go out are built together first: a request's thread then holds the
        GIL once for them all, not once per request between other threads' answers.
        """
        self._build(self.lanes - len(self.flights))
        while self.waiting and len(self.flights) < self.lanes and time.monotonic() < self.deadline:
            if self.flights and self.pool.awaiting:  # connections are on their way: read answers meanwhile
                return
            if not _take_slot(self.slots, bool(self.flights), self.deadline):
                return
            index, request, fresh_only = self.waiting.popleft()
            try:
                launched = self._launch(index, request, fresh_only)
            except BaseException:  # a slot must never leak: the process would run out of them
                self._release()
                raise
            if isinstance(launched, _Flight):
                self.flights[launched.connection] = launched
                self.selector.register(launched.connection, selectors.EVENT_READ, launched)
                continue
            self.outcomes[index] = launched
            self._release()
            if isinstance(launched, ConnectFailed):  # the rest would wait for it one by one
                for rest, _, _ in self.waiting:
                    self.outcomes[rest] = launched
                self.waiting.clear()

    def _build(self, count: int) -> None:
        """Build the next ``count`` waiting requests not built yet (a failed build is kept as its outcome)."""
        for position in range(min(count, len(self.waiting))):
            index, request, fresh_only = self.waiting[position]
            if request is None:
                try:
                    self.waiting[position] = (index, self.requests[index](), fresh_only)
                except Exception as exc:  # e.g. no credentials to sign with: this request's outcome
                    self.waiting[position] = (index, exc, fresh_only)

    def _launch(
        self, index: int, request: tuple[bytes, bytes] | Exception | None, fresh_only: bool
    ) -> _Flight | Exception:
        if request is None:  # not among those built ahead
            try:
                request = self.requests[index]()
            except Exception as exc:
                return exc
        if isinstance(request, Exception):
            return request
        return _launch(self.pool, index, request, fresh_only)

    def _read_ready(self, now: float) -> None:
        """Read the connections that have something, waiting until one does or a timeout is due."""
        soonest = min(flight.expires for flight in self.flights.values())
        if self.waiting and self.pool.awaiting:  # look again soon for connections opened meanwhile
            soonest = min(soonest, now + _AWAIT_POLL_SECONDS)
        for key, _ in self.selector.select(max(0.0, min(self.deadline, soonest) - now)):
            flight: _Flight = key.data
            try:
                answer = flight.connection.read_ready()
            except (Broken, TimeoutError) as exc:
                self._land(flight)
                if isinstance(exc, Broken) and flight.reused and not exc.answered:
                    self.waiting.appendleft((flight.index, flight.request, True))  # a dropped kept-alive connection
                else:
                    self.outcomes[flight.index] = exc
                continue
            if answer is not None:
                self._land(flight)
                self.pool.give_back(flight.connection)
                self.outcomes[flight.index] = answer

    def _expire(self, now: float) -> None:
        for flight in [f for f in self.flights.values() if f.expires <= now]:
            self._land(flight)
            flight.connection.close()
            self.outcomes[flight.index] = TimeoutError(f"no answer within {self.pool.read_timeout} s")

    def _land(self, flight: _Flight) -> None:
        self.selector.unregister(flight.connection)
        del self.flights[flight.connection]
        self._release()

    def _release(self) -> None:
        if self.slots is not None:
            self.slots.release()


def _take_slot(slots: threading.Semaphore | None, busy: bool, deadline: float) -> bool:
    """A slot for one more request: at once when others are in flight here (their answers are
    read meanwhile), else waiting for one until ``deadline``."""
    if slots is None:
        return True
    if busy:
        return slots.acquire(blocking=False)
    return slots.acquire(timeout=max(0.0, deadline - time.monotonic()))


def _launch(
    pool: Pool, index: int, request: tuple[bytes, bytes], fresh_only: bool
) -> _Flight | Broken | TimeoutError | ConnectFailed:
    head, body = request
    try:
        for connection, reused in pool.connections(fresh_only):
            try:
                connection.start(head, body)
            except Broken as exc:
                if reused and not exc.answered:
                    continue
                return exc
            except TimeoutError as exc:
                return exc
            return _Flight(index, request, connection, reused, time.monotonic() + pool.read_timeout)
    except ConnectFailed as exc:
        return exc
    raise AssertionError("unreachable: a new connection either sends or fails")
