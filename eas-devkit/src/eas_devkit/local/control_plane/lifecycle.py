"""What happens to a service after the API accepted a request, in a background thread per operation.

A deployment (CreateService, UpdateService, StartService) goes through EAS's steps, each visible in the
service's status and events:

1. **Role** (status Creating). With ``options.enable_ram_role`` and a ``role_arn``, the checks RAM makes
   (:mod:`.accounts`): the role exists (else Warning ``RoleNotFound``, the guide's "role not found"), the
   deployer may ``ram:PassRole`` it (else Warning ``PassRoleDenied``), and its trust policy lets
   ``eas.pai.aliyuncs.com`` assume it (else Warning ``AssumeRoleFailed`` with EAS's own text, ``unable to
   render, error: failed to assume role for user, reason: You are not authorized to do this action. You
   should be authorized by RAM.``). The PAI default role (no ``role_arn``) needs no check.
2. **Mount** (status Waiting). The first OSS entry of ``storage`` is copied from the local OSS into
   ``<state_dir>/services/<name>/mnt/data/`` (:mod:`.mount`); an empty path fails (``MountFailed``). The
   third-party library list is compared with this environment: each difference is a Warning
   ``RequirementNotSatisfied``, never a failure (the local EAS installs nothing); a
   ``pythonRequirementsPath`` that is not there fails (``PrepareFailed``), as pip would.
3. **Instance** (status Starting). ``containers[0].script`` runs as the local EAS runs it
   (:func:`eas_devkit.local.instance.local_script` and :func:`~eas_devkit.local.instance.instance_environment`: loopback
   bind, the mount directory, the local endpoints, and for a service with a role the credentials URI and
   file), its output appended to ``<state_dir>/services/<name>/logs/service.log``. Running once ``/health``
   answers; otherwise Failed with a Warning ``InstanceFailed`` carrying the last lines of its output.

UpdateService and StartService run the same steps with the status Updating / Starting throughout; the old
instance is stopped first (no rolling update: the gateway answers 503 meanwhile). StopService and
DeleteService send SIGTERM, then SIGKILL after the grace period, as EAS does. An instance that exits by
itself turns the service Failed (``InstanceExited``); EAS would restart it, the local EAS does not.

Operations on one service never overlap (one lock per service name), and an operation that a newer one
superseded stops at its next step (:attr:`ServiceRecord.generation`).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..credentials import CredentialIssuer
from ..instance import (
    GRACE_PERIOD_SECONDS,
    Instance,
    InstanceError,
    ServiceSpec,
    free_port,
    instance_environment,
    local_endpoints,
    local_script,
)
from ..oss import ObjectStore
from .accounts import EAS_PRINCIPAL, Accounts, parse_role_arn
from .mount import MountError, mount_oss, read_requirements, requirement_warnings
from .registry import (
    CREATING,
    FAILED,
    NORMAL,
    RUNNING,
    STARTING,
    STOPPED,
    WAITING,
    WARNING,
    Registry,
    ServiceRecord,
)

log = logging.getLogger("eas_devkit.local.control_plane")

ASSUME_ROLE_FAILED = ("unable to render, error: failed to assume role for user, reason: You are not authorized "
                      "to do this action. You should be authorized by RAM.")
OUTPUT_TAIL_LINES = 20
OUTPUT_TAIL_CHARS = 4000


class DeployFailure(Exception):
    """A step failed: the reason and message of the Warning event, and of the Failed status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass
class Runtime:
    """Where and how instances run on this machine."""

    state_dir: Path
    store: ObjectStore
    accounts: Accounts
    endpoints: Mapping[str, str] = field(default_factory=dict)  # local endpoints by env name (OSS_ENDPOINT...)
    issuer: Optional[CredentialIssuer] = None  # the instances' role credentials (file method)
    credentials_uri: Optional[str] = None  # ALIBABA_CLOUD_CREDENTIALS_URI for instances with a role
    ready_timeout: float = 60
    grace: float = GRACE_PERIOD_SECONDS

    def service_dir(self, name: str) -> Path:
        return self.state_dir / "services" / name


