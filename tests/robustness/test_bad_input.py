"""Bad input through both front doors: a corpus of known-bad requests, then Hypothesis fuzzing.

For a client's mistake the answer is always a 4xx with a readable UTF-8 body (Prometheus logs it),
never a 5xx, never an unhandled exception (the Lambda door calls ``lambda_handler`` directly, so
an exception fails the test; the server door would see a dropped connection).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import math
import os
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connector.app import Connector
from connector.config import Settings
from connector.prom import snappy
from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST, MAX_SERIES_PER_REQUEST
from connector.server import MAX_WIRE_BODY_BYTES
from emulator.server import EmbeddedTimestream
from tests.doors import Answer, Door, http_api_event, invoke, serving
from tests.helpers import STALE_NAN, WRITE_HEADERS, WRITE_V2_HEADERS, LogCapture, basic_auth, write_body
from tests.robustness import wire
from tests.store_fixtures import DATABASE, KEY_ID, SECRET, TABLE

AUTH = {"Authorization": basic_auth(KEY_ID, SECRET)}
HEADERS = {**WRITE_HEADERS, **AUTH}
REFUSALS = {400, 404, 405, 411, 413, 415}
FUZZ = hypothesis_settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_clean(answer: Answer, allowed: set[int]) -> None:
    """A status from ``allowed`` (never 5xx) and, for a refusal, a short human-readable body."""
    assert answer.status < 500, f"{answer.status} for a client's mistake: {answer.text[:300]}"
    assert answer.status in allowed, f"{answer.status}: {answer.text[:300]}"
    if answer.status >= 400:
        text = answer.body.decode("utf-8")  # strict: readable means valid UTF-8
        assert text.strip(), f"{answer.status} with an empty body"
        assert len(answer.body) < 16_384, f"{len(answer.body)}-byte error body"


def post(door: Door, body: bytes, headers: dict[str, str] | None = None, path: str = "/write") -> Answer:
    return door("POST", path, {**HEADERS, **(headers or {})}, body)


def good_series(metric: str = "robust_input", **labels: str) -> bytes:
    parts = [wire.label("__name__", metric), wire.label("job", "bad-input")]
    parts += [wire.label(k, v) for k, v in sorted(labels.items())]
    return wire.series(*parts, wire.sample(now_ms(), 1.0))


# ---- corpus: bodies -------------------------------------------------------------------------------

_rng = random.Random(20240601)
RANDOM_BYTES = bytes(_rng.getrandbits(8) for _ in range(4096))
VALID_RAW = good_series()

BODY_CORPUS: dict[str, tuple[bytes, set[int]]] = {
    "empty": (b"", {400}),
    "random bytes": (RANDOM_BYTES, {400, 413}),
    "one zero byte": (b"\x00", {204}),  # a valid snappy block of an empty WriteRequest
    "snappy header only": (wire.varint(100), {400}),
    "snappy header claims 4 GiB": (wire.varint(4 << 30) + b"\x00" * 16, {413}),
    "snappy header claims 2^35-1": (b"\xff\xff\xff\xff\x7f" + b"\x00" * 16, {413}),
    "snappy header varint never ends": (b"\xff" * 12, {400}),
    "snappy header claims less than the data": (wire.snappy_literal(VALID_RAW, declared=3), {400}),
    "snappy header claims more than the data": (wire.snappy_literal(VALID_RAW, declared=len(VALID_RAW) + 50), {400}),
    "truncated snappy": (snappy.compress(VALID_RAW * 20)[:-7], {400}),
    "snappy copy before any literal": (wire.varint(8) + b"\x01\x05", {400}),
    "snappy framed format instead of block": (b"\xff\x06\x00\x00sNaPpY" + b"\x01\x05\x00\x00abcd", {400, 413}),
    "gzip instead of snappy": (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + RANDOM_BYTES[:64], {400, 413}),
    "uncompressed protobuf": (VALID_RAW, {400, 413}),
    "decompresses above the limit": (snappy.compress(b"\x00" * (64 * 1024 * 1024 + 1)), {413}),
}

PROTOBUF_CORPUS: dict[str, tuple[bytes, set[int]]] = {
    "truncated protobuf": (VALID_RAW[:-5], {400}),
    "length prefix beyond the end": (wire.tag(1, wire.LEN) + wire.varint(10_000) + b"\x0a", {400}),
    "length prefix of 2^62": (wire.tag(1, wire.LEN) + wire.varint(1 << 62), {400}),
    "varint of eleven bytes": (wire.tag(1, wire.VARINT) + b"\xff" * 10 + b"\x01", {400}),
    "timestamp varint of ten bytes (negative)": (
        wire.series(wire.label("__name__", "robust_input"), wire.label("job", "x"), wire.sample(-1, 1.0)),
        {204, 400},
    ),
    "timestamp of int64 max": (
        wire.series(wire.label("__name__", "robust_input"), wire.label("job", "x"), wire.sample((1 << 63) - 1, 1.0)),
        {400},
    ),
    "field 0": (wire.tag(0, wire.VARINT) + b"\x01", {400}),
    "wire type 6 and 7": (bytes([0x0E, 0x01, 0x0F, 0x01]), {400}),
    "timeseries sent as a varint": (wire.tag(1, wire.VARINT) + wire.varint(5), {204, 400}),
    "timeseries sent as fixed64": (wire.tag(1, wire.I64) + b"\x00" * 8, {204, 400}),
    "label sent as fixed32 inside a series": (wire.series(wire.tag(1, wire.I32) + b"abcd"), {204, 400}),
    "sample value sent as a varint": (
        wire.series(
            wire.label("__name__", "robust_input"),
            wire.label("job", "x"),
            wire.ld(2, wire.tag(1, wire.VARINT) + wire.varint(7) + wire.tag(2, wire.VARINT) + wire.varint(now_ms())),
        ),
        {204, 400},
    ),
    "unterminated group": (wire.tag(9, wire.SGROUP) + b"\x08\x01", {400}),
    "end group without start": (wire.tag(9, wire.EGROUP), {400}),
    "groups nested 10000 deep": (wire.tag(9, wire.SGROUP) * 10_000 + wire.tag(9, wire.EGROUP) * 10_000, {400}),
    "series nested in a label name": (wire.series(wire.ld(1, wire.ld(1, VALID_RAW))), {400}),
    "label name not UTF-8": (wire.series(wire.label(b"\xff\xfename", "v"), wire.sample(now_ms(), 1.0)), {400}),
    "label value not UTF-8": (
        wire.series(wire.label("__name__", "m"), wire.label("job", b"\xc3\x28"), wire.sample(now_ms(), 1.0)),
        {400},
    ),
    "overlong UTF-8 slash in a value": (wire.series(wire.label("__name__", "m"), wire.label("p", b"\xc0\xaf")), {400}),
    "UTF-8 encoded surrogate in a name": (wire.series(wire.label(b"\xed\xa0\x80", "v")), {400}),
    "metric name not UTF-8": (wire.series(wire.label("__name__", b"up\x80"), wire.sample(now_ms(), 1.0)), {400}),
    "NUL and control characters in labels": (good_series(ctl="a\x00b\x01\x7f\n"), {204, 400}),
    "label name with a NUL": (
        wire.series(wire.label("__name__", "m"), wire.label("a\x00b", "v"), wire.sample(now_ms(), 1.0)),
        {204, 400},
    ),
    "UTF-8 names (remote write 2.0 style)": (
        wire.series(wire.label("__name__", "métrique.π"), wire.label("ключ", "значение"), wire.sample(now_ms(), 2.5)),
        {204},
    ),
    "label value of 1 MB": (good_series(big="v" * (1 << 20)), {400}),
    "label name of 1 MB": (
        wire.series(wire.label("__name__", "m"), wire.label("n" * (1 << 20), "v"), wire.sample(now_ms(), 1.0)),
        {400},
    ),
    "metric name of 1 MB": (
        wire.series(wire.label("__name__", "m" * (1 << 20)), wire.label("job", "x"), wire.sample(now_ms(), 1.0)),
        {400},
    ),
    "300 labels": (good_series(**{f"l{i}": "v" for i in range(300)}), {400}),
    "duplicate label names": (
        wire.series(
            wire.label("__name__", "m"), wire.label("a", "1"), wire.label("a", "2"), wire.sample(now_ms(), 1.0)
        ),
        {400},
    ),
    "no metric name": (wire.series(wire.label("job", "x"), wire.sample(now_ms(), 1.0)), {400}),
    "empty label name": (
        wire.series(wire.label("__name__", "m"), wire.label("", "v"), wire.sample(now_ms(), 1.0)),
        {400},
    ),
    "special values": (
        b"".join(
            wire.series(wire.label("__name__", "robust_specials"), wire.label("v", repr(v)), wire.sample(now_ms(), v))
            for v in (math.nan, math.inf, -math.inf, STALE_NAN, -0.0, 5e-324)
        ),
        {204},
    ),
    "native histogram only": (
        wire.series(
            wire.label("__name__", "h"), wire.label("job", "x"), wire.ld(4, wire.tag(1, wire.VARINT) + wire.varint(3))
        ),
        {400},
    ),
    "exemplar only": (
        wire.series(
            wire.label("__name__", "robust_exemplar"), wire.label("job", "x"), wire.ld(3, wire.label("trace_id", "abc"))
        ),
        {204},
    ),
    "metadata only": (wire.ld(3, wire.tag(1, wire.VARINT) + wire.varint(1) + wire.ld(2, b"up")), {204}),
    "10000 empty series": (wire.series() * 10_000, {204}),
}


@pytest.mark.parametrize("name", list(BODY_CORPUS))
def test_corrupt_compressed_bodies(door: Door, name: str) -> None:
    body, allowed = BODY_CORPUS[name]
    assert_clean(post(door, body), allowed)


@pytest.mark.parametrize("name", list(PROTOBUF_CORPUS))
def test_malformed_protobuf(door: Door, name: str) -> None:
    raw, allowed = PROTOBUF_CORPUS[name]
    answer = post(door, snappy.compress(raw))
    assert_clean(answer, allowed)
    if "UTF-8" in name and answer.status == 400:
        assert "protobuf" in answer.text


def test_invalid_series_are_counted_in_the_answer_and_the_rest_is_written(door: Door) -> None:
    body = snappy.compress(
        good_series(ok="1")
        + good_series(big="v" * (1 << 20))
        + wire.series(wire.label("job", "x"), wire.sample(now_ms(), 1))
    )
    answer = post(door, body)
    assert_clean(answer, {400})
    assert "2 of 3 samples could not be stored" in answer.text and "(1 written)" in answer.text
    assert answer.headers["x-prometheus-remote-write-samples-written"] == "1"


# ---- corpus: requests (methods, paths, headers) ---------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "HEAD"])
def test_wrong_methods_are_405(door: Door, method: str) -> None:
    answer = door(method, "/write", HEADERS, write_body([]))
    if method == "HEAD":
        assert answer.status == 405
    else:
        assert_clean(answer, {405})
    assert answer.headers.get("allow") == "POST"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/writ",
        "/write/extra",
        "/db/tbl/write",
        "/WRITE",
        "//write",
        "/write;x",
        "/%77rite",
        "/write%00",
        "/../write",
        "/" + "a" * 10_000,
        "/api/v1/write",
    ],
)
def test_wrong_paths_are_404(door: Door, path: str) -> None:
    answer = post(door, write_body([([("__name__", "robust_input"), ("job", "x")], [(now_ms(), 1.0)])]), path=path)
    # http.server itself turns a leading "//" into "/" (CPython gh-87389): the same route, same table.
    assert_clean(answer, {404, 204} if path == "//write" else {404})
    assert len(answer.body) < 512, "the echoed path must be truncated"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": ""},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/json"},
        {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"},
        {"Content-Type": 'application/x-protobuf; proto="something.Else"'},
        {"Content-Type": "application/x-protobuf;;;=;proto"},
        {"Content-Type": "\u00e9\u00e8"},
        {"Content-Encoding": "gzip"},
        {"Content-Encoding": "identity"},
        {"Content-Encoding": ""},
    ],
    ids=lambda h: repr(h)[:60],
)
def test_wrong_content_types_and_encodings_are_415(door: Door, headers: dict[str, str]) -> None:
    answer = post(door, write_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]), headers)
    assert_clean(answer, {415})


def test_the_v1_content_type_with_its_proto_parameter_is_accepted(door: Door) -> None:
    headers = {"Content-Type": "application/x-protobuf; proto=prometheus.WriteRequest"}
    answer = post(door, write_body([([("__name__", "robust_input"), ("job", "x")], [(now_ms(), 1.0)])]), headers)
    assert answer.status == 204, answer.text


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        "Basic !!!!",
        "Basic " + "é" * 8,
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-only").decode(),
        "Basic " + base64.b64encode(b"key-only:").decode(),
        "Basic " + "QQ==" * 5000,
        "AWS4-HMAC-SHA256 Credential=x",
    ],
)
def test_malformed_authorization_is_401(door: Door, authorization: str) -> None:
    answer = door("POST", "/write", {**WRITE_HEADERS, "Authorization": authorization}, write_body([]))
    assert_clean(answer, {401})


# ---- size limits and 100,000 series ---------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_server(settings: Settings) -> Iterator[tuple[str, int]]:
    """The local server's address, for requests http.client will not send (lying framing)."""
    with serving(Connector(settings)) as door:
        yield door.address  # type: ignore[attr-defined]


