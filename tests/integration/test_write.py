"""Remote write through both front doors into the embedded store, checked with boto3 queries."""

from __future__ import annotations

import math
import struct
import time
from collections import Counter

import pytest

from emulator.server import EmbeddedTimestream
from tests import layout
from tests.doors import Door
from tests.helpers import STALE_NAN, WRITE_HEADERS, basic_auth, captured_writes, count_samples, float_bits, write_body
from tests.store_fixtures import DATABASE, KEY_ID, OTHER_KEY_ID, SECRET, TABLE

AUTH = {"Authorization": basic_auth(KEY_ID, SECRET)}


def post_write(door: Door, body: bytes, headers: dict[str, str] | None = None, auth: bool = True):  # type: ignore[no-untyped-def]
    all_headers = {**WRITE_HEADERS, **(AUTH if auth else {}), **(headers or {})}
    return door("POST", "/write", all_headers, body)


def stored_samples(query, where: str) -> Counter:  # type: ignore[no-untyped-def]
    """(metric, labels, time, value bits) of every stored row matching ``where``, decoded by the
    tests' own reader of the documented table layout (tests/layout.py), not by the connector's."""
    rows = query(f'SELECT *, to_milliseconds(time) AS t_ms FROM "{DATABASE}"."{TABLE}" WHERE {where}')
    return Counter(layout.sample_of_row(row) for row in rows)


def now_ms() -> int:
    return int(time.time() * 1000)


def test_every_captured_sample_becomes_exactly_one_record(server_door: Door, query) -> None:  # type: ignore[no-untyped-def]
    expected: Counter = Counter()
    latest = 0
    for captured in captured_writes():
        answer = server_door("POST", "/write", {**captured.headers, **AUTH}, captured.body)
        assert answer.status == 204, answer.text
        latest = max(latest, count_samples(expected, captured.message().timeseries))
    assert sum(expected.values()) > 3000
    assert stored_samples(query, f"time <= from_milliseconds({latest})") == expected


def test_metadata_only_request_is_accepted(door: Door) -> None:
    metadata_only = next(c for c in captured_writes() if not c.message().timeseries)
    assert post_write(door, metadata_only.body).status == 204


def test_values_round_trip_bit_exactly_including_specials(door: Door, query) -> None:  # type: ignore[no-untyped-def]
    values = [4e-7, 1e300, -0.0, 5e-324, 0.1 + 0.2, -1.5e-308, math.inf, -math.inf, float("nan"), STALE_NAN]
    t0 = now_ms()
    labels = [("__name__", "lossless_total"), ("case", "bits"), ("job", "it")]
    answer = post_write(door, write_body([(labels, [(t0 + i, v) for i, v in enumerate(values)])]))
    assert answer.status == 204, answer.text
    found = stored_samples(query, f"measure_name = 'lossless_total' AND time >= from_milliseconds({t0})")
    want = Counter(
        ("lossless_total", frozenset({("case", "bits"), ("job", "it")}), t0 + i, float_bits(v))
        for i, v in enumerate(values)
    )
    assert found == want


def test_recording_rule_names_and_reserved_label_names_are_stored_and_decode(door: Door, query) -> None:  # type: ignore[no-untyped-def]
    t0 = now_ms()
    labels = [("__name__", "job:requests:rate5m"), ("job", "api"), ("time", "noon"), ("ts_zone", "z")]
    assert post_write(door, write_body([(labels, [(t0, 2.0)])])).status == 204
    found = stored_samples(query, f"time = from_milliseconds({t0})")
    assert (
        "job:requests:rate5m",
        frozenset({("job", "api"), ("time", "noon"), ("ts_zone", "z")}),
        t0,
        float_bits(2.0),
    ) in found


def test_an_unknown_remote_write_message_is_415(door: Door) -> None:
    answer = post_write(
        door, write_body([]), {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"}
    )
    assert answer.status == 415 and "prometheus.WriteRequest" in answer.text


def test_corrupt_snappy_is_400(door: Door) -> None:
    answer = post_write(door, b"\x05garbage-not-snappy")
    assert answer.status == 400 and "snappy" in answer.text


def test_truncated_protobuf_is_400(door: Door) -> None:
    from connector.prom import snappy
    from tests.helpers import write_request

    raw = write_request([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])])
    answer = post_write(door, snappy.compress(raw[:-4]))
    assert answer.status == 400 and "protobuf" in answer.text


def test_missing_auth_is_401_with_a_challenge(door: Door) -> None:
    answer = post_write(door, write_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]), auth=False)
    assert answer.status == 401 and answer.headers["www-authenticate"].startswith("Basic")


def test_unknown_key_pair_is_401_from_timestream(door: Door) -> None:
    headers = {"Authorization": basic_auth("AKIAUNKNOWNKEY000000", "whatever")}
    answer = post_write(door, write_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]), headers)
    assert answer.status == 401, answer.text


def test_wrong_secret_is_401(door: Door) -> None:
    headers = {"Authorization": basic_auth(KEY_ID, "not-the-secret")}
    answer = post_write(door, write_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]), headers)
    assert answer.status == 401, answer.text


def test_throttling_is_5xx_so_prometheus_retries(door: Door, store: EmbeddedTimestream) -> None:
    store.set_faults(throttle=1.0, operations=["WriteRecords"])
    answer = post_write(door, write_body([([("__name__", "up"), ("job", "x")], [(now_ms(), 1.0)])]))
    assert answer.status == 503 and answer.headers.get("retry-after")


