"""Deadlines: the Lambda's remaining time bounds every request, and the connector answers before it.

If the platform kills the function first, API Gateway answers for it and nothing is logged; the
connector must send its own 5xx (Prometheus retries) before that, whatever the store does.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace

import pytest

from connector import handler as lambda_module
from connector.app import Connector
from connector.config import Settings
from connector.http import Request, Response
from connector.invoke import LambdaContext
from emulator.server import EmbeddedTimestream
from tests.doors import http_api_event, invoke, lambda_with
from tests.helpers import WRITE_HEADERS, basic_auth, write_body
from tests.store_fixtures import DATABASE, KEY_ID, SECRET, TABLE

AUTH = {"Authorization": basic_auth(KEY_ID, SECRET)}
LAMBDA_REMAINING_MS = 3000
MARGIN = lambda_module._LAMBDA_MARGIN_SECONDS


def store_settings(store: EmbeddedTimestream, **overrides: object) -> Settings:
    base = replace(Settings(), database=DATABASE, table=TABLE, write_endpoint=store.url, query_endpoint=store.url)
    return replace(base, **overrides)  # type: ignore[arg-type]


def write_event(series_count: int) -> dict:  # type: ignore[type-arg]
    now = int(time.time() * 1000)
    series = [
        ([("__name__", "robust_deadline"), ("i", str(i)), ("job", "deadline")], [(now, float(i))])
        for i in range(series_count)
    ]
    return http_api_event("POST", "/write", {**WRITE_HEADERS, **AUTH}, write_body(series))


def write_calls(store: EmbeddedTimestream) -> int:
    return int(store.stats()["calls_by_operation"].get("WriteRecords", 0))


class _Spy:
    def __init__(self) -> None:
        self.requests: list[Request] = []

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(204)


class _FrozenClock:
    """``time`` for one module, its monotonic clock stopped at ``now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_request_deadline_is_the_lambda_remaining_time_minus_a_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _Spy()
    monkeypatch.setattr(lambda_module, "time", _FrozenClock(1000.0))
    with lambda_with(spy):  # type: ignore[arg-type]
        for remaining_ms in (10_000, 3_000, 900):
            invoke(http_api_event("POST", "/write", {}, b""), _Context(remaining_ms))
            expected = 1000.0 + max(0.0, remaining_ms / 1000 - MARGIN)
            assert spy.requests[-1].deadline == pytest.approx(expected, abs=1e-9), remaining_ms
        invoke(http_api_event("POST", "/write", {}, b""), None)  # no context (tests, sam local): the default
        assert spy.requests[-1].deadline is None


