"""MaxCompute's security statements, parsed: the ones that add a RAM role to a project and grant it privileges.

MaxCompute decides who may do what in a project itself: a RAM identity must be added to the project
(``add user``) and granted privileges there (``grant``). The statements, as the MaxCompute documentation
writes them (*ADD USER*, *GRANT*, *Policy-based access control*, *Permission command set*)::

    add user `RAM$<account_id>:role/<role_name>`;          -- a RAM role: the backticks are required
    remove user `RAM$<account_id>:role/<role_name>`;
    list users;
    create role <name>;  drop role <name>;  list roles;  describe role <name>;
    grant <role>[, <role>...] to <user>;   revoke <role>[, ...] from <user>;
    grant <action>[, ...] on {project|table} <name> to {user|role} <name>
        [privilegeproperties("policy" = "true", "allow" = "true")];
    revoke <action>[, ...] on {project|table} <name> from {user|role} <name> [privilegeproperties(...)];
    show grants [for <user>];
    whoami;

:func:`split_statements` cuts a file of them (``--`` comments, one statement a ``;``) the way the MaxCompute
client runs a file (``odpscmd -f``); :func:`parse` turns one into a statement object. A statement that is not
well formed raises :class:`StatementSyntaxError` (line and column, and what was expected); one that MaxCompute
has but this module does not (grants on functions or resources, ``conditions``, column lists...) raises
:class:`UnsupportedStatement`, naming it. Keywords are case-insensitive, as in MaxCompute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Union

# The privileges of the objects supported here, as the MaxCompute documentation lists them ("MaxCompute
# permissions"): All stands for every one of its object's.
PROJECT_ACTIONS = ("Read", "Write", "List", "CreateTable", "CreateInstance", "CreateFunction", "CreateResource",
                   "All")
TABLE_ACTIONS = ("Describe", "Select", "Alter", "Update", "Drop", "ShowHistory", "All")
OBJECT_ACTIONS = {"project": PROJECT_ACTIONS, "table": TABLE_ACTIONS}
OTHER_OBJECT_TYPES = ("function", "resource", "instance", "package", "volume", "job", "model", "offlinemodel",
                      "xflow", "view", "schema")
PRIVILEGE_PROPERTIES = ("policy", "allow", "deny")
ROLE_PRINCIPAL = re.compile(r"RAM\$(?P<account>[^:`\s]+):role/(?P<role>[A-Za-z0-9._-]{1,64})", re.IGNORECASE)
ACCOUNT_PRINCIPAL = re.compile(r"ALIYUN\$(?P<account>[A-Za-z0-9._@-]+)", re.IGNORECASE)
RAM_USER_PRINCIPAL = re.compile(r"RAM\$(?:(?P<account>[A-Za-z0-9._@-]+):)?(?P<user>[A-Za-z0-9._@-]+)", re.IGNORECASE)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
OBJECT_NAME = re.compile(r"[A-Za-z0-9_*?]{1,128}")


class StatementSyntaxError(ValueError):
    """Not a statement MaxCompute would parse: ``line`` and ``column`` (from 1) of the token at fault."""

    def __init__(self, detail: str, line: int = 1, column: int = 1) -> None:
        super().__init__(f"[{line},{column}] {detail}")
        self.detail = detail
        self.line = line
        self.column = column


class UnsupportedStatement(ValueError):
    """A statement MaxCompute has that the local MaxCompute does not run; the message names it."""


@dataclass(frozen=True)
class Principal:
    """A user of a project as MaxCompute names it: ``ALIYUN$<account>``, ``RAM$<account>:<user>`` or the RAM role
    ``RAM$<account>:role/<name>``. ``account`` is None for ``RAM$<user>``, which means the project owner's account."""

    kind: str  # "account", "ram-user" or "ram-role"
    account: Optional[str]
    name: str  # the account (kind account), the RAM user or the role name

    def qualified(self, owner_account: str) -> str:
        """The name in full: a RAM user or role without an account belongs to the owner's."""
        account = self.account or owner_account
        if self.kind == "account":
            return f"ALIYUN${self.name}"
        if self.kind == "ram-role":
            return f"RAM${account}:role/{self.name}"
        return f"RAM${account}:{self.name}"


@dataclass(frozen=True)
class AddUser:
    user: Principal


@dataclass(frozen=True)
class RemoveUser:
    user: Principal


@dataclass(frozen=True)
class ListUsers:
    pass


@dataclass(frozen=True)
class CreateRole:
    name: str


