"""The local OSS as a WSGI app: path-style ``/<bucket>/<key>`` requests, as oss2 sends them to an IP endpoint.

Every request goes through the same steps: find the bucket (``NoSuchBucket`` before anything else, like
OSS), authenticate (:mod:`.signature`; anonymous requests are refused, every bucket is private), pick the
operation from the method and sub-resources, ask ``authorize`` whether the caller may perform its RAM
action on the resource, then run it against the :class:`~.storage.ObjectStore`. Bodies stream both ways in
bounded chunks; an unexpected exception is logged and answered with a 500 ``InternalError`` XML, never a
traceback.

Supported: ListObjects (v1 and v2), GetObject (with ranges and conditions), HeadObject, GetObjectMeta,
PutObject, DeleteObject, DeleteMultipleObjects and multipart upload (initiate, upload part, complete, abort,
list parts). Anything else answers 501 ``NotImplemented``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import logging
import re
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_tz
from typing import BinaryIO, Callable, Optional
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlsplit

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from ..credentials import LookupSource
from ..ram import Decision
from .errors import (
    XML_CONTENT_TYPE,
    XML_DECLARATION,
    OssError,
    access_denied,
    common_headers,
    internal_error,
    invalid_argument,
    invalid_digest,
    malformed_xml,
    new_request_id,
    no_such_bucket,
    not_implemented,
    ram_denied,
    unsupported_header,
)
from .signature import V1_SUBRESOURCES, Authenticator, SignedRequest
from .storage import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectStore,
    PartInfo,
    is_valid_bucket_name,
    parse_content_md5,
)

log = logging.getLogger("eas_devkit.local.oss")

Authorize = Callable[[str, str, str, Mapping[str, str]], Decision]
"""``(RAM action, resource ARN, AccessKeyId, condition context) -> allowed``, asked after authentication for
every request. The resource carries the region and the bucket owner's account, as RAM sees a request
(``acs:oss:cn-hangzhou:<account>:bucket/key``); ListObjects gives ``oss:Prefix`` and ``oss:Delimiter`` in the
context when the request has them."""

GET_CHUNK = 64 * 1024
MAX_XML_BODY = 4 * 1024 * 1024  # a CompleteMultipartUpload of 10,000 parts is well under this
DEFAULT_MAX_KEYS = 100
MAX_KEYS_LIMIT = 1000
MAX_DELETE_KEYS = 1000
OWNER_ID = "local-eas"
STORAGE_CLASS = "Standard"

RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
TRAFFIC_LIMIT = "x-oss-traffic-limit"
# Sub-resources this app understands; any other one oss2 signs is an operation it does not implement.
SUPPORTED_SUBRESOURCES = frozenset(
    ["uploadId", "partNumber", "uploads", "objectMeta", "delete", "continuation-token", "security-token",
     "acl", "tagging", "append", "position", "bucketInfo", "location", "live", "symlink", TRAFFIC_LIMIT,
     *RESPONSE_OVERRIDES])
OBJECT_SUBRESOURCES = frozenset(["uploadId", "partNumber", "uploads", "objectMeta", "acl", "tagging", "append",
                                 "position", "symlink"])
ANONYMOUS_READS = frozenset(["oss:GetObject", "oss:ListObjects"])
ANONYMOUS_WRITES = frozenset(["oss:PutObject", "oss:DeleteObject", "oss:AbortMultipartUpload"])
BUCKET_ACLS = frozenset(["private", "public-read", "public-read-write"])
# The standard headers an upload may set, stored and sent back on GET and HEAD.
STORED_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires")
OBJECT_ACLS = frozenset(["default", "private", "public-read", "public-read-write"])
MAX_TAGS = 10

# Request headers of OSS features the local OSS does not implement: refused with 501 naming them wherever they
# come, never ignored (server-side encryption, upload callbacks, requester pays, symlinks, image processing,
# WORM, access points...). The headers it implements take effect where OSS applies them and are ignored where
# OSS ignores them (oss2 sends a resumable upload's x-oss-object-acl along with ListParts); an x-oss-* name that
# is no OSS feature (x-oss-user) is signed and ignored, as OSS does.
UNIMPLEMENTED_HEADERS = frozenset([
    "x-oss-access-point-name", "x-oss-allow-same-action-overlap", "x-oss-async-process", "x-oss-process",
    "x-oss-request-payer", "x-oss-version-id", "x-oss-worm-id",
    "x-oss-write-get-object-response", "x-oss-resource-group-id", "x-oss-hash-ctx", "x-oss-md5-ctx",
    "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid",
])
UNIMPLEMENTED_PREFIXES = ("x-oss-server-side-", "x-oss-callback", "x-oss-sse-", "x-oss-object-worm-")
# Implemented headers that OSS also applies to an operation the local OSS does not apply them to.
COPY_REFUSED = frozenset([TRAFFIC_LIMIT])
COMPRESSED_TYPES = frozenset(["application/json", "application/xml", "application/javascript",
                              "application/x-javascript", "application/xhtml+xml"])
MIN_COMPRESSED_SIZE = 1024
MIN_TRAFFIC_LIMIT, MAX_TRAFFIC_LIMIT = 100 * 1024 * 8, 100 * 1024 * 1024 * 8  # bit/s, as OSS bounds it

_TAG_TEXT = re.compile(r"[\w +\-=.:/]*")
_STAND_IN = 0x10FF00  # private-use code points standing for control characters while XML is parsed
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*(?:,.*)?", re.DOTALL)


def create_oss_app(store: ObjectStore, credentials: LookupSource, region: str,
                   authorize: Optional[Authorize] = None, *, account_id: str = "*",
                   clock: Callable[[], float] = time.time) -> OssApp:
    """A WSGI app serving ``store`` as OSS in ``region``.

    ``credentials`` is anything with ``lookup(access_key_id) -> Optional[IssuedCredentials]`` (the
    ``CredentialIssuer``). ``authorize`` decides RAM permissions; None allows every authenticated request.
    ``account_id`` owns the buckets (in resource ARNs). ``clock`` is the server's idea of now (request-time
    skew, presigned URL and credential expiry).
    """
    return OssApp(store, Authenticator(credentials, region, clock), authorize, region=region, account_id=account_id)


@dataclass(frozen=True)
class _Target:
    bucket: str
    key: str

    def resource(self, region: str, account_id: str) -> str:
        """The RAM resource ARN of the object, or of the bucket for bucket-level requests."""
        bucket = f"acs:oss:{region}:{account_id}:{self.bucket}"
        return f"{bucket}/{self.key}" if self.key else bucket


@dataclass(frozen=True)
class _Call:
    """One request, parsed: what every handler needs."""

    request: Request
    target: _Target
    params: Mapping[str, str]
    access_key_id: str

    def url_encoder(self) -> Optional[Callable[[str], str]]:
        """How names are written in XML: URL-encoded when the request asked for ``encoding-type=url``."""
        return _url_encode if self.params.get("encoding-type") == "url" else None


Handler = Callable[[_Call], Response]


@dataclass(frozen=True)
class _Operation:
    action: str
    handler: Handler
    authorized_per_key: bool = False  # DeleteMultipleObjects asks once per key
    refused: frozenset[str] = frozenset()  # headers OSS applies here that the local OSS does not


class OssApp:
    """The WSGI callable :func:`create_oss_app` returns; ``store`` is public, to put objects in and look at them
    directly."""

    def __init__(self, store: ObjectStore, authenticator: Authenticator,
                 authorize: Optional[Authorize] = None, *, region: str = "*", account_id: str = "*") -> None:
        self.store = store
        self.authenticator = authenticator
        self.authorize = authorize
        self.region = region
        self.account_id = account_id

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request_id = new_request_id()
        try:
            response = self._dispatch(request)
            response.headers.update(common_headers(request_id))
        except OssError as error:
            response = error.to_response(request_id, request.host, request.method)
        except Exception:
            # The path names bucket and key only; the query string, which may hold a signature, is left out.
            log.exception("local OSS: internal error on %s %s (request %s)", request.method, request.path,
                          request_id)
            response = internal_error().to_response(request_id, request.host, request.method)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        target = _parse_target(request)
        params: dict[str, str] = {}
        for name, value in request.args.items(multi=True):
            params.setdefault(name, value)
        headers = {name.lower(): value for name, value in request.headers.items()}
        creating = request.method == "PUT" and target.bucket and not target.key and not _subresources(params)
        if target.bucket:
            if not is_valid_bucket_name(target.bucket):
                raise OssError(400, "InvalidBucketName", "The specified bucket is not valid.",
                               BucketName=target.bucket)
            if not creating and not self.store.bucket_exists(target.bucket):
                raise no_such_bucket(target.bucket)
        signed = SignedRequest(request.method, target.bucket, target.key, params, headers)
        authentication = self.authenticator.authenticate(signed)
        if authentication is None and not target.bucket:
            raise access_denied()
        operation = self._route(request.method, target, params, headers)
        _refuse_unsupported_headers(headers, params, operation)
        if authentication is None:  # anonymous: the ACLs decide, RAM does not apply
            if not self._acl_allows(operation.action, target):
                raise access_denied()
            return operation.handler(_Call(request, target, params, ""))
        call = _Call(request, target, params, authentication.access_key_id)
        if not operation.authorized_per_key:
            self._authorize(call, operation.action, target)
        return operation.handler(call)

    def _acl_allows(self, action: str, target: _Target) -> bool:
        """What an anonymous request may do: read under public-read, also write under public-read-write. An
        object's own ACL, unless ``default``, overrides its bucket's."""
        if action not in ANONYMOUS_READS | ANONYMOUS_WRITES:
            return False
        acl = self.store.bucket_acl(target.bucket)
        if target.key:
            try:
                own = self.store.head_object(target.bucket, target.key).acl
            except OssError:
                own = "default"
            acl = acl if own == "default" else own
        if action in ANONYMOUS_READS:
            return acl in ("public-read", "public-read-write")
        return acl == "public-read-write"

    def _authorize(self, call: _Call, action: str, target: _Target) -> None:
        if self.authorize is None:
            return
        context = {f"oss:{name.capitalize()}": call.params[name] for name in ("prefix", "delimiter")
                   if action == "oss:ListObjects" and name in call.params}
        decision = self.authorize(action, target.resource(self.region, self.account_id), call.access_key_id, context)
        if not decision:
            raise ram_denied(action, call.access_key_id, self.account_id, decision.explicit)

    def _route(self, method: str, target: _Target, params: Mapping[str, str],
               headers: Mapping[str, str]) -> _Operation:
        unsupported = sorted(name for name in _subresources(params) if name not in SUPPORTED_SUBRESOURCES)
        if unsupported:
            raise not_implemented(f"The {unsupported[0]!r} sub-resource")
        if not target.bucket:
            if method == "GET":
                return _Operation("oss:ListBuckets", self._list_buckets)
            raise _method_not_allowed(method, "Service")
        if target.key:
            return self._route_object(method, params, headers)
        return self._route_bucket(method, params)

    def _route_object(self, method: str, params: Mapping[str, str], headers: Mapping[str, str]) -> _Operation:
        foreign = sorted(_subresources(params) - OBJECT_SUBRESOURCES)
        if foreign:  # a bucket-level sub-resource on an object (?live: CreateLiveChannel) is no object operation
            raise not_implemented(f"{method} on an object with ?{foreign[0]}")
        multipart = "uploadId" in params
        copying = "x-oss-copy-source" in headers
        subresource = next((name for name in ("acl", "tagging", "append", "symlink") if name in params), None)
        if subresource is not None and (multipart or copying or "uploads" in params):
            raise not_implemented(f"The {subresource!r} sub-resource with another operation")
        if subresource is not None:
            by_method: dict[str, tuple[str, Handler]] = {
                "acl": {"GET": ("oss:GetObjectAcl", self._get_object_acl),
                        "PUT": ("oss:PutObjectAcl", self._put_object_acl)},
                "tagging": {"GET": ("oss:GetObjectTagging", self._get_object_tagging),
                            "PUT": ("oss:PutObjectTagging", self._put_object_tagging),
                            "DELETE": ("oss:DeleteObjectTagging", self._delete_object_tagging)},
                "symlink": {"GET": ("oss:GetObject", self._get_symlink), "PUT": ("oss:PutObject", self._put_symlink)},
                "append": {"POST": ("oss:PutObject", self._append_object)},
            }[subresource]
            if method not in by_method:
                raise _method_not_allowed(method, f"Object ?{subresource}")
            return _Operation(*by_method[method])
        if method == "GET" and multipart:
            return _Operation("oss:ListParts", self._list_parts)
        if method == "GET":
            return _Operation("oss:GetObject", self._get_object)
        if method == "HEAD":
            return _Operation("oss:GetObject", self._head_object)
        if method == "PUT":
            if (multipart or "partNumber" in params) and copying:
                return _Operation("oss:PutObject", self._upload_part_copy, refused=COPY_REFUSED)
            if multipart or "partNumber" in params:
                return _Operation("oss:PutObject", self._upload_part)
            if copying:
                return _Operation("oss:PutObject", self._copy_object, refused=COPY_REFUSED)
            return _Operation("oss:PutObject", self._put_object)
        if method == "POST":
            if "uploads" in params:
                return _Operation("oss:PutObject", self._initiate_multipart)
            if multipart:
                return _Operation("oss:PutObject", self._complete_multipart)
            raise not_implemented("POST on an object without ?uploads, ?uploadId or ?append")
        if method == "DELETE" and multipart:
            return _Operation("oss:AbortMultipartUpload", self._abort_multipart)
        if method == "DELETE":
            return _Operation("oss:DeleteObject", self._delete_object)
        raise _method_not_allowed(method, "Object")

    def _route_bucket(self, method: str, params: Mapping[str, str]) -> _Operation:
        present = _subresources(params)
        if method == "GET":
            if "uploads" in params:
                return _Operation("oss:ListMultipartUploads", self._list_uploads)
            if "bucketInfo" in params:
                return _Operation("oss:GetBucketInfo", self._get_bucket_info)
            if "location" in params:
                return _Operation("oss:GetBucketLocation", self._get_bucket_location)
            if "acl" in params:
                return _Operation("oss:GetBucketAcl", self._get_bucket_acl)
            if present == {"live"}:  # there are none: creating one is not implemented
                return _Operation("oss:ListLiveChannel", self._list_live_channels)
            if present:
                raise not_implemented(f"GET on a bucket with ?{sorted(present)[0]}")
            return _Operation("oss:ListObjects", self._list_objects)
        if method == "POST" and "delete" in params:
            return _Operation("oss:DeleteObject", self._delete_objects, authorized_per_key=True)
        if method == "PUT" and not present:
            return _Operation("oss:PutBucket", self._put_bucket)
        if method == "PUT" and present == {"acl"}:
            return _Operation("oss:PutBucketAcl", self._put_bucket_acl)
        if method == "DELETE" and not present:
            return _Operation("oss:DeleteBucket", self._delete_bucket)
        if method in ("PUT", "POST", "DELETE", "HEAD"):
            what = f" with ?{sorted(present)[0]}" if present else ""
            raise not_implemented(f"{method} on a bucket{what}")
        raise _method_not_allowed(method, "Bucket")

    # Objects

    def _get_object(self, call: _Call) -> Response:
        info, handle = self.store.open_object(call.target.bucket, call.target.key)
        try:
            not_modified = _check_conditions(call.request, info)
            if not_modified is not None:
                handle.close()
                return not_modified
            headers = _object_headers(info)
            status, start, end = 200, 0, info.size
            chosen = _choose_range(call.request.headers.get("Range"), info.size,
                                   standard=call.request.headers.get("x-oss-range-behavior") == "standard")
            if chosen is not None:
                status, (start, end) = 206, chosen
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
            body: Iterable[bytes] = _FileSlice(handle, start, end - start, _throttle(call))
            if chosen is None and _compresses(call.request, info):
                body = _GzipBody(body)  # streamed, so chunked: no Content-Length, as OSS sends it
                headers["Content-Encoding"] = "gzip"
                headers.pop("Content-MD5", None)
            else:
                headers["Content-Length"] = str(end - start)
            for param, header in RESPONSE_OVERRIDES.items():
                if call.params.get(param):
                    headers[header] = call.params[param]
        except BaseException:
            handle.close()
            raise
        return Response(body, status=status, headers=headers)

    def _head_object(self, call: _Call) -> Response:
        info = self.store.head_object(call.target.bucket, call.target.key, follow=True)
        if "objectMeta" in call.params:  # GetObjectMeta: the basic metadata only
            headers = {"ETag": _quoted(info.etag), "Last-Modified": _http_date(info.last_modified)}
        else:
            not_modified = _check_conditions(call.request, info)
            if not_modified is not None:
                return not_modified
            headers = _object_headers(info)
        headers["Content-Length"] = str(info.size)
        return Response([], status=200, headers=headers)

    def _put_object(self, call: _Call) -> Response:
        request = call.request
        _check_storage_class(request)
        info = self.store.put_object(
            call.target.bucket, call.target.key, _RequestBody(request.stream, _throttle(call)),
            size=_body_size(request),
            content_type=request.headers.get("Content-Type") or None, metadata=_stored_headers(request),
            content_md5=request.headers.get("Content-MD5"), forbid_overwrite=_forbids_overwrite(request),
            acl=_request_acl(request), tags=_request_tags(request))
        headers = {"ETag": _quoted(info.etag), "x-oss-hash-crc64ecma": str(info.crc64)}
        if info.content_md5:
            headers["Content-MD5"] = info.content_md5
        return _empty(200, headers)

    def _delete_object(self, call: _Call) -> Response:
        self.store.delete_object(call.target.bucket, call.target.key)
        return _empty(204)

    def _copy_object(self, call: _Call) -> Response:
        request = call.request
        _check_storage_class(request)
        source = self._copy_source(call)
        directive = request.headers.get("x-oss-metadata-directive", "COPY").upper()
        tagging_directive = request.headers.get("x-oss-tagging-directive", "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise invalid_argument("x-oss-metadata-directive", directive, "x-oss-metadata-directive must be COPY "
                                   "or REPLACE.")
        if tagging_directive not in ("COPY", "REPLACE"):
            raise invalid_argument("x-oss-tagging-directive", tagging_directive, "x-oss-tagging-directive must "
                                   "be Copy or Replace.")
        replace = directive == "REPLACE"
        info = self.store.copy_object(
            source, call.target.bucket, call.target.key, check_source=_copy_conditions(request),
            content_type=(request.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE) if replace else None,
            metadata=_stored_headers(request) if replace else None,
            tags=_request_tags(request) if tagging_directive == "REPLACE" else None,
            acl=_request_acl(request), forbid_overwrite=_forbids_overwrite(request))
        root = ET.Element("CopyObjectResult")
        _add(root, "ETag", _quoted(info.etag))
        _add(root, "LastModified", _iso8601(info.last_modified))
        return _xml(root, {"ETag": _quoted(info.etag), "x-oss-hash-crc64ecma": str(info.crc64)})

    def _copy_source(self, call: _Call) -> tuple[str, str]:
        """The (bucket, key) of ``x-oss-copy-source: /bucket/url-encoded-key``, readable by the caller."""
        raw = call.request.headers.get("x-oss-copy-source", "")
        path, _, query = raw.partition("?")
        if query:
            raise not_implemented("Copying a version of an object (x-oss-copy-source with ?versionId)")
        try:
            bucket, _, key = unquote_to_bytes(path).decode("utf-8").lstrip("/").partition("/")
        except UnicodeDecodeError:
            bucket, key = "", ""
        if not bucket or not key:
            raise invalid_argument("x-oss-copy-source", raw, "x-oss-copy-source must be /<bucket>/<url-encoded key>.")
        if not self.store.bucket_exists(bucket):
            raise no_such_bucket(bucket)
        self._authorize(call, "oss:GetObject", _Target(bucket, key))
        return bucket, key

    def _append_object(self, call: _Call) -> Response:
        request = call.request
        position = _int_param(call.params, "position", None, 0, None)
        _check_storage_class(request)
        info = self.store.append_object(
            call.target.bucket, call.target.key, position, _RequestBody(request.stream, _throttle(call)),
            size=_body_size(request),
            content_type=request.headers.get("Content-Type") or None, metadata=_stored_headers(request),
            content_md5=request.headers.get("Content-MD5"), acl=_request_acl(request),
            tags=_request_tags(request) if position == 0 else None)  # later appends ignore tagging, as OSS does
        return _empty(200, {"ETag": _quoted(info.etag), "x-oss-hash-crc64ecma": str(info.crc64),
                            "x-oss-next-append-position": str(info.size)})

    def _put_symlink(self, call: _Call) -> Response:
        request = call.request
        raw = request.headers.get("x-oss-symlink-target", "")
        try:
            target = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            target = ""
        if not target:
            raise invalid_argument("x-oss-symlink-target", raw, "x-oss-symlink-target must name the target key, "
                                   "URL-encoded.")
        _check_storage_class(request)
        info = self.store.put_symlink(call.target.bucket, call.target.key, target,
                                      content_type=request.headers.get("Content-Type") or None,
                                      metadata=_stored_headers(request), acl=_request_acl(request),
                                      tags=_request_tags(request), forbid_overwrite=_forbids_overwrite(request))
        return _empty(200, {"ETag": _quoted(info.etag)})

    def _get_symlink(self, call: _Call) -> Response:
        info = self.store.head_object(call.target.bucket, call.target.key)
        if info.object_type != "Symlink":
            raise OssError(400, "NotSymlink", "The specified object is not a symlink.", Key=call.target.key)
        return _empty(200, {"x-oss-symlink-target": quote(info.symlink_target, safe=""), "ETag": _quoted(info.etag),
                            "Last-Modified": _http_date(info.last_modified), **info.metadata})

    def _get_object_acl(self, call: _Call) -> Response:
        info = self.store.head_object(call.target.bucket, call.target.key)
        return _acl_xml(info.acl)

    def _put_object_acl(self, call: _Call) -> Response:
        acl = call.request.headers.get("x-oss-object-acl")
        if acl is None:
            raise invalid_argument("x-oss-object-acl", None, "x-oss-object-acl is required.")
        self.store.set_object_attributes(call.target.bucket, call.target.key, acl=_request_acl(call.request))
        return _empty(200)

    def _get_object_tagging(self, call: _Call) -> Response:
        info = self.store.head_object(call.target.bucket, call.target.key)
        root = ET.Element("Tagging")
        tag_set = _add(root, "TagSet")
        for name, value in info.tags.items():
            tag = _add(tag_set, "Tag")
            _add(tag, "Key", name)
            _add(tag, "Value", value)
        return _xml(root)

    def _put_object_tagging(self, call: _Call) -> Response:
        body = _read_small_body(call.request, required_md5=False)
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise malformed_xml() from None
        if root.tag != "Tagging":
            raise malformed_xml()
        tags = {}
        for node in root.findall("TagSet/Tag"):
            tags[node.findtext("Key") or ""] = node.findtext("Value") or ""
        self.store.set_object_attributes(call.target.bucket, call.target.key, tags=_checked_tags(tags))
        return _empty(200)

    def _delete_object_tagging(self, call: _Call) -> Response:
        self.store.set_object_attributes(call.target.bucket, call.target.key, tags={})
        return _empty(204)

    # Buckets

    def _list_objects(self, call: _Call) -> Response:
        params = call.params
        encode = call.url_encoder()
        version2 = params.get("list-type") == "2"
        if params.get("list-type", "1") not in ("1", "2"):
            raise invalid_argument("list-type", params["list-type"], "list-type must be 1 or 2.")
        if params.get("encoding-type", "url") not in ("url", ""):
            raise invalid_argument("encoding-type", params["encoding-type"], "encoding-type must be url.")
        max_keys = _int_param(params, "max-keys", DEFAULT_MAX_KEYS, 1, MAX_KEYS_LIMIT)
        prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
        if version2:
            token = params.get("continuation-token", "")
            after = _decode_token(token) if token else params.get("start-after", "")
        else:
            after = params.get("marker", "")
        page = self.store.list_objects(call.target.bucket, prefix, after, delimiter, max_keys)

        root = ET.Element("ListBucketResult")
        _add(root, "Name", call.target.bucket)
        _add(root, "Prefix", _maybe(encode, prefix))
        if version2:
            if params.get("start-after"):
                _add(root, "StartAfter", _maybe(encode, params["start-after"]))
            if params.get("continuation-token"):
                _add(root, "ContinuationToken", params["continuation-token"])
        else:
            _add(root, "Marker", _maybe(encode, after))
        _add(root, "MaxKeys", str(max_keys))
        _add(root, "Delimiter", _maybe(encode, delimiter))
        if encode is not None:
            _add(root, "EncodingType", "url")
        _add(root, "IsTruncated", _bool(page.is_truncated))
        if page.is_truncated:
            if version2:
                _add(root, "NextContinuationToken", _maybe(encode, _encode_token(page.next_marker)))
            else:
                _add(root, "NextMarker", _maybe(encode, page.next_marker))
        if version2:
            _add(root, "KeyCount", str(len(page.objects) + len(page.common_prefixes)))
        with_owner = not version2 or params.get("fetch-owner") == "true"
        for info in page.objects:
            _add_contents(root, info, encode, with_owner)
        for common_prefix in page.common_prefixes:
            _add(_add(root, "CommonPrefixes"), "Prefix", _maybe(encode, common_prefix))
        return _xml(root)

    def _list_buckets(self, call: _Call) -> Response:
        params = call.params
        prefix, marker = params.get("prefix", ""), params.get("marker", "")
        max_keys = _int_param(params, "max-keys", DEFAULT_MAX_KEYS, 1, MAX_KEYS_LIMIT)
        names = [name for name in self.store.bucket_names() if name.startswith(prefix) and name > marker]
        root = ET.Element("ListAllMyBucketsResult")
        _add_owner(root)
        if prefix or marker or "max-keys" in params:
            _add(root, "Prefix", prefix)
            _add(root, "Marker", marker)
            _add(root, "MaxKeys", str(max_keys))
            _add(root, "IsTruncated", _bool(len(names) > max_keys))
            if len(names) > max_keys:
                _add(root, "NextMarker", names[max_keys - 1])
        buckets = _add(root, "Buckets")
        for name in names[:max_keys]:
            node = _add(buckets, "Bucket")
            self._add_bucket_fields(node, call, name)
        return _xml(root)

    def _add_bucket_fields(self, node: ET.Element, call: _Call, name: str) -> None:
        _add(node, "CreationDate", _iso8601(self.store.bucket_created(name)))
        _add(node, "ExtranetEndpoint", call.request.host)
        _add(node, "IntranetEndpoint", call.request.host)
        _add(node, "Location", f"oss-{self.region}")
        _add(node, "Name", name)
        _add(node, "Region", self.region)
        _add(node, "StorageClass", STORAGE_CLASS)

    def _put_bucket(self, call: _Call) -> Response:
        request = call.request
        acl = _bucket_acl(request)
        body = _read_small_body(request, required_md5=False)
        if body.strip():
            try:
                root = ET.fromstring(body)
            except ET.ParseError:
                raise malformed_xml() from None
            for node in root:
                value = (node.text or "").strip()
                if (node.tag, value) not in (("StorageClass", STORAGE_CLASS), ("DataRedundancyType", "LRS")):
                    raise not_implemented(f"Creating a bucket with {node.tag} {value}")
        _check_storage_class(request)
        created = not self.store.bucket_exists(call.target.bucket)
        self.store.create_bucket(call.target.bucket)
        if created:
            self.store.set_bucket_acl(call.target.bucket, acl)
        return _empty(200, {"Location": f"/{call.target.bucket}"})

    def _put_bucket_acl(self, call: _Call) -> Response:
        if "x-oss-acl" not in call.request.headers:
            raise invalid_argument("x-oss-acl", None, "x-oss-acl is required.")
        self.store.set_bucket_acl(call.target.bucket, _bucket_acl(call.request))
        return _empty(200)

    def _delete_bucket(self, call: _Call) -> Response:
        self.store.delete_bucket(call.target.bucket)
        return _empty(204)

    def _get_bucket_info(self, call: _Call) -> Response:
        root = ET.Element("BucketInfo")
        bucket = _add(root, "Bucket")
        self._add_bucket_fields(bucket, call, call.target.bucket)
        _add_owner(bucket)
        _add(_add(bucket, "AccessControlList"), "Grant", self.store.bucket_acl(call.target.bucket))
        _add(bucket, "DataRedundancyType", "LRS")
        return _xml(root)

    def _get_bucket_location(self, call: _Call) -> Response:
        root = ET.Element("LocationConstraint")
        root.text = f"oss-{self.region}"
        return _xml(root)

    def _list_live_channels(self, call: _Call) -> Response:
        root = ET.Element("ListLiveChannelResult")
        _add(root, "Prefix", call.params.get("prefix", ""))
        _add(root, "Marker", call.params.get("marker", ""))
        _add(root, "MaxKeys", str(_int_param(call.params, "max-keys", DEFAULT_MAX_KEYS, 1, MAX_KEYS_LIMIT)))
        _add(root, "IsTruncated", "false")
        return _xml(root)

    def _get_bucket_acl(self, call: _Call) -> Response:
        return _acl_xml(self.store.bucket_acl(call.target.bucket))

    def _list_uploads(self, call: _Call) -> Response:
        params = call.params
        encode = call.url_encoder()
        max_uploads = _int_param(params, "max-uploads", 1000, 1, 1000)
        prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
        key_marker, id_marker = params.get("key-marker", ""), params.get("upload-id-marker", "")
        page = self.store.list_uploads(call.target.bucket, prefix, key_marker, id_marker, delimiter, max_uploads)
        root = ET.Element("ListMultipartUploadsResult")
        if encode is not None:
            _add(root, "EncodingType", "url")
        _add(root, "Bucket", call.target.bucket)
        _add(root, "KeyMarker", _maybe(encode, key_marker))
        _add(root, "UploadIdMarker", id_marker)
        _add(root, "NextKeyMarker", _maybe(encode, page.next_key_marker))
        _add(root, "NextUploadIdMarker", page.next_upload_id_marker)
        _add(root, "Delimiter", _maybe(encode, delimiter))
        _add(root, "Prefix", _maybe(encode, prefix))
        _add(root, "MaxUploads", str(max_uploads))
        _add(root, "IsTruncated", _bool(page.is_truncated))
        for upload in page.uploads:
            node = _add(root, "Upload")
            _add(node, "Key", _maybe(encode, upload.key))
            _add(node, "UploadId", upload.upload_id)
            _add(node, "StorageClass", STORAGE_CLASS)
            _add(node, "Initiated", _iso8601(upload.initiated))
        for common_prefix in page.common_prefixes:
            _add(_add(root, "CommonPrefixes"), "Prefix", _maybe(encode, common_prefix))
        return _xml(root)

    def _delete_objects(self, call: _Call) -> Response:
        root, restore = _parse_keys_xml(_read_small_body(call.request, required_md5=True))
        keys = [restore(node.text or "") for node in root.findall("Object/Key")]
        if root.tag != "Delete" or not keys or len(keys) > MAX_DELETE_KEYS or len(keys) != len(root.findall("Object")):
            raise malformed_xml()
        quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
        for key in keys:
            self._authorize(call, "oss:DeleteObject", _Target(call.target.bucket, key))
        for key in keys:
            self.store.delete_object(call.target.bucket, key)

        encode = call.url_encoder()
        result = ET.Element("DeleteResult")
        if encode is not None:
            _add(result, "EncodingType", "url")
        if not quiet:
            for key in keys:
                _add(_add(result, "Deleted"), "Key", _maybe(encode, key))
        return _xml(result)

    # Multipart uploads

    def _initiate_multipart(self, call: _Call) -> Response:
        request = call.request
        _check_storage_class(request)
        upload = self.store.initiate_multipart(call.target.bucket, call.target.key,
                                               content_type=request.headers.get("Content-Type") or None,
                                               metadata=_stored_headers(request),
                                               forbid_overwrite=_forbids_overwrite(request),
                                               acl=_request_acl(request), tags=_request_tags(request))
        encode = call.url_encoder()
        root = ET.Element("InitiateMultipartUploadResult")
        if encode is not None:
            _add(root, "EncodingType", "url")
        _add(root, "Bucket", upload.bucket)
        _add(root, "Key", _maybe(encode, upload.key))
        _add(root, "UploadId", upload.upload_id)
        return _xml(root)

    def _upload_part(self, call: _Call) -> Response:
        request = call.request
        part_number = _int_param(call.params, "partNumber", None, 1, None)
        part = self.store.upload_part(call.target.bucket, call.target.key, _upload_id(call.params), part_number,
                                      _RequestBody(request.stream, _throttle(call)), size=_body_size(request),
                                      content_md5=request.headers.get("Content-MD5"))
        return _empty(200, {"ETag": _quoted(part.etag), "x-oss-hash-crc64ecma": str(part.crc64)})

    def _upload_part_copy(self, call: _Call) -> Response:
        request = call.request
        part_number = _int_param(call.params, "partNumber", None, 1, None)
        source = self._copy_source(call)
        source_size = self.store.head_object(*source).size
        raw_range = request.headers.get("x-oss-copy-source-range")
        byte_range = None
        if raw_range is not None:
            byte_range = _choose_range(raw_range, source_size, standard=True)
            if byte_range is None:
                raise invalid_argument("x-oss-copy-source-range", raw_range, "The copy source range is not valid.")
        part = self.store.upload_part_copy(source, call.target.bucket, call.target.key, _upload_id(call.params),
                                           part_number, byte_range, check_source=_copy_conditions(request))
        root = ET.Element("CopyPartResult")
        _add(root, "LastModified", _iso8601(part.last_modified))
        _add(root, "ETag", _quoted(part.etag))
        return _xml(root, {"ETag": _quoted(part.etag), "x-oss-hash-crc64ecma": str(part.crc64)})

    def _complete_multipart(self, call: _Call) -> Response:
        request = call.request
        upload_id = _upload_id(call.params)
        if request.headers.get("x-oss-complete-all", "").lower() == "yes":
            parts = None
        else:
            parts = _parse_complete_body(_read_small_body(request, required_md5=False))
        info = self.store.complete_multipart(call.target.bucket, call.target.key, upload_id, parts,
                                             forbid_overwrite=_forbids_overwrite(request),
                                             acl=_request_acl(request) if "x-oss-object-acl" in request.headers
                                             else None)
        encode = call.url_encoder()
        root = ET.Element("CompleteMultipartUploadResult")
        if encode is not None:
            _add(root, "EncodingType", "url")
        _add(root, "Location", f"{request.host_url}{info.bucket}/{quote(info.key, safe='/')}")
        _add(root, "Bucket", info.bucket)
        _add(root, "Key", _maybe(encode, info.key))
        _add(root, "ETag", _quoted(info.etag))
        return _xml(root, {"ETag": _quoted(info.etag), "x-oss-hash-crc64ecma": str(info.crc64)})

    def _abort_multipart(self, call: _Call) -> Response:
        self.store.abort_multipart(call.target.bucket, call.target.key, _upload_id(call.params))
        return _empty(204)

    def _list_parts(self, call: _Call) -> Response:
        params = call.params
        upload_id = _upload_id(params)
        marker = _int_param(params, "part-number-marker", 0, 0, None)
        max_parts = _int_param(params, "max-parts", 1000, 1, 1000)
        parts, truncated = self.store.list_parts(call.target.bucket, call.target.key, upload_id, marker, max_parts)
        encode = call.url_encoder()
        root = ET.Element("ListPartsResult")
        if encode is not None:
            _add(root, "EncodingType", "url")
        _add(root, "Bucket", call.target.bucket)
        _add(root, "Key", _maybe(encode, call.target.key))
        _add(root, "UploadId", upload_id)
        _add(root, "PartNumberMarker", str(marker))
        _add(root, "NextPartNumberMarker", str(parts[-1].part_number if parts else marker))
        _add(root, "MaxParts", str(max_parts))
        _add(root, "IsTruncated", _bool(truncated))
        for part in parts:
            _add_part(root, part)
        return _xml(root)


# Request parsing


def _parse_target(request: Request) -> _Target:
    """Bucket and key from the raw request path, so that invalid UTF-8 is refused, not replaced."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    raw_path = raw.split("?", 1)[0]
    if "://" in raw_path:  # absolute-form request target
        raw_path = urlsplit(raw_path).path
    if raw_path.startswith("/") and raw_path.isascii():
        try:
            path = unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            raise OssError(400, "InvalidObjectName", "The object name is not valid UTF-8.") from None
    else:  # no raw form from this server: fall back to the decoded PATH_INFO
        path = request.path
    bucket, _, key = path.lstrip("/").partition("/")
    return _Target(bucket, key)