@pytest.mark.parametrize("content_type", [WRITE_HEADERS["Content-Type"], WRITE_V2_HEADERS["Content-Type"]])
def test_server_refuses_a_body_over_10_mb_before_reading_it(
    raw_server: tuple[str, int], connector_logs: LogCapture, content_type: str
) -> None:
    """413 as soon as the headers arrive: the body is never sent, yet the answer comes, with the
    Written counts every write answer carries, logged as a refusal like the core's own."""
    host, port = raw_server
    with socket.create_connection((host, port), timeout=5) as sock:
        head = (
            f"POST /write HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Encoding: snappy\r\nContent-Length: {MAX_WIRE_BODY_BYTES + 1}\r\n\r\n"
        )
        sock.sendall(head.encode())
        reply = _read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    head_lines = reply.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    assert b"connection: close" in head_lines
    assert b"exceeds the limit" in reply
    counts = [b"samples", b"histograms", b"exemplars"] if "v2" in content_type else [b"samples"]
    for what in [b"samples", b"histograms", b"exemplars"]:
        line = b"x-prometheus-remote-write-" + what + b"-written: 0"
        assert (line in head_lines) == (what in counts), (what, head_lines)
    refused = [r for r in connector_logs.records() if r.get("message") == "request refused"]
    assert [(r["path"], r["status"]) for r in refused] == [("/write", 413)], connector_logs.text


