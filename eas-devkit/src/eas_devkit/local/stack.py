"""The whole local EAS: instance credentials, OSS, and the service instance, started and stopped together.

Everything listens on 127.0.0.1 and lives under one state directory (``.local-eas/`` by default, mode 0700):

    state.json            every URL, the instance environment and the run's secret (mode 0600), written once
                          all is ready
    oss/                  the buckets
    ram-account.json      the local RAM: the role, its trust policy, the deploying RAM user (from ram/)
    maxcompute/           the local MaxCompute's tables; its project's users and grants are rebuilt at every
                          start from ram/maxcompute-project.sql (custom role), as MaxCompute keeps them
    services/<name>/      what the local EAS control plane deployed: the mounted code, logs, HOME
    etc/ram/credentials   the credentials file (method 3 of the guide)
    home/                 the throw-away HOME of the instance (no personal profile leaks in)
    logs/service.log      what the run command printed
"""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

from werkzeug.wrappers import Request, Response

from ..service_config import ServiceConfig, every_config, load_service_config
from . import run_secret
from .control_plane.accounts import ACCOUNTS_FILE, MAIN_ACCOUNT, Accounts, parse_role_arn
from .control_plane.deployer import as_issued
from .control_plane.plane import ControlPlane
from .control_plane.policy import AUTOSCALE_INTERVAL_SECONDS
from .credentials import CREDENTIALS_PATH, CredentialIssuer, CredentialsEndpoint, IssuedCredentials, mask_key_id
from .demo_data import put_demo_objects
from .faults import FaultInjector
from .instance import (
    Instance,
    InstanceError,
    ServiceSpec,
    free_port,
    instance_environment,
    local_endpoints,
    local_script,
)
from .oss import ObjectStore, create_oss_app
from .ram import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Decision, Policy, PolicyFile, pai_default_role
from .reload import Restart, error_lines
from .servers import HostRefusal, LoopbackServer, json_host_refusal
from .tls import TLSFiles
from .tls import issue as issue_tls

if TYPE_CHECKING:
    from .maxcompute.project_security import Caller

STATE_FILE = "state.json"
# A save restarts the service with gunicorn's quick shutdown (SIGQUIT): 0.7 s from save to the new code's
# first answer, against 1.6 s after SIGTERM, whose gevent workers notice it only at their next 1 s tick. A
# request in flight at the save is cut; on EAS (and on Ctrl-C) the service still gets SIGTERM.
RESTART_GRACE_SECONDS = 5


@dataclass
class Settings:
    project: Path  # the generated project: service.json and mount/ live here
    state_dir: Path
    credentials_lifetime: float = 3600
    rotate_every: Optional[float] = None
    service_port: int = 0  # 0: any free port
    log_to_console: bool = True
    mount_dir: Optional[Path] = None  # default: <project>/mount, the directory that is uploaded
    env_overrides: dict[str, str] = field(default_factory=dict)  # on top of service.json's container env
    denied_actions: list[str] = field(default_factory=list)  # RAM actions refused to the role (fnmatch patterns)
    permission_policy: Optional[Path] = None  # a custom role's policy; default: <project>/ram/permission-policy.json
    inject_credentials_uri: bool = True  # False: the instance has only /etc/ram/credentials (method 3)
    tls: bool = False  # the service reaches the local OSS and MaxCompute over HTTPS, as on EAS (local.tls)
    autoscale_interval: float = AUTOSCALE_INTERVAL_SECONDS  # how often the local EAS's autoscaler acts

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE


