"""Peak memory of the connector handling crafted worst-case bodies; run as a subprocess by test_memory.

``python -m tests.robustness.memory_probe MAX_BODY_BYTES`` prints one JSON line per shape: status,
seconds, samples that reached translation, and the growth of the process's resident-set high-water
mark while the one request was handled. RSS, not tracemalloc: the protobuf runtime (upb) allocates
its arena with malloc, which tracemalloc does not see (64 MB traced for a 6.8 GB parse). Between
shapes freed memory is handed back (``malloc_trim``) and the high-water mark is reset
(``/proc/self/clear_refs``), so each shape is measured from a clean baseline.

Timestream is replaced at the last step only: real boto3 clients serialize, sign and parse, but
their HTTP send answers "all ingested" at once. What is measured is the connector's own memory
(decode, translation, call planning, boto3), not a store's or a network's.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import time
from dataclasses import replace
from typing import Any

from botocore.awsrequest import AWSResponse

from connector.app import Connector
from connector.config import Settings
from connector.http import Headers, Request
from connector.prom import snappy
from connector.prom.write_codec import MAX_SAMPLES_PER_REQUEST
from connector.prom.write_v2 import V2_BODY_SHARE
from connector.timestream.clients import ClientCache
from connector.timestream.http_exchange import Answer
from tests.helpers import WRITE_HEADERS, WRITE_V2_HEADERS, basic_auth
from tests.robustness import wire

_libc = ctypes.CDLL("libc.so.6")


def _status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def _clean_baseline() -> int:
    gc.collect()
    _libc.malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    return _status()["VmRSS"]


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _accept_everything(request: Any, **_: Any) -> AWSResponse:
    """Answer WriteRecords without a network: every record ingested."""
    records = len(json.loads(request.body)["Records"])
    body = json.dumps({"RecordsIngested": {"Total": records, "MemoryStore": records, "MagneticStore": 0}})
    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body.encode()))


def _accept_exchanges(_pool: Any, requests: Any, *_: Any) -> list[Answer]:
    answers = []
    for request in requests:
        _head, body = request()
        records = len(json.loads(body).get("Records", ()))
        answer = json.dumps({"RecordsIngested": {"Total": records, "MemoryStore": records, "MagneticStore": 0}})
        answers.append(Answer(200, {"content-type": "application/x-amz-json-1.0"}, answer.encode()))
    return answers


class _OfflineClients(ClientCache):
    """The real write path (bodies, signing, parsing), its network exchange replaced by an instant 200:
    on the connector's own transport, and on botocore's client where that sends (a proxy)."""

    def write_client(self, identity: Any) -> Any:
        client = super().write_client(identity)
        client.meta.events.register(
            "before-send.timestream-write.WriteRecords", _accept_everything, unique_id="robustness-offline"
        )
        transport = getattr(client, "_transport", None)
        if transport is not None:
            transport._exchange_many = _accept_exchanges
        return client


def shapes(limit: int, now: int) -> dict[str, bytes]:
    """Uncompressed WriteRequests of at most ``limit`` bytes, each the worst of its kind."""
    name = wire.label("__name__", "m") + wire.label("job", "x")
    empty_sample = b"\x12\x00"  # Sample{}: two bytes, a record's worth of work
    sample = wire.sample(now, 1.0)
    one_each = wire.series(name, sample)
    return {
        # The densest protobuf there is: two bytes per message. 413 by count, but only after parsing.
        "empty series": b"\x0a\x00" * (limit // 2),
        "empty labels in one series": wire.series(b"\x0a\x00" * ((limit - 16) // 2)),
        "empty samples over the cap": wire.series(name, empty_sample * ((limit - 64) // 2)),
        # As many samples as one request may carry, in one series and in one series each.
        "most samples, one series": wire.series(
            name, sample * min(MAX_SAMPLES_PER_REQUEST, (limit - 64) // len(sample))
        ),
        "most samples, one series each": one_each * min(MAX_SAMPLES_PER_REQUEST, limit // len(one_each)),
        "distinct label names": wire.series(b"".join(wire.label(f"l{i}", "") for i in range((limit - 16) // 14))),
        "one giant label value": wire.series(name, wire.label("big", "v" * (limit - 128)), wire.sample(now, 1.0)),
        "random bytes": os.urandom(limit),
    }


def shapes_v2(limit: int, now: int) -> dict[str, bytes]:
    """Uncompressed 2.0 Requests as large as a 2.0 body may be: interning adds symbols and references;
    and one as large as a 1.0 body may be, past a 2.0 body's share of the limit."""
    full, limit = limit, int(limit * V2_BODY_SHARE)
    table = wire.symbol("") + wire.symbol("__name__") + wire.symbol("m") + wire.symbol("job") + wire.symbol("x")
    sample = wire.v2_sample(now, 1.0, start_ms=now - 1)
    one_each = wire.v2_series(wire.refs(1, 2, 3, 4), sample)
    # As many labels as a series may have (128 names after the table's five symbols): the biggest key.
    names = b"".join(wire.symbol(f"l{i:03d}") for i in range(128))
    widest = wire.v2_series(wire.refs(1, 2, *[r for i in range(128) for r in (5 + i, 4)]), sample)
    return {
        "v2 empty series": table + b"\x2a\x00" * ((limit - 64) // 2),
        "v2 most samples, one series each": table
        + one_each * min(MAX_SAMPLES_PER_REQUEST, (limit - 64) // len(one_each)),
        "v2 widest series": table + names + widest * ((limit - 64 - len(names)) // len(widest)),
        # Two-byte strings: the most Python string objects a body can make.
        "v2 short symbols": table + b"\x22\x02ab" * ((limit - 256) // 4) + one_each,
        "v2 one series, every reference": table + wire.v2_series(wire.refs(*[1] * (limit - 64)), sample),
        "v2 empty series past the 2.0 share": table + b"\x2a\x00" * ((full - 64) // 2),
    }


def main(limit: int) -> None:
    settings = replace(Settings(), max_body_bytes=limit, write_endpoint="http://127.0.0.1:9")
    connector = Connector(settings, clients=_OfflineClients(settings))
    auth = {"Authorization": basic_auth("AKIAPROBE", "probe-secret")}
    now = int(time.time() * 1000)
    for shape, raw, headers in [
        *((shape, raw, Headers({**WRITE_HEADERS, **auth})) for shape, raw in shapes(limit, now).items()),
        *((shape, raw, Headers({**WRITE_V2_HEADERS, **auth})) for shape, raw in shapes_v2(limit, now).items()),
    ]:
        assert len(raw) <= limit, (shape, len(raw))
        body = snappy.compress(raw)
        del raw
        baseline = _clean_baseline()
        started = time.monotonic()
        response = connector.handle(Request("POST", "/write", headers, body))
        seconds = time.monotonic() - started
        peak = _status()["VmHWM"] - baseline
        print(
            json.dumps(
                {
                    "shape": shape,
                    "status": response.status,
                    "seconds": round(seconds, 3),
                    "wire_bytes": len(body),
                    "samples": int(response.headers.get("X-Prometheus-Remote-Write-Samples-Written", 0)),
                    "peak_bytes": peak,
                    "reason": response.body[:100].decode("utf-8", "replace"),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main(int(sys.argv[1]))
