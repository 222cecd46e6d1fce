"""Projects, tables and their rows on local disk, in one SQLite database.

``<root>/catalog.sqlite3`` holds the metadata (projects; tables with their comment, columns and partition keys)
and one real SQLite table per MaxCompute table, ``data_<id>``, whose columns are the table's columns followed
by its partition keys, under their own (lower-case, validated, always quoted) names. Keeping the rows in real
tables is what lets :meth:`Catalog.execute_select` run a SELECT with SQLite (see :mod:`.sql`); the rowid
keeps insertion order, which is the order the tunnel serves rows in. A partition exists when it holds rows or
was created empty (``ALTER TABLE ... ADD PARTITION``, a tunnel upload): those are listed in ``partitions``.

One connection writes, under a lock, in short transactions. SELECTs written by callers run on a second,
read-only connection with a time limit, so that no statement can change the catalog or run for ever. WAL
mode lets another process (``eas-devkit local load-table``) load a table while the local service runs.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union
from urllib.parse import quote

from .datatypes import ColumnType, from_storage, infer_type, parse_type, to_storage
from .errors import already_exists, semantic_error, table_not_found
from .sql import (
    AlterPartitions,
    CompiledQuery,
    Query,
    StoredTable,
    compile_query,
    parse_statement,
    quote_identifier,
    sqlite_error,
)

DATABASE_NAME = "catalog.sqlite3"
READ_BATCH = 1000
DEFAULT_QUERY_TIMEOUT = 30.0
PARTITION_TYPES = frozenset(["string", "varchar", "char", "tinyint", "smallint", "int", "bigint"])

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")  # table and column names
_PROJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,27}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    comment TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tables (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the rows live in data_<id>
    project TEXT NOT NULL REFERENCES projects (name),
    name TEXT NOT NULL,
    comment TEXT NOT NULL,
    columns TEXT NOT NULL,                  -- JSON [[name, type, comment], ...]
    partitions TEXT NOT NULL,               -- the same, for the partition keys
    created REAL NOT NULL,
    modified REAL NOT NULL,
    UNIQUE (project, name)
);
CREATE TABLE IF NOT EXISTS partitions (
    table_id INTEGER NOT NULL,
    spec TEXT NOT NULL,                     -- JSON [value, ...] in partition key order, as stored
    created REAL NOT NULL,
    PRIMARY KEY (table_id, spec)
);
"""


class CatalogError(Exception):
    """Something the catalog cannot do, said in words a person can act on."""


class NotFound(CatalogError, LookupError):
    pass


class AlreadyExists(CatalogError):
    pass


class InvalidValue(CatalogError, ValueError):
    """A value that does not fit its column (the message names the row or partition key)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # canonical MaxCompute type name: bigint, decimal(10,2), varchar(32)...
    comment: str = ""

    @property
    def column_type(self) -> ColumnType:
        return parse_type(self.type)


@dataclass(frozen=True)
class Project:
    name: str
    comment: str
    created: float


ColumnSpec = Union[Column, Sequence[str], Mapping[str, str]]
"""A column as callers may give it: a :class:`Column`, ``(name, type[, comment])`` or a mapping of those."""


@dataclass(frozen=True)
class TableSchema:
    """A table's metadata. ``columns`` are the data columns; ``partitions`` the partition keys."""

    project: str
    name: str
    comment: str
    columns: tuple[Column, ...]
    partitions: tuple[Column, ...]
    created: float
    modified: float
    table_id: int

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Data columns then partition keys: the order of ``SELECT *`` and of rows given as sequences."""
        return self.columns + self.partitions

    def column(self, name: str) -> Optional[Column]:
        wanted = name.lower()
        return next((column for column in self.all_columns if column.name == wanted), None)

    def is_partition(self, name: str) -> bool:
        return any(column.name == name.lower() for column in self.partitions)

    @property
    def storage_table(self) -> str:
        """The quoted name of the SQLite table holding the rows."""
        return quote_identifier(f"data_{self.table_id}")

    @property
    def rowid(self) -> str:
        """A name of SQLite's rowid that no column of this table shadows."""
        names = {column.name for column in self.all_columns}
        return next(alias for alias in ("_rowid_", "rowid", "oid") if alias not in names)


