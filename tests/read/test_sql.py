"""The SQL builder: quoting, each matcher kind, absent columns, name stand-ins, time clamping."""

from __future__ import annotations

import pytest

from connector.errors import BadRequest
from connector.prom.matchers import Matcher, MatchType
from connector.timestream import sql
from connector.timestream.columns import TableColumns
from connector.timestream.read_sql import TimeRange, clamp, condition, selection, statement
from connector.timestream.sql import FALSE, TRUE

EQ, NEQ, RE, NRE = MatchType.EQ, MatchType.NEQ, MatchType.RE, MatchType.NRE
PLAIN = TableColumns(frozenset({"job", "instance"}), has_double=True)
OURS = TableColumns(frozenset({"job", "instance", "__name__", "__special_value__", "__l___meta"}), has_double=True)


def cond(type_: MatchType, name: str, value: str, columns: TableColumns = PLAIN) -> str:
    expr = condition(Matcher.create(type_, name, value), columns)
    return expr.sql()


def test_literals_double_single_quotes_and_identifiers_double_quotes() -> None:
    assert sql.Text("it's").sql() == "'it''s'"
    assert sql.Text("' OR '1'='1").sql() == "''' OR ''1''=''1'"
    assert sql.Text("\\'").sql() == "'\\'''"
    assert sql.Ident('a"b').sql() == '"a""b"'
    assert sql.Select((sql.Ident("x"),), 'd"b', "t'", TRUE).sql() == 'SELECT "x" FROM "d""b"."t\'" WHERE TRUE'


def test_nul_is_refused_not_altered() -> None:
    with pytest.raises(BadRequest):
        sql.Text("a\x00b").sql()
    with pytest.raises(BadRequest):
        sql.Ident("a\x00").sql()


@pytest.mark.parametrize("value", ["' OR '1'='1", "--", '"; DROP TABLE x; --', "\\'", "%", "_", "'; --\n"])
def test_request_values_stay_inside_one_literal(value: str) -> None:
    text = cond(EQ, "job", value)
    assert text == '"job" = ' + "'" + value.replace("'", "''") + "'"
    assert text.count("'") % 2 == 0


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (EQ, "x", "\"job\" = 'x'"),
        (EQ, "", '"job" IS NULL'),
        (NEQ, "x", '("job" IS NULL) OR ("job" <> \'x\')'),
        (NEQ, "", '"job" IS NOT NULL'),
        (RE, "a.c", "regexp_like(\"job\", '\\A(?:a[\\x{0}-\\x{10ffff}]c)\\z')"),
        (RE, "a.c|", '("job" IS NULL) OR (regexp_like("job", \'\\A(?:a[\\x{0}-\\x{10ffff}]c|)\\z\'))'),
        (NRE, "a.c", '("job" IS NULL) OR (NOT (regexp_like("job", \'\\A(?:a[\\x{0}-\\x{10ffff}]c)\\z\')))'),
        (NRE, "a.c|", '("job" IS NOT NULL) AND (NOT (regexp_like("job", \'\\A(?:a[\\x{0}-\\x{10ffff}]c|)\\z\')))'),
        (RE, "a|b", "\"job\" IN ('a', 'b')"),
        (RE, "a|b|", "(\"job\" IS NULL) OR (\"job\" IN ('a', 'b'))"),
        (NRE, "a|b", "(\"job\" IS NULL) OR (\"job\" NOT IN ('a', 'b'))"),
        (RE, "a", "\"job\" = 'a'"),
        (RE, ".+", '"job" IS NOT NULL'),
        (NRE, ".+", '("job" IS NULL) OR ("job" IS NULL)'),
        (RE, "", '"job" IS NULL'),
        (NRE, "", '"job" IS NOT NULL'),
    ],
)
def test_label_matchers(type_: MatchType, value: str, expected: str) -> None:
    assert cond(type_, "job", value) == expected


def test_match_everything_needs_no_condition() -> None:
    assert condition(Matcher.create(RE, "job", ".*"), PLAIN) == TRUE
    assert condition(Matcher.create(NRE, "job", ".*"), PLAIN) == FALSE
    assert condition(Matcher.create(RE, "job", ".*", dot_all=False), PLAIN) != TRUE  # "\n" is not matched


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [(EQ, "x", FALSE), (EQ, "", TRUE), (NEQ, "x", TRUE), (NEQ, "", FALSE), (RE, "x|", TRUE), (RE, "x", FALSE),
     (NRE, "x", TRUE), (NRE, "x|", FALSE), (RE, ".*", TRUE), (RE, ".+", FALSE)],
)  # fmt: skip
def test_a_label_never_written_is_the_empty_value(type_: MatchType, value: str, expected: sql.Bool) -> None:
    assert condition(Matcher.create(type_, "never_written", value), PLAIN) == expected


