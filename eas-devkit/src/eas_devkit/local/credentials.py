"""Instance credentials: what EAS injects into a service instance that has a RAM role.

The issuer mints STS-like credentials (a new ``STS.``-prefixed AccessKeyId at every issuance, as real STS
does; pyodps ignores a rotation that keeps the AccessKeyId) and serves them the two ways EAS does: the
credentials endpoint behind ``ALIBABA_CLOUD_CREDENTIALS_URI`` and the file ``/etc/ram/credentials``.
Both carry the guide's JSON contract. Every credential ever issued stays verifiable until it expires, so
the local OSS can tell an unknown key from an expired token, like the real services.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Protocol, Union

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import run_secret
from .faults import FaultInjector, InvalidFaultRule
from .leaks import SecretPair, count_leaks

EXPIRATION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the only form alibabacloud_credentials parses


@dataclass(frozen=True)
class IssuedCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str
    expires_at: float  # epoch seconds

    @property
    def expiration(self) -> str:
        return datetime.fromtimestamp(self.expires_at, tz=timezone.utc).strftime(EXPIRATION_FORMAT)

    def is_expired(self, now: Optional[float] = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def to_json(self) -> dict[str, str]:
        """The body of the credentials endpoint and of ``/etc/ram/credentials``."""
        return {
            "Code": "Success",
            "AccessKeyId": self.access_key_id,
            "AccessKeySecret": self.access_key_secret,
            "SecurityToken": self.security_token,
            "Expiration": self.expiration,
        }

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"IssuedCredentials(access_key_id={mask_key_id(self.access_key_id)!r}, expiration={self.expiration!r})"


class CredentialLookup(Protocol):
    """What the local services need from the issuer to verify a request: ``CredentialIssuer`` has it."""

    def lookup(self, access_key_id: str) -> Optional[IssuedCredentials]: ...


LookupSource = Union[CredentialLookup, Callable[[str], Optional[IssuedCredentials]]]


def lookup_function(source: LookupSource) -> Callable[[str], Optional[IssuedCredentials]]:
    """``source.lookup`` for an issuer, or ``source`` itself for a plain function (tests)."""
    return getattr(source, "lookup", source)


def mask_key_id(access_key_id: str) -> str:
    """``STS.****abcd``: enough to tell two keys apart, never enough to use one."""
    prefix = "STS." if access_key_id.startswith("STS.") else ""
    return f"{prefix}****{access_key_id[-4:]}"


class CredentialIssuer:
    """Mints, rotates and remembers the instance's temporary credentials.

    ``lifetime`` is how long each credential is valid. ``rotate_every`` is how often ``start()``'s thread
    issues new ones, as EAS refreshes the endpoint and the file well before expiry; ``None`` means "at half
    the lifetime". Whole-second expirations are used because the contract's format has no fractions.
    """

    def __init__(
        self,
        lifetime: float = 3600,
        rotate_every: Optional[float] = None,
        credentials_file: Optional[Path] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self.lifetime = lifetime
        self.rotate_every = rotate_every if rotate_every is not None else lifetime / 2
        if self.rotate_every <= 0:
            raise ValueError("rotate_every must be positive")
        self.credentials_file = credentials_file
        self._clock = clock
        self._lock = threading.Lock()
        self._issued: dict[str, IssuedCredentials] = {}
        self._current: Optional[IssuedCredentials] = None
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.issuance_count = 0
        self.fetch_count = 0
        self.outage = False  # the endpoint and the file unavailable, as during an incident

    def set_outage(self, on: bool) -> None:
        """Take the endpoint and the file away (the file is deleted), or bring both back with the current
        credentials. Rotation goes on meanwhile, unseen, as it would behind a broken endpoint."""
        with self._lock:
            self.outage = on
            if self.credentials_file is None:
                return
            if on:
                self.credentials_file.unlink(missing_ok=True)
            elif self._current is not None:
                write_credentials_file(self.credentials_file, self._current)

    def start(self) -> None:
        """Issue the first credentials now, then new ones every ``rotate_every`` seconds until ``stop()``."""
        self.current()
        self._thread = threading.Thread(target=self._rotate_on_schedule, name="local-eas-rotation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def current(self) -> IssuedCredentials:
        """The credentials an instance gets now (issued on first use)."""
        with self._lock:
            if self._current is None:
                self._issue()
            assert self._current is not None
            return self._current

    def rotate(self) -> IssuedCredentials:
        """Issue new credentials now; the previous ones stay valid until they expire, as with real STS."""
        with self._lock:
            self._issue()
            assert self._current is not None
            return self._current

    def lookup(self, access_key_id: str) -> Optional[IssuedCredentials]:
        with self._lock:
            return self._issued.get(access_key_id)

    def issued_secrets(self) -> list[SecretPair]:
        """Every secret and token issued so far, for the leak check (never leaves the process)."""
        with self._lock:
            return [(issued.access_key_secret, issued.security_token) for issued in self._issued.values()]

    def serve(self) -> Optional[IssuedCredentials]:
        """``current()``, counted as one fetch by an instance (for the benchmarks and the tests); None
        during an outage."""
        credentials = self.current()
        with self._lock:
            self.fetch_count += 1
            return None if self.outage else credentials

    def _rotate_on_schedule(self) -> None:
        while not self._stopped.wait(self.rotate_every):
            self.rotate()

    def _issue(self) -> None:
        credentials = IssuedCredentials(
            access_key_id="STS." + secrets.token_hex(12).upper(),
            access_key_secret=secrets.token_urlsafe(30),
            security_token="CAIS" + secrets.token_urlsafe(96),
            expires_at=float(int(self._clock() + self.lifetime)),
        )
        self._issued[credentials.access_key_id] = credentials
        self._current = credentials
        self.issuance_count += 1
        if self.credentials_file is not None and not self.outage:
            write_credentials_file(self.credentials_file, credentials)


def write_credentials_file(path: Path, credentials: IssuedCredentials) -> None:
    """Replace the file atomically, so a reader sees the old or the new credentials, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(credentials.to_json(), handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


CREDENTIALS_PATH = "/api/v1/credentials"


class CredentialsEndpoint:
    """WSGI app: the instance credentials endpoint and the local EAS's admin routes.

    ``GET /api/v1/credentials`` is what ``ALIBABA_CLOUD_CREDENTIALS_URI`` points at (open, as on EAS).
    Every ``/admin/*`` route needs ``admin_secret`` (:mod:`.run_secret`), else 401.
    ``POST /admin/rotate`` issues new credentials and answers with the masked key id only.
    ``POST /admin/outage?on=true|false`` takes the endpoint (503) and the file away, or brings them back.
    ``GET /admin/stats`` reports issuances and fetches (how often instances asked), and what the local
    services saw, without secrets.
    ``POST /admin/leak-check`` counts the issued secrets and tokens found in the posted text.
    ``POST /admin/faults`` adds a backend fault rule (JSON, see :mod:`.faults`), ``GET`` lists the rules with
    their counts, ``DELETE`` clears them.
    """

    def __init__(self, issuer: CredentialIssuer, admin_secret: str, more_stats: Optional[Callable[[], dict]] = None,
                 more_secrets: Optional[Callable[[], list[SecretPair]]] = None,
                 faults: Optional[FaultInjector] = None) -> None:
        self.issuer = issuer
        self.admin_secret = admin_secret
        self.more_stats = more_stats  # what the local services report (no secrets), merged into /admin/stats
        self.more_secrets = more_secrets  # other credentials the local EAS minted (the deploying developer's)
        self.faults = faults  # the backend fault rules of the local OSS and MaxCompute
        self.url_map = Map(
            [
                Rule(CREDENTIALS_PATH, endpoint="credentials", methods=["GET"]),
                Rule("/admin/rotate", endpoint="rotate", methods=["POST"]),
                Rule("/admin/outage", endpoint="outage", methods=["POST"]),
                Rule("/admin/stats", endpoint="stats", methods=["GET"]),
                Rule("/admin/leak-check", endpoint="leak_check", methods=["POST"]),
                Rule("/admin/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
            ]
        )

    def __call__(self, environ, start_response):
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, _ = adapter.match()
        except (NotFound, MethodNotAllowed) as error:
            response = _json({"Code": "NotFound" if isinstance(error, NotFound) else "MethodNotAllowed",
                              "Message": f"no {request.method} {request.path} here"}, error.code or 404)
            return response(environ, start_response)
        if endpoint != "credentials" and not run_secret.presents(request, self.admin_secret):
            return run_secret.refusal("the admin routes")(environ, start_response)
        return getattr(self, f"_{endpoint}")(request)(environ, start_response)

    def _credentials(self, request: Request) -> Response:
        credentials = self.issuer.serve()
        if credentials is None:
            return _json({"Code": "ServiceUnavailable", "Message": "the credentials service is unavailable"}, 503)
        return _json(credentials.to_json(), 200)

    def _outage(self, request: Request) -> Response:
        value = request.args.get("on", "")
        if value not in ("true", "false"):
            return _json({"Code": "InvalidParameter", "Message": "on: true or false"}, 400)
        self.issuer.set_outage(value == "true")
        return _json({"outage": self.issuer.outage}, 200)

    def _rotate(self, request: Request) -> Response:
        credentials = self.issuer.rotate()
        return _json({"access_key_id": mask_key_id(credentials.access_key_id),
                      "expiration": credentials.expiration}, 200)

    def _stats(self, request: Request) -> Response:
        stats = {"issuances": self.issuer.issuance_count, "fetches": self.issuer.fetch_count,
                 "outage": self.issuer.outage}
        return _json({**stats, **(self.more_stats() if self.more_stats else {})}, 200)


    def _leak_check(self, request: Request) -> Response:
        text = request.get_data(as_text=True)
        issued = self.issuer.issued_secrets() + (self.more_secrets() if self.more_secrets else [])
        return _json({"bytes_searched": len(text.encode("utf-8")), **count_leaks(text, issued)}, 200)


    def _faults(self, request: Request) -> Response:
        if self.faults is None:
            return _json({"Code": "NotFound", "Message": "no local service to inject faults into"}, 404)
        if request.method == "POST":
            try:
                rule = self.faults.add(request.get_json(silent=True))
            except InvalidFaultRule as invalid:
                return _json({"Code": "InvalidParameter", "Message": str(invalid), "field": invalid.field}, 400)
            return _json({"rule": rule.to_json(), "description": rule.describe()}, 201)
        if request.method == "DELETE":
            return _json({"cleared": self.faults.clear(), "injected": self.faults.injected}, 200)
        return _json(self.faults.report(), 200)


def _json(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
