"""Run a file of MaxCompute security statements (``ram/maxcompute-project.sql``) with pyodps, one statement at a
time, as the MaxCompute client runs one (``odpscmd -f``): the first statement MaxCompute refuses stops it.

The local EAS applies the project's file to the local MaxCompute at every start, signing as the project owner,
through pyodps's own ``ODPS.run_security_query``: the file is exercised as a user runs it on the cloud.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .security_statements import StatementSyntaxError, split_statements

PROJECT_GRANTS_FILE = "ram/maxcompute-project.sql"


class SecurityFileError(ValueError):
    """A statement of the file could not be read or was refused; the message names the file and line."""


def run_security_file(odps: Any, path: Path) -> int:
    """Run every statement of ``path`` with ``odps`` (a pyodps ``ODPS`` of the project); how many ran."""
    try:
        statements = split_statements(path.read_text(encoding="utf-8"))
    except StatementSyntaxError as problem:
        raise SecurityFileError(f"{path}:{problem.line}: {problem.detail}") from None
    except (OSError, UnicodeDecodeError) as problem:
        raise SecurityFileError(f"{path} cannot be read: {problem}") from None
    from odps import errors

    for statement in statements:
        try:
            odps.run_security_query(statement.text)
        except errors.ODPSError as error:
            raise SecurityFileError(f"{path}:{statement.line}: {statement.text}\n  MaxCompute refused it: "
                                    f"{refusal_text(error)}") from None
    return len(statements)


def refusal_text(error: Any) -> str:
    """A pyodps error as MaxCompute worded it: its code and message, without the request id."""
    code = str(getattr(error, "code", None) or "")
    message = str(getattr(error, "args", [""])[0] or error)
    if code and message.startswith(code):  # pyodps puts a code it has no class for before the message
        message = message[len(code):].lstrip(" :")
    return f"{code}: {message}" if code else message
