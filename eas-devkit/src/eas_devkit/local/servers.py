"""Run WSGI apps on 127.0.0.1 in background threads, with werkzeug's threaded server.

Loopback only, always: the local EAS must never listen on another address, and it answers only requests
addressed to this machine. A request whose ``Host`` is not a loopback name or address (``127.0.0.1``,
``localhost``, ``[::1]``...) is refused before the app sees it: that is what a web page does after DNS
rebinding (its own name, resolved to 127.0.0.1), and what no SDK pointed at the local EAS does. Each server
refuses in the shape of the service it stands for (OSS's XML, the OpenAPI's JSON...); the default is a
JSON 400 naming the header.

Werkzeug de-chunks request bodies (oss2 streams uploads chunked) and speaks real HTTP/1.1; its request log
is replaced by ours, because a presigned URL's query string carries a signature and a security token.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any, Callable

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

LOOPBACK = "127.0.0.1"
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


class QuietRequestHandler(WSGIRequestHandler):
    # http.server sends headers and body in separate packets; with Nagle on, each request waits ~40 ms.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # chunked responses, as the real services

    def send_response(self, code: int, message=None) -> None:
        # http.server's own adds "Server: Werkzeug/… Python/…" next to the app's (AliyunOSS for the OSS).
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_request(self, code="-", size="-") -> None:
        log.debug("%s %s %s", self.command, self.path.split("?", 1)[0], code)

    def log_error(self, format: str, *args) -> None:  # noqa: A002 - signature of http.server
        log.debug("http error: " + format, *args)


class LoopbackServer:
    """One WSGI app served on 127.0.0.1:<port> (0 picks a free port) until ``stop()``; ``refuse_host``
    answers a request for another host, in the service's own error shape."""

    def __init__(self, app: WSGIApp, port: int = 0, name: str = "server",
                 refuse_host: HostRefusal = json_host_refusal) -> None:
        self.name = name
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, port, LoopbackHostCheck(app, refuse_host), threaded=True, request_handler=QuietRequestHandler
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"local-eas-{name}", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
