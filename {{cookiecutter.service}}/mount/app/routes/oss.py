"""``/oss/objects``: list, stream out, stream in and delete objects under the service's data prefix.

Keys are checked here, before anything reaches OSS. Bodies are never held whole in memory: downloads
are relayed chunk by chunk, uploads are passed to oss2 as a stream.

Conditional requests: a GET takes If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since (checked
by OSS: 304 or 412); a PUT takes If-None-Match: * only (create-only, OSS's x-oss-forbid-overwrite); a DELETE
takes none. OSS has no other conditions, so any other one is a 400 naming the header, never ignored.
"""

from __future__ import annotations

import re
from typing import IO, Optional

from flask import Blueprint, Response, current_app, request, stream_with_context
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import http_date, parse_date
from werkzeug.routing import PathConverter

from ..config import Config
from ..errors import APIError
from ..params import bounded_int, query_parameters, reject_undecodable_url
from ..retries import timed_out

bp = Blueprint("oss", __name__, url_prefix="/oss")
bp.before_request(reject_undecodable_url)


class ObjectKeyConverter(PathConverter):
    """Any non-empty rest of the path, leading ``/`` included, so that validate_key can name what is wrong
    with a key instead of the router answering 404."""

    regex = r"[\s\S]+"  # newlines too: "." would leave a key with one to the router's 404
    part_isolating = False  # werkzeug would infer True from a regex without "/"


# Registered before the routes below are added to the app's map.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("object_key", ObjectKeyConverter))

DEFAULT_MAX_KEYS = 10  # as the guide's example: islice(ObjectIterator(bucket), 10)
MAX_KEYS_CAP = 1000  # OSS's own maximum per page
MAX_KEY_BYTES = 1023
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
CONDITIONS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
# An entity tag: quoted, as in the ETag header, or bare, as in the listing's "etag".
_ENTITY_TAG = r'(?:"[\x21\x23-\x2b\x2d-\x7e]*"|[\x21\x23-\x2b\x2d-\x7e]+)'
ENTITY_TAGS_PATTERN = rf"\*|{_ENTITY_TAG}(?: *, *{_ENTITY_TAG})*"  # also the OpenAPI document's
_ENTITY_TAGS = re.compile(ENTITY_TAGS_PATTERN)
_SUFFIX_ZERO = re.compile(r"[ \t]*bytes[ \t]*=[ \t]*-[ \t]*0+[ \t]*")


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
    download = objects().open(key, requested_range(), download_conditions())

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
    refuse_conditions("PUT", allowed="If-None-Match")
    create_only = request.headers.get("If-None-Match") is not None
    if create_only and request.headers["If-None-Match"].strip() != "*":
        raise APIError(400, "UnsupportedCondition", "If-None-Match on PUT can only be * (create, never overwrite): "
                       "OSS cannot compare entity tags on a write", field="If-None-Match")
    limit = settings().max_upload_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise APIError(413, "EntityTooLarge", f"the body is {length} bytes; the limit is {limit} (MAX_UPLOAD_BYTES)")
    body = BoundedBody(request.stream, limit, length)
    result = objects().put(key, body, request.mimetype or None, create_only=create_only)
    result["size"] = body.received
    return result, 201


@bp.delete("/objects/<object_key:key>")
@query_parameters()
def delete_object(key: str) -> tuple[str, int]:
    validate_key(key)
    refuse_conditions("DELETE")
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


def download_conditions() -> dict[str, str]:
    """The GET's conditional headers as OSS takes them: entity tags quoted, dates in the IMF-fixdate form.

    A value OSS would not understand is a 400 naming the header (rather than a condition OSS might skip)."""
    conditions = {}
    for name in CONDITIONS:
        value = request.headers.get(name)
        if value is None:
            continue
        if name.endswith("-Match"):
            value = value.strip(" \t")
            if not _ENTITY_TAGS.fullmatch(value):
                raise APIError(400, "InvalidArgument", f"{name} must be * or a comma-separated list of entity tags "
                               'such as "5EB63BBBE01EEED093CB22BB8F5ACDC3" (strong ones: OSS has no weak ETags)',
                               field=name)
            tags = ", ".join('"{}"'.format(tag.strip(' \t"')) for tag in value.split(","))
            conditions[name] = "*" if value == "*" else tags
        else:
            date = parse_date(value)
            if date is None:
                raise APIError(400, "InvalidArgument", f"{name} must be an HTTP date such as "
                               "Fri, 13 Nov 2015 14:47:53 GMT", field=name)
            conditions[name] = http_date(date)
    return conditions


def refuse_conditions(method: str, allowed: str = "") -> None:
    """OSS writes and deletes unconditionally: a condition it cannot check is refused, never ignored."""
    for name in CONDITIONS:
        if name != allowed and name in request.headers:
            supported = f" (only {allowed}: * is)" if allowed else ""
            raise APIError(400, "UnsupportedCondition", f"{name} is not supported on {method}{supported}: OSS "
                           "cannot check it, and the request would not be conditional", field=name)


def requested_range() -> Optional[tuple[Optional[int], Optional[int]]]:
    """The client's single byte range as oss2's ``byte_range`` (inclusive ends), or None for the whole object.

    Multiple ranges and other units are ignored (the whole object is a valid answer to any Range), as is a
    Range with If-Range: the whole object is the answer to a client whose copy may be stale. ``bytes=-0``
    (an empty suffix, which werkzeug does not parse) goes to OSS, which answers it with a 416.
    """
    if "If-Range" in request.headers:
        return None
    if _SUFFIX_ZERO.fullmatch(request.headers.get("Range", "")):
        return None, 0
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
    is relayed chunked. Going over the limit mid-stream aborts the upload (OSS keeps nothing) with a 413; a
    body that ends before its Content-Length, or that cannot be read (malformed chunked encoding, a closed
    connection), aborts it with a 400 naming ``body``.
    """

    def __init__(self, stream: IO[bytes], limit: int, length: Optional[int]) -> None:
        self._stream = stream
        self._limit = limit
        self._length = length
        self.received = 0
        if length is not None:
            self.len = length  # what requests/oss2 look for to size a stream

    def read(self, size: int = -1) -> bytes:
        """Like a file's read: ``size`` bytes unless the body ends (oss2 counts a short read as ``size``)."""
        chunk = self._read_fully(size)
        self.received += len(chunk)
        if self.received > self._limit:
            raise APIError(413, "EntityTooLarge",
                           f"the body is over the limit of {self._limit} bytes (MAX_UPLOAD_BYTES)")
        ended = size is None or size < 0 or len(chunk) < size
        if ended and self._length is not None and self.received < self._length:
            raise APIError(400, "IncompleteBody", f"the body ended after {self.received} of the {self._length} "
                           "bytes of its Content-Length", field="body")
        return chunk

    def _read_fully(self, size: Optional[int]) -> bytes:
        try:
            if size is None or size < 0:
                return self._stream.read()
            chunks, missing = [], size
            while missing > 0:
                chunk = self._stream.read(missing)
                if not chunk:
                    break
                chunks.append(chunk)
                missing -= len(chunk)
            return b"".join(chunks)
        except (OSError, ClientDisconnected) as error:  # gunicorn's InvalidChunkSize, NoMoreData... are OSErrors
            if timed_out(error):
                raise
            raise APIError(400, "IncompleteBody", f"the body could not be read after {self.received} bytes: "
                           "malformed chunked encoding, or the client's connection closed", field="body") from None
