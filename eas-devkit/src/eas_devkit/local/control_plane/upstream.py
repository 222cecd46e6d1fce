"""The gateway's idle connections to the instances, kept open for their next request, thread-safe.

A connection is put back only when its response was read to the end and the instance keeps it open. One is
taken for the instance it was opened to, and only while that instance serves with the same process: a
restarted instance may listen on the same port, and its new process never gets the old one's socket. One idle
for longer than ``idle_timeout`` is closed when a connection is next taken, and one the instance closed
meanwhile is never used (its socket reads as readable: end of file, or bytes nobody asked for).
:meth:`UpstreamConnections.discard` closes every idle connection of an instance leaving the rotation.
"""

from __future__ import annotations

import http.client
import select
import threading
import time
from typing import NamedTuple, Optional

from .instances import ServiceInstance


class _Idle(NamedTuple):
    connection: http.client.HTTPConnection
    started: Optional[float]  # the instance's process it was opened to
    since: float  # time.monotonic() when it was put back


class UpstreamConnections:
    """Idle HTTP connections per instance, the most recently used first."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._idle: dict[ServiceInstance, list[_Idle]] = {}

    def take(self, instance: ServiceInstance) -> Optional[http.client.HTTPConnection]:
        """An idle connection to the instance's current process that is still open, or None."""
        stale: list[http.client.HTTPConnection] = []
        found: Optional[http.client.HTTPConnection] = None
        now = time.monotonic()
        with self._lock:
            self._expire(now, stale)
            idle = self._idle.get(instance, [])
            while idle and found is None:
                entry = idle.pop()
                if entry.started == instance.started and _still_open(entry.connection):
                    found = entry.connection
                else:
                    stale.append(entry.connection)
        _close(stale)
        return found

    def put(self, instance: ServiceInstance, connection: http.client.HTTPConnection, started: Optional[float]) -> None:
        """Keep ``connection``, opened to the process that started at ``started``, for a next request."""
        with self._lock:
            # Under the lock, so that discard() either already ran (the instance no longer serves: closed
            # here) or runs after this and closes it.
            if instance.serving and instance.started == started:
                self._idle.setdefault(instance, []).append(_Idle(connection, started, time.monotonic()))
                return
        connection.close()

    def discard(self, instance: ServiceInstance) -> None:
        """Close the instance's idle connections (it left the rotation, or its process changed)."""
        with self._lock:
            idle = self._idle.pop(instance, [])
        _close([entry.connection for entry in idle])

    def _expire(self, now: float, stale: list[http.client.HTTPConnection]) -> None:
        """Move the connections idle for longer than the timeout, of every instance, to ``stale``."""
        for instance, idle in list(self._idle.items()):
            kept = [entry for entry in idle if now - entry.since <= self.idle_timeout]
            stale += [entry.connection for entry in idle if now - entry.since > self.idle_timeout]
            if kept:
                self._idle[instance] = kept
            else:
                del self._idle[instance]


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """An idle connection has nothing to read: readable means the instance closed it (or sent junk)."""
    if connection.sock is None:
        return False
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return not poller.poll(0)


def _close(connections: list[http.client.HTTPConnection]) -> None:
    for connection in connections:
        connection.close()
