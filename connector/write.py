"""Remote write 1.0 and 2.0: body -> records -> concurrent WriteRecords calls -> the HTTP outcome."""

from __future__ import annotations

import time
from collections import Counter

from connector import metrics
from connector.auth import Identity
from connector.config import Settings
from connector.http import Request, Response
from connector.log import logger
from connector.outcome import WriteOutcome
from connector.prom import write_v1
from connector.prom.write_codec import V2_PROTO, claims_v2, negotiate, written_headers
from connector.prom.write_v2 import SymbolKeys, decode_v2, labels_of
from connector.timestream import schema
from connector.timestream.clients import ClientCache
from connector.timestream.planning import plan_calls
from connector.timestream.records import SeriesCache, Translation, translate, translate_encoded
from connector.timestream.writer import Writer
from prompb import write_raw_pb2

# Labels a series may have: one per dimension Timestream allows, plus __name__ (the measure name).
MAX_LABELS = schema.MAX_DIMENSIONS_PER_RECORD + 1
EXEMPLARS_NOT_STORED = "exemplars are not stored by this connector (send_exemplars: false avoids this answer)"


class WriteHandler:
    """Answers remote-write requests; keeps the write pool and the series caches between requests."""

    def __init__(self, settings: Settings, clients: ClientCache) -> None:
        self.settings = settings
        self.clients = clients
        self.writer = Writer(settings.write_concurrency, settings.max_attempts)
        self.series = v1_series_cache(settings.series_cache_size)
        # 2.0 keys series by resolved strings and checks stricter label rules: a cache of its own.
        self.series_v2 = SeriesCache(settings.series_cache_size, labels_of)

    def handle(self, request: Request, identity: Identity, deadline: float) -> Response:
        started = time.monotonic()
        v2 = negotiate(request.headers) == V2_PROTO
        translation = self.translate_v2(request.body) if v2 else self.translate_v1(request.body)
        refused = _refused(translation, v2)  # takes 2.0's exemplars out of what is merely ignored
        outcome = WriteOutcome(
            samples=len(translation.records) + sum(translation.invalid.values()),
            invalid=translation.invalid,
            ignored=translation.ignored,
            refused=refused,
            v2=v2,
        )
        if translation.records:
            calls = plan_calls(translation.records)
            client = self.clients.write_client(identity)
            db, table = self.settings.database, self.settings.table
            outcome.result = self.writer.write(client, db, table, calls, deadline)
        response = outcome.response()
        _report(identity, response, outcome, time.monotonic() - started)
        return response

    def translate_v1(self, raw: bytes) -> Translation:
        # The decoded request (its series still encoded) is freed on return, before the writes.
        message = write_v1.decode_v1(raw, self.settings.max_body_bytes)
        return translate_v1(message, self.series)

    def translate_v2(self, raw: bytes) -> Translation:
        message = decode_v2(raw, self.settings.max_body_bytes)
        return translate(message.timeseries, self.series_v2, SymbolKeys(message.symbols, MAX_LABELS))

    def refusal_headers(self, request: Request) -> dict[str, str]:
        """Headers of a refusal raised before anything is written: zero counts, all three for a request
        that says it is 2.0 (even one refused for its media type), as every write answer carries them."""
        return written_headers(0, v2=claims_v2(request.headers))


_V1_KEYS = write_v1.RawLabelKeys(MAX_LABELS)


def v1_series_cache(size: int = 20_000) -> SeriesCache:
    """A cache of 1.0 series keyed by their labels' raw encodings: it decodes a label set once."""
    return SeriesCache(size, _V1_KEYS.labels_of)


def translate_v1(message: write_raw_pb2.EncodedWriteRequest, cache: SeriesCache | None = None) -> Translation:
    """The records of a decoded 1.0 request; ``cache`` from ``v1_series_cache`` (None: a fresh one)."""
    cache = cache or v1_series_cache()
    return translate_encoded(message.timeseries, cache, write_v1.split_series, write_v1.parse_series, _V1_KEYS)


def _refused(translation: Translation, v2: bool) -> Counter[str]:
    """2.0 exemplars are data the spec says a 2xx confirms: not storing them is a refusal, not a skip."""
    if not v2 or not translation.ignored["exemplars"]:
        return Counter()
    return Counter({EXEMPLARS_NOT_STORED: translation.ignored.pop("exemplars")})


def _report(identity: Identity, response: Response, outcome: WriteOutcome, seconds: float) -> None:
    """The ``remote write`` log line and the write metrics."""
    result = outcome.result
    metrics.record_write(
        samples=outcome.samples,
        written=outcome.written,
        seconds=seconds,
        calls=result.attempts,
        invalid=outcome.invalid,
        rejected=result.rejected,
        failed=[(failure.kind.value, failure.records) for failure in result.failures],
        unfinished=result.unfinished,
    )
    log = logger().info if response.status < 400 else logger().warning
    summary = {"status": response.status, "identity": identity.access_key_id, "seconds": round(seconds, 3)}
    log("remote write", extra={**summary, **outcome.summary()})
