"""Loading tables into the local MaxCompute from CSV and JSON Lines files, and the demo tables.

A ``.csv`` file has a header row of column names; an empty cell is NULL. A ``.jsonl`` (or ``.ndjson``) file
has one JSON object a line; its columns are the keys in the order first seen, and a missing key is NULL.
Column types not given are inferred from the values: ``bigint``, ``double``, ``boolean``, ``datetime``
(``YYYY-MM-DD HH:MM:SS``) or, failing all of those, ``string``. The whole file is read and checked before
the catalog changes, so a bad line leaves any existing table as it was; the ValueError names the file, the
line and the column.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .catalog import Catalog, Column, TableSchema
from .datatypes import parse_type, to_storage

CSV_SUFFIXES = frozenset([".csv"])
JSONL_SUFFIXES = frozenset([".jsonl", ".ndjson"])

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_BOOLEAN = frozenset(["true", "false"])
_BIGINT_LIMIT = 2**63


@dataclass(frozen=True)
class _Cell:
    line: int
    value: Any  # text from CSV, a JSON scalar from JSON Lines, None for NULL


def load_table(catalog: Catalog, project: str, name: str, path: Path,
               types: Optional[Mapping[str, str]] = None, replace: bool = False) -> TableSchema:
    """Create table ``name`` in ``project`` (created if missing) from ``path`` and return its schema.

    ``types`` maps column names to MaxCompute types for the columns whose type should not be inferred.
    An existing table is an error unless ``replace``, which drops it once the whole file has checked out.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        names, rows = _read_csv(path)
    elif suffix in JSONL_SUFFIXES:
        names, rows = _read_jsonl(path)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv (with a header row) "
                         "or .jsonl (one JSON object a line)")
    lowered = [column.lower() for column in names]
    explicit = {column.lower(): type_name for column, type_name in (types or {}).items()}
    unknown = sorted(set(explicit) - set(lowered))
    if unknown:
        raise ValueError(f"{path}: --types names {', '.join(repr(column) for column in unknown)}, which "
                         f"{'is' if len(unknown) == 1 else 'are'} not among the file's columns "
                         f"({', '.join(lowered)})")
    columns = []
    for index, column in enumerate(lowered):
        cells = [row[index] for row in rows]
        if column in explicit:
            try:
                type_name = parse_type(explicit[column]).name
            except ValueError as error:
                raise ValueError(f"{path}: column {column!r}: {error}") from None
        else:
            type_name = _infer(cells)
        columns.append(Column(column, type_name))
    stored = [[_convert(path, cell, column) for cell, column in zip(row, columns)] for row in rows]

    if not catalog.project_exists(project):
        catalog.create_project(project)
    if catalog.get_table(project, name) is not None:
        if not replace:
            raise ValueError(f"table {project}.{name.lower()} already exists; replace it with --replace")
        catalog.drop_table(project, name)
    schema = catalog.create_table(project, name, columns, comment=f"loaded from {path.name}")
    catalog.insert_rows(project, name, stored)
    return schema


def create_demo_tables(catalog: Catalog, project: str) -> list[str]:
    """The demo tables, each created only if missing: ``iris`` and ``sales`` (partitioned by ``ds``).

    Returns the names of the tables created now (an empty list when they were all there).
    """
    if not catalog.project_exists(project):
        catalog.create_project(project)
    created = []
    if catalog.get_table(project, "iris") is None:
        catalog.create_table(project, "iris", IRIS_COLUMNS, comment="Fisher's iris flowers, a sample of 20")
        catalog.insert_rows(project, "iris", IRIS_ROWS)
        created.append("iris")
    if catalog.get_table(project, "sales") is None:
        catalog.create_table(project, "sales", SALES_COLUMNS, partitions=[("ds", "string", "sale date, yyyymmdd")],
                             comment="Orders of a small shop, one partition a day")
        catalog.insert_rows(project, "sales", SALES_ROWS)
        created.append("sales")
    return created