@dataclass(frozen=True)
class DropRole:
    name: str


@dataclass(frozen=True)
class ListRoles:
    pass


@dataclass(frozen=True)
class DescribeRole:
    name: str


@dataclass(frozen=True)
class GrantRoles:
    """``grant <role>, ... to <user>`` (``revoke=True``: ``revoke <role>, ... from <user>``)."""

    roles: tuple[str, ...]
    user: Principal
    revoke: bool = False


@dataclass(frozen=True)
class GrantPrivileges:
    """``grant <actions> on <object_type> <object_name> to {user|role} <grantee>`` (ACL), or with
    ``privilegeproperties("policy" = "true", ...)`` a policy grant (``effect`` Allow or Deny), roles only.
    ``revoke=True``: the ``revoke ... from ...`` of it."""

    actions: tuple[str, ...]  # as the documentation spells them: Describe, Select, CreateInstance...
    object_type: str  # project or table
    object_name: str
    grantee_type: str  # user or role
    grantee: Union[Principal, str]  # a Principal for a user, the role's name for a role
    policy: bool = False
    effect: str = "Allow"
    revoke: bool = False


@dataclass(frozen=True)
class ShowGrants:
    user: Optional[Principal]  # None: the caller's own


@dataclass(frozen=True)
class WhoAmI:
    pass


Statement = Union[AddUser, RemoveUser, ListUsers, CreateRole, DropRole, ListRoles, DescribeRole, GrantRoles,
                  GrantPrivileges, ShowGrants, WhoAmI]


@dataclass(frozen=True)
class SourceStatement:
    """One statement of a file: its text without comments or the final ``;``, and the line it starts on."""

    line: int
    text: str


def split_statements(text: str) -> list[SourceStatement]:
    """The statements of a file, as the MaxCompute client runs one: each ends at a ``;`` outside quotes and
    backticks, ``--`` starts a comment to the end of the line, blank statements are skipped."""
    statements: list[SourceStatement] = []
    current: list[str] = []
    start_line: Optional[int] = None
    line, index, quote = 1, 0, ""
    while index < len(text):
        char = text[index]
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "`'\"":
            quote = char
            current.append(char)
        elif text.startswith("--", index):
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
            continue
        elif char == ";":
            _close(statements, current, start_line)
            current, start_line = [], None
            index += 1
            continue
        else:
            current.append(char)
        if start_line is None and not char.isspace():
            start_line = line
        if char == "\n":
            line += 1
        index += 1
    if quote:
        raise StatementSyntaxError(f"the {quote} opened here is never closed", start_line or line, 1)
    _close(statements, current, start_line)
    return statements


def _close(statements: list[SourceStatement], current: list[str], start_line: Optional[int]) -> None:
    text = "".join(current).strip()
    if text and start_line is not None:
        statements.append(SourceStatement(start_line, text))


def parse(text: str) -> Statement:
    """One statement (a final ``;`` is allowed) as its statement object."""
    return _Parser(text).statement()


