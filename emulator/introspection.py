"""``DESCRIBE`` and ``SHOW`` statements, answered from the catalog in Timestream's shape."""

from __future__ import annotations

from typing import Any

from emulator.dialect import Statement, like_to_regex, quote_ident
from emulator.errors import ApiError, validation
from emulator.store import VALUE_COLUMN, Store, TableInfo

_VARCHAR = {"ScalarType": "VARCHAR"}
_DIMENSIONS_TYPE = {
    "ArrayColumnInfo": {
        "Type": {
            "RowColumnInfo": [{"Name": "dimension_name", "Type": _VARCHAR}, {"Name": "data_type", "Type": _VARCHAR}]
        }
    }
}

Rows = list[tuple[Any, ...]]
Columns = list[dict[str, Any]]


def run(store: Store, statement: Statement) -> tuple[Columns, Rows]:
    """Column info and raw rows for a classified DESCRIBE/SHOW statement."""
    if statement.kind == "describe":
        return describe(_table(store, statement))
    if statement.kind == "show_measures":
        return show_measures(store, _table(store, statement), statement.like)
    if statement.kind == "show_tables":
        return show_tables(store, statement.database, statement.like)
    return _named_list("Database", [d.name for d in store.databases()], statement.like)


def _table(store: Store, statement: Statement) -> TableInfo:
    """Queries report unknown names as ``ValidationException``, unlike the write API."""
    try:
        return store.table(statement.database, statement.table)
    except ApiError as error:
        raise validation(f"line 1:1: {error.message.rstrip('.')}") from None


def describe(table: TableInfo) -> tuple[Columns, Rows]:
    """Columns ``Column``, ``Type``, ``Timestream attribute type``, in ``SELECT *`` order."""
    rows: Rows = [(name, "varchar", "DIMENSION") for name in table.dimensions]
    rows += [("measure_name", "varchar", "MEASURE_NAME"), ("time", "timestamp", "TIMESTAMP")]
    rows += [(column, column.split("::", 1)[1], "MEASURE_VALUE") for column in table.value_columns]
    names = ("Column", "Type", "Timestream attribute type")
    return [{"Name": name, "Type": _VARCHAR} for name in names], rows


def show_measures(store: Store, table: TableInfo, like: str | None) -> tuple[Columns, Rows]:
    """One row per (measure name, data type) with the dimensions its records carry."""
    flags = "".join(f", bool_or({quote_ident(d)} IS NOT NULL)" for d in table.dimensions)
    cursor = store.read_cursor()
    try:
        found = cursor.execute(
            f"SELECT measure_name, lower(split_part({quote_ident(VALUE_COLUMN)}, ':', 1)){flags} "
            f"FROM {table.physical} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        cursor.close()
    pattern = like_to_regex(like) if like is not None else None
    rows: Rows = []
    for measure, data_type, *present in found:
        if pattern is None or pattern.fullmatch(measure):
            dims = [
                {"dimension_name": d, "data_type": "varchar"}
                for d, used in zip(table.dimensions, present, strict=True)
                if used
            ]
            rows.append((measure, data_type, dims))
    columns = [{"Name": "measure_name", "Type": _VARCHAR}, {"Name": "data_type", "Type": _VARCHAR}]
    return [*columns, {"Name": "dimensions", "Type": _DIMENSIONS_TYPE}], rows


def show_tables(store: Store, database: str, like: str | None) -> tuple[Columns, Rows]:
    """Tables of one database, or of all when none is named."""
    if database:
        try:
            store.database(database)
        except ApiError as error:
            raise validation(f"line 1:1: {error.message.rstrip('.')}") from None
    names = [t.name for t in store.tables(database or None)]
    return _named_list("Table", names, like)


def _named_list(column: str, names: list[str], like: str | None) -> tuple[Columns, Rows]:
    pattern = like_to_regex(like) if like is not None else None
    rows: Rows = [(name,) for name in names if pattern is None or pattern.fullmatch(name)]
    return [{"Name": column, "Type": _VARCHAR}], rows
