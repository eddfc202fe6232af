"""Running Timestream queries: every page, bounded retries, errors as HTTP statuses, table columns."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, NamedTuple

from connector.errors import Forbidden, HTTPError, Unauthorized
from connector.log import logger
from connector.timestream import sql
from connector.timestream.errors import RETRY_AFTER_SECONDS, Kind, backoff, classify, error_code, error_message

# How long a DESCRIBE result is reused. Staleness never shows in answers: a read notices columns
# newer than its list in its own result and refreshes (see connector.read); this only bounds reuse.
COLUMNS_TTL_SECONDS = 60.0

Row = list[dict[str, Any]]


class Page(NamedTuple):
    columns: list[str]  # result column names (empty if the page carries no ColumnInfo)
    rows: list[Row]  # each row's ``Data`` cells


class MissingColumn(Exception):
    """The query named a column the table does not have (any more): the column list is stale."""


class QueryTimeout(HTTPError):
    status = 504


def run(client: Any, query: str, deadline: float, max_attempts: int = 3) -> Iterator[Page]:
    """Yield every page; stop iterating to abandon the query (it is then cancelled).

    The first page may be empty with a ``NextToken``: only a missing token ends the result.
    """
    token: str | None = None
    query_id: str | None = None
    finished = False
    try:
        while True:
            page = _page(client, query, token, deadline, max_attempts)
            query_id = page.get("QueryId", query_id)
            columns = [str(info.get("Name", "")) for info in page.get("ColumnInfo", ())]
            yield Page(columns, [row["Data"] for row in page.get("Rows", ())])
            token = page.get("NextToken")
            if not token:
                finished = True
                return
    finally:
        if not finished and query_id:
            _cancel(client, query_id)


def _page(client: Any, query: str, token: str | None, deadline: float, max_attempts: int) -> dict[str, Any]:
    params: dict[str, Any] = {"QueryString": query}
    if token:
        params["NextToken"] = token
    for attempt in range(1, max_attempts + 1):
        if time.monotonic() >= deadline:
            raise QueryTimeout("Timestream did not answer the query in time; retry or narrow the query")
        try:
            return client.query(**params)  # type: ignore[no-any-return]
        except Exception as exc:  # botocore raises many unrelated types; classify decides
            kind = classify(exc)
            if kind not in (Kind.RETRYABLE, Kind.THROTTLED) or attempt == max_attempts:
                raise _http_error(exc, kind, query) from None
            time.sleep(max(0.0, min(backoff(attempt), deadline - time.monotonic())))
    raise AssertionError("unreachable")


def _cancel(client: Any, query_id: str) -> None:
    """Best effort: an abandoned query should not keep scanning (and billing) on Timestream's side."""
    try:
        client.cancel_query(QueryId=query_id)
    except Exception as exc:
        logger().debug("cancel_query failed", extra={"code": error_code(exc)})


def _http_error(exc: BaseException, kind: Kind, query: str) -> Exception:
    code, message = error_code(exc), error_message(exc)
    text = f"Timestream {code}: {message}"
    if kind is Kind.THROTTLED:
        return HTTPError(text + "; retry later", 503, {"Retry-After": RETRY_AFTER_SECONDS})
    if kind is Kind.RETRYABLE:
        return HTTPError(text + "; retry later", 502)
    if kind is Kind.UNAUTHENTICATED:
        return Unauthorized(text)
    if kind is Kind.FORBIDDEN:
        return Forbidden(text)
    if kind is Kind.MISSING:
        return HTTPError(text, 503, {"Retry-After": RETRY_AFTER_SECONDS})
    if code == "ValidationException" and "does not exist" in message:
        if "Column" in message:
            return MissingColumn(message)
        hint = "; check the connector's DEFAULT_DATABASE and DEFAULT_TABLE"
        return HTTPError(text + hint, 503, {"Retry-After": RETRY_AFTER_SECONDS})
    # Our own SQL was refused: a bug here, not in the request. Log the statement for the fix.
    logger().error("Timestream refused a generated query", extra={"code": code, "reason": message, "query": query})
    return HTTPError(f"{text} (the connector built a query Timestream refused; see its logs)", 500)


def describe(client: Any, database: str, table: str, deadline: float) -> sql.TableColumns:
    """The table's columns from ``DESCRIBE``: dimensions and whether doubles were ever written."""
    names: set[str] = set()
    dimensions: set[str] = set()
    for page in run(client, sql.describe(database, table), deadline):
        for data in page.rows:
            cells = [cell.get("ScalarValue") for cell in data]
            name, kind = cells[0], (cells[2] if len(cells) > 2 else None)
            if name is None:
                continue
            names.add(name)
            if kind == "DIMENSION" or (kind is None and looks_like_dimension(name)):
                dimensions.add(name)
    return sql.TableColumns(frozenset(dimensions), sql.DOUBLE_VALUE in names, frozenset(names))


def looks_like_dimension(name: str) -> bool:
    """For a column ``DESCRIBE`` did not list: the reserved columns are known by name."""
    return name not in (sql.TIME, sql.MEASURE_NAME) and not name.startswith("measure_value::")


class ColumnCache:
    """Columns per (identity, database, table) for ``ttl`` seconds; refreshed early on demand.

    Keyed by identity too: key pairs of different AWS accounts see different tables of one name.
    """

    def __init__(self, ttl: float = COLUMNS_TTL_SECONDS, size: int = 256, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._size, self._clock = ttl, size, clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, sql.TableColumns]] = OrderedDict()

    def get(self, key: Hashable, load: Callable[[], sql.TableColumns], refresh: bool = False) -> sql.TableColumns:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and not refresh and now - entry[0] < self._ttl:
            return entry[1]
        columns = load()
        with self._lock:
            self._entries[key] = (now, columns)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return columns