@dataclass(frozen=True)
class _Token:
    kind: str  # word, quoted (backticks), string, symbol, end
    text: str
    line: int
    column: int

    def keyword(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


_TOKEN = re.compile(r"""(?P<space>\s+)|(?P<comment>--[^\n]*)|(?P<quoted>`[^`]*`)|(?P<string>"[^"]*"|'[^']*')"""
                    r"""|(?P<symbol>[,;()=])|(?P<word>[^\s,;()=`"']+)""")


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    line, line_start, position = 1, 0, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise StatementSyntaxError(f"unexpected {text[position]!r}", line, position - line_start + 1)
        kind = match.lastgroup or "word"
        value = match.group()
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, value, line, position - line_start + 1))
        for offset, char in enumerate(value):
            if char == "\n":
                line, line_start = line + 1, position + offset + 1
        position = match.end()
    tokens.append(_Token("end", "", line, position - line_start + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    # tokens

    @property
    def token(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.token
        self.position += 1
        return token

    def error(self, expected: str, token: Optional[_Token] = None) -> StatementSyntaxError:
        token = token or self.token
        found = "the end of the statement" if token.kind == "end" else repr(token.text)
        return StatementSyntaxError(f"expected {expected}, found {found}", token.line, token.column)

    def accept(self, *keywords: str) -> Optional[str]:
        if self.token.keyword() in keywords:
            return self.take().keyword()
        return None

    def expect(self, *keywords: str) -> str:
        keyword = self.accept(*keywords)
        if keyword is None:
            raise self.error(" or ".join(keywords))
        return keyword

    def symbol(self, char: str) -> bool:
        if self.token.kind == "symbol" and self.token.text == char:
            self.take()
            return True
        return False

    def end(self) -> None:
        self.symbol(";")
        if self.token.kind != "end":
            raise self.error("the end of the statement")

    # statements

    def statement(self) -> Statement:
        first = self.token
        verb = first.keyword()
        handlers = {"add": self.add_user, "remove": self.remove_user, "list": self.listing, "create": self.create_role,
                    "drop": self.drop_role, "describe": self.describe_role, "desc": self.describe_role,
                    "grant": self.grant, "revoke": self.grant, "show": self.show_grants, "whoami": self.whoami}
        if verb in handlers:
            self.take()
            statement = handlers[verb](verb)
            self.end()
            return statement
        if verb in ("use", "set", "get", "put", "install", "uninstall", "purge", "clear", "check", "alter"):
            raise UnsupportedStatement(f"{first.text} statements (only add/remove user, create/drop/list roles, "
                                       "grant, revoke, show grants and whoami run here)")
        raise self.error("a security statement (add user, remove user, list users, create role, drop role, "
                         "list roles, describe role, grant, revoke, show grants, whoami)")

    def add_user(self, _verb: str) -> Statement:
        self.expect("user")
        return AddUser(self.principal())

    def remove_user(self, _verb: str) -> Statement:
        self.expect("user")
        return RemoveUser(self.principal())

    def listing(self, _verb: str) -> Statement:
        what = self.token
        kind = self.expect("users", "roles", "accountproviders", "trustedprojects", "packages", "privileges")
        if kind == "users":
            return ListUsers()
        if kind == "roles":
            return ListRoles()
        raise UnsupportedStatement(f"list {what.text}")

    def create_role(self, _verb: str) -> Statement:
        what = self.token
        if self.accept("role") is None:
            if what.kind == "word" and what.keyword() in ("package", "table", "function", "resource"):
                raise UnsupportedStatement(f"create {what.text} (not a security statement)")
            raise self.error("role")
        name = self.name("a role name")
        if self.token.keyword() == "privilegeproperties":
            raise UnsupportedStatement("create role ... privilegeproperties (admin roles)")
        return CreateRole(name)

    def drop_role(self, _verb: str) -> Statement:
        self.expect("role")
        return DropRole(self.name("a role name"))

    def describe_role(self, _verb: str) -> Statement:
        self.expect("role")
        return DescribeRole(self.name("a role name"))

    def show_grants(self, _verb: str) -> Statement:
        what = self.token
        if self.accept("grants") is None:
            if what.keyword() in ("label", "packages", "principals", "securityconfiguration"):
                raise UnsupportedStatement(f"show {what.text}")
            raise self.error("grants")
        if self.accept("for") is None:
            if self.token.keyword() == "on":
                raise UnsupportedStatement("show grants on <object>")
            return ShowGrants(None)
        self.accept("user")
        return ShowGrants(self.principal())

    def whoami(self, _verb: str) -> Statement:
        return WhoAmI()

    def grant(self, verb: str) -> Statement:
        revoke = verb == "revoke"
        names = [self.take_name_or_action()]
        while self.symbol(","):
            names.append(self.take_name_or_action())
        if self.accept("on") is None:  # grant <role>, ... to <user>
            self.expect("from" if revoke else "to")
            self.accept("user")
            for token in names:
                if not NAME.fullmatch(token.text):
                    raise StatementSyntaxError(f"{token.text!r} is not a role name", token.line, token.column)
            return GrantRoles(tuple(token.text for token in names), self.principal(), revoke)
        actions = self.actions(names)
        object_token = self.token
        object_type = self.expect("project", "table", *OTHER_OBJECT_TYPES)
        if object_type not in OBJECT_ACTIONS:
            raise UnsupportedStatement(f"grants on {object_token.text} objects (only on project and table)")
        object_name = self.object_name()
        if self.token.kind == "symbol" and self.token.text == "(":
            raise UnsupportedStatement("column-level grants (on table <name> (<columns>))")
        self.expect("from" if revoke else "to")
        grantee_type = self.expect("user", "role")
        grantee: Union[Principal, str] = self.principal() if grantee_type == "user" else self.name("a role name")
        policy, effect = self.privilege_properties()
        for action_token, action in zip(names, actions):
            if action not in OBJECT_ACTIONS[object_type]:
                raise StatementSyntaxError(f"{action} is not a privilege of a {object_type} (one of "
                                           f"{', '.join(OBJECT_ACTIONS[object_type])})",
                                           action_token.line, action_token.column)
        return GrantPrivileges(tuple(actions), object_type, object_name, grantee_type, grantee, policy, effect, revoke)

    # pieces

    def take_name_or_action(self) -> _Token:
        token = self.token
        if token.kind != "word":
            raise self.error("a privilege or a role name")
        return self.take()

    @staticmethod
    def actions(tokens: list[_Token]) -> list[str]:
        spelled = {action.lower(): action for actions in OBJECT_ACTIONS.values() for action in actions}
        actions = []
        for token in tokens:
            if token.text.lower() == "download":
                raise UnsupportedStatement("the Download privilege (download control is off in the local "
                                           "MaxCompute, as in a new project: tunnel downloads need Select)")
            if token.text.lower() not in spelled:
                raise StatementSyntaxError(f"{token.text!r} is not a privilege MaxCompute grants here (project: "
                                           f"{', '.join(PROJECT_ACTIONS)}; table: {', '.join(TABLE_ACTIONS)})",
                                           token.line, token.column)
            actions.append(spelled[token.text.lower()])
        return actions

    def name(self, what: str) -> str:
        token = self.token
        if token.kind != "word" or not NAME.fullmatch(token.text):
            raise self.error(what)
        return self.take().text

    def object_name(self) -> str:
        token = self.token
        if token.kind != "word" or not OBJECT_NAME.fullmatch(token.text):
            if token.kind == "word" and "." in token.text:
                raise UnsupportedStatement(f"grants on an object of another project ({token.text})")
            raise self.error("an object name (letters, digits, _ and, in a policy grant, the wildcards * and ?)")
        return self.take().text

    def principal(self) -> Principal:
        token = self.token
        if token.kind == "quoted":
            self.take()
            inner = token.text[1:-1]
            role = ROLE_PRINCIPAL.fullmatch(inner)
            if role:
                return Principal("ram-role", role["account"], role["role"])
            return self._plain_principal(inner, token)
        if token.kind != "word":
            raise self.error("a user: ALIYUN$<account>, RAM$<account>:<RAM user> or `RAM$<account>:role/<role>`")
        self.take()
        if ROLE_PRINCIPAL.fullmatch(token.text):
            raise StatementSyntaxError(f"a RAM role is named in backticks: `{token.text}` (the grave accents are "
                                       "required)", token.line, token.column)
        return self._plain_principal(token.text, token)

    @staticmethod
    def _plain_principal(text: str, token: _Token) -> Principal:
        account = ACCOUNT_PRINCIPAL.fullmatch(text)
        if account:
            return Principal("account", None, account["account"])
        user = RAM_USER_PRINCIPAL.fullmatch(text)
        if user:
            return Principal("ram-user", user["account"], user["user"])
        raise StatementSyntaxError(f"{text!r} is not a user: ALIYUN$<account>, RAM$<account>:<RAM user> or "
                                   "`RAM$<account>:role/<role>`", token.line, token.column)

    def privilege_properties(self) -> tuple[bool, str]:
        """``privilegeproperties("policy" = "true", "allow" = "true")`` → (policy grant?, Allow or Deny)."""
        if self.accept("privilegeproperties") is None:
            return False, "Allow"
        if not self.symbol("("):
            raise self.error("(")
        properties: dict[str, str] = {}
        while True:
            key_token = self.token
            key = self.string("a quoted property name")
            if not self.symbol("="):
                raise self.error("=")
            value = self.string("a quoted value").lower()
            if key.lower() not in PRIVILEGE_PROPERTIES:
                raise UnsupportedStatement(f"the privilege property {key!r} (only policy, allow and deny)")
            if value not in ("true", "false"):
                raise StatementSyntaxError(f"{key} is \"true\" or \"false\"", key_token.line, key_token.column)
            properties[key.lower()] = value
            if self.symbol(")"):
                break
            if not self.symbol(","):
                raise self.error(", or )")
        policy = properties.get("policy") == "true"
        denied = properties.get("deny") == "true" or properties.get("allow") == "false"
        if not policy and ("allow" in properties or "deny" in properties):
            raise StatementSyntaxError("allow and deny go with \"policy\" = \"true\": an ACL grant only allows",
                                       self.token.line, self.token.column)
        return policy, "Deny" if denied else "Allow"

    def string(self, what: str) -> str:
        token = self.token
        if token.kind != "string":
            raise self.error(what)
        return self.take().text[1:-1]
