"""1. CPU time per sample over the captured Prometheus requests (single thread, ``time.process_time``).

(a) decode floor: snappy + ``WriteRequest.FromString`` (the full prompb schema) + reading every
    label name/value and every sample timestamp/value into Python. The connector reads fewer fields
    than this: a warm process keys series by their raw label bytes (``prom/write_v1``) and decodes no
    label it has seen, so (b) is measured against what a straightforward decoder would spend.
    Parse-only (snappy + ``FromString``) is reported as a second reference.
(b) the connector's CPU path up to the wire, warm series cache: ``decode_write_request`` +
    ``translate_v1`` + ``plan_calls`` + the WriteRecords request (``call_parameters``: the body built
    by ``WriteCall.body``) through a real botocore client built by ``ClientCache`` (fast_json
    installed), via ``client._serializer.serialize_to_request``. No network. Target: 2x (a).
(c) (b) with the whole write instead of the serializer, as ``Writer.write`` sends a request: the
    transport's multiplexed round (``timestream/write_transport.write_many``: SigV4 signing by
    botocore's signer, request heads, response parsing), its network exchange replaced by canned
    answers. Target: 12 us.
(e) CPU per WriteRecords call of the same prebuilt bodies over local HTTP (``bench.fake_timestream``,
    its own process), one call after another: the connector's transport (``write_records``: its
    ``http_exchange`` connection) against the botocore client it replaces.

(d) remote write 2.0 against 1.0 for the same data: the captured requests converted to 2.0 as a
    Prometheus 3 sender encodes them (interned symbols, each series' metadata), and both versions
    through ``WriteHandler``'s own decode + translate (negotiation, snappy, parse, label resolution,
    records), warm series caches. Target: 2.0 within 1.1x of 1.0 per sample.

(a), parse-only, (b) and (d) run interleaved over ~100k samples, round after round; each ratio is
the median of per-round ratios. (c), with its own floor runs, the per-stage breakdown and the cProfile
hotspots use a quarter of the workload to keep the suite short.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import io
import json
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import cramjam

from bench.common import (
    ACCESS_KEY_ID,
    ROOT,
    SECRET_ACCESS_KEY,
    Captured,
    Row,
    Section,
    captured_writes,
    cpu_seconds,
    median,
    sample_count,
    settings_for,
)
from connector.auth import Identity
from connector.http import Headers
from connector.prom import snappy
from connector.prom.write_codec import V2_PROTO, negotiate
from connector.prom.write_v1 import decode_write_request
from connector.timestream.clients import ClientCache
from connector.timestream.http_exchange import Answer
from connector.timestream.planning import plan_calls
from connector.timestream.records import SeriesCache
from connector.timestream.writer import call_parameters
from connector.write import WriteHandler, translate_v1, v1_series_cache
from prompb import remote_pb2
from tests.helpers import WRITE_V2_HEADERS, captured_metadata, to_v2

TABLE = "BenchCpu"
LIMIT = 64 * 1024 * 1024
_INGESTED = b'{"RecordsIngested":{"Total":100,"MemoryStore":100,"MagneticStore":0}}'

Workload = list[tuple[Headers, bytes]]


def workload(target_samples: int) -> tuple[Workload, int]:
    """The captured write requests, repeated in order until they hold ``target_samples`` samples."""
    captured: list[Captured] = captured_writes()
    counts = [sample_count(c.message()) for c in captured]
    items: Workload = []
    total = 0
    while total < target_samples:
        for c, n in zip(captured, counts, strict=True):
            items.append((Headers(c.headers), c.body))
            total += n
            if total >= target_samples:
                break
    return items, total


def as_v2(items: Workload) -> Workload:
    """The same requests in remote write 2.0, as a Prometheus 3 sender encodes them."""
    metadata = captured_metadata()
    converted: dict[bytes, bytes] = {}
    for _, body in items:
        if body not in converted:
            message = remote_pb2.WriteRequest.FromString(snappy.decompress(body, LIMIT))
            converted[body] = snappy.compress(to_v2(message, metadata).SerializeToString())
    v2_headers = Headers({**WRITE_V2_HEADERS, "User-Agent": "Prometheus/3.7.0"})
    return [(v2_headers, converted[body]) for _, body in items]


def decode_translate(items: Workload, handler: WriteHandler) -> None:
    """What ``WriteHandler.handle`` spends on a request before planning its calls, either version."""
    for headers, body in items:
        if negotiate(headers) == V2_PROTO:
            handler.translate_v2(body)
        else:
            handler.translate_v1(body)


def parse_only(items: Workload) -> None:
    from_string = remote_pb2.WriteRequest.FromString
    decompress = cramjam.snappy.decompress_raw
    for _, body in items:
        from_string(bytes(decompress(body)))


def decode_floor(items: Workload) -> None:
    from_string = remote_pb2.WriteRequest.FromString
    decompress = cramjam.snappy.decompress_raw
    for _, body in items:
        message = from_string(bytes(decompress(body)))
        for series in message.timeseries:
            for label in series.labels:
                name = label.name  # noqa: F841 - reading the field is the point
                value = label.value  # noqa: F841
            for sample in series.samples:
                timestamp = sample.timestamp  # noqa: F841
                number = sample.value  # noqa: F841


def connector_path(items: Workload, client: Any, cache: SeriesCache | None = None) -> None:
    """As ``Connector.write`` does; ``cache`` None means every request meets its series for the first time."""
    serializer = client._serializer
    operation = client.meta.service_model.operation_model("WriteRecords")
    for headers, body in items:
        message = decode_write_request(headers, body, LIMIT)
        translation = translate_v1(message, cache)
        if translation.records:
            for call in plan_calls(translation.records):
                serializer.serialize_to_request(call_parameters(client, "BenchDatabase", TABLE, call), operation)


def full_client_path(items: Workload, client: Any, cache: SeriesCache | None = None) -> None:
    """As ``Writer.write`` sends a request's calls: the transport's multiplexed round (signing included)."""
    deadline = time.monotonic() + 3600
    for headers, body in items:
        message = decode_write_request(headers, body, LIMIT)
        translation = translate_v1(message, cache)
        if translation.records:
            calls = plan_calls(translation.records)
            parameters = [functools.partial(call_parameters, client, "BenchDatabase", TABLE, c) for c in calls]
            client.write_many(parameters, deadline, 64)


def stage_breakdown(items: Workload, client: Any, series: SeriesCache) -> dict[str, float]:
    """CPU seconds per stage of (b), one pass."""
    serializer = client._serializer
    operation = client.meta.service_model.operation_model("WriteRecords")
    spent = dict.fromkeys(("decode", "translate", "plan_calls", "parameters", "serialize"), 0.0)
    clock = time.process_time
    for headers, body in items:
        t0 = clock()
        message = decode_write_request(headers, body, LIMIT)
        t1 = clock()
        translation = translate_v1(message, series)
        t2 = clock()
        calls = plan_calls(translation.records) if translation.records else []
        t3 = clock()
        spent["decode"] += t1 - t0
        spent["translate"] += t2 - t1
        spent["plan_calls"] += t3 - t2
        for call in calls:
            t4 = clock()
            params = call_parameters(client, "BenchDatabase", TABLE, call)
            t5 = clock()
            serializer.serialize_to_request(params, operation)
            spent["parameters"] += t5 - t4
            spent["serialize"] += clock() - t5
    return spent


def hotspots(fn: Callable[[], Any], top: int = 10) -> list[str]:
    """cProfile of one pass: the functions with the most own time, with their share."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    ranked = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    lines = []
    for (path, line, func), (_, calls, tottime, _cum, _) in ranked[:top]:
        where = path.rsplit("/site-packages/", 1)[-1].removeprefix(f"{ROOT}/")
        lines.append(f"{100 * tottime / total:5.1f}%  {func} ({where}:{line}), {calls} calls")
    return lines


