"""MaxCompute SQL for the local stand-in: queries transpiled by sqlglot onto SQLite, and the DDL statements
pyodps runs for ``create_partition``/``delete_partition``: ``ALTER TABLE t ADD|DROP ... PARTITION (k='v')``.

A query (``SELECT`` or ``WITH``: joins, subqueries, ``UNION ALL``, window functions, ``GROUP BY ... HAVING``,
typed literals, ``CAST``) is parsed by sqlglot with the sqlglot-maxcompute dialect (Hive's, which MaxCompute's
SQL follows, with MaxCompute's date functions), and checked by walking the tree: only query nodes, every table
a plain name (no table-valued function, no ``LATERAL VIEW``), every function one sqlglot knows or one of
:data:`PLAIN_FUNCTIONS`. :func:`compile_query` then resolves each table to the project's table that holds its
rows (so that no query can name SQLite's own tables, nor a file), resolves every column (an unknown one fails
as MaxCompute fails it), types the result columns and renders SQLite SQL. docs/architecture.md tells why
sqlglot and SQLite (measured against DuckDB).

The lexer below (MaxCompute's lexical rules: ``'`` and ``"`` strings with backslash escapes, back-quoted
identifiers, ``--`` and ``/* */`` comments, which do not nest) reads a statement first: it splits scripts, so
that a script is refused before any of it runs; it takes the comments out before sqlglot reads the query; and
it parses ``ALTER TABLE ... ADD|DROP PARTITION`` into :class:`AlterPartitions` (several PARTITION clauses may
follow ADD or DROP). Any other ALTER is refused.

Failures are :class:`~.errors.SqlError` with the ``ODPS-xxxxxxx`` numbers MaxCompute reports, so that
pyodps raises ``ParseError`` for a statement it cannot parse, ``NoSuchTable`` for a missing table and
``ODPSError`` with ``ODPS-0130071`` (semantic analysis) for an unknown column or function.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, SqlglotError, UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope, traverse_scope
from sqlglot.schema import MappingSchema

from .errors import SqlError, parse_error, semantic_error, table_not_found

DIALECT = "maxcompute"  # sqlglot-maxcompute's dialect: Hive's, with MaxCompute's date functions and formats
TOO_DEEP = "the statement is nested too deeply for the local MaxCompute"  # sqlglot reads it recursively
UNSUPPORTED_STATEMENTS = frozenset([
    "insert", "create", "drop", "alter", "update", "delete", "truncate", "merge", "grant", "revoke", "set", "use",
    "desc", "describe", "show", "explain", "from", "add", "remove", "list", "tunnel", "load", "unload",
    "msck", "analyze", "whoami", "kill", "cost", "read", "attach", "detach", "pragma", "install", "copy",
    "export", "import", "call", "vacuum",
])
QUERY_WORDS = frozenset(["select", "with"])
ALTER_FORMS = ("ALTER TABLE <table> ADD [IF NOT EXISTS] PARTITION (<key>='<value>', ...) and "
               "ALTER TABLE <table> DROP [IF EXISTS] PARTITION (<key>='<value>', ...)")
# Functions sqlglot does not model but MaxCompute and SQLite both have, with the same meaning. Any other
# function sqlglot does not know is refused: SQLite's own (sqlite_version, load_extension, zeroblob...) too.
PLAIN_FUNCTIONS = frozenset(["instr", "ltrim", "rtrim", "replace", "hex", "char", "nullif", "ifnull"])
# Nodes a query never needs, refused wherever they appear: writes, DDL, SQLite commands, table generators.
REFUSED_NODES: tuple[type[exp.Expression], ...] = (
    exp.DML, exp.DDL, exp.Command, exp.Pragma, exp.Lateral, exp.Into, exp.Unnest, exp.Explode,
)
STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b"}
# sqlglot's result types, as MaxCompute names them; None: typed from the values.
RESULT_TYPES = {
    exp.DataType.Type.BIGINT: "bigint", exp.DataType.Type.INT: "bigint", exp.DataType.Type.SMALLINT: "bigint",
    exp.DataType.Type.TINYINT: "bigint", exp.DataType.Type.DOUBLE: "double", exp.DataType.Type.FLOAT: "double",
    exp.DataType.Type.BOOLEAN: "boolean", exp.DataType.Type.DATE: "date", exp.DataType.Type.DATETIME: "datetime",
    exp.DataType.Type.TIMESTAMP: "timestamp", exp.DataType.Type.VARCHAR: "string", exp.DataType.Type.TEXT: "string",
    exp.DataType.Type.CHAR: "string",
}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<qident>`(?:[^`]|``)*`)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=>|<>|!=|==|<=|>=|\|\||[-+*/%<>=(),.;~&|^!\[\]:])
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str  # space, comment, qident, string, number, ident, op
    text: str
    line: int
    column: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.lower() in words

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops

    @property
    def name(self) -> str:
        """An identifier as MaxCompute resolves it: unquoted and lower-case."""
        if self.kind == "qident":
            return self.text[1:-1].replace("``", "`").lower()
        return self.text.lower()


@dataclass(frozen=True)
class TableRef:
    """The table after FROM, as written: ``project`` is None when the statement does not name one."""

    project: Optional[str]
    name: str
    alias: Optional[str]
    line: int
    column: int


@dataclass(frozen=True)
class PartitionClause:
    """``PARTITION (k='v', ...)`` as written: each key token with its value's text."""

    pairs: tuple[tuple[Token, str], ...]
    line: int
    column: int