@dataclass
class LocalEAS:
    settings: Settings
    config: ServiceConfig = field(init=False)  # service.json, merged with the environment of EAS_ENV
    spec: ServiceSpec = field(init=False)
    issuer: CredentialIssuer = field(init=False)
    store: ObjectStore = field(init=False)
    servers: list[LoopbackServer] = field(default_factory=list)
    instance: Optional[Instance] = None
    accounts: Optional[Accounts] = None
    plane: Optional[ControlPlane] = None
    _log: Optional[IO[str]] = None
    _catalog: Any = None  # the local MaxCompute's, when the service has one
    _maxcompute: Any = None
    maxcompute_grants: Optional[str] = None  # what became of ram/maxcompute-project.sql at start, for the state
    faults: FaultInjector = field(default_factory=FaultInjector)  # backend faults, set through /admin/faults
    tls: Optional[TLSFiles] = None  # with Settings.tls: this run's CA and certificate
    secret: str = field(default_factory=run_secret.new_secret)  # the admin routes' and the deployer's
    _state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config = load_service_config(self.settings.project)
        self.spec = ServiceSpec.of(self.config.config, self.settings.env_overrides)
        state_dir = self.settings.state_dir
        self.issuer = CredentialIssuer(
            lifetime=self.settings.credentials_lifetime,
            rotate_every=self.settings.rotate_every,
            credentials_file=state_dir / "etc" / "ram" / "credentials",
        )
        self.store = ObjectStore(state_dir / "oss")

    def start(self) -> dict[str, Any]:
        """Start every part, wait until the service answers, write and return the state."""
        state_dir = self.settings.state_dir
        _make_private(state_dir)  # state.json holds the run's secret, etc/ram/ the role's credentials
        self.settings.state_file.unlink(missing_ok=True)
        try:
            # The local RAM as ram/README.md sets it up in the cloud, afresh from ram/ at every start.
            self.accounts = Accounts.for_project(state_dir / ACCOUNTS_FILE, self.settings.project, replace=True)
            credentials = self._serve(CredentialsEndpoint(self.issuer, self.secret, self.stats, self.minted_secrets,
                                                          faults=self.faults), "credentials")
            authorize = self.role_authorizer()
            oss_app = create_oss_app(self.store, self.credential_lookup, self.spec.region,
                                     self.deployer_or(authorize), account_id=self.accounts.account_id)
            if self.settings.tls:
                self.tls = issue_tls(state_dir / "tls")
            oss, service_oss = self._serve_backend(self.faults.wrap(oss_app, "oss"), "oss", _oss_host_refusal)
            self._prepare_buckets()
            local_urls = {"OSS_ENDPOINT": service_oss}
            odps_endpoint = None
            if "ODPS_ENDPOINT" in self.spec.env:
                odps_endpoint, local_urls["ODPS_ENDPOINT"] = self._start_maxcompute(authorize)
            trust = self.tls.environment if self.tls else {}
            credentials_uri = credentials.url + CREDENTIALS_PATH
            credentials_file = self.issuer.credentials_file
            self.plane = ControlPlane(
                state_dir, self.store, self.accounts, self.spec.region, run_commands=self.run_commands(),
                scripts_dir=self.mount_dir, secret=self.secret, endpoints=local_urls, trust=trust, issuer=self.issuer,
                credentials_uri=credentials_uri if self.settings.inject_credentials_uri else None,
                autoscale_interval=self.settings.autoscale_interval,
            )
            eas = self.plane.start()
            if self.spec.has_role:
                self.issuer.start()  # EAS writes the file before the instance starts, and keeps it fresh
            home = state_dir / "home"
            home.mkdir(exist_ok=True)
            env = instance_environment(
                self.spec, local_endpoints(self.spec, local_urls), home, trust=trust,
                credentials_uri=credentials_uri if self.settings.inject_credentials_uri else None,
                credentials_file=credentials_file,
            )
            self.instance = self._start_instance(env)
            state = {
                "service": self.spec.name,
                "service_url": self.instance.url,
                "credentials_uri": credentials_uri if self.spec.has_role else None,
                "credentials_file": str(credentials_file) if self.spec.has_role else None,
                "admin_url": credentials.url + "/admin",
                run_secret.STATE_KEY: self.secret,
                "oss_endpoint": oss.url,
                "bucket": self.spec.bucket,
                "odps_endpoint": odps_endpoint,
                "tls_ca_bundle": str(self.tls.ca_bundle) if self.tls else None,
                "project": self.spec.env.get("ODPS_PROJECT"),
                "maxcompute_grants": self.maxcompute_grants,
                "region": self.spec.region,
                "eas_endpoint": eas.api_endpoint,
                "gateway_url": eas.gateway_url,
                "deployer_credentials_uri": eas.deployer_credentials_uri,
                "ram_account_file": str(self.accounts.path),
                "project_dir": str(self.settings.project),
                "state_dir": str(state_dir),
                "pid": os.getpid(),
                "service_pid": self.instance.process.pid if self.instance.process else None,
                "env": env,
            }
            _write_json_atomically(self.settings.state_file, state)
            self._state = state
            return state
        except BaseException:
            self.stop()
            raise

    def run_commands(self) -> set[str]:
        """The run commands of service.json and of every environment (the one running too, with its --env): a
        deploy of any of them may run here."""
        containers = [container for config in every_config(self.settings.project)
                      if isinstance(config.config.get("containers"), list) for container in config.config["containers"]]
        return {self.spec.script} | {container["script"] for container in containers
                                     if isinstance(container, dict) and isinstance(container.get("script"), str)}

    def role_authorizer(self) -> Authorize:
        """How the local services decide a request signed with the instance's credentials: by the role's
        permission policy (the PAI default role's model without a role_arn), minus ``--deny``."""
        denied = self.settings.denied_actions
        if not self.spec.has_role:
            return lambda action, resource, access_key_id, context=None: IMPLICIT_DENY  # no role: nothing allowed
        if self.spec.role_arn:
            path = self.settings.permission_policy or self.settings.project / "ram" / "permission-policy.json"
            if not path.is_file():
                raise InstanceError(f"{path} is missing: it is the custom role's permission policy")
            policy_file = PolicyFile(path)
            role_policy: Callable[[], Policy] = lambda: policy_file.policy  # noqa: E731 - re-read on change
        else:
            projects = [self.spec.env["ODPS_PROJECT"]] if "ODPS_PROJECT" in self.spec.env else []
            default_role = pai_default_role(self.workspace_bucket, projects)
            role_policy = lambda: default_role  # noqa: E731

        def authorize(action: str, resource: str, access_key_id: str,
                      context: Optional[Mapping[str, str]] = None) -> Decision:
            if any(fnmatch.fnmatchcase(action, pattern) for pattern in denied):
                return EXPLICIT_DENY  # --deny stands for a Deny statement added to the role's policy
            return role_policy().allows(action, resource, context)

        return authorize

    def credential_lookup(self, access_key_id: str) -> Optional[IssuedCredentials]:
        """The credentials behind a request to the local OSS or MaxCompute: the role's, or the developer's."""
        issued = self.issuer.lookup(access_key_id)
        if issued is None and self.accounts is not None:
            key = self.accounts.lookup(access_key_id)
            issued = as_issued(key) if key is not None else None
        return issued

    def deployer_or(self, authorize: Authorize) -> Authorize:
        """``authorize`` for the role's credentials; the deploying developer may do anything (uploading the
        code needs oss:PutObject on the code bucket, which the developer's own account has in the cloud)."""
        def decide(action: str, resource: str, access_key_id: str,
                   context: Optional[Mapping[str, str]] = None) -> Decision:
            if self.accounts is not None and self.accounts.lookup(access_key_id) is not None:
                return ALLOW
            return authorize(action, resource, access_key_id, context)

        return decide

    @property
    def workspace_bucket(self) -> str:
        """The workspace's default bucket, as far as the local EAS knows: where the code is mounted from
        (the template puts code and data of a PAI-default-role service in that one bucket)."""
        return _bucket_of(self.spec.mount_source) if self.spec.mount_source else (self.spec.bucket or "")

    def _start_maxcompute(self, authorize: Authorize) -> tuple[str, str]:
        """The local MaxCompute with the service's project and its demo tables; returns its endpoint and the
        service's (:meth:`_serve_backend`). The project's users and grants are those
        ``ram/maxcompute-project.sql`` gives, applied afresh."""
        from .maxcompute.app import create_maxcompute_app
        from .maxcompute.catalog import Catalog
        from .maxcompute.cli import MAXCOMPUTE_DIR
        from .maxcompute.loader import create_demo_tables
        from .maxcompute.project_security import ProjectSecurity

        catalog = self._catalog = Catalog(self.settings.state_dir / MAXCOMPUTE_DIR)
        create_demo_tables(catalog, self.spec.env["ODPS_PROJECT"])
        assert self.accounts is not None
        security = ProjectSecurity(self.maxcompute_caller, self.accounts.account_id,
                                   lambda project, table: catalog.get_table(project, table) is not None)
        self._maxcompute = create_maxcompute_app(catalog, self.credential_lookup, self.spec.region,
                                                 self.deployer_or(authorize), security=security)
        server, service_url = self._serve_backend(self.faults.wrap(self._maxcompute, "maxcompute"), "maxcompute",
                                                  _maxcompute_host_refusal)
        endpoint = server.url + "/api"
        self.maxcompute_grants = self._apply_project_grants(endpoint)
        return endpoint, service_url + "/api"

    def maxcompute_caller(self, access_key_id: str) -> Optional[Caller]:
        """Who signed a request to the local MaxCompute, as MaxCompute names principals. The local RAM's own
        identities (the account, the deploying developer) stand for the project's owner; the instance's
        credentials are the custom role, ``RAM$<account>:role/<name>``, held to the project's grants, or the
        PAI default role, which acts with the service owner's permissions (the guide)."""
        from .maxcompute.project_security import OWNER, SERVICE_LINKED, USER, Caller

        key = self.accounts.lookup(access_key_id) if self.accounts is not None else None
        if key is not None:
            account = self.accounts.account_id if self.accounts is not None else ""
            name = f"ALIYUN${account}" if key.principal == MAIN_ACCOUNT else f"RAM${account}:{key.principal}"
            return Caller(name, OWNER)
        if self.issuer.lookup(access_key_id) is None:
            return None
        role = parse_role_arn(self.spec.role_arn or "")
        if role is None:
            return Caller("AliyunServiceRoleForPaiEas", SERVICE_LINKED)
        return Caller(f"RAM${role[0]}:role/{role[1]}", USER)

    def _apply_project_grants(self, endpoint: str) -> Optional[str]:
        """Run ``ram/maxcompute-project.sql`` as the project owner with pyodps; what happened, for the state.
        Without the file a custom role is not a member of the project: its requests are refused."""
        from .maxcompute.security_file import PROJECT_GRANTS_FILE, SecurityFileError, run_security_file

        if not self.spec.role_arn:
            return None
        path = self.settings.project / PROJECT_GRANTS_FILE
        if not path.is_file():
            return (f"no {PROJECT_GRANTS_FILE}: the role is not a user of the project, MaxCompute refuses its "
                    "requests ([4002])")
        from odps import ODPS

        assert self.accounts is not None
        owner = self.accounts.create_access_key()  # the account itself, which owns the project
        odps = ODPS(owner.access_key_id, owner.access_key_secret, project=self.spec.env["ODPS_PROJECT"],
                    endpoint=endpoint, logview_host="http://127.0.0.1:9")
        try:
            count = run_security_file(odps, path)
        except SecurityFileError as problem:
            raise InstanceError(f"{problem} (the local EAS applies {PROJECT_GRANTS_FILE} to the local MaxCompute "
                                "at every start, as the project owner would run it)") from None
        return f"{PROJECT_GRANTS_FILE} applied ({count} statement{'s' if count != 1 else ''})"

    def stats(self) -> dict[str, Any]:
        """What the local services saw: MaxCompute requests by (masked) AccessKeyId and their errors, and the
        backend faults injected."""
        stats: dict[str, Any] = {"faults_injected": self.faults.injected}
        if self._maxcompute is not None:
            stats["maxcompute_requests_by_key"] = {mask_key_id(key): count
                                                   for key, count in self._maxcompute.stats.by_access_key.items()}
            stats["maxcompute_errors"] = self._maxcompute.stats.errors
        return stats

    def minted_secrets(self) -> list[tuple[str, str]]:
        """The local RAM's AccessKeys (the deploying developer's), for the leak check."""
        return self.accounts.issued_secrets() if self.accounts is not None else []

    def stop(self) -> None:
        if self.plane is not None:
            self.plane.stop()  # SIGTERM to every deployed instance
            self.plane = None
        if self.instance is not None:
            self.instance.stop()
            self.instance = None
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        self.issuer.stop()
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self.settings.state_file.unlink(missing_ok=True)

    def _serve(self, app: Any, name: str, refuse_host: HostRefusal = json_host_refusal,
               tls: Optional[TLSFiles] = None) -> LoopbackServer:
        server = LoopbackServer(app, name=name, refuse_host=refuse_host, tls=tls).start()
        self.servers.append(server)
        return server

    def _serve_backend(self, app: Any, name: str, refuse_host: HostRefusal) -> tuple[LoopbackServer, str]:
        """An emulated cloud service over HTTP, for the kit's own clients (state.json's endpoints), and the URL
        the service is given: with ``--tls`` the same app on a port of its own that speaks HTTPS."""
        server = self._serve(app, name, refuse_host)
        if self.tls is None:
            return server, server.url
        return server, self._serve(app, f"{name}-tls", refuse_host, self.tls).url

    def _prepare_buckets(self) -> None:
        code_bucket = _bucket_of(self.spec.mount_source) if self.spec.mount_source else None
        for bucket in {b for b in (self.spec.bucket, code_bucket) if b}:
            if not self.store.bucket_exists(bucket):
                self.store.create_bucket(bucket)
                if bucket == self.spec.bucket:
                    put_demo_objects(self.store, bucket, self.spec.env.get("OSS_DATA_PREFIX", ""))

    @property
    def mount_dir(self) -> Path:
        return (self.settings.mount_dir or self.settings.project / "mount").resolve()

    @property
    def instance_url(self) -> str:
        return self.instance.url if self.instance is not None else ""

    def restart_service(self) -> Restart:
        """Stop the run command and start it again on the same port, with the same environment (the code under
        mount/ is read anew); everything else keeps running. Never raises: a Restart says what happened."""
        old = self.instance
        assert old is not None, "restart_service() before start()"
        began = time.monotonic()
        old.stop(grace=RESTART_GRACE_SECONDS, first=signal.SIGQUIT)
        log_offset = self._log.tell() if self._log is not None else 0
        instance = self.instance = Instance(old.script, old.env, old.port, log=self._log, cwd=self.settings.project)
        try:
            instance.start()
        except InstanceError as problem:
            error = str(problem).split(" before", 1)[0].split(";", 1)[0]  # "the run command exited with status 1"
            return Restart(time.monotonic() - began, error=error, output=self._log_since(log_offset))
        assert instance.process is not None
        if self._state:
            self._state["service_pid"] = instance.process.pid
            _write_json_atomically(self.settings.state_file, self._state)
        return Restart(time.monotonic() - began, pid=instance.process.pid)

    def _log_since(self, offset: int) -> tuple[str, ...]:
        """The error lines the run command wrote to the service log after ``offset`` (none on the console)."""
        if self._log is None:
            return ()
        self._log.flush()
        with open(self._log.name, encoding="utf-8", errors="replace") as log:
            log.seek(offset)
            return error_lines(log.read().splitlines())

    def _start_instance(self, env: dict[str, str]) -> Instance:
        port = self.settings.service_port or free_port()
        script = local_script(self.spec, self.mount_dir, port)
        if not self.settings.log_to_console:
            log_dir = self.settings.state_dir / "logs"
            log_dir.mkdir(exist_ok=True)
            self._log = open(log_dir / "service.log", "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        instance = Instance(script, env, port, log=self._log, cwd=self.settings.project)
        instance.start()
        return instance


Authorize = Callable[..., Decision]  # (action, resource, AccessKeyId[, condition context]) -> RAM's answer


def read_state(state_dir: Path, wait: float = 0) -> dict[str, Any]:
    """The state of a running local EAS, waiting up to ``wait`` seconds for it to be written."""
    path = state_dir / STATE_FILE
    deadline = time.monotonic() + wait
    while not path.exists():
        if time.monotonic() >= deadline:
            raise FileNotFoundError(f"{path} does not exist: is the local EAS running? Start it with `make dev` "
                                    "(`eas-devkit local up`).")
        time.sleep(0.1)
    return json.loads(path.read_text(encoding="utf-8"))


def _make_private(directory: Path) -> None:
    """Create ``directory`` for its owner only, or make it so; never a shared one such as /tmp."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & stat.S_ISVTX:
        raise InstanceError(f"{directory} is a shared directory (sticky bit): give the local EAS a state directory "
                            "of its own (--state-dir)")
    directory.chmod(0o700)


def _oss_host_refusal(request: Request, message: str) -> Response:
    from .oss.errors import OssError, new_request_id

    return OssError(400, "InvalidArgument", message, ArgumentName="Host").to_response(
        new_request_id(), "127.0.0.1", request.method)


def _maxcompute_host_refusal(request: Request, message: str) -> Response:
    from .maxcompute.errors import OdpsError, new_request_id

    return OdpsError(400, "InvalidArgument", message).to_response(new_request_id(), "127.0.0.1")


def _bucket_of(oss_path: str) -> str:
    return oss_path.split("://", 1)[1].split("/", 1)[0]


def _write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Readable by the owner only (it holds the run's secret), and never seen half-written."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    os.replace(tmp, path)
