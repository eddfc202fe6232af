"""The writer against a fake Timestream client: concurrency, retries and exact accounting."""

import random
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from connector.timestream.errors import Kind
from connector.timestream.planning import plan_calls
from connector.timestream.records import record
from connector.timestream.writer import Writer


def _error(code: str, status: int = 400, **extra: Any) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
            **extra,
        },
        "WriteRecords",
    )


class FakeClient:
    """Rejects chosen records (by value) and fails chosen attempts, recording every call."""

    def __init__(
        self, reject_values: set[str] = frozenset(), failures: list[Exception] | None = None, delay: float = 0.0
    ) -> None:
        self.reject_values = reject_values
        self.failures = list(failures or [])
        self.delay = delay
        self.calls = 0
        self.stored: list[str] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def write_records(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            failure = self.failures.pop(0) if self.failures else None
        try:
            time.sleep(self.delay)
            if failure:
                raise failure
            records = params["Records"]
            rejected = [i for i, r in enumerate(records) if r["MeasureValue"] in self.reject_values]
            with self.lock:
                self.stored += [r["MeasureValue"] for i, r in enumerate(records) if i not in rejected]
            if rejected:
                raise _error(
                    "RejectedRecordsException",
                    RejectedRecords=[
                        {"RecordIndex": i, "Reason": "The record timestamp is outside the time range"} for i in rejected
                    ],
                )
            return {"RecordsIngested": {"Total": len(records)}}
        finally:
            with self.lock:
                self.active -= 1


class RoundClient(FakeClient):
    """Also makes each call's first attempt itself, in order, as the connector's transport does
    from the request's thread (``write_many``); the writer retries what failed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rounds = 0

    def write_many(self, calls: list[Any], deadline: float, lanes: int, slots: Any) -> list[Any]:
        self.rounds += 1
        outcomes: list[Any] = []
        for parameters_of in calls:  # each builds its call's parameters when sent
            if time.monotonic() >= deadline:
                outcomes.append(None)
                continue
            try:
                outcomes.append(self.write_records(**parameters_of()))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


@pytest.fixture(params=["pool", "first round"])
def client_kind(request: pytest.FixtureRequest) -> type[FakeClient]:
    """Both ways the writer sends: every attempt in its pool, or the first from the client's round."""
    return FakeClient if request.param == "pool" else RoundClient


def _calls(n: int):  # type: ignore[no-untyped-def]
    records = [record((("i", str(k)),), "m", 1000, f"{k}.0") for k in range(n)]
    return plan_calls(records)


def test_rejected_records_are_counted_exactly_under_concurrency() -> None:
    reject = {f"{k}.0" for k in range(0, 2000, 7)}
    client = FakeClient(reject_values=reject, delay=0.01)
    result = Writer(concurrency=8, max_attempts=3).write(client, "db", "t", _calls(2000), time.monotonic() + 30)
    assert result.written == 2000 - len(reject) == len(client.stored)
    assert sum(result.rejected.values()) == len(reject)
    assert not result.failures and result.unfinished == 0
    assert 1 < client.max_active <= 8


def test_rejected_records_in_a_first_round_are_counted_exactly() -> None:
    reject = {f"{k}.0" for k in range(0, 500, 7)}
    client = RoundClient(reject_values=reject)
    result = Writer(concurrency=8, max_attempts=3).write(client, "db", "t", _calls(500), time.monotonic() + 30)
    assert client.rounds == 1
    assert result.written == 500 - len(reject) == len(client.stored)
    assert sum(result.rejected.values()) == len(reject)
    assert not result.failures and result.unfinished == 0


def test_throttling_is_retried_until_it_succeeds(client_kind: type[FakeClient]) -> None:
    client = client_kind(failures=[_error("ThrottlingException"), _error("InternalServerException", 500)])
    result = Writer(1, max_attempts=4, sleep=lambda s: None).write(client, "db", "t", _calls(50), time.monotonic() + 5)
    assert result.written == 50 and result.attempts == 3 and not result.failures
    assert client.calls == 3


def test_retries_stop_at_max_attempts_and_report_the_failure(client_kind: type[FakeClient]) -> None:
    client = client_kind(failures=[_error("ThrottlingException")] * 5)
    result = Writer(1, max_attempts=2, sleep=lambda s: None).write(client, "db", "t", _calls(10), time.monotonic() + 5)
    assert result.written == 0 and result.attempts == 2
    assert [f.kind for f in result.failures] == [Kind.THROTTLED]


def test_timeouts_are_retryable(client_kind: type[FakeClient]) -> None:
    timeout = ReadTimeoutError(endpoint_url="http://x")
    client = client_kind(failures=[timeout])
    result = Writer(1, max_attempts=2, sleep=lambda s: None).write(client, "db", "t", _calls(10), time.monotonic() + 5)
    assert result.written == 10


# The documented backoff (docs/guarantees.md): before retry n + 1 of a call, n attempts made, a
# draw from [0, min(2 s, 50 ms x 2^n)] ("full jitter").
def backoff_bound(attempts_made: int) -> float:
    return min(2.0, 0.05 * 2**attempts_made)


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """The module-level generator the backoff draws from, seeded: the same draws on every run."""
    state = random.getstate()
    random.seed(20151)
    try:
        yield
    finally:
        random.setstate(state)


def test_backoff_grows_exponentially_with_full_jitter(seeded_random: None) -> None:
    """Every sleep is recorded (none is slept): each lies within its retry's bound, the bounds
    double, and the draws of one retry spread over the whole of its range."""
    retries, calls = 6, 300
    writer = Writer(1, max_attempts=retries + 1, sleep=lambda s: sleeps.append(s))
    by_retry: dict[int, list[float]] = {n: [] for n in range(1, retries + 1)}
    for _ in range(calls):
        sleeps: list[float] = []
        client = FakeClient(failures=[_error("ThrottlingException")] * retries)
        result = writer.write(client, "db", "t", _calls(1), time.monotonic() + 600)
        assert result.written == 1 and result.attempts == retries + 1 and len(sleeps) == retries
        for n, seconds in enumerate(sleeps, 1):
            by_retry[n].append(seconds)
    for n, drawn in by_retry.items():
        bound = backoff_bound(n)
        assert all(0 <= s <= bound for s in drawn), (n, bound, max(drawn))
        # Full jitter: the draws reach both ends of [0, bound] and are not a handful of values.
        assert min(drawn) < bound / 10 and max(drawn) > bound * 0.9, (n, bound, min(drawn), max(drawn))
        assert len(set(drawn)) == calls and statistics.pstdev(drawn) > bound / 5, (n, statistics.pstdev(drawn))
        assert abs(statistics.mean(drawn) - bound / 2) < bound / 10, (n, bound, statistics.mean(drawn))  # uniform
    for n in range(1, retries):
        if backoff_bound(n + 1) > backoff_bound(n):  # growth: the next retry waits past this one's bound
            assert max(by_retry[n + 1]) > backoff_bound(n), (n, max(by_retry[n + 1]), backoff_bound(n))


def test_validation_errors_are_not_retried(client_kind: type[FakeClient]) -> None:
    client = client_kind(failures=[_error("ValidationException")])
    result = Writer(1, max_attempts=5, sleep=lambda s: None).write(client, "db", "t", _calls(10), time.monotonic() + 5)
    assert client.calls == 1 and [f.kind for f in result.failures] == [Kind.INVALID]


class GatedClient(FakeClient):
    """Every call blocks until the test opens the gate (or, as a bound against a hang, 5 s pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)

    def write_records(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            self.active += 1
        self.started.release()
        try:
            self.gate.wait(5)
            return {"RecordsIngested": {"Total": len(params["Records"])}}
        finally:
            with self.lock:
                self.active -= 1


def test_calls_still_running_at_the_deadline_are_unfinished() -> None:
    """The answer comes at the deadline while calls are still in flight: it does not wait for them."""
    client = GatedClient()
    try:
        result = Writer(2, max_attempts=1).write(client, "db", "t", _calls(400), time.monotonic() + 0.2)
        with client.lock:
            in_flight_at_answer = client.active
        assert client.started.acquire(timeout=0)  # the calls had started before the answer
        assert not client.gate.is_set()
    finally:
        client.gate.set()
    assert in_flight_at_answer == 2, "write() returned only after its calls had ended"
    assert result.written == 0 and result.unfinished == 400


def test_calls_a_first_round_did_not_finish_by_the_deadline_are_unfinished() -> None:
    client = RoundClient(delay=0.1)
    calls = _calls(1000)  # 10 calls of 100
    result = Writer(4, max_attempts=3).write(client, "db", "t", calls, time.monotonic() + 0.35)
    assert 0 < client.calls < len(calls)
    assert result.written == 100 * client.calls == len(client.stored)
    assert result.unfinished == 1000 - result.written and not result.failures