@dataclass(frozen=True)
class AlterPartitions:
    """``ALTER TABLE <table> ADD [IF NOT EXISTS] | DROP [IF EXISTS] PARTITION (...)[[,] PARTITION (...)...]``."""

    table: TableRef
    partitions: tuple[PartitionClause, ...]
    action: str  # "add" or "drop"
    conditional: bool  # IF NOT EXISTS (add) or IF EXISTS (drop)


@dataclass(frozen=True)
class Query:
    """A checked query: its tree as written, and the tables it reads (names of its CTEs excluded)."""

    sql: str
    tree: exp.Query
    tables: tuple[TableRef, ...]


@dataclass(frozen=True)
class StoredTable:
    """Where a table's rows are (the SQLite table) and its columns with their MaxCompute types."""

    storage: str
    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CompiledQuery:
    """A query as SQLite runs it, and its result columns: names, and types when the query tells them."""

    sql: str
    names: tuple[str, ...]
    types: tuple[Optional[str], ...]
    sources: tuple[Optional[tuple[str, str, str]], ...]  # (project, table, column) a result column is


def parse_statement(sql: str) -> Query | AlterPartitions:
    """Parse ``sql`` as a query or an ``ALTER TABLE ... ADD|DROP PARTITION``. Raises :class:`SqlError`."""
    tokens, significant = _statement_tokens(sql)
    first = tokens[significant[0]]
    if first.is_word("alter"):
        return _parse_alter_partitions([tokens[index] for index in significant])
    if not (first.is_word(*QUERY_WORDS) or first.is_op("(")):
        if first.kind == "ident" and first.text.lower() in UNSUPPORTED_STATEMENTS:
            raise semantic_error(f"{first.text.upper()} statements are not supported by the local MaxCompute, "
                                 f"which runs queries (SELECT, WITH), {ALTER_FORMS} only",
                                 first.line, first.column)
        raise parse_error(f"invalid token '{first.text}'", first.line, first.column)
    sig = [tokens[index] for index in significant]
    for index, token in enumerate(sig[:-1]):
        if token.is_word("in") and not sig[index + 1].is_op("("):
            # SQLite reads `x IN some_table`; MaxCompute has no such form.
            raise parse_error("IN needs a parenthesised list", token.line, token.column)
    # sqlglot gets the statement without its comments, which its dialect would read differently (nested).
    return parse_query("".join(" " if token.kind == "comment" else token.text for token in tokens))


