"""Retries of idempotent reads of a backend (OSS, MaxCompute) after a transient failure, and how the SDKs'
failures are told apart: a connection that broke, a request that timed out.

Writes are never retried: a PUT's body is a stream that cannot be sent twice, and creating a SQL instance twice
runs the query twice.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import requests.exceptions
import urllib3.exceptions

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ReadRetries:
    """How an idempotent read of a backend is retried after a transient failure (5xx, reset, cut short).

    At most ``retries`` more attempts, after 0.2 s, 0.4 s, 0.8 s...; and a retry starts only within ``window``
    seconds (the backend timeout) of the first attempt. So a read lasts at most ``window`` plus one attempt,
    and a backend that times out is not asked again: the client gets its 504 after one timeout.
    """

    backend: str
    retries: int
    window: float
    first_backoff: float = 0.2

    def call(self, read: Callable[[], T], transient: Callable[[Exception], bool], what: str) -> T:
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return read()
            except Exception as error:
                delay = self.first_backoff * 2**attempt
                if (attempt >= self.retries or not transient(error)
                        or time.monotonic() - started + delay > self.window):
                    raise
                attempt += 1
                # The type only: SDK messages can carry URLs with signatures.
                log.warning("%s %s failed (%s); retry %d of %d in %.1f s", self.backend, what,
                            type(error).__name__, attempt, self.retries, delay)
                time.sleep(delay)


# How a request, or the read of its answer, breaks when the connection does: requests' wrappers, or urllib3
# and http.client underneath (raised while an SDK reads a body).
BROKEN_CONNECTION = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                     OSError)
TIMEOUTS = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError)


def timed_out(error: BaseException) -> bool:
    """Whether ``error`` is a timeout, also when urllib3's is wrapped as the first argument of another error."""
    reason = error.args[0] if error.args else None
    return isinstance(error, TIMEOUTS) or isinstance(reason, urllib3.exceptions.TimeoutError)
