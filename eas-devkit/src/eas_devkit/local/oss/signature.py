"""Verify the request signatures oss2 produces: V1, V2 and V4, in the Authorization header or a presigned URL.

The canonical forms are rebuilt exactly as oss2 2.19.1 builds them (``oss2/auth.py``):

* V1 (``ProviderAuth``): ``VERB\\nContent-MD5\\nContent-Type\\nDate\\n`` + the ``x-oss-*`` headers, lower-cased
  and sorted, as ``name:value\\n`` + ``/bucket/key`` (the decoded key) + the sub-resources of the query string
  that are on oss2's whitelist, sorted, as ``?a=1&b``. HMAC-SHA1, base64. A presigned URL carries
  ``OSSAccessKeyId``, ``Expires`` (which replaces the date) and ``Signature``; its ``security-token`` is a
  whitelisted sub-resource, so it is signed.
* V2 (``ProviderAuthV2``, deprecated by oss2 but still accepted by OSS): like V1 with HMAC-SHA256, every query
  parameter signed, and the resource and query RFC 3986-encoded (``/`` too). ``OSS2 AccessKeyId:<ak>,
  [AdditionalHeaders:<a;b>,]Signature:<b64>``; a presigned URL carries ``x-oss-signature-version=OSS2``,
  ``x-oss-expires`` (an epoch, in place of the date), ``x-oss-access-key-id`` and ``x-oss-signature``.
* V4 (``ProviderAuthV4``): the canonical request is the verb, the RFC 3986-encoded ``/bucket/key`` (``/`` kept),
  every query parameter encoded and sorted, the ``x-oss-*``, ``content-type`` and ``content-md5`` headers
  (plus any additional headers) as ``name:value\\n``, an empty line, the additional header names, and the
  payload hash (``x-oss-content-sha256``, else ``UNSIGNED-PAYLOAD``). The string to sign is
  ``OSS4-HMAC-SHA256\\n<x-oss-date>\\n<scope>\\n<sha256 of the canonical request>``, signed with the key chain
  ``"aliyun_v4" + secret`` -> date -> region -> ``oss`` -> ``aliyun_v4_request``. oss2's header is
  ``OSS4-HMAC-SHA256 Credential=<ak>/<date>/<region>/oss/aliyun_v4_request, Signature=<hex>`` with
  ``, AdditionalHeaders=<a;b>`` appended when there are any; fields are accepted in any order, with or
  without spaces after the commas.

Checks run in the order real OSS applies them: unknown AccessKeyId, missing or wrong security token,
expired credentials, signature, request time (15 minutes of skew), presigned URL expiry. Signature failures
report the string to sign (and the V4 canonical request) like real OSS, with the security token masked:
oss2 logs error details, and no secret may reach a log line.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_tz
from typing import Callable, Optional
from urllib.parse import quote

from ..credentials import LookupSource, lookup_function
from .errors import OssError, access_denied, invalid_argument, not_implemented

MAX_SKEW_SECONDS = 15 * 60
MAX_V4_PRESIGN_SECONDS = 7 * 24 * 3600
V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_TERMINATOR = "aliyun_v4_request"
V4_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
PRODUCT = "oss"
MASK = "****"

# oss2.auth.ProviderAuth._subresource_key_set, copied verbatim: only these query parameters are signed in V1.
V1_SUBRESOURCES = frozenset([
    'response-content-type', 'response-content-language',
    'response-cache-control', 'logging', 'response-content-encoding',
    'acl', 'uploadId', 'uploads', 'partNumber', 'group', 'link',
    'delete', 'website', 'location', 'objectInfo', 'objectMeta',
    'response-expires', 'response-content-disposition', 'cors', 'lifecycle',
    'restore', 'qos', 'referer', 'stat', 'bucketInfo', 'append', 'position', 'security-token',
    'live', 'comp', 'status', 'vod', 'startTime', 'endTime', 'x-oss-process',
    'symlink', 'callback', 'callback-var', 'tagging', 'encryption', 'versions',
    'versioning', 'versionId', 'policy', 'requestPayment', 'x-oss-traffic-limit', 'qosInfo', 'asyncFetch',
    'x-oss-request-payer', 'sequential', 'inventory', 'inventoryId', 'continuation-token', 'callback',
    'callback-var', 'worm', 'wormId', 'wormExtend', 'replication', 'replicationLocation',
    'replicationProgress', 'transferAcceleration', 'cname', 'metaQuery',
    'x-oss-ac-source-ip', 'x-oss-ac-subnet-mask', 'x-oss-ac-vpc-id', 'x-oss-ac-forward-allow',
    'resourceGroup', 'style', 'styleName', 'x-oss-async-process', 'regionList', 'x-oss-write-get-object-response',
    'bucketArchiveDirectRead', 'httpsConfig', 'redundancyTransition', 'x-oss-target-redundancy-type',
    'x-oss-redundancy-transition-taskid',
    'accessPoint', 'accessPointPolicy', 'publicAccessBlock', 'x-oss-access-point-name',
    'requesterQosInfo', 'qosRequester', 'resourcePoolInfo', 'resourcePool', 'resourcePoolBuckets',
])

V4_DEFAULT_SIGNED_HEADERS = frozenset(["content-type", "content-md5"])




@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request a signature covers, independent of the web framework."""

    method: str
    bucket: str  # "" for service-level requests
    key: str  # the decoded object key, "" for bucket-level requests
    params: Mapping[str, str]  # decoded query parameters, first value of each, in URL order
    headers: Mapping[str, str]  # lower-case names, values as received