def parse_query(sql: str) -> Query:
    """Parse and check a query: only query nodes, plain table names, known functions. Raises SqlError."""
    try:
        trees = sqlglot.parse(sql, read=DIALECT)
    except SqlglotError as error:
        raise _parse_failure(error, sql) from None
    except RecursionError:
        raise parse_error(TOO_DEEP) from None
    if len(trees) != 1 or trees[0] is None:
        raise semantic_error("a script of several statements is not supported by the local MaxCompute")
    tree = trees[0]
    if not isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery)):
        raise semantic_error(f"{tree.key.upper()} statements are not supported by the local MaxCompute")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables = []
    for node in tree.walk():
        if isinstance(node, REFUSED_NODES):
            raise semantic_error(f"{_words(node)} is not supported by the local MaxCompute", *_position(node, sql))
        if isinstance(node, exp.Table):
            reference = _table_reference(node, sql)
            if reference.project is not None or reference.name not in ctes:
                tables.append(reference)
        elif isinstance(node, exp.Anonymous) and node.name.lower() not in PLAIN_FUNCTIONS:
            raise semantic_error(f"function {node.name.lower()} cannot be resolved", *_position(node, sql))
    return Query(sql, tree, tuple(tables))


def compile_query(query: Query, project: str, tables: Mapping[tuple[str, str], StoredTable]) -> CompiledQuery:
    """The query as SQLite SQL over the tables holding the rows (``tables``: by (project, name), each table
    of ``query.tables``), its columns resolved and its result columns named and typed. Raises SqlError."""
    tree = query.tree.copy()
    for table in tree.find_all(exp.Table):
        reference = _table_reference(table, query.sql)
        if reference.project is None and (project, reference.name) not in tables:
            continue  # a CTE
        table.set("db", exp.to_identifier(reference.project or project))
        table.set("catalog", None)
    _name_unnamed_outputs(tree)
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    for (table_project, name), stored in tables.items():
        mapping.setdefault(table_project, {})[name] = dict(stored.columns)
    schema = MappingSchema(mapping, dialect=DIALECT)
    try:
        tree = qualify(tree, schema=schema, dialect=DIALECT, validate_qualify_columns=True)
        tree = annotate_types(tree, schema=schema, dialect=DIALECT)
    except OptimizeError as error:
        raise _semantic_failure(str(error), query.sql) from None
    except RecursionError:
        raise semantic_error(TOO_DEEP) from None
    names, types, sources = [], [], []
    for output in tree.selects:
        names.append(output.alias_or_name.lower())
        source = _source_column(output, tree)
        stored = tables.get(source[:2]) if source else None
        types.append(dict(stored.columns)[source[2]] if stored else _result_type(output.type))
        sources.append(source)
    _check_tables_resolved(tree, project, tables, query.sql)
    for table in tree.find_all(exp.Table):
        stored = tables.get((table.db.lower(), table.name.lower())) if table.db else None
        if stored is not None:
            table.set("this", exp.to_identifier(stored.storage, quoted=True))
            table.set("db", None)
    try:
        rendered = tree.sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise semantic_error(f"{error} (the local MaxCompute runs queries on SQLite)") from None
    except RecursionError:
        raise semantic_error(TOO_DEEP) from None
    return CompiledQuery(rendered, tuple(names), tuple(types), tuple(sources))


def sqlite_error(message: str, sql: str) -> SqlError:
    """A SQLite error message for a compiled query, as the MaxCompute error the statement deserves."""
    match = re.match(r"no such function: (.+)", message)
    if match:
        name = match.group(1).lower()
        return semantic_error(f"function {name} cannot be resolved", *_locate(sql, name))
    match = re.match(r"no such column: (.+)", message)
    if match:
        name = match.group(1).split(".")[-1].strip('"')
        return semantic_error(f"column {name} cannot be resolved", *_locate(sql, name))
    return semantic_error(message)


