"""``/oss/objects``: list, stream out, stream in and delete objects under the service's data prefix.

Keys are checked here, before anything reaches OSS. Bodies are never held whole in memory: downloads
are relayed chunk by chunk, uploads are passed to oss2 as a stream.
"""

from __future__ import annotations

import re
from typing import IO, Optional

from flask import Blueprint, Response, current_app, request, stream_with_context
from werkzeug.routing import PathConverter

from ..config import Config
from ..errors import APIError
from ..params import bounded_int, query_parameters, reject_undecodable_url

bp = Blueprint("oss", __name__, url_prefix="/oss")
bp.before_request(reject_undecodable_url)


class ObjectKeyConverter(PathConverter):
    """Any non-empty rest of the path, leading ``/`` included, so that validate_key can name what is wrong
    with a key instead of the router answering 404."""

    regex = r"[\s\S]+"  # newlines too: "." would leave a key with one to the router's 404
    part_isolating = False  # werkzeug would infer True from a regex without "/"


# Registered before the routes below are added to the app's map.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("object_key", ObjectKeyConverter))

DEFAULT_MAX_KEYS = 10  # as the seed's example: islice(ObjectIterator(bucket), 10)
MAX_KEYS_CAP = 1000  # OSS's own maximum per page
MAX_KEY_BYTES = 1023
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def objects():  # -> oss_client.OssObjects, imported on first use (oss2 is slow to import)
    return current_app.extensions["oss_objects"].get()


def settings() -> Config:
    return current_app.config["SERVICE"]


@bp.get("/objects")
@query_parameters("prefix", "marker", "max_keys")
def list_objects() -> dict:
    prefix = request.args.get("prefix", "")
    marker = request.args.get("marker", "")
    if prefix:
        validate_key(prefix, "prefix")
    if marker:
        validate_key(marker, "marker")
    max_keys = bounded_int("max_keys", request.args.get("max_keys", str(DEFAULT_MAX_KEYS)), MAX_KEYS_CAP)
    return objects().list(prefix, marker, max_keys)


@bp.get("/objects/<object_key:key>")
@query_parameters()
def get_object(key: str) -> Response:
    validate_key(key)
    download = objects().open(key, requested_range())

    def relay():
        try:
            yield from download.chunks
        finally:
            download.close()

    return Response(stream_with_context(relay()), status=download.status, headers=download.headers,
                    direct_passthrough=True)


@bp.put("/objects/<object_key:key>")
@query_parameters()
def put_object(key: str) -> tuple[dict, int]:
    validate_key(key)
    limit = settings().max_upload_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise APIError(413, "EntityTooLarge", f"the body is {length} bytes; the limit is {limit} (MAX_UPLOAD_BYTES)")
    body = BoundedBody(request.stream, limit, length)
    result = objects().put(key, body, request.mimetype or None)
    result["size"] = body.received
    return result, 201


@bp.delete("/objects/<object_key:key>")
@query_parameters()
def delete_object(key: str) -> tuple[str, int]:
    validate_key(key)
    objects().delete(key)
    return "", 204


def validate_key(key: str, field: str = "key") -> None:
    """OSS's key rules plus ours: 1–1023 bytes of UTF-8 (with the data prefix), no control characters,
    no leading ``/``, and no ``.``/``..`` segments (a key must not look like a path escaping the prefix)."""
    full_length = len((settings().oss_data_prefix + key).encode("utf-8", "surrogatepass"))
    problem = None
    if not key:
        problem = "must not be empty"
    elif full_length > MAX_KEY_BYTES:
        problem = f"is {full_length} bytes with the data prefix; OSS allows at most {MAX_KEY_BYTES}"
    elif _CONTROL_CHARACTERS.search(key):
        problem = "must not contain NUL or other control characters"
    elif key.startswith("/"):
        problem = "must not start with /"
    elif any(segment in (".", "..") for segment in key.split("/")):
        problem = "must not contain . or .. path segments"
    else:
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            problem = "must be valid UTF-8"
    if problem:
        raise APIError(400, "InvalidKey", f"{field} {problem}", field=field)


def requested_range() -> Optional[tuple[Optional[int], Optional[int]]]:
    """The client's single byte range as oss2's ``byte_range`` (inclusive ends), or None for the whole object.

    Multiple ranges and other units are ignored (the whole object is a valid answer to any Range).
    """
    header = request.range
    if header is None or header.units != "bytes" or len(header.ranges) != 1:
        return None
    start, stop = header.ranges[0]
    if start < 0:  # "bytes=-N": the last N bytes
        return None, -start
    return start, (stop - 1 if stop is not None else None)


class BoundedBody:
    """The request body as a stream for oss2, stopping at the upload limit.

    With a Content-Length it reports its length, so oss2 sends OSS a Content-Length too; a chunked body
    is relayed chunked. Going over the limit mid-stream aborts the upload (OSS keeps nothing) with a 413.
    """

    def __init__(self, stream: IO[bytes], limit: int, length: Optional[int]) -> None:
        self._stream = stream
        self._limit = limit
        self.received = 0
        if length is not None:
            self.len = length  # what requests/oss2 look for to size a stream

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.received += len(chunk)
        if self.received > self._limit:
            raise APIError(413, "EntityTooLarge",
                           f"the body is over the limit of {self._limit} bytes (MAX_UPLOAD_BYTES)")
        return chunk