def test_the_lambda_deadline_wins_over_the_configured_request_timeout(
    store: EmbeddedTimestream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector import app

    monkeypatch.setattr(app, "time", _FrozenClock(1000.0))
    connector = Connector(store_settings(store, request_timeout=27.0))
    request = Request("POST", "/write", {}, b"", deadline=1001.0)  # type: ignore[arg-type]
    assert connector.deadline(request) == 1001.0
    assert connector.deadline(Request("POST", "/write", {}, b"")) == 1027.0  # type: ignore[arg-type]
    later = Request("POST", "/write", {}, b"", deadline=1100.0)  # type: ignore[arg-type]
    assert connector.deadline(later) == 1027.0


@pytest.mark.parametrize("series_count", [300, 5], ids=["three-calls", "one-call"])
def test_a_hanging_store_gets_a_5xx_before_the_lambda_times_out(store: EmbeddedTimestream, series_count: int) -> None:
    """Every call hangs longer than the call timeout, which is longer than the Lambda has left.

    The answer must be the connector's 504 naming every sample as unconfirmed, which it can only
    be while the calls still hang (a call that ended is written or failed: a 502); and the
    Lambda's context must still have time left when it comes.
    [one-call] fails while ``Writer.write`` runs a lone call inline: only the call timeout bounds it.
    """
    store.set_faults(hang=1.0, hang_seconds=5.0, operations=["WriteRecords"])
    settings = store_settings(store, call_timeout=4.0, max_attempts=4)  # 4 s per call > 3 s left
    context = LambdaContext(LAMBDA_REMAINING_MS / 1000)
    with lambda_with(Connector(settings)):
        answer = invoke(write_event(series_count), context)
        left_ms = context.get_remaining_time_in_millis()
    assert answer.status == 504, answer.text
    assert answer.headers.get("retry-after")
    assert f"{series_count} samples unconfirmed; 0 of {series_count} written" in answer.text
    assert left_ms > 0, "answered after the Lambda's time was up: the platform would have killed it"


class _Recorder:
    """Watches one connector's writes: the deadline ``Writer.write`` got and when it returned, each
    WriteRecords call as the client starts it, and each backoff with the clock reading the retry
    loop checked it against (the retry module's monotonic clock, recorded per thread)."""

    def __init__(self, connector: Connector, monkeypatch: pytest.MonkeyPatch) -> None:
        from connector.timestream import retry

        self.lock = threading.Lock()
        self.deadlines: list[float] = []
        self.returned: list[float] = []
        self.call_starts: list[float] = []
        self.sleeps: list[tuple[float, float]] = []  # (the retry loop's clock reading, seconds slept)
        readings = threading.local()
        recorder = self

        class Clock:
            def monotonic(self) -> float:
                readings.last = time.monotonic()
                return readings.last  # type: ignore[no-any-return]

            def __getattr__(self, name: str) -> object:
                return getattr(time, name)

        monkeypatch.setattr(retry, "time", Clock())
        writer = connector.write_handler.writer
        real_write = writer.write

        def write(*args: object) -> object:
            recorder.deadlines.append(args[-1])  # type: ignore[arg-type]
            try:
                return real_write(*args)  # type: ignore[arg-type]
            finally:
                recorder.returned.append(time.monotonic())

        def sleep(seconds: float) -> None:
            # The reading the loop checked this backoff against; the time now if it read none.
            reading, readings.last = getattr(readings, "last", None), None
            with recorder.lock:
                recorder.sleeps.append((time.monotonic() if reading is None else reading, seconds))
            time.sleep(seconds)

        writer.write = write  # type: ignore[method-assign]
        writer._sleep = sleep
        clients = connector.write_handler.clients
        real_client = clients.write_client

        class Client:
            def __init__(self, inner: object) -> None:
                self.inner = inner

            def write_records(self, **params: object) -> object:
                with recorder.lock:
                    recorder.call_starts.append(time.monotonic())
                return self.inner.write_records(**params)  # type: ignore[attr-defined]

        # This connector's clients only: other connectors of the process (the e2e suite's) keep writing.
        monkeypatch.setattr(clients, "write_client", lambda identity: Client(real_client(identity)))
        self.pool = writer._pool

    def settle(self) -> None:
        """Wait for every call and backoff still running to end (each is bounded by the call timeout)."""
        self.pool.shutdown(wait=True)

    def check_deadline_kept(self) -> None:
        assert len(self.deadlines) == len(self.returned) == 1, (self.deadlines, self.returned)
        deadline, returned = self.deadlines[0], self.returned[0]
        late = [(round(reading - deadline, 3), delay) for reading, delay in self.sleeps if reading + delay >= deadline]
        assert not late, f"backoffs ending after the deadline (seconds from it, delay): {late}"
        after = [round(start - returned, 3) for start in self.call_starts if start >= returned]
        assert not after, f"{len(after)} calls started after the answer (seconds after it): {after}"


@pytest.fixture
def adversarial_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff jitter is random in [0, cap]: the deadline must hold for every draw, so each thread's
    draws alternate between the two extremes (a sequence the random generator may well produce)."""
    state = threading.local()

    def uniform(low: float, high: float) -> float:
        state.n = getattr(state, "n", 0) + 1
        return low if state.n % 2 else high

    monkeypatch.setattr(random, "uniform", uniform)


@pytest.mark.parametrize("series_count", [5, 300], ids=["one-call", "three-calls"])
def test_retries_stop_at_the_deadline_and_none_start_after_the_answer(
    store: EmbeddedTimestream, series_count: int, adversarial_jitter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Throttled on every call, with attempts to spare: the deadline, not max_attempts, ends the retries.

    Fails while ``Writer._run`` checks one random backoff against the deadline and sleeps another.
    """
    store.set_faults(throttle=1.0, operations=["WriteRecords"])
    connector = Connector(store_settings(store, max_attempts=20))
    recorder = _Recorder(connector, monkeypatch)
    context = LambdaContext(4.0)
    with lambda_with(connector):
        answer = invoke(write_event(series_count), context)
        left_ms = context.get_remaining_time_in_millis()
    recorder.settle()
    assert answer.status in (503, 504) and answer.headers.get("retry-after"), answer.text
    calls_per_batch = 1 if series_count == 5 else 3
    assert len(recorder.call_starts) > calls_per_batch, "it should have retried within the deadline"
    assert len(recorder.call_starts) < 20 * calls_per_batch, "max_attempts, not the deadline, ended the retries"
    recorder.check_deadline_kept()
    assert left_ms > 0, "answered after the Lambda's time was up: the platform would have killed it"


def test_timed_out_calls_are_retried_only_while_the_deadline_allows(
    store: EmbeddedTimestream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every call hangs past its 0.5 s timeout, with 1.5 s of budget: the timed-out call is retried,
    each retry's backoff ends before the deadline and no call starts once the answer is given."""
    store.set_faults(hang=1.0, hang_seconds=3.0, operations=["WriteRecords"])
    connector = Connector(store_settings(store, call_timeout=0.5, max_attempts=20))
    recorder = _Recorder(connector, monkeypatch)
    with lambda_with(connector):
        answer = invoke(write_event(5), LambdaContext(LAMBDA_REMAINING_MS / 1000))
    recorder.settle()
    assert answer.status in (502, 503, 504), answer.text
    assert len(recorder.call_starts) >= 2, "a timed-out call was not retried"
    assert recorder.sleeps, "no backoff before the retry"
    recorder.check_deadline_kept()


def test_no_time_left_is_an_immediate_504_not_a_crash(store: EmbeddedTimestream) -> None:
    connector = Connector(store_settings(store))
    pool = connector.write_handler.writer._pool
    submitted: list[object] = []
    real_submit = pool.submit

    def submit(*args: object, **kwargs: object) -> object:
        submitted.append(args)
        return real_submit(*args, **kwargs)  # type: ignore[arg-type]

    pool.submit = submit  # type: ignore[method-assign]
    with lambda_with(connector):
        calls_before = write_calls(store)
        answer = invoke(write_event(300), LambdaContext(0.5))  # less than the margin
    assert answer.status == 504 and answer.headers.get("retry-after"), answer.text
    assert not submitted, f"{len(submitted)} calls were started with no time left"
    assert write_calls(store) == calls_before
