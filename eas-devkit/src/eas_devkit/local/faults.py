"""Backend faults on demand: the local OSS and MaxCompute fail the way the real ones sometimes do.

A :class:`FaultInjector` holds the rules; :meth:`FaultInjector.wrap` puts a WSGI middleware in front of a
local service that applies them. A rule names the service (``oss`` or ``maxcompute``), the kind of fault,
optionally a method and a path glob, and how many matching requests get it (``count``; ``None``: until the
rules are cleared). Kinds:

    status    answer ``status`` (500, 503...) with the service's own error XML, without running the request
    reset     TCP RST on the connection before any response (SO_LINGER 0, then close)
    truncate  run the request, send its headers (Content-Length included) and half of its body, then close
    latency   wait ``seconds``, then run the request normally

The glob is matched against the path, and against ``path?query`` (so ``/api/*?*data*`` picks the tunnel's
data downloads). Every request a rule matches is counted (``matched``), so a test can tell how many times
a client tried, including after the rule's ``count`` is used up.
"""

from __future__ import annotations

import fnmatch
import os
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .servers import SOCKET

SERVICES = ("oss", "maxcompute")
KINDS = ("status", "reset", "truncate", "latency")
MAX_LATENCY_SECONDS = 300
FIELDS = ("service", "kind", "status", "seconds", "count", "method", "path")
# The codes each service answers a 5xx with (pyodps maps MaxCompute's codes to its exception classes).
OSS_CODES = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
MAXCOMPUTE_CODES = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                    504: "GatewayTimeout"}
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class InvalidFaultRule(ValueError):
    """A rule that cannot be applied; ``field`` names what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class FaultRule:
    service: str
    kind: str
    status: Optional[int] = None  # kind "status" only; 503 when not given
    seconds: Optional[float] = None  # kind "latency" only
    count: Optional[int] = None  # how many matching requests get the fault; None: until cleared
    method: Optional[str] = None  # GET, PUT...; None: any
    path: Optional[str] = None  # fnmatch glob; None: any
    matched: int = 0
    injected: int = 0

    @classmethod
    def from_json(cls, document: Any, services: Iterable[str] = SERVICES) -> FaultRule:
        """The rule a JSON document describes, checked field by field."""
        if not isinstance(document, dict):
            raise InvalidFaultRule("body", 'a JSON object, e.g. {"service": "oss", "kind": "status", "status": 503}')
        unknown = sorted(set(document) - set(FIELDS))
        if unknown:
            raise InvalidFaultRule(unknown[0], f"unknown field; a rule has {', '.join(FIELDS)}")
        service, kind = document.get("service"), document.get("kind")
        available = tuple(services)
        if service not in available:
            raise InvalidFaultRule("service", f"one of {', '.join(available)} (the local services running)")
        if kind not in KINDS:
            raise InvalidFaultRule("kind", f"one of {', '.join(KINDS)}")
        rule = cls(service, kind, method=_method(document.get("method")), path=_glob(document.get("path")),
                   count=_count(document.get("count")))
        status, seconds = document.get("status"), document.get("seconds")
        if kind == "status":
            rule.status = 503 if status is None else status
            if not isinstance(rule.status, int) or isinstance(rule.status, bool) or not 500 <= rule.status <= 599:
                raise InvalidFaultRule("status", "a 5xx status code, e.g. 500 or 503")
        elif status is not None:
            raise InvalidFaultRule("status", f"only for kind status, not {kind}")
        if kind == "latency":
            if not _is_number(seconds) or not 0 < seconds <= MAX_LATENCY_SECONDS:
                raise InvalidFaultRule("seconds", f"the delay in seconds, more than 0 and at most "
                                                  f"{MAX_LATENCY_SECONDS}")
            rule.seconds = float(seconds)
        elif seconds is not None:
            raise InvalidFaultRule("seconds", f"only for kind latency, not {kind}")
        return rule

    def matches(self, service: str, method: str, path: str, query: str) -> bool:
        if service != self.service or (self.method is not None and method != self.method):
            return False
        if self.path is None:
            return True
        return fnmatch.fnmatchcase(path, self.path) or (
            bool(query) and fnmatch.fnmatchcase(f"{path}?{query}", self.path))

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.injected >= self.count

    def describe(self) -> str:
        """``oss status 503 on GET /bucket/* (2 of 3 injected)``: one line for the CLI."""
        what = self.kind
        if self.kind == "status":
            what = f"status {self.status}"
        elif self.kind == "latency":
            what = f"latency {self.seconds:g} s"
        where = f"{self.method or 'any method'} {self.path or '*'}"
        times = f"{self.injected} of {self.count}" if self.count is not None else f"{self.injected} of unlimited"
        return f"{self.service} {what} on {where} ({times} injected, {self.matched} requests matched)"

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*FIELDS, "matched", "injected")}


@dataclass
class FaultInjector:
    """The rules, shared by the middlewares of every wrapped service and the admin routes."""

    services: list[str] = field(default_factory=list)  # those wrapped, in the order they were
    _rules: list[FaultRule] = field(default_factory=list)
    _requests: Counter = field(default_factory=Counter)  # (service, method) -> requests seen
    _injected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: WSGIApp, service: str) -> FaultMiddleware:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        self.services.append(service)
        return FaultMiddleware(app, service, self)

    def add(self, document: Any) -> FaultRule:
        rule = FaultRule.from_json(document, self.services)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> int:
        """Remove every rule; returns how many there were."""
        with self._lock:
            removed = len(self._rules)
            self._rules.clear()
            return removed

    @property
    def injected(self) -> int:
        """Faults injected since the start, cleared rules included."""
        with self._lock:
            return self._injected

    def report(self) -> dict[str, Any]:
        """The rules with their counts, the faults injected in all, and the requests each service saw."""
        with self._lock:
            requests: dict[str, dict[str, int]] = {service: {} for service in self.services}
            for (service, method), seen in sorted(self._requests.items()):
                requests[service][method] = seen
            return {"rules": [rule.to_json() for rule in self._rules], "injected": self._injected,
                    "requests": requests}

    def fault_for(self, service: str, method: str, path: str, query: str) -> Optional[FaultRule]:
        """The rule that applies to this request (the first matching one not used up), counted as injected."""
        chosen = None
        with self._lock:
            self._requests[(service, method)] += 1
            for rule in self._rules:
                if rule.matches(service, method, path, query):
                    rule.matched += 1
                    if chosen is None and not rule.exhausted:
                        chosen = rule
                        rule.injected += 1
                        self._injected += 1
            return chosen


class FaultMiddleware:
    """WSGI middleware in front of one local service, applying the injector's rules to each request."""

    def __init__(self, app: WSGIApp, service: str, injector: FaultInjector) -> None:
        self.app = app
        self.service = service
        self.injector = injector

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        rule = self.injector.fault_for(self.service, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                       environ.get("QUERY_STRING", ""))
        if rule is None:
            return self.app(environ, start_response)
        if rule.kind == "latency":
            time.sleep(rule.seconds or 0)
            return self.app(environ, start_response)
        if rule.kind == "status":
            return self._error(environ, start_response, rule.status or 503)
        if rule.kind == "reset":
            reset_connection(environ[SOCKET])
            raise ConnectionResetError("fault injected: connection reset")  # the server drops it quietly
        return self._truncated(environ, start_response)

    def _error(self, environ: dict, start_response: Callable, status: int) -> Iterable[bytes]:
        from werkzeug.wrappers import Request

        request = Request(environ)
        message = "Injected by the local EAS (eas-devkit local fault). Please try again."
        if self.service == "oss":
            from .oss.errors import OssError, new_request_id

            response = OssError(status, OSS_CODES.get(status, "InternalError"), message).to_response(
                new_request_id(), request.host, request.method)
        else:
            from .maxcompute.errors import OdpsError, new_request_id

            response = OdpsError(status, MAXCOMPUTE_CODES.get(status, "InternalServerError"), message).to_response(
                new_request_id(), request.host)
        return response(environ, start_response)

    def _truncated(self, environ: dict, start_response: Callable) -> Iterator[bytes]:
        """The real response's status and headers, and the first half of its body (the server closes a
        connection after a response shorter than its Content-Length: the client sees the stream end early)."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = self.app(environ, capture)
        try:
            headers = captured["headers"]
            length = _content_length(headers)
            if length is None:  # a chunked answer: made whole, to have a length to fall short of
                content = b"".join(body)
                length = len(content)
                headers = [*headers, ("Content-Length", str(length))]
                chunks: Iterable[bytes] = [content]
            else:
                chunks = body
            start_response(captured["status"], headers)
            yield from _first_bytes(chunks, length // 2)
        finally:
            if hasattr(body, "close"):
                body.close()


def reset_connection(connection: socket.socket) -> None:
    """Abort the TCP connection with a RST, not a FIN.

    ``close()`` on the socket would wait for the server's file objects, and ``shutdown()`` sends a FIN; so
    the descriptor is swapped (``dup2``, atomically) for one end of a closed socket pair: the TCP socket's
    last descriptor goes, with SO_LINGER 0, which sends the RST, and the server reads an orderly EOF after.
    """
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ended, other = socket.socketpair()
    other.close()
    try:
        os.dup2(ended.fileno(), connection.fileno())
    finally:
        ended.close()


def _first_bytes(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    remaining = limit
    for chunk in chunks:
        if remaining <= 0:
            return
        yield chunk[:remaining]
        remaining -= len(chunk)


def _content_length(headers: list[tuple[str, str]]) -> Optional[int]:
    for name, value in headers:
        if name.lower() == "content-length":
            return int(value)
    return None


def _method(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isalpha():
        raise InvalidFaultRule("method", "an HTTP method, e.g. GET or PUT")
    return value.upper()


def _glob(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("/", "*")):
        raise InvalidFaultRule("path", "a glob of the request path, starting with / or *, e.g. /bucket/data/*")
    return value


def _count(value: Any) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidFaultRule("count", "a positive whole number of requests (leave it out: until cleared)")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def summary(report: Mapping[str, Any]) -> str:
    """What ``fault list`` prints."""
    rules = [FaultRule(**rule) for rule in report["rules"]]
    lines = [f"{index}. {rule.describe()}" for index, rule in enumerate(rules, 1)] or ["no fault rules"]
    seen = ", ".join(f"{service}: {sum(methods.values())}" for service, methods in report["requests"].items())
    lines.append(f"faults injected in all: {report['injected']}; requests seen: {seen or 'none'}")
    return "\n".join(lines)
