"""Run WSGI apps on 127.0.0.1 in background threads, with werkzeug's threaded server.

Loopback only, always: the local EAS must never listen on another address. Werkzeug de-chunks request
bodies (oss2 streams uploads chunked) and speaks real HTTP/1.1; its request log is replaced by ours,
because a presigned URL's query string carries a signature and a security token.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

LOOPBACK = "127.0.0.1"
log = logging.getLogger("local_eas")


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
    """One WSGI app served on 127.0.0.1:<port> (0 picks a free port) until ``stop()``."""

    def __init__(self, app: Callable, port: int = 0, name: str = "server") -> None:
        self.name = name
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, port, app, threaded=True, request_handler=QuietRequestHandler
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
