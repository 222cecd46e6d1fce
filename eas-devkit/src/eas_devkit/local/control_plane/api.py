"""The control plane's OpenAPI as a WSGI app: the ROA routes of ``alibabacloud_eas20210701`` (2021-07-01).

    POST   /api/v2/services                          CreateService (body: the service JSON)
    GET    /api/v2/services                          ListServices
    GET    /api/v2/services/<region>/<name>          DescribeService
    PUT    /api/v2/services/<region>/<name>          UpdateService (UpdateType merge, the default, or replace)
    DELETE /api/v2/services/<region>/<name>          DeleteService
    GET    /api/v2/services/<region>/<name>/events   DescribeServiceEvent
    GET    /api/v2/services/<region>/<name>/instances ListServiceInstances
    GET    /api/v2/services/<region>/<name>/logs      DescribeServiceLog
    GET    /api/v2/services/<region>/<name>/autoscaler DescribeServiceAutoScaler (:mod:`.autoscaler`)
    PUT    /api/v2/services/<region>/<name>/start    StartService
    PUT    /api/v2/services/<region>/<name>/stop     StopService

Every other operation of the SDK (:mod:`.operations`: autoscalers, gateways, resource groups...) is routed too:
its signature is verified as any operation's, then it is a 501 ``NotImplemented`` naming the action, method and
path. A path that is no operation of the API is a 404 ``InvalidAction.NotFound``.

Every request must carry a valid ACS3-HMAC-SHA256 signature of a known identity (:mod:`.signature`,
:mod:`.accounts`); any authenticated identity may call every operation, and RAM's checks happen where EAS
makes them, when the service is deployed (:mod:`.lifecycle`). A service configuration is validated against
the kit's ``schemas/service.schema.json`` before anything happens: a violation is a 400 ``InvalidParameter``
naming the JSON path; so are the instance settings :mod:`.policy` reads (counts, rolling strategy, health
checks), and a setting EAS takes but the local EAS does not emulate is a 501 ``NotImplemented``. The local
EAS runs its ``containers[].script`` as the developer, on this machine: only the run commands it was started
with (the project's) are accepted, and ``python /mnt/data/<path>.py`` for a script that is in the project's
``mount/`` when the request comes (a one-shot script, as the guide *Configure the EAS RAM role* deploys its
examples); anything else is ``InvalidParameter``. An update merges the body into the
configuration as a JSON merge patch (RFC 7386: objects merge, ``null`` removes, anything else replaces)
unless ``UpdateType=replace``. Response bodies carry the keys the SDK's ``from_map`` reads (``Service`` for
DescribeService and ListServices, ``Instance`` for ListServiceInstances, whose filters are the instance
name, its status and ``Filter``, a part of its name, IP or instance type).

DescribeServiceLog returns the lines of the instances' logs (:mod:`.instance_log`), oldest first, filtered by
``InstanceName``, ``StartTime``/``EndTime`` (UTC, ``2006-01-02 15:04:05``; a line's time is when the local
EAS received it; EndTime includes its whole second), ``Keyword`` (a substring), ``Ip`` (every instance is
127.0.0.1) and ``ContainerName`` (each instance has one container, ``worker0``; another name is a 501
``NotImplemented``); ``Previous=true`` returns the log of the instance's process before its last restart, and
for an ``InstanceName`` that never restarted is a 400 ``InvalidParameter`` naming ``Previous`` ([inferred]: the
closest to Kubernetes' "previous terminated container not found"). Our reading, not documented by EAS: pages are
oldest first, and without ``InstanceName`` the lines of every instance are merged by time. ``PageSize`` is
at most 500 (EAS's default) here.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import secrets
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote

import jsonschema
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import errors, instance_log
from .accounts import AccessKey
from .autoscaler import Autoscaler
from .errors import ApiError, json_response, new_request_id
from .instances import PENDING, ServiceInstance
from .instances import RUNNING as RUNNING_INSTANCE
from .lifecycle import Lifecycle
from .operations import SERVICE, SERVICES, UNIMPLEMENTED, UNIMPLEMENTED_ACTIONS
from .policy import InstancePolicy, PolicyError
from .registry import (
    CREATING,
    DELETING,
    FAILED,
    NORMAL,
    STARTING,
    STOPPED,
    STOPPING,
    TIME_FORMAT,
    UPDATING,
    Registry,
    ServiceRecord,
    format_time,
    new_token,
)
from .signature import SignedRequest, Verifier

log = logging.getLogger("eas_devkit.local.control_plane")

MAX_BODY_BYTES = 4 * 1024 * 1024
LOOPBACK = "127.0.0.1"
# ListServiceInstances filters about hosts, machine types and spot prices: nothing local to filter on.
UNEMULATED_INSTANCE_FILTERS = frozenset({"HostIP", "InstanceIP", "InstanceType", "IsSpot", "ResourceType", "Role",
                                         "Sort", "MemberType", "ListMethod"})
DEFAULT_PAGE_SIZE = 100
LOG_PAGE_SIZE = 500  # DescribeServiceLog's default PageSize, and the most the local EAS returns
GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "true", "True", "TRUE"), True),
            **dict.fromkeys(("0", "f", "F", "false", "False", "FALSE"), False)}
CONTAINER_NAME = "worker0"  # the container of an instance, as EAS names the first one
# A one-shot script of the project's mount/: `python /mnt/data/<path>.py`, nothing a shell would interpret.
MOUNT_SCRIPT = re.compile(r"python /mnt/data/((?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*\.py)")


def url_map() -> Map:
    """The routes: each implemented operation to its method here, each other operation of the API to its action
    name (:mod:`.operations`)."""
    return Map([
        Rule(SERVICES, endpoint="create", methods=["POST"]),
        Rule(SERVICES, endpoint="list", methods=["GET"]),
        Rule(SERVICE, endpoint="describe", methods=["GET"]),
        Rule(SERVICE, endpoint="update", methods=["PUT"]),
        Rule(SERVICE, endpoint="delete", methods=["DELETE"]),
        Rule(SERVICE + "/events", endpoint="events", methods=["GET"]),
        Rule(SERVICE + "/instances", endpoint="instances", methods=["GET"]),
        Rule(SERVICE + "/logs", endpoint="logs", methods=["GET"]),
        Rule(SERVICE + "/autoscaler", endpoint="autoscaler", methods=["GET"]),
        Rule(SERVICE + "/start", endpoint="start", methods=["PUT"]),
        Rule(SERVICE + "/stop", endpoint="stop", methods=["PUT"]),
        *(Rule(operation.path, endpoint=operation.action, methods=[operation.method]) for operation in UNIMPLEMENTED),
    ], strict_slashes=False)


class ControlPlaneApi:
    """WSGI app of the control plane of one region."""

    def __init__(self, registry: Registry, lifecycle: Lifecycle, autoscaler: Autoscaler, verifier: Verifier[AccessKey],
                 region: str, schema: Mapping[str, Any], endpoint_of: Callable[[str], str],
                 account_id: Callable[[], str], run_commands: Collection[str],
                 scripts_dir: Optional[Path] = None) -> None:
        self.registry = registry
        self.lifecycle = lifecycle
        self.autoscaler = autoscaler
        self.verifier = verifier
        self.region = region
        self.validator = jsonschema.Draft202012Validator(schema)
        self.endpoint_of = endpoint_of  # service name -> its URL on the local gateway
        self.account_id = account_id
        self.run_commands = frozenset(run_commands)
        self.scripts_dir = scripts_dir  # the project's mount/, where a one-shot script must be
        self.url_map = url_map()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        request_id = new_request_id()
        try:
            response = self._dispatch(request, request_id)
        except ApiError as error:
            response = error.to_response(request_id, request.host)
        except Exception:
            log.exception("local EAS control plane: %s %s failed", request.method, request.path)
            response = errors.internal_error().to_response(request_id, request.host)
        return response(environ, start_response)

    def _dispatch(self, request: Request, request_id: str) -> Response:
        try:
            endpoint, values = self.url_map.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed):
            raise errors.not_found(request.method, request.path) from None
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise errors.invalid_parameter(f"the body is larger than {MAX_BODY_BYTES} bytes")
        caller = self.verifier.verify(signed_request(request))
        if endpoint in UNIMPLEMENTED_ACTIONS:
            raise errors.not_implemented(f"{endpoint} ({request.method} {request.path})")
        body = getattr(self, f"_{endpoint}")(request, caller, **values)
        return json_response({"RequestId": request_id, **body}, 200, request_id)

    # The operations.

    def _create(self, request: Request, caller: AccessKey) -> dict[str, Any]:
        config = self._validated(_json_object(request.get_data()))
        name = config["metadata"]["name"]
        record = ServiceRecord(self.region, name, f"eas-m-{secrets.token_hex(8)}", config,
                               config.get("token") or new_token(), caller.principal)
        self.registry.add(record)
        generation = self.registry.begin(record, CREATING)
        self.registry.add_event(record, NORMAL, CREATING, f"CreateService by {caller.principal}")
        self.lifecycle.deploy(record, generation)
        return {"ServiceId": record.service_id, "ServiceName": name, "Status": CREATING, "Region": self.region,
                "InternetEndpoint": self.endpoint_of(name), "IntranetEndpoint": self.endpoint_of(name)}

    def _list(self, request: Request, caller: AccessKey) -> dict[str, Any]:
        page, size = _page(request.args, "PageNumber"), _page(request.args, "PageSize", DEFAULT_PAGE_SIZE)
        wanted = request.args.get("Filter") or request.args.get("ServiceName") or ""
        status = request.args.get("ServiceStatus")
        services = [record for record in self.registry.snapshots(self.region)
                    if wanted in record.name and (not status or record.status == status)]
        services.sort(key=lambda record: record.created, reverse=request.args.get("Order", "desc") != "asc")
        return {"Services": [self._service(record) for record in services[(page - 1) * size: page * size]],
                "TotalCount": len(services), "PageNumber": page, "PageSize": size}

    def _describe(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        return self._service(self.registry.snapshot(*self._key(region, name)))

    def _update(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        patch = _json_object(request.get_data())
        update_type = request.args.get("UpdateType", "merge")
        if update_type not in ("merge", "replace"):
            raise errors.invalid_parameter(f"UpdateType {update_type!r} is not merge or replace")
        record = self.registry.get(*self._key(region, name))
        with self.registry.locked():
            if record.status == DELETING:
                raise errors.invalid_status(name, record.status, "UpdateService")
            config = self._validated(merge_patch(record.config, patch) if update_type == "merge" else patch)
            if config["metadata"]["name"] != name:
                raise errors.invalid_parameter(f"$.metadata.name: a service cannot be renamed ({name} to "
                                               f"{config['metadata']['name']})")
            record.config, record.deployer = config, caller.principal
            record.token = config.get("token") or record.token
            generation = self.registry.begin(record, UPDATING)
            self.registry.add_event(record, NORMAL, UPDATING, f"UpdateService ({update_type}) by {caller.principal}")
        self.lifecycle.deploy(record, generation)
        return {"Message": f"Service [{name}] is updating"}

    def _delete(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        record = self.registry.get(*self._key(region, name))
        with self.registry.locked():
            if record.status != DELETING:
                generation = self.registry.begin(record, DELETING)
                self.registry.add_event(record, NORMAL, DELETING, f"DeleteService by {caller.principal}")
                self.lifecycle.delete(record, generation)
        return {"Message": f"Service [{name}] is deleting"}

    def _events(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        record = self.registry.snapshot(*self._key(region, name))
        event_type = request.args.get("EventType")
        start, end = _time_arg(request.args, "StartTime"), _time_arg(request.args, "EndTime")
        events = [event for event in record.events
                  if (not event_type or event.type == event_type)
                  and (start is None or event.time >= start) and (end is None or event.time <= end)]
        page, size = _page(request.args, "PageNum"), _page(request.args, "PageSize", DEFAULT_PAGE_SIZE)
        return {"Events": [event.to_json() for event in events[(page - 1) * size: page * size]],
                "PageNum": page, "TotalCount": len(events), "TotalPageNum": max(1, -(-len(events) // size))}

    def _instances(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        record = self.registry.snapshot(*self._key(region, name))
        unsupported = sorted(set(request.args) & UNEMULATED_INSTANCE_FILTERS)
        if unsupported:
            raise errors.not_implemented(f"ListServiceInstances by {', '.join(unsupported)}")
        wanted, status = request.args.get("InstanceName"), request.args.get("InstanceStatus")
        needle = request.args.get("Filter") or ""  # a part of the name, the IP or the instance type
        instance_type = _instance_type(record.config)
        instances = [instance for instance in record.pool.views()
                     if (needle in instance.name or needle in LOOPBACK or needle in instance_type)
                     and (not wanted or instance.name == wanted) and (not status or instance.status == status)]
        if request.args.get("Order", "asc") == "desc":
            instances.reverse()
        page, size = _page(request.args, "PageNumber"), _page(request.args, "PageSize", DEFAULT_PAGE_SIZE)
        return {"Instances": [_instance(item, record.name, instance_type)
                              for item in instances[(page - 1) * size: page * size]],
                "PageNumber": page, "PageSize": size, "TotalCount": len(instances)}

    def _logs(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        record = self.registry.snapshot(*self._key(region, name))
        args = request.args
        container = args.get("ContainerName")
        if container and container != CONTAINER_NAME:
            raise errors.not_implemented(f"DescribeServiceLog of ContainerName {container!r} (each local instance "
                                         f"runs one container, {CONTAINER_NAME})")
        start, end = _time_arg(args, "StartTime"), _time_arg(args, "EndTime")
        page, size = _page(args, "PageNum"), _page(args, "PageSize", LOG_PAGE_SIZE)
        if size > LOG_PAGE_SIZE:
            raise errors.invalid_parameter(f"PageSize {size} is more than {LOG_PAGE_SIZE}, the most lines a page "
                                           "of the local EAS holds")
        previous = _bool_arg(args, "Previous")
        instances = record.pool.views()
        wanted = args.get("InstanceName")
        if wanted:
            instances = [instance for instance in instances if instance.name == wanted]
            if not instances:
                raise errors.invalid_parameter(f"InstanceName {wanted!r} is not an instance of service {name} "
                                               "(ListServiceInstances lists them)")
        if args.get("Ip") and args["Ip"] != LOOPBACK:
            instances = []
        paths = []
        for instance in instances:
            if instance.process is None or not instance.process.running():
                instance_log.drain(instance.log_path, timeout=0.5)  # what an exited process printed last
            path = instance_log.previous(instance.log_path) if previous else instance.log_path
            if previous and wanted and not path.exists():
                raise errors.invalid_parameter(f"Previous: instance {wanted} has not restarted, so it has no "
                                               "previous log")
            paths.append(path)
        keyword = args.get("Keyword") or ""
        lines = [line.text for line in instance_log.merged(paths)
                 if keyword in line.text and (start is None or line.time >= start)
                 and (end is None or line.time < end + 1)]
        return {"Logs": lines[(page - 1) * size: page * size], "PageNum": page, "TotalCount": len(lines),
                "TotalPageNum": max(1, -(-len(lines) // size))}

    def _autoscaler(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        return self.autoscaler.describe(self.registry.get(*self._key(region, name)))

    def _start(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        record, generation = self._begin(region, name, STARTING, "StartService", caller,
                                         refused=lambda status: status not in (STOPPED, FAILED))
        self.lifecycle.deploy(record, generation)
        return {"Message": f"Service [{name}] is starting"}

    def _stop(self, request: Request, caller: AccessKey, region: str, name: str) -> dict[str, Any]:
        record, generation = self._begin(region, name, STOPPING, "StopService", caller,
                                         refused=lambda status: status == DELETING)
        self.lifecycle.stop(record, generation)
        return {"Message": f"Service [{name}] is stopping"}

    # Helpers.

    def _begin(self, region: str, name: str, status: str, operation: str, caller: AccessKey,
               refused: Callable[[str], bool]) -> tuple[ServiceRecord, int]:
        """Start ``operation`` in ``status`` unless the service's current status refuses it."""
        record = self.registry.get(*self._key(region, name))
        with self.registry.locked():
            if refused(record.status):
                raise errors.invalid_status(name, record.status, operation)
            generation = self.registry.begin(record, status)
            self.registry.add_event(record, NORMAL, status, f"{operation} by {caller.principal}")
        return record, generation

    def _key(self, region: str, name: str) -> tuple[str, str]:
        if region != self.region:  # this control plane serves one region, like an EAS endpoint
            raise errors.service_not_found(region, name)
        return region, name

    def _validated(self, config: dict[str, Any]) -> dict[str, Any]:
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(config))
        if error is not None:
            raise errors.invalid_parameter(f"service config {json_path(error.absolute_path)}: {error.message}")
        for index, container in enumerate(config["containers"]):
            script = container.get("script")
            if script not in self.run_commands and not self._is_mount_script(script):
                raise errors.foreign_run_command(f"$.containers[{index}].script")
        try:
            InstancePolicy.of(config)
        except PolicyError as error:
            if error.not_implemented:
                raise errors.not_implemented(f"service config {error}") from None
            raise errors.invalid_parameter(f"service config {error}") from None
        return config

    def _is_mount_script(self, command: Any) -> bool:
        """``python /mnt/data/<path>.py`` for a file that is in the project's mount/ now."""
        match = MOUNT_SCRIPT.fullmatch(command) if isinstance(command, str) else None
        if match is None or self.scripts_dir is None:
            return False
        root = self.scripts_dir.resolve()
        path = (root / match[1]).resolve()
        return path.is_file() and root in path.parents

    def _service(self, record: ServiceRecord) -> dict[str, Any]:
        """A service as the SDK's ``Service`` model reads it."""
        container = record.config["containers"][0]
        metadata = record.config["metadata"]
        endpoint = self.endpoint_of(record.name)
        return {
            "ServiceId": record.service_id, "ServiceName": record.name, "ServiceUid": record.service_id,
            "Region": record.region, "Status": record.status, "Reason": record.reason, "Message": record.message,
            "AccessToken": record.token, "InternetEndpoint": endpoint, "IntranetEndpoint": endpoint,
            "ServiceConfig": json.dumps(record.config), "Image": container.get("image", ""),
            "Cpu": metadata.get("cpu", 0), "Memory": metadata.get("memory", 0), "Gpu": metadata.get("gpu", 0),
            "RunningInstance": record.pool.serving_count(), "TotalInstance": record.wanted_instances,
            "PendingInstance": sum(instance.status == PENDING or (instance.status == RUNNING_INSTANCE
                                                                  and not instance.ready)
                                   for instance in record.pool.views()),
            "CallerUid": record.deployer, "ParentUid": self.account_id(),
            "WorkspaceId": metadata.get("workspace_id", ""),
            "CreateTime": format_time(record.created), "UpdateTime": format_time(record.updated),
        }