def _int_param(params: Mapping[str, str], name: str, default: Optional[int], low: int,
               high: Optional[int]) -> int:
    raw = params.get(name, "")
    if raw == "" and default is not None:
        return default
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        raise invalid_argument(name, raw, f"Argument {name} must be an integer {bounds}.")
    return int(raw)


def _upload_id(params: Mapping[str, str]) -> str:
    upload_id = params.get("uploadId", "")
    if not upload_id:
        raise invalid_argument("uploadId", upload_id, "Argument uploadId is required.")
    return upload_id


def _body_size(request: Request) -> Optional[int]:
    """The announced body length; None for a chunked body, which is read to its end."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return None
    if request.content_length is None:
        raise OssError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    return request.content_length


def _forbids_overwrite(request: Request) -> bool:
    """``x-oss-forbid-overwrite: true`` (PutObject, InitiateMultipartUpload, CompleteMultipartUpload)."""
    return request.headers.get("x-oss-forbid-overwrite", "").lower() == "true"


def _stored_headers(request: Request) -> dict[str, str]:
    """The headers an upload stores to send back: ``x-oss-meta-*`` (lower-cased) and the standard ones."""
    stored = {name.lower(): value for name, value in request.headers.items()
              if name.lower().startswith("x-oss-meta-")}
    stored.update({name: request.headers[name] for name in STORED_HEADERS if name in request.headers})
    return stored


def _subresources(params: Mapping[str, str]) -> set[str]:
    """The signed sub-resources of a request (operations), apart from the response-* overrides."""
    return {name for name in params if name in V1_SUBRESOURCES and name not in RESPONSE_OVERRIDES
            and name not in ("security-token", "continuation-token", TRAFFIC_LIMIT)}


def _refuse_unsupported_headers(headers: Mapping[str, str], params: Mapping[str, str],
                                operation: _Operation) -> None:
    """501 for an ``x-oss-*`` request header of a feature the local OSS lacks: never accept and ignore it."""
    if TRAFFIC_LIMIT in params and TRAFFIC_LIMIT in operation.refused:
        raise unsupported_header(TRAFFIC_LIMIT)
    for name in sorted(headers):
        if name in UNIMPLEMENTED_HEADERS or name.startswith(UNIMPLEMENTED_PREFIXES) or name in operation.refused:
            raise unsupported_header(name)


def _check_storage_class(request: Request) -> None:
    storage_class = request.headers.get("x-oss-storage-class")
    if storage_class is not None and storage_class.lower() != STORAGE_CLASS.lower():
        raise not_implemented(f"The {storage_class} storage class (x-oss-storage-class)")


def _request_acl(request: Request) -> str:
    acl = request.headers.get("x-oss-object-acl", "default")
    if acl not in OBJECT_ACLS:
        raise invalid_argument("x-oss-object-acl", acl, "x-oss-object-acl must be one of default, private, "
                               "public-read, public-read-write.")
    return acl


def _bucket_acl(request: Request) -> str:
    acl = request.headers.get("x-oss-acl", "private")
    if acl not in BUCKET_ACLS:
        raise invalid_argument("x-oss-acl", acl, "x-oss-acl must be private, public-read or public-read-write.")
    return acl


def _request_tags(request: Request) -> dict[str, str]:
    """``x-oss-tagging: k1=v1&k2=v2`` (URL query form)."""
    pairs = parse_qsl(request.headers.get("x-oss-tagging", ""), keep_blank_values=True)
    if len({name for name, _ in pairs}) != len(pairs):
        raise invalid_argument("x-oss-tagging", request.headers["x-oss-tagging"], "A tag key appears twice.")
    return _checked_tags(dict(pairs))


def _checked_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise invalid_argument("Tagging", str(len(tags)), f"An object can have at most {MAX_TAGS} tags.")
    for name, value in tags.items():
        if not 1 <= len(name) <= 128 or len(value) > 256:
            raise invalid_argument("Tagging", name, "A tag key must be 1 to 128 characters, a value at most 256.")
        if not _TAG_TEXT.fullmatch(name) or not _TAG_TEXT.fullmatch(value):
            raise invalid_argument("Tagging", name, "Tag keys and values may hold letters, digits, spaces and "
                                   "+ - = . _ : / only.")
    return tags


def _parse_keys_xml(body: bytes) -> tuple[ET.Element, Callable[[str], str]]:
    """Parse a DeleteMultipleObjects body, and how to read its keys back.

    oss2 writes keys raw, and a key may hold control characters XML 1.0 cannot carry (a form feed): OSS accepts
    them, so they are swapped for private-use stand-ins before parsing and swapped back in each key.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed_xml() from None
    controls = {char for char in text if ord(char) < 0x20 and char not in "\t\n\r"}
    if controls and any(_STAND_IN <= ord(char) < _STAND_IN + 0x20 for char in text):
        raise malformed_xml()
    for char in controls:
        text = text.replace(char, chr(_STAND_IN + ord(char)))
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise malformed_xml() from None

    def restore(key: str) -> str:
        return "".join(chr(ord(char) - _STAND_IN) if _STAND_IN <= ord(char) < _STAND_IN + 0x20 else char
                       for char in key) if controls else key

    return root, restore


