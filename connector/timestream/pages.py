"""Query result pages read straight from the response body, without botocore's generic parser.

botocore parses a ``Query`` page by walking the service model for every cell: about 13 µs a row,
several times the rest of a read together. The connector only ever selects scalar columns, so a
page's rows are a flat run of ``{"ScalarValue":"..."}`` / ``{"NullValue":true}`` cells, row after
row: one regular expression over the rows yields them in order, and ``json`` reads the small rest.
The fast path is taken only when the body proves it fits that shape (compact, every column scalar,
exactly as many cells as rows times columns); anything else goes through ``json`` alone, so the
answer is the same either way.

NULL and the empty string both become ``""``: for labels both mean "absent", and the other
columns read (value, time, special value) are never empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Cells of a compact page; the second form only where some text holds a backslash escape.
_CELL = re.compile(r'"(?:ScalarValue":"([^"]*)"|NullValue":true)')
_ESCAPED_CELL = re.compile(r'"(?:ScalarValue":"([^"\\]*(?:\\.[^"\\]*)*)"|NullValue":true)')
_ROWS_KEY = '"Rows"'
_ROWS_OPEN = re.compile(r'"Rows"\s*:\s*\[')
_ROWS_END = "]}]"  # the last cell, its row and the array close together
_ROW = '"Data"'  # at least once per row, whatever the spacing: a count that can only be too high


@dataclass
class Page:
    """One page of a result: ``cells`` holds ``width`` cells per row, row after row."""

    columns: list[str]
    cells: list[str]
    width: int
    query_id: str | None = None
    next_token: str | None = None
    bytes_scanned: int = 0
    bytes_metered: int = 0
    rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = len(self.cells) // self.width if self.width else 0


def parse(body: bytes) -> Page:
    """The page in a successful ``Query`` response body."""
    text = body.decode("utf-8")
    page = _parse_compact(text)
    return page if page is not None else _parse_json(json.loads(text))


def from_parsed(response: Mapping[str, Any]) -> Page:
    """The page in a response botocore already parsed (clients without the fast path, stubs)."""
    fast = response.get(PAGE_KEY)
    return fast if isinstance(fast, Page) else _parse_json(response)


def _parse_compact(text: str) -> Page | None:
    """The page of a body whose rows are compact (no whitespace between tokens), or None for the json path.

    Everything but the rows is small and goes through ``json``; a wrong guess of where the rows
    end leaves that text invalid, so any doubt ends on the json path.
    """
    key = text.find(_ROWS_KEY)
    opened = _ROWS_OPEN.match(text, key) if key >= 0 else None
    end = text.rfind(_ROWS_END) + len(_ROWS_END)
    if opened is None or end <= opened.end():
        return None
    rows = text[opened.end() - 1 : end]
    try:
        envelope = json.loads(text[:key] + '"Rows":[]' + text[end:])
    except ValueError:
        return None
    if not isinstance(envelope, dict) or not _all_scalar(envelope.get("ColumnInfo") or ()):
        return None
    page = _parse_json(envelope)
    page.cells = _cells(rows)
    page.rows = rows.count(_ROW)
    return page if len(page.cells) == page.rows * page.width else None


def _cells(rows: str) -> list[str]:
    if "\\" not in rows:
        return _CELL.findall(rows)
    return [_unescape(cell) if "\\" in cell else cell for cell in _ESCAPED_CELL.findall(rows)]


def _all_scalar(column_info: Any) -> bool:
    return all(isinstance(c, dict) and "ScalarType" in (c.get("Type") or {}) for c in column_info)


def _parse_json(response: Mapping[str, Any]) -> Page:
    columns = [str(info.get("Name", "")) for info in response.get("ColumnInfo", ())]
    rows = response.get("Rows", ())
    width = len(columns) or (len(rows[0]["Data"]) if rows else 0)  # a page may omit ColumnInfo
    cells: list[str] = []
    for row in rows:
        data = row["Data"]
        if len(data) != width:
            raise ValueError("a Query page row has a different number of cells than columns")
        cells.extend(_scalar(cell) for cell in data)
    status = response.get("QueryStatus") or {}
    return Page(
        columns,
        cells,
        width,
        response.get("QueryId"),
        response.get("NextToken") or None,
        int(status.get("CumulativeBytesScanned") or 0),
        int(status.get("CumulativeBytesMetered") or 0),
    )


def _scalar(cell: dict[str, Any]) -> str:
    if "ScalarValue" in cell:
        return str(cell["ScalarValue"])
    if cell.get("NullValue"):
        return ""
    raise ValueError("the connector selects scalar columns only; Timestream returned a nested value")


def _unescape(text: str) -> str:
    return json.loads(f'"{text}"') if "\\" in text else text  # type: ignore[no-any-return]


# --- botocore hook ------------------------------------------------------------------------------

PAGE_KEY = "ConnectorPage"


def _before_parse(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """Parse a successful page ourselves and leave botocore an empty body to parse."""
    if response_dict.get("status_code") != 200:
        return  # errors keep botocore's parsing: codes, messages and modeled fields
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray):
        return
    page = parse(bytes(body))
    customized_response_dict[PAGE_KEY] = page
    if page.query_id:
        customized_response_dict["QueryId"] = page.query_id
    if page.next_token:
        customized_response_dict["NextToken"] = page.next_token
    response_dict["body"] = b"{}"


def install(client: Any) -> Any:
    """Route ``client``'s Query pages through ``parse`` (botocore's ``before-parse`` event)."""
    client.meta.events.register("before-parse.timestream-query.Query", _before_parse)
    return client
