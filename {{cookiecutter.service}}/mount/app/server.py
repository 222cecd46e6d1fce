"""The gunicorn worker the service runs in: gevent's, with JSON error pages.

Each connection is a greenlet, not a thread: a client that sends its headers or its body a byte at a time
holds a few kilobytes, not one of a handful of threads, so a few slow clients (or a VPC direct connection
that no gateway buffers) cannot stop ``/health`` and every other request. The SDKs are imported on first
use, after gunicorn has monkey-patched the worker, so their sockets and locks cooperate too.

gunicorn answers a request it cannot parse (bad request line, bad header, headers too large) itself,
before the app sees it, with an HTML page; here it is the service's JSON error instead, and the one log
line every request gets.

Connections are spread over the workers: they all accept on the one socket the master opened, and a worker
that is busy for a moment (a first request that imports an SDK) lets the other take a whole burst of new
connections, which a keep-alive client (the EAS gateway) then keeps for the rest of its life. A worker that
serves more than its share answers the request and closes that connection (``Connection: close``); the client
opens a new one, which any worker may accept, until the workers are within a few connections of each other.
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import os
import signal
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http import HTTPStatus
from typing import Any

import gevent
from gunicorn.arbiter import Arbiter
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from .errors import error_body
from .logs import REQUEST_ID_HEADER, request_log

# gunicorn's parse errors: (status, code). What is not here is the server's fault: 500.
PARSE_ERRORS: dict[type, tuple[int, str]] = {
    http_errors.LimitRequestHeaders: (431, "RequestHeaderFieldsTooLarge"),
    http_errors.LimitRequestLine: (400, "RequestLineTooLong"),
    http_errors.InvalidRequestLine: (400, "InvalidRequestLine"),
    http_errors.InvalidRequestMethod: (400, "InvalidMethod"),
    http_errors.InvalidHTTPVersion: (400, "InvalidHTTPVersion"),
    http_errors.InvalidHeaderName: (400, "InvalidHeader"),
    http_errors.InvalidHeader: (400, "InvalidHeader"),
    http_errors.ObsoleteFolding: (400, "InvalidHeader"),
    http_errors.InvalidSchemeHeaders: (400, "InvalidHeader"),
    http_errors.UnsupportedTransferCoding: (501, "UnsupportedTransferCoding"),
    http_errors.InvalidProxyLine: (400, "InvalidProxyLine"),
    http_errors.ForbiddenProxyRequest: (403, "Forbidden"),
}

log = logging.getLogger(__name__)


class WorkerLoads:
    """How many connections each worker serves: a few bytes of memory the master maps before it forks the
    workers (gunicorn imports this module to find the worker class), so that every worker sees them all.

    Each worker writes its pid and its connection count into its slot; a slot whose pid is gone is ignored.
    Two workers whose ages differ by a multiple of ``SLOTS`` would share one: one of them is then not seen,
    which only makes the balance coarser.
    """

    SLOTS = 64

    def __init__(self) -> None:
        self._slots = memoryview(mmap.mmap(-1, self.SLOTS * 2 * 8)).cast("q")  # (pid, connections) per slot

    def publish(self, slot: int, pid: int, connections: int) -> None:
        self._slots[2 * (slot % self.SLOTS) + 1] = connections
        self._slots[2 * (slot % self.SLOTS)] = pid

    def over_share(self, connections: int) -> bool:
        """Whether a worker with ``connections`` holds more than its share, plus a quarter (at least 1)."""
        counts = [self._slots[2 * slot + 1] for slot in range(self.SLOTS) if _alive(self._slots[2 * slot])]
        if len(counts) < 2:
            return False
        share = math.ceil(sum(counts) / len(counts))
        return connections > share + max(1, share // 4)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


LOADS = WorkerLoads()


class ServiceWorker(GeventWorker):
    """gunicorn's gevent worker; ``handle_error`` writes the service's JSON error instead of HTML, and SIGTERM
    closes the connections that wait for a next request (a gateway keeps idle ones open, about a minute)
    instead of waiting for them until ``graceful_timeout``. Requests in flight are still served to the end.
    A worker that holds more than its share of the connections closes one after its answer (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: dict[Any, socket.socket] = {}  # greenlet -> the client connection it serves
        self.waiting: set[Any] = set()  # greenlets waiting for (the rest of) a request's head

    def init_process(self) -> None:
        # Until gunicorn sets the worker's own handlers (after gevent has patched everything, which takes a
        # while), a SIGTERM goes to the master's handler the fork left here and is lost: the worker would
        # then be SIGKILLed at the end of graceful_timeout instead of stopping.
        signal.signal(signal.SIGTERM, self.handle_exit)
        if signal.SIGTERM in Arbiter.SIG_QUEUE:  # it came before the line above
            self.alive = False
        super().init_process()

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        current = gevent.getcurrent()
        self.connections[current] = client
        LOADS.publish(self.age, self.pid, len(self.connections))
        try:
            super().handle(listener, client, addr)
        finally:
            self.connections.pop(current, None)
            LOADS.publish(self.age, self.pid, len(self.connections))

    def handle_request(self, listener_name: Any, req: Any, sock: socket.socket, addr: Any) -> Any:
        if LOADS.over_share(len(self.connections)):
            req.must_close = True  # answered with Connection: close; the client reconnects to any worker
        return super().handle_request(listener_name, req, sock, addr)

    def run(self) -> None:
        LOADS.publish(self.age, self.pid, 0)
        try:
            super().run()
        finally:
            LOADS.publish(self.age, 0, 0)

    @contextmanager
    def timeout_ctx(self) -> Iterator[None]:
        """What gunicorn wraps each wait for a request head in: at most ``keepalive`` seconds, as before."""
        current = gevent.getcurrent()
        self.waiting.add(current)
        if not self.alive:  # SIGTERM came while this connection was still busy with its last answer
            self._end_wait(current)
        try:
            with gevent.Timeout(self.cfg.keepalive, False):
                yield
        finally:
            self.waiting.discard(current)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        for waiting in list(self.waiting):
            self._end_wait(waiting)

    def _end_wait(self, waiting: Any) -> None:
        connection = self.connections.get(waiting)
        if connection is not None:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # its read ends: the greenlet closes it and exits

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        status, code = error_status(exc)
        if status >= 500:
            log.error("gunicorn could not handle a request", exc_info=exc)
            message = "internal error; the request id identifies it in the logs"
        else:
            message = str(exc)
        request_id = uuid.uuid4().hex
        request_log.info("request", extra={"request_id": request_id, "method": getattr(req, "method", None),
                                           "path": getattr(req, "path", None), "status": status, "code": code})
        body = json.dumps(error_body(code, message, request_id), ensure_ascii=True).encode("ascii")
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{REQUEST_ID_HEADER}: {request_id}\r\n\r\n")
        with suppress(OSError):  # a client that has gone has nothing to be told
            client.sendall(head.encode("ascii") + body)


def error_status(exc: BaseException) -> tuple[int, str]:
    for kind, answer in PARSE_ERRORS.items():
        if isinstance(exc, kind):
            return answer
    return 500, "InternalError"
