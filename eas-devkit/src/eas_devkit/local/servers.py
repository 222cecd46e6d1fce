"""Run WSGI apps on 127.0.0.1 in background threads, with cheroot (CherryPy's threaded HTTP/1.1 server).

Loopback only, always: the local EAS must never listen on another address, and it answers only requests
addressed to this machine. A request whose ``Host`` is not a loopback name or address (``127.0.0.1``,
``localhost``, ``[::1]``...) is refused before the app sees it: that is what a web page does after DNS
rebinding (its own name, resolved to 127.0.0.1), and what no SDK pointed at the local EAS does. Each server
refuses in the shape of the service it stands for (OSS's XML, the OpenAPI's JSON...); the default is a
JSON 400 naming the header.

Connections are kept alive between requests, as the real OSS, MaxCompute and EAS endpoints keep them (werkzeug's
development server, used before, closes every one: each SDK request reconnected; README "Which HTTP server"
has the numbers). Request bodies stream in, de-chunked (oss2 streams uploads chunked: ``wsgi.input_terminated``
is set), responses without a length stream out chunked, with TCP_NODELAY. The server's own request and error
logs are replaced by ours (method and path, never the query string: a presigned URL's carries a signature and a
security token), and it adds no ``Server`` header of its own beside the app's (OSS sends ``AliyunOSS``).
``stop()`` closes the idle connections at once and does not wait for requests in flight. The environ is the one
werkzeug's server and gunicorn give (``PATH_INFO`` decoded, ``RAW_URI``), plus the request's socket (``SOCKET``).
Given :class:`~.tls.TLSFiles`, a server speaks HTTPS with cheroot's ``ssl`` adapter (``local up --tls``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import unquote_to_bytes

from cheroot.server import HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.workers.threadpool import ThreadPool, WorkerThread
from cheroot.wsgi import Gateway_10, Server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from .tls import TLSFiles

LOOPBACK = "127.0.0.1"
MIN_THREADS = 4
KEEP_ALIVE_CONNECTIONS = 1024  # idle ones; cheroot's default (10) would make a 16-thread client reconnect
SOCKET_TIMEOUT_SECONDS = 120  # a client silent this long mid-request is dropped; an idle connection closed
IDLE_WORKERS_STOP_SECONDS = 0.25  # what stop() waits for its idle threads to end
SOCKET = "eas_devkit.socket"  # the environ key of the request's TCP socket (local.faults resets it)
log = logging.getLogger("eas_devkit.local")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
HostRefusal = Callable[[Request, str], Response]  # (the request, why) -> the service's own error response


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header (with or without a port) names this machine: a loopback address,
    ``localhost`` or a name under ``.localhost`` (RFC 6761: never resolved by DNS)."""
    name = host.strip()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_refused_message(host: str) -> str:
    shown = repr(host[:100]) if host else "missing"
    return (f"Host {shown} is not a loopback name or address: the local EAS answers only requests addressed to "
            f"this machine (127.0.0.1, localhost, [::1])")


def json_host_refusal(request: Request, message: str) -> Response:
    """The refusal of the local EAS's own routes (credentials, admin): JSON naming the header."""
    return Response(json.dumps({"Code": "InvalidHost", "Message": message, "field": "Host"}), status=400,
                    mimetype="application/json")


class LoopbackHostCheck:
    """WSGI middleware: the app only sees requests whose ``Host`` is a loopback name or address."""

    def __init__(self, app: WSGIApp, refuse: HostRefusal = json_host_refusal) -> None:
        self.app = app
        self.refuse = refuse
        self._warned = False  # a page retrying in a loop must not flood the console: one warning, then debug

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        host = environ.get("HTTP_HOST", "")
        if is_loopback_host(host):
            return self.app(environ, start_response)
        level, self._warned = (logging.DEBUG if self._warned else logging.WARNING), True
        log.log(level, "refused a request for Host %r (not this machine: DNS rebinding?); further refusals are "
                       "logged at debug level", host[:100])
        return self.refuse(Request(environ), host_refused_message(host))(environ, start_response)


class _Request(HTTPRequest):
    def send_headers(self) -> None:
        unread = not self.rfile.closed if self.chunked_read else getattr(self.rfile, "remaining", 0) > 0
        if unread:
            # The app answered without reading the body to its end. Left, a chunked body's rest would be read as
            # the next request; cheroot would read a sized body's rest before the answer goes out, which never
            # comes for a GET that names a Content-Length and sends nothing (oss2's signed URLs can), and takes
            # a refused 1 GiB upload to its end first. OSS answers and closes.
            self.close_connection = True
        if any(name.lower() == b"server" for name, _ in self.outheaders):
            super().send_headers()
            return
        # cheroot adds "Server: <its name>" when the app sent none: the emulators send their service's own or none.
        wfile = self.conn.wfile
        self.conn.wfile = _WithoutLine(wfile, b"Server: " + self.server.server_name.encode("latin-1") + b"\r\n")
        try:
            super().send_headers()
        finally:
            self.conn.wfile = wfile