def test_basic_mode_never_falls_back_to_ambient_credentials(
    door: Door, store: EmbeddedTimestream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test process holds a VALID key pair in the environment: a fallback would succeed.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", OTHER_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "integration-secret-2")
    before = dict(store.stats().get("calls_by_access_key", {}))
    body = write_body([([("__name__", "up"), ("job", "ambient")], [(now_ms(), 1.0)])])
    assert post_write(door, body, auth=False).status == 401
    assert post_write(door, body, {"Authorization": basic_auth("AKIAUNKNOWNKEY000001", "x")}).status == 401
    after = store.stats().get("calls_by_access_key", {})
    assert after.get(OTHER_KEY_ID, 0) == before.get(OTHER_KEY_ID, 0)


def test_samples_outside_retention_are_400_and_the_rest_is_written(store: EmbeddedTimestream, settings, query) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from connector.app import Connector
    from connector.http import Headers, Request

    connector = Connector(replace(settings, table="memory_only"))
    t = now_ms()
    body = write_body(
        [
            ([("__name__", "retention_check"), ("age", "fresh")], [(t, 1.0)]),
            ([("__name__", "retention_check"), ("age", "old")], [(t - 3 * 3600_000, 2.0)]),
        ]
    )
    response = connector.handle(Request("POST", "/write", Headers({**WRITE_HEADERS, **AUTH}), body))
    assert response.status == 400
    assert "1 of 2 samples" in response.body.decode()
    rows = query(f'SELECT age FROM "{DATABASE}"."memory_only" WHERE measure_name = \'retention_check\'')
    assert [r["age"] for r in rows] == ["fresh"]


def test_stored_rows_have_the_layout_the_readme_documents(door: Door, query) -> None:  # type: ignore[no-untyped-def]
    """Each rule of README.md's "Table layout", as raw cells: the expected rows are written from the
    README's text, not from the connector's schema code."""
    t0 = now_ms()
    run = str(t0)
    prometheus_nan = struct.unpack(">d", (0x7FF8000000000001).to_bytes(8, "big"))[0]  # Go's math.NaN()
    nan_payload = struct.unpack(">d", (0x7FF8000000000ABC).to_bytes(8, "big"))[0]
    lonely = f"layout_lonely_{run}"
    long_name = "layout_" + "é" * 130  # 267 bytes of UTF-8: cut to 256, on a character boundary
    cases = [
        ([("__name__", "layout_plain"), ("job", "a")], 1.5, {"measure_name": "layout_plain", "job": "a"}),
        ([("__name__", "job:layout:rate5m"), ("job", "a")], 2.0,
         {"measure_name": "job_layout_rate5m", "__name__": "job:layout:rate5m", "job": "a"}),
        ([("__name__", "measure_name_layout"), ("job", "a")], 2.0,
         {"measure_name": "_measure_name_layout", "__name__": "measure_name_layout", "job": "a"}),
        ([("__name__", long_name), ("job", "a")], 2.0,
         {"measure_name": long_name.encode()[:256].decode("utf-8", "ignore"), "__name__": long_name, "job": "a"}),
        ([("__name__", lonely)], 3.0, {"measure_name": lonely, "__name__": lonely}),
        ([("__name__", "layout_names"), ("time", "noon"), ("Ts_Layout", "z"), ("__meta", "m"), ("ключ", "v"),
          ("1st", "x"), ("job", "")], 4.0,
         {"measure_name": "layout_names", "__l_time": "noon", "__l_Ts_Layout": "z", "__l___meta": "m",
          "__u_d0bad0bbd18ed187": "v", "__u_317374": "x"}),
        ([("__name__", "layout_special"), ("v", "nan")], prometheus_nan,
         {"measure_name": "layout_special", "v": "nan", "__special_value__": "NaN"}),
        ([("__name__", "layout_special"), ("v", "stale")], STALE_NAN,
         {"measure_name": "layout_special", "v": "stale", "__special_value__": "stale"}),
        ([("__name__", "layout_special"), ("v", "+inf")], math.inf,
         {"measure_name": "layout_special", "v": "+inf", "__special_value__": "+Inf"}),
        ([("__name__", "layout_special"), ("v", "-inf")], -math.inf,
         {"measure_name": "layout_special", "v": "-inf", "__special_value__": "-Inf"}),
        ([("__name__", "layout_special"), ("v", "payload")], nan_payload,
         {"measure_name": "layout_special", "v": "payload", "__special_value__": "nan:0x7ff8000000000abc"}),
        ([("__name__", "layout_special"), ("v", "python nan")], math.nan,  # bits 0x7ff8000000000000
         {"measure_name": "layout_special", "v": "python nan", "__special_value__": "nan:0x7ff8000000000000"}),
    ]  # fmt: skip
    tagged = [(labels if labels[0][1] == lonely else [*labels, ("run", run)], value) for labels, value, _ in cases]
    series = [(labels, [(t0, value)]) for labels, value in tagged]
    assert post_write(door, write_body(series)).status == 204
    found = query(f'SELECT * FROM "{DATABASE}"."{TABLE}" WHERE run = \'{run}\' OR measure_name = \'{lonely}\'')
    cells = sorted(
        ({k: v for k, v in row.items() if v is not None and k not in ("time", "run")} for row in found),
        key=lambda row: sorted(row.items()),
    )
    expected = []
    for _, value, columns in cases:
        double = repr(value) if math.isfinite(value) else "0.0"
        expected.append({**columns, "measure_value::double": double})
    assert cells == sorted(expected, key=lambda row: sorted(row.items()))