@dataclass(frozen=True)
class Authentication:
    """Who signed a request, and how."""

    access_key_id: str
    version: str  # "v1", "v2" or "v4"
    presigned: bool


@dataclass(frozen=True)
class _Expected:
    signature: str
    string_to_sign: str
    canonical_request: Optional[str] = None


@dataclass(frozen=True)
class _Claim:
    """What a request says about itself, before any of it is believed."""

    version: str
    presigned: bool
    access_key_id: str
    security_token: Optional[str]
    signature: str
    compute: Callable[[str], _Expected]  # secret -> what the signature should be
    check_time: Callable[[float], None]  # raises when the request is too old or too new
    check_scope: Callable[[], None] = lambda: None


class Authenticator:
    """Authenticates requests against the credentials ``lookup`` knows, for a bucket region."""

    def __init__(self, credentials: LookupSource, region: str, clock: Callable[[], float] = time.time) -> None:
        self._lookup = lookup_function(credentials)
        self.region = region
        self._clock = clock

    def authenticate(self, request: SignedRequest) -> Optional[Authentication]:
        """The verified signer, or None for an anonymous request. Raises :class:`OssError` otherwise."""
        claim = self._claim(request)
        if claim is None:
            return None
        now = self._clock()
        credentials = self._lookup(claim.access_key_id)
        if credentials is None:
            raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our "
                           "records.", OSSAccessKeyId=claim.access_key_id)
        needs_token = bool(credentials.security_token) or claim.access_key_id.startswith("STS.")
        if needs_token and not _same_secret(claim.security_token, credentials.security_token):
            raise OssError(403, "InvalidSecurityToken", "The security token you provided is invalid.")
        if credentials.is_expired(now):
            raise OssError(403, "SecurityTokenExpired", "The security token you provided has expired.")
        claim.check_scope()
        expected = claim.compute(credentials.access_key_secret)
        if not hmac.compare_digest(expected.signature.encode("ascii"), claim.signature.encode("utf-8")):
            raise self._mismatch(claim, expected)
        claim.check_time(now)
        return Authentication(claim.access_key_id, claim.version, claim.presigned)

    # What the request claims

    def _claim(self, request: SignedRequest) -> Optional[_Claim]:
        authorization = request.headers.get("authorization", "").strip()
        if authorization:
            scheme, _, rest = authorization.partition(" ")
            if scheme == "OSS":
                return self._v1_header_claim(request, rest.strip())
            if scheme == V4_ALGORITHM:
                return self._v4_header_claim(request, rest.strip())
            if scheme == "OSS2":
                return self._v2_header_claim(request, rest.strip())
            raise _bad_authorization()
        if "OSSAccessKeyId" in request.params:
            return self._v1_url_claim(request)
        version = request.params.get("x-oss-signature-version")
        if version == V4_ALGORITHM:
            return self._v4_url_claim(request)
        if version == "OSS2":
            return self._v2_url_claim(request)
        if version is not None:
            raise not_implemented(f"Signature version {version!r}")
        return None

    def _v1_header_claim(self, request: SignedRequest, credential: str) -> _Claim:
        access_key_id, colon, signature = credential.rpartition(":")
        if not colon or not access_key_id or not signature:
            raise _bad_authorization()
        date = request.headers.get("x-oss-date") or request.headers.get("date", "")
        return _Claim(
            version="v1", presigned=False, access_key_id=access_key_id,
            security_token=request.headers.get("x-oss-security-token"), signature=signature,
            compute=lambda secret: _v1_expected(request, date, secret),
            check_time=lambda now: _check_skew(_parse_http_date(date), date, now))

    def _v1_url_claim(self, request: SignedRequest) -> _Claim:
        expires = request.params.get("Expires", "")
        if not expires.isdigit():
            raise invalid_argument("Expires", expires, "Expires must be seconds since the epoch.")
        return _Claim(
            version="v1", presigned=True, access_key_id=request.params["OSSAccessKeyId"],
            security_token=request.params.get("security-token"), signature=request.params.get("Signature", ""),
            compute=lambda secret: _v1_expected(request, expires, secret),
            check_time=lambda now: _check_expiry(int(expires), now))

    def _v2_header_claim(self, request: SignedRequest, fields_text: str) -> _Claim:
        fields = dict(item.strip().partition(":")[::2] for item in fields_text.split(","))
        if not fields.get("AccessKeyId") or not fields.get("Signature"):
            raise _bad_authorization()
        additional = _header_list(fields.get("AdditionalHeaders", ""))
        date = request.headers.get("date", "")
        return _Claim(
            version="v2", presigned=False, access_key_id=fields["AccessKeyId"],
            security_token=request.headers.get("x-oss-security-token"), signature=fields["Signature"],
            compute=lambda secret: _v2_expected(request, date, additional, secret, presigned=False),
            check_time=lambda now: _check_skew(_parse_http_date(date), date, now))

    def _v2_url_claim(self, request: SignedRequest) -> _Claim:
        params = request.params
        expires = params.get("x-oss-expires", "")
        if not expires.isdigit():
            raise invalid_argument("x-oss-expires", expires, "x-oss-expires must be seconds since the epoch.")
        additional = _header_list(params.get("x-oss-additional-headers", ""))
        return _Claim(
            version="v2", presigned=True, access_key_id=params.get("x-oss-access-key-id", ""),
            security_token=params.get("security-token"), signature=params.get("x-oss-signature", ""),
            compute=lambda secret: _v2_expected(request, expires, additional, secret, presigned=True),
            check_time=lambda now: _check_expiry(int(expires), now))

    def _v4_header_claim(self, request: SignedRequest, fields_text: str) -> _Claim:
        fields = _parse_v4_fields(fields_text)
        if "Credential" not in fields or "Signature" not in fields:
            raise _bad_authorization()
        access_key_id, scope = _split_credential(fields["Credential"])
        date_time = request.headers.get("x-oss-date", "")
        request_time = _parse_v4_date(date_time)
        additional = _header_list(fields.get("AdditionalHeaders", ""))
        return _Claim(
            version="v4", presigned=False, access_key_id=access_key_id,
            security_token=request.headers.get("x-oss-security-token"), signature=fields["Signature"],
            compute=lambda secret: _v4_expected(request, date_time, scope, additional, secret, presigned=False),
            check_time=lambda now: _check_skew(request_time, date_time, now),
            check_scope=lambda: self._check_scope(scope, date_time))

    def _v4_url_claim(self, request: SignedRequest) -> _Claim:
        params = request.params
        access_key_id, scope = _split_credential(params.get("x-oss-credential", ""))
        date_time = params.get("x-oss-date", "")
        signed_at = _parse_v4_date(date_time)
        expires = params.get("x-oss-expires", "")
        if not expires.isdigit() or not 0 < int(expires) <= MAX_V4_PRESIGN_SECONDS:
            raise invalid_argument("x-oss-expires", expires,
                                   f"x-oss-expires must be between 1 and {MAX_V4_PRESIGN_SECONDS} seconds.")
        additional = _header_list(params.get("x-oss-additional-headers", ""))
        return _Claim(
            version="v4", presigned=True, access_key_id=access_key_id,
            security_token=params.get("x-oss-security-token"), signature=params.get("x-oss-signature", ""),
            compute=lambda secret: _v4_expected(request, date_time, scope, additional, secret, presigned=True),
            check_time=lambda now: _check_expiry(signed_at + int(expires), now),
            check_scope=lambda: self._check_scope(scope, date_time))

    def _check_scope(self, scope: str, date_time: str) -> None:
        date, region, product, _ = scope.split("/")
        if region != self.region:
            raise OssError(400, "InvalidArgument", "Invalid signing region in Authorization header.",
                           ec="0002-00000226", Region=region, BucketRegion=self.region)
        if product != PRODUCT or date != date_time[:8]:
            raise OssError(403, "SignatureDoesNotMatch", "Invalid credential scope: it must be "
                           "<yyyymmdd of x-oss-date>/<region>/oss/aliyun_v4_request.")

    @staticmethod
    def _mismatch(claim: _Claim, expected: _Expected) -> OssError:
        token = claim.security_token
        return OssError(
            403, "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            OSSAccessKeyId=claim.access_key_id,
            CanonicalRequest=_redact(expected.canonical_request, token),
            StringToSign=_redact(expected.string_to_sign, token))