def _instance(instance: ServiceInstance, service: str, instance_type: str) -> dict[str, Any]:
    """An instance as the SDK's ``Instance`` model reads it (``StartAt`` is the deprecated twin of
    ``StartTime``; ``Isolated``: out of the gateway's rotation)."""
    started = format_time(instance.started) if instance.started else ""
    return {
        "InstanceName": instance.name, "Status": instance.status, "Reason": instance.reason,
        "ReadyProcesses": int(instance.ready), "TotalProcesses": 1, "RestartCount": instance.restarts,
        "StartTime": started, "StartAt": started, "InstancePort": instance.port, "InnerIP": LOOPBACK,
        "HostIP": LOOPBACK, "HostName": "localhost", "Namespace": service, "Role": "Standard",
        "Isolated": instance.isolated, "InstanceType": instance_type, "LastState": [],
    }


def _instance_type(config: Mapping[str, Any]) -> str:
    computing = config.get("cloud", {}).get("computing", {})
    types = [item.get("type", "") for item in computing.get("instances", [])]
    return computing.get("instance_type") or (types[0] if types else "")


def signed_request(request: Request) -> SignedRequest:
    """The request as the signature sees it: the path as sent, decoded query, every header value."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    path = raw.split("?", 1)[0] if raw else quote(request.path, safe="/~")
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return SignedRequest(request.method, path, list(request.args.items(multi=True)), headers, request.get_data())


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` removes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def json_path(path: Any) -> str:
    """``$.containers[0].port`` for the path jsonschema reports."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise errors.invalid_parameter(f"the body is not a JSON document: {error}") from None
    if not isinstance(document, dict):
        raise errors.invalid_parameter("the body is not a JSON object")
    return document


def _page(args: Mapping[str, str], name: str, default: int = 1) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise errors.invalid_parameter(f"{name} {value!r} is not a positive integer")
    return int(value)


def _time_arg(args: Mapping[str, str], name: str) -> Optional[float]:
    """``2024-05-21T10:39:29Z`` or ``2024-05-21 10:39:29`` (UTC)."""
    value = args.get(name)
    if not value:
        return None
    for form in (TIME_FORMAT, "%Y-%m-%d %H:%M:%S"):
        try:
            return float(calendar.timegm(time.strptime(value, form)))
        except ValueError:
            continue
    raise errors.invalid_parameter(f"{name} {value!r} is not a UTC time such as 2024-05-21 10:39:29 (the form "
                                   "2024-05-21T10:39:29Z is taken too)")


def _bool_arg(args: Mapping[str, str], name: str) -> bool:
    """What Go's strconv.ParseBool takes (the SDK sends Python's ``True``)."""
    value = args.get(name, "false")
    if value not in GO_BOOLS:
        raise errors.invalid_parameter(f"{name} {value!r} is not true or false")
    return GO_BOOLS[value]
