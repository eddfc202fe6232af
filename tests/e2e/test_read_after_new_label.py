"""A label first written after the connector has answered a read must be readable at once.

Found by the e2e suite: when the OpenTelemetry test read through the same connector before
Prometheus A wrote, B's queries on labels A introduced (``job``, ``code``...) answered nothing
for a minute. This is the minimal reproduction, through the connector's own HTTP front door.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from connector.prom import snappy
from prompb import remote_pb2, types_pb2

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Backend, running_connector
from .harness import basic_auth_header

pytestmark = pytest.mark.e2e

METRIC = "e2e_cache_probe"
NEW_LABEL = "e2e_label_born_late"


def _post(backend: Backend, path: str, message: bytes, extra: dict[str, str]) -> bytes:
    request = urllib.request.Request(
        f"{backend.url}{path}",
        data=snappy.compress(message),
        method="POST",
        headers={
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "Authorization": basic_auth_header(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
            **extra,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"POST {path} answered {exc.code}: {exc.read()[:300]!r}") from None


def _write(backend: Backend, labels: dict[str, str], timestamp_ms: int, value: float) -> None:
    message = remote_pb2.WriteRequest()
    series = message.timeseries.add()
    for name, label_value in sorted(labels.items()):
        series.labels.add(name=name, value=label_value)
    series.samples.add(timestamp=timestamp_ms, value=value)
    _post(backend, "/write", message.SerializeToString(), {"X-Prometheus-Remote-Write-Version": "0.1.0"})


def _read(backend: Backend, matchers: dict[str, str], start_ms: int, end_ms: int) -> set[tuple[tuple[str, str], ...]]:
    message = remote_pb2.ReadRequest()
    query = message.queries.add(start_timestamp_ms=start_ms, end_timestamp_ms=end_ms)
    for name, value in matchers.items():
        query.matchers.add(type=types_pb2.LabelMatcher.EQ, name=name, value=value)
    body = _post(backend, "/read", message.SerializeToString(), {"X-Prometheus-Remote-Read-Version": "0.1.0"})
    response = remote_pb2.ReadResponse.FromString(snappy.decompress(body, 1 << 30))
    return {tuple((label.name, label.value) for label in ts.labels) for ts in response.results[0].timeseries}


def test_label_first_written_after_a_read_is_readable(store: object) -> None:
    with running_connector(store) as backend:
        now = int(time.time() * 1000)
        old = {"__name__": METRIC, "job": "probe"}
        new = {**old, NEW_LABEL: "yes"}
        _write(backend, old, now, 1.0)
        assert _read(backend, {"__name__": METRIC}, now - 1000, now + 1000) == {tuple(sorted(old.items()))}
        _write(backend, new, now + 1, 2.0)  # 2xx: stored, so readable from now on
        assert _read(backend, {NEW_LABEL: "yes"}, now - 1000, now + 1000) == {tuple(sorted(new.items()))}
        assert _read(backend, {"__name__": METRIC}, now - 1000, now + 1000) == {
            tuple(sorted(old.items())),
            tuple(sorted(new.items())),
        }
