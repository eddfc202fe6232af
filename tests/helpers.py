"""Builders shared by the tests: remote-write 1.0 and 2.0 bodies, auth headers, captured Prometheus requests."""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import logging
import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import captured
from captured import Captured
from connector.log import logger
from connector.prom import snappy
from prompb import remote_pb2, types_pb2
from prompb.write.v2 import types_pb2 as rw2_pb2

WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
STALE_NAN = struct.unpack(">d", (0x7FF0000000000002).to_bytes(8, "big"))[0]


def basic_auth(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def write_request(series: Iterable[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]]) -> bytes:
    """Serialized (uncompressed) WriteRequest from (labels, samples) pairs."""
    message = remote_pb2.WriteRequest()
    for labels, samples in series:
        ts = message.timeseries.add()
        for name, value in labels:
            ts.labels.add(name=name, value=value)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    return message.SerializeToString()


def write_body(series: Iterable[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]]) -> bytes:
    return snappy.compress(write_request(series))


def captured_writes() -> list[Captured]:
    """The real remote-write requests Prometheus 2.42 sent, with their headers."""
    return captured.writes()


def count_samples(expected: Counter[tuple[object, ...]], timeseries: Iterable[Any]) -> int:
    """Count each sample of ``timeseries`` as (metric, other labels, time, value bits); the latest time."""
    latest = 0
    for series in timeseries:
        labels = {label.name: label.value for label in series.labels}
        metric = labels.pop("__name__")
        for sample in series.samples:
            expected[(metric, frozenset(labels.items()), sample.timestamp, float_bits(sample.value))] += 1
            latest = max(latest, sample.timestamp)
    return latest


def float_bits(value: float) -> int:
    return int.from_bytes(struct.pack(">d", value), "big")


# ---- remote write 2.0 -----------------------------------------------------------------------------

WRITE_V2_HEADERS = {
    "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "2.0.0",
}
# The fields each 2.0 spec revision lacks, and whether it reserves their numbers. rc.3 (Prometheus
# 2.54 to 3.7) has TimeSeries.created_timestamp = 6; rc.4 (3.8 on) reserves 6 and adds
# start_timestamp to Sample (3) and Histogram (17). The project's schema has both, to read both.
_NOT_IN_REVISION = {
    "rc3": ({"Sample": "start_timestamp", "Histogram": "start_timestamp"}, False),
    "rc4": ({"TimeSeries": "created_timestamp"}, True),
}


@functools.cache
def rw2_revision(revision: str) -> dict[str, Any]:
    """Message classes of exactly one 2.0 spec revision ("rc3" or "rc4"), by message name.

    Built from the project's union schema (Prometheus' own types.proto, gogoproto stripped) less the
    fields that revision lacks, in a pool of their own: bodies encoded with them are what that
    revision's senders put on the wire.
    """
    file = descriptor_pb2.FileDescriptorProto.FromString(rw2_pb2.DESCRIPTOR.serialized_pb)
    file.name = f"rw2_{revision}.proto"
    missing, reserves = _NOT_IN_REVISION[revision]
    for message in file.message_type:
        drop = missing.get(message.name)
        kept = [f for f in message.field if f.name != drop]
        for gone in [f for f in message.field if f.name == drop and reserves]:
            message.reserved_range.add(start=gone.number, end=gone.number + 1)
        del message.field[:]
        message.field.extend(kept)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    described = pool.FindFileByName(file.name)
    return {name: message_factory.GetMessageClass(d) for name, d in described.message_types_by_name.items()}


def to_v2(
    request: remote_pb2.WriteRequest,
    metadata: Mapping[str, types_pb2.MetricMetadata] | None = None,
    start_ms: int | None = None,
    revision: str | None = None,
) -> Any:
    """``request`` as a Prometheus 3 sender puts it in a 2.0 ``Request``: symbols interned in order of use.

    ``metadata`` (by metric family) is attached to each series. ``start_ms``, when given, is each
    counter sample's start timestamp, written where ``revision`` puts it (rc3: per series, rc4: per
    sample). ``revision`` None uses the project's own classes.
    """
    classes = rw2_revision(revision) if revision else {"Request": rw2_pb2.Request}
    out = classes["Request"]()
    symbols: dict[str, int] = {"": 0}

    def ref(text: str) -> int:
        return symbols.setdefault(text, len(symbols))

    for series in request.timeseries:
        ts = out.timeseries.add()
        for label in series.labels:
            ts.labels_refs.extend((ref(label.name), ref(label.value)))
        name = next((label.value for label in series.labels if label.name == "__name__"), "")
        meta = _family_metadata(metadata or {}, name)
        counter = meta is not None and meta.type == types_pb2.MetricMetadata.COUNTER
        if meta is not None:
            ts.metadata.type = meta.type  # the two enums share their numbers
            ts.metadata.help_ref = ref(meta.help)
            ts.metadata.unit_ref = ref(meta.unit)
        if counter and start_ms is not None and revision == "rc3":
            ts.created_timestamp = start_ms
        for sample in series.samples:
            added = ts.samples.add(value=sample.value, timestamp=sample.timestamp)
            if counter and start_ms is not None and revision != "rc3":
                added.start_timestamp = start_ms
    out.symbols.extend(symbols)
    return out


def _family_metadata(
    metadata: Mapping[str, types_pb2.MetricMetadata], name: str
) -> types_pb2.MetricMetadata | None:
    """A series' metric family: its own name, or its name less a summary or histogram suffix."""
    for suffix in ("", "_sum", "_count", "_bucket"):
        if name.endswith(suffix) and name[: len(name) - len(suffix)] in metadata:
            return metadata[name[: len(name) - len(suffix)]]
    return None


def captured_metadata() -> dict[str, types_pb2.MetricMetadata]:
    """Every metric family's metadata from the captured metadata-only requests, by family name."""
    return {m.metric_family_name: m for c in captured_writes() for m in c.message().metadata}


def v2_body(
    series: Iterable[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]], **options: Any
) -> bytes:
    """A snappy 2.0 body from (labels, samples) pairs, as ``to_v2`` encodes them."""
    request = remote_pb2.WriteRequest.FromString(write_request(series))
    return snappy.compress(to_v2(request, **options).SerializeToString())


class LogCapture:
    """Every line the connector's logger emits, formatted by its own Powertools JSON formatter."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logger().registered_formatter)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@contextlib.contextmanager
def captured_logs(level: int) -> Iterator[LogCapture]:
    """The connector's log lines while the block runs, with its logger at ``level``."""
    capture = LogCapture()
    target = logger()._logger
    previous = target.level
    target.addHandler(capture.handler)
    target.setLevel(level)
    try:
        yield capture
    finally:
        target.removeHandler(capture.handler)
        target.setLevel(previous)