def test_server_answers_413_to_a_client_already_sending_11_mb(raw_server: tuple[str, int]) -> None:
    host, port = raw_server
    with socket.create_connection((host, port), timeout=5) as sock:
        size = 11 * 1024 * 1024
        sock.sendall(f"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
        with contextlib.suppress(OSError):  # the server may close while we send; the rest never goes
            sock.sendall(os.urandom(256 * 1024))
        reply = _read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_a_client_sending_12_mb_reads_the_413_and_its_reason(raw_server: tuple[str, int]) -> None:
    """http.client sends the whole body before it reads: it must get the 413, not ``Broken pipe``."""
    host, port = raw_server
    body = os.urandom(12 * 1024 * 1024)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", "/write", body=body, headers=HEADERS)
        reply = conn.getresponse()
        text = reply.read()
    finally:
        conn.close()
    assert reply.status == 413, (reply.status, text[:200])
    assert f"body of {len(body)} bytes exceeds the limit of {MAX_WIRE_BODY_BYTES} bytes".encode() in text
    assert reply.getheader("Connection", "").lower() == "close"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("Content-Length: abc", 400),
        ("Content-Length: -5", 400),
        ("Content-Length: 99999999999999999999", 413),
        ("Transfer-Encoding: chunked", 411),
    ],
)
def test_server_refuses_bad_framing(raw_server: tuple[str, int], header: str, status: int) -> None:
    host, port = raw_server
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"POST /write HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode())
        reply = _read_reply(sock)
    assert reply.startswith(f"HTTP/1.1 {status}".encode()), reply[:200]


