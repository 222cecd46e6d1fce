"""Just enough MaxCompute SQL for the local stand-in: one SELECT on one table, run by SQLite, and the one DDL
statement pyodps runs before writing a new partition, ``ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v')``.

A statement is tokenized (MaxCompute's lexical rules: ``'`` and ``"`` strings with backslash escapes,
back-quoted identifiers, ``--`` and ``/* */`` comments), checked to be a single SELECT on at most one table
(no joins, unions or subqueries: the query then cannot reach any other table, nor SQLite's own), and
rendered as SQLite SQL: the table reference becomes the quoted name of the SQLite table holding its rows,
strings and identifiers are re-quoted, typed literals (``datetime '2024-01-01 00:00:00'``) lose their
keyword and ``CAST`` targets become SQLite types. WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, DISTINCT, CASE
and the common aggregate and scalar functions then mean the same in both dialects.

An ``ALTER TABLE`` is parsed into :class:`AddPartition` (several PARTITION clauses may follow ADD); any
other ALTER is refused.

Failures are :class:`~.errors.SqlError` with the ``ODPS-xxxxxxx`` numbers MaxCompute reports, so that
pyodps raises ``ParseError`` for a statement it cannot parse and ``NoSuchTable`` for a missing table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .errors import SqlError, parse_error, semantic_error

UNSUPPORTED_STATEMENTS = frozenset([
    "insert", "create", "drop", "alter", "update", "delete", "truncate", "merge", "grant", "revoke", "set", "use",
    "desc", "describe", "show", "explain", "with", "from", "add", "remove", "list", "tunnel", "load", "unload",
    "msck", "analyze", "whoami", "kill", "cost", "read",
])
JOIN_WORDS = frozenset(["join", "left", "right", "inner", "outer", "full", "cross", "natural", "lateral", "semi",
                        "anti"])
CLAUSE_WORDS = frozenset(["where", "group", "order", "limit", "having", "sort", "distribute", "cluster", "window",
                          "union", "intersect", "except", "minus"]) | JOIN_WORDS
# Words that end an expression and so are never an implicit column alias (``CASE ... END``).
RESERVED = frozenset(["end", "null", "true", "false", "and", "or", "not", "is", "in", "like", "between", "then",
                      "else", "when", "case", "as", "distinct", "all", "by", "asc", "desc"]) | CLAUSE_WORDS
TYPED_LITERALS = frozenset(["datetime", "date", "timestamp"])
ADD_PARTITION_FORM = "ALTER TABLE <table> ADD [IF NOT EXISTS] PARTITION (<key>='<value>', ...)"
CAST_TYPES = {
    "bigint": "INTEGER", "int": "INTEGER", "smallint": "INTEGER", "tinyint": "INTEGER", "boolean": "INTEGER",
    "double": "REAL", "float": "REAL", "decimal": "NUMERIC",
    "string": "TEXT", "varchar": "TEXT", "char": "TEXT", "datetime": "TEXT", "date": "TEXT", "timestamp": "TEXT",
}
FUNCTIONS = {"nvl": "ifnull", "substring": "substr"}  # MaxCompute name -> SQLite name, where they differ
STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b"}

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
class AddPartition:
    """``ALTER TABLE <table> ADD [IF NOT EXISTS] PARTITION (...) [PARTITION (...)...]``, parsed."""

    table: TableRef
    partitions: tuple[PartitionClause, ...]
    if_not_exists: bool


@dataclass(frozen=True)
class SelectItem:
    """One expression of the select list, and what can be told about its result column from the text."""

    name: Optional[str]  # alias or bare column name; None for an unnamed expression (MaxCompute's _c<n>)
    star: bool = False
    column: Optional[str] = None  # the table column the result is, or is the min/max of
    aggregate: Optional[str] = None  # count, sum, avg, min or max, when that is the whole expression


@dataclass(frozen=True)
class SelectQuery:
    """A parsed single-table SELECT, ready to be rendered against the SQLite table holding the rows."""

    tokens: tuple[Token, ...]
    table: Optional[TableRef]
    table_span: tuple[int, int]  # token indexes of the table name (without alias) in ``tokens``
    items: tuple[SelectItem, ...]

    def render(self, storage_table: str) -> str:
        """SQLite SQL reading from ``storage_table`` (already quoted) under the table's name or alias."""
        pieces: list[str] = []
        tokens = self.tokens
        start, end = self.table_span
        cast_depths: list[int] = []
        depth = 0
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if self.table is not None and index == start:
                pieces.append(storage_table)
                if self.table.alias is None:
                    pieces.append(" AS " + quote_identifier(self.table.name))
                index = end
                continue
            if token.kind == "comment":
                pieces.append(" ")
            elif token.kind == "qident":
                pieces.append(quote_identifier(token.name))
            elif token.kind == "string":
                pieces.append(quote_string(unescape_string(token)))
            elif token.kind == "ident":
                word = token.text.lower()
                following = _next_significant(tokens, index)
                if word in TYPED_LITERALS and following is not None and following.kind == "string":
                    pass  # datetime '2024-01-01 00:00:00' is the string itself in SQLite
                elif following is not None and following.is_op("(") and word in FUNCTIONS:
                    pieces.append(FUNCTIONS[word])
                elif cast_depths and cast_depths[-1] == depth and _previous_is_as(tokens, index) \
                        and word in CAST_TYPES:
                    pieces.append(CAST_TYPES[word])
                else:
                    pieces.append(token.text)
                if word == "cast" and following is not None and following.is_op("("):
                    cast_depths.append(depth + 1)
            elif token.is_op("<=>"):
                pieces.append(" IS ")
            else:
                pieces.append(token.text)
            if token.is_op("("):
                depth += 1
            elif token.is_op(")"):
                if cast_depths and cast_depths[-1] == depth:
                    cast_depths.pop()
                depth -= 1
            index += 1
        return "".join(pieces).strip()


