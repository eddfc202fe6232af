"""Query pages read without botocore's parser: the same cells as ``json`` gives, or the json path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.timestream import pages

COLUMNS = [{"Name": name, "Type": {"ScalarType": "VARCHAR"}} for name in ("a", 'b"q', "c")]


def body(rows: list[list[str | None]], compact: bool = True, **extra: Any) -> bytes:
    document = {
        "QueryId": "Q1",
        "Rows": [{"Data": [{"NullValue": True} if v is None else {"ScalarValue": v} for v in row]} for row in rows],
        "ColumnInfo": COLUMNS,
        "QueryStatus": {"ProgressPercentage": 100.0, "CumulativeBytesScanned": 123, "CumulativeBytesMetered": 456},
        **extra,
    }
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(document, separators=separators, ensure_ascii=False).encode()


def expected_cells(rows: list[list[str | None]]) -> list[str]:
    return [v or "" for row in rows for v in row]


tricky = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(['"', "\\", '"}]}]', '{"Data":[', '"ScalarValue":"x"', '"NullValue":true', "é\u2028", "]}]"]),
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(rows=st.lists(st.lists(tricky, min_size=3, max_size=3), max_size=8), compact=st.booleans())
def test_cells_are_exactly_what_json_reads(rows: list[list[str | None]], compact: bool) -> None:
    page = pages.parse(body(rows, compact, NextToken="tok/+="))
    assert page.cells == expected_cells(rows)
    assert (page.width, page.rows) == (3, len(rows))
    assert page.columns == ["a", 'b"q', "c"]
    assert (page.query_id, page.next_token, page.bytes_scanned, page.bytes_metered) == ("Q1", "tok/+=", 123, 456)


def test_compact_pages_take_the_fast_path_and_others_the_json_path() -> None:
    rows: list[list[str | None]] = [["x", None, 'q"uote'], ["y", "z", "\\"]]
    assert pages._parse_compact(body(rows).decode()) is not None
    assert pages._parse_compact(body(rows, compact=False).decode()) is None
    assert pages.parse(body(rows, compact=False)).cells == expected_cells(rows)


def test_an_empty_page_and_a_last_page_without_token() -> None:
    page = pages.parse(body([]))
    assert (page.cells, page.rows, page.next_token) == ([], 0, None)


def test_nested_values_are_refused_not_misread() -> None:
    document = json.loads(body([["a", "b", "c"]]))
    document["ColumnInfo"][2] = {"Name": "c", "Type": {"ArrayColumnInfo": {"Type": {"ScalarType": "VARCHAR"}}}}
    document["Rows"][0]["Data"][2] = {"ArrayValue": [{"ScalarValue": "c"}]}
    with pytest.raises(ValueError, match="nested"):
        pages.parse(json.dumps(document, separators=(",", ":")).encode())


def test_botocore_hands_the_page_over_and_keeps_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    response_dict: dict[str, Any] = {"status_code": 200, "headers": {}, "body": body([["1", "2", "3"]], NextToken="t")}
    customized: dict[str, Any] = {}
    pages._before_parse(response_dict=response_dict, customized_response_dict=customized)
    assert customized[pages.PAGE_KEY].cells == ["1", "2", "3"] and customized["NextToken"] == "t"
    assert response_dict["body"] == b"{}"
    error = {"status_code": 400, "headers": {}, "body": b'{"__type":"ValidationException","Message":"m"}'}
    untouched: dict[str, Any] = {}
    pages._before_parse(response_dict=error, customized_response_dict=untouched)
    assert untouched == {} and error["body"].startswith(b'{"__type"')


def test_whitespace_around_the_rows_key_still_takes_the_fast_path() -> None:
    rows: list[list[str | None]] = [["x", None, "y"]]
    text = body(rows).decode().replace('"Rows":[', '"Rows" : [').replace('"QueryId":', '"QueryId": ')
    page = pages._parse_compact(text)
    assert page is not None and page.cells == expected_cells(rows) and page.query_id == "Q1"