def _statement_tokens(sql: str) -> tuple[tuple[Token, ...], list[int]]:
    """The tokens of one statement (a trailing ``;`` dropped) and the indexes of those not space or comment."""
    tokens = tuple(tokenize(sql))
    significant = [index for index, token in enumerate(tokens) if token.kind not in ("space", "comment")]
    while significant and tokens[significant[-1]].is_op(";"):
        significant.pop()
    if not significant:
        raise parse_error("empty statement")
    for index in significant:
        if tokens[index].is_op(";"):
            raise semantic_error("a script of several statements is not supported by the local MaxCompute",
                                 tokens[index].line, tokens[index].column)
    return tokens[:significant[-1] + 1], significant


def statement_kinds(sql: str) -> list[str]:
    """The first word (upper-case) of each statement of a script as this lexer splits it at ``;``: what a
    query received would run as. A test compares it with what a client meant to send."""
    kinds, first = [], None
    for token in tokenize(sql):
        if token.kind in ("space", "comment"):
            continue
        if token.is_op(";"):
            if first is not None:
                kinds.append(first)
            first = None
        elif first is None:
            first = token.text.upper()
    if first is not None:
        kinds.append(first)
    return kinds


def tokenize(sql: str) -> list[Token]:
    tokens = []
    position, line, line_start = 0, 1, 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        column = position - line_start + 1
        if match is None:
            detail = ("unterminated string or identifier" if sql[position] in "'\"`"
                      else "unterminated comment" if sql.startswith("/*", position)
                      else f"invalid character '{sql[position]}'")
            raise parse_error(detail, line, column)
        kind = match.lastgroup or "op"
        text = match.group()
        tokens.append(Token(kind, text, line, column))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = position + text.rindex("\n") + 1
        position = match.end()
    return tokens


def quote_identifier(name: str) -> str:
    """A SQLite identifier, whatever characters ``name`` holds."""
    return '"' + name.replace('"', '""') + '"'


def quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def unescape_string(token: Token) -> str:
    """The value of a MaxCompute string literal: backslash escapes resolved."""
    body = token.text[1:-1]
    return re.sub(r"\\(.)", lambda match: STRING_ESCAPES.get(match.group(1), match.group(1)), body, flags=re.DOTALL)


# Parsing helpers


def _table_name(sig: list[Token], index: int) -> tuple[list[Token], int]:
    """The parts of the (qualified) table name at ``index``, and the index of what follows it."""
    parts: list[Token] = []
    while True:
        token = sig[index] if index < len(sig) else None
        if token is None or token.kind not in ("ident", "qident"):
            where = token or sig[-1]
            raise parse_error(f"invalid table name near '{where.text}'", where.line, where.column)
        parts.append(token)
        index += 1
        if index < len(sig) and sig[index].is_op("."):
            index += 1
            continue
        break
    if len(parts) > 3:
        raise parse_error("a table name has at most three parts (project.schema.table)", parts[0].line,
                          parts[0].column)
    if len(parts) == 3 and parts[1].name != "default":
        raise semantic_error(f"schema {parts[1].name} does not exist; the local MaxCompute has only 'default'",
                             parts[1].line, parts[1].column)
    return parts, index


def _table(parts: list[Token], alias: Optional[str]) -> TableRef:
    project = parts[0].name if len(parts) > 1 else None
    return TableRef(project, parts[-1].name, alias, parts[0].line, parts[0].column)


def _parse_alter_partitions(sig: list[Token]) -> AlterPartitions:
    def refused(index: int) -> SqlError:
        token = sig[min(index, len(sig) - 1)]
        return semantic_error(f"of the ALTER statements, the local MaxCompute runs only {ALTER_FORMS}",
                              token.line, token.column)

    if len(sig) < 2 or not sig[1].is_word("table"):
        raise refused(1)
    parts, index = _table_name(sig, 2)
    if index >= len(sig) or not sig[index].is_word("add", "drop"):
        raise refused(index)
    action = sig[index].text.lower()
    index += 1
    condition = ["not", "exists"] if action == "add" else ["exists"]
    conditional = index < len(sig) and sig[index].is_word("if")
    if conditional:
        words = sig[index + 1:index + 1 + len(condition)]
        if [token.text.lower() for token in words] != condition:
            where = sig[min(index + 1, len(sig) - 1)]
            raise parse_error(f"IF {' '.join(condition).upper()} expected", where.line, where.column)
        index += 1 + len(condition)
    partitions = []
    while index < len(sig) or not partitions:
        if partitions and index < len(sig) and sig[index].is_op(","):
            index += 1
        if index >= len(sig) or not sig[index].is_word("partition"):
            raise refused(index)
        clause, index = _partition_clause(sig, index + 1)
        partitions.append(clause)
    return AlterPartitions(_table(parts, None), tuple(partitions), action, conditional)


