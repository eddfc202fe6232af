"""7. The embedded store's query throughput: a read of 1,000,000 rows paged through boto3.

Data: ``rows`` samples (1,000,000; 100,000 with ``--quick``) of 1,000 series, one scrape of every
series each 15 s, labels as node exporters' (``instance``, ``job``, ``namespace``, ``pod``, a
``container`` on a third of the rows, ``le`` on a few), loaded into a table of the store process
in one statement (``Store.bulk_append``; WriteRecords would take minutes). The query is the
connector's read of them all: ``measure_name``, the label columns, ``"measure_value::double"`` and
``to_milliseconds(time)``, ``WHERE`` a time range, a non-NULL double and ``job = 'node'``.

Client: botocore in this process, the store in its own (``bench.store``), loopback HTTP.
(a) Time to the first page (no ``MaxRows``: pages of about 1 MB), then ``CancelQuery``.
(b) Rows/s through every page, each body handed to a ``before-parse`` hook that counts its rows and
takes its ``NextToken`` (the connector parses pages itself the same way), so the figure is the
store's, the transport's and botocore's request cost, not botocore's generic response parser.
(c) Rows/s with botocore's generic parser, on a tenth of the time range: the client's own floor.
(d) Four time slices paged at once (four threads, a client each), rows/s together.
(e) The connector's series look-up: ``SELECT DISTINCT`` of the label columns and the measure name
over the whole range. Figures are medians of ``rounds``.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.session
from botocore.config import Config

from bench.common import ACCESS_KEY_ID, DATABASE, SECRET_ACCESS_KEY, Row, Section, median, wall_seconds
from bench.store import StoreProcess

TABLE = "BenchStoreQuery"
SERIES = 1_000
STEP_MS = 15_000
FIRST_MS = 1_700_000_000_000
LABELS = ("instance", "job", "namespace", "pod", "container", "le")
FIRST_PAGE_TARGET_S = 0.5
ROWS_PER_S_TARGET = 200_000
_FIELDS = {name: re.compile(rb'"' + name.encode() + rb'": ?"([^"]+)"') for name in ("QueryId", "NextToken")}
_ROW_COUNT = "BenchRowCount"


def run(store: StoreProcess | None = None, rows: int = 1_000_000, rounds: int = 3) -> Section:
    own_store = store is None
    store = store or StoreProcess()
    try:
        return _run(store, rows, rounds)
    finally:
        if own_store:
            store.stop()


def _run(store: StoreProcess, rows: int, rounds: int) -> Section:
    store.set_faults()
    store.create_table(TABLE)
    load_s, _ = wall_seconds(lambda: store.load(TABLE, synthetic_rows(rows)))
    end_ms = FIRST_MS + (rows // SERIES) * STEP_MS
    counting, stock = _client(store.url, count_rows=True), _client(store.url, count_rows=False)
    for client in (counting, stock):
        _page_through(client, "SELECT 1")  # botocore's first call loads its models
    full = read_sql(FIRST_MS, end_ms)
    firsts, totals, concurrent, look_ups = [], [], [], []
    for _ in range(rounds):
        firsts.append(_first_page(counting, full))
        seconds, served, pages = _page_through(counting, full)
        assert served == rows, f"served {served} of {rows} rows"
        totals.append(seconds)
        concurrent.append(_concurrent_slices(store.url, FIRST_MS, end_ms, 4, rows))
        look_ups.append(wall_seconds(lambda: _page_through(counting, series_sql(FIRST_MS, end_ms)))[0])
    tenth = read_sql(FIRST_MS, FIRST_MS + (end_ms - FIRST_MS) // 10)
    stock_s, stock_rows, _ = _page_through(stock, tenth)
    first, total = median(firsts), median(totals)
    section = Section("Embedded store queries")
    section.rows = [
        Row(
            f"Store: first page of a {rows:,}-row read",
            first * 1000,
            "ms",
            target=f"<= {FIRST_PAGE_TARGET_S * 1000:.0f} ms",
            passed=first <= FIRST_PAGE_TARGET_S,
        ),
        Row(
            f"Store: {rows:,}-row read paged through boto3 [rows/s]",
            rows / total,
            "rows/s",
            target=f">= {ROWS_PER_S_TARGET:,}",
            passed=rows / total >= ROWS_PER_S_TARGET,
        ),
        Row("Store: 4 time slices paged concurrently [rows/s]", rows / median(concurrent), "rows/s"),
        Row("Store: series look-up (SELECT DISTINCT labels)", median(look_ups) * 1000, "ms"),
        Row("Store: read with botocore's generic parser [client floor]", stock_rows / stock_s, "rows/s"),
    ]
    section.details += [
        f"{rows} rows of {SERIES} series loaded in {load_s:.1f} s; {pages} pages of about 1 MB",
        f"first page ms: {_ms(firsts)}; whole read s: {', '.join(f'{t:.2f}' for t in totals)}",
        f"4 concurrent slices s: {', '.join(f'{t:.2f}' for t in concurrent)}; look-up ms: {_ms(look_ups)}",
        f"botocore's generic parser: {stock_rows} rows in {stock_s:.1f} s",
    ]
    return section


def synthetic_rows(rows: int) -> str:
    """A SELECT of ``rows`` samples: every series scraped once per step, in time order."""
    return f"""SELECT
        '10.0.' || (i % {SERIES} // 250) || '.' || (i % 250) || ':9100' AS instance,
        'node' AS job,
        'ns-' || (i % 5) AS namespace,
        'pod-' || (i % {SERIES}) AS pod,
        CASE WHEN i % 3 = 0 THEN 'c' || (i % 4) END AS container,
        CASE WHEN i % {SERIES} % 37 = 0 THEN CAST(i % 10 AS VARCHAR) END AS le,
        'node_metric_' || (i % {SERIES} % 40) AS measure_name,
        make_timestamp_ns(({FIRST_MS} + (i // {SERIES}) * {STEP_MS}) * 1000000) AS time,
        round(random() * 1e6, CAST(i % 7 AS INTEGER)) AS "measure_value::double"
        FROM range({rows}) AS r(i)"""


def read_sql(start_ms: int, end_ms: int) -> str:
    """The connector's read of every sample in a time range."""
    labels = ", ".join(LABELS)
    return (
        f'SELECT measure_name, {labels}, "measure_value::double", to_milliseconds(time) FROM "{DATABASE}"."{TABLE}" '
        f"WHERE (time BETWEEN from_milliseconds({start_ms}) AND from_milliseconds({end_ms})) "
        f"AND (\"measure_value::double\" IS NOT NULL) AND (job = 'node')"
    )


def series_sql(start_ms: int, end_ms: int) -> str:
    """The connector's series look-up: label sets only, one row per series."""
    return (
        f'SELECT DISTINCT measure_name, {", ".join(LABELS)} FROM "{DATABASE}"."{TABLE}" '
        f"WHERE time BETWEEN from_milliseconds({start_ms}) AND from_milliseconds({end_ms})"
    )


def _client(url: str, count_rows: bool) -> Any:
    client = botocore.session.get_session().create_client(
        "timestream-query",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"total_max_attempts": 1}),
    )
    if count_rows:
        client.meta.events.register("before-parse.timestream-query.Query", _count_rows)
    return client


def _count_rows(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """Leave botocore an empty body: only the row count, the query id and the token are read."""
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes):
        return
    customized_response_dict[_ROW_COUNT] = body.count(b'"Data":')
    for name, pattern in _FIELDS.items():
        found = pattern.search(body)
        if found:
            customized_response_dict[name] = found.group(1).decode()
    response_dict["body"] = b"{}"


def _rows_of(page: dict[str, Any]) -> int:
    return int(page[_ROW_COUNT]) if _ROW_COUNT in page else len(page.get("Rows", ()))


def _first_page(client: Any, sql: str) -> float:
    started = time.perf_counter()
    page = client.query(QueryString=sql)
    seconds = time.perf_counter() - started
    client.cancel_query(QueryId=page["QueryId"])
    return seconds


def _page_through(client: Any, sql: str) -> tuple[float, int, int]:
    """(seconds, rows, pages) of one read to its last page."""
    started = time.perf_counter()
    rows = pages = 0
    arguments: dict[str, Any] = {"QueryString": sql}
    while True:
        page = client.query(**arguments)
        rows, pages = rows + _rows_of(page), pages + 1
        if not page.get("NextToken"):
            return time.perf_counter() - started, rows, pages
        arguments["NextToken"] = page["NextToken"]


def _concurrent_slices(url: str, start_ms: int, end_ms: int, slices: int, rows: int) -> float:
    """Wall seconds to page through ``slices`` adjacent time ranges at once (together: every row)."""
    step = (end_ms - start_ms) // slices + 1
    clients = [_client(url, count_rows=True) for _ in range(slices)]
    queries = [read_sql(start_ms + i * step, min(end_ms, start_ms + (i + 1) * step - 1)) for i in range(slices)]
    with ThreadPoolExecutor(slices) as pool:
        seconds, results = wall_seconds(lambda: list(pool.map(_page_through, clients, queries)))
    served = sum(served for _, served, _ in results)
    assert served == rows, f"the slices served {served} of {rows} rows"
    return seconds


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)
