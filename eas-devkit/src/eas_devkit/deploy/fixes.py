"""The deployment failures we know, each recognised in a Warning event and paired with its fix.

The first two are the guide's troubleshooting cases, with its words; the rest are what the template's own
layout can run into. Events are matched by their reason or message, as EAS writes them; an event that
matches nothing is printed as it came, so nothing EAS says is ever hidden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .eas import Event


@dataclass(frozen=True)
class KnownProblem:
    title: str
    pattern: re.Pattern[str]  # searched in "<reason>: <message>"
    fix: str


KNOWN_PROBLEMS = (
    KnownProblem(
        "Failed to assume role",
        re.compile(r"failed to assume role", re.IGNORECASE),
        "The RAM role's trust policy does not include eas.pai.aliyuncs.com as a trusted principal. To fix this:\n"
        "  1. Log on to the RAM console as a RAM administrator.\n"
        "  2. In the left navigation pane, choose Identities > Roles.\n"
        "  3. Click the name of the target RAM role.\n"
        "  4. On the Trust Policy tab, click Edit Trust Policy.\n"
        "  5. In the Service array, add \"eas.pai.aliyuncs.com\" and click OK.\n"
        "ram/trust-policy.json is the policy to paste (`make check` prints it corrected if yours lacks the "
        "principal); on the local EAS, `eas-devkit local ram sync` restores it.",
    ),
    KnownProblem(
        "The deploying RAM user lacks ram:PassRole",
        re.compile(r"PassRoleDenied|not authorized to perform ram:PassRole", re.IGNORECASE),
        "The role exists, but the RAM user deploying the service lacks ram:PassRole permission on it. Ask the "
        "primary account to attach ram/passrole-policy.json (it names the role of service.json already) to this "
        "RAM user (RAM console > Identities > Users > the user > Permissions > Grant Permission, or `aliyun ram "
        "AttachPolicyToUser`, see docs/ram-role.md, \"Creating the role and granting PassRole\"); on the local EAS, "
        "`eas-devkit local ram sync`.",
    ),
    KnownProblem(
        "Role not found",
        re.compile(r"RoleNotFound|EntityNotExist\.Role|role \S+ (?:is )?not found|role does not exist", re.IGNORECASE),
        "Check in the RAM console whether the role exists.\n"
        "  - Role doesn't exist: update the service configuration (role_arn in service.json) to reference an "
        "existing role name, or create the role as docs/ram-role.md shows (\"Creating the role and granting "
        "PassRole\").\n"
        "  - Role exists but error persists: the RAM user deploying the service lacks ram:PassRole permission. "
        "Ask the primary account to attach ram/passrole-policy.json (it names the role of service.json already).\n"
        "On the local EAS, `eas-devkit local ram sync` recreates the role from ram/.",
    ),
    KnownProblem(
        "The code mount is empty",
        re.compile(r"MountFailed|failed to mount", re.IGNORECASE),
        "Nothing was found at the storage[0].oss.path of service.json. `make deploy` uploads mount/ there before "
        "creating the service; check that the bucket and the prefix in service.json are the ones it uploaded to.",
    ),
    KnownProblem(
        "The run command did not start the service",
        re.compile(r"InstanceFailed|InstanceExited|exited with status|did not answer", re.IGNORECASE),
        "containers[0].script exited, or never got ready on containers[0].port (the port accepting connections, "
        "or containers[0].readiness_check when declared). Its last output is in "
        "the event above; reproduce with `make dev` (the same command, the same mount, the same env) and "
        "`make check` (port and bind).",
    ),
)


def known_problem(event: Event) -> Optional[KnownProblem]:
    text = f"{event.reason}: {event.message}"
    return next((problem for problem in KNOWN_PROBLEMS if problem.pattern.search(text)), None)