@dataclass(frozen=True)
class SelectPlan:
    """A query with its tables resolved and compiled to SQLite: what :meth:`Catalog.run_select` runs."""

    project: str
    sql: str
    query: CompiledQuery
    tables: tuple[TableSchema, ...]


@dataclass(frozen=True)
class PartitionPlan:
    """A checked ``ALTER TABLE ... ADD|DROP PARTITION``: what :meth:`Catalog.alter_partitions` runs."""

    project: str
    sql: str
    table: TableSchema
    partitions: tuple[dict[str, str], ...]
    action: str  # "add" or "drop"
    conditional: bool  # IF NOT EXISTS (add) or IF EXISTS (drop)


@dataclass(frozen=True)
class PartitionInfo:
    """An existing partition: its values by key and when it was created (the table's creation, for one that
    only holds rows loaded with the table)."""

    values: dict[str, str]
    created: float


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]


class Catalog:
    """The local MaxCompute's projects and tables under ``root``; safe to share between threads."""

    def __init__(self, root: Path, query_timeout: float = DEFAULT_QUERY_TIMEOUT) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / DATABASE_NAME
        self.query_timeout = query_timeout
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._query_lock = threading.Lock()
        self._query_db = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True,
                                         check_same_thread=False, isolation_level=None)
        self._query_db.execute("PRAGMA busy_timeout=10000")

    def close(self) -> None:
        with self._lock, self._query_lock:
            self._query_db.close()
            self._db.close()

    # Projects

    def create_project(self, name: str, comment: str = "") -> None:
        """Create project ``name`` unless it exists."""
        if not _PROJECT_NAME.fullmatch(name):
            raise ValueError(f"invalid project name {name!r}: 3 to 28 letters, digits or underscores, "
                             "starting with a letter")
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO projects (name, comment, created) VALUES (?, ?, ?)",
                       (name, comment, time.time()))

    def project_exists(self, name: str) -> bool:
        return self.get_project(name) is not None

    def get_project(self, name: str) -> Optional[Project]:
        with self._lock:
            row = self._db.execute("SELECT name, comment, created FROM projects WHERE name = ?", (name,)).fetchone()
        return None if row is None else Project(*row)

    def list_projects(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT name FROM projects ORDER BY name")]

    # Tables

    def create_table(self, project: str, name: str, columns: Iterable[ColumnSpec],
                     partitions: Iterable[ColumnSpec] = (), comment: str = "") -> TableSchema:
        """Create an empty table. Names are case-insensitive and kept in lower case, as MaxCompute does."""
        name = _check_name(name, "table")
        data_columns = tuple(_column(spec) for spec in columns)
        partition_keys = tuple(_column(spec) for spec in partitions)
        if not data_columns:
            raise ValueError(f"table {name!r} needs at least one column")
        seen: set[str] = set()
        for column in data_columns + partition_keys:
            if column.name in seen:
                raise ValueError(f"table {name!r}: column {column.name!r} is defined twice")
            seen.add(column.name)
        for key in partition_keys:
            if key.column_type.base not in PARTITION_TYPES:
                raise ValueError(f"table {name!r}: partition key {key.name!r} cannot be {key.type}; "
                                 f"use one of {', '.join(sorted(PARTITION_TYPES))}")
        now = time.time()
        with self._transaction() as db:
            self._require_project(db, project)
            if self._table_row(db, project, name) is not None:
                raise AlreadyExists(f"table {project}.{name} already exists")
            cursor = db.execute(
                "INSERT INTO tables (project, name, comment, columns, partitions, created, modified)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (project, name, comment, _columns_json(data_columns), _columns_json(partition_keys), now, now))
            table_id = cursor.lastrowid
            assert table_id is not None
            definitions = ", ".join(f"{quote_identifier(column.name)} {column.column_type.sqlite_declaration}"
                                    for column in data_columns + partition_keys)
            db.execute(f"CREATE TABLE {quote_identifier(f'data_{table_id}')} ({definitions})")
        return TableSchema(project, name, comment, data_columns, partition_keys, now, now, table_id)

    def drop_table(self, project: str, name: str) -> bool:
        """Drop the table and its rows; False when there was no such table."""
        with self._transaction() as db:
            row = self._table_row(db, project, name.lower())
            if row is None:
                return False
            db.execute("DELETE FROM tables WHERE id = ?", (row[0],))
            db.execute("DELETE FROM partitions WHERE table_id = ?", (row[0],))
            db.execute(f"DROP TABLE IF EXISTS {quote_identifier(f'data_{row[0]}')}")
        return True

    def get_table(self, project: str, name: str) -> Optional[TableSchema]:
        with self._lock:
            row = self._table_row(self._db, project, name.lower())
        return None if row is None else _schema_from_row(project, row)

    def list_tables(self, project: str, prefix: str = "", marker: str = "",
                    max_items: int = 100) -> tuple[list[str], str]:
        """One page of table names in name order, after ``marker``; the marker of the next page, or ""."""
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        prefix = prefix.lower()
        with self._lock:
            self._require_project(self._db, project)
            names = [row[0] for row in self._db.execute(
                "SELECT name FROM tables WHERE project = ? AND name > ? AND substr(name, 1, ?) = ?"
                " ORDER BY name LIMIT ?", (project, marker, len(prefix), prefix, max_items + 1))]
        if len(names) > max_items:
            return names[:max_items], names[max_items - 1]
        return names, ""

    # Rows

    def insert_rows(self, project: str, table: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> int:
        """Append rows; each a mapping by column name or a sequence in :attr:`TableSchema.all_columns` order.

        Values are Python values or text (``"2024-01-31 12:00:00"`` for a datetime). Nothing is written
        when any value does not fit its column: the ValueError names the row and the column.
        """
        schema = self._schema(project, table)
        columns = schema.all_columns
        stored = []
        for number, row in enumerate(rows, start=1):
            values = _row_values(row, schema, number)
            for column, value in zip(columns, values):
                if value is None and schema.is_partition(column.name):
                    raise InvalidValue(f"row {number}: partition key {column.name!r} cannot be NULL")
            stored.append(stored_row(columns, values, number))
        placeholders = ", ".join("?" for _ in columns)
        names = ", ".join(quote_identifier(column.name) for column in columns)
        with self._transaction() as db:
            if self._table_row(db, project, schema.name) is None:
                raise NotFound(f"table {project}.{schema.name} was dropped")
            db.executemany(f"INSERT INTO {schema.storage_table} ({names}) VALUES ({placeholders})", stored)
            db.execute("UPDATE tables SET modified = ? WHERE id = ?", (time.time(), schema.table_id))
        return len(stored)

    def write_rows(self, schema: TableSchema, rows: Sequence[Sequence[Any]], *,
                   partition: Optional[Mapping[str, str]] = None, overwrite: bool = False) -> int:
        """Append (or with ``overwrite``, replace the table's or partition's rows with) ``rows`` in one transaction.

        ``rows`` hold the data columns as :func:`stored_row` returns them; a partitioned table needs its whole
        ``partition``, which then exists even if ``rows`` is empty. Refused if the table was dropped or
        replaced since ``schema`` was read.
        """
        values = self._partition_values(schema, partition) if schema.partitions else []
        where, parameters = _partition_filter(schema, partition)
        columns = schema.columns + (schema.partitions if values else ())
        names = ", ".join(quote_identifier(column.name) for column in columns)
        placeholders = ", ".join("?" for _ in columns)
        with self._transaction() as db:
            self._require_current(db, schema)
            if overwrite:
                db.execute(f"DELETE FROM {schema.storage_table}{where}", parameters)
            if values:
                self._record_partition(db, schema, values)
            db.executemany(f"INSERT INTO {schema.storage_table} ({names}) VALUES ({placeholders})",
                           (list(row) + values for row in rows))
            db.execute("UPDATE tables SET modified = ? WHERE id = ?", (time.time(), schema.table_id))
        return len(rows)

    # Partitions

    def get_partition(self, schema: TableSchema, partition: Mapping[str, str]) -> Optional[PartitionInfo]:
        """The partition named by ``partition`` (every key of the table), if it was created or holds rows."""
        values = self._partition_values(schema, partition)
        where, parameters = _partition_filter(schema, partition)
        with self._lock:
            created = self._db.execute("SELECT created FROM partitions WHERE table_id = ? AND spec = ?",
                                       (schema.table_id, json.dumps(values))).fetchone()
            if created is None and self._db.execute(f"SELECT 1 FROM {schema.storage_table}{where} LIMIT 1",
                                                    parameters).fetchone() is None:
                return None
        return PartitionInfo({key.name: str(value) for key, value in zip(schema.partitions, values)},
                             schema.created if created is None else created[0])

    def alter_partitions(self, plan: PartitionPlan) -> None:
        """Create or drop the plan's partitions (a dropped one with its rows); SqlError, with nothing changed, if
        one to add exists or one to drop does not, unless the statement says IF [NOT] EXISTS."""
        for partition in plan.partitions:
            exists = self.get_partition(plan.table, partition) is not None
            if exists == (plan.action == "add") and not plan.conditional:
                spec = ",".join(f"{key}='{value}'" for key, value in partition.items())
                if exists:
                    raise already_exists(f"partition {spec} already exists in table {plan.project}.{plan.table.name}")
                raise semantic_error(f"partition {spec} does not exist in table {plan.project}.{plan.table.name}")
        for partition in plan.partitions:
            if plan.action == "add":
                self.create_partition(plan.table, partition)
            else:
                self.drop_partition(plan.table, partition)

    def drop_partition(self, schema: TableSchema, partition: Mapping[str, str]) -> None:
        """Drop the partition and its rows (nothing happens if it does not exist)."""
        values = self._partition_values(schema, partition)
        where, parameters = _partition_filter(schema, partition)
        with self._transaction() as db:
            self._require_current(db, schema)
            db.execute("DELETE FROM partitions WHERE table_id = ? AND spec = ?", (schema.table_id, json.dumps(values)))
            db.execute(f"DELETE FROM {schema.storage_table}{where}", parameters)
            db.execute("UPDATE tables SET modified = ? WHERE id = ?", (time.time(), schema.table_id))

    def list_partitions(self, schema: TableSchema, prefix: Optional[Mapping[str, str]] = None) -> list[PartitionInfo]:
        """The table's partitions (created, or holding rows) in key order, those matching ``prefix`` only."""
        keys = [key.name for key in schema.partitions]
        names = ", ".join(quote_identifier(key) for key in keys)
        where, parameters = _partition_filter(schema, prefix)
        with self._lock:
            created = {tuple(json.loads(spec)): when for spec, when in self._db.execute(
                "SELECT spec, created FROM partitions WHERE table_id = ?", (schema.table_id,))}
            with_rows = self._db.execute(f"SELECT DISTINCT {names} FROM {schema.storage_table}{where}",
                                         parameters).fetchall()
        wanted = _partition_filter_values(schema, prefix)
        found = {tuple(row): created.get(tuple(row), schema.created) for row in with_rows}
        for values, when in created.items():
            if all(values[keys.index(key)] == value for key, value in wanted.items()):
                found.setdefault(values, when)
        return [PartitionInfo({key: str(value) for key, value in zip(keys, values)}, when)
                for values, when in sorted(found.items(), key=lambda item: [str(value) for value in item[0]])]

    def create_partition(self, schema: TableSchema, partition: Mapping[str, str]) -> None:
        """Create the (empty) partition unless it exists."""
        values = self._partition_values(schema, partition)
        with self._transaction() as db:
            self._require_current(db, schema)
            self._record_partition(db, schema, values)

    def _require_current(self, db: sqlite3.Connection, schema: TableSchema) -> None:
        """NotFound if the table was dropped or replaced since ``schema`` was read."""
        current = self._table_row(db, schema.project, schema.name)
        if current is None or current[0] != schema.table_id:
            raise NotFound(f"table {schema.project}.{schema.name} was dropped or replaced")

    @staticmethod
    def _record_partition(db: sqlite3.Connection, schema: TableSchema, values: list[Any]) -> None:
        """The partition exists from now on, rows or not (unchanged if it already did)."""
        db.execute("INSERT OR IGNORE INTO partitions (table_id, spec, created) VALUES (?, ?, ?)",
                   (schema.table_id, json.dumps(values), time.time()))

    def row_count(self, project: str, table: str, partition: Optional[Mapping[str, str]] = None) -> int:
        schema = self._schema(project, table)
        where, parameters = _partition_filter(schema, partition)
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM {schema.storage_table}{where}", parameters)
                       .fetchone()[0])

    def read_rows(self, project: str, table: str, start: int = 0, count: Optional[int] = None,
                  columns: Optional[Sequence[str]] = None,
                  partition: Optional[Mapping[str, str]] = None) -> Iterator[tuple[Any, ...]]:
        """Rows ``start`` to ``start + count`` in insertion order, as tuples of the ``columns`` asked for
        (default: all, partition keys last), restricted to ``partition`` (partition key -> value)."""
        schema = self._schema(project, table)
        chosen = self.resolve_columns(schema, columns)
        where, parameters = _partition_filter(schema, partition)
        select = (f"SELECT {', '.join(quote_identifier(column.name) for column in chosen)}"
                  f" FROM {schema.storage_table}{where} ORDER BY {schema.rowid} LIMIT ? OFFSET ?")
        types = [column.column_type for column in chosen]
        return self._read_batches(select, parameters, types, start, count)

    @staticmethod
    def resolve_columns(schema: TableSchema, names: Optional[Sequence[str]]) -> tuple[Column, ...]:
        if not names:
            return schema.all_columns
        chosen = []
        for name in names:
            column = schema.column(name)
            if column is None:
                raise NotFound(f"table {schema.project}.{schema.name} has no column {name!r}")
            chosen.append(column)
        return tuple(chosen)

    # SQL

    def plan(self, project: str, sql: str) -> SelectPlan | PartitionPlan:
        """Parse ``sql`` (a query, or ``ALTER TABLE ... ADD|DROP PARTITION``) and resolve its tables in
        ``project`` (or the project each names). Raises SqlError."""
        statement = parse_statement(sql)
        if isinstance(statement, AlterPartitions):
            return self._plan_partitions(project, sql, statement)
        return self._plan_select(project, sql, statement)

    def plan_select(self, project: str, sql: str) -> SelectPlan:
        """Parse ``sql`` as a SELECT and resolve its table in ``project`` (or the project it names)."""
        plan = self.plan(project, sql)
        if not isinstance(plan, SelectPlan):
            raise semantic_error("a SELECT statement is expected here")
        return plan

    def _plan_select(self, project: str, sql: str, query: Query) -> SelectPlan:
        schemas: dict[tuple[str, str], TableSchema] = {}
        for reference in query.tables:
            table_project = reference.project or project
            table = self.get_table(table_project, reference.name)
            if table is None:
                raise table_not_found(table_project, reference.name, reference.line, reference.column)
            schemas[(table_project, table.name)] = table
        stored = {key: StoredTable(f"data_{table.table_id}", tuple((column.name, column.type)
                                                                    for column in table.all_columns))
                  for key, table in schemas.items()}
        return SelectPlan(project, sql, compile_query(query, project, stored), tuple(schemas.values()))

    def run_select(self, plan: SelectPlan) -> QueryResult:
        """Run a planned SELECT on the read-only connection, within :attr:`query_timeout` seconds."""
        rendered = plan.query.sql
        deadline = time.monotonic() + self.query_timeout
        with self._query_lock:
            self._query_db.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                cursor = self._query_db.execute(rendered)
                rows = cursor.fetchall()
                names = [description[0] for description in cursor.description or ()]
            except sqlite3.OperationalError as error:
                if "interrupted" in str(error):
                    raise semantic_error(f"the query ran longer than {self.query_timeout:g} seconds, the local "
                                         "MaxCompute's limit") from None
                raise sqlite_error(str(error), plan.sql) from None
            except (sqlite3.DatabaseError, OverflowError) as error:
                raise sqlite_error(str(error), plan.sql) from None
            finally:
                self._query_db.set_progress_handler(None, 0)
        columns, decoders = _result_columns(plan, names, rows)
        return QueryResult(columns, [tuple(decode(value) for decode, value in zip(decoders, row)) for row in rows])

    def execute_select(self, project: str, sql: str) -> tuple[tuple[Column, ...], Iterator[tuple[Any, ...]]]:
        """Run a single-table SELECT in ``project``: the result's columns and rows. Raises SqlError."""
        result = self.run_select(self.plan_select(project, sql))
        return result.columns, iter(result.rows)

    def _plan_partitions(self, project: str, sql: str, statement: AlterPartitions) -> PartitionPlan:
        reference = statement.table
        table_project = reference.project or project
        table = self.get_table(table_project, reference.name)
        if table is None:
            raise table_not_found(table_project, reference.name, reference.line, reference.column)
        if not table.partitions:
            raise semantic_error(f"table {table_project}.{table.name} is not partitioned", reference.line,
                                 reference.column)
        keys = [key.name for key in table.partitions]
        partitions = []
        for spec in statement.partitions:
            given = [token.name for token, _ in spec.pairs]
            if sorted(given) != sorted(keys):
                raise semantic_error(f"the partition spec ({', '.join(given)}) must name each partition key of "
                                     f"{table.name} once: {', '.join(keys)}", spec.line, spec.column)
            partition = {token.name: value for token, value in spec.pairs}
            try:
                self._partition_values(table, partition)
            except InvalidValue as error:
                raise semantic_error(str(error), spec.line, spec.column) from None
            partitions.append({key: partition[key] for key in keys})
        return PartitionPlan(table_project, sql, table, tuple(partitions), statement.action, statement.conditional)

    # Internals

    @staticmethod
    def _partition_values(schema: TableSchema, partition: Optional[Mapping[str, str]]) -> list[Any]:
        """The stored value of every partition key, in key order: InvalidValue for a partial or bad spec."""
        given = {key.lower(): value for key, value in (partition or {}).items()}
        keys = [key.name for key in schema.partitions]
        if sorted(given) != sorted(keys):
            raise InvalidValue(f"partition ({', '.join(f'{key}=...' for key in given) or 'none'}) of "
                               f"{schema.project}.{schema.name} must give every partition key: {', '.join(keys)}")
        values = []
        for key in schema.partitions:
            text = given[key.name]
            if text is None or str(text).strip() == "":
                raise InvalidValue(f"partition key {key.name!r} cannot be empty")
            try:
                values.append(to_storage(text, key.column_type))
            except ValueError as error:
                raise InvalidValue(f"partition key {key.name!r} ({key.type}): {error}") from None
        return values

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _schema(self, project: str, table: str) -> TableSchema:
        schema = self.get_table(project, table)
        if schema is None:
            raise NotFound(f"no table {project}.{table.lower()}")
        return schema

    @staticmethod
    def _require_project(db: sqlite3.Connection, project: str) -> None:
        if db.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone() is None:
            raise NotFound(f"no project {project!r}")

    @staticmethod
    def _table_row(db: sqlite3.Connection, project: str, name: str) -> Optional[tuple]:
        return db.execute("SELECT id, name, comment, columns, partitions, created, modified FROM tables"
                          " WHERE project = ? AND name = ?", (project, name)).fetchone()

    def _read_batches(self, select: str, parameters: list[Any], types: list[ColumnType], start: int,
                      count: Optional[int]) -> Iterator[tuple[Any, ...]]:
        """Rows in batches, each read under the lock, so that a slow reader never holds the catalog."""
        offset, left = max(start, 0), count
        while left is None or left > 0:
            size = READ_BATCH if left is None else min(READ_BATCH, left)
            with self._lock:
                batch = self._db.execute(select, [*parameters, size, offset]).fetchall()
            for row in batch:
                yield tuple(from_storage(value, column_type) for value, column_type in zip(row, types))
            if len(batch) < size:
                return
            offset += size
            if left is not None:
                left -= size


def stored_row(columns: Sequence[Column], values: Sequence[Any], number: int) -> list[Any]:
    """``values`` (one a column) as SQLite stores them; InvalidValue naming row ``number`` and the column."""
    stored = []
    for column, value in zip(columns, values):
        try:
            stored.append(to_storage(value, column.column_type))
        except ValueError as error:
            raise InvalidValue(f"row {number}, column {column.name!r} ({column.type}): {error}") from None
    return stored


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"invalid {what} name {name!r}: up to 128 letters, digits or underscores, "
                         "not starting with a digit")
    return name.lower()


def _column(spec: ColumnSpec) -> Column:
    if isinstance(spec, Column):
        name, type_name, comment = spec.name, spec.type, spec.comment
    elif isinstance(spec, Mapping):
        name, type_name, comment = spec["name"], spec["type"], spec.get("comment", "")
    else:
        if isinstance(spec, str) or len(spec) not in (2, 3):
            raise ValueError(f"a column is (name, type) or (name, type, comment), not {spec!r}")
        name, type_name, comment = spec[0], spec[1], spec[2] if len(spec) == 3 else ""
    return Column(_check_name(name, "column"), parse_type(type_name).name, comment or "")


def _columns_json(columns: tuple[Column, ...]) -> str:
    return json.dumps([[column.name, column.type, column.comment] for column in columns])


def _schema_from_row(project: str, row: tuple) -> TableSchema:
    table_id, name, comment, columns, partitions, created, modified = row
    return TableSchema(project, name, comment,
                       tuple(Column(*column) for column in json.loads(columns)),
                       tuple(Column(*column) for column in json.loads(partitions)),
                       created, modified, table_id)


def _row_values(row: Sequence[Any] | Mapping[str, Any], schema: TableSchema, number: int) -> list[Any]:
    columns = schema.all_columns
    if isinstance(row, Mapping):
        lowered = {str(key).lower(): value for key, value in row.items()}
        unknown = sorted(set(lowered) - {column.name for column in columns})
        if unknown:
            raise InvalidValue(f"row {number}: table {schema.name} has no column {unknown[0]!r}")
        return [lowered.get(column.name) for column in columns]
    if isinstance(row, (str, bytes)) or len(row) != len(columns):
        raise InvalidValue(f"row {number}: expected {len(columns)} values "
                         f"({', '.join(column.name for column in columns)}), got {row!r}")
    return list(row)


def _partition_filter(schema: TableSchema, partition: Optional[Mapping[str, str]]) -> tuple[str, list[Any]]:
    if not partition:
        return "", []
    clauses, parameters = [], []
    for key, value in partition.items():
        column = schema.column(key)
        if column is None or not schema.is_partition(column.name):
            raise NotFound(f"table {schema.project}.{schema.name} has no partition key {key!r}")
        clauses.append(f"{quote_identifier(column.name)} = ?")
        try:
            parameters.append(to_storage(value, column.column_type))
        except ValueError as error:
            raise InvalidValue(f"partition key {column.name!r} ({column.type}): {error}") from None
    return " WHERE " + " AND ".join(clauses), parameters


def _partition_filter_values(schema: TableSchema, partition: Optional[Mapping[str, str]]) -> dict[str, Any]:
    """``partition`` (some keys) as stored values by key name; checked by :func:`_partition_filter`."""
    values = {}
    for key, value in (partition or {}).items():
        column = schema.column(key)
        if column is not None:
            values[column.name] = to_storage(value, column.column_type)
    return values


def _result_columns(plan: SelectPlan, names: list[str],
                    rows: list[tuple[Any, ...]]) -> tuple[tuple[Column, ...], list[Any]]:
    """Name and type each result column, MaxCompute-style, and how to turn its SQLite values into Python.

    A table's column keeps its type and comment; other expressions get the type sqlglot gives them, or one
    from their values when it cannot tell.
    """
    query = plan.query
    by_table = {(table.project, table.name): table for table in plan.tables}
    columns, decoders = [], []
    for index, name in enumerate(query.names if len(query.names) == len(names) else names):
        declared = query.types[index] if len(query.types) == len(names) else None
        column_type = parse_type(declared) if declared else infer_type([row[index] for row in rows])
        source = query.sources[index] if len(query.sources) == len(names) else None
        table = by_table.get(source[:2]) if source else None
        described = table.column(source[2]) if table is not None and source else None
        columns.append(Column(name or f"_c{index}", column_type.name, described.comment if described else ""))
        decoders.append(_decoder(column_type))
    return tuple(columns), decoders


def _decoder(column_type: ColumnType) -> Any:
    if column_type.base == "string" and column_type.name == "string":
        return lambda value: value if value is None or isinstance(value, str) else _as_text(value)
    if column_type.base == "double":
        return lambda value: None if value is None else float(value)
    return lambda value: from_storage(value, column_type)


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)