def _partition_clause(sig: list[Token], index: int) -> tuple[PartitionClause, int]:
    """``(k='v', ...)`` at ``index``, and the index of what follows it."""
    opening = sig[min(index, len(sig) - 1)]
    if index >= len(sig) or not opening.is_op("("):
        raise parse_error("'(' expected after PARTITION", opening.line, opening.column)
    pairs: list[tuple[Token, str]] = []
    index += 1
    while True:
        key, equals, value, after = (sig[index + offset] if index + offset < len(sig) else None for offset in range(4))
        if key is None or equals is None or value is None or after is None or key.kind not in ("ident", "qident") \
                or not equals.is_op("=") or value.kind not in ("string", "number"):
            where = next((token for token in (key, equals, value) if token is not None), sig[-1])
            raise parse_error("a partition spec is (key='value', ...)", where.line, where.column)
        pairs.append((key, unescape_string(value) if value.kind == "string" else value.text))
        index += 4
        if after.is_op(")"):
            return PartitionClause(tuple(pairs), opening.line, opening.column), index
        if not after.is_op(","):
            raise parse_error(f"invalid token '{after.text}' in the partition spec", after.line, after.column)


def _locate(sql: str, text: str) -> tuple[int, int]:
    """1-based line and column of the first occurrence of ``text`` in ``sql`` (case-insensitive), or (1, 1)."""
    position = sql.lower().find(text.lower())
    if position < 0:
        return 1, 1
    line = sql.count("\n", 0, position) + 1
    return line, position - (sql.rfind("\n", 0, position) + 1) + 1


def _parse_failure(error: SqlglotError, sql: str) -> SqlError:
    details = getattr(error, "errors", None) or []
    if details:
        first = details[0]
        highlight = (first.get("highlight") or "").strip()
        detail = f"invalid token '{highlight}'" if highlight else str(first.get("description"))
        return parse_error(detail, first.get("line") or 1, first.get("col") or 1)
    return parse_error(str(error).splitlines()[0])


def _semantic_failure(message: str, sql: str) -> SqlError:
    """sqlglot's resolver errors in MaxCompute's words (``column x cannot be resolved``)."""
    match = re.match(r"Column '(.+?)' could not be resolved(?: for table: '(.+?)')?\.(?: Line: (\d+), Col: (\d+))?",
                     message)
    if match:
        name = match.group(1).strip('"').lower()
        qualified = f"{match.group(2).strip(chr(34))}.{name}" if match.group(2) else name
        line, column = (int(match.group(3)), int(match.group(4))) if match.group(3) else _locate(sql, name)
        return semantic_error(f"column {qualified} cannot be resolved", line, max(column - len(name) + 1, 1))
    match = re.match(r"Unknown column: (.+)", message)
    if match:  # a qualified column (``u.nope``) its table does not have
        name = match.group(1).strip().strip('"').lower()
        written = re.search(r"([A-Za-z_][A-Za-z0-9_]*|`[^`]+`)\s*\.\s*`?" + re.escape(name) + r"\b", sql, re.IGNORECASE)
        qualified = f"{written.group(1).strip('`').lower()}.{name}" if written else name
        return semantic_error(f"column {qualified} cannot be resolved", *_locate(sql, written.group(0) if written
                                                                                  else name))
    return semantic_error(message.splitlines()[0])