def parse_statement(sql: str) -> SelectQuery | AddPartition:
    """Parse ``sql`` as a single-table SELECT or an ``ALTER TABLE ... ADD PARTITION``. Raises :class:`SqlError`."""
    tokens, significant = _statement_tokens(sql)
    if tokens[significant[0]].is_word("alter"):
        return _parse_add_partition([tokens[index] for index in significant])
    return _parse_select(tokens, significant)


def parse_select(sql: str) -> SelectQuery:
    """Parse ``sql`` as a single-table SELECT. Raises :class:`SqlError` otherwise."""
    return _parse_select(*_statement_tokens(sql))


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


def _parse_select(tokens: tuple[Token, ...], significant: list[int]) -> SelectQuery:
    sig = [tokens[index] for index in significant]
    first = sig[0]
    if not first.is_word("select"):
        if first.kind == "ident" and first.text.lower() in UNSUPPORTED_STATEMENTS:
            raise semantic_error(f"{first.text.upper()} statements are not supported by the local MaxCompute, "
                                 f"which runs single-table SELECT queries (and {ADD_PARTITION_FORM}) only",
                                 first.line, first.column)
        raise parse_error(f"invalid token '{first.text}'", first.line, first.column)
    for index, token in enumerate(sig[1:], start=1):
        if token.is_word("select"):
            raise semantic_error("subqueries are not supported by the local MaxCompute", token.line, token.column)
        if token.is_word("in") and index + 1 < len(sig) and not sig[index + 1].is_op("("):
            # SQLite reads `x IN some_table`; MaxCompute has no such form, and here it would reach other tables.
            raise parse_error("IN needs a parenthesised list", token.line, token.column)
        if token.is_word("union", "intersect", "except", "minus"):
            raise semantic_error(f"{token.text.upper()} is not supported by the local MaxCompute",
                                 token.line, token.column)
    _check_balanced(sig)

    from_at = _find_from(sig)
    table, span_in_sig, after_ref = (None, (0, 0), len(sig)) if from_at is None else _table_ref(sig, from_at)
    table_span = (significant[span_in_sig[0]], significant[span_in_sig[1] - 1] + 1) if table else (0, 0)
    if table is not None and after_ref < len(sig):
        following = sig[after_ref]
        if following.is_op(",") or following.kind == "ident" and following.text.lower() in JOIN_WORDS:
            raise semantic_error("joins are not supported by the local MaxCompute", following.line, following.column)
        if not (following.kind == "ident" and following.text.lower() in CLAUSE_WORDS):
            raise parse_error(f"invalid token '{following.text}'", following.line, following.column)
    items = _select_items(sig[1:from_at if from_at is not None else len(sig)], first)
    return SelectQuery(tokens, table, table_span, tuple(items))


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


