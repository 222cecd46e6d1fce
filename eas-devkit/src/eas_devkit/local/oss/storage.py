"""Buckets and objects on local disk, indexed in SQLite.

Object keys are arbitrary UTF-8 (1 to 1023 bytes), so they are never mapped to file paths: every object body
is a blob with a random name under ``<root>/<bucket>/blobs/``, and the index (``<root>/index.sqlite3``) maps
``(bucket, key)`` to the blob and its metadata. Keys are stored as their UTF-8 bytes in BLOB columns, so
SQLite compares them with memcmp: OSS's listing order, and prefix ranges that are plain byte ranges.

A body is streamed into a temporary file in the blob directory while its MD5 (the ETag) and CRC-64/ECMA
(``x-oss-hash-crc64ecma``, computed with crcmod as oss2 does) are computed. Only when the whole body has
arrived and checked out is the file renamed to its blob name and the index row written, under one lock:
an interrupted or rejected upload leaves nothing visible, and a reader never sees half an object. Readers
open the blob under the same lock, so an overwrite or delete (which unlinks the old blob) cannot pull a
file from under a download that already started.

Errors are raised as :class:`~eas_devkit.local.oss.errors.OssError` with the codes real OSS uses.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Protocol

import crcmod

from .errors import OssError, invalid_argument, invalid_digest, no_such_bucket, no_such_key, no_such_upload

log = logging.getLogger("eas_devkit.local.oss")

MAX_OBJECT_SIZE = 5 * 1024**3  # PutObject and UploadPart limit of real OSS
MIN_PART_SIZE = 100 * 1024  # every part but the last must be at least this big
MAX_PART_NUMBER = 10_000
MAX_KEY_BYTES = 1023
COPY_CHUNK = 256 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
TEMP_PREFIX = ".tmp-"

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_CRC64_ECMA_POLY = 0x142F0E1EBA9EA3693  # oss2.utils.Crc64: reflected, init 0, xor-out all ones
_CRC64_XOR_OUT = 0xFFFFFFFFFFFFFFFF

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,              -- UTF-8 bytes: memcmp order is OSS's order
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,             -- upper-case hex, "<hex>-<parts>" for multipart objects
    crc64 TEXT NOT NULL,            -- unsigned 64-bit, too big for SQLite's INTEGER
    last_modified REAL NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL,         -- JSON object of the headers sent back as stored: x-oss-meta-*, Cache-Control...
    object_type TEXT NOT NULL,      -- Normal | Multipart | Appendable
    blob TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    initiated REAL NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    crc64 TEXT NOT NULL,
    last_modified REAL NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
"""

# Columns added after the first release, with their defaults: an older index gains them at open.
_ADDED_BUCKET_COLUMNS = {"acl": "'private'"}
_ADDED_OBJECT_COLUMNS = {"acl": "'default'", "tags": "'{}'", "symlink_target": "''"}
_OBJECT_COLUMNS = ("bucket, key, size, etag, crc64, last_modified, content_type, metadata, object_type, blob, acl, "
                   "tags, symlink_target")
_PENDING_ACL, _PENDING_TAGS = " acl", " tags"  # a header name has no space
_PART_COLUMNS = "part_number, size, etag, crc64, last_modified, blob"


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # without quotes
    crc64: int
    last_modified: float
    content_type: str
    metadata: Mapping[str, str]  # lower-case ``x-oss-meta-*`` names
    object_type: str  # "Normal", "Multipart" or "Appendable"
    blob: str = field(repr=False)
    acl: str = "default"  # default | private | public-read | public-read-write
    tags: Mapping[str, str] = field(default_factory=dict)
    symlink_target: str = ""  # the target key of a "Symlink" object

    @property
    def content_md5(self) -> Optional[str]:
        """Base64 MD5 of the body; only a Normal object's ETag is its MD5."""
        if self.object_type != "Normal":
            return None
        return base64.b64encode(bytes.fromhex(self.etag)).decode("ascii")


@dataclass(frozen=True)
class PartInfo:
    part_number: int
    size: int
    etag: str
    crc64: int
    last_modified: float
    blob: str = field(repr=False)


