"""What every remote write is answered and logged with, checked against the store's own records.

The README promises that every answer to ``POST /write`` carries
``X-Prometheus-Remote-Write-Samples-Written`` with the true count, that every decoded write logs
one ``remote write`` line with its counts, that a refused one logs ``request refused`` instead,
and that a 400 carries Timestream's own reason. The true counts come from the store (rows stored,
calls made, the reason it gives a record), never from the connector's arithmetic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connector.prom import snappy
from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST
from connector.timestream.clients import ClientCache
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, make_record
from prompb import remote_pb2
from tests.doors import Door
from tests.helpers import WRITE_HEADERS, WRITE_V2_HEADERS, LogCapture, basic_auth, write_body
from tests.store_fixtures import DATABASE, KEY_ID, SECRET, TABLE

AUTH = {"Authorization": basic_auth(KEY_ID, SECRET)}
SAMPLES_WRITTEN = "x-prometheus-remote-write-samples-written"
V2_ONLY = ("x-prometheus-remote-write-histograms-written", "x-prometheus-remote-write-exemplars-written")
FUTURE_MS = 3_600_000  # an hour ahead: beyond what Timestream accepts (now + 15 min)


def now_ms() -> int:
    return int(time.time() * 1000)


def run_id() -> str:
    return str(time.monotonic_ns())


def stored(query: Callable[[str], list[dict[str, Any]]], run: str) -> int:
    rows = query(f'SELECT count(*) AS n FROM "{DATABASE}"."{TABLE}" WHERE run = \'{run}\'')
    return int(rows[0]["n"])


def write_calls(store: EmbeddedTimestream) -> int:
    return int(store.stats()["calls_by_operation"].get("WriteRecords", 0))


def series(run: str, count: int, samples: int = 1, metric: str = "answers_total") -> bytes:
    t = now_ms()
    return write_body(
        [
            ([("__name__", metric), ("i", str(i)), ("run", run)], [(t - k, float(k)) for k in range(samples)])
            for i in range(count)
        ]
    )


def timestream_reason_for(store: EmbeddedTimestream, time_ms: int) -> str:
    """What the store itself says of a record at ``time_ms``: the reason a 400 must pass on."""
    write, _ = boto3_clients(store, KEY_ID, SECRET)
    record = make_record("answers_reason_probe", "1", time_ms, {"run": "probe"})
    with pytest.raises(ClientError) as caught:
        write.write_records(DatabaseName=DATABASE, TableName=TABLE, Records=[record])
    return str(caught.value.response["RejectedRecords"][0]["Reason"])


def remote_write_lines(logs: LogCapture) -> list[dict[str, Any]]:
    """This module's writes: the e2e suite's connector may log its own in the same process meanwhile."""
    return [r for r in logs.records() if r.get("message") == "remote write" and r.get("identity") == KEY_ID]


def refused_lines(logs: LogCapture) -> list[dict[str, Any]]:
    return [r for r in logs.records() if r.get("message") == "request refused"]


# ---- X-Prometheus-Remote-Write-Samples-Written on every answer --------------------------------------


def _no_auth(run: str) -> tuple[dict[str, str], bytes]:
    return {**WRITE_HEADERS}, series(run, 3)


def _unknown_key(run: str) -> tuple[dict[str, str], bytes]:
    return {**WRITE_HEADERS, "Authorization": basic_auth("AKIAUNKNOWNKEY000009", "x")}, series(run, 3)


def _corrupt(run: str) -> tuple[dict[str, str], bytes]:
    return {**WRITE_HEADERS, **AUTH}, b"\x05garbage-not-snappy"


def _too_many(run: str) -> tuple[dict[str, str], bytes]:
    return {**WRITE_HEADERS, **AUTH}, series(run, 1, MAX_SAMPLES_PER_REQUEST + 1)


def _unknown_proto(run: str) -> tuple[dict[str, str], bytes]:
    content_type = "application/x-protobuf;proto=io.prometheus.write.v3.Request"
    return {**WRITE_HEADERS, **AUTH, "Content-Type": content_type}, series(run, 3)


def _gzip(run: str) -> tuple[dict[str, str], bytes]:
    return {**WRITE_HEADERS, **AUTH, "Content-Encoding": "gzip"}, series(run, 3)


def _partly_invalid(run: str) -> tuple[dict[str, str], bytes]:
    t = now_ms()
    valid = ([("__name__", "answers_total"), ("i", "0"), ("run", run)], [(t, 1.0), (t - 1, 2.0)])
    nameless = ([("i", "1"), ("run", run)], [(t, 1.0)])
    return {**WRITE_HEADERS, **AUTH}, write_body([valid, nameless])


def _valid(run: str) -> tuple[dict[str, str], bytes]:
    return {**WRITE_HEADERS, **AUTH}, series(run, 150, 2)


ANSWERS: dict[str, tuple[Callable[[str], tuple[dict[str, str], bytes]], int]] = {
    "204": (_valid, 204),
    "400 invalid series": (_partly_invalid, 400),
    "401 no credentials": (_no_auth, 401),
    "401 from Timestream": (_unknown_key, 401),
    "400 corrupt snappy": (_corrupt, 400),
    "413 too many samples": (_too_many, 413),
    "415 unknown message": (_unknown_proto, 415),
    "415 unknown encoding": (_gzip, 415),
}


@pytest.mark.parametrize("case", list(ANSWERS))
def test_every_write_answer_carries_the_samples_written(
    door: Door, query: Callable[[str], list[dict[str, Any]]], case: str
) -> None:
    """The header's count is the number of rows the store holds for the request, 0 for a refusal;
    a 1.0 sender gets the samples count only (the 2.0 counts are for 2.0 requests)."""
    make, status = ANSWERS[case]
    run = run_id()
    headers, body = make(run)
    answer = door("POST", "/write", headers, body)
    assert answer.status == status, answer.text
    assert answer.headers.get(SAMPLES_WRITTEN) == str(stored(query, run)), (answer.headers, answer.text)
    assert not set(V2_ONLY) & set(answer.headers)


def test_5xx_answers_carry_the_samples_written(
    door: Door, store: EmbeddedTimestream, query: Callable[[str], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_faults(throttle=1.0, operations=["WriteRecords"])
    run = run_id()
    answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH}, series(run, 3))
    assert answer.status == 503 and answer.headers[SAMPLES_WRITTEN] == "0" == str(stored(query, run))
    store.set_faults()
    with monkeypatch.context() as patch:  # an unexpected exception before anything is written
        patch.setattr(ClientCache, "write_client", _explode)
        answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH}, series(run, 3))
    assert answer.status == 500 and answer.headers[SAMPLES_WRITTEN] == "0" == str(stored(query, run))


def _explode(self: ClientCache, identity: object) -> object:
    raise RuntimeError("simulated failure while building a client")


# ---- the counts in a 5xx body are the store's ---------------------------------------------------


def test_a_partly_failed_write_states_the_true_counts_in_its_5xx_body(
    store: EmbeddedTimestream, settings: Any, query: Callable[[str], list[dict[str, Any]]]
) -> None:
    """Half the calls throttled, none retried: the body's "F samples not written, W of N written"
    and the Written header must be what the store holds, whichever calls failed."""
    from dataclasses import replace

    from connector.app import Connector
    from tests.doors import serving

    total = 600  # 600 series of one sample: several WriteRecords calls of at most 100 records
    partial = 0
    with serving(Connector(replace(settings, max_attempts=1))) as door:
        for seed in range(12):
            store.set_faults(throttle=0.5, operations=["WriteRecords"], seed=seed)
            run = run_id()
            answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH}, series(run, total))
            store.set_faults()
            kept = stored(query, run)
            assert answer.headers[SAMPLES_WRITTEN] == str(kept)
            if answer.status == 204:
                assert kept == total
                continue
            assert answer.status == 503 and answer.headers.get("retry-after"), answer.text
            assert f"; {total - kept} samples not written, {kept} of {total} written. Retry" in answer.text
            partial += 0 < kept < total
    assert partial, "no seed made a partly written batch: the test proved nothing"


# ---- Timestream's reason, and the one log line per write ---------------------------------------


def _exemplar_request(run: str, t: int) -> bytes:
    """1.0: two valid samples carrying three exemplars, a nameless series of two samples, and one
    sample an hour ahead (Timestream rejects it)."""
    message = remote_pb2.WriteRequest()
    valid = message.timeseries.add()
    for name, value in (("__name__", "answers_logged"), ("i", "0"), ("run", run)):
        valid.labels.add(name=name, value=value)
    valid.samples.add(timestamp=t, value=1.0)
    valid.samples.add(timestamp=t - 1000, value=2.0)
    for k in range(3):
        exemplar = valid.exemplars.add(value=float(k), timestamp=t)
        exemplar.labels.add(name="trace_id", value=f"abc{k}")
    nameless = message.timeseries.add()
    nameless.labels.add(name="run", value=run)
    nameless.samples.add(timestamp=t, value=1.0)
    nameless.samples.add(timestamp=t - 1000, value=1.0)
    future = message.timeseries.add()
    for name, value in (("__name__", "answers_logged"), ("i", "1"), ("run", run)):
        future.labels.add(name=name, value=value)
    future.samples.add(timestamp=t + FUTURE_MS, value=3.0)
    return snappy.compress(message.SerializeToString())


def test_a_write_logs_one_line_with_its_counts_and_a_400_passes_on_timestreams_reason(
    door: Door,
    store: EmbeddedTimestream,
    query: Callable[[str], list[dict[str, Any]]],
    connector_logs: LogCapture,
) -> None:
    run, t = run_id(), now_ms()
    reason = timestream_reason_for(store, t + FUTURE_MS)
    calls = write_calls(store)
    answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH}, _exemplar_request(run, t))
    calls = write_calls(store) - calls
    assert answer.status == 400, answer.text
    assert reason in answer.text, f"Timestream's reason {reason!r} is not in the answer: {answer.text}"
    assert "3 of 5 samples could not be stored" in answer.text and "(2 written)" in answer.text
    assert stored(query, run) == 2
    lines = remote_write_lines(connector_logs)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["level"] == "WARNING" and line["status"] == 400 and line["identity"] == KEY_ID
    assert (line["samples"], line["written"], line["failed"], line["unfinished"]) == (5, 2, 0, 0)
    assert line["rejected"] == {reason: 1}
    assert sum(line["invalid"].values()) == 2 and len(line["invalid"]) == 1
    assert line["ignored"] == {"exemplars": 3} and line["refused"] == {}
    assert line["protocol"] == "1.0" and line["attempts"] == calls >= 1
    assert not refused_lines(connector_logs)


def test_a_2_0_write_logs_its_refused_exemplars(
    door: Door, store: EmbeddedTimestream, connector_logs: LogCapture
) -> None:
    from prompb.write.v2 import types_pb2

    run, t = run_id(), now_ms()
    symbols = ["", "__name__", "answers_v2_logged", "run", run, "trace_id", "abc"]
    exemplars = [types_pb2.Exemplar(labels_refs=[5, 6], value=float(k), timestamp=t) for k in range(4)]
    message = types_pb2.Request(
        symbols=symbols,
        timeseries=[
            types_pb2.TimeSeries(
                labels_refs=[1, 2, 3, 4], samples=[types_pb2.Sample(value=1.0, timestamp=t)], exemplars=exemplars
            )
        ],
    )
    answer = door("POST", "/write", {**WRITE_V2_HEADERS, **AUTH}, snappy.compress(message.SerializeToString()))
    assert answer.status == 400, answer.text
    (line,) = remote_write_lines(connector_logs)
    assert line["protocol"] == "2.0" and line["samples"] == line["written"] == 1
    assert sum(line["refused"].values()) == 4 and line["ignored"] == {}


def test_a_throttled_write_logs_its_failed_samples_and_every_call(
    door: Door, store: EmbeddedTimestream, settings: Any, connector_logs: LogCapture
) -> None:
    store.set_faults(throttle=1.0, operations=["WriteRecords"])
    calls = write_calls(store)
    answer = door("POST", "/write", {**WRITE_HEADERS, **AUTH}, series(run_id(), 250))
    calls = write_calls(store) - calls
    assert answer.status == 503, answer.text
    (line,) = remote_write_lines(connector_logs)
    assert (line["status"], line["samples"], line["written"], line["failed"]) == (503, 250, 0, 250)
    assert line["attempts"] == calls and calls > 1


REFUSED = {
    "401": (_no_auth, 401),
    "400": (_corrupt, 400),
    "413": (_too_many, 413),
    "415": (_unknown_proto, 415),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_write_logs_request_refused_and_no_remote_write_line(
    door: Door, connector_logs: LogCapture, case: str
) -> None:
    make, status = REFUSED[case]
    headers, body = make(run_id())
    answer = door("POST", "/write", headers, body)
    assert answer.status == status
    assert not remote_write_lines(connector_logs)
    (line,) = refused_lines(connector_logs)
    assert (line["level"], line["path"], line["status"]) == ("INFO", "/write", status)
    assert line["reason"] == answer.text.strip()
