"""What happens to a service after the API accepted a request, in a background thread per operation.

A deployment (CreateService, UpdateService, StartService) goes through EAS's steps, each visible in the
service's status and events:

1. **Role** (status Creating). With ``options.enable_ram_role`` and a ``role_arn``, the checks RAM makes
   (:mod:`.accounts`): the role exists (else Warning ``RoleNotFound``, the guide's "role not found"), the
   deployer may ``ram:PassRole`` it (else Warning ``PassRoleDenied``), and its trust policy lets
   ``eas.pai.aliyuncs.com`` assume it (else Warning ``AssumeRoleFailed`` with EAS's own text, ``unable to
   render, error: failed to assume role for user, reason: You are not authorized to do this action. You
   should be authorized by RAM.``). The PAI default role (no ``role_arn``) needs no check.
2. **Mount** (status Waiting). The first OSS entry of ``storage`` is copied from the local OSS into the
   deployment's own directory, ``<state_dir>/services/<name>/revisions/<revision>/mnt/data/`` (:mod:`.mount`),
   so the instances of the previous deployment keep their code while the new ones start; an empty path fails
   (``MountFailed``). The third-party library list is compared with this environment: each difference is a
   Warning ``RequirementNotSatisfied``, never a failure (the local EAS installs nothing), and a ``prepare:``
   line at the top of each instance's log, where EAS's ``pip install`` writes its output; a
   ``pythonRequirementsPath`` that is not there fails (``PrepareFailed``), as pip would.
3. **Instances** (status Starting). As many instances as service.json asks for (:mod:`.policy`), each
   running ``containers[0].script`` as the local EAS runs it (:func:`eas_devkit.local.instance.local_script`
   and :func:`~eas_devkit.local.instance.instance_environment`: loopback bind on a port of its own, the mount
   directory, the local endpoints, and for a service with a role the credentials URI and file), its output,
   stamped line by line, in ``<state_dir>/services/<name>/logs/<instance>.log`` (:mod:`.instance_log`),
   watched by a :mod:`.supervisor`. They replace the instances already there by the rolling update of
   :mod:`.rollout`: new instances get traffic once ready, old ones leave the rotation, finish their requests
   and are stopped. A run command that binds no port runs too (a one-shot script, which exits: its instance
   fails to start, with its output in its log, as on EAS).

A step that fails turns the service Failed with a Warning event, as on EAS; the instances already there are
not touched, so after a failed update they keep serving. A new instance that fails to start pauses the
update: the service is Failed with EAS's message (``Instance <name> not healthy: Instance crashed, please
inspect instance log.``), a Warning ``InstanceFailed`` names the instance with the last lines of its output,
the failed instance stays listed without traffic, and the next deployment removes it first (*Rolling updates
and graceful shutdown*, https://www.alibabacloud.com/help/en/pai/user-guide/scrolling-updates-with-graceful-exit).
An instance that exits, or fails its liveness check, once it was ready is restarted in place.

StopService and DeleteService stop every instance as an update stops an old one. With an ``autoscaler``, a
deployment starts ``metadata.instance`` instances (an update: as many as the service holds, within the range) and
:mod:`.autoscaler` moves the count through :meth:`Lifecycle.scale_to`.

Operations on one service never overlap (one lock per service name), and an operation that a newer one
superseded stops at its next step (:attr:`ServiceRecord.generation`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import secrets
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

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
from . import instance_log
from .accounts import EAS_PRINCIPAL, Accounts, parse_role_arn
from .instances import FAILED as INSTANCE_FAILED
from .instances import ServiceInstance
from .mount import MountError, mount_oss, read_requirements, requirement_warnings
from .policy import InstancePolicy, PolicyError
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
from .rollout import Outcome, RollingUpdate
from .supervisor import Launch, Supervisor

log = logging.getLogger("eas_devkit.local.control_plane")

ASSUME_ROLE_FAILED = ("unable to render, error: failed to assume role for user, reason: You are not authorized "
                      "to do this action. You should be authorized by RAM.")
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' pod-name suffixes
T = TypeVar("T")
R = TypeVar("R")


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
    trust: Mapping[str, str] = field(default_factory=dict)  # the local CA's variables when they speak HTTPS
    issuer: Optional[CredentialIssuer] = None  # the instances' role credentials (file method)
    credentials_uri: Optional[str] = None  # ALIBABA_CLOUD_CREDENTIALS_URI for instances with a role
    ready_timeout: float = 60  # a new instance not ready by then failed to start
    grace: float = GRACE_PERIOD_SECONDS  # the termination grace period when service.json sets none

    def service_dir(self, name: str) -> Path:
        return self.state_dir / "services" / name


@dataclass
class Deployment:
    """One deployment of a service (a revision): its configuration, its code, how its instances run."""

    revision: str  # 10 hex digits, the middle part of its instances' names
    config: dict[str, Any]
    policy: InstancePolicy
    directory: Path  # <state_dir>/services/<name>/revisions/<revision>/
    launch: Optional[Launch] = None  # set once the run command is known to be runnable
    prepare_log: list[str] = field(default_factory=list)  # what the prepare step printed, atop each instance's log
    not_ready_hint: str = ""  # why an instance may never be ready, added to the message saying it is not

    @property
    def mount_dir(self) -> Path:
        return self.directory / "mnt" / "data"


class Lifecycle:
    """Carries out the operations the API accepted, one background thread each."""

    def __init__(self, registry: Registry, runtime: Runtime) -> None:
        self.registry = registry
        self.runtime = runtime
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._supervisors: dict[str, Supervisor] = {}  # by instance name
        self._supervisors_guard = threading.Lock()
        self._deployments: dict[tuple[str, str], Deployment] = {}  # the latest of each service
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
            self._retire(record, record.pool.members(), drain=False, quiet=True)
        for thread in list(self._threads):
            thread.join(timeout=self.runtime.ready_timeout + self.runtime.grace)
        for record in self.registry.records():  # started by an operation that finished meanwhile
            self._retire(record, record.pool.members(), drain=False, quiet=True)

    def scale_to(self, record: ServiceRecord, replicas: int, because: str = "", blocking: bool = True) -> bool:
        """Hold ``replicas`` instances of the latest deployment (the :mod:`.autoscaler`'s move): new instances
        start as a deployment's do, the extra ones (not ready first, then the newest) are stopped as an update
        stops old ones. False if nothing was done: no deployment, or (``blocking=False``) an operation under way."""
        lock = self._lock_for(record)
        if self._closed or not lock.acquire(blocking=blocking):
            return False
        try:
            deployment = self._deployments.get((record.region, record.name))
            if deployment is None or deployment.launch is None:
                return False
            current = [instance for instance in record.pool.members()
                       if instance.revision == deployment.revision and instance.status != INSTANCE_FAILED]
            before = len(current)
            with self.registry.locked():
                record.wanted_instances = replicas  # TotalInstance: what the service holds once the new ones run
            self.registry.add_event(record, NORMAL, "Scaled", f"{before} → {replicas} instances"
                                    + (f": {because}" if because else ""))
            if replicas > before:
                started = [self._start_instance(record, deployment) for _ in range(replicas - before)]
                self._report_failures(record, [(s, why) for s in started if (why := s.wait_started()) is not None])
            elif replicas < before:
                ordered = sorted(current, key=lambda instance: (instance.serving, -(instance.started or 0)))
                self._retire(record, ordered[:before - replicas])
            return True
        finally:
            lock.release()

    # The operations.

    def _deploy(self, record: ServiceRecord, generation: int) -> None:
        with self._lock_for(record):
            if not self.registry.is_current(record, generation):
                return
            with self.registry.locked():
                config = copy.deepcopy(record.config)
                creating = record.status == CREATING  # an update or a start keeps its status throughout
            try:
                self._remove_failed_instances(record)
                outcome = self._deploy_steps(record, generation, config, creating)
            finally:
                self._remove_unused_revisions(record)
            if outcome is None or outcome.superseded:
                return
            if outcome.failures:
                self._pause(record, generation, outcome)
                return
            with self.registry.locked():
                if self.registry.set_status(record, generation, RUNNING, RUNNING, "Service is now running"):
                    serving = record.pool.serving_count()
                    self.registry.add_event(record, NORMAL, RUNNING, f"{serving} of {record.wanted_instances} "
                                            f"instance{'' if record.wanted_instances == 1 else 's'} ready")

    def _deploy_steps(self, record: ServiceRecord, generation: int, config: dict[str, Any],
                      creating: bool) -> Optional[Outcome]:
        """The steps of a deployment; None when one failed (said in status and events) or was superseded."""
        try:
            policy = _policy(config, self.runtime.grace)
            self._check_role(record, config)
            if not self._step(record, generation, WAITING if creating else None):
                return None
            deployment = self._new_deployment(record, config, policy)
            self._mount(record, config, deployment.mount_dir)
            deployment.prepare_log = self._check_requirements(record, config, deployment.mount_dir)
            if not self._step(record, generation, STARTING if creating else None):
                return None
            deployment.launch = self._launcher(record, deployment)
        except DeployFailure as failure:
            if self.registry.set_status(record, generation, FAILED, failure.reason, failure.message):
                self.registry.add_event(record, WARNING, failure.reason, failure.message)
            return None
        if policy.autoscaling is not None and record.pool.serving_count():
            # An update keeps the count the autoscaler reached, within the new range [inferred: as Kubernetes].
            policy = dataclasses.replace(policy, replicas=policy.autoscaling.clamp(record.wanted_instances))
        with self.registry.locked():
            record.wanted_instances = policy.replicas
        self._deployments[(record.region, record.name)] = deployment
        return RollingUpdate(
            record.pool, policy, start=lambda: self._start_instance(record, deployment),
            retire=lambda instances: self._retire(record, instances),
            wanted=lambda: self.registry.is_current(record, generation) and not self._closed,
        ).run()

    def _pause(self, record: ServiceRecord, generation: int, outcome: Outcome) -> None:
        """A new instance failed to start: what EAS shows, and the old instances keep serving."""
        if not self.registry.is_current(record, generation):
            return
        self._report_failures(record, outcome.failures)
        first, _ = outcome.failures[0]
        crashed = first.failure_reason == "InstanceExited"
        message = (f"Instance <{first.instance.name}> not healthy: "
                   + ("Instance crashed" if crashed else "Instance not ready") + ", please inspect instance log.")
        serving = record.pool.serving_count()
        with self.registry.locked():
            if self.registry.set_status(record, generation, FAILED, "InstanceFailed", message) and serving:
                self.registry.add_event(record, NORMAL, "UpdatePaused", f"the update is paused: {serving} "
                                        f"{'instance keeps' if serving == 1 else 'instances keep'} serving, the "
                                        "failed ones get no traffic. Deploy again (the failed instances are "
                                        "removed first) or roll back.")

    def _stop(self, record: ServiceRecord, generation: int) -> None:
        with self._lock_for(record):
            if not self.registry.is_current(record, generation):
                return
            instances = record.pool.members()
            self._retire(record, instances)
            if self.registry.set_status(record, generation, STOPPED, STOPPED, "Service is stopped"):
                self.registry.add_event(record, NORMAL, STOPPED, f"{len(instances)} instance"
                                        f"{'' if len(instances) == 1 else 's'} stopped")

    def _delete(self, record: ServiceRecord, generation: int) -> None:
        with self._lock_for(record):
            if not self.registry.is_current(record, generation):
                return
            self._retire(record, record.pool.members())
            self._deployments.pop((record.region, record.name), None)
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

    def _mount(self, record: ServiceRecord, config: Mapping[str, Any], mount_dir: Path) -> None:
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
            mounted = mount_oss(self.runtime.store, source, mount_dir)
        except MountError as error:
            raise DeployFailure("MountFailed", str(error)) from None
        self.registry.add_event(record, NORMAL, "Mounted", f"{source} mounted at {oss_mount['mount_path']} "
                                f"({mounted.files} files, {mounted.size} bytes)")

    def _check_requirements(self, record: ServiceRecord, config: Mapping[str, Any], mount_dir: Path) -> list[str]:
        """Warn about each requirement this environment does not satisfy; the lines the prepare step writes
        at the top of each instance's log, where EAS's pip install writes its output."""
        prepare = config["containers"][0].get("prepare", {})
        inline = list(prepare.get("pythonRequirements", []))
        commands = [f"pip install {' '.join(inline)}"] if inline else []
        lines = list(inline)
        if "pythonRequirementsPath" in prepare:
            lines += read_requirements(_local_path(config, mount_dir, prepare["pythonRequirementsPath"]))
            commands.append(f"pip install -r {prepare['pythonRequirementsPath']}")
        warnings = requirement_warnings(lines)
        for warning in warnings:
            self.registry.add_event(record, WARNING, "RequirementNotSatisfied", warning)
        if not commands:
            return []
        return [*(f"prepare: {command}" for command in commands),
                "prepare: (the local EAS checks these requirements against its own environment; it installs "
                "nothing)",
                *(f"prepare: not satisfied: {warning}" for warning in warnings),
                f"prepare: {len(warnings)} of {len(lines)} requirement{'' if len(lines) == 1 else 's'} not satisfied"
                if warnings else f"prepare: every requirement satisfied ({len(lines)})"]

    def _new_deployment(self, record: ServiceRecord, config: dict[str, Any], policy: InstancePolicy) -> Deployment:
        revision = secrets.token_hex(5)
        directory = self.runtime.service_dir(record.name) / "revisions" / revision
        directory.mkdir(parents=True)
        (directory / "service.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        return Deployment(revision, config, policy, directory)

    def _launcher(self, record: ServiceRecord, deployment: Deployment) -> Launch:
        """How every instance of ``deployment`` starts: the same script and environment, its own port."""
        runtime = self.runtime
        home = runtime.service_dir(record.name) / "home"
        home.mkdir(parents=True, exist_ok=True)
        try:
            spec = ServiceSpec.load(deployment.directory / "service.json")
        except InstanceError as error:
            raise DeployFailure("InstanceFailed", str(error)) from None
        if not spec.binds_port:
            deployment.not_ready_hint = (f"; the run command does not bind 0.0.0.0:{spec.port} (containers[0].port), "
                                         "where EAS reaches a service (a one-shot script binds nothing: it exits)")
        credentials_file = runtime.issuer.credentials_file if runtime.issuer is not None else None
        if spec.has_role and runtime.issuer is not None:
            runtime.issuer.current()  # EAS writes the credentials file before the run command starts
        env = instance_environment(spec, local_endpoints(spec, runtime.endpoints), home, trust=runtime.trust,
                                   credentials_uri=runtime.credentials_uri, credentials_file=credentials_file)

        def launch(instance: ServiceInstance) -> Instance:
            script = local_script(spec, deployment.mount_dir, instance.port, require_bind=False)
            with instance_log.capture(instance.log_path) as output:  # the process keeps its own descriptor
                process = Instance(script, env, instance.port, log=output, cwd=deployment.directory)
                process.launch()
            return process

        return launch

    # The instances.

    def _start_instance(self, record: ServiceRecord, deployment: Deployment) -> Supervisor:
        assert deployment.launch is not None
        suffix = "".join(secrets.choice(NAME_SUFFIX_ALPHABET) for _ in range(5))
        name = f"{record.name}-{deployment.revision}-{suffix}"
        logs = self.runtime.service_dir(record.name) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        instance = ServiceInstance(name, deployment.revision, free_port(), logs / f"{name}.log")
        if deployment.prepare_log:
            instance_log.write(instance.log_path, "\n".join(deployment.prepare_log))
        supervisor = Supervisor(record.pool, instance, deployment.launch, deployment.policy,
                                report=lambda type_, reason, message: self.registry.add_event(record, type_, reason,
                                                                                               message),
                                ready_timeout=self.runtime.ready_timeout, not_ready_hint=deployment.not_ready_hint)
        with self._supervisors_guard:
            self._supervisors[name] = supervisor
        record.pool.add(instance)
        self.registry.add_event(record, NORMAL, "Starting", f"instance {name}: running containers[0].script on "
                                f"127.0.0.1:{instance.port}")
        supervisor.start()
        return supervisor

    def _retire(self, record: ServiceRecord, instances: Sequence[ServiceInstance], drain: bool = True,
                quiet: bool = False) -> None:
        """Stop ``instances`` together, each as EAS stops an instance (:meth:`Supervisor.stop`), and drop them."""
        with self._supervisors_guard:  # shutdown() and an operation may retire the same instances
            found = [self._supervisors.pop(instance.name, None) for instance in instances]
        supervisors = [supervisor for supervisor in found if supervisor is not None]
        outcomes = _in_parallel(lambda supervisor: supervisor.stop(drain=drain), supervisors)
        record.pool.remove(instances)
        if not quiet:
            for supervisor, outcome in zip(supervisors, outcomes):
                self.registry.add_event(record, NORMAL, "InstanceStopped", f"instance {supervisor.instance.name} "
                                        f"left the rotation and stopped: {outcome}")

    def _remove_failed_instances(self, record: ServiceRecord) -> None:
        """A new update first removes the instances that failed in the previous one (EAS does too)."""
        failed = [instance for instance in record.pool.members() if instance.status == INSTANCE_FAILED]
        if failed:
            self._retire(record, failed, drain=False, quiet=True)
            self.registry.add_event(record, NORMAL, "FailedInstancesRemoved", "removed the instances that failed "
                                    f"to start in the previous deployment: {', '.join(i.name for i in failed)}")

    def _report_failures(self, record: ServiceRecord, failures: Iterable[tuple[Supervisor, str]]) -> None:
        for supervisor, why in failures:
            self.registry.add_event(record, WARNING, "InstanceFailed", f"{why}. Last lines of its output:\n"
                                    f"{supervisor.output_tail()}")

    def _remove_unused_revisions(self, record: ServiceRecord) -> None:
        """The code of deployments no instance runs any more (the latest one is kept)."""
        revisions = self.runtime.service_dir(record.name) / "revisions"
        latest = self._deployments.get((record.region, record.name))
        used = {instance.revision for instance in record.pool.members()} | ({latest.revision} if latest else set())
        for directory in revisions.iterdir() if revisions.is_dir() else ():
            if directory.name not in used:
                shutil.rmtree(directory, ignore_errors=True)

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


def _policy(config: Mapping[str, Any], default_grace: float) -> InstancePolicy:
    try:
        return InstancePolicy.of(config, default_grace)
    except PolicyError as error:  # the API checked it already; a configuration changed since is still said
        raise DeployFailure("InvalidConfiguration", str(error)) from None


def _local_path(config: Mapping[str, Any], mount_dir: Path, path: str) -> Path:
    """Where a path of the container is on this machine: only the mounted directory exists here."""
    oss_mount = next((entry for entry in config.get("storage", []) if "oss" in entry), None)
    mount_path = oss_mount["mount_path"].rstrip("/") + "/" if oss_mount else None
    if mount_path is None or not path.startswith(mount_path):
        raise DeployFailure("PrepareFailed", f"pythonRequirementsPath {path} is not on the OSS mount: the "
                            "local EAS has no other files in the container")
    local = mount_dir / path[len(mount_path):]
    if not local.is_file():
        raise DeployFailure("PrepareFailed", f"pythonRequirementsPath {path}: no such file in the mounted "
                            "directory (pip install -r would fail)")
    return local


def _in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item at once, one thread each; the results in order."""
    results: list[Any] = [None] * len(items)

    def run(index: int, item: T) -> None:
        results[index] = work(item)

    threads = [threading.Thread(target=run, args=(index, item), daemon=True) for index, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
