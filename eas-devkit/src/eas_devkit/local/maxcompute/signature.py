"""Authentication of MaxCompute requests: pyodps's v2 and v4 signatures and the STS token header.

Both versions sign the same canonical string (``odps.accounts.BaseAccount._build_canonical_str``)::

    METHOD \\n content-md5 \\n content-type \\n date \\n x-odps-name:value \\n ... resource

where the ``x-odps-*`` headers and query parameters are sorted by name, and ``resource`` is the request path
*relative to the endpoint* (``/projects/p/tables`` for the endpoint ``http://host/api``) followed by ``?`` and
every query parameter sorted (``name=value``, or ``name`` when empty). pyodps URL-decodes the whole URL and
then parses the query string (decoding once more); the server repeats exactly that on the raw request line.

* v2: ``Authorization: ODPS <AccessKeyId>:base64(HMAC-SHA1(secret, canonical))``.
* v4, when the client knows a region: ``Authorization: ODPS <AccessKeyId>/<yyyymmdd>/<region>/odps/
  aliyun_v4_request:<signature>``, where the HMAC-SHA1 key is the end of an HMAC-SHA256 chain over
  ``"aliyun_v4" + secret``, the date, the region, ``odps`` and ``aliyun_v4_request``.

STS credentials add the unsigned ``authorization-sts-token`` header. The answers are MaxCompute's own codes,
because pyodps acts on them: ``AuthenticationRequestExpired`` makes it reload its account and retry once,
``InvalidParameter`` with ``ODPS-0410051`` makes it fall back from v4 to v2 (this server says so to a v4
request when it has no region). No error carries a secret, a token or a computed signature.
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
from urllib.parse import parse_qsl, unquote, urlsplit

from ..credentials import LookupSource, lookup_function, mask_key_id
from .errors import OdpsError

STS_TOKEN_HEADER = "authorization-sts-token"
V4_PREFIX = "aliyun_v4"
V4_TERMINATOR = V4_PREFIX + "_request"
V4_SERVICE = "odps"
MAX_SKEW_SECONDS = 15 * 60
SECONDS_PER_DAY = 24 * 3600




@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request the signature covers, independent of the web framework."""

    method: str
    target: str  # the raw request target as received: path and query, still URL-encoded
    headers: Mapping[str, str]  # lower-case names

    def canonical_string(self, endpoint_path: str) -> str:
        """What pyodps signed, for a client whose endpoint has the path ``endpoint_path`` (``/api``)."""
        decoded = unquote(self.target)
        if decoded.startswith(endpoint_path):
            decoded = decoded[len(endpoint_path):]
        parts = urlsplit(decoded, allow_fragments=False)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        resource = parts.path
        if parts.query:
            resource += "?" + "&".join(f"{name}={value}" if value != "" else name
                                       for name, value in sorted(params.items()))
        signed = {name: value for name, value in self.headers.items()
                  if name in ("content-type", "content-md5") or name.startswith("x-odps-")}
        signed.setdefault("content-type", "")
        signed.setdefault("content-md5", "")
        signed["date"] = self.headers.get("date", "")
        signed.update((name, value) for name, value in params.items() if name.startswith("x-odps-"))
        lines = [self.method.upper()]
        lines.extend(f"{name}:{value}" if name.startswith("x-odps-") else value
                     for name, value in sorted(signed.items()))
        lines.append(resource)
        return "\n".join(lines)


@dataclass(frozen=True)
class Authentication:
    """Who signed a request, and how."""

    access_key_id: str
    version: str  # "v2" or "v4"