def _copy_conditions(request: Request) -> Callable[[ObjectInfo], None]:
    """The ``x-oss-copy-source-if-*`` conditions, checked against the source object."""

    def check(info: ObjectInfo) -> None:
        match = request.headers.get("x-oss-copy-source-if-match")
        if match is not None and not _etag_matches(match, info.etag):
            raise _precondition_failed("x-oss-copy-source-if-match")
        none_match = request.headers.get("x-oss-copy-source-if-none-match")
        if none_match is not None and _etag_matches(none_match, info.etag):
            raise OssError(304, "NotModified", "The source object was not modified.")
        modified = int(info.last_modified)
        since = _parse_http_date(request.headers.get("x-oss-copy-source-if-unmodified-since"))
        if since is not None and modified > since:
            raise _precondition_failed("x-oss-copy-source-if-unmodified-since")
        since = _parse_http_date(request.headers.get("x-oss-copy-source-if-modified-since"))
        if since is not None and modified <= since:
            raise OssError(304, "NotModified", "The source object was not modified.")

    return check


class _Throttle:
    """``x-oss-traffic-limit``: at most so many bits a second, by sleeping once ahead of that pace."""

    def __init__(self, bits_per_second: int) -> None:
        self._bytes_per_second = bits_per_second / 8
        self._started = time.monotonic()
        self._moved = 0

    def pace(self, count: int) -> None:
        self._moved += count
        ahead = self._moved / self._bytes_per_second - (time.monotonic() - self._started)
        if ahead > 0:
            time.sleep(ahead)


