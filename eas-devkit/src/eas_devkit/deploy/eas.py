"""The EAS control plane as the deploy sees it: ``alibabacloud_eas20210701`` with the endpoint set explicitly.

The SDK raises ``ClientException`` / ``ServerException`` (``alibabacloud_tea_openapi.exceptions``) with the
service's ``code`` and ``message``; :class:`EasError` carries them on, with the operation that failed, for
one-line error messages. Secrets never reach a message: the control plane's answers carry none, and the
SDK's exceptions hold the request's headers only in attributes we do not print.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_eas20210701 import models as eas_models
from alibabacloud_eas20210701.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from .target import Target

NOT_FOUND = "InvalidService.NotFound"
RUNNING, FAILED, STOPPED, DELETE_FAILED = "Running", "Failed", "Stopped", "DeleteFailed"
FINAL_STATUSES = frozenset({RUNNING, FAILED, STOPPED, DELETE_FAILED})  # where the PAI SDK stops polling too
EVENT_PAGE_SIZE = 100
INSTANCE_PAGE_SIZE = 100
LOG_PAGE_SIZE = 500  # DescribeServiceLog's default


class EasError(RuntimeError):
    """The control plane refused or failed an operation."""

    def __init__(self, operation: str, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    status: str
    reason: str
    message: str
    endpoint: str  # InternetEndpoint: <gateway>/api/predict/<name>
    intranet_endpoint: str
    token: str
    running: int
    total: int
    update_time: str

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class InstanceStatus:
    """One instance as ListServiceInstances reports it."""

    name: str
    status: str
    ready: int  # ReadyProcesses of TotalProcesses
    total: int
    restarts: int
    started: str  # StartTime, e.g. 2024-05-21T10:39:29Z


@dataclass(frozen=True)
class AutoscalerStatus:
    """The autoscaler as DescribeServiceAutoScaler reports it: its range, and by metric (``QPS``, ``CPU``) the
    threshold and the value last measured."""

    low: int
    high: int
    thresholds: dict[str, float]
    current: dict[str, float]


@dataclass(frozen=True)
class Event:
    time: str
    type: str  # Normal or Warning
    reason: str
    message: str


class EasControlPlane:
    """One service on one EAS control plane."""

    def __init__(self, target: Target, service_name: str, credential_provider: Any) -> None:
        self.target = target
        self.name = service_name
        config = open_api_models.Config(
            credential=CredentialClient(provider=credential_provider),
            endpoint=target.eas_endpoint, protocol=target.eas_protocol, region_id=target.region,
            connect_timeout=10_000, read_timeout=60_000,
        )
        self.client = Client(config)

    def describe(self) -> Optional[ServiceStatus]:
        """The service as DescribeService reports it; None when it does not exist."""
        try:
            body = self._call("DescribeService", self.client.describe_service, self.target.region, self.name).body
        except EasError as error:
            if error.code == NOT_FOUND:
                return None
            raise
        return ServiceStatus(
            name=body.service_name or self.name, status=body.status or "", reason=body.reason or "",
            message=body.message or "", endpoint=body.internet_endpoint or "",
            intranet_endpoint=body.intranet_endpoint or "", token=body.access_token or "",
            running=body.running_instance or 0, total=body.total_instance or 0, update_time=body.update_time or "",
        )

    def instances(self) -> list[InstanceStatus]:
        """Every instance of the service (ListServiceInstances), in the order EAS lists them."""
        found: list[InstanceStatus] = []
        page = 1
        while True:
            request = eas_models.ListServiceInstancesRequest(page_number=page, page_size=INSTANCE_PAGE_SIZE)
            body = self._call("ListServiceInstances", self.client.list_service_instances, self.target.region,
                              self.name, request).body
            for item in body.instances or []:
                found.append(InstanceStatus(
                    name=item.instance_name or "", status=item.status or "", ready=item.ready_processes or 0,
                    total=item.total_processes or 0, restarts=item.restart_count or 0,
                    started=item.start_time or item.start_at or "",
                ))
            if not body.instances or page * INSTANCE_PAGE_SIZE >= int(body.total_count or 0):
                return found
            page += 1

    def autoscaler(self) -> AutoscalerStatus:
        body = self._call("DescribeServiceAutoScaler", self.client.describe_service_auto_scaler, self.target.region,
                          self.name).body
        return AutoscalerStatus(
            low=body.min_replica or 0, high=body.max_replica or 0,
            thresholds={item.metric_name: item.threshold for item in body.scale_strategies or []},
            current={item.metric_name: item.value for item in body.current_metrics or []},
        )

    def create(self, config_text: str) -> None:
        self._call("CreateService", self.client.create_service, eas_models.CreateServiceRequest(body=config_text))

    def update(self, config_text: str) -> None:
        """UpdateService with the whole configuration (``replace``: a key removed from service.json goes)."""
        request = eas_models.UpdateServiceRequest(body=config_text, update_type="replace")
        self._call("UpdateService", self.client.update_service, self.target.region, self.name, request)

    def delete(self) -> None:
        self._call("DeleteService", self.client.delete_service, self.target.region, self.name)

    def events(self, event_type: Optional[str] = None, since: Optional[str] = None) -> list[Event]:
        """Every event of the service, oldest first (``since``: a time such as 2024-05-21T10:39:29Z)."""
        return list(self._events(event_type, since))

    def _events(self, event_type: Optional[str], since: Optional[str]) -> Iterator[Event]:
        page = 1
        while True:
            request = eas_models.DescribeServiceEventRequest(event_type=event_type, start_time=since,
                                                             page_num=str(page), page_size=str(EVENT_PAGE_SIZE))
            body = self._call("DescribeServiceEvent", self.client.describe_service_event, self.target.region,
                              self.name, request).body
            for event in body.events or []:
                yield Event(event.time or "", event.type or "", event.reason or "", event.message or "")
            if page >= int(body.total_page_num or 1):
                return
            page += 1

    def logs(self, instance: str, since: Optional[str] = None, previous: bool = False, skip: int = 0,
             page_size: int = LOG_PAGE_SIZE) -> tuple[list[str], int]:
        """The lines of one instance's log after its first ``skip`` ones (every page from the one holding
        line ``skip``), and how many lines it has in all (TotalCount). ``since``: a UTC time such as
        2024-05-21 10:39:29; ``previous``: the log of its container before the last restart.

        Our reading, not documented by EAS (DescribeServiceLog): the pages are oldest first, so line
        ``skip`` is on page ``skip // page_size + 1`` and the lines after it are the newer ones."""
        page, offset = skip // page_size + 1, skip % page_size
        lines: list[str] = []
        while True:
            request = eas_models.DescribeServiceLogRequest(instance_name=instance, start_time=since,
                                                           previous=previous or None, page_num=page,
                                                           page_size=page_size)
            body = self._call("DescribeServiceLog", self.client.describe_service_log, self.target.region,
                              self.name, request).body
            lines += (body.logs or [])[offset:]
            offset = 0
            if not body.logs or page >= int(body.total_page_num or 1):
                return lines, int(body.total_count or 0)
            page += 1

    def wait(self, until: Callable[[Optional[ServiceStatus]], bool], on_poll: Callable[[Optional[ServiceStatus]], None],
             interval: float, timeout: float) -> Optional[ServiceStatus]:
        """Poll DescribeService until ``until(status)``; a TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.describe()
            on_poll(status)
            if until(status):
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name} did not settle within {timeout:g} s "
                                   f"(last status: {status.status if status else 'gone'})")
            time.sleep(interval)

    def _call(self, operation: str, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except AlibabaCloudException as error:
            code = getattr(error, "code", None) or type(error).__name__
            raise EasError(operation, code, self.target.redact(_message_of(error)),
                           getattr(error, "status_code", None)) from None
        except Exception as error:  # refused, reset, DNS, credentials gone: wrapped by Tea/darabonba or not
            raise EasError(operation, type(error).__name__, self.target.redact(
                f"cannot call {self.target.eas_protocol}://{self.target.eas_endpoint}: {error}")) from None



def _message_of(error: AlibabaCloudException) -> str:
    message = getattr(error, "message", None) or str(error)
    return message.strip() if isinstance(message, str) else json.dumps(message)
