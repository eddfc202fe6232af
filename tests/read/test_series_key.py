"""The series key: built by a SQL engine from label columns, decoded back to exactly those values."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.timestream import series_key

values = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["|", "\\", "\\p", "a|b\\", "\\\\|", "p|"]))


@pytest.fixture(scope="module")
def engine() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@settings(max_examples=200, derandomize=True, deadline=None)
@given(row=st.lists(values, min_size=1, max_size=6))
def test_keys_built_in_sql_decode_to_the_column_values(
    engine: duckdb.DuckDBPyConnection, row: list[str | None]
) -> None:
    columns = [f"c{i}" for i in range(len(row))]
    select = ", ".join(f"?::VARCHAR AS {c}" for c in columns)
    sql = f"SELECT {series_key.key_expression(columns).sql()} FROM (SELECT {select})"
    ((key,),) = engine.execute(sql, row).fetchall()
    assert series_key.decode(key) == [value or "" for value in row]
    assert series_key.encode(row) == key


def test_distinct_rows_have_distinct_keys() -> None:
    assert "|".join(["a|", "b"]) == "|".join(["a", "|b"])  # plain joining would collide
    expression = series_key.key_expression(["x", "y"]).sql()
    engine = duckdb.connect()
    keys = {engine.execute(f"SELECT {expression} FROM (SELECT ? AS x, ? AS y)", pair).fetchone()[0]
            for pair in (["a|", "b"], ["a", "|b"])}  # fmt: skip
    assert len(keys) == 2


def test_an_unknown_escape_is_refused() -> None:
    with pytest.raises(ValueError, match="escape"):
        series_key.decode("m|a\\x")
