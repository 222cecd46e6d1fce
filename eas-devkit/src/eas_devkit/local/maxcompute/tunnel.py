"""The tunnel: download sessions and the record stream pyodps reads table data and SQL results from.

The stream is MaxCompute's protobuf-like record format with its CRC32C checksums. It is written with
pyodps's own ``odps.tunnel.io.writer.BaseRecordWriter`` (an internal API: requirements pin pyodps 0.13.2),
so the local service encodes exactly what the client decodes. Rows are encoded as they are read and sent
in chunks, never held whole in memory. A client that asks for a compressed stream (``Accept-Encoding``, which
pyodps sends with ``compress_option``) gets it compressed with pyodps's own compressors, ``Content-Encoding``
naming the codec: ``deflate`` always (zlib is in the standard library); ``zstd``, ``x-lz4-frame`` and
``x-snappy-framed`` when the package pyodps needs for them (zstandard, lz4, python-snappy) is installed, and
otherwise a 400 naming it.

A session is what ``POST ...?downloads`` creates: which table (and partition) or which instance's result
it reads, and how many records it has. Sessions live in memory, expire after a day as the real ones do,
and are forgotten oldest first past :data:`MAX_SESSIONS`. Table uploads, whose blocks are the same format
read back with pyodps's own reader, are :mod:`.upload`'s.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Generic, Optional, TypeVar

from odps.errors import DependencyNotInstalledError

# At import, not in the request threads: concurrent first imports of pyodps's modules from several threads
# can see one half-initialised and fail (seen under load as "cannot import name 'BaseRecordWriter'").
from odps.models import Record
from odps.models import TableSchema as OdpsSchema
from odps.tunnel.errors import TunnelError
from odps.tunnel.io.stream import CompressOption, get_compress_stream
from odps.tunnel.io.writer import BaseRecordWriter
from odps.types import Column as OdpsColumn

from .catalog import Column
from .errors import OdpsError, invalid_argument, tunnel_unsupported

SESSION_LIFETIME = 24 * 3600
MAX_SESSIONS = 10_000
CHUNK_SIZE = 64 * 1024
TIMESTAMP_TYPES = frozenset(["timestamp", "timestamp_ntz"])
S = TypeVar("S")  # a session: DownloadSession here, UploadSession in .upload


@dataclass(frozen=True)
class DownloadSession:
    """A download session: the rows of a table (partition) or of an instance's result, as of its creation."""

    id: str
    project: str
    columns: tuple[Column, ...]  # the data columns of the stream, in order
    partitions: tuple[Column, ...]  # partition keys (table sessions), for the session's schema
    record_count: int
    created: float
    table: Optional[str] = None
    partition: dict[str, str] = field(default_factory=dict)
    instance_id: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        """The session as pyodps's ``TableDownloadSession``/``InstanceDownloadSession`` parse it."""
        return {
            "DownloadID": self.id,
            "Status": "normal",
            "RecordCount": self.record_count,
            "Schema": schema_document(self.columns, self.partitions),
            "QuotaName": "",
            "SupportReadByRawSize": False,
        }


class SessionStore(Generic[S]):
    """Tunnel sessions (anything with an ``id`` and a ``created`` time) by id, thread-safe, the oldest
    forgotten past a limit. The limit and the lifetime are the caller's, read when used."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, S] = OrderedDict()

    @staticmethod
    def new_id(now: float) -> str:
        # Real session ids are 32 hex digits after a timestamp; only their uniqueness matters.
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + secrets.token_hex(12)

    def add(self, session: S, limit: int) -> S:
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > limit:
                self._sessions.popitem(last=False)
        return session

    def find(self, session_id: str) -> Optional[S]:
        with self._lock:
            return self._sessions.get(session_id)

    def expired(self, session: S, lifetime: float) -> bool:
        return self.clock() - session.created > lifetime

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


class SessionRegistry:
    """The open download sessions."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._store: SessionStore[DownloadSession] = SessionStore(clock)

    def create(self, project: str, columns: Sequence[Column], record_count: int, *,
               partitions: Sequence[Column] = (), table: Optional[str] = None,
               partition: Optional[dict[str, str]] = None, instance_id: Optional[str] = None) -> DownloadSession:
        now = self._store.clock()
        return self._store.add(DownloadSession(
            id=SessionStore.new_id(now), project=project, columns=tuple(columns), partitions=tuple(partitions),
            record_count=record_count, created=now, table=table, partition=dict(partition or {}),
            instance_id=instance_id), MAX_SESSIONS)

    def get(self, session_id: str, project: str, *, table: Optional[str] = None,
            instance_id: Optional[str] = None) -> DownloadSession:
        """The session, if it exists, is not expired and belongs to this table or instance."""
        session = self._store.find(session_id)
        if session is None or session.project != project or session.table != table \
                or session.instance_id != instance_id:
            raise OdpsError(404, "NoSuchDownload", f"The download session {session_id} does not exist.")
        if self._store.expired(session, SESSION_LIFETIME):
            raise OdpsError(410, "DownloadSessionExpired", f"The download session {session_id} has expired.")
        return session


