"""Step 2 of a deploy: make ``oss://<bucket>/<prefix>`` hold exactly what ``mount/`` holds.

A file whose object is already there with the same content is skipped: for an object written in one
PutObject the ETag is the MD5 of its content; for any other (multipart, appendable) the CRC-64 that OSS
keeps (``x-oss-hash-crc64ecma``) is compared. Objects under the prefix with no file any more are deleted,
so a file removed from ``mount/`` is gone from the mount too. Python's caches (``__pycache__``, ``*.pyc``)
are never uploaded. The bytes to upload are shown as one progress bar (tqdm) on stderr.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Optional

import oss2
from oss2.utils import Crc64
from tqdm import tqdm

from .target import Service, Target

READ_CHUNK = 1024 * 1024
SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
DELETE_BATCH = 1000  # the most DeleteMultipleObjects takes


class UploadError(RuntimeError):
    """OSS refused or failed; the message names the object, the OSS code and the request id."""


@dataclass(frozen=True)
class LocalFile:
    key: str
    path: Path
    size: int
    md5: str  # upper-case hex, as OSS writes ETags
    crc64: int


@dataclass(frozen=True)
class UploadReport:
    uploaded: list[str]
    unchanged: list[str]
    removed: list[str]
    bytes_uploaded: int

    def summary(self, destination: str) -> str:
        return (f"{destination}: {len(self.uploaded)} uploaded ({self.bytes_uploaded:,} bytes), "
                f"{len(self.unchanged)} unchanged, {len(self.removed)} removed")


def local_files(mount_dir: Path, prefix: str) -> list[LocalFile]:
    """Every file of ``mount_dir`` with the key it gets, its size and its checksums, in key order."""
    files = []
    for path in sorted(_walk(mount_dir)):
        md5, crc = hashlib.md5(), Crc64()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(READ_CHUNK), b""):  # noqa: B023 - consumed at once
                md5.update(chunk)
                crc.update(chunk)
        key = prefix + path.relative_to(mount_dir).as_posix()
        files.append(LocalFile(key, path, path.stat().st_size, md5.hexdigest().upper(), crc.crc))
    return files


def _walk(directory: Path) -> Iterator[Path]:
    for entry in directory.iterdir():
        if entry.is_dir():
            if entry.name not in SKIPPED_DIRS:
                yield from _walk(entry)
        elif entry.is_file() and not entry.name.endswith(SKIPPED_SUFFIXES):
            yield entry


def open_bucket(target: Target, service: Service, credentials_provider: Any) -> oss2.Bucket:
    # oss2 calls get_credentials() on the provider before each request, so rotating credentials just work.
    auth = oss2.ProviderAuthV4(credentials_provider)
    return oss2.Bucket(auth, target.oss_endpoint, service.code_bucket, region=target.region,
                       connect_timeout=30)


def sync_mount(bucket: oss2.Bucket, mount_dir: Path, prefix: str, progress: Optional[IO[str]] = None) -> UploadReport:
    """Upload what changed, delete what is gone; returns what was done."""
    files = local_files(mount_dir, prefix)
    if not files:
        raise UploadError(f"{mount_dir} has no files: there is nothing to mount")
    remote = _remote_objects(bucket, prefix)
    changed = [file for file in files if not _unchanged(bucket, file, remote.get(file.key))]
    unchanged = [file.key for file in files if file not in changed]
    stale = sorted(set(remote) - {file.key for file in files})
    with tqdm(total=sum(file.size for file in changed), unit="B", unit_scale=True, unit_divisor=1024,
              desc=f"uploading {len(changed)} of {len(files)} files", file=progress or sys.stderr,
              leave=True, dynamic_ncols=True, disable=not changed) as bar:
        for file in changed:
            _put(bucket, file, bar)
    for start in range(0, len(stale), DELETE_BATCH):
        batch = stale[start:start + DELETE_BATCH]
        with _oss_errors(f"deleting {len(batch)} stale objects under {prefix}"):
            bucket.batch_delete_objects(batch)
    return UploadReport([file.key for file in changed], unchanged, stale, sum(file.size for file in changed))


def _remote_objects(bucket: oss2.Bucket, prefix: str) -> dict[str, Any]:
    with _oss_errors(f"listing oss://{bucket.bucket_name}/{prefix}"):
        return {item.key: item for item in oss2.ObjectIterator(bucket, prefix=prefix)
                if not item.key.endswith("/")}


def _unchanged(bucket: oss2.Bucket, file: LocalFile, remote: Any) -> bool:
    if remote is None or remote.size != file.size:
        return False
    if (remote.type or "Normal") == "Normal" and "-" not in remote.etag:
        return remote.etag.strip('"').upper() == file.md5
    with _oss_errors(f"reading the CRC-64 of {file.key}"):
        return bucket.head_object(file.key).server_crc == file.crc64


def _put(bucket: oss2.Bucket, file: LocalFile, bar: tqdm) -> None:
    sent = 0

    def advance(consumed: int, total: Optional[int]) -> None:
        nonlocal sent
        bar.update(consumed - sent)
        sent = consumed

    with _oss_errors(f"uploading {file.key}"), open(file.path, "rb") as body:
        bucket.put_object(file.key, body, progress_callback=advance)
    bar.update(file.size - sent)


@contextlib.contextmanager
def _oss_errors(doing: str) -> Iterator[None]:
    """Turn oss2's exceptions into one-line :class:`UploadError`s (code, message, request id)."""
    try:
        yield
    except oss2.exceptions.RequestError as error:
        raise UploadError(f"{doing}: cannot reach OSS ({error.body or error})") from None
    except oss2.exceptions.OssError as error:
        raise UploadError(f"{doing}: {error.code}: {error.message} (request id {error.request_id})") from None
