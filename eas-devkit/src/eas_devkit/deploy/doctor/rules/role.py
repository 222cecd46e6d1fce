"""Rules: the service's RAM role as the guide ("Configure the EAS RAM role") sets it up — the trust policy names
EAS, role_arn is enabled and well formed, a RAM user may pass the role, handlers have a role, and the PAI default
role is used within its reach."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from ....local.ram import Statement
from ..findings import Finding, at, error, warn
from ..project import (
    CUSTOM_ROLE,
    NO_ROLE,
    PAI_DEFAULT_ROLE,
    PASSROLE_POLICY,
    PERMISSION_POLICY,
    ROLE_ARN,
    SERVICE_JSON,
    TRUST_POLICY,
    Project,
)

EAS_PRINCIPAL = "eas.pai.aliyuncs.com"
# The guide's "Failed to assume role" symptom, verbatim.
ASSUME_ROLE_ERROR = ("failed to assume role for user, reason: You are not authorized to do this action. "
                     "You should be authorized by RAM.")


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


RULES = (trust_policy_lets_eas_assume_the_role, role_arn_is_enabled_and_well_formed, handlers_have_a_role,
         ram_user_may_pass_the_role, pai_default_role_stays_in_its_reach)
