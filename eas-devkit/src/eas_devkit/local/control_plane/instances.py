"""The instances of one deployed service and what the gateway needs of them, thread-safe.

A :class:`ServiceInstance` is what ListServiceInstances shows: an EAS-like name
(``<service>-<revision>-<suffix>``, as ``foo-5fc8946767-v****`` in the API reference), its own port on
127.0.0.1, a status, whether it is ready, when it started, how often it was restarted. Its process is run by
:mod:`.supervisor`; the gateway only reads the pool.

The gateway takes an instance with :meth:`InstancePool.acquire` (the serving instance with the fewest
requests in flight, in turn among equals) and gives it back with :meth:`~InstancePool.release` when the
response is over. An instance serves when it is Running, ready and not isolated: an instance being stopped is
isolated first, and :meth:`~InstancePool.wait_idle` then waits until its last request is done. Whoever keeps
something per instance (the gateway its idle connections) hears through :meth:`~InstancePool.on_leave` when an
instance stops serving, gets a new process or is removed. :attr:`~InstancePool.requests` counts the requests
handed to the instances, the autoscaler's QPS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from ..instance import Instance

# The statuses of an instance (ListServiceInstances Status; the Kubernetes pod phases EAS reports).
PENDING, RUNNING, TERMINATING, FAILED = "Pending", "Running", "Terminating", "Failed"


@dataclass(eq=False)
class ServiceInstance:
    name: str
    revision: str  # the deployment that created it
    port: int
    log_path: Path  # what its process printed, restarts included
    process: Optional[Instance] = None
    status: str = PENDING
    reason: str = "PENDING"  # ListServiceInstances Reason: the status in capitals, or why it is not ready
    ready: bool = False
    isolated: bool = False  # taken out of the gateway's rotation (being stopped, or failed)
    in_flight: int = 0  # gateway requests not answered yet
    restarts: int = 0
    started: Optional[float] = None  # when its current process started

    @property
    def serving(self) -> bool:
        return self.status == RUNNING and self.ready and not self.isolated


class InstancePool:
    """The instances of one service: the supervisors change them, the gateway leases them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._instances: list[ServiceInstance] = []
        self._turn = 0
        self._requests = 0
        self._leave_listeners: list[Callable[[ServiceInstance], None]] = []

    def on_leave(self, listener: Callable[[ServiceInstance], None]) -> None:
        """Call ``listener(instance)`` after an instance stops serving, gets a new process or is removed."""
        with self._changed:
            self._leave_listeners.append(listener)

    def _left(self, instances: Iterable[ServiceInstance]) -> None:
        with self._changed:
            listeners = list(self._leave_listeners)
        for instance in instances:
            for listener in listeners:
                listener(instance)

    def add(self, instance: ServiceInstance) -> None:
        with self._changed:
            self._instances.append(instance)
            self._changed.notify_all()

    def remove(self, instances: Iterable[ServiceInstance]) -> None:
        instances = list(instances)
        with self._changed:
            gone = set(map(id, instances))
            self._instances = [instance for instance in self._instances if id(instance) not in gone]
            self._changed.notify_all()
        self._left(instances)

    def members(self) -> list[ServiceInstance]:
        """The live instances (read their fields through :meth:`views` when they must be consistent)."""
        with self._changed:
            return list(self._instances)

    def views(self) -> list[ServiceInstance]:
        """Copies that later changes do not touch, oldest first."""
        with self._changed:
            return [replace(instance) for instance in self._instances]

    def serving_count(self) -> int:
        with self._changed:
            return sum(instance.serving for instance in self._instances)

    def update(self, instance: ServiceInstance, **changes: Any) -> None:
        with self._changed:
            for name, value in changes.items():
                setattr(instance, name, value)
            left = not instance.serving or "process" in changes
            self._changed.notify_all()
        if left:
            self._left([instance])

    def acquire(self, exclude: Iterable[ServiceInstance] = ()) -> Optional[ServiceInstance]:
        """A serving instance for one more request (the fewest in flight, in turn), or None."""
        excluded = set(map(id, exclude))
        with self._changed:
            candidates = [instance for instance in self._instances if instance.serving and id(instance) not in excluded]
            if not candidates:
                return None
            self._turn = (self._turn + 1) % len(candidates)
            rotated = candidates[self._turn:] + candidates[:self._turn]
            chosen = min(rotated, key=lambda instance: instance.in_flight)
            chosen.in_flight += 1
            self._requests += not excluded  # a request that tries another instance counts once
            return chosen

    @property
    def requests(self) -> int:
        """The requests handed to an instance so far."""
        with self._changed:
            return self._requests

    def release(self, instance: ServiceInstance) -> None:
        with self._changed:
            instance.in_flight -= 1
            self._changed.notify_all()

    def wait_idle(self, instance: ServiceInstance, timeout: float) -> bool:
        """Wait until no gateway request is in flight on ``instance``; False if some still are at the timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while instance.in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate()`` (called under the pool's lock) is true; its last value at the timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)