class Authenticator:
    """Checks signatures against the credentials ``lookup`` knows, for the region the service is in."""

    def __init__(self, credentials: LookupSource, region: Optional[str], endpoint_path: str = "/api",
                 clock: Callable[[], float] = time.time) -> None:
        self._lookup = lookup_function(credentials)
        self.region = region
        self.endpoint_path = endpoint_path
        self._clock = clock

    def authenticate(self, request: SignedRequest) -> Authentication:
        """The verified signer. Raises :class:`OdpsError` with MaxCompute's code otherwise."""
        authorization = request.headers.get("authorization", "").strip()
        if not authorization:
            raise OdpsError(401, "AuthorizationRequired", "ODPS-0410001:Missing authentication parameters - "
                                                          "the request has no Authorization header.")
        scheme, _, credential = authorization.partition(" ")
        access_key_id, colon, signature = credential.strip().rpartition(":")
        if scheme != "ODPS" or not colon or not access_key_id or not signature:
            raise OdpsError(400, "InvalidArgument", "ODPS-0410011:Invalid authentication parameters - "
                                                    "expected 'Authorization: ODPS <AccessKeyId>:<Signature>'.")
        scope: Optional[tuple[str, str]] = None
        if "/" in access_key_id:
            access_key_id, scope = self._v4_scope(access_key_id)

        now = self._clock()
        credentials = self._lookup(access_key_id)
        if credentials is None:
            raise OdpsError(401, "Unauthorized", "ODPS-0410051:Invalid credentials - accessKeyId not found: "
                                                 f"{mask_key_id(access_key_id)}")
        token = request.headers.get(STS_TOKEN_HEADER, "")
        needs_token = bool(credentials.security_token) or access_key_id.startswith("STS.")
        if needs_token and not _same(token, credentials.security_token):
            raise OdpsError(401, "Unauthorized", "ODPS-0410051:Invalid credentials - the STS token is missing "
                                                 "or does not belong to this AccessKeyId.")
        if credentials.is_expired(now):
            raise OdpsError(401, "AuthenticationRequestExpired", "ODPS-0410031:Authentication request expired - "
                                                                 "the STS token has expired.")
        canonical = request.canonical_string(self.endpoint_path)
        secret = credentials.access_key_secret
        key = secret.encode("utf-8") if scope is None else _v4_key(secret, *scope)
        expected = base64.b64encode(hmac.new(key, canonical.encode("utf-8"), hashlib.sha1).digest())
        if not hmac.compare_digest(expected, signature.encode("utf-8")):
            raise OdpsError(401, "SignatureNotMatch", "ODPS-0410042:Invalid signature value - "
                                                      "User signature does not match.")
        self._check_skew(request.headers.get("date", ""), now)
        return Authentication(access_key_id, "v2" if scope is None else "v4")

    def _v4_scope(self, credential: str) -> tuple[str, tuple[str, str]]:
        """``<ak>/<yyyymmdd>/<region>/odps/aliyun_v4_request`` -> (ak, (date, region)), checked."""
        parts = credential.split("/")
        if len(parts) != 5 or not all(parts) or parts[3] != V4_SERVICE or parts[4] != V4_TERMINATOR:
            raise OdpsError(400, "InvalidArgument", "ODPS-0410011:Invalid authentication parameters - the v4 "
                                                    "credential must be <AccessKeyId>/<yyyymmdd>/<region>/odps/"
                                                    "aliyun_v4_request.")
        access_key_id, date, region = parts[0], parts[1], parts[2]
        if self.region is None:
            # pyodps answers this by signing v2 from then on (its fallback for services without v4).
            raise OdpsError(400, "InvalidParameter", "ODPS-0410051:Invalid credentials - this local MaxCompute "
                                                     "has no region configured, sign requests with v2.")
        if region != self.region:
            raise OdpsError(401, "SignatureNotMatch", f"ODPS-0410042:Invalid signature value - the v4 credential "
                                                      f"is scoped to region {region!r}, this service is in "
                                                      f"{self.region!r}.")
        try:
            signed_on = calendar.timegm(time.strptime(date, "%Y%m%d"))
        except ValueError:
            raise OdpsError(400, "InvalidArgument", "ODPS-0410011:Invalid authentication parameters - the v4 "
                                                    "credential date must be yyyymmdd.") from None
        if abs(signed_on - _day_start(self._clock())) > SECONDS_PER_DAY:
            raise OdpsError(401, "SignatureNotMatch", "ODPS-0410042:Invalid signature value - the v4 credential "
                                                      "date is not today (UTC).")
        return access_key_id, (date, region)

    @staticmethod
    def _check_skew(date_header: str, now: float) -> None:
        parsed = parsedate_tz(date_header) if date_header else None
        if parsed is None:
            raise OdpsError(400, "InvalidArgument", "ODPS-0410011:Invalid authentication parameters - a valid "
                                                    "Date header is required.")
        request_time = calendar.timegm(parsed[:9]) - (parsed[9] or 0)
        if abs(request_time - now) > MAX_SKEW_SECONDS:
            # pyodps's RequestTimeTooSkewed parses exactly this message.
            raise OdpsError(403, "RequestTimeTooSkewed",
                            f"max_interval_date:{MAX_SKEW_SECONDS * 1000},"
                            f"expire_date:{_iso8601(request_time + MAX_SKEW_SECONDS)},now_date:{_iso8601(now)}")


def _v4_key(secret: str, date: str, region: str) -> bytes:
    key = (V4_PREFIX + secret).encode("utf-8")
    for part in (date, region, V4_SERVICE, V4_TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _same(claimed: str, actual: str) -> bool:
    return bool(claimed) and hmac.compare_digest(claimed.encode("utf-8"), actual.encode("utf-8"))


def _day_start(epoch: float) -> int:
    return int(epoch) - int(epoch) % SECONDS_PER_DAY


def _iso8601(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