# V1


def _v1_expected(request: SignedRequest, date: str, secret: str) -> _Expected:
    data = _v1_bytes_to_sign(request, date)
    signature = base64.b64encode(hmac.new(secret.encode("utf-8"), data, hashlib.sha1).digest()).decode("ascii")
    return _Expected(signature, data.decode("utf-8", errors="replace"))


def _v1_bytes_to_sign(request: SignedRequest, date: str) -> bytes:
    headers = request.headers
    oss_headers = sorted((name, value) for name, value in headers.items() if name.startswith("x-oss-"))
    canonical_headers = b"".join(_wire(name) + b":" + _wire(value) + b"\n" for name, value in oss_headers)
    return b"\n".join([
        request.method.encode("ascii"),
        _wire(headers.get("content-md5", "")),
        _wire(headers.get("content-type", "")),
        _wire(date),
        canonical_headers + _v1_resource(request).encode("utf-8"),
    ])


def _v1_resource(request: SignedRequest) -> str:
    path = f"/{request.bucket}/{request.key}" if request.bucket else "/"
    signed = sorted((name, value) for name, value in request.params.items() if name in V1_SUBRESOURCES)
    if not signed:
        return path
    return path + "?" + "&".join(f"{name}={value}" if value else name for name, value in signed)


# V2


