"""POST /read against the embedded store: injection attempts, Go-connector tables, captured
Prometheus requests, error statuses, the response size limit and stale column lists."""

from __future__ import annotations

import base64
import math
import random
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

import captured
from connector import handler as lambda_module
from connector.app import Connector
from connector.auth import Identity
from connector.config import Settings
from connector.http import Headers, Request
from connector.prom import snappy
from connector.timestream.columns import TableColumns
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients
from prompb import remote_pb2
from tests.read import oracle
from tests.read.helpers import (
    CHUNKED_TYPE,
    DATABASE,
    KEY_ID,
    READ_HEADERS,
    SECRET,
    Answer,
    Door,
    as_bits,
    labels_of,
    now_ms,
    read_request,
    write_request,
)

EQ, NEQ, RE, NRE = oracle.EQ, oracle.NEQ, oracle.RE, oracle.NRE
M = oracle.Match
ALL = (-(2**63), 2**63 - 1)
STREAMED, SAMPLES = remote_pb2.ReadRequest.STREAMED_XOR_CHUNKS, remote_pb2.ReadRequest.SAMPLES
INJECTIONS = ["' OR '1'='1", "--", '"; DROP TABLE x; --', "\\'", "%", "_", "a%", "_b", "\\", "''", '"', "x' --"]

World = dict[oracle.Labels, list[tuple[int, float]]]


@pytest.fixture(scope="module")
def door(door_for: Callable[..., Door]) -> Door:
    return door_for("main")


@pytest.fixture(scope="module")
def injected(door: Door) -> World:
    t = now_ms() - 20 * 60 * 1000
    world: World = {
        labels_of(__name__="inj", v=value, k=str(i)): [(t + i, float(i))] for i, value in enumerate(INJECTIONS)
    }
    world[labels_of(__name__="inj", k="none")] = [(t + 99, 99.0)]
    assert door.write(write_request(world)).status == 204
    return world


def check(door: Door, world: World, selector: list[oracle.Match], start: int, end: int, dot_all: bool = True) -> None:
    got = door.read(read_request((selector, start, end))).results()[0]
    assert got == as_bits(oracle.select(world, selector, start, end, dot_all)), selector


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_attempts_select_exactly_what_the_oracle_selects(door: Door, injected: World, value: str) -> None:
    base = [M(EQ, "__name__", "inj")]
    for matcher in (M(EQ, "v", value), M(NEQ, "v", value), M(RE, "v", re.escape(value)), M(NRE, "v", re.escape(value))):
        check(door, injected, [*base, matcher], *ALL)
    check(door, injected, [M(EQ, "__name__", value)], *ALL)
    check(door, injected, [*base, M(EQ, value, "x")], *ALL)  # as a label name
    check(door, injected, [*base, M(NEQ, value, "x")], *ALL)
    check(door, injected, [*base, M(RE, "v", ".*" + re.escape(value) + ".*")], *ALL)


def test_prometheus_2_dot_does_not_match_newlines(door: Door) -> None:
    t = now_ms() - 10 * 60 * 1000
    world = {labels_of(__name__="nl", l="a\nb"): [(t, 1.0)], labels_of(__name__="nl", l="axb"): [(t, 2.0)]}
    assert door.write(write_request(world)).status == 204
    selector = [M(EQ, "__name__", "nl"), M(RE, "l", "a.b")]
    request = read_request((selector, *ALL))
    old = door.read(request, {"User-Agent": "Prometheus/2.42.0+ds"}).results()[0]
    assert old == as_bits(oracle.select(world, selector, *ALL, dot_all=False))
    new = door.read(request, {"User-Agent": "Prometheus/3.5.0"}).results()[0]
    assert new == as_bits(oracle.select(world, selector, *ALL, dot_all=True))
    assert len(old) == 1 and len(new) == 2


