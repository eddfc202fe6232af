"""Timestream SQL on DuckDB: the few rewrites and functions that make the dialects meet.

Timestream's query language is close to DuckDB's: quoted identifiers, ``''`` string escapes,
``"db"."tbl"`` names and ``"measure_value::double"`` columns all work unchanged. What differs:
bare duration literals (``ago(1h)``, ``bin(time, 1m)``), a handful of functions, and that a
Timestream query can never modify data. A tokenizer that understands strings, quoted
identifiers and comments does the rewrites, so nothing inside a literal is ever touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from emulator.errors import validation

MAX_QUERY_CHARS = 262_144
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<comment>--[^\n]*|/\*.*?\*/)
    |(?P<string>'(?:[^']|'')*')
    |(?P<ident>"(?:[^"]|"")*")
    |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<other>.)""",
    re.S | re.X,
)
_DURATION_MICROS: dict[str, Decimal] = {
    "ns": Decimal("0.001"),
    "us": Decimal(1),
    "ms": Decimal(1000),
    "s": Decimal(10**6),
    "m": Decimal(60 * 10**6),
    "h": Decimal(3600 * 10**6),
    "d": Decimal(86400 * 10**6),
}

# Timestream functions that DuckDB lacks (or names differently), as macros in the main schema.
FUNCTIONS = {
    "now()": "CAST(CAST(get_current_timestamp() AS TIMESTAMP) AS TIMESTAMP_NS)",
    "from_milliseconds(x)": "make_timestamp_ns(CAST(x AS BIGINT) * 1000000)",
    "from_nanoseconds(x)": "make_timestamp_ns(CAST(x AS BIGINT))",
    "from_unixtime(x)": "make_timestamp_ns(CAST(round(x * 1000000000) AS BIGINT))",
    "to_milliseconds(t)": "epoch_ms(CAST(t AS TIMESTAMP_NS))",
    "to_nanoseconds(t)": "epoch_ns(CAST(t AS TIMESTAMP_NS))",
    "to_unixtime(t)": "epoch_ns(CAST(t AS TIMESTAMP_NS)) / 1e9",
    # Java names Unicode scripts \p{IsGreek}; RE2 calls them \p{Greek}.
    "regexp_like(s, p)": r"regexp_matches(s, regexp_replace(p, '\\([pP])\{Is', '\\\1{', 'g'))",
    "ago(i)": "CAST(now() - i AS TIMESTAMP_NS)",
    "bin(t, i)": "CAST(time_bucket(i, CAST(t AS TIMESTAMP), TIMESTAMP '1970-01-01') AS TIMESTAMP_NS)",
}


@dataclass(frozen=True)
class Token:
    """One lexical token of a query."""

    kind: str
    text: str


@dataclass(frozen=True)
class Statement:
    """A classified query: ``kind`` is select, describe, show_measures, show_tables or show_databases."""

    kind: str
    sql: str = ""
    database: str = ""
    table: str = ""
    like: str | None = None


def install_functions(connection: duckdb.DuckDBPyConnection) -> None:
    """Create (or refresh) the Timestream function macros; run once per store start."""
    for signature, body in FUNCTIONS.items():
        connection.execute(f"CREATE OR REPLACE MACRO main.{signature} AS {body}")


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (and Timestream) SQL."""
    return '"' + name.replace('"', '""') + '"'


def tokenize(sql: str) -> list[Token]:
    """Split a query into tokens; whitespace and comments are kept so text can be rebuilt."""
    return [Token(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(sql)]


def _significant(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind not in ("space", "comment")]


def classify(sql: str) -> Statement:
    """Decide what a query is, refusing anything that is not a read."""
    if not sql.strip() or len(sql) > MAX_QUERY_CHARS:
        raise validation(f"QueryString must be 1 to {MAX_QUERY_CHARS} characters long.")
    tokens = tokenize(sql)
    words = _significant(tokens)
    _refuse_multiple_statements(words)
    first = next((t.text.upper() for t in words if t.text != "("), "")
    if first in ("SELECT", "WITH"):
        return Statement("select", sql=translate(tokens))
    if first in ("DESCRIBE", "SHOW"):
        return _meta_statement([t for t in words if t.text != ";"])
    raise validation("Only SELECT, WITH, DESCRIBE and SHOW statements are supported; queries cannot modify data.")


def _refuse_multiple_statements(words: list[Token]) -> None:
    for i, token in enumerate(words):
        if token.text == ";" and any(t.text != ";" for t in words[i + 1 :]):
            raise validation("Only one statement per query is supported.")


def translate(tokens: list[Token]) -> str:
    """Rewrite duration literals and ``current_timestamp``; everything else passes through."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        unit = tokens[i + 1] if i + 1 < len(tokens) else None
        if (
            token.kind == "number"
            and unit is not None
            and unit.kind == "word"
            and unit.text.lower() in _DURATION_MICROS
        ):
            out.append(_interval(token.text, unit.text.lower()))
            i += 2
            continue
        if token.kind == "word" and token.text.lower() == "current_timestamp":
            out.append("now()")
        elif token.text != ";":
            out.append(token.text)
        i += 1
    return "".join(out).strip()


def _interval(number: str, unit: str) -> str:
    micros = int(Decimal(number) * _DURATION_MICROS[unit])
    return f"INTERVAL '{micros} microseconds'"


def _meta_statement(words: list[Token]) -> Statement:
    """Parse ``DESCRIBE db.tbl`` and ``SHOW MEASURES|TABLES|DATABASES [FROM ...] [LIKE '...']``."""
    texts = [t.text.upper() for t in words]
    if texts[0] == "DESCRIBE":
        database, table, rest = _qualified_name(words[1:])
        _expect_end(rest)
        return Statement("describe", database=database, table=table)
    what = texts[1] if len(texts) > 1 else ""
    rest = words[2:]
    if what == "MEASURES" and rest and rest[0].text.upper() == "FROM":
        database, table, rest = _qualified_name(rest[1:])
        return Statement("show_measures", database=database, table=table, like=_like(rest))
    if what == "TABLES":
        database = ""
        if rest and rest[0].text.upper() in ("FROM", "IN") and len(rest) > 1:
            database, rest = _identifier(rest[1]), rest[2:]
        return Statement("show_tables", database=database, like=_like(rest))
    if what == "DATABASES":
        return Statement("show_databases", like=_like(rest))
    raise validation(
        'Unsupported statement: use DESCRIBE "db"."tbl", SHOW MEASURES FROM "db"."tbl", '
        "SHOW TABLES [FROM db] or SHOW DATABASES."
    )


def _identifier(token: Token) -> str:
    if token.kind == "ident":
        return token.text[1:-1].replace('""', '"')
    if token.kind == "word":
        return token.text
    raise validation(f"line 1: mismatched input '{token.text}'. Expecting an identifier.")


def _qualified_name(words: list[Token]) -> tuple[str, str, list[Token]]:
    if len(words) < 3 or words[1].text != ".":
        raise validation('Expected a table name of the form "database"."table".')
    return _identifier(words[0]), _identifier(words[2]), words[3:]


def _like(rest: list[Token]) -> str | None:
    if not rest:
        return None
    if len(rest) == 2 and rest[0].text.upper() == "LIKE" and rest[1].kind == "string":
        return rest[1].text[1:-1].replace("''", "'")
    raise validation(f"line 1: mismatched input '{rest[0].text}'. Expecting LIKE '<pattern>'.")


def _expect_end(rest: list[Token]) -> None:
    if rest:
        raise validation(f"line 1: extraneous input '{rest[0].text}'.")


def like_to_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%`` and ``_``) as a compiled anchored regular expression."""
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.S)
