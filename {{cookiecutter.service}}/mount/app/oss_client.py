"""The service's view of its OSS bucket: one ``oss2.Bucket`` per worker, errors turned into API errors.

Keys the routes see are relative to ``OSS_DATA_PREFIX``: the service reads and writes only there, which
is also all its RAM policy grants. Bodies stream both ways; nothing holds a whole object in memory.
Importing oss2 costs ~0.4 s, so the app imports this module on the first OSS request.

Failures of OSS: oss2 itself never retries (its ``Session`` sends each request once; only its iterators,
unused here, retry 5xx). Reads (list, get) are retried here by ``ReadRetries`` after a 5xx, a reset or an
answer cut short; writes (put, delete) are sent once, and the upload body is a stream that could not be
sent twice anyway. Every request has ``OSS_TIMEOUT_SECONDS`` to connect and for each read of the answer; a
timeout is a 504 at once. A download cut short is resumed with a Range request from the next byte, on the
same ETag (``If-Match``), up to ``BACKEND_READ_RETRIES`` times; past that, before the first byte it is a 502,
after it the connection to the client is aborted, so the client sees a broken transfer, never a short body.

Conditions: a download passes the client's If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since
to OSS (304, or 412 naming the header); an upload can only be made create-only, with OSS's
``x-oss-forbid-overwrite`` (FileAlreadyExists becomes a 412 naming If-None-Match).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Callable, Optional

import oss2

from .config import BACKEND_POOL_SIZE, Config
from .credentials import ServiceCredentials
from .errors import APIError
from .logs import tame_sdk_loggers
from .retries import BROKEN_CONNECTION, ReadRetries, timed_out

tame_sdk_loggers()
log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
# OSS answers these with their own status; everything else from OSS is the gateway's problem (502).
STATUS_BY_CODE = {
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "AccessDenied": 403,
    "InvalidRange": 416,
    "ObjectAlreadyExists": 409,
    "FileAlreadyExists": 409,
    "PositionNotEqualToLength": 409,
}
# The request field an OSS error is about, for the client's error.
FIELD_BY_CODE = {"InvalidRange": "Range"}


@dataclass(frozen=True)
class Download:
    status: int  # 200, or 206 for a range
    headers: dict[str, str]
    chunks: Iterator[bytes]
    close: Callable[[], None]


class BrokenDownload(Exception):
    """OSS stopped sending an object midway and it could not be resumed: the client's connection is aborted
    (the status and Content-Length are already sent, so this is the only way to say it failed)."""


class OssObjects:
    def __init__(self, bucket: oss2.Bucket, data_prefix: str, retries: ReadRetries) -> None:
        self.bucket = bucket
        self.data_prefix = data_prefix
        self.retries = retries

    def list(self, prefix: str, marker: str, max_keys: int) -> dict:
        with translated_errors():
            result = self.retries.call(lambda: self.bucket.list_objects(
                prefix=self.data_prefix + prefix,
                marker=self.data_prefix + marker if marker else "",
                max_keys=max_keys,
            ), transient, "list")
        start = len(self.data_prefix)
        return {
            "objects": [
                {
                    "key": info.key[start:],
                    "size": info.size,
                    "last_modified": _iso8601(info.last_modified),
                    "etag": info.etag,
                }
                for info in result.object_list
            ],
            "is_truncated": result.is_truncated,
            "next_marker": result.next_marker[start:] if result.is_truncated else None,
        }

    def open(self, key: str, byte_range: Optional[tuple[Optional[int], Optional[int]]],
             conditions: Mapping[str, str]) -> Download:
        """The object (or the range of it) as a stream; a 304 without a body when ``conditions`` (the client's
        If-* headers, as OSS takes them) say the client's copy is current, a 412 when they do not hold."""
        # "standard" range behaviour: an unsatisfiable range is a 416, not the whole object (OSS's old default).
        headers = {**conditions, "x-oss-range-behavior": "standard"} if byte_range else dict(conditions)
        with translated_errors():
            try:
                result = self.retries.call(
                    lambda: self.bucket.get_object(self.data_prefix + key, byte_range=byte_range, headers=headers),
                    transient, "get")
            except oss2.exceptions.NotModified as answer:
                return Download(304, _picked(answer.headers, "ETag", "Last-Modified"), iter(()), close=lambda: None)
            except oss2.exceptions.PreconditionFailed as error:
                field = "If-Match" if "If-Match" in conditions else "If-Unmodified-Since"
                raise APIError(412, "PreconditionFailed", f"the object does not meet the {field} condition",
                               field=field, oss_request_id=error.request_id) from None
        response_headers = _picked(result.headers, "Content-Length", "Content-Type", "ETag", "Last-Modified",
                                   "Content-Range")
        body = ResumingBody(self.bucket, self.data_prefix + key, result, self.retries.retries)
        chunks = iter(body)
        # The first chunk is read here, while the status can still say that the download failed.
        try:
            first = next(chunks, b"")
        except BrokenDownload:
            body.close()
            raise APIError(502, "OssUnreachable", "OSS broke the download before its first byte, and it could not "
                           "be resumed", backend="oss") from None
        return Download(result.status, response_headers, itertools.chain((first,), chunks) if first else chunks,
                        close=body.close)

    def put(self, key: str, body: IO[bytes], content_type: Optional[str], create_only: bool = False) -> dict:
        """Store ``body`` as the object; with ``create_only`` (the client's If-None-Match: *) OSS refuses to
        overwrite an existing object, and the client gets a 412."""
        headers = {"Content-Type": content_type} if content_type else {}
        if create_only:
            headers["x-oss-forbid-overwrite"] = "true"
        with translated_errors():
            try:
                result = self.bucket.put_object(self.data_prefix + key, body, headers=headers)
            except oss2.exceptions.ServerError as error:
                if create_only and error.code == "FileAlreadyExists":
                    raise APIError(412, "PreconditionFailed", "the object exists, and If-None-Match: * forbids "
                                   "overwriting it", field="If-None-Match", oss_request_id=error.request_id) from None
                raise
        return {"key": key, "etag": result.etag, "crc64": str(result.crc) if result.crc is not None else None}

    def delete(self, key: str) -> None:
        with translated_errors():
            self.bucket.delete_object(self.data_prefix + key)


