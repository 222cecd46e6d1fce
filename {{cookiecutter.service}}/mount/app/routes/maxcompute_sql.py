"""``POST /maxcompute/sql``: one read-only SELECT, ``{"sql": "...", "limit": 100}``.

Present only in services baked with ``maxcompute_sql=yes``; even then anything but a single SELECT is
refused with 400 and the reason, before it reaches MaxCompute. What is sent is the text the guard judged.
"""

from __future__ import annotations

import select
import socket

from flask import Blueprint, Response, request

from ..errors import APIError
from ..params import bounded_int
from ..sql_guard import UnsafeSQL, single_select
from .maxcompute import DEFAULT_ROWS, MAX_ROWS, rows_response, tables

bp = Blueprint("maxcompute_sql", __name__, url_prefix="/maxcompute")

MAX_BODY_BYTES = 64 * 1024  # a statement and a limit; the body is read whole, so it is bounded


@bp.post("/sql")
def run_sql() -> Response:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise APIError(413, "EntityTooLarge", f"the body is over {MAX_BODY_BYTES} bytes", field="body")
    request.max_content_length = MAX_BODY_BYTES  # a chunked body is cut there too (413)
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # JSON nested deeper than the decoder goes; silent only covers ValueError
        body = None
    if not isinstance(body, dict):
        raise APIError(400, "InvalidArgument", 'the body must be a JSON object: {"sql": "SELECT ...", "limit": 10}',
                       field="body")
    sql = body.get("sql")
    if not isinstance(sql, str):
        raise APIError(400, "InvalidArgument", "sql must be a string", field="sql")
    try:
        statement = single_select(sql)
    except UnsafeSQL as refusal:
        raise APIError(400, "UnsafeSQL", str(refusal), field="sql") from None
    limit = bounded_int("limit", body.get("limit", DEFAULT_ROWS), MAX_ROWS)
    return rows_response(tables().query(statement, limit, client_gone))


def client_gone() -> bool:
    """Whether the client has closed its connection (gunicorn's socket reads end-of-file): its SQL instance is
    then stopped. A client that sent more (a pipelined request) has not gone."""
    connection = request.environ.get("gunicorn.socket")
    if connection is None:
        return False
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or already closed
        return True
