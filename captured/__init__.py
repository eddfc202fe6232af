"""Real requests Prometheus 2.42 sent, kept in ``prometheus-2.42/`` so a checkout runs on its own.

Ten remote-write requests (scrapes of Prometheus itself, and metadata-only ones) and two remote-read
requests, each with the headers it came with. Tests, benchmarks and ``events/`` are made from them;
nothing here is shipped to Lambda.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from connector.prom import snappy
from prompb import remote_pb2

DIRECTORY = Path(__file__).resolve().parent / "prometheus-2.42"
# Headers a proxy sets anew: never replayed.
_HOP_HEADERS = ("host", "content-length")


@dataclass(frozen=True)
class Captured:
    name: str
    body: bytes  # snappy-compressed protobuf, as sent
    headers: dict[str, str]

    def message(self) -> remote_pb2.WriteRequest:
        return remote_pb2.WriteRequest.FromString(snappy.decompress(self.body, 1 << 30))

    def read_request(self) -> remote_pb2.ReadRequest:
        return remote_pb2.ReadRequest.FromString(snappy.decompress(self.body, 1 << 30))


def writes() -> list[Captured]:
    """The remote-write requests, in the order Prometheus sent them."""
    return [_load(path, path.name.replace(".snappy", ".headers.json")) for path in _paths("*_POST_write.snappy")]


def reads() -> list[Captured]:
    """The remote-read requests (an instant query of ``up``, a range query of ``rate``)."""
    return [_load(path, "read.headers.json") for path in _paths("read_*.snappy")]


def header_pairs(headers_file: str) -> list[tuple[str, str]]:
    """A request's headers as sent, in order, repeated names included (hop-by-hop ones left out)."""
    meta = json.loads((DIRECTORY / headers_file).read_text())
    return [(name, value) for name, value in meta["headers"] if name.lower() not in _HOP_HEADERS]


def _paths(pattern: str) -> list[Path]:
    paths = sorted(DIRECTORY.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no captured requests {pattern} in {DIRECTORY}")
    return paths


def _load(path: Path, headers_file: str) -> Captured:
    return Captured(path.stem, path.read_bytes(), dict(header_pairs(headers_file)))
