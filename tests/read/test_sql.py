"""The SQL a read runs, judged by what it selects, not by how it is spelled.

A table of known rows is written in the layout the README documents (``tests/layout.py``, not the
connector's schema code): escaped label names, stand-in measure names with the true name beside
them, specials, a series with no label but its name, a row as the official Go connector writes a
recording rule, a row of another measure type, and label values made to break quoting. For each
selector and time range the connector's WHERE clause runs in the embedded store and must select
exactly the samples ``oracle.select`` (Prometheus' semantics in plain Python) selects; the full
statement must return as many rows, and the series look-up one row per selected series.

Text is asserted only where the text is the contract: literals and identifiers are quoted so that
no value can end them, NUL is refused, and an oversized query is a 400.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from connector.errors import BadRequest
from connector.prom.matchers import Matcher
from connector.timestream import sql
from connector.timestream.columns import TableColumns, from_describe
from connector.timestream.read_sql import TimeRange, clamp, selection, statement
from connector.timestream.sql import FALSE
from emulator.server import EmbeddedTimestream
from emulator.testing import boto3_clients, scalar_rows
from tests import layout
from tests.helpers import STALE_NAN
from tests.read import oracle
from tests.read.helpers import KEY_ID, SECRET

EQ, NEQ, RE, NRE = oracle.EQ, oracle.NEQ, oracle.RE, oracle.NRE
M = oracle.Match
DB, TABLE = "sqldb", "semantic"
T0 = 1_700_000_000_000  # a fixed instant: every time bound below is relative to it
ALL = (-(2**63), 2**63 - 1)
INJECTIONS = ["it's", "'; DROP TABLE semantic; --", "' OR '1'='1", '"quoted"', "\\", "\\'", "%", "_", "a|b"]

World = dict[oracle.Labels, list[tuple[int, float]]]


def labels(**pairs: str) -> oracle.Labels:
    return tuple(sorted(pairs.items()))


def _world() -> World:
    series = [
        labels(__name__="up", job="api", instance="a:1"),
        labels(__name__="up", job="db", instance=INJECTIONS[0]),
        labels(__name__="up", instance=INJECTIONS[1]),
        labels(__name__="up", job="%", instance="_"),
        labels(__name__="http_requests_total", job="api", code="200", path="/a|b"),
        labels(__name__="http_requests_total", job="API", code="500", path="\\x"),
        labels(__name__="job:rate:5m", job="api"),  # stand-in measure_name, true name in __name__
        labels(__name__="measure_name_total", job="db"),  # a name Timestream reserves: a stand-in too
        labels(__name__="node_load1", job="a\nb", __meta="m1"),  # stored as __l___meta
        labels(__name__="node_load1", time="noon", ключ="значение"),  # __l_time, __u_<hex>
        labels(__name__="lonely"),  # no label but its name: __name__ is its dimension
        *(labels(__name__="inj", v=value, k=str(i)) for i, value in enumerate(INJECTIONS)),
    ]
    values = [1.0, -0.0, math.nan, STALE_NAN, math.inf]
    return {s: [(T0 + 1000 * k + i, values[(i + k) % len(values)]) for k in range(4)] for i, s in enumerate(series)}


WORLD = _world()
# As the official Go connector writes a recording rule: the name verbatim in measure_name, no __name__.
LEGACY = labels(__name__="legacy:rule", job="api")
WORLD[LEGACY] = [(T0 + 500, 7.0)]


def _legacy_record(t: int, value: float) -> dict[str, Any]:
    return {
        "Dimensions": [{"Name": "job", "Value": "api"}],
        "MeasureName": "legacy:rule",
        "MeasureValue": repr(value),
        "MeasureValueType": "DOUBLE",
        "Time": str(t),
        "TimeUnit": "MILLISECONDS",
    }


@pytest.fixture(scope="module")
def table(store: EmbeddedTimestream) -> Iterator[tuple[Any, TableColumns]]:
    """The store's query client and the table's columns, after writing ``WORLD`` (and a VARCHAR row
    that no read may ever return)."""
    store.create_database_and_table(DB, TABLE, memory_retention_hours=1, magnetic_writes=True)
    write, query = boto3_clients(store, KEY_ID, SECRET)
    records = [layout.record(dict(s), t, v) for s, samples in WORLD.items() if s != LEGACY for t, v in samples]
    records += [_legacy_record(t, v) for t, v in WORLD[LEGACY]]
    other_type = {"Dimensions": [{"Name": "job", "Value": "api"}], "MeasureName": "up", "MeasureValue": "text",
                  "MeasureValueType": "VARCHAR", "Time": str(T0 + 1), "TimeUnit": "MILLISECONDS"}  # fmt: skip
    for i in range(0, len(records), 100):
        write.write_records(DatabaseName=DB, TableName=TABLE, Records=records[i : i + 100])
    write.write_records(DatabaseName=DB, TableName=TABLE, Records=[other_type])
    yield query, from_describe(scalar_rows(query, f'DESCRIBE "{DB}"."{TABLE}"'))


def rows(query: Any, text: str) -> list[dict[str, str | None]]:
    found: list[dict[str, str | None]] = []
    for page in query.get_paginator("query").paginate(QueryString=text):
        names = [c["Name"] for c in page["ColumnInfo"]]
        found += [{n: d.get("ScalarValue") for n, d in zip(names, r["Data"], strict=True)} for r in page["Rows"]]
    return found


def selected(table: tuple[Any, TableColumns], selector: Sequence[oracle.Match], start: int, end: int,
             dot_all: bool = True) -> dict[oracle.Labels, list[tuple[int, int]]]:  # fmt: skip
    """What the connector's SQL selects, as {labels: [(time, value bits)]}, read by the tests' own
    layout reader; checks the full statement and the look-up against it on the way."""
    query, columns = table
    matchers = [Matcher.create(m.type, m.name, m.value, dot_all) for m in selector]
    time_range, where = clamp(start, end), selection(columns, matchers)
    if time_range is None or where == FALSE:  # the connector sends no query: nothing is selected
        return {}
    samples = statement(DB, TABLE, columns, where, time_range, samples=True)
    head, separator, condition = samples.text.partition(f' FROM "{DB}"."{TABLE}" WHERE ')
    assert head.startswith("SELECT ") and separator, samples.text
    found: dict[oracle.Labels, list[tuple[int, int]]] = {}
    for row in rows(query, f'SELECT *, to_milliseconds(time) AS t_ms FROM "{DB}"."{TABLE}" WHERE {condition}'):
        metric, others, t, bits = layout.sample_of_row(row)
        found.setdefault(tuple(sorted({*others, ("__name__", metric)})), []).append((t, bits))
    for series in found.values():
        series.sort()
    lookup = statement(DB, TABLE, columns, where, time_range, samples=False)
    counts = rows(query, f"SELECT (SELECT count(*) FROM ({samples.text})) AS samples, "
                         f"(SELECT count(*) FROM ({lookup.text})) AS series")  # fmt: skip
    assert counts == [{"samples": str(sum(map(len, found.values()))), "series": str(len(found))}], samples.text
    return found


def expected(selector: Sequence[oracle.Match], start: int, end: int, dot_all: bool = True) -> dict:  # type: ignore[type-arg]
    picked = oracle.select(WORLD, selector, start, end, dot_all)
    return {s: sorted((t, layout.bits(v)) for t, v in samples) for s, samples in picked.items()}


def check(table: tuple[Any, TableColumns], selector: Sequence[oracle.Match], start: int = ALL[0],
          end: int = ALL[1], dot_all: bool = True) -> None:  # fmt: skip
    got, want = selected(table, selector, start, end, dot_all), expected(selector, start, end, dot_all)
    assert got == want, f"{selector} [{start}, {end}] dot_all={dot_all}: got {sorted(got)} want {sorted(want)}"


# ---- one matcher of each kind on every label, against values present, absent and hostile -------

LABEL_NAMES = ["__name__", "job", "instance", "code", "path", "__meta", "time", "ключ", "v", "never_written"]
# Stand-in measure names are storage, not names: a matcher on them must select nothing.
STAND_INS = ["job_rate_5m", "_measure_name_total"]
REGEXES = ["", ".*", ".+", "a.*", ".*a", "api|db", "api|", "API|", "[0-9]+", "up|node_load1", "(?i)api",
           "job:.*", "a.b", ".*DROP.*", "j.*|", re.escape(INJECTIONS[1]), re.escape("\\'")]  # fmt: skip


def values_of(name: str) -> list[str]:
    """The values ``name`` has in the table, the empty value, one it never has, and for the metric
    name the stand-ins."""
    present = sorted({value for s in WORLD for label, value in s if label == name})
    return ["", "nope", *present, *(STAND_INS if name == "__name__" else [])]


@pytest.mark.parametrize("name", LABEL_NAMES)
def test_each_matcher_selects_what_prometheus_selects(table: tuple[Any, TableColumns], name: str) -> None:
    for value in values_of(name):
        check(table, [M(EQ, name, value)])
        check(table, [M(NEQ, name, value)])
    for value in REGEXES:
        check(table, [M(RE, name, value)])
        check(table, [M(NRE, name, value)])


@pytest.mark.parametrize(
    "selector",
    [
        [M(EQ, "__name__", "up"), M(NEQ, "job", "api")],
        [M(EQ, "__name__", "up"), M(EQ, "job", "")],
        [M(RE, "__name__", "up|http_requests_total"), M(RE, "job", "api|")],
        [M(NRE, "__name__", "up|node_load1"), M(NRE, "job", "")],
        [M(EQ, "job", "api"), M(RE, "instance", ".+")],
        [M(EQ, "job", "api"), M(NEQ, "__name__", "job:rate:5m")],
        [M(RE, "__name__", ".*:.*")],
        [M(EQ, "__name__", "legacy:rule"), M(EQ, "job", "api")],
        [M(NEQ, "never_written", "x"), M(EQ, "__meta", "m1")],
        [M(EQ, "never_written", ""), M(EQ, "time", "noon"), M(EQ, "ключ", "значение")],
        [M(EQ, "__name__", "inj"), M(RE, "v", ".*'.*")],
        [M(EQ, "__name__", "inj"), M(NRE, "v", ".*[%_|].*")],
        [],
    ],
    ids=repr,
)
def test_conjunctions_select_what_prometheus_selects(table: tuple[Any, TableColumns], selector: list) -> None:  # type: ignore[type-arg]
    check(table, selector)


def test_prometheus_2_dots_do_not_match_newlines(table: tuple[Any, TableColumns]) -> None:
    for value in ["a.b", ".*", ".+", "a.*", "(?s)a.b"]:
        for kind in (RE, NRE):
            check(table, [M(kind, "job", value)], dot_all=False)
            check(table, [M(kind, "job", value)], dot_all=True)


# ---- time ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0 + 1000, T0 + 3000),  # both ends hold samples: inclusive
        (T0 + 1001, T0 + 2999),
        (T0 + 1500, T0 + 1500),  # a single instant with no sample
        (T0 + 2000, T0 + 2000),  # a single instant with samples
        (T0 + 3000, T0 + 1000),  # end before start: nothing
        (ALL[0], T0),
        (T0 + 3010, ALL[1]),
        ALL,  # clamped to what Timestream holds, not an error
    ],
)
def test_time_bounds_are_inclusive_milliseconds(table: tuple[Any, TableColumns], start: int, end: int) -> None:
    for selector in ([M(EQ, "__name__", "up")], [M(RE, "job", "api|")], []):
        check(table, selector, start, end)


def test_slices_exclude_their_end_so_a_boundary_row_is_read_once(table: tuple[Any, TableColumns]) -> None:
    """Half-open slices and a closed last one, with samples on every boundary: each row once."""
    query, _ = table
    edges = [T0, T0 + 1000, T0 + 2000, T0 + 3000, T0 + 4000]
    slices = [TimeRange(a, b, open_end=True) for a, b in itertools.pairwise(edges[:-1])]
    slices.append(TimeRange(edges[-2], edges[-1]))
    read: list[int] = []
    for piece in slices:
        where = f'{piece.condition().sql()} AND "measure_name" = \'up\' AND "measure_value::double" IS NOT NULL'
        text = f'SELECT to_milliseconds(time) AS t FROM "{DB}"."{TABLE}" WHERE {where}'
        read += [int(r["t"] or 0) for r in rows(query, text)]
    up = [t for s, samples in WORLD.items() if dict(s)["__name__"] == "up" for t, _ in samples]
    assert sorted(read) == sorted(t for t in up if edges[0] <= t <= edges[-1])
    assert set(edges[1:-1]) <= set(read), "no sample on a boundary: the test would prove nothing"


# ---- the text where the text is the contract -----------------------------------------------------


def test_literals_and_identifiers_are_quoted_so_no_value_can_end_them() -> None:
    for value in [*INJECTIONS, "'", "''", "\n", "é"]:
        literal, ident = sql.Text(value).sql(), sql.Ident(value).sql()
        assert literal == "'" + value.replace("'", "''") + "'"
        assert ident == '"' + value.replace('"', '""') + '"'


def test_nul_is_refused_not_altered() -> None:
    with pytest.raises(BadRequest):
        sql.Text("a\x00b").sql()
    with pytest.raises(BadRequest):
        sql.Ident("a\x00").sql()


def test_hostile_values_leave_the_table_and_every_row_in_place(table: tuple[Any, TableColumns]) -> None:
    """After every injection attempt above and here, as values and as names: all rows are still there."""
    for value in INJECTIONS:
        check(table, [M(EQ, "__name__", value)])
        check(table, [M(EQ, value, "x")])
        check(table, [M(NEQ, value, "")])
    query, _ = table
    total = sum(map(len, WORLD.values())) + 1  # and the VARCHAR row
    assert rows(query, f'SELECT count(*) AS n FROM "{DB}"."{TABLE}"') == [{"n": str(total)}]


def test_oversized_query_is_a_bad_request() -> None:
    columns = TableColumns(frozenset({"job"}), has_double=True)
    where = selection(columns, [Matcher.create(RE, "job", "." * 16_000)])
    with pytest.raises(BadRequest, match="characters"):
        statement("db", "tbl", columns, where, TimeRange(0, 1), samples=True)
