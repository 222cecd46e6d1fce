"""The EAS gateway in front of the deployed services, as a WSGI app.

``<gateway>/api/predict/<service>/<sub/path>?<query>`` reaches the service's instance as
``/<sub/path>?<query>``: the prefix is stripped, everything else (method, headers, body) is forwarded and
the response streamed back, both ways in bounded chunks, so a body of any size never sits in memory.

Requests are spread over the service's serving instances (:class:`~.instances.InstancePool`: ready, not
being stopped), the one with the fewest requests in flight first, in turn among equals; each instance's
requests in flight are counted until the response is over, which is what lets a rolling update drain an
instance before stopping it. An instance that refuses the connection (it just exited) is skipped for the next
one: nothing was sent yet.

What a client sees, as on EAS:

* 404 for a service the region does not have;
* 401 unless ``Authorization`` is the service's access token (DescribeService ``AccessToken``), compared
  in constant time. The header is not forwarded to the instance [inferred], so the token never reaches
  the service's own logs;
* 503 ``no healthy upstream`` while no instance is ready (creating, stopped, every instance failed). During
  an update, and after a failed one, the ready instances keep answering whatever the service's status;
* 408 when the instance takes longer than ``metadata.rpc.keepalive`` milliseconds to answer (600 s when
  unset [inferred]).

Hop-by-hop headers (``Connection``, ``Transfer-Encoding``...) are not forwarded in either direction; a
request body without a length (chunked) is forwarded chunked.
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any, Callable, Optional
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from .instances import InstancePool, ServiceInstance
from .registry import Registry

log = logging.getLogger("eas_devkit.local.control_plane")

PREFIX = "/api/predict/"
CHUNK = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 600.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "expect"})


class Gateway:
    """WSGI app: the services of one region behind ``/api/predict/<service>``."""

    def __init__(self, registry: Registry, region: str) -> None:
        self.registry = registry
        self.region = region

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        path, _, query = raw.partition("?")
        if not path.startswith(PREFIX):
            return _error(404, "NotFound", "paths of the gateway are /api/predict/<service>/...")(environ,
                                                                                                 start_response)
        name, slash, rest = path[len(PREFIX):].partition("/")
        name = unquote(name)
        record = self.registry.find(self.region, name)
        if record is None:
            return _error(404, "ServiceNotFound", f"service {name} not found")(environ, start_response)
        token = environ.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(token.encode("utf-8"), record.token.encode("utf-8")):
            return _error(401, "Unauthorized", "the Authorization header is not the service's access token")(
                environ, start_response)
        with self.registry.locked():
            keepalive = record.config.get("metadata", {}).get("rpc", {}).get("keepalive")
        target = "/" + rest + (f"?{query}" if query else "")
        timeout = keepalive / 1000 if keepalive else DEFAULT_TIMEOUT_SECONDS
        pool = record.pool
        refused: list[ServiceInstance] = []
        while True:
            instance = pool.acquire(exclude=refused)
            if instance is None:
                return _unavailable()(environ, start_response)
            connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=timeout)
            try:
                connection.connect()
            except OSError as error:
                connection.close()
                pool.release(instance)
                log.debug("gateway: %s refused the connection: %s", instance.name, error)
                refused.append(instance)
                continue
            return self._forward(environ, start_response, connection, target, timeout, _Lease(pool, instance))

    def _forward(self, environ: dict, start_response: Callable, connection: http.client.HTTPConnection,
                 target: str, timeout: float, lease: _Lease) -> Any:
        try:
            self._send(connection, environ, target)
            upstream = connection.getresponse()
        except (socket.timeout, TimeoutError):
            connection.close()
            lease.release()
            return _error(408, "RequestTimeout", f"the service did not answer within {timeout:g} s "
                          "(metadata.rpc.keepalive)")(environ, start_response)
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            connection.close()
            lease.release()
            log.debug("gateway: upstream %s failed: %s", lease.instance.name, error)
            return _unavailable("upstream connect error or disconnect/reset before headers")(environ,
                                                                                              start_response)
        except BaseException:
            connection.close()
            lease.release()
            raise
        headers = [(name, value) for name, value in upstream.getheaders() if name.lower() not in HOP_BY_HOP]
        start_response(f"{upstream.status} {upstream.reason}", headers)
        return _Stream(connection, upstream, lease)

    @staticmethod
    def _send(connection: http.client.HTTPConnection, environ: dict, target: str) -> None:
        method = environ["REQUEST_METHOD"]
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in _request_headers(environ):
            connection.putheader(name, value)
        body = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            connection.putheader("Content-Length", length)
            connection.endheaders()
            remaining = int(length)
            while remaining > 0:
                chunk = body.read(min(CHUNK, remaining))
                if not chunk:
                    break
                connection.send(chunk)
                remaining -= len(chunk)
        elif environ.get("wsgi.input_terminated") and method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            for chunk in iter(lambda: body.read(CHUNK), b""):
                connection.send(b"%X\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        else:
            connection.endheaders()


def _request_headers(environ: dict) -> Iterator[tuple[str, str]]:
    """The client's headers minus hop-by-hop ones and the token; the length is set by ``_send``."""
    if environ.get("CONTENT_TYPE"):
        yield "Content-Type", environ["CONTENT_TYPE"]
    for key, value in environ.items():
        if not key.startswith("HTTP_"):
            continue
        name = key[5:].replace("_", "-").title()
        if name.lower() in HOP_BY_HOP or name.lower() in ("authorization", "content-length"):
            continue
        yield name, value


class _Lease:
    """One request's hold on an instance: released once, when the response is over."""

    def __init__(self, pool: InstancePool, instance: ServiceInstance) -> None:
        self.pool = pool
        self.instance = instance
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.pool.release(self.instance)


class _Stream:
    """The upstream's body, chunk by chunk as it arrives; closing it closes the upstream connection and ends
    the request's hold on its instance."""

    def __init__(self, connection: http.client.HTTPConnection, upstream: http.client.HTTPResponse,
                 lease: _Lease) -> None:
        self._connection = connection
        self._upstream = upstream
        self._lease = lease

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self._upstream.read1(CHUNK)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        try:
            self._upstream.close()
            self._connection.close()
        finally:
            self._lease.release()


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"Code": code, "Message": message}), status=status, mimetype="application/json")


def gateway_host_refusal(request: Request, message: str) -> Response:
    """A request for a host that is not this machine (:mod:`eas_devkit.local.servers`), in the gateway's JSON."""
    return _error(400, "InvalidHost", message)


def _unavailable(message: Optional[str] = None) -> Response:
    return Response(message or "no healthy upstream", status=503, mimetype="text/plain")