class Lifecycle:
    """Carries out the operations the API accepted, one background thread each."""

    def __init__(self, registry: Registry, runtime: Runtime) -> None:
        self.registry = registry
        self.runtime = runtime
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    # What the API calls, after ``registry.begin`` set the status the operation starts in.

    def deploy(self, record: ServiceRecord, generation: int) -> None:
        self._spawn("deploy", record, generation, self._deploy)

    def stop(self, record: ServiceRecord, generation: int) -> None:
        self._spawn("stop", record, generation, self._stop)

    def delete(self, record: ServiceRecord, generation: int) -> None:
        self._spawn("delete", record, generation, self._delete)

    def shutdown(self) -> None:
        """Stop every instance (SIGTERM, as EAS) and wait for the operations under way."""
        self._closed = True
        self.registry.supersede_all()  # whatever is under way stops at its next step
        for record in self.registry.records():
            self._stop_instance(record)
        for thread in list(self._threads):
            thread.join(timeout=self.runtime.ready_timeout + self.runtime.grace)
        for record in self.registry.records():  # started by an operation that finished meanwhile
            self._stop_instance(record)

    # The operations.

    def _deploy(self, record: ServiceRecord, generation: int) -> None:
        with self._lock_for(record):
            if not self.registry.is_current(record, generation):
                return
            self._stop_instance(record)
            with self.registry.locked():
                config = copy.deepcopy(record.config)
                creating = record.status == CREATING  # an update or a start keeps its status throughout
            try:
                self._check_role(record, config)
                if not self._step(record, generation, WAITING if creating else None):
                    return
                self._mount(record, config)
                self._check_requirements(record, config)
                if not self._step(record, generation, STARTING if creating else None):
                    return
                instance = self._start_instance(record, config)
            except DeployFailure as failure:
                if self.registry.set_status(record, generation, FAILED, failure.reason, failure.message):
                    self.registry.add_event(record, WARNING, failure.reason, failure.message)
                return
            with self.registry.locked():
                current = self.registry.is_current(record, generation)
                if current:
                    record.instance = instance
                    self.registry.set_status(record, generation, RUNNING, RUNNING, "Service is now running")
                    self.registry.add_event(record, NORMAL, RUNNING, f"the instance answers GET /health "
                                            f"(pid {instance.process.pid if instance.process else '?'})")
            if not current:
                instance.stop(self.runtime.grace)
                return
            self._watch(record, instance)

    def _stop(self, record: ServiceRecord, generation: int) -> None:
        with self._lock_for(record):
            if not self.registry.is_current(record, generation):
                return
            self._stop_instance(record)
            if self.registry.set_status(record, generation, STOPPED, STOPPED, "Service is stopped"):
                self.registry.add_event(record, NORMAL, STOPPED, "the instance was stopped (SIGTERM)")

    def _delete(self, record: ServiceRecord, generation: int) -> None:
        with self._lock_for(record):
            if not self.registry.is_current(record, generation):
                return
            self._stop_instance(record)
            shutil.rmtree(self.runtime.service_dir(record.name), ignore_errors=True)
            self.registry.remove(record)

    # The steps.

    def _step(self, record: ServiceRecord, generation: int, status: Optional[str]) -> bool:
        """Go on to the next step (in ``status``, when given) unless a newer operation took over."""
        if status is None:
            return self.registry.is_current(record, generation)
        return self.registry.set_status(record, generation, status)

    def _check_role(self, record: ServiceRecord, config: Mapping[str, Any]) -> None:
        role_arn = config.get("role_arn")
        if not (config.get("options", {}).get("enable_ram_role") and role_arn):
            return
        accounts = self.runtime.accounts
        parsed = parse_role_arn(role_arn)
        role_name = parsed[1] if parsed else role_arn
        if not accounts.role_exists(role_arn):
            raise DeployFailure("RoleNotFound", f"role {role_name} not found: {role_arn} does not exist in the "
                                f"RAM of account {accounts.account_id}. If the role does exist, the deploying "
                                f"RAM user ({record.deployer}) lacks ram:PassRole on it.")
        if not accounts.can_pass(record.deployer, role_arn):
            raise DeployFailure("PassRoleDenied", f"{record.deployer} is not authorized to perform ram:PassRole on "
                                f"acs:ram::{accounts.account_id}:role/{role_name}: the role exists but cannot be "
                                "attached to the service (the console reports it as not found). Ask the main "
                                "account to attach ram/passrole-policy.json to this RAM user.")
        if not accounts.trusts_eas(role_arn):
            raise DeployFailure("AssumeRoleFailed", ASSUME_ROLE_FAILED)
        self.registry.add_event(record, NORMAL, "RoleAttached", f"role {role_name} passed by {record.deployer} "
                                f"and assumed by {EAS_PRINCIPAL}")

    def _mount(self, record: ServiceRecord, config: Mapping[str, Any]) -> None:
        storage = config.get("storage", [])
        oss_mount = next((entry for entry in storage if "oss" in entry), None)
        for entry in storage:
            if entry is not oss_mount:
                self.registry.add_event(record, WARNING, "MountNotEmulated", f"{entry.get('mount_path')}: the "
                                        "local EAS mounts only the first OSS entry of storage")
        if oss_mount is None:
            return
        source = oss_mount["oss"]["path"]
        try:
            mounted = mount_oss(self.runtime.store, source, self._mount_dir(record))
        except MountError as error:
            raise DeployFailure("MountFailed", str(error)) from None
        self.registry.add_event(record, NORMAL, "Mounted", f"{source} mounted at {oss_mount['mount_path']} "
                                f"({mounted.files} files, {mounted.size} bytes)")

    def _check_requirements(self, record: ServiceRecord, config: Mapping[str, Any]) -> None:
        prepare = config["containers"][0].get("prepare", {})
        lines = list(prepare.get("pythonRequirements", []))
        if "pythonRequirementsPath" in prepare:
            lines += read_requirements(self._local_path(record, config, prepare["pythonRequirementsPath"]))
        for warning in requirement_warnings(lines):
            self.registry.add_event(record, WARNING, "RequirementNotSatisfied", warning)

    def _mount_dir(self, record: ServiceRecord) -> Path:
        return self.runtime.service_dir(record.name) / "mnt" / "data"

    def _local_path(self, record: ServiceRecord, config: Mapping[str, Any], path: str) -> Path:
        """Where a path of the container is on this machine: only the mounted directory exists here."""
        oss_mount = next((entry for entry in config.get("storage", []) if "oss" in entry), None)
        mount_path = oss_mount["mount_path"].rstrip("/") + "/" if oss_mount else None
        if mount_path is None or not path.startswith(mount_path):
            raise DeployFailure("PrepareFailed", f"pythonRequirementsPath {path} is not on the OSS mount: the "
                                "local EAS has no other files in the container")
        local = self._mount_dir(record) / path[len(mount_path):]
        if not local.is_file():
            raise DeployFailure("PrepareFailed", f"pythonRequirementsPath {path}: no such file in the mounted "
                                "directory (pip install -r would fail)")
        return local

    def _start_instance(self, record: ServiceRecord, config: Mapping[str, Any]) -> Instance:
        runtime = self.runtime
        service_dir = runtime.service_dir(record.name)
        (service_dir / "logs").mkdir(parents=True, exist_ok=True)
        (service_dir / "home").mkdir(exist_ok=True)
        (service_dir / "service.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        log_path = service_dir / "logs" / "service.log"
        port = free_port()
        try:
            spec = ServiceSpec.load(service_dir / "service.json")
            script = local_script(spec, self._mount_dir(record), port)
        except InstanceError as error:
            raise DeployFailure("InstanceFailed", str(error)) from None
        credentials_file = runtime.issuer.credentials_file if runtime.issuer is not None else None
        if spec.has_role and runtime.issuer is not None:
            runtime.issuer.current()  # EAS writes the credentials file before the run command starts
        env = instance_environment(spec, local_endpoints(spec, self.runtime.endpoints), service_dir / "home",
                                   credentials_uri=runtime.credentials_uri, credentials_file=credentials_file)
        offset = log_path.stat().st_size if log_path.exists() else 0
        self.registry.add_event(record, NORMAL, "Starting", f"running containers[0].script on 127.0.0.1:{port}")
        with open(log_path, "a", encoding="utf-8") as output:  # the process keeps its own descriptor
            instance = Instance(script, env, port, log=output, cwd=service_dir)
            try:
                instance.start(ready_timeout=runtime.ready_timeout)
            except InstanceError as error:
                instance.stop(runtime.grace)
                raise DeployFailure("InstanceFailed", f"{error}. Last lines of its output:\n"
                                    f"{output_tail(log_path, offset)}") from None
        return instance

    def _stop_instance(self, record: ServiceRecord) -> None:
        with self.registry.locked():
            instance, record.instance = record.instance, None
        if instance is not None:
            instance.stop(self.runtime.grace)

    def _watch(self, record: ServiceRecord, instance: Instance) -> None:
        """Turn the service Failed if its instance exits while it is still the service's instance."""
        process = instance.process
        if process is None:
            return

        def wait() -> None:
            code = process.wait()
            with self.registry.locked():
                if record.instance is not instance:
                    return  # stopped on purpose
                record.instance = None
                message = (f"the instance exited with status {code}. Last lines of its output:\n"
                           f"{output_tail(self.runtime.service_dir(record.name) / 'logs' / 'service.log', 0)}")
                if self.registry.set_status(record, record.generation, FAILED, "InstanceExited", message):
                    self.registry.add_event(record, WARNING, "InstanceExited", message)

        threading.Thread(target=wait, name=f"local-eas-watch-{record.name}", daemon=True).start()

    def _spawn(self, what: str, record: ServiceRecord, generation: int,
               work: Callable[[ServiceRecord, int], None]) -> None:
        if self._closed:
            return

        def run() -> None:
            try:
                work(record, generation)
            except Exception:  # never let a bug leave a service in a transitional status forever
                log.exception("local EAS control plane: %s of %s failed", what, record.name)
                message = f"the local EAS failed to {what} the service; its log has the details"
                if self.registry.set_status(record, generation, FAILED, "InternalError", message):
                    self.registry.add_event(record, WARNING, "InternalError", message)

        thread = threading.Thread(target=run, name=f"local-eas-{what}-{record.name}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _lock_for(self, record: ServiceRecord) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((record.region, record.name), threading.Lock())


def output_tail(path: Path, offset: int) -> str:
    """The last lines the instance wrote since ``offset`` (bounded, for an event message)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no output)"
    tail = "\n".join(text.rstrip().splitlines()[-OUTPUT_TAIL_LINES:])
    return tail[-OUTPUT_TAIL_CHARS:] or "(no output)"