def _v2_expected(request: SignedRequest, date: str, additional: list[str], secret: str,
                 presigned: bool) -> _Expected:
    headers = request.headers
    signed = sorted((name, value) for name, value in headers.items()
                    if name.startswith("x-oss-") or name in additional)
    canonical_headers = b"".join(_wire(name) + b":" + _wire(value) + b"\n" for name, value in signed)
    path = f"/{request.bucket}/{request.key}" if request.bucket else "/"
    query = sorted((_v4_encode(name), _v4_encode(value)) for name, value in request.params.items()
                   if not (presigned and name == "x-oss-signature"))
    resource = _v4_encode(path) + ("?" + "&".join(f"{n}={v}" if v else n for n, v in query) if query else "")
    data = b"\n".join([
        request.method.encode("ascii"),
        _wire(headers.get("content-md5", "")),
        _wire(headers.get("content-type", "")),
        _wire(date),
        canonical_headers + ";".join(additional).encode("ascii"),
        resource.encode("ascii"),
    ])
    signature = base64.b64encode(hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()).decode("ascii")
    return _Expected(signature, data.decode("utf-8", errors="replace"))


# V4


def _v4_expected(request: SignedRequest, date_time: str, scope: str, additional: list[str], secret: str,
                 presigned: bool) -> _Expected:
    canonical = _v4_canonical_request(request, additional, presigned)
    string_to_sign = "\n".join([V4_ALGORITHM, date_time, scope, hashlib.sha256(canonical).hexdigest()])
    date, region, product, terminator = scope.split("/")
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (date, region, product, terminator):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return _Expected(signature, string_to_sign, canonical.decode("utf-8", errors="replace"))


