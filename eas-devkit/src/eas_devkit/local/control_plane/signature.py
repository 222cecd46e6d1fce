"""Verify the ACS3-HMAC-SHA256 signatures that ``alibabacloud_tea_openapi`` (0.4.x) puts on every call.

The canonical request is rebuilt exactly as ``alibabacloud_tea_openapi.utils.Utils.get_authorization``
builds it::

    <METHOD>\\n<path as sent>\\n<query>\\n<headers>\\n<signed header names>\\n<x-acs-content-sha256>

* the path is the request path as it went over the wire (the SDK percent-encodes the path parameters
  itself), ``/`` when empty;
* the query is every parameter, sorted by name, as ``name=<RFC 3986-encoded value>`` joined by ``&``
  (names are not encoded);
* the headers are those listed in ``SignedHeaders``, lower-cased and sorted, as ``name:value\\n`` with the
  values trimmed (several values of one header are sorted and joined by ``,``). The SDK signs every header
  it sets itself: ``host``, ``accept``, ``user-agent``, ``content-type`` and all ``x-acs-*``;
* the payload hash is the hex SHA-256 of the body, which the SDK also sends as ``x-acs-content-sha256``.

The string to sign is ``ACS3-HMAC-SHA256\\n<hex SHA-256 of the canonical request>``, and the signature its
hex HMAC-SHA256 under the AccessKeySecret. The header is
``Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;…>,Signature=<hex>``; with
STS credentials the SDK adds ``x-acs-accesskey-id`` and ``x-acs-security-token`` (both signed).

Checks run in this order: a well-formed Authorization header with the headers the SDK always signs,
a known AccessKeyId, the security token (required for an STS key, refused for a plain one, compared in
constant time), its expiry, the signature, ``x-acs-date`` within 15 minutes, the body against its
declared hash, and last the nonce (recorded only for a request that verified, so nobody can burn
another caller's nonces). Errors are the gateway's (:mod:`.errors`); none of them carries a secret.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable, Generic, Optional, Protocol, TypeVar
from urllib.parse import quote

from . import errors

ALGORITHM = "ACS3-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
REQUIRED_SIGNED = ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")


class SigningKey(Protocol):
    """What verification needs to know about an AccessKey (``accounts.AccessKey`` has it)."""

    access_key_id: str
    access_key_secret: str
    security_token: Optional[str]

    def is_expired(self, now: Optional[float] = None) -> bool: ...


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request the signature covers, independent of the web framework."""

    method: str
    path: str  # as sent, still percent-encoded
    query: Sequence[tuple[str, str]]  # decoded names and values, in URL order
    headers: Mapping[str, Sequence[str]]  # lower-case names -> every value received
    body: bytes

    def header(self, name: str) -> Optional[str]:
        values = self.headers.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


Key = TypeVar("Key", bound=SigningKey)


class Verifier(Generic[Key]):
    """Verifies requests against the AccessKeys ``lookup`` knows; returns the key that signed."""

    def __init__(self, lookup: Callable[[str], Optional[Key]], clock: Callable[[], float] = time.time) -> None:
        self._lookup = lookup
        self._clock = clock
        self._lock = threading.Lock()
        self._nonces: dict[str, float] = {}  # nonce -> when it may be forgotten

    def verify(self, request: SignedRequest) -> Key:
        authorization = parse_authorization(request.header("authorization"))
        for name in REQUIRED_SIGNED:
            if request.header(name) is None:
                raise errors.incomplete_signature(f"The {name} header is missing.")
        unsigned = [name for name in request.headers
                    if (name.startswith("x-acs-") or name in REQUIRED_SIGNED)
                    and name not in authorization.signed_headers]
        if unsigned:
            raise errors.incomplete_signature(f"These headers must be signed: {';'.join(sorted(unsigned))}.")
        declared_key = request.header("x-acs-accesskey-id")
        if declared_key is not None and declared_key != authorization.access_key_id:
            raise errors.incomplete_signature("x-acs-accesskey-id differs from the Credential of Authorization.")

        key = self._lookup(authorization.access_key_id)
        if key is None:
            raise errors.access_key_not_found()
        now = self._clock()
        self._check_token(key, request.header("x-acs-security-token"), now)
        string_to_sign = build_string_to_sign(request, authorization.signed_headers)
        expected = sign(key.access_key_secret, string_to_sign)
        if not _same(expected, authorization.signature.lower()):
            raise errors.signature_does_not_match(string_to_sign)
        date = request.header("x-acs-date") or ""
        _check_date(date, now)
        if not _same(hashlib.sha256(request.body).hexdigest(), (request.header("x-acs-content-sha256") or "").lower()):
            raise errors.invalid_parameter("The body does not match its x-acs-content-sha256.")
        self._use_nonce(request.header("x-acs-signature-nonce") or "", now)
        return key

    @staticmethod
    def _check_token(key: SigningKey, token: Optional[str], now: float) -> None:
        if key.security_token:
            if token is None:
                raise errors.security_token_missing()
            if not _same(token, key.security_token):
                raise errors.security_token_mismatch()
            if key.is_expired(now):
                raise errors.security_token_expired()
        elif token is not None:
            raise errors.security_token_mismatch()

    def _use_nonce(self, nonce: str, now: float) -> None:
        with self._lock:
            for old in [value for value, forget_at in self._nonces.items() if forget_at <= now]:
                del self._nonces[old]
            if nonce in self._nonces:
                raise errors.nonce_used()
            # Past twice the skew window the request would be refused for its date anyway.
            self._nonces[nonce] = now + 2 * MAX_SKEW_SECONDS


def parse_authorization(value: Optional[str]) -> _Authorization:
    """``ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`` (fields in any order, spaces allowed)."""
    if not value:
        raise errors.incomplete_signature("The Authorization header is missing.")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise errors.incomplete_signature(f"Only {ALGORITHM} is supported here, not {algorithm!r}.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, field_value = part.strip().partition("=")
        if equals:
            fields[name] = field_value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise errors.incomplete_signature(f"Authorization lacks {', '.join(missing)}.")
    signed = tuple(name.strip().lower() for name in fields["SignedHeaders"].split(";") if name.strip())
    return _Authorization(fields["Credential"], signed, fields["Signature"])


def canonical_request(request: SignedRequest, signed_headers: Sequence[str]) -> str:
    query = "&".join(f"{name}={quote(value, safe='~')}" for name, value in sorted(dict(request.query).items()))
    names = sorted(set(signed_headers))
    headers = "".join(
        f"{name}:{','.join(sorted(value.strip() for value in request.headers.get(name, ())))}\n" for name in names
    )
    payload = request.header("x-acs-content-sha256") or ""
    return f"{request.method}\n{request.path or '/'}\n{query}\n{headers}\n{';'.join(names)}\n{payload}"


def build_string_to_sign(request: SignedRequest, signed_headers: Sequence[str]) -> str:
    digest = hashlib.sha256(canonical_request(request, signed_headers).encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{digest}"


def sign(secret: str, string_to_sign: str) -> str:
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _check_date(value: str, now: float) -> None:
    try:
        when = calendar.timegm(time.strptime(value, DATE_FORMAT))
    except ValueError:
        raise errors.incomplete_signature(f"x-acs-date {value!r} is not of the form {DATE_FORMAT}.") from None
    if abs(now - when) > MAX_SKEW_SECONDS:
        raise errors.timestamp_expired(value)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings of any characters."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
