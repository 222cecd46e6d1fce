"""Only a single read-only SELECT may reach MaxCompute through ``POST /maxcompute/sql``.

A small lexer, not a parser: comments and quoted text are blanked out first, so that a keyword or a
semicolon inside a string literal or a comment neither trips the check nor slips past it. What remains
must be one statement that starts with SELECT (or WITH … SELECT) and names no statement that writes,
changes the catalog or the session.
"""

from __future__ import annotations

import re

WRITING_KEYWORDS = frozenset([
    "insert", "overwrite", "update", "delete", "merge", "drop", "create", "alter", "truncate", "grant", "revoke",
    "set", "use", "load", "unload", "msck", "purge", "restore", "archive", "tunnel", "add", "remove", "install",
    "uninstall", "kill",
])
_QUOTED_OR_COMMENT = re.compile(
    r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|`[^`]*`|--[^\n]*|/\*.*?\*/""",
    re.DOTALL,
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_SQL_LENGTH = 64 * 1024


class UnsafeSQL(ValueError):
    """Why the statement is refused, in words a client can act on."""


def single_select(sql: str) -> str:
    """The statement to run (without a trailing semicolon), or UnsafeSQL saying why it is refused."""
    if len(sql) > MAX_SQL_LENGTH:
        raise UnsafeSQL(f"sql is longer than {MAX_SQL_LENGTH} characters")
    if "\x00" in sql:
        raise UnsafeSQL("sql must not contain NUL characters")
    statement = sql.strip().rstrip(";").rstrip()
    blanked = _QUOTED_OR_COMMENT.sub(lambda match: " " if match.group().startswith(("--", "/*")) else "''",
                                     statement)
    if not blanked.strip():
        raise UnsafeSQL("sql is empty")
    if ";" in blanked:
        raise UnsafeSQL("only one statement is allowed (found ';' between statements)")
    if _unterminated(blanked):
        raise UnsafeSQL("sql has an unterminated quote or comment")
    words = [word.lower() for word in _WORD.findall(blanked)]
    if not words:  # nothing but symbols, numbers or non-ASCII letters
        raise UnsafeSQL("sql must be a SELECT statement (it has no keyword)")
    if words[0] not in ("select", "with"):
        raise UnsafeSQL(f"only SELECT statements are allowed, not {words[0].upper()}")
    if "select" not in words:
        raise UnsafeSQL("a WITH clause must end in a SELECT")
    writing = sorted(WRITING_KEYWORDS.intersection(words))
    if writing:
        raise UnsafeSQL(f"only read-only SELECT statements are allowed ({writing[0].upper()} is not)")
    return statement


def _unterminated(blanked: str) -> bool:
    stripped = blanked.replace("''", "")
    return any(mark in stripped for mark in ("'", '"', "`", "/*"))