def _throttle(call: _Call) -> Optional[_Throttle]:
    """The request's traffic limit (header, or query parameter of a presigned URL), or None."""
    raw = call.request.headers.get(TRAFFIC_LIMIT) or call.params.get(TRAFFIC_LIMIT)
    if raw is None:
        return None
    if not raw.isdigit() or not MIN_TRAFFIC_LIMIT <= int(raw) <= MAX_TRAFFIC_LIMIT:
        raise invalid_argument(TRAFFIC_LIMIT, raw, f"{TRAFFIC_LIMIT} must be between {MIN_TRAFFIC_LIMIT} and "
                               f"{MAX_TRAFFIC_LIMIT} bit/s.")
    return _Throttle(int(raw))


class _RequestBody:
    """The request stream, with a client that went away mid-body reported as ``IncompleteBody``."""

    def __init__(self, stream: BinaryIO, throttle: Optional[_Throttle] = None) -> None:
        self._stream = stream
        self._throttle = throttle

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._stream.read(size)
        except (ClientDisconnected, OSError):
            raise OssError(400, "IncompleteBody", "The request body ended before it was complete.") from None
        if self._throttle is not None:
            self._throttle.pace(len(chunk))
        return chunk


def _read_small_body(request: Request, required_md5: bool) -> bytes:
    """An XML request body, bounded, checked against ``Content-MD5`` when there is one."""
    body_stream = _RequestBody(request.stream)
    chunks, total = [], 0
    while True:
        chunk = body_stream.read(GET_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > MAX_XML_BODY:
            raise OssError(400, "MalformedXML", f"The XML body is larger than {MAX_XML_BODY} bytes.")
        chunks.append(chunk)
    body = b"".join(chunks)
    content_md5 = request.headers.get("Content-MD5")
    if content_md5 is None:
        if required_md5:
            raise OssError(400, "InvalidRequest", "Missing required header for this request: Content-MD5.")
        return body
    if hashlib.md5(body).digest() != parse_content_md5(content_md5):
        raise invalid_digest("The Content-MD5 you specified did not match what we received.")
    return body


def _parse_complete_body(body: bytes) -> list[tuple[int, str]]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise malformed_xml() from None
    parts = []
    for node in root.findall("Part"):
        number, etag = (node.findtext("PartNumber") or "").strip(), node.findtext("ETag")
        if not number.isdigit() or etag is None:
            raise malformed_xml()
        parts.append((int(number), etag))
    if root.tag != "CompleteMultipartUpload" or not parts:
        raise malformed_xml()
    return parts


# Object responses


def _object_headers(info: ObjectInfo) -> dict[str, str]:
    headers = {
        "Content-Type": info.content_type,
        "ETag": _quoted(info.etag),
        "Last-Modified": _http_date(info.last_modified),
        "Accept-Ranges": "bytes",
        "x-oss-object-type": info.object_type,
        "x-oss-storage-class": STORAGE_CLASS,
        "x-oss-hash-crc64ecma": str(info.crc64),
    }
    if info.content_md5:
        headers["Content-MD5"] = info.content_md5
    if info.tags:
        headers["x-oss-tagging-count"] = str(len(info.tags))
    if info.object_type == "Appendable":
        headers["x-oss-next-append-position"] = str(info.size)
    headers.update(info.metadata)
    return headers


def _check_conditions(request: Request, info: ObjectInfo) -> Optional[Response]:
    """Apply If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304)."""
    modified = int(info.last_modified)
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        if not _etag_matches(if_match, info.etag):
            raise _precondition_failed("If-Match")
    else:
        since = _parse_http_date(request.headers.get("If-Unmodified-Since"))
        if since is not None and modified > since:
            raise _precondition_failed("If-Unmodified-Since")
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        not_modified = _etag_matches(if_none_match, info.etag)
    else:
        since = _parse_http_date(request.headers.get("If-Modified-Since"))
        not_modified = since is not None and modified <= since
    if not_modified:
        return _empty(304, {"ETag": _quoted(info.etag), "Last-Modified": _http_date(info.last_modified)})
    return None


def _compresses(request: Request, info: ObjectInfo) -> bool:
    """OSS gzips a whole-object GET of a text-like object of at least 1 KB when the client accepts gzip."""
    accepts = "gzip" in request.headers.get("Accept-Encoding", "").lower()
    media_type = info.content_type.split(";", 1)[0].strip().lower()
    textual = media_type.startswith("text/") or media_type in COMPRESSED_TYPES
    return accepts and textual and info.size >= MIN_COMPRESSED_SIZE and "Content-Encoding" not in info.metadata


class _GzipBody:
    """Gzip a body of chunks on the fly; closes the source when done."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip container
        for chunk in self._chunks:
            compressed = compressor.compress(chunk)
            if compressed:
                yield compressed
        yield compressor.flush()

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [item.strip().strip('"').upper() for item in header.split(",")]
    return "*" in candidates or etag in candidates


def _precondition_failed(condition: str) -> OssError:
    return OssError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.",
                    Condition=condition)


def _choose_range(header: Optional[str], size: int, standard: bool) -> Optional[tuple[int, int]]:
    """The ``[start, end)`` a ``Range`` header selects, or None to send the whole object with 200.

    Real OSS ignores a malformed or out-of-range ``Range`` and answers 200 with the whole object, unless the
    request carries ``x-oss-range-behavior: standard``: then an end past the object is clamped and a start
    past it is a 416 ``InvalidRange``. Of several ranges only the first counts.
    """
    match = _RANGE.fullmatch(header) if header else None
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:  # bytes=first-[last]
        start = int(first)
        if last and int(last) < start:  # malformed: ignored, in either behaviour
            return None
        end = int(last) + 1 if last else size
    else:  # bytes=-suffix_length
        start, end = size - int(last), size
    if start >= size or size == 0:  # also an empty suffix, and any range of an empty object
        if standard:
            raise OssError(416, "InvalidRange", "The requested range cannot be satisfied", RangeRequested=header,
                           ActualObjectSize=size)
        return None
    if start < 0 or end > size:
        if not standard:
            return None
        start, end = max(start, 0), min(end, size)
    return start, end


class _FileSlice:
    """``length`` bytes of an open blob from ``start``, 64 KiB at a time; closes the file when done."""

    def __init__(self, handle: BinaryIO, start: int, length: int, throttle: Optional[_Throttle] = None) -> None:
        self._handle = handle
        self._start = start
        self._length = length
        self._throttle = throttle

    def __iter__(self) -> Iterator[bytes]:
        self._handle.seek(self._start)
        remaining = self._length
        while remaining > 0:
            chunk = self._handle.read(min(GET_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            if self._throttle is not None:
                self._throttle.pace(len(chunk))
            yield chunk

    def close(self) -> None:
        self._handle.close()


# XML


def _xml(root: ET.Element, headers: Optional[Mapping[str, str]] = None) -> Response:
    body = (XML_DECLARATION + ET.tostring(root, encoding="unicode")).encode("utf-8")
    return Response(body, status=200, headers=dict(headers or {}), content_type=XML_CONTENT_TYPE)


def _add(parent: ET.Element, tag: str, text: Optional[str] = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _add_contents(root: ET.Element, info: ObjectInfo, encode: Optional[Callable[[str], str]],
                  with_owner: bool) -> None:
    contents = _add(root, "Contents")
    _add(contents, "Key", _maybe(encode, info.key))
    _add(contents, "LastModified", _iso8601(info.last_modified))
    _add(contents, "ETag", _quoted(info.etag))
    _add(contents, "Type", info.object_type)
    _add(contents, "Size", str(info.size))
    _add(contents, "StorageClass", STORAGE_CLASS)
    if with_owner:
        _add_owner(contents)


def _add_owner(parent: ET.Element) -> None:
    owner = _add(parent, "Owner")
    _add(owner, "ID", OWNER_ID)
    _add(owner, "DisplayName", OWNER_ID)


def _acl_xml(grant: str) -> Response:
    root = ET.Element("AccessControlPolicy")
    _add_owner(root)
    _add(_add(root, "AccessControlList"), "Grant", grant)
    return _xml(root)


def _add_part(root: ET.Element, part: PartInfo) -> None:
    node = _add(root, "Part")
    _add(node, "PartNumber", str(part.part_number))
    _add(node, "LastModified", _iso8601(part.last_modified))
    _add(node, "ETag", _quoted(part.etag))
    _add(node, "HashCrc64ecma", str(part.crc64))
    _add(node, "Size", str(part.size))


# Small helpers


def _url_encode(value: str) -> str:
    """``encoding-type=url``: percent-encode UTF-8 (space as %20, ``+`` as %2B), as oss2's unquote expects."""
    return quote(value, safe="/")


def _maybe(encode: Optional[Callable[[str], str]], value: str) -> str:
    return encode(value) if encode is not None else value


def _encode_token(marker: str) -> str:
    """ListObjectsV2 continuation tokens are opaque: the next marker, base64url-encoded."""
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid_argument("continuation-token", token, "The continuation token is not valid.") from None


def _empty(status: int, headers: Optional[Mapping[str, str]] = None) -> Response:
    response = Response(b"", status=status, headers=dict(headers or {}))
    response.headers.pop("Content-Type", None)
    return response


def _method_not_allowed(method: str, resource_type: str) -> OssError:
    return OssError(405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                    Method=method, ResourceType=resource_type)


def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _http_date(epoch: float) -> str:
    return formatdate(int(epoch), usegmt=True)


def _iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _parse_http_date(value: Optional[str]) -> Optional[int]:
    parsed = parsedate_tz(value) if value else None
    if parsed is None:
        return None
    return calendar.timegm(parsed[:9]) - (parsed[9] or 0)