@dataclass(frozen=True)
class MultipartUpload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    content_type: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class ListPage:
    """One page of a listing. ``next_marker`` is the last key or common prefix listed, when truncated."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str


@dataclass(frozen=True)
class UploadPage:
    """One page of ListMultipartUploads; the next markers are set when truncated."""

    uploads: list[MultipartUpload]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str
    next_upload_id_marker: str


@dataclass(frozen=True)
class _ReceivedBody:
    path: Path
    size: int
    md5: bytes
    crc64: int


def new_crc64() -> crcmod.Crc:
    """A CRC-64/ECMA-182 accumulator identical to ``oss2.utils.Crc64``; ``.update()``, ``.crcValue``."""
    return crcmod.Crc(_CRC64_ECMA_POLY, initCrc=0, rev=True, xorOut=_CRC64_XOR_OUT)


def is_valid_bucket_name(name: str) -> bool:
    return bool(_BUCKET_NAME.fullmatch(name))


def validate_key(key: str) -> None:
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise OssError(400, "InvalidObjectName", "The object name is not valid UTF-8.") from None
    if size == 0 or size > MAX_KEY_BYTES:
        raise OssError(400, "InvalidObjectName", f"The object name must be 1 to {MAX_KEY_BYTES} bytes long.",
                       Key=key)
    if key[0] in "/\\":
        raise OssError(400, "InvalidObjectName", "The object name must not start with '/' or '\\'.", Key=key)


def parse_content_md5(value: str) -> bytes:
    """The 16 digest bytes of a ``Content-MD5`` header, or ``InvalidDigest``."""
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise invalid_digest("The Content-MD5 you specified is not valid.")
    return digest


def _prefix_end(prefix: bytes) -> Optional[bytes]:
    """The smallest byte string greater than every string starting with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _past_common_prefix(common: bytes) -> bytes:
    """Where a listing resumes after rolling up ``common``: UTF-8 has no 0xFF byte, so the bound exists."""
    end = _prefix_end(common)
    assert end is not None
    return end


def _new_blob_name() -> str:
    return secrets.token_hex(16)


