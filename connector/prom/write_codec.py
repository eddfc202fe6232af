"""Remote-write request bodies: content negotiation, the checks both versions share, the Written headers.

The schema is chosen from Content-Type, as the remote-write 2.0 spec requires: each schema's body
parses without error as the other one (to an empty message) and its data would be lost. So each
decoder also refuses a body that carries the other schema's top-level fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.unknown_fields import UnknownFieldSet

from connector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from connector.prom import body

V1_PROTO = "prometheus.WriteRequest"
V2_PROTO = "io.prometheus.write.v2.Request"
V2_CONTENT_TYPE = f"{body.PROTOBUF};proto={V2_PROTO}"
SAMPLES_WRITTEN = "X-Prometheus-Remote-Write-Samples-Written"
HISTOGRAMS_WRITTEN = "X-Prometheus-Remote-Write-Histograms-Written"
EXEMPLARS_WRITTEN = "X-Prometheus-Remote-Write-Exemplars-Written"

# The work a request makes (records, calls, memory) follows its series and samples, not its size:
# 200 KB of snappy can decompress to millions of empty samples. Prometheus sends at most
# max_samples_per_send (2000 by default) per request; refuse far more before translating anything.
MAX_SERIES_PER_REQUEST = 200_000
MAX_SAMPLES_PER_REQUEST = 200_000
_MIN_SAMPLE_BYTES = 2  # an empty Sample message: its tag and a zero length



def negotiate(headers: Mapping[str, str]) -> str:
    """The message a body holds (``V1_PROTO`` or ``V2_PROTO``); 415 for any other type or encoding."""
    proto = body.content_type_params(headers).get("proto", V1_PROTO)
    if proto not in (V1_PROTO, V2_PROTO):
        raise UnsupportedMediaType(
            f"unsupported remote-write message {proto[:100]!r}: this endpoint accepts {V1_PROTO}"
            f" (remote write 1.0) and {V2_PROTO} (remote write 2.0)"
        )
    return proto


def claims_v2(headers: Mapping[str, str]) -> bool:
    """Whether a request says it is remote write 2.0, even one refused before negotiation ends."""
    _, *params = headers.get("content-type", "").split(";")
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "proto" and value.strip().strip('"') == V2_PROTO:
            return True
    return False


def written_headers(samples: int, v2: bool, histograms: int = 0, exemplars: int = 0) -> dict[str, str]:
    """What an answer reports as written: 2.0 senders read all three counts, 1.0 senders only samples."""
    if not v2:
        return {SAMPLES_WRITTEN: str(samples)}
    return {SAMPLES_WRITTEN: str(samples), HISTOGRAMS_WRITTEN: str(histograms), EXEMPLARS_WRITTEN: str(exemplars)}


def refuse_foreign_fields(message: Any, foreign: frozenset[int], other: str, declared: str) -> None:
    """400 for a body of the other schema: it would decode to an empty message and be lost."""
    found = foreign.intersection(field.field_number for field in UnknownFieldSet(message))
    if found:
        content_type = body.PROTOBUF if other == V1_PROTO else V2_CONTENT_TYPE
        raise BadRequest(
            f"body has top-level fields {sorted(found)} of {other}, not {declared} as its Content-Type says; "
            f"a {other} body needs Content-Type: {content_type}"
        )


def check_counts(series: int, size: int, count_samples: Callable[[], int]) -> None:
    """413 for more series or samples than one request may carry (Prometheus drops such a batch).

    A sample takes at least two bytes of the protobuf, so a body of ``size`` bytes (decompressed)
    below twice the limit cannot break it and its samples need no counting.
    """
    advice = "lower queue_config.max_samples_per_send"
    if series > MAX_SERIES_PER_REQUEST:
        raise PayloadTooLarge(f"{series} series in one request, above the limit of {MAX_SERIES_PER_REQUEST}: {advice}")
    if size < _MIN_SAMPLE_BYTES * MAX_SAMPLES_PER_REQUEST:
        return
    samples = count_samples()
    if samples > MAX_SAMPLES_PER_REQUEST:
        raise PayloadTooLarge(
            f"{samples} samples in one request, above the limit of {MAX_SAMPLES_PER_REQUEST}: {advice}"
        )
