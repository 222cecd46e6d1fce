"""Table uploads through the tunnel: upload sessions, and decoding the blocks pyodps writes.

pyodps 0.13.2 writes a table (``o.write_table``, ``table.open_writer()``) in four kinds of call, on
``/api/projects/<p>/tables/<t>`` with ``partition=`` when the table is partitioned:

* ``POST ?uploads`` (``overwrite=true`` to replace the table's or partition's rows) opens a session;
* ``PUT ?uploadid=..&blockid=N`` sends one block: the record stream, chunked, compressed when the client was
  asked to (``Content-Encoding: deflate``; pyodps compresses nothing by default);
* ``GET ?uploadid=..`` answers the session with the blocks it holds, which pyodps checks before committing;
* ``POST ?uploadid=..`` commits them: the rows of every block, in block-id order, in one transaction.

A block is decoded as it arrives with pyodps's own ``TunnelRecordReader`` (the inverse of the writer
:mod:`.tunnel` serves downloads with: CRC32C of every record and of the stream, record count, footer), and
every value is checked against its column as the catalog stores it, so that a bad block is refused on its
``PUT``. Blocks are held in memory until the commit; uploading a block id again replaces it. Sessions expire
after a day, as the real ones do, and the oldest are forgotten past :data:`MAX_SESSIONS`: an uncommitted
session's blocks are then dropped, and nothing of them was ever visible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Callable, Optional

# At import, not in request threads (see .tunnel): pyodps's modules are not safe to import concurrently.
from odps.config import option_context
from odps.errors import DependencyNotInstalledError
from odps.models import TableSchema as OdpsSchema
from odps.tunnel.errors import TunnelError
from odps.tunnel.io.reader import TunnelRecordReader
from odps.tunnel.io.stream import CompressOption, get_decompress_stream
from odps.types import Column as OdpsColumn

from .catalog import Column, InvalidValue, TableSchema, stored_row
from .errors import OdpsError, invalid_argument
from .tunnel import SESSION_LIFETIME, TIMESTAMP_TYPES, SessionStore, needs_pandas, schema_document

MAX_SESSIONS = 1000
MAX_SESSION_RECORDS = 2_000_000  # uncommitted rows live in memory: a bound, not a MaxCompute limit
MAX_BLOCK_ID = 19_999  # block ids are 0 to 19999 on MaxCompute
MAX_FIELD_SIZE = 8 * 1024 * 1024  # what pyodps checks a string against before sending it


@dataclass
class UploadSession:
    """An upload session: the table (partition) it writes, as of its creation, and its uncommitted blocks."""

    id: str
    project: str
    schema: TableSchema
    partition: dict[str, str]
    overwrite: bool
    created: float
    committed: bool = False
    _blocks: dict[int, list[list[Any]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The session as pyodps's ``TableUploadSession`` parses it."""
        with self._lock:
            blocks = [{"BlockID": block_id, "RecordCount": len(rows)}
                      for block_id, rows in sorted(self._blocks.items())]
        return {
            "UploadID": self.id,
            "Status": "closed" if self.committed else "normal",
            "UploadedBlockList": blocks,
            "Schema": schema_document(self.schema.columns, self.schema.partitions),
            "MaxFieldSize": MAX_FIELD_SIZE,
            "QuotaName": "",
        }

    def put_block(self, block_id: int, rows: list[list[Any]]) -> None:
        with self._lock:
            self._check_open()
            held = sum(len(block) for other, block in self._blocks.items() if other != block_id)
            if held + len(rows) > MAX_SESSION_RECORDS:
                raise invalid_argument(f"The local MaxCompute holds at most {MAX_SESSION_RECORDS} uncommitted "
                                       "records a session, in memory; commit in several sessions.")
            self._blocks[block_id] = rows

    @contextmanager
    def commit(self) -> Iterator[list[list[Any]]]:
        """The rows of every block in block-id order; the session is committed if the ``with`` body succeeds."""
        with self._lock:
            self._check_open()
            yield [row for _, rows in sorted(self._blocks.items()) for row in rows]
            self.committed = True
            self._blocks.clear()

    def _check_open(self) -> None:
        if self.committed:
            raise OdpsError(409, "StatusConflict", f"The upload session {self.id} is already committed.")