def test_tables_written_by_the_official_go_connector(door_for: Callable[..., Door], store: EmbeddedTimestream) -> None:
    """measure_name = metric, one VARCHAR dimension per label verbatim, fixed-decimal doubles."""
    door = door_for("gotable")
    write, _ = boto3_clients(store, KEY_ID, SECRET)
    t = now_ms() - 30 * 60 * 1000
    world: World = {}
    records = []
    for i, (metric, labels) in enumerate(
        [
            ("go_requests_total", {"job": "api", "instance": "h:1", "code": "200"}),
            ("go_requests_total", {"job": "api", "instance": "h:2"}),
            ("go_duration_bucket", {"job": "db", "le": "0.5"}),
            ("up", {"job": "db"}),
        ]
    ):
        for j in range(3):
            value = i * 10 + j + 0.25
            dims = [{"Name": n, "Value": v} for n, v in labels.items()]
            records.append(
                {"Dimensions": dims, "MeasureName": metric, "MeasureValue": f"{value:.6f}", "Time": str(t + j)}
            )
            world.setdefault(labels_of(__name__=metric, **labels), []).append((t + j, value))
    write.write_records(
        DatabaseName=DATABASE,
        TableName="gotable",
        CommonAttributes={"MeasureValueType": "DOUBLE", "TimeUnit": "MILLISECONDS"},
        Records=records,
    )
    for selector in (
        [M(EQ, "__name__", "go_requests_total")],
        [M(RE, "job", ".+")],
        [M(EQ, "code", "")],
        [M(NEQ, "code", "")],
        [M(RE, "__name__", "go_.*"), M(NRE, "instance", "h:1")],
        [M(EQ, "le", "0.5")],
        [M(NEQ, "never", "x"), M(EQ, "job", "db")],
    ):
        check(door, world, selector, *ALL)
        check(door, world, selector, t + 1, t + 1)


def test_captured_prometheus_requests(door_for: Callable[..., Door]) -> None:
    """Prometheus 2.42's own writes and reads, moved in time to the last hour (the store's retention)."""
    door = door_for("captured")
    writes = [c.message() for c in captured.writes()]
    latest = max(s.timestamp for w in writes for ts in w.timeseries for s in ts.samples)
    shift = now_ms() - 10 * 60 * 1000 - latest
    world: World = {}
    for request in writes:
        for ts in request.timeseries:
            labels = tuple((label.name, label.value) for label in ts.labels)
            for sample in ts.samples:
                sample.timestamp += shift
                world.setdefault(labels, []).append((sample.timestamp, sample.value))
        headers = captured.writes()[0].headers
        answer = door.post("/write", snappy.compress(request.SerializeToString()), {**headers, **door.auth})
        assert answer.status == 204, answer.text
    reads = captured.reads()
    assert [c.name for c in reads] == ["read_instant_up", "read_range_rate"]
    for read, expected_series in zip(reads, (2, 2), strict=True):
        headers = read.headers
        request = read.read_request()
        for query in request.queries:
            query.start_timestamp_ms += shift
            query.end_timestamp_ms += shift
        answer = door.post("/read", snappy.compress(request.SerializeToString()), {**headers, **door.auth})
        (got,) = answer.results()
        query = request.queries[0]
        selector = [M(m.type, m.name, m.value) for m in query.matchers]
        expected = oracle.select(world, selector, query.start_timestamp_ms, query.end_timestamp_ms, dot_all=False)
        assert got == as_bits(expected)
        assert len(got) == expected_series and all(samples for samples in got.values())


