"""Remote read: ``ReadRequest`` -> one SQL statement per query -> series -> ``ReadResponse`` (SAMPLES).

The answer must fit what AWS Lambda can return: 6 MB after base64 (4/3), so about 4.5 MB of body.
A larger answer is refused with 413 naming the limit and the query, never truncated: Prometheus
shows the body to the user, and a silently shortened series would be wrong data. 413 (not 5xx)
because only a narrower request (shorter range, more selective matchers) can succeed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.auth import Identity
from connector.config import Settings
from connector.errors import BadRequest, HTTPError, PayloadTooLarge
from connector.http import Request, Response
from connector.log import logger
from connector.prom.matchers import Matcher
from connector.prom.read_codec import (
    SAMPLES,
    SAMPLES_HEADERS,
    compress,
    decode_read_request,
    encode_samples,
)
from connector.timestream import query as runner
from connector.timestream.clients import ClientCache
from connector.timestream.series import Series, SeriesBuilder
from connector.timestream.sql import TableColumns, read_query

# Lambda returns at most 6 MB (6,291,456 B) including base64's 4/3: 4.5 MB of body leaves room for
# headers and the JSON envelope. Settings may override it with ``max_read_response_bytes``.
MAX_RESPONSE_BYTES = Settings.max_read_response_bytes
# Protobuf bytes per sample before compression (tags, double, varint time): for size estimates.
_BYTES_PER_SAMPLE = 18


@dataclass(frozen=True)
class ReadQuery:
    index: int
    matchers: tuple[Matcher, ...]
    start_ms: int
    end_ms: int

    def __str__(self) -> str:
        selector = ", ".join(str(m) for m in self.matchers)
        return f"query {self.index + 1} {{{selector[:300]}}} from {self.start_ms} to {self.end_ms} ms"


class ReadHandler:
    """Answers remote-read requests; keeps the table-columns cache between requests."""

    def __init__(
        self,
        settings: Settings,
        clients: ClientCache,
        columns: runner.ColumnCache | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.columns = columns or runner.ColumnCache()
        self.max_response_bytes = max_response_bytes or settings.max_read_response_bytes

    def handle(self, request: Request, identity: Identity, deadline: float) -> Response:
        started = time.monotonic()
        message = decode_read_request(request.headers, request.body, self.settings.max_body_bytes)
        accepted = list(message.accepted_response_types)
        if accepted and SAMPLES not in accepted:
            raise BadRequest("this connector answers remote read with SAMPLES only; accept that response type")
        queries = [parse_query(i, q, _dot_all(request.headers)) for i, q in enumerate(message.queries)]
        client = self.clients.query_client(identity) if queries else None
        budget = _Budget(self.max_response_bytes)
        results: list[list[Series]] = []
        for query in queries:
            results.append(self._answer(client, identity, query, deadline, budget, results))
        body = compress(encode_samples(results))
        if len(body) > self.max_response_bytes:
            raise self._too_large(len(body), queries[-1] if len(queries) == 1 else None)
        samples = sum(len(s.samples) for result in results for s in result)
        logger().info(
            "remote read",
            extra={
                "identity": identity.access_key_id,
                "queries": len(queries),
                "series": sum(len(r) for r in results),
                "samples": samples,
                "bytes": len(body),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return Response(200, body, dict(SAMPLES_HEADERS))

    def _answer(
        self, client: Any, identity: Identity, query: ReadQuery, deadline: float, budget: _Budget, done: list
    ) -> list[Series]:
        """The series of one query, with a column list proven fresh by the query's own result.

        A label first written after the list was cached shows up in the result's columns (the
        query selects ``*``): the list is then refreshed and, if that changes the SQL, the query
        rerun. A query ruled out only by a column missing from the list is not skipped before the
        list is refreshed. A column Timestream says does not exist also refreshes the list.
        """
        table = _Table(self, client, identity, deadline)
        while True:
            text = self._sql(table.columns, query)
            if text is None:
                if table.refreshed or query.start_ms > query.end_ms:
                    return []
                if not table.columns.lacks_column_for(query.matchers):
                    return []
                table.refresh()
                continue
            try:
                series = self._run(client, table, query, text, deadline, budget, done)
            except runner.MissingColumn as exc:
                if table.refreshed:
                    raise HTTPError(f"Timestream reports a missing column after a refresh: {exc}", 500) from None
                table.refresh()
                continue
            if series is not None:
                return series

    def _run(
        self, client: Any, table: _Table, query: ReadQuery, text: str, deadline: float, budget: _Budget, done: list
    ) -> list[Series] | None:
        """Every page of ``text`` as series; None when the column list proved stale and the SQL changed."""
        builder: SeriesBuilder | None = None
        for page in runner.run(client, text, deadline, self.settings.max_attempts):
            if builder is None:
                if not page.columns:
                    if page.rows:
                        raise HTTPError("Timestream returned rows without column information", 502)
                    continue
                unlisted = set(page.columns[:-1]) - table.columns.names
                if unlisted and not table.refreshed:
                    table.refresh()
                    if self._sql(table.columns, query) != text:
                        return None
                builder = SeriesBuilder(page.columns, _dimensions(page.columns[:-1], table.columns))
            builder.add(page.rows)
            if budget.over(done, builder):
                raise self._too_large(budget.trial_bytes, query)
        if builder is None:
            return []
        budget.finish(builder)
        return builder.series()

    def _sql(self, columns: TableColumns, query: ReadQuery) -> str | None:
        db, table = self.settings.database, self.settings.table
        return read_query(db, table, columns, query.matchers, query.start_ms, query.end_ms)

    def columns_for(self, client: Any, identity: Identity, deadline: float, refresh: bool) -> TableColumns:
        db, table = self.settings.database, self.settings.table
        return self.columns.get(
            (identity, db, table), lambda: runner.describe(client, db, table, deadline), refresh=refresh
        )

    def _too_large(self, size: int, query: ReadQuery | None) -> PayloadTooLarge:
        where = f" ({query})" if query is not None else ""
        return PayloadTooLarge(
            f"remote read answer{where} is at least {size} bytes compressed, above the limit of "
            f"{self.max_response_bytes} bytes (AWS Lambda returns at most 6 MB after base64 encoding); "
            "narrow the query: a shorter time range or more selective matchers"
        )


class _Budget:
    """Stops reading once the answer certainly cannot fit, instead of after reading everything.

    The compressed size is only known by encoding, so a trial encoding runs each time the raw
    estimate doubles past the limit (amortised cost: at most one more full encoding). More rows
    only add bytes, so a trial already over the limit means the final answer is too.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.next_check = limit
        self.done_estimate = 0
        self.trial_bytes = 0

    def estimate(self, builder: SeriesBuilder) -> int:
        return self.done_estimate + builder.samples * _BYTES_PER_SAMPLE + builder.label_chars

    def over(self, done: Sequence[Sequence[Series]], builder: SeriesBuilder) -> bool:
        if self.estimate(builder) < self.next_check:
            return False
        self.next_check *= 2
        self.trial_bytes = len(compress(encode_samples([*done, builder.series()])))
        return self.trial_bytes > self.limit

    def finish(self, builder: SeriesBuilder) -> None:
        self.done_estimate = self.estimate(builder)