def _entity_too_large(proposed: int, limit: int) -> OssError:
    return OssError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.",
                    ProposedSize=proposed, MaxSizeAllowed=limit)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class ObjectStore:
    """The buckets of one local OSS, persistent under ``root``.

    ``max_object_size`` and ``min_part_size`` default to the limits of real OSS; tests lower them.
    """

    def __init__(self, root: Path, *, max_object_size: int = MAX_OBJECT_SIZE,
                 min_part_size: int = MIN_PART_SIZE) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_object_size = max_object_size
        self.min_part_size = min_part_size
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.root / "index.sqlite3"), check_same_thread=False,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            for table, added in (("objects", _ADDED_OBJECT_COLUMNS), ("buckets", _ADDED_BUCKET_COLUMNS)):
                present = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
                for column, default in added.items():
                    if column not in present:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT {default}")
        self._sweep()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Buckets

    def create_bucket(self, name: str) -> None:
        """Create ``name`` if it does not exist yet (idempotent: the demo data goes in at every start)."""
        if not is_valid_bucket_name(name):
            raise OssError(400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=name)
        with self._lock:
            self._blob_dir(name).mkdir(parents=True, exist_ok=True)
            self._db.execute("INSERT OR IGNORE INTO buckets (name, created) VALUES (?, ?)", (name, time.time()))

    def bucket_exists(self, name: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone()
        return row is not None

    def bucket_names(self) -> list[str]:
        with self._lock:
            return [row["name"] for row in self._db.execute("SELECT name FROM buckets ORDER BY name")]

    def bucket_created(self, name: str) -> float:
        return float(self._bucket_row(name)["created"])

    def bucket_acl(self, name: str) -> str:
        return str(self._bucket_row(name)["acl"])

    def _bucket_row(self, name: str) -> sqlite3.Row:
        with self._lock:
            row = self._db.execute("SELECT * FROM buckets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise no_such_bucket(name)
        return row

    def set_bucket_acl(self, name: str, acl: str) -> None:
        """private | public-read | public-read-write: what anonymous requests may do (see the app)."""
        with self._lock:
            self._require_bucket(name)
            self._db.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, name))

    def delete_bucket(self, name: str) -> None:
        """Remove an empty bucket: objects or unfinished multipart uploads make it ``BucketNotEmpty``."""
        with self._lock:
            self._require_bucket(name)
            busy = self._db.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone() or \
                self._db.execute("SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1", (name,)).fetchone()
            if busy is not None:
                raise OssError(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.",
                               BucketName=name)
            self._db.execute("DELETE FROM buckets WHERE name = ?", (name,))
            shutil.rmtree(self.root / name, ignore_errors=True)

    # Objects

    def put_object(self, bucket: str, key: str, body: Readable, *, size: Optional[int] = None,
                   content_type: Optional[str] = None, metadata: Optional[Mapping[str, str]] = None,
                   content_md5: Optional[str] = None, forbid_overwrite: bool = False, acl: str = "default",
                   tags: Optional[Mapping[str, str]] = None) -> ObjectInfo:
        """Stream ``body`` (``size`` bytes, or until EOF when None) into ``bucket/key``.

        ``content_md5`` is the request's base64 ``Content-MD5`` header, checked against what arrived.
        """
        validate_key(key)
        self._require_bucket(bucket)
        expected_md5 = parse_content_md5(content_md5) if content_md5 is not None else None
        if forbid_overwrite:
            self._refuse_overwrite(bucket, key)
        received = self._receive(bucket, body, size, expected_md5)
        info = ObjectInfo(bucket=bucket, key=key, size=received.size, etag=received.md5.hex().upper(),
                          crc64=received.crc64, last_modified=time.time(),
                          content_type=content_type or DEFAULT_CONTENT_TYPE, metadata=dict(metadata or {}),
                          object_type="Normal", blob=_new_blob_name(), acl=acl, tags=dict(tags or {}))
        return self._install(info, received.path, forbid_overwrite=forbid_overwrite)

    def copy_object(self, source: tuple[str, str], bucket: str, key: str, *,
                    check_source: Callable[[ObjectInfo], None] = lambda info: None,
                    content_type: Optional[str] = None, metadata: Optional[Mapping[str, str]] = None,
                    tags: Optional[Mapping[str, str]] = None, acl: str = "default",
                    forbid_overwrite: bool = False) -> ObjectInfo:
        """Copy ``source`` (bucket, key) to ``bucket/key`` byte for byte; ``check_source`` sees the source's
        metadata first (copy conditions). ``metadata`` and ``content_type`` None keep the source's (the COPY
        directive), ``tags`` None keeps its tags. The copy keeps the source's ETag, as OSS does."""
        validate_key(key)
        self._require_bucket(bucket)
        if forbid_overwrite:
            self._refuse_overwrite(bucket, key)
        info, handle = self.open_object(*source)
        with handle:
            check_source(info)
            received = self._receive(bucket, handle, info.size, None)
        appendable = info.object_type == "Appendable"
        copy = ObjectInfo(bucket=bucket, key=key, size=received.size,
                          etag=received.md5.hex().upper() if appendable else info.etag,
                          crc64=received.crc64, last_modified=time.time(),
                          content_type=info.content_type if content_type is None else content_type,
                          metadata=dict(info.metadata if metadata is None else metadata),
                          object_type="Normal" if appendable else info.object_type, blob=_new_blob_name(),
                          acl=acl, tags=dict(info.tags if tags is None else tags))
        return self._install(copy, received.path, forbid_overwrite=forbid_overwrite)

    def append_object(self, bucket: str, key: str, position: int, body: Readable, *, size: Optional[int] = None,
                      content_type: Optional[str] = None, metadata: Optional[Mapping[str, str]] = None,
                      content_md5: Optional[str] = None, acl: str = "default",
                      tags: Optional[Mapping[str, str]] = None) -> ObjectInfo:
        """AppendObject: add ``body`` at ``position``, which must be the current length (0 creates the object,
        with ``content_type``, ``metadata``, ``acl`` and ``tags``; later appends keep the first ones)."""
        validate_key(key)
        self._require_bucket(bucket)
        expected_md5 = parse_content_md5(content_md5) if content_md5 is not None else None
        received = self._receive(bucket, body, size, expected_md5)
        with self._lock:
            try:
                row = self._db.execute(f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
                                       (bucket, key.encode("utf-8"))).fetchone()
                current = None if row is None else self._object_from_row(row)
                if current is not None and current.object_type != "Appendable":
                    raise OssError(409, "ObjectNotAppendable", "The object is not appendable.", Key=key)
                length = 0 if current is None else current.size
                if position != length:
                    raise OssError(409, "PositionNotEqualToLength", "Position is not equal to file length.",
                                   Key=key, headers={"x-oss-next-append-position": str(length)})
                if length + received.size > self.max_object_size:
                    raise _entity_too_large(length + received.size, self.max_object_size)
                pieces = [] if current is None else [self._blob_dir(bucket) / current.blob]
                whole = self._concatenate_files(bucket, [*pieces, received.path])
            finally:
                _unlink_quietly(received.path)
            info = ObjectInfo(bucket=bucket, key=key, size=whole.size, etag=whole.md5.hex().upper(),
                              crc64=whole.crc64, last_modified=time.time(),
                              content_type=(content_type or DEFAULT_CONTENT_TYPE) if current is None
                              else current.content_type,
                              metadata=dict(metadata or {}) if current is None else current.metadata,
                              object_type="Appendable", blob=_new_blob_name(),
                              acl=acl if current is None else current.acl,
                              tags=dict(tags or {}) if current is None else current.tags)
            return self._install(info, whole.path)

    def set_object_attributes(self, bucket: str, key: str, *, acl: Optional[str] = None,
                              tags: Optional[Mapping[str, str]] = None) -> ObjectInfo:
        """Change an object's ACL or tags (PutObjectACL, PutObjectTagging, DeleteObjectTagging)."""
        with self._lock:
            info = self._object_row(bucket, key)
            if acl is not None:
                self._db.execute("UPDATE objects SET acl = ? WHERE bucket = ? AND key = ?",
                                 (acl, bucket, key.encode("utf-8")))
            if tags is not None:
                self._db.execute("UPDATE objects SET tags = ? WHERE bucket = ? AND key = ?",
                                 (json.dumps(dict(tags)), bucket, key.encode("utf-8")))
            return info

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: Optional[str] = None,
                  metadata: Optional[Mapping[str, str]] = None) -> ObjectInfo:
        """Put an object from memory (tests, fixtures)."""
        return self.put_object(bucket, key, io.BytesIO(data), size=len(data), content_type=content_type,
                               metadata=metadata)

    def head_object(self, bucket: str, key: str, follow: bool = False) -> ObjectInfo:
        """The object's metadata; with ``follow``, a symlink's is its target's, with its own user metadata."""
        with self._lock:
            info = self._object_row(bucket, key)
            return self._followed(info) if follow else info

    def open_object(self, bucket: str, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """The object's metadata and its body opened for reading (a symlink's target); the caller closes the
        file."""
        with self._lock:
            info = self._followed(self._object_row(bucket, key))
            return info, open(self._blob_dir(bucket) / info.blob, "rb")  # noqa: SIM115 - returned open

    def put_symlink(self, bucket: str, key: str, target: str, *, content_type: Optional[str] = None,
                    metadata: Optional[Mapping[str, str]] = None, acl: str = "default",
                    tags: Optional[Mapping[str, str]] = None, forbid_overwrite: bool = False) -> ObjectInfo:
        """PutSymlink: ``key`` reads as ``target`` (which need not exist yet)."""
        validate_key(key)
        validate_key(target)
        self._require_bucket(bucket)
        if forbid_overwrite:
            self._refuse_overwrite(bucket, key)
        received = self._receive(bucket, io.BytesIO(), 0, None)
        info = ObjectInfo(bucket=bucket, key=key, size=0, etag=received.md5.hex().upper(), crc64=received.crc64,
                          last_modified=time.time(), content_type=content_type or DEFAULT_CONTENT_TYPE,
                          metadata=dict(metadata or {}), object_type="Symlink", blob=_new_blob_name(), acl=acl,
                          tags=dict(tags or {}), symlink_target=target)
        return self._install(info, received.path, forbid_overwrite=forbid_overwrite)

    def _followed(self, info: ObjectInfo) -> ObjectInfo:
        if info.object_type != "Symlink":
            return info
        try:
            target = self._object_row(info.bucket, info.symlink_target)
        except OssError:
            raise OssError(404, "SymlinkTargetNotExist", "The symlink target object does not exist.",
                           Key=info.key, SymlinkTarget=info.symlink_target) from None
        return dataclasses.replace(target, key=info.key, metadata=info.metadata, acl=info.acl, tags=info.tags)

    def read_bytes(self, bucket: str, key: str) -> bytes:
        """The whole body in memory (tests, small fixtures)."""
        _, handle = self.open_object(bucket, key)
        with handle:
            return handle.read()

    def delete_object(self, bucket: str, key: str) -> bool:
        """Remove ``bucket/key``; False when there was nothing to remove (not an error in OSS)."""
        with self._lock:
            self._require_bucket(bucket)
            row = self._db.execute("SELECT blob FROM objects WHERE bucket = ? AND key = ?",
                                   (bucket, key.encode("utf-8"))).fetchone()
            if row is None:
                return False
            self._db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode("utf-8")))
            _unlink_quietly(self._blob_dir(bucket) / row["blob"])
            return True

    def list_objects(self, bucket: str, prefix: str = "", after: str = "", delimiter: str = "",
                     max_keys: int = 1000) -> ListPage:
        """Keys starting with ``prefix``, strictly after ``after``, in byte order.

        With a ``delimiter``, keys that contain it after the prefix roll up into one common prefix (up to and
        including the delimiter), which counts as one entry against ``max_keys``. A common prefix that
        contains ``after`` was listed on an earlier page and is skipped, so paging with ``next_marker``
        never repeats one.
        """
        self._require_bucket(bucket)
        prefix_bytes, after_bytes, delimiter_bytes = (s.encode("utf-8") for s in (prefix, after, delimiter))
        upper = _prefix_end(prefix_bytes)
        lower, inclusive = (prefix_bytes, True) if prefix_bytes > after_bytes else (after_bytes, False)
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        last = b""
        batch = min(max_keys, 1000) + 1
        while True:
            rows = self._scan(bucket, lower, inclusive, upper, batch)
            if not rows:
                return ListPage(objects, prefixes, False, "")
            for row in rows:
                key = bytes(row["key"])
                common = self._common_prefix(key, len(prefix_bytes), delimiter_bytes)
                if common is not None and after_bytes.startswith(common):
                    lower, inclusive = _past_common_prefix(common), True
                    break
                if len(objects) + len(prefixes) == max_keys:
                    return ListPage(objects, prefixes, True, last.decode("utf-8"))
                if common is not None:
                    prefixes.append(common.decode("utf-8"))
                    last = common
                    lower, inclusive = _past_common_prefix(common), True
                    break
                objects.append(self._object_from_row(row))
                last = key
                lower, inclusive = key, False
            else:
                if len(rows) < batch:
                    return ListPage(objects, prefixes, False, "")

    # Multipart uploads

    def initiate_multipart(self, bucket: str, key: str, content_type: Optional[str] = None,
                           metadata: Optional[Mapping[str, str]] = None,
                           forbid_overwrite: bool = False, acl: str = "default",
                           tags: Optional[Mapping[str, str]] = None) -> MultipartUpload:
        """Start an upload; with ``forbid_overwrite`` (x-oss-forbid-overwrite) an existing key is refused now,
        as OSS does, and again when the upload completes."""
        validate_key(key)
        if forbid_overwrite:
            self._require_bucket(bucket)
            self._refuse_overwrite(bucket, key)
        # The ACL and tags wait with the upload's headers, under names no stored header can have.
        pending = {**(metadata or {}), _PENDING_ACL: acl, _PENDING_TAGS: json.dumps(dict(tags or {}))}
        # Time-ordered, like OSS's: listing by upload id lists one key's uploads in the order they began.
        upload_id = f"{time.time_ns():016X}{secrets.token_hex(8).upper()}"
        upload = MultipartUpload(upload_id=upload_id, bucket=bucket, key=key,
                                 initiated=time.time(), content_type=content_type or DEFAULT_CONTENT_TYPE,
                                 metadata=pending)
        with self._lock:
            self._require_bucket(bucket)
            self._db.execute(
                "INSERT INTO uploads (upload_id, bucket, key, initiated, content_type, metadata) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (upload.upload_id, bucket, key.encode("utf-8"), upload.initiated, upload.content_type,
                 json.dumps(upload.metadata)))
        return upload

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int, body: Readable, *,
                    size: Optional[int] = None, content_md5: Optional[str] = None) -> PartInfo:
        """Store one part; uploading the same part number again replaces it, as in OSS."""
        if not 1 <= part_number <= MAX_PART_NUMBER:
            raise invalid_argument("partNumber", str(part_number),
                                   f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive.")
        expected_md5 = parse_content_md5(content_md5) if content_md5 is not None else None
        with self._lock:
            self._upload_row(bucket, key, upload_id)
        received = self._receive(bucket, body, size, expected_md5)
        part = PartInfo(part_number=part_number, size=received.size, etag=received.md5.hex().upper(),
                        crc64=received.crc64, last_modified=time.time(), blob=_new_blob_name())
        with self._lock:
            try:
                self._upload_row(bucket, key, upload_id)  # aborted or completed while the body streamed
                os.replace(received.path, self._blob_dir(bucket) / part.blob)
            except BaseException:
                _unlink_quietly(received.path)
                raise
            old = self._db.execute("SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?",
                                   (upload_id, part_number)).fetchone()
            self._db.execute(
                f"INSERT OR REPLACE INTO parts (upload_id, {_PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload_id, part.part_number, part.size, part.etag, str(part.crc64), part.last_modified,
                 part.blob))
            if old is not None:
                _unlink_quietly(self._blob_dir(bucket) / old["blob"])
        return part

    def list_parts(self, bucket: str, key: str, upload_id: str, after: int = 0,
                   max_parts: int = 1000) -> tuple[list[PartInfo], bool]:
        """Parts numbered above ``after``, at most ``max_parts``, and whether more follow."""
        with self._lock:
            self._upload_row(bucket, key, upload_id)
            rows = self._db.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND part_number > ? "
                "ORDER BY part_number LIMIT ?", (upload_id, after, max_parts + 1)).fetchall()
        parts = [self._part_from_row(row) for row in rows]
        return parts[:max_parts], len(parts) > max_parts

    def upload_part_copy(self, source: tuple[str, str], bucket: str, key: str, upload_id: str,
                         part_number: int, byte_range: Optional[tuple[int, int]] = None,
                         check_source: Callable[[ObjectInfo], None] = lambda info: None) -> PartInfo:
        """UploadPartCopy: the part is ``[start, end)`` of ``source`` (bucket, key), or all of it."""
        info, handle = self.open_object(*source)
        with handle:
            check_source(info)
            start, end = byte_range if byte_range is not None else (0, info.size)
            handle.seek(start)
            return self.upload_part(bucket, key, upload_id, part_number, handle, size=end - start)

    def list_uploads(self, bucket: str, prefix: str = "", key_marker: str = "", upload_id_marker: str = "",
                     delimiter: str = "", max_uploads: int = 1000) -> UploadPage:
        """Unfinished multipart uploads in key order, then upload id order, after the markers."""
        self._require_bucket(bucket)
        with self._lock:
            rows = self._db.execute("SELECT * FROM uploads WHERE bucket = ? ORDER BY key, upload_id",
                                    (bucket,)).fetchall()
        prefix_bytes, marker, delimiter_bytes = (s.encode("utf-8") for s in (prefix, key_marker, delimiter))
        uploads: list[MultipartUpload] = []
        prefixes: list[str] = []
        last_key, last_id = "", ""
        for row in rows:
            key = bytes(row["key"])
            if not key.startswith(prefix_bytes):
                continue
            after_marker = key > marker or (key == marker and upload_id_marker != ""
                                            and row["upload_id"] > upload_id_marker)
            if key_marker and not after_marker:
                continue
            common = self._common_prefix(key, len(prefix_bytes), delimiter_bytes)
            if common is not None and (common.decode("utf-8") in prefixes or marker.startswith(common)):
                continue
            if len(uploads) + len(prefixes) == max_uploads:
                return UploadPage(uploads, prefixes, True, last_key, last_id)
            if common is not None:
                prefixes.append(common.decode("utf-8"))
                last_key, last_id = common.decode("utf-8"), ""
                continue
            uploads.append(MultipartUpload(upload_id=row["upload_id"], bucket=bucket, key=key.decode("utf-8"),
                                           initiated=row["initiated"], content_type=row["content_type"],
                                           metadata=json.loads(row["metadata"])))
            last_key, last_id = key.decode("utf-8"), row["upload_id"]
        return UploadPage(uploads, prefixes, False, "", "")

    def complete_multipart(self, bucket: str, key: str, upload_id: str,
                           parts: Optional[Sequence[tuple[int, str]]], forbid_overwrite: bool = False,
                           acl: Optional[str] = None) -> ObjectInfo:
        """Assemble the object from ``(part number, ETag)`` pairs, or from every part when None.

        The object's ETag is OSS's multipart form: the MD5 of the concatenated part MD5s, then ``-<count>``.
        Parts that were uploaded but not named are discarded with the upload. With ``forbid_overwrite``, an
        existing key is ``FileAlreadyExists`` and the upload stays, to be completed otherwise or aborted.
        """
        with self._lock:
            upload = self._upload_row(bucket, key, upload_id)
            stored = {part.part_number: part for part in self._parts_of(upload_id)}
            if forbid_overwrite:
                self._refuse_overwrite(bucket, key)
        chosen = self._choose_parts(stored, parts)
        total = sum(part.size for part in chosen)
        if total > self.max_object_size:
            raise _entity_too_large(total, self.max_object_size)
        assembled = self._concatenate(bucket, upload_id, chosen)
        digest = hashlib.md5(b"".join(bytes.fromhex(part.etag) for part in chosen))
        metadata = dict(upload.metadata)
        pending_acl, tags = metadata.pop(_PENDING_ACL, "default"), json.loads(metadata.pop(_PENDING_TAGS, "{}"))
        acl = pending_acl if acl is None else acl  # x-oss-object-acl at completion wins
        info = ObjectInfo(bucket=bucket, key=key, size=assembled.size,
                          etag=f"{digest.hexdigest().upper()}-{len(chosen)}", crc64=assembled.crc64,
                          last_modified=time.time(), content_type=upload.content_type,
                          metadata=metadata, object_type="Multipart", blob=_new_blob_name(), acl=acl, tags=tags)
        with self._lock:
            try:
                self._upload_row(bucket, key, upload_id)  # someone else completed or aborted it meanwhile
            except OssError:
                _unlink_quietly(assembled.path)
                raise
            installed = self._install(info, assembled.path, forbid_overwrite=forbid_overwrite)
            self._drop_upload(bucket, upload_id)
        return installed

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            self._upload_row(bucket, key, upload_id)
            self._drop_upload(bucket, upload_id)

    # Internals

    def _blob_dir(self, bucket: str) -> Path:
        return self.root / bucket / "blobs"

    def _require_bucket(self, bucket: str) -> None:
        if not self.bucket_exists(bucket):
            raise no_such_bucket(bucket)

    def _refuse_overwrite(self, bucket: str, key: str) -> None:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM objects WHERE bucket = ? AND key = ?",
                                   (bucket, key.encode("utf-8"))).fetchone()
        if row is not None:
            raise OssError(409, "FileAlreadyExists", "The object you specified already exists and can not "
                           "be overwritten.", Key=key)

    def _receive(self, bucket: str, body: Readable, size: Optional[int],
                 expected_md5: Optional[bytes]) -> _ReceivedBody:
        """Stream ``body`` into a temporary file next to the blobs; delete it on any failure."""
        if size is not None and size > self.max_object_size:
            raise _entity_too_large(size, self.max_object_size)
        directory = self._blob_dir(bucket)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=str(directory))
        path = Path(name)
        md5, crc, received = hashlib.md5(), new_crc64(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while size is None or received < size:
                    want = COPY_CHUNK if size is None else min(COPY_CHUNK, size - received)
                    chunk = body.read(want)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > self.max_object_size:
                        raise _entity_too_large(received, self.max_object_size)
                    md5.update(chunk)
                    crc.update(chunk)
                    out.write(chunk)
            if size is not None and received != size:
                raise OssError(400, "IncompleteBody", "You did not provide the number of bytes specified by "
                               "the Content-Length HTTP header.", ExpectedLength=size, ReceivedLength=received)
            if expected_md5 is not None and md5.digest() != expected_md5:
                raise invalid_digest("The Content-MD5 you specified did not match what we received.")
        except BaseException:
            _unlink_quietly(path)
            raise
        return _ReceivedBody(path, received, md5.digest(), crc.crcValue)

    def _install(self, info: ObjectInfo, temp: Path, forbid_overwrite: bool = False) -> ObjectInfo:
        """Publish a fully received body: rename it to ``info.blob`` and write the index row, atomically."""
        key = info.key.encode("utf-8")
        with self._lock:
            try:
                old = self._db.execute("SELECT blob FROM objects WHERE bucket = ? AND key = ?",
                                       (info.bucket, key)).fetchone()
                if old is not None and forbid_overwrite:
                    self._refuse_overwrite(info.bucket, info.key)
                final = self._blob_dir(info.bucket) / info.blob
                os.replace(temp, final)
            except BaseException:
                _unlink_quietly(temp)
                raise
            try:
                self._db.execute(
                    f"INSERT OR REPLACE INTO objects ({_OBJECT_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                    (info.bucket, key, info.size, info.etag, str(info.crc64), info.last_modified,
                     info.content_type, json.dumps(dict(info.metadata)), info.object_type, info.blob, info.acl,
                     json.dumps(dict(info.tags)), info.symlink_target))
            except BaseException:
                _unlink_quietly(final)
                raise
            if old is not None:
                _unlink_quietly(self._blob_dir(info.bucket) / old["blob"])
        return info

    def _choose_parts(self, stored: Mapping[int, PartInfo],
                      requested: Optional[Sequence[tuple[int, str]]]) -> list[PartInfo]:
        if requested is None:
            chosen = [stored[number] for number in sorted(stored)]
        else:
            numbers = [number for number, _ in requested]
            if any(later <= earlier for earlier, later in zip(numbers, numbers[1:])):
                raise OssError(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts "
                               "list must specified in order by part number.")
            chosen = []
            for number, etag in requested:
                part = stored.get(number)
                if part is None or part.etag != etag.strip().strip('"').upper():
                    raise OssError(400, "InvalidPart", "One or more of the specified parts could not be found "
                                   "or the specified entity tag might not have matched the part's entity tag.",
                                   PartNumber=number, ETag=etag)
                chosen.append(part)
        if not chosen:
            raise OssError(400, "InvalidPart", "The multipart upload has no parts to complete with.")
        for part in chosen[:-1]:
            if part.size < self.min_part_size:
                raise OssError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed "
                               "size.", PartNumber=part.part_number, MinSizeAllowed=self.min_part_size,
                               ProposedSize=part.size)
        return chosen

    def _concatenate(self, bucket: str, upload_id: str, parts: Sequence[PartInfo]) -> _ReceivedBody:
        """Copy the parts, in order, into one temporary file, recomputing the CRC of the whole."""
        directory = self._blob_dir(bucket)
        try:
            return self._concatenate_files(bucket, [directory / part.blob for part in parts])
        except FileNotFoundError as missing:  # replaced, or the upload went away, while we were copying
            number = next(part.part_number for part in parts if str(directory / part.blob) == missing.filename)
            raise OssError(400, "InvalidPart", "A part changed while the upload was being completed.",
                           PartNumber=number) from None

    def _concatenate_files(self, bucket: str, sources: Sequence[Path]) -> _ReceivedBody:
        """The files, in order, in one temporary file next to the blobs, with the MD5 and CRC of the whole."""
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=str(self._blob_dir(bucket)))
        path = Path(name)
        md5, crc, size = hashlib.md5(), new_crc64(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                for source_path in sources:
                    with open(source_path, "rb") as source:
                        chunk = source.read(COPY_CHUNK)
                        while chunk:
                            md5.update(chunk)
                            crc.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                            chunk = source.read(COPY_CHUNK)
        except BaseException:
            _unlink_quietly(path)
            raise
        return _ReceivedBody(path, size, md5.digest(), crc.crcValue)

    def _drop_upload(self, bucket: str, upload_id: str) -> None:
        blobs = [part.blob for part in self._parts_of(upload_id)]
        with self._transaction():
            self._db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            self._db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        for blob in blobs:
            _unlink_quietly(self._blob_dir(bucket) / blob)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Several statements as one (the connection autocommits otherwise); the caller holds the lock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _object_row(self, bucket: str, key: str) -> ObjectInfo:
        row = self._db.execute(f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
                               (bucket, key.encode("utf-8"))).fetchone()
        if row is None:
            self._require_bucket(bucket)
            raise no_such_key(key)
        return self._object_from_row(row)

    def _upload_row(self, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        row = self._db.execute("SELECT * FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        if row is None or row["bucket"] != bucket or bytes(row["key"]) != key.encode("utf-8"):
            self._require_bucket(bucket)
            raise no_such_upload(upload_id)
        return MultipartUpload(upload_id=upload_id, bucket=bucket, key=key, initiated=row["initiated"],
                               content_type=row["content_type"], metadata=json.loads(row["metadata"]))

    def _parts_of(self, upload_id: str) -> list[PartInfo]:
        rows = self._db.execute(f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY part_number",
                                (upload_id,))
        return [self._part_from_row(row) for row in rows]

    def _scan(self, bucket: str, lower: bytes, inclusive: bool, upper: Optional[bytes],
              limit: int) -> list[sqlite3.Row]:
        sql = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key {'>=' if inclusive else '>'} ?"
        args: list[object] = [bucket, lower]
        if upper is not None:
            sql += " AND key < ?"
            args.append(upper)
        with self._lock:
            return self._db.execute(sql + " ORDER BY key LIMIT ?", (*args, limit)).fetchall()

    @staticmethod
    def _common_prefix(key: bytes, prefix_length: int, delimiter: bytes) -> Optional[bytes]:
        if not delimiter:
            return None
        position = key.find(delimiter, prefix_length)
        return None if position < 0 else key[: position + len(delimiter)]

    @staticmethod
    def _object_from_row(row: sqlite3.Row) -> ObjectInfo:
        return ObjectInfo(bucket=row["bucket"], key=bytes(row["key"]).decode("utf-8"), size=row["size"],
                          etag=row["etag"], crc64=int(row["crc64"]), last_modified=row["last_modified"],
                          content_type=row["content_type"], metadata=json.loads(row["metadata"]),
                          object_type=row["object_type"], blob=row["blob"], acl=row["acl"],
                          tags=json.loads(row["tags"]), symlink_target=row["symlink_target"])

    @staticmethod
    def _part_from_row(row: sqlite3.Row) -> PartInfo:
        return PartInfo(part_number=row["part_number"], size=row["size"], etag=row["etag"],
                        crc64=int(row["crc64"]), last_modified=row["last_modified"], blob=row["blob"])

    def _sweep(self) -> None:
        """Remove what a crash can leave behind: temporary files and blobs no index row refers to."""
        with self._lock:
            referenced = {row["blob"] for row in self._db.execute("SELECT blob FROM objects")}
            referenced |= {row["blob"] for row in self._db.execute("SELECT blob FROM parts")}
            buckets = self.bucket_names()
        removed = 0
        for bucket in buckets:
            directory = self._blob_dir(bucket)
            directory.mkdir(parents=True, exist_ok=True)
            for entry in directory.iterdir():
                if entry.name not in referenced:
                    _unlink_quietly(entry)
                    removed += 1
        if removed:
            log.info("local OSS: removed %d leftover blob file(s) under %s", removed, self.root)