class _WithoutLine:
    """A write-only file that drops one header line from the (single) write of the response head."""

    def __init__(self, wfile: Any, line: bytes) -> None:
        self._wfile = wfile
        self._line = line

    def write(self, data: bytes) -> Any:
        return self._wfile.write(data.replace(b"\r\n" + self._line, b"\r\n", 1))


class _Connection(HTTPConnection):
    RequestHandlerClass = _Request


class _Workers(ThreadPool):
    """cheroot's pool, but a thread more whenever none is idle (werkzeug's server had one thread per request:
    a gateway request waits for its instance up to 600 s), daemon threads, and a ``stop`` that does not wait for
    requests in flight (they finish on their own, as with werkzeug's server)."""

    def put(self, obj: Any) -> None:
        if self.idle <= self.qsize and len(self._threads) < self.max:
            self._threads.append(self._spawn_worker())
        super().put(obj)

    def _spawn_worker(self) -> WorkerThread:
        worker = WorkerThread(self.server)
        worker.name = f"{self.server.thread_name}-{len(self._threads)}"
        worker.daemon = True
        worker.start()
        return worker

    def stop(self, timeout: Optional[float] = None) -> None:
        waiting = threading.Thread(target=super().stop, args=(None,), name=f"{self.server.thread_name}-stop",
                                   daemon=True)
        waiting.start()
        waiting.join(IDLE_WORKERS_STOP_SECONDS)


class _Server(Server):
    ConnectionClass = _Connection
    keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
    expiration_interval = 0.1  # how often its loop looks for stop(): stop() waits for it

    def __init__(self, app: WSGIApp, port: int, name: str) -> None:
        super().__init__((LOOPBACK, port), app, numthreads=MIN_THREADS, server_name=LOOPBACK,
                         timeout=SOCKET_TIMEOUT_SECONDS)
        self.thread_name = f"local-eas-{name}"
        self.gateway = _Gateway
        self.requests = _Workers(self, min=MIN_THREADS)

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        # cheroot's messages name the peer and the error, never the request line (its query string carries
        # a presigned URL's signature and security token).
        if level >= logging.ERROR:
            log.error("%s: %s", self.thread_name, msg, exc_info=traceback)
        else:
            log.debug("%s: %s", self.thread_name, msg)


class _Gateway(Gateway_10):
    """cheroot's WSGI environ as werkzeug's server and gunicorn make it, and a connection closed after a response
    shorter than its ``Content-Length`` (the client would wait for the rest)."""

    def get_environ(self) -> dict:
        environ = super().get_environ()
        target = environ["REQUEST_URI"]
        environ["RAW_URI"] = target
        path = target.partition("?")[0]
        if path.startswith("/"):  # cheroot leaves %2F undecoded (oss2 sends a key's slashes so)
            environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
        environ[SOCKET] = self.req.conn.socket
        return environ

    def respond(self) -> None:
        self.sent_bytes = 0
        super().respond()
        bodiless = self.req.method == b"HEAD" or self.req.status[:3] in (b"204", b"304")
        if not bodiless and self.remaining_bytes_out is not None and self.sent_bytes < self.remaining_bytes_out:
            self.req.close_connection = True

    def write(self, chunk: bytes) -> None:
        super().write(chunk)
        self.sent_bytes += len(chunk)


class _RequestLog:
    """Our request log: method, path and status, never the query string."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        def logged_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            log.debug("%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        return self.app(environ, logged_start_response)


class LoopbackServer:
    """One WSGI app served on 127.0.0.1:<port> (0 picks a free port) until ``stop()``; ``refuse_host``
    answers a request for another host, in the service's own error shape."""

    def __init__(self, app: WSGIApp, port: int = 0, name: str = "server",
                 refuse_host: HostRefusal = json_host_refusal, tls: Optional[TLSFiles] = None) -> None:
        self.name = name
        self.scheme = "https" if tls else "http"
        self._server = _Server(_RequestLog(LoopbackHostCheck(app, refuse_host)), port, name)
        if tls:
            self._server.ssl_adapter = BuiltinSSLAdapter(str(tls.certificate), str(tls.private_key))
        self._server.prepare()  # binds: the port is known before start()
        self._thread = threading.Thread(target=self._server.serve, name=f"local-eas-{name}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, close the idle keep-alive connections; requests in flight finish on their own."""
        self._server.stop()
        self._thread.join(timeout=5)
