"""The doctor's rule for MaxCompute's side of a custom RAM role: ``ram/maxcompute-project.sql``.

MaxCompute authenticates RAM identities but decides access to a project's objects itself ("MaxCompute
recognizes the RAM account system but not the RAM permission system", *User planning and management*): a
custom role that RAM allows to call MaxCompute is still refused with ``ODPS-0420095: Access Denied -
Authorization Failed [4002], You don't exist in project <p>.`` until the project owner adds it to the project
(``add user `RAM$<account>:role/<role>```) and grants it what the service does there. The project's file says
so, and ``make dev`` applies it to the local MaxCompute at every start.

The rule runs the file through the model the local MaxCompute uses
(:mod:`eas_devkit.local.maxcompute.project_security`), as the project owner, with every table taken to exist,
then asks it what the handlers ask: may the role list the project's tables (List), read a table's schema and
rows (Describe, Select), and, with ``POST /maxcompute/sql``, create an instance (CreateInstance)?
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from ....local.maxcompute.errors import OdpsError
from ....local.maxcompute.project_security import OWNER, USER, Caller, ProjectSecurity
from ....local.maxcompute.security_file import PROJECT_GRANTS_FILE
from ....local.maxcompute.security_statements import (
    GrantPrivileges,
    StatementSyntaxError,
    UnsupportedStatement,
    parse,
    split_statements,
)
from ..findings import Finding, error, warn
from ..project import Project

SQL_ROUTE = "mount/app/routes/maxcompute_sql.py"
SAMPLE_TABLE = "doctor_check"  # a table the file cannot have named: a grant must cover every table
POLICY = 'privilegeproperties("policy" = "true", "allow" = "true")'


@dataclass(frozen=True)
class GrantNeed:
    """A privilege one part of the service needs in the project, and a resource to ask about."""

    caller: str
    action: str  # odps:List...
    resource: str


def maxcompute_project_grants(project: Project) -> Iterator[Finding]:
    """MaxCompute's own authorization: a custom role must be added to the service's MaxCompute project and granted
    the privileges its handlers use there (``ram/maxcompute-project.sql``, run by the project owner); RAM's
    permission policy alone gets ``Authorization Failed [4002], You don't exist in project``."""

    odps_project = project.env.get("ODPS_PROJECT")
    role = project.role_account_and_name
    if project.role != "custom" or not odps_project or role is None:
        return
    account, role_name = role
    user = f"`RAM${account}:role/{role_name}`"
    recommended = recommended_statements(odps_project, account, role_name, project_role_name(project),
                                         project.exists(SQL_ROUTE))
    text = project.text(PROJECT_GRANTS_FILE)
    if text is None:
        yield error(PROJECT_GRANTS_FILE, f"is missing: the role {role_name} is not a user of the MaxCompute project "
                                         f"{odps_project}, which refuses its requests (Authorization Failed [4002], "
                                         f"You don't exist in project {odps_project}.) whatever RAM allows",
                    f"create it with these statements and run it as the project owner (odpscmd "
                    f"--project={odps_project} -f {PROJECT_GRANTS_FILE}): {' '.join(recommended)}")
        return
    security = ProjectSecurity(lambda _key: None, account, lambda _project, _table: True)
    owner = Caller(f"ALIYUN${account}", OWNER)
    named_tables: set[str] = set()
    try:
        statements = split_statements(text)
    except StatementSyntaxError as problem:
        yield error(f"{PROJECT_GRANTS_FILE}:{problem.line}", problem.detail, "close the quote or backtick")
        return
    for statement in statements:
        try:
            security.run(odps_project, owner, statement.text)
        except OdpsError as refused:
            yield error(f"{PROJECT_GRANTS_FILE}:{statement.line}",
                        f"MaxCompute (and the local one, at `make dev`) refuses {statement.text}: {refused.message}",
                        f"correct it; the statements the service needs are: {' '.join(recommended)}")
            return
        named_tables.update(_tables_named(statement.text))
    caller = Caller(f"RAM${account}:role/{role_name}", USER)
    if security.member(odps_project, caller) is not None:
        yield error(PROJECT_GRANTS_FILE, f"does not add the role {role_name} to the project {odps_project} (the user "
                                         f"{user}, from service.json's role_arn): MaxCompute refuses its requests "
                                         f"(Authorization Failed [4002], You don't exist in project {odps_project}.)",
                    f"add: add user {user}; and grant it what the service needs: {' '.join(recommended[1:])}")
        return
    for need in grant_needs(odps_project, project.exists(SQL_ROUTE)):
        if security.decide(odps_project, caller, need.action, need.resource) is None:
            continue
        privilege = need.action.split(":", 1)[1]
        if "/tables/" in need.resource:
            granted = sorted(table for table in named_tables if security.decide(
                odps_project, caller, need.action, need.resource.replace(SAMPLE_TABLE, table)) is None)
            if granted:
                yield warn(PROJECT_GRANTS_FILE, f"grants the role {privilege} on the tables {', '.join(granted)} "
                                                f"only: {need.caller} refuse any other table",
                           f"if the service reads other tables, grant {privilege} on them too, or on every table: "
                           f"grant {privilege} on table * to role <role> {POLICY};")
                continue
            fix = (f"grant it on every table to a project role of the user: grant {privilege} on table * to role "
                   f"<role> {POLICY};")
        else:
            fix = f"grant it to a project role of the user: grant {privilege} on project {odps_project} to role <role>;"
        yield error(PROJECT_GRANTS_FILE, f"does not grant the role {role_name} {privilege} (used by {need.caller}): "
                                         f"MaxCompute refuses it (Authorization Failed [4019], You have NO privilege "
                                         f"'{need.action}' on {{{need.resource}}}.)", fix)


