"""Remote write: ``WriteRequest`` -> records -> concurrent WriteRecords calls -> the HTTP outcome."""

from __future__ import annotations

from connector.auth import Identity
from connector.config import Settings
from connector.http import Request, Response
from connector.log import logger
from connector.outcome import WriteOutcome
from connector.prom.write_codec import decode_write_request
from connector.timestream.clients import ClientCache
from connector.timestream.records import SeriesCache, plan_calls, translate
from connector.timestream.writer import Writer


class WriteHandler:
    """Answers remote-write requests; keeps the write pool and the series cache between requests."""

    def __init__(self, settings: Settings, clients: ClientCache) -> None:
        self.settings = settings
        self.clients = clients
        self.writer = Writer(settings.write_concurrency, settings.max_attempts)
        self.series = SeriesCache(settings.series_cache_size)

    def handle(self, request: Request, identity: Identity, deadline: float) -> Response:
        message = decode_write_request(request.headers, request.body, self.settings.max_body_bytes)
        translation = translate(message.timeseries, self.series)
        del message  # the decoded protobuf is ~3x the body: free it before the writes
        outcome = WriteOutcome(
            samples=len(translation.records) + sum(translation.invalid.values()),
            invalid=translation.invalid,
            ignored=translation.ignored,
        )
        if translation.records:
            calls = plan_calls(translation.records)
            client = self.clients.write_client(identity)
            db, table = self.settings.database, self.settings.table
            outcome.result = self.writer.write(client, db, table, calls, deadline)
        response = outcome.response()
        log = logger().info if response.status < 400 else logger().warning
        log("remote write", extra={"status": response.status, "identity": identity.access_key_id, **outcome.summary()})
        return response
