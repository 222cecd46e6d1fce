"""The doctor: what EAS and RAM would refuse in this project, found before deploying (``make check``).

Each rule is a small function registered in ``RULES``; its docstring names the promise it protects (the
guide is "Configure the EAS RAM role"). A rule reads the project through ``Project``, which never
raises on a missing or malformed file: the files rule reports those once, every other rule skips what it
cannot read. Policy questions ("may this role call X on Y?") are answered by the same RAM evaluator the
local EAS uses (``eas_devkit.local.ram``), so the doctor and ``make dev`` agree on what a policy allows.

The doctor reads files only: ``service.json`` (not the process environment: ``EAS_TARGET`` and loopback
endpoints given to the local EAS change nothing here), ``ram/`` and ``mount/``, and checks ``service.json``
against the kit's JSON Schema of the EAS service configuration. It never opens a socket.
"""

from __future__ import annotations

import ast
import copy
import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ..local.ram import Policy, PolicyError, Statement
from ..schemas import SERVICE_SCHEMA

SERVICE_JSON = "service.json"
TRUST_POLICY = "ram/trust-policy.json"
PERMISSION_POLICY = "ram/permission-policy.json"
PASSROLE_POLICY = "ram/passrole-policy.json"
MOUNT_DIR = "mount"  # the local directory uploaded to OSS and mounted as the code mount
DEFAULT_REQUIREMENTS = "mount/requirements.txt"
DEFAULT_GUNICORN_CONF = "mount/gunicorn.conf.py"

ERROR, WARN = "ERROR", "WARN"
CUSTOM_ROLE, PAI_DEFAULT_ROLE, NO_ROLE = "custom", "pai-default", "none"

EAS_PRINCIPAL = "eas.pai.aliyuncs.com"
# The guide's "Failed to assume role" symptom, verbatim.
ASSUME_ROLE_ERROR = ("failed to assume role for user, reason: You are not authorized to do this action. "
                     "You should be authorized by RAM.")
RESERVED_PORTS = (8080, 9090)  # EAS listens on them itself
GUNICORN_DEFAULT_BIND = "127.0.0.1:8000"
ROLE_ARN = re.compile(r"^acs:ram::(?P<account>[0-9]+):role/(?P<name>[A-Za-z0-9.-]{1,64})$")
OSS_PATH = re.compile(r"^oss://(?P<bucket>[^/]+)/?(?P<prefix>.*)$")
OSS_HOST = re.compile(r"^oss-(?P<region>[a-z0-9-]+?)(?P<internal>-internal)?\.aliyuncs\.com$")
MAXCOMPUTE_HOST = re.compile(r"^service\.(?P<region>[a-z0-9-]+?)(?P<vpc>-vpc)?\.maxcompute\.aliyun(?P<inc>-inc)?\.com$")
IMAGE_REGISTRY_HOST = re.compile(r"^eas-registry(?:-vpc)?\.(?P<region>[a-z0-9-]+)\.cr\.aliyuncs\.com/")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")
# What the doctor asks RAM about: a sample object under a prefix, a sample table, a sample SQL instance.
SAMPLE_KEY = "doctor-check"
SAMPLE_TABLE = "doctor_check"
SAMPLE_INSTANCE = "doctor-check"
MISSING = object()  # an env entry without a value (the schema reports it)
# What lets a RAM role change a MaxCompute project: the ACL actions on the project (Write, Create<object> but
# CreateInstance, which running a SELECT needs), on tables (Alter, Update, Drop), on functions, resources,
# instances and the like (Write, Delete, Execute), All; and the management API's own.
MAXCOMPUTE_WRITE_ACTIONS = (
    "odps:Write", "odps:Update", "odps:Alter", "odps:Drop", "odps:Delete", "odps:Execute", "odps:All",
    "odps:CreateTable", "odps:CreateFunction", "odps:CreateResource", "odps:CreateJob", "odps:CreateVolume",
    "odps:CreateOfflineModel", "odps:CreateXflow", "odps:CreateProject", "odps:UpdateProject", "odps:DeleteProject",
)


@dataclass(frozen=True)
class Finding:
    """One problem: where it is, what is wrong, how to fix it; ``snippet`` is a JSON document to paste."""

    level: str  # ERROR (the deployment or the service fails) or WARN (works, but worth a look)
    where: str  # a file and a JSON path (``service.json $.containers[0].port``) or a line (``file:line``)
    what: str
    fix: str
    snippet: Any = None

    def lines(self) -> list[str]:
        head = f"{self.level} {self.where}: {self.what} — {self.fix}"
        if self.snippet is None:
            return [head]
        return [head, *("    " + line for line in json.dumps(self.snippet, indent=2, ensure_ascii=False).splitlines())]

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "where": self.where, "what": self.what, "fix": self.fix, "snippet": self.snippet}


def error(where: str, what: str, fix: str, snippet: Any = None) -> Finding:
    return Finding(ERROR, where, what, fix, snippet)


def warn(where: str, what: str, fix: str, snippet: Any = None) -> Finding:
    return Finding(WARN, where, what, fix, snippet)


