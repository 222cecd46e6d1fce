"""The RAM role's temporary credentials, as EAS hands them to an instance.

The guide documents three ways to get them; this module is where the service chooses:

1. The Credentials tool: ``DefaultCredentialsProvider`` (the current one, from
   ``alibabacloud_credentials.provider``) reaches the endpoint EAS injects as ``ALIBABA_CLOUD_CREDENTIALS_URI``
   and caches the result until 15 minutes before expiry. (The legacy class the guide imports,
   ``alibabacloud_credentials.providers.DefaultCredentialsProvider``, re-fetches the endpoint on every signed
   request.) ``service.json`` sets ``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`` so the chain never waits on
   the ECS metadata address first.
2. The endpoint itself (``curl $ALIBABA_CLOUD_CREDENTIALS_URI``): what method 1 does for you.
3. The file ``/etc/ram/credentials``, which EAS rewrites before expiry: used when no URI is set.

Importing this module costs about half a second (the SDK), so the app imports it on first use.
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import DefaultCredentialsProvider
from alibabacloud_credentials.provider.refreshable import Credentials
from alibabacloud_credentials_api import ICredentialsProvider

from .errors import CredentialsUnavailable
from .logs import REDACTOR, tame_sdk_loggers

tame_sdk_loggers()
log = logging.getLogger(__name__)

URI_VARIABLE = "ALIBABA_CLOUD_CREDENTIALS_URI"
EXPIRATION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

class CredentialsFileProvider(ICredentialsProvider):
    """Method 3: reads the JSON file EAS keeps up to date; no SDK reads it.

    The file is read again whenever it changes on disk (EAS replaces it before the credentials expire),
    so a ``stat`` is all a request costs. Expired credentials are refused rather than used.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: Optional[tuple[int, int, int]] = None
        self._cached: Optional[Credentials] = None

    def get_credentials(self) -> Credentials:
        try:
            stat = self.path.stat()
        except OSError as error:
            raise CredentialException(f"cannot read the credentials file {self.path}: {error.strerror}") from None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if stamp != self._stamp or self._cached is None:
                self._cached = self._read()
                self._stamp = stamp
            credentials = self._cached
        if credentials.get_expiration() <= time.time():
            raise CredentialException(f"the credentials in {self.path} expired at "
                                      f"{_format_expiration(credentials.get_expiration())}")
        return credentials

    async def get_credentials_async(self) -> Credentials:
        return self.get_credentials()

    def get_provider_name(self) -> str:
        return "credentials_file"

    def _read(self) -> Credentials:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            if document.get("Code") != "Success":
                raise ValueError("Code is not Success")
            expiration = calendar.timegm(time.strptime(document["Expiration"], EXPIRATION_FORMAT))
            return Credentials(
                access_key_id=document["AccessKeyId"],
                access_key_secret=document["AccessKeySecret"],
                security_token=document["SecurityToken"],
                expiration=expiration,
                provider_name=self.get_provider_name(),
            )
        except (OSError, ValueError, KeyError, TypeError):
            # The content is a secret: say what is wrong with the file, never what it holds.
            raise CredentialException(
                f"{self.path} is not a credentials file (JSON with Code=Success, AccessKeyId, AccessKeySecret, "
                f"SecurityToken and Expiration as {EXPIRATION_FORMAT})"
            ) from None


class ServiceCredentials:
    """The provider every SDK client of this process shares, plus what ``GET /credentials`` reports.

    It is what ``oss2.ProviderAuthV4`` and ``odps.accounts.CredentialProviderAccount`` are given: it
    passes ``get_credentials()`` through and tells the log redactor every secret it hands out.
    """

    def __init__(self, provider: ICredentialsProvider) -> None:
        self.provider = provider
        self._last_key_id: Optional[str] = None

    def get_credentials(self) -> Credentials:
        try:
            credentials = self.provider.get_credentials()
        except Exception as error:  # the SDK re-raises its HTTP client's errors too, not only CredentialException
            log.warning("credentials unavailable: %s: %s", type(error).__name__, error)
            raise CredentialsUnavailable() from None
        if credentials.get_access_key_id() != self._last_key_id:
            REDACTOR.remember(credentials.get_access_key_secret(), credentials.get_security_token())
            self._last_key_id = credentials.get_access_key_id()
        return credentials

    def describe(self) -> dict[str, Any]:
        """Source, masked AccessKeyId and expiry of the credentials in use: never the secret or the token."""
        credentials = self.get_credentials()
        expiration = credentials.get_expiration() or _expiration_behind_default_chain(self.provider)
        return {
            "source": credentials.get_provider_name(),
            "access_key_id": mask_key_id(credentials.get_access_key_id()),
            "expiration": _format_expiration(expiration) if expiration else None,
        }


def create_credentials(config_file: str, environ: Mapping[str, str] = os.environ) -> ServiceCredentials:
    """Method 1 when EAS injected the URI (or anything else the default chain finds), else method 3."""
    if not environ.get(URI_VARIABLE) and Path(config_file).is_file():
        return ServiceCredentials(CredentialsFileProvider(config_file))
    return ServiceCredentials(DefaultCredentialsProvider())


def mask_key_id(access_key_id: str) -> str:
    prefix = "STS." if access_key_id.startswith("STS.") else ""
    return f"{prefix}****{access_key_id[-4:]}"


def _format_expiration(epoch: float) -> str:
    return time.strftime(EXPIRATION_FORMAT, time.gmtime(epoch))


def _expiration_behind_default_chain(provider: ICredentialsProvider) -> Optional[int]:
    # DefaultCredentialsProvider re-wraps what its chain returns and drops the expiration; the provider it
    # settled on still has it (cached, so asking costs no request). Private attribute of the pinned
    # version: if it moves, /credentials reports no expiration instead of failing.
    chosen = getattr(provider, "_DefaultCredentialsProvider__last_used_provider", None)
    if chosen is None:
        return None
    try:
        return chosen.get_credentials().get_expiration()
    except Exception:  # the expiry is informational; the request that needs credentials reports failures
        return None