def _table_reference(table: exp.Table, sql: str) -> TableRef:
    """The project table (or CTE) a FROM item names; a table-valued function or a file is refused."""
    if not isinstance(table.this, exp.Identifier):
        function = table.this.sql_name() if isinstance(table.this, exp.Func) else table.this.key
        raise semantic_error(f"function {function.lower()} cannot be resolved: the local MaxCompute reads "
                             "tables of the project only", *_position(table, sql))
    catalog, database = table.catalog.lower(), table.db.lower()
    if catalog and database != "default":
        raise semantic_error(f"schema {database} does not exist; the local MaxCompute has only 'default'",
                             *_position(table, sql))
    line, column = _position(table, sql)
    return TableRef(catalog or database or None, table.name.lower(), table.alias or None, line, column)


def _position(node: exp.Expression, sql: str) -> tuple[int, int]:
    """Where ``node`` starts in the statement (1-based line and column), from its first identifier's place."""
    for identifier in [node, *node.find_all(exp.Identifier)]:
        meta = identifier.meta if isinstance(identifier, exp.Identifier) else {}
        if "line" in meta and "col" in meta:
            name = identifier.name
            return meta["line"], max(meta["col"] - len(name) + 1, 1)
    text = node.name if isinstance(node, exp.Func) and node.name else node.sql_name() if isinstance(node, exp.Func) \
        else node.key
    return _locate(sql, text)


def _words(node: exp.Expression) -> str:
    return {"lateral": "LATERAL VIEW", "into": "SELECT ... INTO", "unnest": "UNNEST",
            "explode": "EXPLODE"}.get(node.key, f"{node.key.upper()} inside a query")


def _check_tables_resolved(tree: exp.Expression, project: str, tables: Mapping[tuple[str, str], StoredTable],
                           sql: str) -> None:
    """Every table a scope reads is a project table: a name that only a CTE of another scope defines
    (``(with t as ...) x join t``) is no CTE where it is read, and must not reach SQLite's own tables."""
    for scope in traverse_scope(tree):
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and (source.db.lower(), source.name.lower()) not in tables:
                raise table_not_found(source.db.lower() or project, source.name.lower(), *_position(source, sql))


def _name_unnamed_outputs(tree: exp.Expression) -> None:
    """MaxCompute names an unnamed result column ``_c<index>``; sqlglot would name it after its text."""
    first = tree
    while isinstance(first, (exp.SetOperation, exp.Subquery)):
        first = first.this
    if not isinstance(first, exp.Select):
        return
    for index, output in enumerate(first.expressions):
        if not isinstance(output, (exp.Alias, exp.Column, exp.Star)):
            output.replace(exp.alias_(output.copy(), f"_c{index}"))


def _source_column(output: exp.Expression, tree: exp.Expression) -> Optional[tuple[str, str, str]]:
    """(project, table, column) when the result column is a table's column as it is, through CTEs and
    subqueries; None for anything computed."""
    expression = output.unalias() if isinstance(output, exp.Alias) else output
    if not isinstance(expression, exp.Column):
        return None
    scope = build_scope(tree)
    while scope is not None and scope.set_operation_scopes:
        scope = scope.set_operation_scopes[0]
    if scope is None:
        return None
    for _ in range(32):  # a column through at most this many nested subqueries and CTEs
        source = scope.sources.get(expression.table)
        if isinstance(source, exp.Table):
            return (source.db.lower(), source.name.lower(), expression.name.lower())
        if source is None or not hasattr(source, "expression"):
            return None
        inner = next((select for select in source.expression.selects if select.alias_or_name.lower()
                      == expression.name.lower()), None) if isinstance(source.expression, exp.Select) else None
        inner = inner.unalias() if isinstance(inner, exp.Alias) else inner
        if not isinstance(inner, exp.Column):
            return None
        scope, expression = source, inner
    return None


def _result_type(data_type: Optional[exp.DataType]) -> Optional[str]:
    if data_type is None:
        return None
    if data_type.this == exp.DataType.Type.DECIMAL:
        params = [param.name for param in data_type.expressions]
        return f"decimal({','.join(params)})" if len(params) == 2 else "decimal(38,18)"
    return RESULT_TYPES.get(data_type.this)