class UploadRegistry:
    """The open upload sessions."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._store: SessionStore[UploadSession] = SessionStore(clock)

    def create(self, schema: TableSchema, partition: dict[str, str], overwrite: bool) -> UploadSession:
        now = self._store.clock()
        return self._store.add(UploadSession(id=SessionStore.new_id(now), project=schema.project, schema=schema,
                                             partition=dict(partition), overwrite=overwrite, created=now),
                               MAX_SESSIONS)

    def get(self, session_id: str, project: str, table: str, partition: Optional[dict[str, str]]) -> UploadSession:
        """The session, if it exists, is not expired and writes this table (and this partition, when given)."""
        session = self._store.find(session_id)
        if session is None or session.project != project or session.schema.name != table:
            raise OdpsError(404, "NoSuchUpload", f"The upload session {session_id} does not exist.")
        if self._store.expired(session, SESSION_LIFETIME):
            self._store.forget(session_id)
            raise OdpsError(410, "UploadSessionExpired", f"The upload session {session_id} has expired.")
        if partition is not None and partition != session.partition:
            raise OdpsError(400, "InvalidResourceSpec", f"The upload session {session_id} writes another "
                                                        "partition than the one given.")
        return session


def parse_block_id(text: Optional[str]) -> int:
    if text is None or not text.isdigit() or int(text) > MAX_BLOCK_ID:
        raise OdpsError(400, "InvalidBlockID", f"The specified block id is not valid: {text!r} is not an integer "
                                               f"from 0 to {MAX_BLOCK_ID}.")
    return int(text)


def check_decodable(columns: tuple[Column, ...]) -> None:
    """Refuse, when the session is opened, a table whose records this server cannot decode."""
    if needs_pandas(columns):
        raise invalid_argument("Writing a table with timestamp columns through the tunnel needs pandas on both "
                               "ends (pyodps decodes timestamps with pandas.Timestamp).")


def decode_block(columns: tuple[Column, ...], body: IO[bytes], content_encoding: Optional[str]) -> list[list[Any]]:
    """The rows of one block (the data columns, as the catalog stores them) from the request body ``body``.

    A stream that does not decode, fails a checksum or ends early is ``MalformedDataStream``; a value that
    does not fit its column names the record and the column.
    """
    try:
        algorithm = CompressOption.CompressAlgorithm.from_encoding(content_encoding)
        stream = get_decompress_stream(_Unclosable(body), CompressOption(algorithm), requests=False)
    except (TunnelError, DependencyNotInstalledError) as error:
        raise invalid_argument(f"Content-Encoding {content_encoding!r} cannot be decoded by the local "
                               f"MaxCompute: {error}") from None
    return _read_rows(columns, stream)


def _read_rows(columns: tuple[Column, ...], stream: Any) -> list[list[Any]]:
    schema = OdpsSchema(columns=[OdpsColumn(name=column.name, typo=column.type) for column in columns])
    timestamps = [column.column_type.base in TIMESTAMP_TYPES for column in columns]
    rows = []
    with option_context() as options:  # pyodps's options, for this request's thread only
        # The reader must not retry (its stream is a request body, read once), and must see the stream's
        # footer, without which a body cut short at a record boundary would look complete.
        options.retry_times, options.retry_delay, options.table_read_limit = 0, 0, None
        options.tunnel.require_stream_footer = True
        reader = TunnelRecordReader(schema, lambda *_, **__: stream)
        try:
            for number, record in enumerate(reader, start=1):
                values = [_timestamp(value) if is_timestamp else value
                          for value, is_timestamp in zip(record.values, timestamps)]
                rows.append(stored_row(columns, values, number))
        except InvalidValue as error:
            raise OdpsError(400, "MalformedDataStream", f"Invalid value in the block: {error}.") from None
        except Exception as error:  # what pyodps's reader raises: IOError, ChecksumError, ValueError (a value)...
            raise OdpsError(400, "MalformedDataStream", f"The block cannot be read at record {len(rows) + 1}: "
                                                        f"{error}") from None
        finally:
            reader.close()
    return rows


class _Unclosable:
    """The request body for the reader, which closes its stream when done: the app still drains the body."""

    def __init__(self, body: IO[bytes]) -> None:
        self._body = body

    def read(self, size: int = -1) -> bytes:
        return self._body.read(size)

    def close(self) -> None:
        pass


def _timestamp(value: Any) -> Any:
    """A pandas.Timestamp (how pyodps decodes a timestamp) as the datetime the catalog stores."""
    if isinstance(value, datetime) and hasattr(value, "to_pydatetime"):
        return value.to_pydatetime(warn=False)
    return value