def test_server_handles_a_body_shorter_than_its_content_length(raw_server: tuple[str, int]) -> None:
    host, port = raw_server
    with socket.create_connection((host, port), timeout=5) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
        sock.sendall(f"POST /write HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 5000\r\n\r\n".encode() + b"\x10abc")
        sock.shutdown(socket.SHUT_WR)
        reply = _read_reply(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]


def test_lambda_handles_the_largest_body_api_gateway_can_deliver(lambda_door: Door) -> None:
    """Lambda takes at most 6 MB per event, base64 included: about 4.4 MB of binary body reaches it
    (API Gateway refuses over 10 MB, Lambda over 6 MB, before the function runs)."""
    largest = 6 * 1024 * 1024 * 3 // 4 - 64 * 1024
    assert_clean(post(lambda_door, os.urandom(largest)), {400, 413})
    assert_clean(post(lambda_door, snappy.compress(os.urandom(largest - 1024))), {400})
    # More than API Gateway would ever pass on: still an answer, not a crash.
    assert_clean(post(lambda_door, os.urandom(MAX_WIRE_BODY_BYTES + 1)), {400, 413})


def test_100000_series_in_one_request(door: Door) -> None:
    t = now_ms()
    # All invalid (no metric name): decoded, translated and counted, no Timestream call.
    nameless = snappy.compress(
        b"".join(wire.series(wire.label("i", str(i)), wire.sample(t, 1.0)) for i in range(100_000))
    )
    answer = post(door, nameless)
    assert_clean(answer, {400})
    assert "100000 of 100000 samples" in answer.text and "(0 written)" in answer.text
    # Beyond the per-request limit: 413 before any translation.
    too_many = snappy.compress(wire.series() * (MAX_SERIES_PER_REQUEST + 1))
    assert_clean(post(door, too_many), {413})
    one_series = wire.series(
        wire.label("__name__", "m"), wire.label("job", "x"), wire.sample(t, 1.0) * (MAX_SAMPLES_PER_REQUEST + 1)
    )
    assert_clean(post(door, snappy.compress(one_series)), {413})


