"""The EAS gateway in front of the deployed services, as a WSGI app.

``<gateway>/api/predict/<service>/<sub/path>?<query>`` reaches the service's instance as
``/<sub/path>?<query>``: the prefix is stripped, everything else (method, headers, body) is forwarded and
the response streamed back, both ways in bounded chunks, so a body of any size never sits in memory.

Requests are spread over the service's serving instances (:class:`~.instances.InstancePool`: ready, not
being stopped), the one with the fewest requests in flight first, in turn among equals; each instance's
requests in flight are counted until the response is over, which is what lets a rolling update drain an
instance before stopping it. An instance that refuses the connection (it just exited) is skipped for the next
one: nothing was sent yet.

Connections to the instances are kept open, as EAS's gateway keeps them (:mod:`.upstream`): a request takes an
idle connection to its instance, or opens one, and the connection goes back once the response was read to its
end, unless the instance answered ``Connection: close``. One idle for more than 60 s [inferred] is not used
again (it is closed at the gateway's next request): below the generated service's gunicorn ``keepalive``
(65 s), so the gateway never sends on a connection the service is closing. An instance leaving the rotation
(stopped, drained by a rolling update, restarted, deleted) has its idle connections closed at once. If a
reused connection turns out closed before any byte of the response (the instance closed it at that instant), a
request without a body is sent again on a new connection; one with a body, already partly sent, is answered
503 as below. On loopback, a sequential ``GET /health`` of the generated service takes 1.33 ms through the
gateway (median of 5 x 1000), over one connection for all 5000, against 1.79 ms with a new connection each
(``tests/measure_gateway.py``).

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
import threading
import weakref
from collections.abc import Iterator
from typing import Any, Callable, Optional
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from .instances import InstancePool, ServiceInstance
from .registry import Registry
from .upstream import UpstreamConnections

log = logging.getLogger("eas_devkit.local.control_plane")

PREFIX = "/api/predict/"
CHUNK = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 600.0
IDLE_TIMEOUT_SECONDS = 60.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "expect"})
BODILESS = ("GET", "HEAD", "DELETE", "OPTIONS")  # methods whose request without a length has no body


class Gateway:
    """WSGI app: the services of one region behind ``/api/predict/<service>``."""

    def __init__(self, registry: Registry, region: str, idle_timeout: float = IDLE_TIMEOUT_SECONDS) -> None:
        self.registry = registry
        self.region = region
        self.connections = UpstreamConnections(idle_timeout)
        self._watching = threading.Lock()
        self._watched: weakref.WeakSet[InstancePool] = weakref.WeakSet()

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
        self._watch(pool)
        replayable = not _has_body(environ)
        refused: list[ServiceInstance] = []
        while True:
            instance = pool.acquire(exclude=refused)
            if instance is None:
                return _unavailable()(environ, start_response)
            lease = _Lease(pool, instance)
            started = instance.started
            connection = self.connections.take(instance)
            reused = connection is not None
            if connection is None:
                try:
                    connection = _connect(instance, timeout)
                except OSError as error:
                    lease.release()
                    log.debug("gateway: %s refused the connection: %s", instance.name, error)
                    refused.append(instance)
                    continue
            else:
                connection.timeout = timeout
                connection.sock.settimeout(timeout)
            return self._forward(environ, start_response, connection, target, timeout, lease, started,
                                 retry=reused and replayable)

    def _watch(self, pool: InstancePool) -> None:
        """Close the idle connections of the pool's instances that leave the rotation."""
        with self._watching:
            if pool not in self._watched:
                self._watched.add(pool)
                pool.on_leave(self.connections.discard)

    def _forward(self, environ: dict, start_response: Callable, connection: http.client.HTTPConnection,
                 target: str, timeout: float, lease: _Lease, started: Optional[float], retry: bool) -> Any:
        try:
            try:
                upstream = self._exchange(connection, environ, target)
            except ConnectionError as error:  # RemoteDisconnected too: nothing of the response arrived
                if not retry:
                    raise
                # The instance closed the idle connection as it was reused: a request without a body is sent
                # again on a new connection, nothing was lost.
                log.debug("gateway: %s closed a reused connection (%s): sent again", lease.instance.name, error)
                connection.close()
                connection = _connect(lease.instance, timeout)
                upstream = self._exchange(connection, environ, target)
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
        return _Stream(connection, upstream, lease, lambda: self.connections.put(lease.instance, connection, started))

    def _exchange(self, connection: http.client.HTTPConnection, environ: dict,
                  target: str) -> http.client.HTTPResponse:
        self._send(connection, environ, target)
        return connection.getresponse()

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
        elif environ.get("wsgi.input_terminated") and method not in BODILESS:
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            for chunk in iter(lambda: body.read(CHUNK), b""):
                connection.send(b"%X\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        else:
            connection.endheaders()


def _connect(instance: ServiceInstance, timeout: float) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=timeout)
    try:
        connection.connect()
    except OSError:
        connection.close()
        raise
    return connection


def _has_body(environ: dict) -> bool:
    """Whether ``Gateway._send`` reads a body from the client: then the request can never be sent again."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return length.strip() != "0"
    return bool(environ.get("wsgi.input_terminated")) and environ["REQUEST_METHOD"] not in BODILESS


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
    """The upstream's body, chunk by chunk as it arrives. Once it was read to its end on a connection the
    instance keeps open, the connection goes back to the idle ones (``keep``), before its last chunk is passed
    on, so a client's next request finds it; any other way, closing the stream closes the connection. Closing
    it ends the request's hold on its instance."""

    def __init__(self, connection: http.client.HTTPConnection, upstream: http.client.HTTPResponse,
                 lease: _Lease, keep: Callable[[], None]) -> None:
        self._connection = connection
        self._upstream = upstream
        self._lease = lease
        self._keep = keep
        self._kept = False

    def __iter__(self) -> Iterator[bytes]:
        while not self._kept:
            chunk = self._upstream.read1(CHUNK)
            if self._complete():
                self._upstream.close()  # the connection takes a next request only once its response is closed
                self._kept = True
                self._keep()
            if not chunk:
                return
            yield chunk

    def _complete(self) -> bool:
        """Read to its end, on a connection the instance keeps open."""
        upstream = self._upstream
        if upstream.will_close or self._connection.sock is None:
            return False
        return upstream.isclosed() if upstream.chunked else upstream.length == 0

    def close(self) -> None:
        try:
            if not self._kept:
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