def sqlite_error(message: str, sql: str) -> SqlError:
    """A SQLite error message for a rendered query, as the MaxCompute error the statement deserves."""
    match = re.match(r"no such column: (.+)", message)
    if match:
        return semantic_error(f"column {match.group(1)} cannot be resolved",
                              *_locate(sql, match.group(1).split(".")[-1]))
    match = re.match(r"no such function: (.+)", message)
    if match:
        return semantic_error(f"function {match.group(1)} cannot be resolved", *_locate(sql, match.group(1)))
    match = re.match(r'near "(.+?)": syntax error', message)
    if match:
        return parse_error(f"invalid token '{match.group(1)}'", *_locate(sql, match.group(1)))
    if "incomplete input" in message:
        return parse_error("unexpected end of statement")
    return semantic_error(message)


# Parsing helpers


def _check_balanced(sig: list[Token]) -> None:
    depth = 0
    for token in sig:
        if token.is_op("("):
            depth += 1
        elif token.is_op(")"):
            depth -= 1
            if depth < 0:
                raise parse_error("unbalanced ')'", token.line, token.column)
    if depth:
        raise parse_error("missing ')'", sig[-1].line, sig[-1].column)


def _find_from(sig: list[Token]) -> int | None:
    depth = 0
    for index, token in enumerate(sig):
        if token.is_op("("):
            depth += 1
        elif token.is_op(")"):
            depth -= 1
        elif depth == 0 and token.is_word("from"):
            return index
    return None


def _table_ref(sig: list[Token], from_at: int) -> tuple[TableRef, tuple[int, int], int]:
    """The table after FROM: the reference, its span in ``sig`` and the index of what follows it."""
    index = from_at + 1
    if index >= len(sig):
        raise parse_error("a table name is required after FROM", sig[from_at].line, sig[from_at].column)
    if sig[index].is_op("("):
        raise semantic_error("subqueries are not supported by the local MaxCompute", sig[index].line,
                             sig[index].column)
    parts, index = _table_name(sig, index)
    span = (from_at + 1, index)
    alias = None
    if index < len(sig) and sig[index].is_word("as"):
        if index + 1 >= len(sig) or sig[index + 1].kind not in ("ident", "qident"):
            raise parse_error("an alias is required after AS", sig[index].line, sig[index].column)
        alias, index = sig[index + 1].name, index + 2
    elif index < len(sig) and (sig[index].kind == "qident"
                               or sig[index].kind == "ident" and sig[index].text.lower() not in RESERVED):
        alias, index = sig[index].name, index + 1
    return _table(parts, alias), span, index


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


def _table(parts: list[Token], alias: str | None) -> TableRef:
    project = parts[0].name if len(parts) > 1 else None
    return TableRef(project, parts[-1].name, alias, parts[0].line, parts[0].column)


def _parse_add_partition(sig: list[Token]) -> AddPartition:
    def refused(index: int) -> SqlError:
        token = sig[min(index, len(sig) - 1)]
        return semantic_error(f"of the ALTER statements, the local MaxCompute runs only {ADD_PARTITION_FORM}",
                              token.line, token.column)

    if len(sig) < 2 or not sig[1].is_word("table"):
        raise refused(1)
    parts, index = _table_name(sig, 2)
    if index >= len(sig) or not sig[index].is_word("add"):
        raise refused(index)
    index += 1
    if_not_exists = index < len(sig) and sig[index].is_word("if")
    if if_not_exists:
        if not (index + 2 < len(sig) and sig[index + 1].is_word("not") and sig[index + 2].is_word("exists")):
            where = sig[min(index + 1, len(sig) - 1)]
            raise parse_error("IF NOT EXISTS expected", where.line, where.column)
        index += 3
    partitions = []
    while index < len(sig) or not partitions:
        if index >= len(sig) or not sig[index].is_word("partition"):
            raise refused(index)
        clause, index = _partition_clause(sig, index + 1)
        partitions.append(clause)
    return AddPartition(_table(parts, None), tuple(partitions), if_not_exists)


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