def test_100000_valid_series_get_a_retryable_answer_in_time_when_the_budget_is_short(
    settings: Settings, store: EmbeddedTimestream, query: Any
) -> None:
    """More than the store can take within the request budget: every WriteRecords call hangs far
    past the budget (and the call timeout is longer still), so the only true answer is a 504 with
    Retry-After saying that no sample is confirmed; it must come at the deadline, with the calls
    still hanging (a 504 naming all samples as unconfirmed shows that: an ended call is written or
    failed). The budget is the last second before the writes start, whatever decoding 100,000
    series took (the budget from arrival, decoding included, is robustness/test_deadlines.py's)."""
    t = now_ms()
    count = 100_000
    body = write_body(
        [([("__name__", "robust_many"), ("i", str(i)), ("job", "many")], [(t, float(i))]) for i in range(count)]
    )
    store.set_faults(hang=1.0, hang_seconds=20.0, operations=["WriteRecords"])
    connector = Connector(replace(settings, request_timeout=60.0, call_timeout=60.0))
    writer = connector.write_handler.writer
    real_write = writer.write

    def write_with_one_second_left(client: Any, database: str, table: str, calls: Any, deadline: float) -> Any:
        return real_write(client, database, table, calls, time.monotonic() + 1.0)

    writer.write = write_with_one_second_left  # type: ignore[method-assign]
    calls_before = int(store.stats()["calls_by_operation"].get("WriteRecords", 0))
    with serving(connector) as server:
        answer = post(server, body)
    started = int(store.stats()["calls_by_operation"].get("WriteRecords", 0)) - calls_before
    assert answer.status == 504, answer.text
    assert answer.headers.get("retry-after") and "Retry the batch" in answer.text
    assert f"{count} samples unconfirmed; 0 of {count} written" in answer.text
    assert answer.headers["x-prometheus-remote-write-samples-written"] == "0"
    assert started > 0, "no call had started: the deadline passed before writing, not while the calls ran"
    store.set_faults()
    stored = query(f"SELECT count(*) AS n FROM \"{DATABASE}\".\"{TABLE}\" WHERE measure_name = 'robust_many'")
    assert stored == [{"n": "0"}]


# ---- Lambda events API Gateway would never send ---------------------------------------------------


def _v2(**overrides: Any) -> dict[str, Any]:
    event = http_api_event("POST", "/write", HEADERS, write_body([]))
    event.update(overrides)
    return event


