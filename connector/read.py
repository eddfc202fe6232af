"""Remote read: ``ReadRequest`` -> SQL per query (time slices for large answers) -> series -> answer.

The answer is SAMPLES or streamed XOR chunks, whichever the client lists first. Either must fit
what the front door can return (Lambda: 6 MB after base64, so about 4.5 MB of body; the local
server allows more): a larger answer is refused with 413 naming the limit and the query, never
truncated, because Prometheus shows the body to the user and a shortened series is wrong data.

Statements name the table's columns, so the column list decides which labels come back. Each
request confirms the cached list with a ``DESCRIBE`` running beside its first query; a query
whose statement the fresh list changes runs again (rare: only when a label name is new).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector import metrics
from connector.auth import Identity
from connector.config import Settings
from connector.errors import HTTPError, PayloadTooLarge
from connector.http import Request, Response
from connector.log import logger
from connector.prom import read_codec
from connector.prom.matchers import Matcher
from connector.prom.series import Series
from connector.timestream import query
from connector.timestream.clients import ClientCache
from connector.timestream.columns import ColumnCache, TableColumns
from connector.timestream.pages import Page
from connector.timestream.read_sql import FALSE, clamp, selection, statement
from connector.timestream.series import SeriesBuilder
from connector.timestream.slices import SlicePlanner
from connector.timestream.statuses import deadline_error

if TYPE_CHECKING:
    from mypy_boto3_timestream_query import TimestreamQueryClient

# Encoded bytes per sample, at most, for early size estimates: SAMPLES before snappy (tags, double,
# varint time), XOR chunks for values that differ in most bits.
_BYTES_PER_SAMPLE = {read_codec.SAMPLES: 18, read_codec.STREAMED_XOR_CHUNKS: 10}


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


@dataclass
class _Answer:
    """One query's series, the column list they were read with, and what Timestream metered for them."""

    series: list[Series]
    columns: TableColumns | None
    cost: _Cost | None = None


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
        response_type = read_codec.negotiate(message.accepted_response_types)
        queries = [parse_query(i, q, _dot_all(request.headers)) for i, q in enumerate(message.queries)]
        encoder = _Encoder(response_type, self.max_response_bytes)
        answers: list[_Answer] = []
        if queries:
            client = self.clients.query_client(identity)
            key = (identity, self.settings.database, self.settings.table)
            fresh = self._describe_pool.submit(self.describe, client, deadline)
            table = _Table(self.columns, key, fresh, deadline)
            answers = [self._answer(client, table, q, deadline, encoder, answers) for q in queries]
            answers = self._confirm(client, table, queries, answers, deadline, encoder)
        results = [answer.series for answer in answers]
        body = encoder.encode(results)
        if len(body) > encoder.limit:
            raise encoder.too_large(len(body), queries[-1] if len(queries) == 1 else None)
        self._report(identity, queries, answers, body, response_type, time.monotonic() - started)
        return Response(200, body, dict(encoder.headers))

    def _answer(
        self,
        client: TimestreamQueryClient,
        table: _Table,
        read: ReadQuery,
        deadline: float,
        encoder: _Encoder,
        done: list[_Answer],
    ) -> _Answer:
        """One query's series from the columns at hand (the cached list, or the fresh one)."""
        columns = table.current()
        time_range = clamp(read.start_ms, read.end_ms)
        where = selection(columns, read.matchers)
        if time_range is None or where == FALSE:
            return _Answer([], columns)
        key = (table.key, where.sql(), read.lookup)
        db, name = self.settings.database, self.settings.table
        slices = self.slices.plan(key, time_range) if not read.lookup else [time_range]
        statements = [statement(db, name, columns, where, s, samples=not read.lookup) for s in slices]
        builder, cost = SeriesBuilder(statements[0].layout), _Cost()
        budget = encoder.budget([a.series for a in done])
        try:
            for page in self._pages(client, [s.text for s in statements], deadline):
                cost.observe(page)
                builder.add(page.cells)
                if budget.over(builder):
                    raise encoder.too_large(budget.trial_bytes, read)
        except query.MissingColumn as exc:
            if table.confirmed() == columns:
                raise HTTPError(f"Timestream reports a missing column after a refresh: {exc}", 500) from None
            return self._answer(client, table, read, deadline, encoder, done)
        if not read.lookup:
            self.slices.observe(key, time_range, builder.samples)
        return _Answer(builder.series(), columns, cost)

    def _confirm(
        self,
        client: TimestreamQueryClient,
        table: _Table,
        queries: Sequence[ReadQuery],
        answers: list[_Answer],
        deadline: float,
        encoder: _Encoder,
    ) -> list[_Answer]:
        """Answers re-read where the fresh column list changes their statement."""
        fresh = table.confirmed()
        confirmed: list[_Answer] = []
        for read, answer in zip(queries, answers, strict=True):
            if answer.columns is not None and _changes(answer.columns, fresh, read):
                answer = self._answer(client, table, read, deadline, encoder, confirmed)
            confirmed.append(answer)
        return confirmed

    def _pages(self, client: TimestreamQueryClient, texts: Sequence[str], deadline: float) -> Iterator[Page]:
        """Every page of every statement; several statements run concurrently."""
        attempts = self.settings.max_attempts
        if len(texts) == 1:
            yield from query.run(client, texts[0], deadline, attempts)
            return
        yield from _concurrent_pages(self._pool, client, texts, deadline, attempts)

    def describe(self, client: TimestreamQueryClient, deadline: float) -> TableColumns:
        db, table = self.settings.database, self.settings.table
        return query.describe(client, db, table, deadline, self.settings.max_attempts)

    def _report(
        self,
        identity: Identity,
        queries: Sequence[ReadQuery],
        answers: Sequence[_Answer],
        body: bytes,
        response_type: int,
        seconds: float,
    ) -> None:
        """The ``remote read`` log line and the read metrics."""
        costs = [a.cost for a in answers if a.cost is not None]
        series = sum(len(a.series) for a in answers)
        samples = sum(len(s.samples) for a in answers for s in a.series)
        scanned, metered = sum(c.scanned for c in costs), sum(c.metered for c in costs)
        kind = read_codec.response_type_name(response_type)
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
    """Whether the fresh list gives ``read`` other SQL than the list it was answered with."""
    if used == fresh:
        return False
    return selection(used, read.matchers) != selection(fresh, read.matchers) or _layout(used) != _layout(fresh)