def test_error_statuses(door: Door, store: EmbeddedTimestream) -> None:
    good = read_request(([M(EQ, "__name__", "up")], 0, 1)).SerializeToString()
    answer = door.read(read_request(([M(RE, "job", "a(?=b)")], 0, 1)))
    assert answer.status == 400 and "lookahead" in answer.text and "'job'" in answer.text
    answer = door.post("/read", snappy.compress(good), {**READ_HEADERS, **door.auth, "Content-Type": "text/plain"})
    assert answer.status == 415
    assert door.post("/read", b"\x05not-snappy", {**READ_HEADERS, **door.auth}).status == 400
    assert door.post("/read", snappy.compress(b"\xff\x01"), {**READ_HEADERS, **door.auth}).status == 400
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{KEY_ID}:wrong".encode()).decode()}
    assert door.post("/read", snappy.compress(good), {**READ_HEADERS, **wrong}).status == 401
    assert door.post("/read", snappy.compress(good), READ_HEADERS).status == 401
    try:
        store.set_faults(throttle=1.0, operations=["Query"])
        answer = door.read(read_request(([M(EQ, "__name__", "up")], 0, 1)))
        assert answer.status == 503 and answer.headers.get("retry-after"), answer.text
        store.set_faults(internal=1.0, operations=["Query"])
        assert door.read(read_request(([M(EQ, "__name__", "up")], 0, 1))).status == 502
    finally:
        store.set_faults()


def test_response_types_and_empty_requests(door: Door, injected: World) -> None:
    request = read_request(([M(EQ, "__name__", "inj")], *ALL))
    for accepted in ([STREAMED, SAMPLES], [SAMPLES, STREAMED], [STREAMED], [SAMPLES], []):
        del request.accepted_response_types[:]
        request.accepted_response_types.extend(accepted)
        answer = door.read(request)
        expected_type = CHUNKED_TYPE if accepted[:1] == [STREAMED] else "application/x-protobuf"
        assert answer.headers["content-type"] == expected_type
        assert answer.results(1) == [as_bits(injected)]
    del request.accepted_response_types[:]
    request.accepted_response_types.append(7)
    assert door.read(request).status == 400
    assert door.read(remote_pb2.ReadRequest()).results() == []


def test_answers_over_the_size_limit_are_refused_with_413(door: Door) -> None:
    t, rng = now_ms() - 40 * 60 * 1000, random.Random(3)
    world = {labels_of(__name__="big", job="x"): [(t + i, rng.random()) for i in range(3000)]}
    assert door.write(write_request(world)).status == 204
    request = read_request(([M(EQ, "__name__", "big")], *ALL))
    reader = door.reader
    try:
        reader.max_response_bytes = 5000
        answer = door.read(request)
        assert answer.status == 413
        assert "limit of 5000 bytes" in answer.text and "__name__='big'" in answer.text
    finally:
        reader.max_response_bytes = 4_500_000
    assert door.read(request).results() == [as_bits(world)]


def test_a_stale_column_list_is_refreshed_once(door: Door, injected: World) -> None:
    """A cached column that the table does not have makes Timestream fail; the read still answers."""
    reader = door.reader
    key = (Identity(KEY_ID, SECRET), DATABASE, "main")
    ghost = TableColumns(frozenset({"ghost", "k", "v"}), has_double=True)
    reader.columns = type(reader.columns)(ttl=3600)
    reader.columns.put(key, ghost)
    try:
        check(door, injected, [M(EQ, "__name__", "inj"), M(NEQ, "ghost", "x")], *ALL)
        columns = reader.columns.get(key)
        assert columns is not None and "ghost" not in columns.dimensions
    finally:
        reader.columns = type(reader.columns)()