class _Table:
    """The column list one query uses, refreshed from ``DESCRIBE`` at most once."""

    def __init__(self, handler: ReadHandler, client: Any, identity: Identity, deadline: float) -> None:
        self._load = lambda refresh: handler.columns_for(client, identity, deadline, refresh)
        self.columns = self._load(False)
        self.refreshed = False

    def refresh(self) -> None:
        self.columns = self._load(True)
        self.refreshed = True


def _dimensions(result_columns: Sequence[str], columns: TableColumns) -> set[str]:
    """Label-holding columns of a result: listed dimensions, and unlisted columns named like one."""
    unlisted = {c for c in result_columns if c not in columns.names and runner.looks_like_dimension(c)}
    return set(columns.dimensions) | unlisted


def parse_query(index: int, query: Any, dot_all: bool) -> ReadQuery:
    """A query's matchers compiled (400 for invalid regexes) before anything is sent to Timestream."""
    matchers = tuple(Matcher.create(m.type, m.name, m.value, dot_all) for m in query.matchers)
    return ReadQuery(index, matchers, query.start_timestamp_ms, query.end_timestamp_ms)


def _dot_all(headers: Mapping[str, str]) -> bool:
    """Prometheus 2.x anchors regexes as ``^(?:re)$`` (``.`` stops at newlines), 3.x as ``^(?s:re)$``."""
    return not headers.get("user-agent", "").startswith("Prometheus/2.")



