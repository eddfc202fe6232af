"""Remote read: ``ReadRequest`` -> SQL per query (time slices for large answers) -> series -> answer.

The answer is SAMPLES or streamed XOR chunks, whichever the client lists first (``read_answer``
keeps it within the size the front door can return). Statements name the table's columns, so the
column list decides which labels come back: each request starts with the cached list and confirms
it with a ``DESCRIBE`` running beside its first query; a query whose statement the fresh list
changes is read again (rare: only when a label name is new).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector import metrics
from connector.auth import Identity
from connector.config import Settings
from connector.errors import HTTPError
from connector.http import Request, Response
from connector.log import logger
from connector.prom import read_codec
from connector.prom.matchers import Matcher
from connector.prom.series import Series
from connector.read_answer import ReadAnswer
from connector.timestream import query
from connector.timestream.clients import ClientCache
from connector.timestream.columns import ColumnCache, RequestColumns, TableColumns
from connector.timestream.pages import Page
from connector.timestream.read_sql import FALSE, clamp, selection, statement
from connector.timestream.series import SeriesBuilder
from connector.timestream.slices import SlicePlanner

if TYPE_CHECKING:
    from mypy_boto3_timestream_query import TimestreamQueryClient


@dataclass(frozen=True)
class ReadQuery:
    index: int
    matchers: tuple[Matcher, ...]
    start_ms: int
    end_ms: int
    lookup: bool = False  # a series look-up (hint ``func="series"``): labels only, no samples

    def __str__(self) -> str:
        selector = ", ".join(str(m) for m in self.matchers)
        return f"query {self.index + 1} {{{selector[:300]}}} from {self.start_ms} to {self.end_ms} ms"


class _Cost:
    """Bytes Timestream scanned and metered for the statements of one query (each page says so far)."""

    def __init__(self) -> None:
        self._by_query: dict[str | None, tuple[int, int]] = {}

    def observe(self, page: Page) -> None:
        self._by_query[page.query_id] = (page.bytes_scanned, page.bytes_metered)

    @property
    def scanned(self) -> int:
        return sum(scanned for scanned, _ in self._by_query.values())

    @property
    def metered(self) -> int:
        return sum(metered for _, metered in self._by_query.values())


@dataclass
class _Run:
    """One request on its way: its client, its column list, its deadline and the answer being built."""

    client: TimestreamQueryClient
    columns: RequestColumns
    deadline: float
    answer: ReadAnswer
    used: list[TableColumns]  # the column list each query was read with
    costs: list[_Cost]


class ReadHandler:
    """Answers remote-read requests; keeps the column cache, slice planner and query pools."""

    def __init__(self, settings: Settings, clients: ClientCache, columns: ColumnCache | None = None) -> None:
        self.settings = settings
        self.clients = clients
        self.columns = columns or ColumnCache()
        self.max_response_bytes = settings.max_read_response_bytes
        self.slices = SlicePlanner(settings.read_concurrency)
        self._pool = ThreadPoolExecutor(settings.read_concurrency, thread_name_prefix="timestream-query")
        self._describe_pool = ThreadPoolExecutor(4, thread_name_prefix="timestream-describe")

    def handle(self, request: Request, identity: Identity, deadline: float) -> Response:
        started = time.monotonic()
        message = read_codec.decode_read_request(request.headers, request.body, self.settings.max_body_bytes)
        answer = ReadAnswer(read_codec.negotiate(message.accepted_response_types), self.max_response_bytes)
        queries = [parse_query(i, q, _dot_all(request.headers)) for i, q in enumerate(message.queries)]
        costs: list[_Cost] = []
        if queries:
            run = self._start(identity, deadline, answer)
            for read in queries:
                self._read(run, read)
            self._confirm(run, queries)
            costs = run.costs
        body = answer.encode()
        if len(body) > answer.limit:
            raise answer.too_large(len(body), queries[-1] if len(queries) == 1 else None)
        self._report(identity, queries, answer, costs, body, time.monotonic() - started)
        return Response(200, body, dict(answer.headers))

    def _start(self, identity: Identity, deadline: float, answer: ReadAnswer) -> _Run:
        client = self.clients.query_client(identity)
        key = (identity, self.settings.database, self.settings.table)
        fresh = self._describe_pool.submit(self.describe, client, deadline)
        return _Run(client, RequestColumns(self.columns, key, fresh, deadline), deadline, answer, [], [])

    def _read(self, run: _Run, read: ReadQuery) -> None:
        """Answer ``read`` (the next query, or one read again) with the columns at hand."""
        series, cost, columns = self._series(run, read, run.columns.current())
        if read.index < len(run.answer.results):
            run.answer.results[read.index], run.used[read.index], run.costs[read.index] = series, columns, cost
        else:
            run.answer.results.append(series)
            run.used.append(columns)
            run.costs.append(cost)

    def _series(self, run: _Run, read: ReadQuery, columns: TableColumns) -> tuple[list[Series], _Cost, TableColumns]:
        """The series of one query and the columns they were read with; a column Timestream says is
        missing means a stale list: read again with the fresh one."""
        time_range, where, cost = clamp(read.start_ms, read.end_ms), selection(columns, read.matchers), _Cost()
        if time_range is None or where == FALSE:
            return [], cost, columns
        key = (run.columns.key, where.sql(), read.lookup)
        slices = [time_range] if read.lookup else self.slices.plan(key, time_range)
        db, table = self.settings.database, self.settings.table
        statements = [statement(db, table, columns, where, s, samples=not read.lookup) for s in slices]
        builder, budget = SeriesBuilder(statements[0].layout), run.answer.budget(read.index)
        try:
            for page in query.run_all(self._pool, run.client, [s.text for s in statements], run.deadline,
                                      self.settings.max_attempts):  # fmt: skip
                cost.observe(page)
                builder.add(page.cells)
                if budget.over(builder):
                    raise run.answer.too_large(budget.trial_bytes, read)
        except query.MissingColumn as exc:
            fresh = run.columns.confirmed()
            if fresh == columns:
                raise HTTPError(f"Timestream reports a missing column after a refresh: {exc}", 500) from None
            return self._series(run, read, fresh)
        if not read.lookup:
            self.slices.observe(key, time_range, builder.samples)
        return builder.series(), cost, columns

    def _confirm(self, run: _Run, queries: Sequence[ReadQuery]) -> None:
        """Read again each query whose statement the fresh column list changes."""
        fresh = run.columns.confirmed()
        for read, used in zip(queries, list(run.used), strict=True):
            if _changes(used, fresh, read):
                self._read(run, read)

    def describe(self, client: TimestreamQueryClient, deadline: float) -> TableColumns:
        db, table = self.settings.database, self.settings.table
        return query.describe(client, db, table, deadline, self.settings.max_attempts)

    def _report(
        self,
        identity: Identity,
        queries: Sequence[ReadQuery],
        answer: ReadAnswer,
        costs: Sequence[_Cost],
        body: bytes,
        seconds: float,
    ) -> None:
        """The ``remote read`` log line and the read metrics."""
        series = sum(len(result) for result in answer.results)
        samples = sum(len(s.samples) for result in answer.results for s in result)
        scanned, metered = sum(c.scanned for c in costs), sum(c.metered for c in costs)
        kind = read_codec.response_type_name(answer.response_type)
        logger().info(
            "remote read",
            extra={
                "identity": identity.access_key_id,
                "queries": len(queries),
                "lookups": sum(q.lookup for q in queries),
                "series": series,
                "samples": samples,
                "bytes": len(body),
                "response_type": kind,
                "bytes_scanned": scanned,
                "bytes_metered": metered,
                "seconds": round(seconds, 3),
            },
        )
        metrics.record_read(
            queries=len(queries),
            series=series,
            samples=samples,
            response_bytes=len(body),
            seconds=seconds,
            bytes_scanned=scanned,
            bytes_metered=metered,
            response_type=kind,
        )


def _changes(used: TableColumns, fresh: TableColumns, read: ReadQuery) -> bool:
    """Whether the fresh list gives ``read`` other SQL than the list it was read with."""
    if used == fresh:
        return False
    return selection(used, read.matchers) != selection(fresh, read.matchers) or _layout(used) != _layout(fresh)


def _layout(columns: TableColumns) -> tuple[object, ...]:
    return (columns.label_columns, columns.has_name, columns.has_special)


def parse_query(index: int, message: Any, dot_all: bool) -> ReadQuery:
    """A query's matchers compiled (400 for invalid regexes) before anything is sent to Timestream."""
    matchers = tuple(Matcher.create(m.type, m.name, m.value, dot_all) for m in message.matchers)
    lookup = message.HasField("hints") and message.hints.func == "series"
    return ReadQuery(index, matchers, message.start_timestamp_ms, message.end_timestamp_ms, lookup)


def _dot_all(headers: Mapping[str, str]) -> bool:
    """Prometheus 2.x anchors regexes as ``^(?:re)$`` (``.`` stops at newlines), 3.x as ``^(?s:re)$``."""
    return not headers.get("user-agent", "").startswith("Prometheus/2.")
