"""Who may do what in the projects of the local MaxCompute: their users, roles and grants, kept as MaxCompute
keeps them and changed by the security statements of :mod:`.security_statements`.

MaxCompute authenticates RAM identities but decides access to a project's objects itself ("MaxCompute
recognizes the RAM account system but not the RAM permission system", *User planning and management*). So a
request of a caller who is neither the project owner nor a role acting for it passes only if

1. the caller was added to the project (``add user``), else ``Authorization Failed [4002], You don't exist in
   project <p>.``;
2. no policy grant of one of its roles denies the action (``[4011] ... Explicitly denied by policy.``);
3. an ACL grant to the caller or to one of its roles, or a policy grant of one of its roles, allows it — or the
   caller created the object (an instance it ran): else ``[4019], You have NO privilege '<action>' on {<resource>}.``

A removed user keeps its grants and roles; added back, it has them again (as MaxCompute documents). ACL grants
name existing objects (a table must exist) and never use wildcards; policy grants go to roles and may
(``table *``). ``odps:Download`` is not checked: download control is off in a new project, and tunnel
downloads need Select.

The state lives in memory: the local EAS builds it afresh at every start from ``ram/maxcompute-project.sql``,
as it builds its RAM from ``ram/``. Statements run by the project owner only (MaxCompute also lets the
Super_Administrator and Admin roles); ``whoami`` and ``show grants`` for oneself by any member.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .errors import OdpsError, denied_by_policy, no_privilege, not_a_member
from .security_statements import (
    AddUser,
    CreateRole,
    DescribeRole,
    DropRole,
    GrantPrivileges,
    GrantRoles,
    ListRoles,
    ListUsers,
    Principal,
    RemoveUser,
    ShowGrants,
    Statement,
    StatementSyntaxError,
    UnsupportedStatement,
    WhoAmI,
    parse,
)

OWNER, SERVICE_LINKED, USER = "owner", "service-linked", "user"
DONE = "OK"  # the JSON result of a statement that changes something (what the MaxCompute client prints)
_RESOURCE = re.compile(r"acs:odps:[^:]*:projects/(?P<project>[^/]+)(?:/(?P<kind>tables|instances)/(?P<name>[^/]+))?")
_KIND = {"tables": "table", "instances": "instance"}
UNCHECKED_ACTIONS = ("odps:Download",)  # download control: off by default


@dataclass(frozen=True)
class Caller:
    """Who signed a request, as MaxCompute names the principal: ``ALIYUN$<account>``, ``RAM$<account>:<user>``,
    ``RAM$<account>:role/<role>``. ``kind`` OWNER (the project owner: anything), SERVICE_LINKED (a role
    acting with the owner's permissions, the PAI default role) or USER (held to membership and grants)."""

    name: str
    kind: str = USER


@dataclass(frozen=True)
class Refusal:
    """Why a caller may not: ``detail`` is MaxCompute's ``Authorization Failed [...]`` text."""

    detail: str


@dataclass(frozen=True)
class _Grant:
    effect: str  # Allow or Deny (Deny only in policy grants)
    actions: frozenset[str]  # Select, CreateInstance... or All
    object_type: str  # project or table
    object_name: str  # the name; in a policy grant, a pattern with * and ?
    policy: bool

    def matches(self, action: str, object_type: str, name: str) -> bool:
        if object_type != self.object_type or not (action in self.actions or "All" in self.actions):
            return False
        if self.policy:
            return _wildcard(self.object_name.lower(), name.lower())
        return self.object_name.lower() == name.lower()

    def describe(self, project: str) -> dict[str, Any]:
        where = f"projects/{project}" + (f"/tables/{self.object_name}" if self.object_type == "table" else "")
        return {"Object": where, "Actions": sorted(self.actions), "Effect": self.effect,
                "Type": "Policy" if self.policy else "ACL"}


@dataclass
class _Role:
    name: str
    users: set[str] = field(default_factory=set)  # lower-case principals
    grants: list[_Grant] = field(default_factory=list)


class ProjectAcl:
    """One project's users, roles and grants. Principals and role names compare case-insensitively."""

    def __init__(self, project: str, owner_account: str, table_exists: Callable[[str], bool]) -> None:
        self.project = project
        self.owner_account = owner_account
        self._table_exists = table_exists
        self._users: dict[str, str] = {}  # lower-case principal -> as added
        self._user_grants: dict[str, list[_Grant]] = {}  # kept when the user is removed
        self._roles: dict[str, _Role] = {}

    # Deciding

    def decide(self, caller: Caller, action: str, resource: str, creator: Optional[str] = None) -> Optional[Refusal]:
        """None if ``caller`` may perform ``action`` (``odps:Select``) on ``resource``
        (``acs:odps:*:projects/<p>/tables/<t>``), else the refusal."""
        if caller.kind in (OWNER, SERVICE_LINKED):
            return None
        member = self.member(caller)
        if member is not None:
            return member
        if action in UNCHECKED_ACTIONS:
            return None
        match = _RESOURCE.fullmatch(resource)
        if match is None or match["project"].lower() != self.project.lower():
            return Refusal(no_privilege(action, resource))
        object_type = _KIND.get(match["kind"] or "", "project")
        name = match["name"] or match["project"]
        if object_type == "instance" and creator is not None and creator.lower() == caller.name.lower():
            return None  # the creator of an object may do anything with it
        privilege = action.split(":", 1)[-1]
        grants = self._grants_of(caller.name.lower())
        if any(grant.effect == "Deny" and grant.matches(privilege, object_type, name) for grant in grants):
            return Refusal(denied_by_policy(action, resource))
        if any(grant.effect == "Allow" and grant.matches(privilege, object_type, name) for grant in grants):
            return None
        return Refusal(no_privilege(action, resource))

    def member(self, caller: Caller) -> Optional[Refusal]:
        """None if ``caller`` is the owner, acts for it, or was added to the project."""
        if caller.kind in (OWNER, SERVICE_LINKED) or caller.name.lower() in self._users:
            return None
        return Refusal(not_a_member(self.project))

    def _grants_of(self, principal: str) -> list[_Grant]:
        grants = list(self._user_grants.get(principal, []))
        for role in self._roles.values():
            if principal in role.users:
                grants += role.grants
        return grants

    # Statements

    def execute(self, statement: Statement, caller: Caller) -> Any:
        """Run one parsed statement as ``caller``; its JSON result, or an OdpsError as MaxCompute refuses it."""
        if isinstance(statement, WhoAmI):
            return {"DisplayName": caller.name, "ID": caller.name}
        if isinstance(statement, ShowGrants) and statement.user is None:
            refusal = self.member(caller)
            if refusal is not None:
                raise OdpsError(403, "NoPermission", f"ODPS-0420095: Access Denied - {refusal.detail}")
            return self._grants_document(caller.name.lower())
        if caller.kind != OWNER:
            refusal = self.member(caller)
            detail = refusal.detail if refusal is not None else (
                f"Authorization Failed [4019], You have NO privilege to run security statements in project "
                f"{self.project}: the local MaxCompute runs them for the project owner only (MaxCompute also for "
                "the Super_Administrator and Admin roles).")
            raise OdpsError(403, "NoPermission", f"ODPS-0420095: Access Denied - {detail}")
        handler = getattr(self, "_" + type(statement).__name__)
        return handler(statement)

    def _AddUser(self, statement: AddUser) -> Any:  # noqa: N802 - named after the statement class
        name = self._own(statement.user)
        if name.lower() in self._users:
            raise OdpsError(409, "ObjectAlreadyExists", f"User {name} already exists in project {self.project}.")
        self._users[name.lower()] = name
        return DONE

    def _RemoveUser(self, statement: RemoveUser) -> Any:  # noqa: N802
        name = self._existing_user(statement.user)
        del self._users[name.lower()]  # its grants and roles stay, as MaxCompute keeps them
        return DONE

    def _ListUsers(self, _statement: ListUsers) -> Any:  # noqa: N802
        return sorted(self._users.values(), key=str.lower)

    def _CreateRole(self, statement: CreateRole) -> Any:  # noqa: N802
        if statement.name.lower() in self._roles:
            raise OdpsError(409, "ObjectAlreadyExists", f"Role {statement.name} already exists in project "
                                                        f"{self.project}.")
        self._roles[statement.name.lower()] = _Role(statement.name)
        return DONE

    def _DropRole(self, statement: DropRole) -> Any:  # noqa: N802
        role = self._role(statement.name)
        if role.users:
            users = ", ".join(sorted(self._users.get(user, user) for user in role.users))
            raise OdpsError(400, "InvalidArgument", f"Role {role.name} is granted to {users}: revoke it from them "
                                                    "before dropping it.")
        del self._roles[role.name.lower()]
        return DONE

    def _ListRoles(self, _statement: ListRoles) -> Any:  # noqa: N802
        return sorted((role.name for role in self._roles.values()), key=str.lower)

    def _DescribeRole(self, statement: DescribeRole) -> Any:  # noqa: N802
        role = self._role(statement.name)
        return {"Name": role.name, "Users": sorted(self._users.get(user, user) for user in role.users),
                "Grants": [grant.describe(self.project) for grant in role.grants]}

    def _GrantRoles(self, statement: GrantRoles) -> Any:  # noqa: N802
        name = self._existing_user(statement.user)
        roles = [self._role(role_name) for role_name in statement.roles]
        for role in roles:
            if statement.revoke:
                role.users.discard(name.lower())
            else:
                role.users.add(name.lower())
        return DONE

    def _GrantPrivileges(self, statement: GrantPrivileges) -> Any:  # noqa: N802
        grant = self._grant(statement)
        if statement.grantee_type == "role":
            grants = self._role(str(statement.grantee)).grants
        else:
            assert isinstance(statement.grantee, Principal)
            grants = self._user_grants.setdefault(self._existing_user(statement.grantee).lower(), [])
        if statement.revoke:
            grants[:] = [kept for kept in grants if kept != grant]
        elif grant not in grants:
            grants.append(grant)
        return DONE

    def _ShowGrants(self, statement: ShowGrants) -> Any:  # noqa: N802
        assert statement.user is not None
        return self._grants_document(self._own(statement.user).lower())

    # Pieces

    def _grant(self, statement: GrantPrivileges) -> _Grant:
        object_name = statement.object_name
        wildcard = "*" in object_name or "?" in object_name
        if statement.policy and statement.grantee_type != "role":
            raise OdpsError(400, "InvalidArgument", "Policy-based access control grants permissions only to roles: "
                                                    "grant to role <name>, then grant the role to the user.")
        if not statement.policy and wildcard:
            raise OdpsError(400, "InvalidArgument", f"An ACL grant names an existing {statement.object_type}, not "
                                                    f"{object_name!r}: for every table, grant to a role with "
                                                    "privilegeproperties(\"policy\" = \"true\", \"allow\" = \"true\").")
        if statement.object_type == "project" and not wildcard and object_name.lower() != self.project.lower():
            raise OdpsError(400, "InvalidArgument", f"Project {object_name} is not this project ({self.project}): "
                                                    "run the statements in the project they grant on.")
        if statement.object_type == "table" and not wildcard and not self._table_exists(object_name):
            raise OdpsError(404, "NoSuchObject", f"ODPS-0130131:Table not found - '{self.project}.{object_name}'.")
        return _Grant(statement.effect, frozenset(statement.actions), statement.object_type, object_name,
                      statement.policy)

    def _own(self, principal: Principal) -> str:
        """The principal's full name; a RAM user or role must belong to the owner's account."""
        if principal.kind != "account" and principal.account not in (None, self.owner_account):
            raise OdpsError(400, "InvalidArgument", f"{principal.qualified(self.owner_account)} belongs to account "
                                                    f"{principal.account}: a project adds the RAM users and roles "
                                                    f"of its owner's account ({self.owner_account}) only.")
        return principal.qualified(self.owner_account)

    def _existing_user(self, principal: Principal) -> str:
        name = self._own(principal)
        if name.lower() not in self._users:
            raise OdpsError(404, "NoSuchObject", f"User {name} does not exist in project {self.project}: add it "
                                                 "first (add user).")
        return self._users[name.lower()]

    def _role(self, name: str) -> _Role:
        role = self._roles.get(name.lower())
        if role is None:
            raise OdpsError(404, "NoSuchObject", f"Role {name} does not exist in project {self.project}.")
        return role

    def _grants_document(self, principal: str) -> dict[str, Any]:
        roles = sorted((role for role in self._roles.values() if principal in role.users),
                       key=lambda role: role.name.lower())
        return {"Roles": [role.name for role in roles],
                "Grants": [grant.describe(self.project) for grant in self._user_grants.get(principal, [])],
                "RoleGrants": {role.name: [grant.describe(self.project) for grant in role.grants] for role in roles}}


class ProjectSecurity:
    """The security of every project of a local MaxCompute.

    ``identify(access_key_id)`` tells who signed (None: nobody known, treated as a user of no project);
    ``owner_account`` is the account that owns the projects (whose RAM users and roles they may add);
    ``table_exists(project, table)`` answers for ACL grants, which name existing tables. One lock serialises
    the statements and the decisions, so a request never sees a statement half applied.
    """

    def __init__(self, identify: Callable[[str], Optional[Caller]], owner_account: str,
                 table_exists: Callable[[str, str], bool]) -> None:
        self.identify = identify
        self.owner_account = owner_account
        self._table_exists = table_exists
        self._lock = threading.RLock()
        self._projects: dict[str, ProjectAcl] = {}

    def caller(self, access_key_id: str) -> Caller:
        return self.identify(access_key_id) or Caller(f"unknown AccessKey {access_key_id[:8]}...")

    def acl(self, project: str) -> ProjectAcl:
        with self._lock:
            if project.lower() not in self._projects:
                self._projects[project.lower()] = ProjectAcl(
                    project, self.owner_account, lambda table: self._table_exists(project, table))
            return self._projects[project.lower()]

    def decide(self, project: str, caller: Caller, action: str, resource: str,
               creator: Optional[str] = None) -> Optional[Refusal]:
        with self._lock:
            return self.acl(project).decide(caller, action, resource, creator)

    def member(self, project: str, caller: Caller) -> Optional[Refusal]:
        with self._lock:
            return self.acl(project).member(caller)

    def run(self, project: str, caller: Caller, query: str) -> Any:
        """Parse and run one statement; the JSON result, or an OdpsError as MaxCompute answers a refusal."""
        try:
            statement = parse(query)
        except StatementSyntaxError as problem:
            raise OdpsError(400, "ParseError", f"ODPS-0130161:[{problem.line},{problem.column}] Parse exception - "
                                               f"{problem.detail}") from None
        except UnsupportedStatement as problem:
            what = str(problem)
            raise OdpsError(501, "NotImplemented", f"{what[:1].upper()}{what[1:]} is not implemented by the local "
                                                   "MaxCompute.") from None
        with self._lock:
            return self.acl(project).execute(statement, caller)


def _wildcard(pattern: str, value: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value) is not None
