"""The services of the local control plane, by (region, name): what DescribeService and the gateway read.

A :class:`ServiceRecord` holds what EAS keeps about a service: its configuration, status, reason and
message, events, access token, timestamps and its instances (:class:`~.instances.InstancePool`). The API
changes a record under the registry's lock and hands the slow work to :mod:`.lifecycle`; readers get
consistent copies (:meth:`ServiceRecord.snapshot`), never a half-updated record.

``generation`` counts the operations asked of a service. Each operation remembers the generation it was
started for and stops at its next step once a newer one was asked (a StopService during a deployment, an
UpdateService during a start...): only the latest request is carried out, as on EAS.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Optional

from . import errors
from .instances import InstancePool

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
NORMAL, WARNING = "Normal", "Warning"
MAX_EVENTS = 1000  # per service; the oldest go first

# EAS's statuses (the PAI SDK stops polling on the final ones).
CREATING, WAITING, STARTING, RUNNING = "Creating", "Waiting", "Starting", "Running"
UPDATING, STOPPING, STOPPED, FAILED, DELETING = "Updating", "Stopping", "Stopped", "Failed", "Deleting"
FINAL_STATUSES = frozenset({RUNNING, STOPPED, FAILED})


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(TIME_FORMAT)


def new_token() -> str:
    """A service's access token: base64 of 40 random hex digits (160 bits), so it starts with a letter.

    A leading ``-`` (which ``token_urlsafe`` can give) made ``--token "$EAS_TOKEN"`` read as an option."""
    return base64.b64encode(secrets.token_hex(20).encode()).decode()


@dataclass(frozen=True)
class Event:
    time: float
    type: str  # NORMAL or WARNING
    reason: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"Time": format_time(self.time), "Type": self.type, "Reason": self.reason, "Message": self.message}


@dataclass
class ServiceRecord:
    region: str
    name: str
    service_id: str
    config: dict[str, Any]
    token: str
    deployer: str  # the principal whose request (Create/Update) the deployment carries out
    status: str = CREATING
    reason: str = ""
    message: str = ""
    events: list[Event] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    generation: int = 0
    wanted_instances: int = 0  # TotalInstance: what the latest deployment asked for
    pool: InstancePool = field(default_factory=InstancePool)  # shared by the snapshots: it has its own lock

    def snapshot(self) -> ServiceRecord:
        """A copy that later changes do not touch (the events list included)."""
        return replace(self, events=list(self.events), config=dict(self.config))


class Registry:
    """Every service of the local EAS, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._services: dict[tuple[str, str], ServiceRecord] = {}

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry's lock across several reads and changes."""
        with self._lock:
            yield

    def add(self, record: ServiceRecord) -> ServiceRecord:
        with self._lock:
            if (record.region, record.name) in self._services:
                raise errors.service_exists(record.name)
            self._services[(record.region, record.name)] = record
            return record

    def get(self, region: str, name: str) -> ServiceRecord:
        """The live record (change it only under :meth:`locked`); ``InvalidService.NotFound`` if absent."""
        with self._lock:
            record = self._services.get((region, name))
            if record is None:
                raise errors.service_not_found(region, name)
            return record

    def find(self, region: str, name: str) -> Optional[ServiceRecord]:
        with self._lock:
            return self._services.get((region, name))

    def snapshot(self, region: str, name: str) -> ServiceRecord:
        with self._lock:
            return self.get(region, name).snapshot()

    def snapshots(self, region: Optional[str] = None) -> list[ServiceRecord]:
        with self._lock:
            return [record.snapshot() for (service_region, _), record in sorted(self._services.items())
                    if region is None or service_region == region]

    def records(self) -> list[ServiceRecord]:
        with self._lock:
            return list(self._services.values())

    def remove(self, record: ServiceRecord) -> None:
        with self._lock:
            if self._services.get((record.region, record.name)) is record:
                del self._services[(record.region, record.name)]

    def begin(self, record: ServiceRecord, status: str) -> int:
        """Set the status a new operation starts in; returns the operation's generation."""
        with self._lock:
            record.generation += 1
            record.status, record.reason, record.message = status, status, ""
            record.updated = time.time()
            return record.generation

    def supersede_all(self) -> None:
        """Make every operation under way stop at its next step (the control plane is shutting down)."""
        with self._lock:
            for record in self._services.values():
                record.generation += 1

    def is_current(self, record: ServiceRecord, generation: int) -> bool:
        with self._lock:
            return record.generation == generation and self._services.get((record.region, record.name)) is record

    def set_status(self, record: ServiceRecord, generation: int, status: str, reason: str = "",
                   message: str = "") -> bool:
        """Move to ``status`` unless a newer operation took over; returns whether it did."""
        with self._lock:
            if record.generation != generation:
                return False
            record.status, record.reason, record.message = status, reason or status, message
            record.updated = time.time()
            return True

    def add_event(self, record: ServiceRecord, type_: str, reason: str, message: str) -> None:
        with self._lock:
            record.events.append(Event(time.time(), type_, reason, message))
            del record.events[:-MAX_EVENTS]