MALFORMED_EVENTS: dict[str, Any] = {
    "None": None,
    "a list": [],
    "a string": "POST /write",
    "empty dict": {},
    "v2 without requestContext": {"version": "2.0", "rawPath": "/write"},
    "v2 requestContext None": _v2(requestContext=None),
    "v2 requestContext a string": _v2(requestContext="x"),
    "v2 http None": _v2(requestContext={"http": None}),
    "v2 method an int": _v2(requestContext={"http": {"method": 5, "path": "/write"}}),
    "v2 rawPath an int": _v2(rawPath=7),
    "v2 headers None": _v2(headers=None),
    "v2 headers a string": _v2(headers="content-type: x"),
    "v2 headers a list": _v2(headers=[["a", "b"]]),
    "v2 header value an int": _v2(headers={"content-type": 5, "authorization": AUTH["Authorization"]}),
    "v2 header value None": _v2(headers={"authorization": None}),
    "v2 header value a list": _v2(headers={"authorization": ["Basic x"]}),
    "v2 cookies not a list": _v2(cookies=5),
    "v2 body not base64": _v2(body="!!! not base64 !!!"),
    "v2 body base64 bad padding": _v2(body="abc"),
    "v2 body base64 non-ASCII": _v2(body="é" * 8),
    "v2 body an int": _v2(body=5),
    "v2 body a dict": _v2(body={"a": 1}),
    "v2 body a list": _v2(body=[1, 2]),
    "v2 body None": _v2(body=None),
    "v2 isBase64Encoded a string": _v2(isBase64Encoded="yes", body="!!"),
    "v2 stage an int": _v2(requestContext={"http": {"method": "POST", "path": "/write"}, "stage": 3}),
    "v1 no httpMethod": {"path": "/write", "headers": HEADERS, "body": ""},
    "v1 httpMethod None": {"httpMethod": None, "path": "/write"},
    "v1 path None": {"httpMethod": "POST", "path": None, "headers": HEADERS},
    "v1 multiValueHeaders values not lists": {"httpMethod": "POST", "path": "/write", "multiValueHeaders": {"a": 5}},
    "v1 multiValueHeaders a list": {"httpMethod": "POST", "path": "/write", "multiValueHeaders": ["a"]},
    "v1 body text, not binary": {"httpMethod": "POST", "path": "/write", "headers": HEADERS, "body": "\u2603 text"},
    "v1 body not base64": {
        "httpMethod": "POST",
        "path": "/write",
        "headers": HEADERS,
        "body": "%%%",
        "isBase64Encoded": True,
    },
    "v1 lone surrogate in body": {"httpMethod": "POST", "path": "/write", "headers": HEADERS, "body": "\ud800"},
}


@pytest.mark.parametrize("name", list(MALFORMED_EVENTS))
def test_malformed_events_get_a_4xx_never_an_exception(lambda_door: Door, name: str) -> None:
    # lambda_door installs a core aimed at the store; the event goes straight to lambda_handler.
    assert_clean(invoke(MALFORMED_EVENTS[name]), REFUSALS | {401, 204})  # 204: odd but usable (an int stage)


# ---- Hypothesis -----------------------------------------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=2048))
def test_fuzz_random_bodies(door: Door, body: bytes) -> None:
    answer = post(door, body)
    hypothesis.event(f"status {answer.status}")
    assert_clean(answer, {204, 400, 413})


@FUZZ
@given(raw=st.binary(max_size=4096))
def test_fuzz_snappy_of_random_bytes(door: Door, raw: bytes) -> None:
    answer = post(door, snappy.compress(raw))
    hypothesis.event(f"status {answer.status}")
    assert_clean(answer, {204, 400, 413})


def _junk_field() -> st.SearchStrategy[bytes]:
    """A field of any number and wire type with a payload that may or may not match it."""
    return st.builds(
        lambda field, wire_type, payload: wire.tag(field, wire_type) + payload,
        st.integers(0, 40),
        st.integers(0, 7),
        st.one_of(
            st.binary(max_size=12),
            st.integers(0, (1 << 64) - 1).map(wire.varint),
            st.binary(max_size=20).map(lambda b: wire.varint(len(b)) + b),
        ),
    )


