"""The files of a generated project as the rules read them: ``Project`` reads each file once and never raises on
a missing or malformed one (the files rule reports those once; every other rule skips what it cannot read)."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ...local.ram import Policy, PolicyError
from ...service_config import SERVICE_JSON, ServiceConfig, ServiceConfigError, load_environment
from .findings import Finding, at, error
from .literals import Literal, class_literals, module_literals

if TYPE_CHECKING:
    from .gunicorn import Gunicorn
    from .needs import Need

TRUST_POLICY = "ram/trust-policy.json"
PERMISSION_POLICY = "ram/permission-policy.json"
PASSROLE_POLICY = "ram/passrole-policy.json"
MOUNT_DIR = "mount"  # the local directory uploaded to OSS and mounted as the code mount
DEFAULT_REQUIREMENTS = "mount/requirements.txt"
DEFAULT_GUNICORN_CONF = "mount/gunicorn.conf.py"
APP_CONFIG = "mount/app/config.py"  # the service's settings and their defaults (class Config)
SQL_ROUTE = "mount/app/routes/maxcompute_sql.py"

CUSTOM_ROLE, PAI_DEFAULT_ROLE, NO_ROLE = "custom", "pai-default", "none"
LOCAL, CLOUD = "local", "cloud"  # what the check is for: the local EAS of `make dev`, or PAI-EAS
TARGETS = (LOCAL, CLOUD)

ROLE_ARN = re.compile(r"^acs:ram::(?P<account>[0-9]+):role/(?P<name>[A-Za-z0-9.-]{1,64})$")
OSS_PATH = re.compile(r"^oss://(?P<bucket>[^/]+)/?(?P<prefix>.*)$")
MISSING = object()  # an env entry without a value (the schema reports it)


@dataclass(frozen=True)
class JsonFile:
    """A JSON file of the project as read: ``data`` is None when it is missing or not valid JSON."""

    relative: str
    exists: bool
    data: Any = None
    problem: Optional[Finding] = None  # why it could not be read (missing files have none: rules say why)


@dataclass(frozen=True)
class OssMount:
    """An OSS entry of ``storage``."""

    index: int
    mount_path: str
    bucket: str
    prefix: str


@dataclass(frozen=True)
class NfsMount:
    """A NAS entry of ``storage`` (``"nfs": {"server", "path"}``)."""

    index: int
    mount_path: str
    server: str
    path: str


class Project:
    """The files of a generated project, read once each, never raising on missing or malformed content.

    ``target`` is what the check is for (``local`` or ``cloud``): a rule may judge a value differently for
    each (an example account ID is fine for the local EAS, not for PAI-EAS). With ``environment`` (``EAS_ENV``),
    ``service.json`` reads as the merged document (``eas_devkit.service_config``), and ``config`` says which
    file set what.
    """

    def __init__(self, root: Path, target: str = LOCAL, environment: Optional[str] = None) -> None:
        self.root = root
        self.target = target
        self.environment = environment
        self.config: Optional[ServiceConfig] = None  # the merged configuration, once read
        self.examined: set[str] = set()  # relative paths the rules looked at (for the summary)
        self._json: dict[str, JsonFile] = {}
        self._policies: dict[str, tuple[Optional[Policy], Optional[Finding]]] = {}

    def exists(self, relative: str) -> bool:
        self.examined.add(relative)
        return (self.root / relative).is_file()

    def text(self, relative: str) -> Optional[str]:
        if not self.exists(relative):
            return None
        try:
            return (self.root / relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def python_literals(self, relative: str) -> Optional[dict[str, Literal]]:
        """The module-level literal assignments of a Python file; None when it is missing or does not parse."""
        text = self.text(relative)
        return module_literals(text) if text is not None else None

    def json_file(self, relative: str) -> JsonFile:
        if relative not in self._json:
            self._json[relative] = self._read_json(relative)
        return self._json[relative]

    def _read_json(self, relative: str) -> JsonFile:
        if not self.exists(relative):
            return JsonFile(relative, exists=False)
        if relative == SERVICE_JSON and self.environment is not None:
            try:
                self.config = load_environment(self.root, self.environment)
            except ServiceConfigError as problem:
                return JsonFile(relative, True, problem=error(problem.where, problem.what, problem.fix))
            return JsonFile(relative, True, data=self.config.config)
        try:
            text = (self.root / relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as problem:
            return JsonFile(relative, True, problem=error(relative, f"cannot be read as UTF-8 text ({problem})",
                                                          "save it as UTF-8 JSON"))
        try:
            return JsonFile(relative, True, data=json.loads(text))
        except json.JSONDecodeError as problem:
            return JsonFile(relative, True, problem=error(
                f"{relative}:{problem.lineno}:{problem.colno}", f"is not valid JSON: {problem.msg}",
                f"correct line {problem.lineno}, column {problem.colno} (often a missing or trailing comma, "
                "or an unquoted name)"))

    def policy(self, relative: str) -> Optional[Policy]:
        """The file as a RAM policy; None when it is missing or not a policy (``policy_problem`` says why)."""
        return self._parsed_policy(relative)[0]

    def policy_problem(self, relative: str) -> Optional[Finding]:
        return self._parsed_policy(relative)[1]

    def _parsed_policy(self, relative: str) -> tuple[Optional[Policy], Optional[Finding]]:
        if relative not in self._policies:
            data = self.json_file(relative).data
            result: tuple[Optional[Policy], Optional[Finding]] = (None, None)
            if data is not None:
                try:
                    result = (Policy.parse(data, source="$"), None)
                except PolicyError as problem:
                    result = (None, _policy_error(relative, str(problem)))
            self._policies[relative] = result
        return self._policies[relative]

    # service.json, as far as it has the expected shape

    @cached_property
    def service(self) -> Optional[dict[str, Any]]:
        data = self.json_file(SERVICE_JSON).data
        return data if isinstance(data, dict) else None

    @cached_property
    def base_service(self) -> Optional[dict[str, Any]]:
        """``service.json`` itself, without an environment's overrides (whose name the template's answers derive
        from): ``service`` when no environment is selected."""
        if self.environment is None:
            return self.service
        try:
            return load_environment(self.root, None).config
        except ServiceConfigError:
            return None

    def section(self, *keys: str) -> Optional[dict[str, Any]]:
        """The object at ``service.json``'s ``keys`` (``section("metadata", "rpc")``), None unless it is one."""
        node: Any = self.service
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else None

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return self.section("metadata") or {}

    @cached_property
    def fewest_instances(self) -> Optional[int]:
        """The instances the service runs at the least: the autoscaler's min, else ``metadata.instance``."""
        autoscaler = self.section("autoscaler")
        for value in ((autoscaler or {}).get("min"), self.metadata.get("instance")):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    @cached_property
    def container(self) -> Optional[dict[str, Any]]:
        containers = (self.service or {}).get("containers")
        if isinstance(containers, list) and containers and isinstance(containers[0], dict):
            return containers[0]
        return None

    @cached_property
    def image(self) -> Optional[str]:
        image = (self.container or {}).get("image")
        return image if isinstance(image, str) else None

    @cached_property
    def env_entries(self) -> list[tuple[int, str, Any]]:
        """``(index, name, value)`` of each entry of ``containers[0].env`` that has a string name; the value
        is ``MISSING`` when the entry has none."""
        env = (self.container or {}).get("env")
        if not isinstance(env, list):
            return []
        return [(index, entry["name"], entry.get("value", MISSING)) for index, entry in enumerate(env)
                if isinstance(entry, dict) and isinstance(entry.get("name"), str)]

    @cached_property
    def env(self) -> dict[str, str]:
        """The string-valued variables; with a name set twice, the first (both are reported)."""
        variables: dict[str, str] = {}
        for _, name, value in self.env_entries:
            if isinstance(value, str):
                variables.setdefault(name, value)
        return variables

    def env_where(self, name: str) -> str:
        index = next((index for index, entry_name, _ in self.env_entries if entry_name == name), None)
        return at(SERVICE_JSON, "containers", 0, "env", index, "value") if index is not None \
            else at(SERVICE_JSON, "containers", 0, "env")

    @cached_property
    def run_command(self) -> Optional[str]:
        """``containers[0].script`` (the console's Run Command), or ``command`` when there is no script."""
        container = self.container or {}
        for key in ("script", "command"):
            if isinstance(container.get(key), str):
                return container[key]
        return None

    @cached_property
    def gunicorn(self) -> Optional[Gunicorn]:
        """gunicorn's settings, when the run command starts gunicorn."""
        from .gunicorn import gunicorn_of

        return gunicorn_of(self)

    def app_setting(self, variable: str, field: str) -> Optional[Any]:
        """A setting of the service: ``containers[0].env``'s ``variable`` when set (a string), else the default
        ``mount/app/config.py`` gives ``Config.field`` (when it is a literal); None when neither says."""
        if variable in self.env:
            return self.env[variable]
        text = self.text(APP_CONFIG)
        default = class_literals(text, "Config").get(field) if text is not None else None
        return default.value if default is not None else None

    @cached_property
    def role(self) -> str:
        service = self.service or {}
        if "role_arn" in service:
            return CUSTOM_ROLE
        options = service.get("options")
        if isinstance(options, dict) and options.get("enable_ram_role") is True:
            return PAI_DEFAULT_ROLE
        return NO_ROLE

    @cached_property
    def role_account_and_name(self) -> Optional[tuple[str, str]]:
        arn = (self.service or {}).get("role_arn")
        match = ROLE_ARN.match(arn) if isinstance(arn, str) else None
        return (match["account"], match["name"]) if match else None

    @cached_property
    def storage(self) -> list[tuple[int, dict[str, Any]]]:
        storage = (self.service or {}).get("storage")
        return [(index, entry) for index, entry in enumerate(storage if isinstance(storage, list) else [])
                if isinstance(entry, dict)]

    @cached_property
    def oss_mounts(self) -> list[OssMount]:
        mounts = []
        for index, entry in self.storage:
            oss = entry.get("oss")
            source = oss.get("path") if isinstance(oss, dict) else None
            match = OSS_PATH.match(source) if isinstance(source, str) else None
            if match and isinstance(entry.get("mount_path"), str):
                mounts.append(OssMount(index, entry["mount_path"], match["bucket"], match["prefix"]))
        return mounts

    @cached_property
    def nfs_mounts(self) -> list[NfsMount]:
        mounts = []
        for index, entry in self.storage:
            nfs = entry.get("nfs")
            if isinstance(nfs, dict) and isinstance(nfs.get("server"), str):
                path = nfs.get("path")
                mounts.append(NfsMount(index, str(entry.get("mount_path")), nfs["server"],
                                       path if isinstance(path, str) else "/"))
        return mounts

    @cached_property
    def code_mount(self) -> Optional[OssMount]:
        """The OSS mount that holds ``mount/``: the one the run command uses, else the first."""
        command = self.run_command or ""
        used = [mount for mount in self.oss_mounts if mount.mount_path.rstrip("/") in command]
        return (used or self.oss_mounts or [None])[0]

    def local_file(self, container_path: str) -> Optional[str]:
        """The project file behind a path in the instance, when it lies in the code mount."""
        mount = self.code_mount
        if mount is None:
            return None
        base = posixpath.normpath(mount.mount_path) + "/"
        path = posixpath.normpath(container_path)
        return f"{MOUNT_DIR}/{path[len(base):]}" if path.startswith(base) and path != base.rstrip("/") else None

    # RAM resource names. OSS ones carry the region and the account, as RAM sees a request; the bucket is
    # taken to be owned by the role's account. Policies match them with * (acs:oss:*:*:bucket/prefix*).

    @property
    def account(self) -> str:
        return self.role_account_and_name[0] if self.role_account_and_name else "*"

    @property
    def region(self) -> str:
        return self.env.get("REGION") or "*"

    def oss_resource(self, bucket: str, key: Optional[str] = None) -> str:
        return f"acs:oss:{self.region}:{self.account}:{bucket}" + (f"/{key}" if key is not None else "")

    @cached_property
    def needs(self) -> list[Need]:
        """What the role must allow (``needs.py``)."""
        from .needs import needs_of

        return needs_of(self)


def _policy_error(relative: str, message: str) -> Finding:
    """The evaluator's refusal, with its ``Statement[i].Field`` turned into this file's JSON path."""
    match = re.match(r"^\$: (Statement\[\d+\]\S*): (.*)$", message, re.DOTALL)
    where, what = (f"{relative} $.{match[1]}", match[2]) if match else (relative, message.removeprefix("$: "))
    return error(where, f"is not a policy RAM accepts: {what}",
                 "write it as RAM's policy language has it (Effect Allow or Deny, Action and Resource as a string "
                 "or a list of strings); the local EAS evaluates this file with the same rules")
