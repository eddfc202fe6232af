"""Builders shared by the tests: remote-write bodies, auth headers, captured Prometheus requests."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from connector.prom import snappy
from prompb import remote_pb2

SAMPLES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "prometheus-2.42"
if not SAMPLES_DIR.exists():  # CI clones next to shared/; a developer checkout may sit elsewhere
    SAMPLES_DIR = Path("/work/shared/samples/prometheus-2.42")

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


@dataclass(frozen=True)
class Captured:
    name: str
    body: bytes
    headers: dict[str, str]

    def message(self) -> remote_pb2.WriteRequest:
        return remote_pb2.WriteRequest.FromString(snappy.decompress(self.body, 1 << 30))


def captured_writes() -> list[Captured]:
    """The real remote-write requests Prometheus 2.42 sent, with their headers."""
    result = []
    for path in sorted(SAMPLES_DIR.glob("*_POST_write.snappy")):
        meta = json.loads(path.with_name(path.name.replace(".snappy", ".headers.json")).read_text())
        headers = {k: v for k, v in meta["headers"] if k.lower() not in ("host", "content-length")}
        result.append(Captured(path.stem, path.read_bytes(), headers))
    if not result:
        raise FileNotFoundError(f"no captured remote-write requests in {SAMPLES_DIR}")
    return result


def float_bits(value: float) -> int:
    return int.from_bytes(struct.pack(">d", value), "big")