def _layout(columns: TableColumns) -> tuple[object, ...]:
    return (columns.label_columns, columns.has_name, columns.has_special)


class _Table:
    """The column list of one request: cached to start at once, confirmed by a concurrent DESCRIBE."""

    def __init__(self, cache: ColumnCache, key: Hashable, fresh: Future[TableColumns], deadline: float) -> None:
        self.key, self._cache, self._fresh, self._deadline = key, cache, fresh, deadline
        self._columns = cache.get(key)

    def current(self) -> TableColumns:
        """The cached list while the fresh one is on its way; the fresh one once known."""
        return self._columns if self._columns is not None else self.confirmed()

    def confirmed(self) -> TableColumns:
        try:
            columns = self._fresh.result(timeout=max(0.0, self._deadline - time.monotonic()))
        except TimeoutError:
            raise deadline_error("Timestream did not describe the table in time; retry") from None
        if columns != self._columns:
            self._cache.put(self.key, columns)
            self._columns = columns
        return columns


_DONE = object()


def _concurrent_pages(
    pool: ThreadPoolExecutor, client: TimestreamQueryClient, texts: Sequence[str], deadline: float, attempts: int
) -> Iterator[Page]:
    """Pages of all ``texts`` as they arrive; the first failure ends the read and stops the rest."""
    arrivals: queue.Queue[object] = queue.Queue()
    stop = threading.Event()

    def read(text: str) -> None:
        try:
            for page in query.run(client, text, deadline, attempts):
                if stop.is_set():
                    return  # leaving the loop closes the query, which cancels it
                arrivals.put(page)
        except BaseException as exc:  # handed to the reading thread, which raises it
            arrivals.put(exc)
        finally:
            arrivals.put(_DONE)

    for text in texts:
        pool.submit(read, text)
    running = len(texts)
    try:
        while running:
            try:
                item = arrivals.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise deadline_error("Timestream did not answer the query in time; retry or narrow it") from None
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item  # type: ignore[misc]
    finally:
        stop.set()


class _Encoder:
    """The chosen response type: how to encode it, its headers, its size limit."""

    def __init__(self, response_type: int, limit: int) -> None:
        self.response_type, self.limit = response_type, limit
        self.headers = read_codec.headers(response_type)

    def encode(self, results: Sequence[Sequence[Series]]) -> bytes:
        return read_codec.encode(self.response_type, results)

    def budget(self, done: Sequence[Sequence[Series]]) -> _Budget:
        return _Budget(self, done)

    def too_large(self, size: int, read: ReadQuery | None) -> PayloadTooLarge:
        where = f" ({read})" if read is not None else ""
        return PayloadTooLarge(
            f"remote read answer{where} is at least {size} bytes, above the limit of {self.limit} bytes "
            "(MAX_READ_RESPONSE_BYTES; AWS Lambda returns at most 6 MB after base64 encoding); "
            "narrow the query: a shorter time range or more selective matchers"
        )


class _Budget:
    """Stops reading once the answer certainly cannot fit, instead of after reading everything.

    The encoded size is only known by encoding, so a trial encoding runs each time the raw
    estimate doubles past the limit (amortised cost: at most one more full encoding). More rows
    only add bytes, so a trial already over the limit means the final answer is too.
    """

    def __init__(self, encoder: _Encoder, done: Sequence[Sequence[Series]]) -> None:
        self._encoder, self._done = encoder, done
        self._next_check = encoder.limit
        self._per_sample = _BYTES_PER_SAMPLE[encoder.response_type]
        self._done_estimate = sum(self._estimate(len(s.samples), len(s.labels) * 16) for r in done for s in r)
        self.trial_bytes = 0

    def over(self, builder: SeriesBuilder) -> bool:
        estimate = self._done_estimate + self._estimate(builder.samples, builder.label_chars)
        if estimate < self._next_check:
            return False
        self._next_check *= 2
        self.trial_bytes = len(self._encoder.encode([*self._done, builder.series()]))
        return self.trial_bytes > self._encoder.limit

    def _estimate(self, samples: int, label_chars: int) -> int:
        return samples * self._per_sample + label_chars


def parse_query(index: int, message: Any, dot_all: bool) -> ReadQuery:
    """A query's matchers compiled (400 for invalid regexes) before anything is sent to Timestream."""
    matchers = tuple(Matcher.create(m.type, m.name, m.value, dot_all) for m in message.matchers)
    lookup = message.HasField("hints") and message.hints.func == "series"
    return ReadQuery(index, matchers, message.start_timestamp_ms, message.end_timestamp_ms, lookup)


def _dot_all(headers: Mapping[str, str]) -> bool:
    """Prometheus 2.x anchors regexes as ``^(?:re)$`` (``.`` stops at newlines), 3.x as ``^(?s:re)$``."""
    return not headers.get("user-agent", "").startswith("Prometheus/2.")
