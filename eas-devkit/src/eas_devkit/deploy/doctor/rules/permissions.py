"""Rules: the permission policy allows what the service and EAS do with the role (the handlers, the mounts, a
custom image's pull), and nothing broader — with the SQL route, nothing that writes to MaxCompute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding, at, error, json_path, warn
from ..needs import ACR_TOKEN_ACTION, SAMPLE_TABLE, Need
from ..project import CUSTOM_ROLE, NO_ROLE, PAI_DEFAULT_ROLE, PERMISSION_POLICY, SQL_ROUTE, Project

# What lets a RAM role change a MaxCompute project: the ACL actions on the project (Write, Create<object> but
# CreateInstance, which running a SELECT needs), on tables (Alter, Update, Drop), on functions, resources,
# instances and the like (Write, Delete, Execute), All; and the management API's own.
MAXCOMPUTE_WRITE_ACTIONS = (
    "odps:Write", "odps:Update", "odps:Alter", "odps:Drop", "odps:Delete", "odps:Execute", "odps:All",
    "odps:CreateTable", "odps:CreateFunction", "odps:CreateResource", "odps:CreateJob", "odps:CreateVolume",
    "odps:CreateOfflineModel", "odps:CreateXflow", "odps:CreateProject", "odps:UpdateProject", "odps:DeleteProject",
)
# Actions RAM authorises on * only (ACR's "RAM authorization information": GetAuthorizationToken | *).
RESOURCE_STAR_ONLY = (ACR_TOKEN_ACTION,)


def permission_policy_covers_the_handlers(project: Project) -> Iterator[Finding]:
    """The guide, "Grant permissions to the role" (mounts included): the role's permission policy allows every
    action the enabled handlers and the code mount call, on the resources they call it on; with a custom role,
    also what EAS does with it while deploying (a NAS mount, pulling a custom image: ``needs.py``)."""
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
        absent = tuple(action for action in need.actions
                       if not any(policy.allows(action, sample, context) for sample in (need.sample, *need.also)))
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
                        f"the policy attached to the role{documented}:", snippet=allow(actions, pattern))


def allow(actions: list[str], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": [resource]}


def _statements_for(needs: list[Need]) -> list[dict[str, Any]]:
    by_resource: dict[str, list[str]] = {}
    for need in needs:
        by_resource.setdefault(need.pattern, [])
        by_resource[need.pattern] += [action for action in need.actions if action not in by_resource[need.pattern]]
    return [allow(actions, resource) for resource, actions in by_resource.items()]


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
        if "*" in statement.resources and not all(action in RESOURCE_STAR_ONLY for action in statement.actions):
            yield warn(at(PERMISSION_POLICY, "Statement", index, "Resource"), "* allows every resource",
                       "name the bucket and prefix (acs:oss:*:*:<bucket>/<prefix>*) or the project "
                       "(acs:odps:*:projects/<project>…) the service uses")


def sql_route_role_cannot_write_to_maxcompute(project: Project) -> Iterator[Finding]:
    """Defence in depth for ``POST /maxcompute/sql``: the SQL guard lets only a read-only SELECT through, and the
    role must not be able to write either, so that a statement the guard misjudged still changes nothing."""
    odps_project = project.env.get("ODPS_PROJECT")
    if project.role == NO_ROLE or not odps_project or not project.exists(SQL_ROUTE):
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


RULES = (permission_policy_covers_the_handlers, permission_policy_is_least_privilege,
         sql_route_role_cannot_write_to_maxcompute)