def _select_items(tokens: list[Token], select: Token) -> list[SelectItem]:
    if tokens and tokens[0].is_word("distinct", "all"):
        tokens = tokens[1:]
    if not tokens:
        raise parse_error("the select list is empty", select.line, select.column)
    items, current, depth = [], [], 0
    for token in tokens:
        if token.is_op(",") and depth == 0:
            items.append(_select_item(current, token))
            current = []
            continue
        if token.is_op("("):
            depth += 1
        elif token.is_op(")"):
            depth -= 1
        current.append(token)
    items.append(_select_item(current, tokens[-1]))
    return items


def _select_item(tokens: list[Token], near: Token) -> SelectItem:
    if not tokens:
        raise parse_error(f"missing expression before '{near.text}'", near.line, near.column)
    alias = None
    if len(tokens) >= 3 and tokens[-2].is_word("as") and tokens[-1].kind in ("ident", "qident"):
        alias, tokens = tokens[-1].name, tokens[:-2]
    elif len(tokens) >= 2 and _is_name(tokens[-1]) and _ends_expression(tokens[-2]):
        alias, tokens = tokens[-1].name, tokens[:-1]
    if len(tokens) == 1 and tokens[0].is_op("*") or len(tokens) == 3 and tokens[1].is_op(".") \
            and tokens[2].is_op("*"):
        return SelectItem(name=None, star=True)
    column = _column_of(tokens)
    if column is not None:
        return SelectItem(name=alias or column, column=column)
    if len(tokens) >= 3 and tokens[0].is_word("count", "sum", "avg", "min", "max") and tokens[1].is_op("(") \
            and tokens[-1].is_op(")"):
        argument = tokens[2:-1]
        if argument and argument[0].is_word("distinct", "all"):
            argument = argument[1:]
        return SelectItem(name=alias, column=_column_of(argument), aggregate=tokens[0].text.lower())
    return SelectItem(name=alias)


def _column_of(tokens: list[Token]) -> str | None:
    """The column name when ``tokens`` are just a (qualified) column reference."""
    if len(tokens) == 1 and _is_name(tokens[0]):
        return tokens[0].name
    if len(tokens) == 3 and _is_name(tokens[0]) and tokens[1].is_op(".") and _is_name(tokens[2]):
        return tokens[2].name
    return None


def _ends_expression(token: Token) -> bool:
    """Whether an expression can end with ``token``, so that a name after it is an alias (``count(*) n``)."""
    if token.kind == "op":
        return token.text == ")"
    return token.kind != "ident" or token.text.lower() not in RESERVED or token.text.lower() == "end"


def _is_name(token: Token) -> bool:
    return token.kind == "qident" or token.kind == "ident" and token.text.lower() not in RESERVED


def _next_significant(tokens: tuple[Token, ...], index: int) -> Token | None:
    for token in tokens[index + 1:]:
        if token.kind not in ("space", "comment"):
            return token
    return None


def _previous_is_as(tokens: tuple[Token, ...], index: int) -> bool:
    for token in reversed(tokens[:index]):
        if token.kind not in ("space", "comment"):
            return token.is_word("as")
    return False


def _locate(sql: str, text: str) -> tuple[int, int]:
    """1-based line and column of the first occurrence of ``text`` in ``sql`` (case-insensitive), or (1, 1)."""
    position = sql.lower().find(text.lower())
    if position < 0:
        return 1, 1
    line = sql.count("\n", 0, position) + 1
    return line, position - (sql.rfind("\n", 0, position) + 1) + 1