def test_escaped_label_names_use_their_dimension() -> None:
    assert cond(EQ, "__meta", "x", OURS) == "\"__l___meta\" = 'x'"
    assert cond(EQ, "measure_value", "x", OURS) == "FALSE"  # would be __l_measure_value: never written


def test_metric_name_without_name_column() -> None:
    assert cond(EQ, "__name__", "up") == "\"measure_name\" = 'up'"
    assert cond(NEQ, "__name__", "up") == "\"measure_name\" <> 'up'"
    assert cond(RE, "__name__", "a|b") == "\"measure_name\" IN ('a', 'b')"
    assert cond(NRE, "__name__", "a|b") == "\"measure_name\" NOT IN ('a', 'b')"
    assert cond(RE, "__name__", "up.*").startswith('regexp_like("measure_name", ')
    assert cond(NRE, "__name__", "up.*").startswith('NOT (regexp_like("measure_name", ')
    assert cond(EQ, "__name__", "") == "FALSE"
    assert cond(NEQ, "__name__", "") == "TRUE"
    assert cond(RE, "__name__", ".*") == "TRUE"
    assert cond(RE, "__name__", "") == "FALSE"


def test_metric_name_with_stand_in_measure_names() -> None:
    name = 'coalesce("__name__", "measure_name")'
    assert cond(EQ, "__name__", "job:rate:5m", OURS) == (
        f"(\"measure_name\" IN ('job:rate:5m', 'job_rate_5m')) AND ({name} = 'job:rate:5m')"
    )
    assert cond(NEQ, "__name__", "up", OURS) == f"{name} <> 'up'"
    assert cond(RE, "__name__", "up.+", OURS).startswith(f"regexp_like({name}, ")


def key_of(*columns: str) -> str:
    parts = [f"replace(replace(coalesce(\"{c}\", ''), '\\', '\\\\'), '|', '\\p')" for c in columns]
    return "(" + " || '|' || ".join(parts) + ")"


def test_full_statement() -> None:
    where = selection(OURS, [Matcher.create(EQ, "job", "x")])
    query = statement("db", "tbl", OURS, where, TimeRange(1000, 2000), samples=True).text
    key = key_of("measure_name", "__name__", "__l___meta", "instance", "job")
    assert query == (
        f'SELECT {key}, "__special_value__", "measure_value::double", to_milliseconds("time") FROM "db"."tbl" WHERE '
        '("time" BETWEEN from_milliseconds(1000) AND from_milliseconds(2000)) AND '
        '("measure_value::double" IS NOT NULL) AND ("job" = \'x\')'
    )


def test_series_look_up_selects_distinct_keys_only() -> None:
    query = statement("db", "tbl", PLAIN, selection(PLAIN, []), TimeRange(0, 5), samples=False).text
    assert query.startswith(f'SELECT DISTINCT {key_of("measure_name", "instance", "job")} FROM "db"."tbl" WHERE ')
    assert "measure_value::double" in query and "to_milliseconds" not in query


def test_a_slice_excludes_its_end_so_boundary_rows_are_read_once() -> None:
    text = TimeRange(1000, 2000, open_end=True).condition().sql()
    assert text == '("time" >= from_milliseconds(1000)) AND ("time" < from_milliseconds(2000))'


def test_time_is_clamped_to_what_timestream_accepts() -> None:
    time_range = clamp(-9_223_372_036_854_775_808, 9_223_372_036_854_775_807)
    assert time_range is not None
    query = statement("db", "tbl", PLAIN, selection(PLAIN, []), time_range, samples=True).text
    assert "from_milliseconds(-9223372036854) AND from_milliseconds(9223372036854)" in query


def test_queries_that_cannot_match_are_skipped() -> None:
    assert clamp(2000, 1000) is None
    assert selection(PLAIN, [Matcher.create(EQ, "absent", "x")]) == FALSE
    assert selection(TableColumns(frozenset(), has_double=False), []) == FALSE
    assert selection(PLAIN, [Matcher.create(NEQ, "absent", "x"), Matcher.create(EQ, "job", "y")]) != FALSE


def test_oversized_query_is_a_bad_request() -> None:
    where = selection(PLAIN, [Matcher.create(RE, "job", "." * 16_000)])
    with pytest.raises(BadRequest, match="characters"):  # each "." becomes an 18-character class
        statement("db", "tbl", PLAIN, where, TimeRange(0, 1), samples=True)