def grant_needs(odps_project: str, sql_route: bool) -> list[GrantNeed]:
    """What the handlers do in the project, as MaxCompute checks it. An instance's creator may read it, and
    tunnel downloads need Select (download control is off in a new project)."""
    project_arn = f"acs:odps:*:projects/{odps_project}"
    table = f"{project_arn}/tables/{SAMPLE_TABLE}"
    needs = [GrantNeed("GET /maxcompute/tables", "odps:List", project_arn),
             GrantNeed("the /maxcompute/tables/<name> routes", "odps:Describe", table),
             GrantNeed("the /maxcompute/tables/<name> routes", "odps:Select", table)]
    if sql_route:
        needs.append(GrantNeed("POST /maxcompute/sql", "odps:CreateInstance", project_arn))
    return needs


def recommended_statements(odps_project: str, account: str, role_name: str, project_role: str,
                           sql_route: bool) -> list[str]:
    """The statements the template writes into ``ram/maxcompute-project.sql``, comments aside."""
    user = f"`RAM${account}:role/{role_name}`"
    project_privileges = "List, CreateInstance" if sql_route else "List"
    return [f"add user {user};",
            f"create role {project_role};",
            f"grant {project_privileges} on project {odps_project} to role {project_role};",
            f"grant Describe, Select on table * to role {project_role} {POLICY};",
            f"grant {project_role} to {user};"]


def project_role_name(project: Project) -> str:
    """The template's name for the service's project role: ``<service name>_reader``."""
    metadata: Any = (project.service or {}).get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{name}_reader" if isinstance(name, str) and name else "eas_service_reader"


def _tables_named(text: str) -> set[str]:
    """The tables an ACL grant of the statement names (not a pattern)."""
    try:
        statement: Optional[Any] = parse(text)
    except (StatementSyntaxError, UnsupportedStatement):
        return set()
    if (isinstance(statement, GrantPrivileges) and statement.object_type == "table" and not statement.revoke
            and "*" not in statement.object_name and "?" not in statement.object_name):
        return {statement.object_name}
    return set()


RULES = (maxcompute_project_grants,)