def _v4_canonical_request(request: SignedRequest, additional: list[str], presigned: bool) -> bytes:
    uri = _v4_encode(f"/{request.bucket}/{request.key}", keep_slash=True) if request.bucket else "/"
    encoded = {_v4_encode(name): _v4_encode(value) for name, value in request.params.items()
               if not (presigned and name == "x-oss-signature")}
    query = "&".join(f"{name}={value}" if value else name for name, value in sorted(encoded.items()))
    signed_names = set(additional) | V4_DEFAULT_SIGNED_HEADERS
    headers = sorted((name, value.strip()) for name, value in request.headers.items()
                     if name.startswith("x-oss-") or name in signed_names)
    canonical_headers = b"".join(_wire(name) + b":" + _wire(value) + b"\n" for name, value in headers)
    payload = request.headers.get("x-oss-content-sha256", UNSIGNED_PAYLOAD)
    return b"\n".join([
        request.method.encode("ascii"),
        uri.encode("ascii"),
        query.encode("ascii"),
        canonical_headers,
        ";".join(sorted(additional)).encode("ascii"),
        _wire(payload),
    ])


def _v4_encode(text: str, keep_slash: bool = False) -> str:
    """RFC 3986: everything but ``A-Za-z0-9-_.~`` percent-encoded from UTF-8, upper-case hex."""
    return quote(text.encode("utf-8"), safe="/" if keep_slash else "")


def _parse_v4_fields(text: str) -> dict[str, str]:
    fields = {}
    for item in text.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals:
            raise _bad_authorization()
        fields[name] = value
    return fields


def _split_credential(credential: str) -> tuple[str, str]:
    """``<ak>/<date>/<region>/<product>/aliyun_v4_request`` -> (ak, scope)."""
    parts = credential.split("/")
    if len(parts) == 5 and parts[0] and parts[1] and not parts[2]:
        raise invalid_argument("Credential", credential, "The signing region in credential is invalid.")
    if len(parts) != 5 or not parts[0] or parts[4] != V4_TERMINATOR or not all(parts[1:4]):
        # OSS's words; the expected form is <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request
        raise invalid_argument("Credential", credential, "Invalid credential in Authorization header.")
    return parts[0], "/".join(parts[1:])


def _header_list(text: str) -> list[str]:
    return sorted({name.strip().lower() for name in text.split(";") if name.strip()})


# Time


def _parse_http_date(value: str) -> Optional[float]:
    parsed = parsedate_tz(value) if value else None
    if parsed is None:
        return None
    return float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))


def _parse_v4_date(value: str) -> float:
    try:
        return datetime.strptime(value, V4_DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise access_denied("x-oss-date must be present, in the form YYYYMMDDTHHMMSSZ.") from None


def _check_skew(request_time: Optional[float], raw: str, now: float) -> None:
    if request_time is None:
        raise access_denied("OSS authentication requires a valid Date.")
    if abs(request_time - now) > MAX_SKEW_SECONDS:
        raise OssError(403, "RequestTimeTooSkewed",
                       "The difference between the request time and the current time is too large.",
                       RequestTime=raw, ServerTime=_iso8601(now), MaxAllowedSkewMilliseconds=MAX_SKEW_SECONDS * 1000)


def _check_expiry(expires_at: float, now: float) -> None:
    if now > expires_at:
        raise access_denied("Request has expired.", Expires=_iso8601(expires_at), ServerTime=_iso8601(now))


def _iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


# Helpers


def _wire(value: str) -> bytes:
    """A header value as it travelled: WSGI servers decode header bytes as Latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _redact(text: Optional[str], token: Optional[str]) -> Optional[str]:
    """``text`` with every form of the security token (raw, URL-encoded) replaced by a mask."""
    if text is None or not token:
        return text
    for form in {token, _v4_encode(token), quote(token, safe="")}:
        text = text.replace(form, MASK)
    return text


def _same_secret(claimed: Optional[str], actual: str) -> bool:
    if not claimed:
        return False
    return hmac.compare_digest(claimed.encode("utf-8"), actual.encode("utf-8"))


def _bad_authorization() -> OssError:
    return OssError(400, "InvalidArgument", "Authorization header is invalid.", ArgumentName="Authorization")
