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

    [one-call] fails while ``Writer.write`` runs a lone call inline: only the call timeout bounds it.
    """
    store.set_faults(hang=1.0, hang_seconds=5.0, operations=["WriteRecords"])
    settings = store_settings(store, call_timeout=4.0, max_attempts=4)  # 4 s per call > 3 s left
    with lambda_with(Connector(settings)):
        started = time.monotonic()
        answer = invoke(write_event(series_count), LambdaContext(LAMBDA_REMAINING_MS / 1000))
        elapsed = time.monotonic() - started
    assert answer.status in (502, 503, 504), answer.text
    assert answer.headers.get("retry-after") and answer.text.strip()
    assert elapsed < LAMBDA_REMAINING_MS / 1000, f"answered after {elapsed:.2f} s: the platform would have killed it"


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
    store: EmbeddedTimestream, series_count: int, adversarial_jitter: None
) -> None:
    """Throttled on every call, with attempts to spare: the deadline, not max_attempts, ends the retries.

    Fails while ``Writer._run`` checks one random backoff against the deadline and sleeps another.
    """
    store.set_faults(throttle=1.0, operations=["WriteRecords"])
    remaining_ms = 4000
    connector = Connector(store_settings(store, max_attempts=20))
    writer = connector.write_handler.writer
    deadlines: list[float] = []
    sleeps: list[tuple[float, float]] = []  # (monotonic time the sleep began, seconds asked for)
    lock = threading.Lock()
    real_write = writer.write

    def write(*args: object) -> object:
        deadlines.append(args[-1])  # type: ignore[arg-type]
        return real_write(*args)  # type: ignore[arg-type]

    def sleep(seconds: float) -> None:
        with lock:
            sleeps.append((time.monotonic(), seconds))
        time.sleep(seconds)

    writer.write = write  # type: ignore[method-assign]
    writer._sleep = sleep
    with lambda_with(connector):
        calls_before = write_calls(store)
        started = time.monotonic()
        answer = invoke(write_event(series_count), LambdaContext(remaining_ms / 1000))
        elapsed = time.monotonic() - started
        calls_at_answer = write_calls(store)
        time.sleep(1.0)
        calls_later = write_calls(store)
    assert answer.status in (503, 504) and answer.headers.get("retry-after"), answer.text
    calls_per_batch = 1 if series_count == 5 else 3
    assert calls_at_answer - calls_before > calls_per_batch, "it should have retried within the deadline"
    assert len(deadlines) == 1 and sleeps, (deadlines, sleeps)
    late = [(round(begun - started, 3), delay) for begun, delay in sleeps if begun + delay >= deadlines[0]]
    assert not late, f"backoffs ending after the deadline ({deadlines[0] - started:.2f} s in): {late}"
    assert calls_later == calls_at_answer, f"{calls_later - calls_at_answer} calls started after the answer was sent"
    assert elapsed < remaining_ms / 1000, f"answered after {elapsed:.2f} s: the platform would have killed it"


def test_timed_out_calls_are_retried_only_while_the_deadline_allows(store: EmbeddedTimestream) -> None:
    store.set_faults(hang=1.0, hang_seconds=3.0, operations=["WriteRecords"])
    settings = store_settings(store, call_timeout=0.5, max_attempts=20)
    with lambda_with(Connector(settings)):
        calls_before = write_calls(store)
        started = time.monotonic()
        answer = invoke(write_event(5), LambdaContext(LAMBDA_REMAINING_MS / 1000))
        elapsed = time.monotonic() - started
    attempts = write_calls(store) - calls_before
    assert answer.status in (502, 503, 504), answer.text
    assert elapsed < LAMBDA_REMAINING_MS / 1000, elapsed
    assert 2 <= attempts <= 4, f"{attempts} attempts of 0.5 s each in a {LAMBDA_REMAINING_MS / 1000 - MARGIN} s budget"


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
