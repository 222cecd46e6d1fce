"""Structured logs: one JSON object a line, and never a secret in any of them.

The credentials code tells the redactor every AccessKeySecret and SecurityToken it receives; the
formatter replaces them wherever they would appear (a message, an argument, a traceback). Third-party
loggers that would print credentials or bypass the format are tamed here too.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from typing import Any, Optional

from flask import Flask, Response, g, request
from werkzeug.wsgi import ClosingIterator

REDACTED = "****"
# Loggers of the SDKs: quiet, and routed through our handlers. pyodps logs the whole STS token at INFO.
QUIET_LOGGERS = ("odps", "oss2", "urllib3", "credentials", "apscheduler")


class SecretRedactor:
    """Remembers secrets seen by this process and blanks them out of text."""

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def remember(self, *values: Optional[str]) -> None:
        new = {value for value in values if value and len(value) >= 8} - self._secrets
        if new:
            with self._lock:
                self._secrets = self._secrets | new

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


REDACTOR = SecretRedactor()


# json.dumps escapes the ASCII control characters but leaves these as they are, and str.splitlines (and
# other line readers) would split a record at them.
LINE_BREAKS_ESCAPED = {ord(c): f"\\u{ord(c):04x}" for c in "\u0085\u2028\u2029"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "pid", ...extra fields}``, redacted."""

    RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which gunicorn worker (or the master) wrote it
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in self.RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return REDACTOR.redact(json.dumps(entry, default=str, ensure_ascii=False)).translate(LINE_BREAKS_ESCAPED)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and for gunicorn (its ``logconfig_dict``)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            **{name: {"level": "WARNING", "handlers": [], "propagate": True} for name in QUIET_LOGGERS},
        },
    }


def tame_sdk_loggers() -> None:
    """Call after importing an SDK: drop the handlers it attached at import time (they print raw text)."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.WARNING)
        logger.propagate = True


REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


request_log = logging.getLogger("app.request")


def register_request_log(app: Flask) -> None:
    """One line per request, written when the response body has been sent (streams included)."""

    @app.before_request
    def start() -> None:
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        request_id, started = g.get("request_id"), g.get("started", time.perf_counter())
        method, path = request.method, request.path  # never the query string: it is the caller's data

        def write() -> None:
            request_log.info("request", extra={
                "request_id": request_id, "method": method, "path": path, "status": response.status_code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            })

        if response.direct_passthrough:
            # werkzeug hands such a body to the server as it is, without the wrapper that runs call_on_close.
            response.response = ClosingIterator(response.response, write)
        else:
            response.call_on_close(write)
        return response