class ResumingBody:
    """The body of a download, resumed from the next byte when OSS cuts it short.

    The resumption asks for ``bytes=<next>-<last>`` with ``If-Match`` on the first answer's ETag, so the bytes
    come from the same version of the object or not at all (412, and the download is aborted).
    """

    def __init__(self, bucket: oss2.Bucket, key: str, result: oss2.models.GetObjectResult, resumes: int) -> None:
        self.bucket = bucket
        self.key = key
        self.result = result
        self.resumes_left = resumes
        self.etag = result.headers.get("ETag")
        self.next_byte, self.last_byte = _body_span(result)

    def __iter__(self) -> Iterator[bytes]:
        while self.next_byte <= self.last_byte:
            try:
                chunk = self.result.read(CHUNK_SIZE)
            except BROKEN_CONNECTION as error:
                self._resume(error)
                continue
            if not chunk:
                self._resume(None)  # an early end without an error: as cut short
                continue
            self.next_byte += len(chunk)
            yield chunk
        self.result.read(CHUNK_SIZE)  # the end, where oss2 checks the CRC-64 of a whole object

    def close(self) -> None:
        self.result.resp.response.close()

    def _resume(self, error: Optional[BaseException]) -> None:
        cause = type(error).__name__ if error else "early end"
        if self.resumes_left <= 0 or not self.etag:
            log.warning("OSS download of %s broke at byte %d (%s); giving up",
                        self.key, self.next_byte, cause)
            raise BrokenDownload(f"OSS download broke at byte {self.next_byte}") from None
        self.resumes_left -= 1
        log.warning("OSS download of %s broke at byte %d (%s); resuming from there", self.key, self.next_byte, cause)
        self.close()
        try:
            self.result = self.bucket.get_object(self.key, byte_range=(self.next_byte, self.last_byte),
                                                 headers={"If-Match": self.etag, "x-oss-range-behavior": "standard"})
        except (oss2.exceptions.OssError, *BROKEN_CONNECTION) as failure:
            self.resumes_left = 0
            self._resume(failure)


def _body_span(result: oss2.models.GetObjectResult) -> tuple[int, int]:
    """The object's byte offsets the answer's body covers (inclusive): from Content-Range for a 206."""
    content_range = re.match(r"bytes (\d+)-(\d+)/", result.headers.get("Content-Range", ""))
    if content_range:
        return int(content_range.group(1)), int(content_range.group(2))
    return 0, int(result.headers.get("Content-Length", "0")) - 1


def create_oss_objects(config: Config, credentials: ServiceCredentials) -> OssObjects:
    config.require_oss()
    # V4 signatures, with the region: what OSS recommends and the local OSS verifies. oss2's
    # connect_timeout is the timeout of requests: the connect and each read of the answer.
    auth = oss2.ProviderAuthV4(credentials)
    bucket = oss2.Bucket(auth, config.oss_endpoint, config.oss_bucket, region=config.region,
                         connect_timeout=config.oss_timeout_seconds, session=oss2.Session(pool_size=BACKEND_POOL_SIZE))
    retries = ReadRetries("OSS", config.read_retries, window=config.oss_timeout_seconds)
    return OssObjects(bucket, config.oss_data_prefix, retries)


def transient(error: Exception) -> bool:
    """Worth another try for a read: a 5xx, a reset or an answer cut short; not a timeout (504 at once)."""
    if isinstance(error, oss2.exceptions.RequestError):
        return not timed_out(error.exception)
    if isinstance(error, oss2.exceptions.ServerError):
        return error.status >= 500
    return isinstance(error, BROKEN_CONNECTION) and not timed_out(error)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except oss2.exceptions.OssError as error:
        if isinstance(error, oss2.exceptions.RequestError):
            raise _unreachable(error.exception) from None
        status = STATUS_BY_CODE.get(error.code, 502)
        if status == 502:
            message = f"OSS failed: {error.status} {error.code or 'error'}"
            raise APIError(502, error.code or "OssError", message, backend="oss",
                           oss_request_id=error.request_id) from None
        message = error.message or "OSS refused the request"
        field = FIELD_BY_CODE.get(error.code)
        if field is None:
            raise APIError(status, error.code or "OssError", message, oss_request_id=error.request_id) from None
        raise APIError(status, error.code, f"{field}: {message}", oss_request_id=error.request_id,
                       field=field) from None
    except BROKEN_CONNECTION as error:  # raised by oss2 while it reads an answer's body
        raise _unreachable(error) from None


def _unreachable(error: BaseException) -> APIError:
    if timed_out(error):
        return APIError(504, "OssTimeout", "OSS did not answer in time", backend="oss")
    return APIError(502, "OssUnreachable", "OSS could not be reached, or broke the connection", backend="oss")


def _picked(headers: Mapping[str, str], *names: str) -> dict[str, str]:
    return {name: headers[name] for name in names if name in headers}


def _iso8601(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
