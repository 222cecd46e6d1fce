"""The service's view of its OSS bucket: one ``oss2.Bucket`` per worker, errors turned into API errors.

Keys the routes see are relative to ``OSS_DATA_PREFIX``: the service reads and writes only there, which
is also all its RAM policy grants. Bodies stream both ways; nothing holds a whole object in memory.
Importing oss2 costs ~0.4 s, so the app imports this module on the first OSS request.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Callable, Optional

import oss2
import requests.exceptions

from .config import Config
from .credentials import ServiceCredentials
from .errors import APIError
from .logs import tame_sdk_loggers

tame_sdk_loggers()

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


@dataclass(frozen=True)
class Download:
    status: int  # 200, or 206 for a range
    headers: dict[str, str]
    chunks: Iterator[bytes]
    close: Callable[[], None]


class OssObjects:
    def __init__(self, bucket: oss2.Bucket, data_prefix: str) -> None:
        self.bucket = bucket
        self.data_prefix = data_prefix

    def list(self, prefix: str, marker: str, max_keys: int) -> dict:
        with translated_errors():
            result = self.bucket.list_objects(
                prefix=self.data_prefix + prefix,
                marker=self.data_prefix + marker if marker else "",
                max_keys=max_keys,
            )
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

    def open(self, key: str, byte_range: Optional[tuple[Optional[int], Optional[int]]]) -> Download:
        # "standard" range behaviour: an unsatisfiable range is a 416, not the whole object (OSS's old default).
        headers = {"x-oss-range-behavior": "standard"} if byte_range else None
        with translated_errors():
            result = self.bucket.get_object(self.data_prefix + key, byte_range=byte_range, headers=headers)
        response_headers = {
            name: result.headers[name]
            for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Content-Range")
            if name in result.headers
        }
        return Download(result.status, response_headers, _chunks(result), close=result.resp.response.close)

    def put(self, key: str, body: IO[bytes], content_type: Optional[str]) -> dict:
        headers = {"Content-Type": content_type} if content_type else None
        with translated_errors():
            result = self.bucket.put_object(self.data_prefix + key, body, headers=headers)
        return {"key": key, "etag": result.etag, "crc64": str(result.crc) if result.crc is not None else None}

    def delete(self, key: str) -> None:
        with translated_errors():
            self.bucket.delete_object(self.data_prefix + key)


def create_oss_objects(config: Config, credentials: ServiceCredentials) -> OssObjects:
    config.require_oss()
    # V4 signatures, with the region: what OSS recommends and the local OSS verifies.
    auth = oss2.ProviderAuthV4(credentials)
    bucket = oss2.Bucket(auth, config.oss_endpoint, config.oss_bucket, region=config.region)
    return OssObjects(bucket, config.oss_data_prefix)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except oss2.exceptions.OssError as error:
        if isinstance(error, oss2.exceptions.RequestError):
            raise _unreachable(error) from None
        status = STATUS_BY_CODE.get(error.code, 502)
        raise APIError(status, error.code or "OssError", error.message or "OSS refused the request",
                       oss_request_id=error.request_id) from None


def _unreachable(error: oss2.exceptions.RequestError) -> APIError:
    timed_out = isinstance(getattr(error, "exception", None), requests.exceptions.Timeout)
    if timed_out:
        return APIError(504, "OssTimeout", "OSS did not answer in time")
    return APIError(502, "OssUnreachable", "OSS could not be reached")


def _chunks(result: oss2.models.GetObjectResult) -> Iterator[bytes]:
    while True:
        chunk = result.read(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk


def _iso8601(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