def test_read_through_the_lambda_handler(door: Door, injected: World, request: pytest.FixtureRequest) -> None:
    previous = lambda_module.install(door.connector)
    request.addfinalizer(lambda: lambda_module.install(previous))
    body = snappy.compress(read_request(([M(EQ, "__name__", "inj")], *ALL)).SerializeToString())
    event = {
        "version": "2.0",
        "rawPath": "/read",
        "headers": {k.lower(): v for k, v in {**READ_HEADERS, **door.auth}.items()},
        "requestContext": {"http": {"method": "POST", "path": "/read"}, "stage": "$default"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    out = lambda_module.lambda_handler(event, None)
    answer = Answer(out["statusCode"], {k.lower(): v for k, v in out["headers"].items()}, base64.b64decode(out["body"]))
    assert answer.results() == [as_bits(injected)]


def test_the_size_limit_fits_a_lambda_response() -> None:
    """6 MB (6,291,456 B) for the whole JSON answer, body base64-encoded: room left for headers."""
    assert math.ceil(Settings.max_read_response_bytes / 3) * 4 + 16 * 1024 <= 6 * 1024 * 1024


def test_a_missing_table_is_named(door: Door) -> None:
    settings = replace(door.connector.settings, table="absent_table")
    core = Connector(settings)
    body = snappy.compress(read_request(([M(EQ, "__name__", "up")], 0, 1)).SerializeToString())
    request = Request("POST", "/read", Headers({**READ_HEADERS, **door.auth}), body)
    response = core.handle(request)
    assert response.status == 503 and b"absent_table" in response.body and b"DEFAULT_TABLE" in response.body


def test_a_label_first_written_after_a_read_is_readable_at_once(door_for: Callable[..., Door]) -> None:
    """With the default 60 s column cache, each way a stale list could show is caught."""
    door = door_for("late_label")
    t = now_ms() - 5 * 60 * 1000
    world: World = {labels_of(__name__="probe", job="p"): [(t, 1.0)]}
    assert door.write(write_request(world)).status == 204
    scenarios = [
        lambda label: [M(EQ, label, "yes")],  # ruled out by the cached list alone: confirmed first
        lambda label: [M(EQ, "__name__", "probe")],  # the new column shows in the result
        lambda label: [M(NEQ, label, "yes"), M(EQ, "job", "p")],  # its SQL changes once the list is fresh
        lambda label: [M(EQ, label, "")],
    ]
    for i, selector in enumerate(scenarios):
        check(door, world, [M(EQ, "__name__", "probe")], *ALL)  # fills the cache without the new label
        label = f"born_late_{i}"
        new = labels_of(__name__="probe", job="p", **{label: "yes"})
        world[new] = [(t + 1 + i, 2.0)]
        assert door.write(write_request({new: world[new]})).status == 204
        check(door, world, selector(label), *ALL)


@pytest.fixture
def read_logs() -> Any:
    """The connector's log lines while a test runs."""
    import logging

    from tests.helpers import captured_logs

    with captured_logs(logging.INFO) as capture:
        yield capture


@pytest.mark.parametrize("accepted", [[SAMPLES], [STREAMED]], ids=["samples", "chunks"])
def test_a_read_logs_one_line_with_what_it_returned(
    door: Door, injected: World, read_logs: Any, accepted: list[int]
) -> None:
    """queries, look-ups, series, samples and bytes are those of the answer itself; the cost fields
    are what the store's QueryStatus reported: at least its 10 MiB minimum per statement metered."""
    request = read_request(([M(EQ, "__name__", "inj")], *ALL), ([M(EQ, "__name__", "inj"), M(EQ, "k", "none")], *ALL))
    request.queries[1].hints.func = "series"
    request.accepted_response_types.extend(accepted)
    answer = door.read(request)
    results = answer.results(2)
    # Only this test's identity: the e2e suite's connector logs in the same process meanwhile.
    (line,) = [r for r in read_logs.records() if r.get("message") == "remote read" and r.get("identity") == KEY_ID]
    assert line["level"] == "INFO"
    assert (line["queries"], line["lookups"]) == (2, 1)
    assert line["series"] == sum(len(result) for result in results) == len(injected) + 1
    assert line["samples"] == sum(len(s) for result in results for s in result.values()) == len(injected)
    assert line["bytes"] == len(answer.body)
    assert line["response_type"] == ("samples" if accepted == [SAMPLES] else "streamed_xor_chunks")
    assert line["bytes_scanned"] > 0 and line["bytes_metered"] >= 2 * 10 * 1024 * 1024
