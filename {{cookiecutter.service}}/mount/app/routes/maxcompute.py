"""``/maxcompute/tables``: list, describe and read the tables of the service's MaxCompute project.

Table and column names are checked as identifiers before they reach pyodps. Rows come as a JSON document,
or streamed as JSON Lines (one object a row) when the client asks with ``Accept: application/x-ndjson``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Optional

from flask import Blueprint, Response, current_app, request, stream_with_context

from ..errors import APIError
from ..params import bounded_int, query_parameters, reject_undecodable_url

bp = Blueprint("maxcompute", __name__, url_prefix="/maxcompute")
bp.before_request(reject_undecodable_url)

DEFAULT_TABLES = 100
MAX_TABLES = 1000
DEFAULT_ROWS = 10
MAX_ROWS = 10_000
NDJSON = "application/x-ndjson"
# Matched whole (fullmatch): "$" would also match before a trailing newline.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_PARTITION_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def tables():  # -> maxcompute_client.MaxComputeTables, imported on first use (pyodps is slow to import)
    return current_app.extensions["maxcompute_tables"].get()


@bp.get("/tables")
@query_parameters("prefix", "marker", "limit")
def list_tables() -> dict:
    prefix = request.args.get("prefix", "")
    marker = request.args.get("marker", "")
    for field, value in (("prefix", prefix), ("marker", marker)):
        if value and not re.fullmatch(r"[A-Za-z0-9_]{1,128}", value):
            raise APIError(400, "InvalidArgument", f"{field} may hold only letters, digits and _ (1 to 128)",
                           field=field)
    return tables().list(prefix, marker, bounded_int("limit", request.args.get("limit", DEFAULT_TABLES), MAX_TABLES))


@bp.get("/tables/<name>")
@query_parameters()
def describe_table(name: str) -> dict:
    return tables().describe(identifier(name, "name"))


@bp.get("/tables/<name>/rows")
@query_parameters("columns", "limit", "partition")
def read_rows(name: str) -> Response:
    columns = request.args.get("columns")
    # Spaces around names are allowed; any other whitespace is refused, as the description's pattern says.
    selected = None if columns is None else [identifier(column.strip(" "), "columns") for column in columns.split(",")]
    if selected is not None:
        _refuse_repeated([column.lower() for column in selected], "columns", "a column")
    limit = bounded_int("limit", request.args.get("limit", DEFAULT_ROWS), MAX_ROWS)
    return rows_response(tables().rows(identifier(name, "name"), limit, selected, partition_spec()))


def partition_spec() -> Optional[str]:
    """``?partition=ds=20261101`` (or ``region=hz,ds=20261101``) for partitioned tables."""
    spec = request.args.get("partition")
    if spec is None:
        return None
    keys = []
    for part in spec.split(","):
        key, equals, value = part.partition("=")
        key, value = key.strip(" "), value.strip(" ")
        if not equals or not _IDENTIFIER.fullmatch(key) or not _PARTITION_VALUE.fullmatch(value):
            raise APIError(400, "InvalidArgument", "partition must be key=value[,key=value] with identifier keys "
                           "and values of letters, digits, _ . : -", field="partition")
        keys.append(key.lower())
    _refuse_repeated(keys, "partition", "a key")
    return spec


def _refuse_repeated(names: list[str], field: str, what: str) -> None:
    """MaxCompute names are case-insensitive: ``species,SPECIES`` names one column twice."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise APIError(400, "InvalidArgument", f"{field} names {what} more than once: {name!r}", field=field)
        seen.add(name)


def rows_response(rows: Any) -> Response:
    """JSON ``{"columns", "rows"}``, or JSON Lines streamed as they are read when the client accepts NDJSON."""
    if wants_ndjson():
        return Response(stream_with_context(ndjson_blocks(rows.records)), mimetype=NDJSON)
    # Bounded by MAX_ROWS, so a document is fine; JSON Lines is the way to stream.
    return current_app.json.response({"columns": rows.columns, "rows": list(rows.records)})


NDJSON_BLOCK_CHARS = 64 * 1024


def ndjson_blocks(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    """One JSON line a row, sent in blocks of about 64 KiB: a write (and an HTTP chunk) a row costs the
    server and the client more than the rows themselves (measured by `make bench`: 0.34x pyodps's speed)."""
    block: list[str] = []
    size = 0
    for record in records:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        block.append(line)
        size += len(line)
        if size >= NDJSON_BLOCK_CHARS:
            yield "".join(block)
            block, size = [], 0
    if block:
        yield "".join(block)


def wants_ndjson() -> bool:
    """Only when asked for by name: ``*/*`` keeps the plain JSON document."""
    return any(mimetype == NDJSON and quality > 0 for mimetype, quality in request.accept_mimetypes)


def identifier(value: str, field: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise APIError(400, "InvalidIdentifier",
                       f"{field} {value[:64]!r} is not a MaxCompute identifier (a letter or _, then letters, "
                       "digits or _, at most 128)", field=field)
    return value