_valid_text = st.one_of(
    st.text(max_size=24).map(str.encode),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_:", min_size=1, max_size=12).map(str.encode),
    st.sampled_from([b"__name__", b"job", b"instance", b"time", b"measure_name", b"ts_x", b"__special_value__"]),
    st.integers(0, 3000).map(lambda n: b"x" * n),
)
# One field in eight is raw bytes, usually not UTF-8: enough to probe, rare enough that the rest parses.
_text_bytes = st.one_of(*[_valid_text] * 7, st.binary(min_size=1, max_size=24))
_timestamps = st.one_of(
    st.integers(-120_000, 60_000).map(lambda d: now_ms() + d),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.sampled_from([0, -1, 1 << 62]),
)
_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.just(STALE_NAN))
_label = st.builds(wire.label, _text_bytes, _text_bytes)
_named = st.builds(
    lambda name: wire.label("__name__", name),
    st.sampled_from(["robust_fuzz", "job:rule:rate5m", "ts_metric", "m" * 300]),
)
_sample = st.builds(wire.sample, _timestamps, _values)
_rarely_junk: st.SearchStrategy[list[bytes]] = st.one_of(
    st.just([]), st.just([]), st.just([]), st.lists(_junk_field(), min_size=1, max_size=2)
)
_series = st.builds(
    lambda name, parts, junk: wire.series(*name, *parts, *junk),
    st.lists(_named, max_size=1),
    st.lists(st.one_of(_label, _sample), max_size=8),
    _rarely_junk,
)
_request = st.builds(lambda series, junk: b"".join(series + junk), st.lists(_series, max_size=6), _rarely_junk)


@hypothesis_settings(FUZZ, max_examples=150)
@given(raw=_request, truncate=st.sampled_from([0, 0, 0, 0, 0, 1, 2, 5]))
def test_fuzz_crafted_protobuf(door: Door, raw: bytes, truncate: int) -> None:
    """Real-looking series with hostile names, values, timestamps and stray fields of every wire type."""
    answer = post(door, snappy.compress(raw[: len(raw) - truncate]))
    hypothesis.event(f"status {answer.status} {answer.text[:24]}")
    assert_clean(answer, {204, 400, 413})


_methods = st.one_of(
    st.sampled_from(["POST", "GET", "PUT", "DELETE", "OPTIONS", "PATCH"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10),
)
_paths = st.one_of(
    st.sampled_from(["/write", "/write/", "/read", "/healthz", "/write?table=x"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/._-~%?=&;", max_size=60).map(lambda p: "/" + p),
)
_header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=60).map(str.strip)
_some_headers = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "Content-Encoding",
            "Authorization",
            "X-Prometheus-Remote-Write-Version",
            "Accept-Encoding",
            "X-Database",
            "X-Table",
        ]
    ),
    _header_values,
    max_size=5,
)
_headers = st.one_of(_some_headers, _some_headers.map(lambda h: {**HEADERS, **h}))


@FUZZ
@given(
    method=_methods, path=_paths, headers=_headers, body=st.sampled_from([b"", VALID_RAW, snappy.compress(VALID_RAW)])
)
def test_fuzz_methods_paths_and_headers(
    door: Door, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    answer = door(method, path, headers, body)
    hypothesis.event(f"status {answer.status}")
    if method == "HEAD":
        assert answer.status < 500
    else:
        assert_clean(answer, REFUSALS | {200, 204, 401})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_event_keys = [
    "version",
    "rawPath",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "requestContext",
    "body",
    "isBase64Encoded",
    "cookies",
    "queryStringParameters",
    "stageVariables",
]
_events = st.one_of(
    _json,
    st.dictionaries(st.sampled_from(_event_keys), _json, max_size=8),
    st.builds(lambda over: {**_v2(), **over}, st.dictionaries(st.sampled_from(_event_keys), _json, max_size=3)),
)


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=_events)
def test_fuzz_lambda_events(lambda_door: Door, event: Any) -> None:
    answer = invoke(event)
    hypothesis.event(f"status {answer.status}")
    assert_clean(answer, REFUSALS | {200, 204, 401})


# ---- helpers --------------------------------------------------------------------------------------


def _read_reply(sock: socket.socket) -> bytes:
    data = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data and data.split(b"\r\n\r\n", 1)[1]:
            break
    return data
