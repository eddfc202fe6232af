"""Running one Timestream query: every page, bounded retries, failures as HTTP errors."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from connector.errors import HTTPError
from connector.log import logger
from connector.timestream import columns, pages, sql
from connector.timestream.errors import Kind, error_code, error_message
from connector.timestream.retry import CallFailed, call_with_retries
from connector.timestream.statuses import deadline_error, http_error

if TYPE_CHECKING:
    from mypy_boto3_timestream_query import TimestreamQueryClient


class MissingColumn(Exception):
    """The query named a column the table does not have (any more): the column list is stale."""


def run(
    client: TimestreamQueryClient,
    text: str,
    deadline: float,
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[pages.Page]:
    """Yield every page; stop iterating to abandon the query (it is then cancelled).

    The first page may be empty with a ``NextToken``: only a missing token ends the result.
    """
    token: str | None = None
    query_id: str | None = None
    finished = False
    try:
        while True:
            if time.monotonic() >= deadline:
                raise deadline_error("Timestream did not answer the query in time; retry or narrow the query")
            page = _page(client, text, token, deadline, max_attempts, sleep)
            query_id = page.query_id or query_id
            yield page
            token = page.next_token
            if not token:
                finished = True
                return
    finally:
        if not finished and query_id:
            _cancel(client, query_id)


def _page(
    client: TimestreamQueryClient,
    text: str,
    token: str | None,
    deadline: float,
    max_attempts: int,
    sleep: Callable[[float], None],
) -> pages.Page:
    params: dict[str, Any] = {"QueryString": text}
    if token:
        params["NextToken"] = token
    try:
        response, _ = call_with_retries(lambda: client.query(**params), deadline, max_attempts, sleep, "query")
    except CallFailed as failed:
        raise _error(failed.error, failed.kind, text) from None
    return pages.from_parsed(response)


def _cancel(client: TimestreamQueryClient, query_id: str) -> None:
    """Best effort: an abandoned query should not keep scanning (and billing) on Timestream's side."""
    try:
        client.cancel_query(QueryId=query_id)
    except Exception as exc:
        logger().debug("cancel_query failed", extra={"code": error_code(exc)})


def _error(exc: BaseException, kind: Kind, text: str) -> Exception:
    code, message = error_code(exc), error_message(exc)
    reason = f"Timestream {code}: {message}"
    if kind is not Kind.INVALID:
        return http_error(kind, reason)
    if code == "ValidationException" and "does not exist" in message:
        if "Column" in message:
            return MissingColumn(message)
        return http_error(Kind.MISSING, reason + "; check the connector's DEFAULT_DATABASE and DEFAULT_TABLE")
    # Our own SQL was refused: a bug here, not in the request. Log the statement for the fix.
    logger().error("Timestream refused a generated query", extra={"code": code, "reason": message, "query": text})
    return HTTPError(f"{reason} (the connector built a query Timestream refused; see its logs)", 500)


def describe(
    client: TimestreamQueryClient, database: str, table: str, deadline: float, max_attempts: int
) -> columns.TableColumns:
    """The table's columns from ``DESCRIBE``: dimensions and whether doubles were ever written."""
    rows: list[list[str]] = []
    for page in run(client, sql.describe(database, table), deadline, max_attempts):
        rows += [page.cells[i : i + page.width] for i in range(0, len(page.cells), page.width or 1)]
    return columns.from_describe(rows)


def run_all(
    pool: Executor, client: TimestreamQueryClient, texts: Sequence[str], deadline: float, max_attempts: int
) -> Iterator[pages.Page]:
    """Every page of every statement as it arrives, several statements at once in ``pool``.

    The first failure ends the iteration and stops the others (their queries are cancelled).
    """
    if len(texts) == 1:
        yield from run(client, texts[0], deadline, max_attempts)
        return
    arrivals: queue.Queue[object] = queue.Queue()
    stop = threading.Event()

    def read(text: str) -> None:
        try:
            for page in run(client, text, deadline, max_attempts):
                if stop.is_set():
                    return  # leaving the loop closes the query, which cancels it
                arrivals.put(page)
        except BaseException as exc:  # handed to the reading thread, which raises it
            arrivals.put(exc)
        finally:
            arrivals.put(_DONE)

    for text in texts:
        pool.submit(read, text)
    try:
        yield from _arrived(arrivals, len(texts), deadline)
    finally:
        stop.set()


_DONE = object()


def _arrived(arrivals: queue.Queue[object], running: int, deadline: float) -> Iterator[pages.Page]:
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
            assert isinstance(item, pages.Page)
            yield item