def schema_document(columns: Sequence[Column], partitions: Sequence[Column] = ()) -> dict[str, Any]:
    """A table schema in the JSON form of pyodps's ``TableSchema`` (tables and tunnel sessions)."""
    def describe(column: Column) -> dict[str, Any]:
        return {"name": column.name, "type": column.type, "comment": column.comment, "isNullable": True}

    return {"columns": [describe(column) for column in columns],
            "partitionKeys": [describe(column) for column in partitions]}


def parse_row_range(text: Optional[str], record_count: int) -> tuple[int, int]:
    """``(start,count)`` as pyodps sends it in ``rowrange``, checked against the session's records."""
    if text is None:
        return 0, record_count
    parts = text.strip().strip("()").split(",")
    try:
        start, count = (int(part) for part in parts)
    except ValueError:
        raise OdpsError(400, "InvalidRowRange", f"Invalid row range {text!r}: expected (start,count).") from None
    if start < 0 or count < 0 or start + count > record_count:
        raise OdpsError(400, "InvalidRowRange",
                        f"Row range ({start},{count}) is outside the session's {record_count} records.")
    return start, count


def needs_pandas(columns: Sequence[Column]) -> bool:
    """Whether records of ``columns`` need pandas, which pyodps encodes and decodes timestamps with, and lacks."""
    return any(column.column_type.base in TIMESTAMP_TYPES for column in columns) and _pandas() is None


def check_encodable(columns: Sequence[Column]) -> None:
    """Refuse, before any byte is sent, a stream the record writer cannot produce here."""
    if needs_pandas(columns):
        raise invalid_argument("Reading timestamp columns through the tunnel needs pandas on both ends "
                               "(pyodps encodes timestamps with pandas.Timestamp); select them as strings "
                               "with CAST(... AS STRING) instead.")


def compression(accept_encoding: Optional[str]) -> Optional[CompressOption]:
    """How to compress a stream for a client sending ``accept_encoding`` (None: not at all); a 400 for a codec
    pyodps knows but cannot compress with here."""
    encoding = (accept_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return None
    try:
        option = CompressOption(CompressOption.CompressAlgorithm.from_encoding(encoding))
    except TunnelError:
        return None  # not a codec of the tunnel: the stream is sent as it is, as HTTP allows
    try:
        get_compress_stream(_Sink(), option)
    except DependencyNotInstalledError as error:
        raise tunnel_unsupported(f"Accept-Encoding {encoding} ({error}; deflate works)") from None
    return option


def encode_records(columns: Sequence[Column], rows: Iterable[Sequence[Any]],
                   compress: Optional[CompressOption] = None) -> Iterator[bytes]:
    """The record stream of ``rows`` (tuples in ``columns`` order), in chunks of about :data:`CHUNK_SIZE`,
    compressed as ``compress`` (see :func:`compression`) says."""
    schema = OdpsSchema(columns=[OdpsColumn(name=column.name, typo=column.type) for column in columns])
    converters = [_timestamp if column.column_type.base in TIMESTAMP_TYPES else None for column in columns]
    sink = _Sink()
    writer = BaseRecordWriter(schema, get_compress_stream(sink, compress) if compress is not None else sink)
    for row in rows:
        values = [value if convert is None or value is None else convert(value)
                  for convert, value in zip(converters, row)]
        writer.write(Record(schema=schema, values=values))
        if sink.size >= CHUNK_SIZE:
            yield sink.take()
    writer.close()  # the record count and the checksum of checksums
    yield sink.take()


class _Sink:
    """The file-like object the record writer flushes its buffer into."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: Any) -> None:
        chunk = bytes(data)
        self._parts.append(chunk)
        self.size += len(chunk)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts, self.size = [], 0
        return data


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _timestamp(value: datetime) -> Any:
    return _pandas().Timestamp(value)