def json_path(*parts: Any) -> str:
    """``json_path("containers", 0, "port")`` → ``$.containers[0].port`` (jsonschema's notation)."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def at(relative: str, *parts: Any) -> str:
    return f"{relative} {json_path(*parts)}"


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
class Need:
    """Actions one part of the service calls on one resource, and a concrete resource to ask RAM about."""

    caller: str  # for the message: "the /oss/objects/<key> routes"
    actions: tuple[str, ...]
    pattern: str  # the resource as a policy names it
    sample: str  # one resource the caller touches, as RAM sees the request
    context: tuple[tuple[str, str], ...] = ()


class Project:
    """The files of a generated project, read once each, never raising on missing or malformed content."""

    def __init__(self, root: Path) -> None:
        self.root = root
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

    def json_file(self, relative: str) -> JsonFile:
        if relative not in self._json:
            self._json[relative] = self._read_json(relative)
        return self._json[relative]

    def _read_json(self, relative: str) -> JsonFile:
        if not self.exists(relative):
            return JsonFile(relative, exists=False)
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
    def container(self) -> Optional[dict[str, Any]]:
        containers = (self.service or {}).get("containers")
        if isinstance(containers, list) and containers and isinstance(containers[0], dict):
            return containers[0]
        return None

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
    def oss_mounts(self) -> list[OssMount]:
        storage = (self.service or {}).get("storage")
        mounts = []
        for index, entry in enumerate(storage if isinstance(storage, list) else []):
            oss = entry.get("oss") if isinstance(entry, dict) else None
            source = oss.get("path") if isinstance(oss, dict) else None
            match = OSS_PATH.match(source) if isinstance(source, str) else None
            if match and isinstance(entry.get("mount_path"), str):
                mounts.append(OssMount(index, entry["mount_path"], match["bucket"], match["prefix"]))
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

    def oss_resource(self, bucket: str, key: Optional[str] = None) -> str:
        region = self.env.get("REGION") or "*"
        account = self.role_account_and_name[0] if self.role_account_and_name else "*"
        return f"acs:oss:{region}:{account}:{bucket}" + (f"/{key}" if key is not None else "")

    @cached_property
    def needs(self) -> list[Need]:
        """What the role must allow: the code mount, and each handler enabled in ``containers[0].env``."""
        needs = []
        code = self.code_mount
        if code is not None:
            caller = f"the OSS mount of the code at {code.mount_path} ({SERVICE_JSON} $.storage[{code.index}])"
            needs += [
                Need(caller, ("oss:ListObjects",), f"acs:oss:*:*:{code.bucket}", self.oss_resource(code.bucket),
                     (("oss:Prefix", code.prefix),)),
                Need(caller, ("oss:GetObject",), f"acs:oss:*:*:{code.bucket}/{code.prefix}*",
                     self.oss_resource(code.bucket, code.prefix + SAMPLE_KEY)),
            ]
        bucket = self.env.get("OSS_BUCKET")
        if bucket:
            prefix = self.env.get("OSS_DATA_PREFIX", "")
            needs += [
                Need("GET /oss/objects", ("oss:ListObjects",), f"acs:oss:*:*:{bucket}", self.oss_resource(bucket),
                     (("oss:Prefix", prefix),)),
                Need("the /oss/objects/<key> routes (GET, PUT, DELETE)",
                     ("oss:GetObject", "oss:PutObject", "oss:DeleteObject"), f"acs:oss:*:*:{bucket}/{prefix}*",
                     self.oss_resource(bucket, prefix + SAMPLE_KEY)),
            ]
        project = self.env.get("ODPS_PROJECT")
        if project:
            project_arn = f"acs:odps:*:projects/{project}"
            needs += [
                Need("GET /maxcompute/tables", ("odps:List",), project_arn, project_arn),
                Need("the /maxcompute/tables/<name> routes", ("odps:Describe", "odps:Select", "odps:Download"),
                     f"{project_arn}/tables/*", f"{project_arn}/tables/{SAMPLE_TABLE}"),
            ]
            if self.exists("mount/app/routes/maxcompute_sql.py"):
                needs += [
                    Need("POST /maxcompute/sql", ("odps:CreateInstance",), project_arn, project_arn),
                    Need("POST /maxcompute/sql", ("odps:Read",), f"{project_arn}/instances/*",
                         f"{project_arn}/instances/{SAMPLE_INSTANCE}"),
                ]
        return needs


def _policy_error(relative: str, message: str) -> Finding:
    """The evaluator's refusal, with its ``Statement[i].Field`` turned into this file's JSON path."""
    match = re.match(r"^\$: (Statement\[\d+\]\S*): (.*)$", message, re.DOTALL)
    where, what = (f"{relative} $.{match[1]}", match[2]) if match else (relative, message.removeprefix("$: "))
    return error(where, f"is not a policy RAM accepts: {what}",
                 "write it as RAM's policy language has it (Effect Allow or Deny, Action and Resource as a string "
                 "or a list of strings); the local EAS evaluates this file with the same rules")


Rule = Callable[[Project], Iterable[Finding]]
RULES: list[Rule] = []


def rule(check: Rule) -> Rule:
    RULES.append(check)
    return check


@dataclass
class Report:
    findings: list[Finding]
    examined: list[str] = field(default_factory=list)  # "service.json", "ram/", …

    @property
    def errors(self) -> int:
        return sum(finding.level == ERROR for finding in self.findings)

    @property
    def warnings(self) -> int:
        return sum(finding.level == WARN for finding in self.findings)

    def summary(self) -> str:
        def count(number: int, word: str) -> str:
            return f"{number} {word}{'' if number == 1 else 's'}"

        return f"check: {count(self.errors, 'error')}, {count(self.warnings, 'warning')} ({', '.join(self.examined)})"

    def as_text(self) -> str:
        return "\n".join([*(line for finding in self.findings for line in finding.lines()), self.summary()])

    def as_json(self) -> str:
        return json.dumps({"errors": self.errors, "warnings": self.warnings, "examined": self.examined,
                           "findings": [finding.as_dict() for finding in self.findings]}, indent=2, ensure_ascii=False)


def check(root: Path) -> Report:
    """Run every rule on the project at ``root``.

    The schema speaks generically ("8080 should not be valid under …"); where a rule explains the same
    place better, only the rule's finding is kept, so no problem is reported twice.
    """
    project = Project(root)
    results = [(each, finding) for each in RULES for finding in each(project)]
    explained = {finding.where for each, finding in results if each is not service_json_matches_the_schema}
    findings = [finding for each, finding in results
                if each is not service_json_matches_the_schema or finding.where not in explained]
    areas = {relative.split("/")[0] + ("/" if "/" in relative else "") for relative in project.examined
             if (root / relative).exists()}
    return Report(findings, [area for area in ("service.json", "ram/", "mount/") if area in areas])


# The rules, in the order their findings are printed.


@rule
def files_are_there_and_parse(project: Project) -> Iterator[Finding]:
    """Every file the deployment needs exists and parses: an error names the file (and line), never a traceback.

    Missing ram/ files are reported by the rule that needs them, with the document to create.
    """
    if not project.json_file(SERVICE_JSON).exists:
        yield error(SERVICE_JSON, "is missing: it is the service configuration EAS deploys",
                    f"run the check in the project directory (or `eas-devkit --project DIR check`), or restore "
                    f"{SERVICE_JSON}")
    for relative in (SERVICE_JSON, TRUST_POLICY, PERMISSION_POLICY, PASSROLE_POLICY):
        problem = project.json_file(relative).problem
        if problem is not None:
            yield problem
    if project.json_file(SERVICE_JSON).data is not None and project.service is None:
        yield error(at(SERVICE_JSON), "is not a JSON object", "the service configuration is one object "
                    '{"metadata": …, "containers": […], …}')
    for relative in (PERMISSION_POLICY, PASSROLE_POLICY):
        problem = project.policy_problem(relative)
        if problem is not None:
            yield problem


@rule
def service_json_matches_the_schema(project: Project) -> Iterator[Finding]:
    """service.json is what the console's JSON deployment and CreateService take: every field EAS documents
    has the documented type and form (the kit's service.schema.json, Draft 2020-12), reported with its path."""
    from jsonschema import Draft202012Validator

    instance = project.json_file(SERVICE_JSON).data
    if instance is None:
        return
    schema = json.loads(SERVICE_SCHEMA.read_text(encoding="utf-8"))
    violations = Draft202012Validator(schema).iter_errors(instance)
    for violation in sorted(violations, key=lambda v: (list(map(str, v.absolute_path)), v.message)):
        where, what = violation.json_path, _described(violation)
        if violation.validator in ("required", "dependentRequired") and isinstance(violation.instance, dict):
            missing = _missing_property(violation)
            if missing is not None:
                where = f"{where}.{missing}" if where != "$" else f"$.{missing}"
                what = "is missing" + (f" ({violation.message.split(' is a ', 1)[1]})"
                                       if violation.validator == "dependentRequired" else " (required)")
        schema_location = "/".join(map(str, violation.absolute_schema_path))
        description = violation.schema.get("description") if violation.schema is not schema else None
        yield error(f"{SERVICE_JSON} {where}", what, f"make it match eas_devkit/schemas/service.schema.json "
                    f"#/{schema_location}" + (f" ({description})" if description else ""))


def _missing_property(violation: Any) -> Optional[str]:
    names: list[str] = []
    if violation.validator == "required":
        names = list(violation.validator_value)
    else:
        names = [name for dependents in violation.validator_value.values() for name in dependents]
    return next((name for name in names if name not in violation.instance and violation.message.startswith(repr(name))),
                None)


def _described(violation: Any) -> str:
    """jsonschema's message, without a whole object pasted in front of it."""
    if violation.validator in ("oneOf", "anyOf"):
        options = ", ".join(json.dumps(option) for option in violation.validator_value)
        several = "valid under each of" in violation.message
        return f"must match {'exactly ' if violation.validator == 'oneOf' else ''}one of {options}, " \
               f"but matches {'more than one' if several else 'none'}"
    value = repr(violation.instance)
    if len(value) > 60 and violation.message.startswith(value):
        return "the value" + violation.message[len(value):]
    return violation.message


@rule
def trust_policy_lets_eas_assume_the_role(project: Project) -> Iterator[Finding]:
    """The guide, "Failed to assume role": a custom role's trust policy names eas.pai.aliyuncs.com in an Allow
    statement's Principal.Service with sts:AssumeRole; the fix is the same policy with it added."""
    if project.role != CUSTOM_ROLE:
        return
    role_name = project.role_account_and_name[1] if project.role_account_and_name else "<role name>"
    apply = (f"then apply it to the role: RAM console → Roles → {role_name} → Trust Policy → Edit Trust Policy, or "
             f"`aliyun ram UpdateRole --RoleName {role_name} --NewAssumeRolePolicyDocument \"$(cat {TRUST_POLICY})\"`")
    trust = project.json_file(TRUST_POLICY)
    if not trust.exists:
        yield error(TRUST_POLICY, f"is missing: the custom role must trust {EAS_PRINCIPAL}, or deploying fails with "
                    f'"{ASSUME_ROLE_ERROR}"', f"create it with this trust policy (the guide's), {apply}:",
                    snippet=trusting_eas(None))
        return
    document = trust.data
    if document is None:
        return
    statements = document.get("Statement") if isinstance(document, dict) else None
    if not isinstance(statements, list):
        yield error(at(TRUST_POLICY, "Statement"), "is not a list of statements, so nobody may assume the role",
                    f"use this trust policy (the guide's), {apply}:", snippet=trusting_eas(document))
        return
    assume = [index for index, statement in enumerate(statements) if _allows_assume_role(statement)]
    if any(EAS_PRINCIPAL in _services(statements[index]) for index in assume):
        return
    where = at(TRUST_POLICY, "Statement", assume[0], "Principal", "Service") if assume \
        else at(TRUST_POLICY, "Statement")
    yield error(where, f"{EAS_PRINCIPAL} is not a trusted service, so deploying fails with \"{ASSUME_ROLE_ERROR}\"",
                f'add "{EAS_PRINCIPAL}" to the Service array, keeping the other principals — the corrected policy '
                f"below goes into {TRUST_POLICY}; {apply}:", snippet=trusting_eas(document))


def _allows_assume_role(statement: Any) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return False
    actions = statement.get("Action")
    actions = [actions] if isinstance(actions, str) else actions
    if not isinstance(actions, list) or not actions or not all(isinstance(action, str) for action in actions):
        return False
    # The evaluator's own matching (case-insensitive actions, * and ? wildcards); a trust policy has no Resource.
    return Statement("Allow", tuple(actions), ("*",)).applies("sts:AssumeRole", "*", {})


def _services(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    services = principal.get("Service") if isinstance(principal, dict) else None
    if isinstance(services, str):
        return [services]
    return [service for service in services if isinstance(service, str)] if isinstance(services, list) else []


def trusting_eas(document: Any) -> dict[str, Any]:
    """The trust policy with eas.pai.aliyuncs.com added to the Service array of its first Allow
    sts:AssumeRole statement (other principals kept, as in the guide's before/after); the guide's own policy
    when there is nothing to correct."""
    eas_statement = {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": [EAS_PRINCIPAL]}}
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
        return {"Statement": [eas_statement], "Version": "1"}
    corrected = copy.deepcopy(document)
    statements = corrected["Statement"]
    target = next((statement for statement in statements if _allows_assume_role(statement)), None)
    if target is None:
        statements.append(eas_statement)
        return corrected
    principal = target.get("Principal")
    if not isinstance(principal, dict):
        principal = target["Principal"] = {}
    services = principal.get("Service")
    principal["Service"] = ([services] if isinstance(services, str) else services if isinstance(services, list)
                            else []) + [EAS_PRINCIPAL]
    return corrected


@rule
def role_arn_is_enabled_and_well_formed(project: Project) -> Iterator[Finding]:
    """The guide, step 3: a custom role is "options": {"enable_ram_role": true} together with a role_arn of the
    form acs:ram::<account ID>:role/<role name>; without the option the role is not attached."""
    service = project.service
    if service is None or "role_arn" not in service:
        return
    options = service.get("options")
    enable = {"options": {"enable_ram_role": True}}
    if not isinstance(options, dict):
        yield error(at(SERVICE_JSON, "options"), "is missing, so role_arn is ignored and the instances get no "
                    "credentials", 'add "options": {"enable_ram_role": true} next to role_arn:', snippet=enable)
    elif options.get("enable_ram_role") is not True:
        value = json.dumps(options["enable_ram_role"]) if "enable_ram_role" in options else "missing"
        yield error(at(SERVICE_JSON, "options", "enable_ram_role"), f"is {value}, so role_arn is ignored and the "
                    "instances get no credentials", 'set "enable_ram_role": true (a boolean)')
    arn = service["role_arn"]
    if not (isinstance(arn, str) and ROLE_ARN.match(arn)):
        yield error(at(SERVICE_JSON, "role_arn"), f"{json.dumps(arn)} is not the ARN of a RAM role",
                    "copy the ARN from the role's Basic Information in the RAM console: "
                    "acs:ram::<account ID>:role/<role name>, e.g. acs:ram::1234567890123456:role/my-eas-role")


@rule
def handlers_have_a_role(project: Project) -> Iterator[Finding]:
    """The OSS and MaxCompute handlers take their credentials from the instance's RAM role (the guide's
    credentials endpoint): configured without a role, every call they make fails."""
    if project.service is None or project.role != NO_ROLE:
        return
    configured = [name for name in ("OSS_BUCKET", "ODPS_PROJECT") if project.env.get(name)]
    if configured:
        options = (project.service or {}).get("options")
        where = at(SERVICE_JSON, "options", "enable_ram_role") if isinstance(options, dict) \
            else at(SERVICE_JSON, "options")
        yield error(where, f"the service has no RAM role, but {' and '.join(configured)} in containers[0].env "
                    "enable handlers that need its credentials",
                    'attach a role: "options": {"enable_ram_role": true} (the PAI default role), plus "role_arn" '
                    f"for a custom one — or remove {', '.join(configured)} from containers[0].env")


@rule
def ram_user_may_pass_the_role(project: Project) -> Iterator[Finding]:
    """The guide, "Grant PassRole permission" and "Role not found": a RAM user who deploys needs ram:PassRole on
    the custom role, or the deployment fails with a role error although the role exists."""
    if project.role != CUSTOM_ROLE or project.role_account_and_name is None:
        return
    account, name = project.role_account_and_name
    guide_policy = {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:PassRole", "Resource": f"acs:ram::*:role/{name}"}]}
    if not project.json_file(PASSROLE_POLICY).exists:
        yield warn(PASSROLE_POLICY, f"is missing: a RAM user (not the main account) who deploys needs ram:PassRole "
                   f"on {name}, or the deployment fails with a role error although the role exists",
                   f"create {PASSROLE_POLICY} with the guide's policy below; the main account attaches it to each RAM "
                   "user who deploys (deploying as the main account needs nothing):", snippet=guide_policy)
        return
    policy = project.policy(PASSROLE_POLICY)
    role = f"acs:ram::{account}:role/{name}"
    if policy is not None and not policy.allows("ram:PassRole", role):
        yield error(at(PASSROLE_POLICY, "Statement"), f"does not allow ram:PassRole on {role}: a RAM user deploying "
                    "with it gets a role error although the role exists (the guide's \"Role not found\")",
                    "use the guide's policy with the role name filled in, and have the main account attach it to "
                    "each RAM user who deploys:", snippet=guide_policy)


@rule
def pai_default_role_stays_in_its_reach(project: Project) -> Iterator[Finding]:
    """The guide, "Attach the PAI default role": it reaches only the workspace's default OSS bucket (and, from a
    JSON deployment, only with metadata.workspace_id) and MaxCompute — nothing else."""
    if project.role != PAI_DEFAULT_ROLE:
        return
    bucket = project.env.get("OSS_BUCKET")
    meta = (project.service or {}).get("metadata")
    if bucket and not (isinstance(meta, dict) and meta.get("workspace_id")):
        yield error(at(SERVICE_JSON, "metadata", "workspace_id"), "is missing: deployed from JSON with the PAI "
                    "default role, the OSS SDK gets no access to the workspace's bucket without it (the guide)",
                    'add "workspace_id": "<your PAI workspace ID>" to metadata (PAI console → Workspace details)')
    code = project.code_mount
    if bucket and code is not None and bucket != code.bucket:
        yield error(project.env_where("OSS_BUCKET"), f"OSS_BUCKET is {bucket}, but the PAI default role reaches only "
                    f"the workspace's default bucket ({code.bucket}, where the code is mounted from)",
                    f"set OSS_BUCKET to {code.bucket}, or switch to a custom role (role_arn) granted {bucket}")
    policy = project.policy(PERMISSION_POLICY)
    for index, statement in enumerate(policy.statements if policy else ()):
        foreign = [action for action in statement.actions
                   if statement.effect == "Allow" and action.split(":", 1)[0].lower() not in ("oss", "odps")]
        if foreign:
            yield error(at(PERMISSION_POLICY, "Statement", index, "Action"), f"names {', '.join(foreign)}, but the "
                        "PAI default role has OSS and MaxCompute permissions only",
                        "keep oss:/odps: actions here, or switch to a custom role (role_arn) for other services")


@rule
def endpoints_are_internal_and_in_region(project: Project) -> Iterator[Finding]:
    """The guide, examples: EAS has no internet by default, so OSS and MaxCompute are reached on their internal
    endpoints (oss-<region>-internal, service.<region>-vpc.maxcompute.aliyun-inc.com) of the service's region."""
    region = project.env.get("REGION")
    for index, name, value in project.env_entries:
        if not name.endswith("_ENDPOINT") or not isinstance(value, str):
            continue
        host = urlsplit(value if "//" in value else "//" + value).hostname or ""
        where = at(SERVICE_JSON, "containers", 0, "env", index, "value")
        oss, maxcompute = OSS_HOST.match(host), MAXCOMPUTE_HOST.match(host)
        is_oss = name == "OSS_ENDPOINT" or (name != "ODPS_ENDPOINT" and oss is not None)
        if is_oss:
            expected = f"oss-{region or '<region>'}-internal.aliyuncs.com"
            problems = _endpoint_problems(host, oss, bool(oss and oss["internal"]), region, "OSS")
        elif name == "ODPS_ENDPOINT" or maxcompute:
            expected = f"https://service.{region or '<region>'}-vpc.maxcompute.aliyun-inc.com/api"
            vpc = bool(maxcompute and maxcompute["vpc"] and maxcompute["inc"])
            problems = _endpoint_problems(host, maxcompute, vpc, region, "MaxCompute")
            if not problems and (urlsplit(value).scheme not in ("http", "https") or urlsplit(value).path != "/api"):
                problems = ["pyodps takes the endpoint as a URL ending in /api"]
        else:
            continue
        if problems:
            yield error(where, f"{name}={value}: {'; '.join(problems)}", f"use {expected} (service.json is what EAS "
                        "gets; the local EAS replaces every endpoint with its own loopback one)")
    image = (project.container or {}).get("image")
    registry = IMAGE_REGISTRY_HOST.match(image) if isinstance(image, str) else None
    if registry and region and registry["region"] != region:
        yield warn(at(SERVICE_JSON, "containers", 0, "image"), f"comes from the registry of {registry['region']}, "
                   f"but REGION is {region}: EAS pulls images from its own region's VPC registry",
                   f"use eas-registry-vpc.{region}.cr.aliyuncs.com/…")


def _endpoint_problems(host: str, match: Optional[re.Match[str]], internal: bool, region: Optional[str],
                       service: str) -> list[str]:
    if host in LOOPBACK_HOSTS:
        return ["a loopback address, which EAS instances cannot use"]
    if match is None:
        return [f"not a {service} endpoint"]
    problems = [] if internal else [f"a public {service} endpoint: EAS has no internet access by default, "
                                    "use the internal one"]
    if region and match["region"] != region:
        problems.append(f"in {match['region']}, but REGION is {region}")
    return problems


@rule
def oss_mounts_are_folders_the_role_reads(project: Project) -> Iterator[Finding]:
    """The guide, "Deploy the examples": an OSS mount is a folder (mount path /mnt/data/, source oss://bucket/dir/),
    and EAS mounts it with the role's permissions (the code mount is checked with the other needs)."""
    policy = project.policy(PERMISSION_POLICY) if project.role == CUSTOM_ROLE else None
    for mount in project.oss_mounts:
        if not mount.mount_path.endswith("/"):
            yield error(at(SERVICE_JSON, "storage", mount.index, "mount_path"), f"{mount.mount_path} does not end in /",
                        f"write the folder with its slash: {mount.mount_path}/")
        if mount.prefix and not mount.prefix.endswith("/"):
            source = f"oss://{mount.bucket}/{mount.prefix}"
            yield error(at(SERVICE_JSON, "storage", mount.index, "oss", "path"), f"{source} does not end in /",
                        f"mount a folder: {source}/")
        if policy is None or mount == project.code_mount:
            continue
        readable = [(action, resource) for action, resource in (
            ("oss:ListObjects", project.oss_resource(mount.bucket)),
            ("oss:GetObject", project.oss_resource(mount.bucket, mount.prefix + SAMPLE_KEY)),
        ) if not policy.allows(action, resource, {"oss:Prefix": mount.prefix})]
        if readable:
            yield warn(at(SERVICE_JSON, "storage", mount.index, "oss", "path"),
                       f"the role may not read oss://{mount.bucket}/{mount.prefix} "
                       f"({', '.join(action for action, _ in readable)} is not allowed), so EAS cannot mount it",
                       f"grant it in {PERMISSION_POLICY}:", snippet=[
                           _allow(["oss:ListObjects"], f"acs:oss:*:*:{mount.bucket}"),
                           _allow(["oss:GetObject"], f"acs:oss:*:*:{mount.bucket}/{mount.prefix}*")])


@rule
def port_is_the_bound_port(project: Project) -> Iterator[Finding]:
    """Reference, containers: port is where the EAS gateway sends requests, so it equals what gunicorn binds
    (--bind in the run command, else bind in gunicorn.conf.py) on all interfaces; 8080 and 9090 are EAS's own."""
    container = project.container or {}
    port = container.get("port")
    if not isinstance(port, int) or isinstance(port, bool):
        return
    where = at(SERVICE_JSON, "containers", 0, "port")
    if port in RESERVED_PORTS:
        yield error(where, f"{port} is reserved by EAS (8080 and 9090 are its own)",
                    "use another port, e.g. 8000, here and in the --bind of containers[0].script")
        return
    binds = _gunicorn_binds(project)
    if binds is None:
        return
    source, addresses = binds
    ports = []
    for address in addresses:
        host, bound = _host_and_port(address)
        if bound is None:
            yield error(source, f"binds {address}, not a TCP port: the EAS gateway reaches the service on "
                        "containers[0].port", f"bind 0.0.0.0:{port}")
            return
        if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
            yield error(source, f"binds {address}, a loopback address the EAS gateway cannot reach",
                        f"bind 0.0.0.0:{port}")
            return
        ports.append(bound)
    if port not in ports:
        yield error(where, f"{port} is not the port the service listens on ({', '.join(addresses)} in {source})",
                    "make containers[0].port and the bound port the same: EAS sends requests to containers[0].port")


def _gunicorn_binds(project: Project) -> Optional[tuple[str, list[str]]]:
    """Where gunicorn's bind is set and its addresses; None when the run command does not start gunicorn."""
    command = project.run_command
    if command is None:
        return None
    try:
        lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return None
    binds, config, in_gunicorn = [], None, False
    for position, token in enumerate(tokens):
        following = tokens[position + 1] if position + 1 < len(tokens) else ""
        if token and set(token) <= set(";&|"):
            in_gunicorn = False
        elif posixpath.basename(token) == "gunicorn":
            in_gunicorn = True
        elif in_gunicorn and token in ("--bind", "-b"):
            binds.append(following)
        elif in_gunicorn and token.startswith("--bind="):
            binds.append(token.split("=", 1)[1])
        elif in_gunicorn and token.startswith("-b") and not token.startswith("--"):
            binds.append(token[2:])
        elif in_gunicorn and token in ("--config", "-c"):
            config = following
        elif in_gunicorn and token.startswith("--config="):
            config = token.split("=", 1)[1]
    if "gunicorn" not in (posixpath.basename(token) for token in tokens):
        return None
    where = at(SERVICE_JSON, "containers", 0, "script" if "script" in (project.container or {}) else "command")
    if binds:
        return where, binds
    relative = (project.local_file(config) if config else None) or DEFAULT_GUNICORN_CONF
    configured = _bind_setting(project.text(relative) or "")
    if configured is None:
        return None  # set in a way that cannot be read without running it
    return (relative, configured) if configured else (where, [GUNICORN_DEFAULT_BIND])


def _bind_setting(source: str) -> Optional[list[str]]:
    """``bind`` of a gunicorn config file: [] when it is not set, None when it is not a literal."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    value: Any = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "bind" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return None
    values = [value] if isinstance(value, str) else value
    return list(values) if isinstance(values, (list, tuple)) and all(isinstance(v, str) for v in values) else None


def _host_and_port(address: str) -> tuple[str, Optional[int]]:
    if address.startswith(("unix:", "fd://")):
        return address, None
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "8000")
    return host, int(port) if port.isdigit() else None


@rule
def env_is_strings_once_each(project: Project) -> Iterator[Finding]:
    """Reference, containers: env is a list of {"name", "value": "<string>"}; a name set twice leaves which
    value wins to EAS; the app needs REGION, and each handler its endpoint (app/config.py)."""
    seen: dict[str, int] = {}
    for index, name, value in project.env_entries:
        if value is not MISSING and not isinstance(value, str):
            scalar = isinstance(value, (bool, int, float))
            yield error(at(SERVICE_JSON, "containers", 0, "env", index, "value"),
                        f"{name} is {json.dumps(value)}, not a string: EAS takes env values as strings",
                        f'quote it: "value": "{json.dumps(value)}"' if scalar else 'give it a string, e.g. "value": ""')
        if name in seen:
            yield error(at(SERVICE_JSON, "containers", 0, "env", index, "name"),
                        f"{name} is set twice (env[{seen[name]}] and env[{index}])", "keep one of them")
        seen.setdefault(name, index)
    if project.container is None or not isinstance(project.container.get("env"), list):
        return
    if not project.env.get("REGION"):
        yield error(at(SERVICE_JSON, "containers", 0, "env"), "REGION is not set: the service refuses to start "
                    "without it", 'add {"name": "REGION", "value": "<the service\'s region, e.g. cn-hangzhou>"}')
    for handler, endpoint in (("OSS_BUCKET", "OSS_ENDPOINT"), ("ODPS_PROJECT", "ODPS_ENDPOINT")):
        if project.env.get(handler) and not project.env.get(endpoint):
            yield error(at(SERVICE_JSON, "containers", 0, "env"), f"{handler} is set but {endpoint} is not: the "
                        "service refuses to start", f"add {endpoint} (the internal endpoint of REGION)")


@rule
def requirements_are_pinned_and_mounted(project: Project) -> Iterator[Finding]:
    """Reference, prepare: EAS pip-installs the third-party library list before the run command; pinned with
    == it installs what was tested, and pythonRequirementsPath must point into the code mount."""
    prepare = (project.container or {}).get("prepare")
    prepare = prepare if isinstance(prepare, dict) else {}
    relative = DEFAULT_REQUIREMENTS
    path = prepare.get("pythonRequirementsPath")
    if isinstance(path, str):
        mount = project.code_mount
        local = project.local_file(path)
        if local is None:
            where_mounted = f"the code mount {mount.mount_path}" if mount else "any OSS mount"
            yield error(at(SERVICE_JSON, "containers", 0, "prepare", "pythonRequirementsPath"),
                        f"{path} is outside {where_mounted}: only {MOUNT_DIR}/ is uploaded and mounted, so EAS "
                        "finds no requirements file there",
                        f"point it at the mounted file, e.g. {(mount.mount_path.rstrip('/') if mount else '/mnt/data')}"
                        "/requirements.txt")
        else:
            relative = local
            if not project.exists(relative):
                yield error(relative, f"is missing, but pythonRequirementsPath ({path}) names it",
                            f"create {relative} with the service's pinned requirements, or correct the path")
    for index, spec in enumerate(prepare.get("pythonRequirements") or []):
        if isinstance(spec, str) and _unpinned(spec):
            yield error(at(SERVICE_JSON, "containers", 0, "prepare", "pythonRequirements", index),
                        f"{spec} is not pinned with ==", _pin_fix(spec))
    text = project.text(relative)
    for number, line in _logical_lines(text or ""):
        if line.startswith(("-r", "--requirement", "-c", "--constraint")):
            yield warn(f"{relative}:{number}", f"{line} is not followed by the check",
                       "list every requirement in this file, pinned with ==")
        elif line.startswith(("-e", "--editable")):
            yield error(f"{relative}:{number}", f"{line} is an editable checkout, not pinned with ==",
                        "require a released version pinned with ==, e.g. name==1.2.3")
        elif not line.startswith("-") and _unpinned(line):
            yield error(f"{relative}:{number}", f"{line} is not pinned with ==", _pin_fix(line))


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-empty requirement lines without comments, continuations joined, with their first line number."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*)(?:;.*)?$")


def _unpinned(line: str) -> bool:
    match = REQUIREMENT.match(line.strip())
    return match is None or re.fullmatch(r"==\s*[A-Za-z0-9][A-Za-z0-9.+!_-]*", match["spec"].strip()) is None


def _pin_fix(line: str) -> str:
    match = REQUIREMENT.match(line.strip())
    name = match["name"] if match else re.split(r"[\s\[<>=!~;@]", line.strip(), maxsplit=1)[0]
    try:
        return f"pin the version you test with: {name}=={metadata.version(name)} (installed here)"
    except (metadata.PackageNotFoundError, ValueError):
        return f"pin the version you test with: {name}==<version>"


@rule
def permission_policy_covers_the_handlers(project: Project) -> Iterator[Finding]:
    """The guide, "Grant permissions to the role" (mounts included): the role's permission policy allows every
    action the enabled handlers and the code mount call, on the resources they call it on."""
    if project.role == NO_ROLE or project.service is None:
        return
    needs = project.needs
    if not project.json_file(PERMISSION_POLICY).exists:
        if project.role == CUSTOM_ROLE:
            yield error(PERMISSION_POLICY, "is missing: the custom role needs a permission policy for what the "
                        "service calls", "create it with the least privilege below, and attach it to the role:",
                        snippet={"Version": "1", "Statement": _statements_for(needs)})
        return
    policy = project.policy(PERMISSION_POLICY)
    if policy is None:
        return
    missing: dict[str, list[Need]] = {}
    denied_by: dict[str, set[int]] = {}
    for need in needs:
        context = dict(need.context)
        absent = tuple(action for action in need.actions if not policy.allows(action, need.sample, context))
        if absent:
            missing.setdefault(need.pattern, []).append(Need(need.caller, absent, need.pattern, need.sample))
            denied_by.setdefault(need.pattern, set()).update(
                index for index, statement in enumerate(policy.statements) for action in absent
                if statement.effect == "Deny" and statement.applies(action, need.sample, context))
    documented = (" (for the PAI default role this file writes down what the service does with the role's access; "
                  "the local EAS and this check hold the service to it)") if project.role == PAI_DEFAULT_ROLE else ""
    for pattern, lacking in missing.items():
        actions = list(dict.fromkeys(action for need in lacking for action in need.actions))
        callers = list(dict.fromkeys(need.caller for need in lacking))
        what = f"the role may not call {', '.join(actions)} on {pattern}, needed by {' and '.join(callers)}"
        denials = sorted(denied_by[pattern])
        if denials:
            yield error(at(PERMISSION_POLICY, "Statement"), what, "narrow the Deny in " + ", ".join(
                json_path("Statement", index) for index in denials) + ": an explicit Deny wins over any Allow")
        else:
            yield error(at(PERMISSION_POLICY, "Statement"), what, f"add this statement to {PERMISSION_POLICY} and to "
                        f"the policy attached to the role{documented}:", snippet=_allow(actions, pattern))


def _allow(actions: list[str], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": [resource]}


def _statements_for(needs: list[Need]) -> list[dict[str, Any]]:
    by_resource: dict[str, list[str]] = {}
    for need in needs:
        by_resource.setdefault(need.pattern, [])
        by_resource[need.pattern] += [action for action in need.actions if action not in by_resource[need.pattern]]
    return [_allow(actions, resource) for resource, actions in by_resource.items()]


@rule
def permission_policy_is_least_privilege(project: Project) -> Iterator[Finding]:
    """The guide, "Fine-grained control": a custom role is for granting only what the service needs; a wildcard
    action or a bare * resource grants more than any handler calls."""
    policy = project.policy(PERMISSION_POLICY) if project.role != NO_ROLE else None
    if policy is None:
        return
    needed = list(dict.fromkeys(action for need in project.needs for action in need.actions))
    for index, statement in enumerate(policy.statements):
        if statement.effect != "Allow":
            continue
        broad = [action for action in statement.actions if "*" in action]
        if broad:
            services = {action.split(":", 1)[0].lower() for action in broad}
            listed = [action for action in needed if action.split(":", 1)[0] in services or "*" in services]
            yield warn(at(PERMISSION_POLICY, "Statement", index, "Action"),
                       f"{', '.join(broad)} allows more actions than the service calls",
                       "list the actions instead" + (f": {', '.join(listed)}" if listed else ""))
        if "*" in statement.resources:
            yield warn(at(PERMISSION_POLICY, "Statement", index, "Resource"), "* allows every resource",
                       "name the bucket and prefix (acs:oss:*:*:<bucket>/<prefix>*) or the project "
                       "(acs:odps:*:projects/<project>…) the service uses")


@rule
def sql_route_role_cannot_write_to_maxcompute(project: Project) -> Iterator[Finding]:
    """Defence in depth for ``POST /maxcompute/sql``: the SQL guard lets only a read-only SELECT through, and the
    role must not be able to write either, so that a statement the guard misjudged still changes nothing."""
    odps_project = project.env.get("ODPS_PROJECT")
    if project.role == NO_ROLE or not odps_project or not project.exists("mount/app/routes/maxcompute_sql.py"):
        return
    policy = project.policy(PERMISSION_POLICY)
    if policy is None:
        return
    arn = f"acs:odps:*:projects/{odps_project}"
    samples = [arn] + [f"{arn}/{kind}/{SAMPLE_TABLE}" for kind in ("tables", "instances", "functions", "resources")]
    granted: dict[int, list[str]] = {}
    for action in MAXCOMPUTE_WRITE_ACTIONS:
        allowed_on = [resource for resource in samples if policy.allows(action, resource)]
        for index, statement in enumerate(policy.statements):
            if statement.effect == "Allow" and any(statement.applies(action, resource, {}) for resource in allowed_on):
                granted.setdefault(index, []).append(action)
    for index, actions in sorted(granted.items()):
        yield error(at(PERMISSION_POLICY, "Statement", index, "Action"),
                    f"grants the role {', '.join(actions)} in MaxCompute; with POST /maxcompute/sql the role must "
                    "only read, so that a statement the SQL guard misjudged still cannot change data",
                    f"grant {arn} odps:List and odps:CreateInstance, its tables/* odps:Describe, odps:Select and "
                    "odps:Download, its instances/* odps:Read, and nothing that writes")