def build_clients() -> tuple[Any, Any]:
    """Two write clients exactly as the connector builds them; the second answers without a network."""
    from botocore.awsrequest import AWSResponse

    settings = settings_for("http://127.0.0.1:9", TABLE)
    identity = Identity(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    serializing = ClientCache(settings).write_client(identity)
    calling = ClientCache(settings).write_client(identity)

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield _INGESTED

    def canned(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Raw())

    calling.meta.events.register("before-send.timestream-write.WriteRecords", canned)  # botocore's own send
    answer = Answer(200, {"content-type": "application/x-amz-json-1.0"}, _INGESTED)
    calling._transport._exchange_many = lambda _pool, requests, *_: [answer for request in requests if request()]
    return serializing, calling


def http_exchange(items: Workload, rounds: int) -> tuple[float, float, int]:
    """CPU seconds per call of the same prebuilt calls sent over local HTTP to ``bench.fake_timestream``:
    (the connector's transport, the botocore client it wraps, calls), medians of interleaved rounds."""
    fake = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_timestream"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    try:
        assert fake.stdout is not None
        port = json.loads(fake.stdout.readline())["port"]
        settings = settings_for(f"http://127.0.0.1:{port}", TABLE)
        transport_client = ClientCache(settings).write_client(Identity(ACCESS_KEY_ID, SECRET_ACCESS_KEY))
        botocore_client = transport_client._botocore_client
        cache = v1_series_cache()
        params = []
        for headers, body in items:
            translation = translate_v1(decode_write_request(headers, body, LIMIT), cache)
            calls = plan_calls(translation.records)
            params += [call_parameters(transport_client, "BenchDatabase", TABLE, call) for call in calls]
        spent: dict[str, list[float]] = {"transport": [], "botocore": []}
        for client in (transport_client, botocore_client):  # connections and models warm, untimed
            client.write_records(**params[0])
        for _ in range(rounds):
            for name, client in (("transport", transport_client), ("botocore", botocore_client)):
                gc.collect()
                spent[name].append(cpu_seconds(lambda client=client: [client.write_records(**p) for p in params]))
        return median(spent["transport"]) / len(params), median(spent["botocore"]) / len(params), len(params)
    finally:
        fake.kill()
        fake.wait()


def run(target_samples: int = 100_000, rounds: int = 5, profile: bool = True) -> Section:
    items, samples = workload(target_samples)
    # (c), the stage breakdown and the profiles run on a quarter of the workload: they are slower
    # and only need shares, and the whole suite must stay within a few minutes.
    small, small_samples = workload(max(1, target_samples // 4))
    serializing, calling = build_clients()
    warm, _ = workload(1)
    decode_floor(warm)
    series = v1_series_cache()  # a warm process: Prometheus resends the same series every scrape
    connector_path(items, serializing, series)  # fills the caches and botocore's models, untimed
    full_client_path(small, calling, series)  # (c) runs warm too: the per-call machinery is what it adds
    v2_items = as_v2(items)
    settings = settings_for("http://127.0.0.1:9", TABLE)
    handler = WriteHandler(settings, ClientCache(settings))
    decode_translate(items + v2_items, handler)  # both series caches warm, untimed
    measured: dict[str, Callable[[], Any]] = {
        "parse": lambda: parse_only(items),
        "floor": lambda: decode_floor(items),
        "connector": lambda: connector_path(items, serializing, series),
        "cold": lambda: connector_path(items, serializing),
        "v1": lambda: decode_translate(items, handler),
        "v2": lambda: decode_translate(v2_items, handler),
    }
    times: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(rounds):
        for name, fn in measured.items():
            gc.collect()
            times[name].append(cpu_seconds(fn))
    client_times = []
    small_floor_times = []
    for _ in range(max(1, rounds // 2)):
        gc.collect()
        small_floor_times.append(cpu_seconds(lambda: decode_floor(small)))
        gc.collect()
        client_times.append(cpu_seconds(lambda: full_client_path(small, calling, series)))
    per_sample = {name: 1e6 * median(values) / samples for name, values in times.items()}
    client_per_sample = 1e6 * median(client_times) / small_samples
    ratios = [c / f for c, f in zip(times["connector"], times["floor"], strict=True)]
    client_ratio = median(c / f for c, f in zip(client_times, small_floor_times, strict=True))
    ratio = median(ratios)
    v2_ratio = median(two / one for two, one in zip(times["v2"], times["v1"], strict=True))
    wire_share = sum(len(body) for _, body in v2_items) / sum(len(body) for _, body in items)
    section = Section("CPU per sample")
    section.rows = [
        Row(
            "CPU/sample: decode+translate+plan+serialize (b)",
            per_sample["connector"],
            "us",
            per_sample["floor"],
            "decode floor (a)",
            ratio,
            "ratio <= 2",
            ratio <= 2,
        ),
        Row(
            "CPU/sample: (b) with every series new to the process",
            per_sample["cold"],
            "us",
            per_sample["floor"],
            "decode floor (a)",
            median(c / f for c, f in zip(times["cold"], times["floor"], strict=True)),
            note="cold series cache",
        ),
        Row("CPU/sample: parse only (snappy+FromString)", per_sample["parse"], "us", note="2nd reference"),
        Row(
            "CPU/sample: remote write 2.0 decode+translate (d)",
            per_sample["v2"],
            "us",
            per_sample["v1"],
            "1.0, same data",
            v2_ratio,
            "ratio <= 1.1",
            v2_ratio <= 1.1,
            note=f"2.0 wire bytes {wire_share:.2f}x 1.0's (with metadata)",
        ),
        Row(
            "CPU/sample: (b) via the transport's write round, no network",
            client_per_sample,
            "us",
            1e6 * median(small_floor_times) / small_samples,
            "decode floor (a)",
            client_ratio,
            "<= 12 us",
            client_per_sample <= 12,
            note="signing, hooks, parsing",
        ),
    ]
    transport_call, botocore_call, http_calls = http_exchange(small, max(1, rounds // 2))
    section.rows.append(
        Row(
            "CPU/call: WriteRecords over local HTTP, the connector's transport (e)",
            1e6 * transport_call,
            "us",
            1e6 * botocore_call,
            "the botocore client",
            transport_call / botocore_call,
            note=f"{http_calls} prebuilt calls, {small_samples / http_calls:.0f} records each",
        )
    )
    stages = stage_breakdown(small, serializing, series)
    total = sum(stages.values())
    section.details.append(
        f"{samples} samples in {len(items)} captured requests, {rounds} interleaved rounds; "
        f"per-round ratios (b)/(a): {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"(d) 2.0/1.0: {', '.join(f'{two / one:.2f}' for two, one in zip(times['v2'], times['v1'], strict=True))}; "
        f"(c) on {small_samples} samples, {len(client_times)} rounds"
    )
    section.details.append(
        "(b) by stage, one pass: "
        + ", ".join(
            f"{name} {100 * spent / total:.0f}% ({1e6 * spent / small_samples:.2f} us)"
            for name, spent in stages.items()
        )
    )
    if profile:
        section.details.append("cProfile of (b), own time (the profiler inflates small Python functions):")
        section.details.extend("  " + line for line in hotspots(lambda: connector_path(small, serializing, series)))
        section.details.append("cProfile of (c), own time:")
        full = hotspots(lambda: full_client_path(small, calling, series), top=8)
        section.details.extend("  " + line for line in full)
    return section