def _read_csv(path: Path) -> tuple[list[str], list[list[_Cell]]]:
    with _open(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: the file is empty; a CSV file starts with a header row") from None
        except csv.Error as error:
            raise ValueError(f"{path}: line 1: {error}") from None
        names = _column_names(path, [name.strip() for name in header])
        rows = []
        try:
            for fields in reader:
                if not fields:
                    continue
                if len(fields) != len(names):
                    raise ValueError(f"{path}: line {reader.line_num}: expected {len(names)} fields "
                                     f"({', '.join(names)}), got {len(fields)}")
                rows.append([_Cell(reader.line_num, field if field != "" else None) for field in fields])
        except csv.Error as error:
            raise ValueError(f"{path}: line {reader.line_num}: {error}") from None
    return names, rows


def _read_jsonl(path: Path) -> tuple[list[str], list[list[_Cell]]]:
    objects: list[tuple[int, dict[str, Any]]] = []
    names: dict[str, None] = {}  # insertion-ordered set
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {number}: invalid JSON: {error.msg} (column {error.colno})") \
                    from None
            if not isinstance(item, dict):
                raise ValueError(f"{path}: line {number}: expected a JSON object, got {type(item).__name__}")
            for key, value in item.items():
                if isinstance(value, (dict, list)):
                    raise ValueError(f"{path}: line {number}, column {key!r}: nested values are not supported; "
                                     "flatten them or store them as JSON text")
                names.setdefault(key, None)
            objects.append((number, item))
    if not names:
        raise ValueError(f"{path}: no JSON objects with keys; nothing to make columns of")
    ordered = _column_names(path, list(names))
    rows = [[_Cell(number, item.get(key)) for key in names] for number, item in objects]
    return ordered, rows


def _open(path: Path) -> Any:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None


def _column_names(path: Path, names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    for index, name in enumerate(names, start=1):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
            raise ValueError(f"{path}: column {index} has the invalid name {name!r}: use letters, digits and "
                             "underscores, not starting with a digit")
        if name.lower() in seen:
            raise ValueError(f"{path}: column {name!r} appears twice")
        seen.add(name.lower())
    return list(names)


def _infer(cells: list[_Cell]) -> str:
    """The narrowest type every non-NULL value of a column fits."""
    values = [cell.value for cell in cells if cell.value is not None]
    if not values:
        return "string"
    if all(_is_integer(value) for value in values):
        return "bigint"
    if all(_is_number(value) for value in values):
        return "double"
    if all(isinstance(value, bool) or isinstance(value, str) and value.strip().lower() in _BOOLEAN
           for value in values):
        return "boolean"
    if all(isinstance(value, str) and _DATETIME.fullmatch(value.strip()) for value in values):
        return "datetime"
    return "string"


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_BIGINT_LIMIT <= value < _BIGINT_LIMIT
    return isinstance(value, str) and bool(_INTEGER.fullmatch(value.strip())) \
        and -_BIGINT_LIMIT <= int(value) < _BIGINT_LIMIT


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or isinstance(value, str) and bool(_DECIMAL.fullmatch(value.strip()))


def _convert(path: Path, cell: _Cell, column: Column) -> Any:
    value = cell.value
    if column.column_type.base in ("string", "varchar", "char") and value is not None and not isinstance(value, str):
        value = json.dumps(value)  # a JSON number or boolean in a string column keeps its JSON spelling
    try:
        return to_storage(value, column.column_type)
    except ValueError as error:
        raise ValueError(f"{path}: line {cell.line}, column {column.name!r} ({column.type}): {error}") from None


IRIS_COLUMNS = [
    ("sepal_length", "double", "sepal length, cm"),
    ("sepal_width", "double", "sepal width, cm"),
    ("petal_length", "double", "petal length, cm"),
    ("petal_width", "double", "petal width, cm"),
    ("species", "string", "setosa, versicolor or virginica"),
]
IRIS_ROWS = [
    (5.1, 3.5, 1.4, 0.2, "setosa"), (4.9, 3.0, 1.4, 0.2, "setosa"), (4.7, 3.2, 1.3, 0.2, "setosa"),
    (4.6, 3.1, 1.5, 0.2, "setosa"), (5.0, 3.6, 1.4, 0.2, "setosa"), (5.4, 3.9, 1.7, 0.4, "setosa"),
    (4.6, 3.4, 1.4, 0.3, "setosa"),
    (7.0, 3.2, 4.7, 1.4, "versicolor"), (6.4, 3.2, 4.5, 1.5, "versicolor"), (6.9, 3.1, 4.9, 1.5, "versicolor"),
    (5.5, 2.3, 4.0, 1.3, "versicolor"), (6.5, 2.8, 4.6, 1.5, "versicolor"), (5.7, 2.8, 4.5, 1.3, "versicolor"),
    (6.3, 3.3, 6.0, 2.5, "virginica"), (5.8, 2.7, 5.1, 1.9, "virginica"), (7.1, 3.0, 5.9, 2.1, "virginica"),
    (6.3, 2.9, 5.6, 1.8, "virginica"), (6.5, 3.0, 5.8, 2.2, "virginica"), (7.6, 3.0, 6.6, 2.1, "virginica"),
    (4.9, 2.5, 4.5, 1.7, "virginica"),
]
SALES_COLUMNS = [
    ("order_id", "bigint", "order number"),
    ("product", "string", "product name"),
    ("quantity", "bigint", "items sold"),
    ("price", "decimal(10,2)", "unit price, CNY"),
    ("sold_at", "datetime", "time of the sale"),
]
SALES_ROWS = [
    (1001, "tea", 2, "12.50", "2024-01-01 09:15:00", "20240101"),
    (1002, "coffee", 1, "18.00", "2024-01-01 10:02:30", "20240101"),
    (1003, "cake", 3, "9.90", "2024-01-01 16:45:10", "20240101"),
    (1004, "tea", 1, "12.50", "2024-01-02 08:30:00", "20240102"),
    (1005, "juice", 4, "7.20", "2024-01-02 12:10:45", "20240102"),
    (1006, "coffee", 2, "18.00", "2024-01-02 19:55:05", "20240102"),
]
