"""Never lose a sample: a Prometheus-like sender against a faulty store, through both front doors.

The store throttles 10 % of WriteRecords calls, fails 5 % with InternalServerException and hangs
5 % past the connector's call timeout. The sender behaves like Prometheus' queue manager: it resends
the identical batch with backoff (30 ms doubling to a short cap) on 5xx, 429 and network errors,
and gives up only on a non-retryable 4xx (which must never happen for valid data). At every 2xx the
batch must already be complete in the store; at the end every sample sent must be stored exactly
once. Through the local server with ``max_attempts`` 1 every fault reaches the sender (partial
batches, resends); through the Lambda handler with 3 the connector's own retries absorb most.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from connector.config import Settings
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record
from tests.doors import Answer, Door
from tests.helpers import STALE_NAN, WRITE_HEADERS, basic_auth, float_bits, write_body
from tests.integration.test_write import stored_samples
from tests.store_fixtures import DATABASE, KEY_ID, SECRET, TABLE, store_settings

AUTH = {"Authorization": basic_auth(KEY_ID, SECRET)}
BATCHES = 30
SERIES_PER_BATCH = 100
SAMPLES_PER_SERIES = 3  # 300 samples: three WriteRecords calls per batch
BACKOFF_START, BACKOFF_CAP = 0.03, 0.3
GIVE_UP_AFTER_SECONDS = 60  # per batch; Prometheus never gives up, a test must
FAULTS = {"throttle": 0.10, "internal": 0.05, "hang": 0.05, "hang_seconds": 2.0, "operations": ["WriteRecords"]}


# The local server with every fault reaching the sender; the Lambda handler with the connector's retries.
@pytest.fixture(
    scope="module", params=[("server", 1), ("lambda", 3)], ids=["server-max_attempts=1", "lambda-max_attempts=3"]
)
def combination(request: pytest.FixtureRequest) -> tuple[str, int]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def settings(combination: tuple[str, int], store: EmbeddedTimestream) -> Settings:
    """Small timeouts so hung calls are abandoned fast; overrides the integration ``settings``."""
    return store_settings(
        store, call_timeout=0.5, request_timeout=3.0, max_attempts=combination[1], write_concurrency=8
    )


@pytest.fixture(scope="module")
def door(request: pytest.FixtureRequest, combination: tuple[str, int], settings: Settings) -> Door:
    """The integration door for this combination, rebuilt with these ``settings``."""
    return request.getfixturevalue(f"{combination[0]}_door")


Key = tuple[str, frozenset[tuple[str, str]], int, int]


def make_batch(run: str, number: int, start_ms: int, rng: random.Random) -> tuple[bytes, Counter[Key]]:
    series, expected = [], Counter[Key]()
    for s in range(SERIES_PER_BATCH):
        labels = [
            ("__name__", "robust_faults_total"),
            ("batch", str(number)),
            ("job", "faults"),
            ("run", run),
            ("series", str(s)),
        ]
        samples = []
        for k in range(SAMPLES_PER_SERIES):
            value = STALE_NAN if (s, k) == (0, 2) else rng.choice([rng.random() * 1e6, float(rng.randint(0, 99))])
            samples.append((start_ms + number * 10 + k, value))
            expected[("robust_faults_total", frozenset(labels[1:]), samples[-1][0], float_bits(value))] += 1
        series.append((labels, samples))
    return write_body(series), expected


def send_like_prometheus(door: Door, body: bytes, statuses: Counter[int]) -> Answer:
    """Resend the identical batch until a 2xx or a non-retryable 4xx, as Prometheus does."""
    backoff, started = BACKOFF_START, time.monotonic()
    while True:
        try:
            answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH}, body)
        except OSError:  # a network error: Prometheus retries it like a 5xx
            statuses[0] += 1
        else:
            statuses[answer.status] += 1
            if answer.status < 300 or (400 <= answer.status < 500 and answer.status != 429):
                return answer
            assert answer.text.strip(), "a 5xx must say why"
            assert answer.headers.get("retry-after"), f"{answer.status} without Retry-After: {answer.text}"
        assert time.monotonic() - started < GIVE_UP_AFTER_SECONDS, f"batch never stored; statuses {statuses}"
        time.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_CAP)


def test_every_acknowledged_sample_is_stored_and_every_sent_sample_arrives(
    door: Door,
    store: EmbeddedTimestream,
    query,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    run = f"{settings.max_attempts}-{time.monotonic_ns()}"
    rng = random.Random(1234 + settings.max_attempts)
    start_ms = int(time.time() * 1000) - 60_000
    store.set_faults(**FAULTS, seed=rng.randrange(1 << 30))
    before = store.stats()["faults_injected"]
    statuses: Counter[int] = Counter()
    everything: Counter[Key] = Counter()
    for number in range(BATCHES):
        body, expected = make_batch(run, number, start_ms, rng)
        answer = send_like_prometheus(door, body, statuses)
        assert 200 <= answer.status < 300, f"valid batch dropped with {answer.status}: {answer.text}"
        assert answer.headers["x-prometheus-remote-write-samples-written"] == str(sum(expected.values()))
        # The 2xx is a promise: the whole batch is in the store at this moment (faults still on,
        # but only for WriteRecords, so this query is not faulted).
        stored = stored_samples(query, f"measure_name = 'robust_faults_total' AND run = '{run}' AND batch = '{number}'")
        assert stored == expected, f"batch {number} acknowledged with {answer.status} but incomplete in the store"
        everything.update(expected)
    store.set_faults()
    injected = Counter(store.stats()["faults_injected"]) - Counter(before)
    assert set(injected) == {"throttle", "internal", "hang"}, f"not every fault kind happened: {injected}"
    if settings.max_attempts == 1:
        assert sum(n for status, n in statuses.items() if status >= 500) > 0, statuses
    # After the faults stop: every sample sent is there, exactly once (resends are idempotent).
    assert stored_samples(query, f"measure_name = 'robust_faults_total' AND run = '{run}'") == everything
    assert sum(everything.values()) == BATCHES * SERIES_PER_BATCH * SAMPLES_PER_SERIES


def test_a_hung_call_writes_nothing_even_after_the_client_gave_up(store: EmbeddedTimestream, query) -> None:  # type: ignore[no-untyped-def]
    """The premise of the test above (the emulator documents it; check it): a hang never writes."""
    write, _ = boto3_clients(store, KEY_ID, SECRET, Config(read_timeout=0.3, retries={"max_attempts": 1}))
    store.set_faults(hang=1.0, hang_seconds=0.8, operations=["WriteRecords"])
    record: dict[str, Any] = make_record("robust_hung_probe", "1", dims={"job": "hang"})
    with pytest.raises(ReadTimeoutError):
        write.write_records(DatabaseName=DATABASE, TableName=TABLE, Records=[record])
    time.sleep(1.0)  # the hang is over; the store answered InternalServerException to nobody
    store.set_faults()
    assert query(f'SELECT * FROM "{DATABASE}"."{TABLE}" WHERE measure_name = \'robust_hung_probe\'') == []
