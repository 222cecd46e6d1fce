"""What a load-generating thread calls: the service over HTTP, or the real SDKs calling the local services.

A target is a small picklable description; ``connect()`` runs in the client process and returns the call
that makes one request (and returns how many bytes it received). Connections are kept alive on both sides,
so what is compared is the request, not the TCP handshake.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

Call = Callable[[], int]


class Target(Protocol):
    def connect(self) -> Call: ...


class RequestFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class HttpGet:
    """``GET url`` on one keep-alive connection (http.client: the lightest client the standard library has); an
    ``https`` URL verifies the server's certificate."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()

    def connect(self) -> Call:
        address = urlsplit(self.url)
        target = address.path + (f"?{address.query}" if address.query else "")
        connect = http.client.HTTPSConnection if address.scheme == "https" else http.client.HTTPConnection
        connection = connect(address.hostname, address.port, timeout=120)
        headers = dict(self.headers)

        def call() -> int:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RequestFailed(f"GET {self.url} answered {response.status}: {body[:200]!r}")
            return len(body)

        return call


@dataclass(frozen=True)
class OssLocation:
    """The local OSS as the instance sees it, signing with the role's credentials (from the credentials URI)."""

    endpoint: str
    bucket: str
    region: str
    credentials_uri: str

    @classmethod
    def of(cls, state: dict[str, Any]) -> OssLocation:
        return cls(state["oss_endpoint"], state["bucket"], state["region"], state["credentials_uri"])

    def open(self) -> Any:  # -> oss2.Bucket
        import oss2

        return oss2.Bucket(oss2.ProviderAuthV4(_role_credentials(self.credentials_uri)), self.endpoint, self.bucket,
                           region=self.region)


@dataclass(frozen=True)
class DirectOssGet:
    """``bucket.get_object(key).read()`` with the real oss2 client, one ``Bucket`` (and pool) per thread."""

    location: OssLocation
    key: str

    def connect(self) -> Call:
        bucket = self.location.open()

        def call() -> int:
            return len(bucket.get_object(self.key).read())

        return call


_providers: dict[str, Any] = {}
_providers_lock = threading.Lock()


def _role_credentials(uri: str) -> Any:
    """One caching provider per client process, as a well-written client would have."""
    from alibabacloud_credentials.provider import URLCredentialsProvider

    with _providers_lock:
        if uri not in _providers:
            _providers[uri] = URLCredentialsProvider(uri=uri)
        return _providers[uri]
