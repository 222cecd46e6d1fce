"""The local account's RAM facts that the control plane checks: who deploys, and which roles exist.

They live in one JSON file, re-read whenever it changes, so a test (or a developer reproducing the guide's
troubleshooting cases) edits RAM by editing the file::

    {
      "account_id": "1234567890123456",
      "roles": {"<role name>": <the role's trust policy document>},
      "users": {"<RAM user name>": [<policy document attached to the user>, ...]}
    }

The deploying identities are the account itself (the main account, principal ``root``, which may pass any
role, as in RAM) and the RAM users of the file. Their AccessKeys are minted in memory by
:meth:`Accounts.create_access_key` and never written to this file. An edit that is not valid is refused,
as the RAM console refuses it: the previous facts stay in force and the refusal is logged.

Deploying a service with ``role_arn`` is decided as RAM decides it: the role must exist in this account,
the deployer must be allowed ``ram:PassRole`` on ``acs:ram::<account>:role/<name>`` (by
:class:`eas_devkit.local.ram.Policy`: an explicit Deny wins, then any Allow), and the role's trust policy must let
the EAS service principal ``eas.pai.aliyuncs.com`` assume it.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ...service_config import load_service_config
from ..credentials import mask_key_id
from ..ram import Policy, PolicyError

log = logging.getLogger("eas_devkit.local.control_plane")

MAIN_ACCOUNT = "root"
ACCOUNTS_FILE = "ram-account.json"  # in the state directory of the local EAS
DEPLOYER = "developer"  # the RAM user of ram/README.md, who deploys and passes the role
EAS_PRINCIPAL = "eas.pai.aliyuncs.com"
PASS_ROLE = "ram:PassRole"
DEFAULT_ACCOUNT_ID = "1234567890123456"  # the template's placeholder account
_ROLE_ARN = re.compile(r"acs:ram::(?P<account>[0-9]+):role/(?P<name>[A-Za-z0-9.-]{1,64})")


class AccountsError(ValueError):
    """The accounts file is not one the local RAM accepts; the message names the field."""


@dataclass(frozen=True)
class AccessKey:
    """An AccessKey of a deploying identity; STS credentials also have a token and an expiry."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    principal: str  # MAIN_ACCOUNT or a RAM user name
    security_token: Optional[str] = field(default=None, repr=False)
    expires_at: Optional[float] = None  # epoch seconds; None: a permanent AccessKey

    def is_expired(self, now: Optional[float] = None) -> bool:
        return self.expires_at is not None and (time.time() if now is None else now) >= self.expires_at

    def __repr__(self) -> str:
        return f"AccessKey(access_key_id={mask_key_id(self.access_key_id)!r}, principal={self.principal!r})"


@dataclass(frozen=True)
class AccountFacts:
    account_id: str
    roles: Mapping[str, Mapping[str, Any]]  # name -> trust policy document
    users: Mapping[str, tuple[Policy, ...]]  # name -> attached policies

    @classmethod
    def parse(cls, data: Any, source: str) -> AccountFacts:
        if not isinstance(data, Mapping):
            raise AccountsError(f"{source}: an object with account_id, roles and users")
        account_id = data.get("account_id")
        if not isinstance(account_id, str) or not account_id.isdigit():
            raise AccountsError(f"{source}: account_id is a string of digits")
        roles = data.get("roles", {})
        if not isinstance(roles, Mapping) or not all(isinstance(doc, Mapping) for doc in roles.values()):
            raise AccountsError(f"{source}: roles maps a role name to its trust policy document")
        users = data.get("users", {})
        if not isinstance(users, Mapping) or not all(isinstance(docs, list) for docs in users.values()):
            raise AccountsError(f"{source}: users maps a RAM user name to a list of policy documents")
        if MAIN_ACCOUNT in users:
            raise AccountsError(f"{source}: {MAIN_ACCOUNT!r} is the main account, not a RAM user name")
        parsed_users = {
            name: tuple(Policy.parse(doc, f"{source}: users.{name}[{index}]") for index, doc in enumerate(docs))
            for name, docs in users.items()
        }
        return cls(account_id, dict(roles), parsed_users)


class Accounts:
    """The account behind ``path``: its roles, its RAM users and the AccessKeys minted for them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._text = self.path.read_text(encoding="utf-8")
        try:
            self._facts = AccountFacts.parse(json.loads(self._text), str(self.path))
        except (json.JSONDecodeError, PolicyError) as error:
            raise AccountsError(f"{self.path}: {error}") from None
        self._keys: dict[str, AccessKey] = {}

    @classmethod
    def create(cls, path: Path, account_id: str = DEFAULT_ACCOUNT_ID,
               roles: Optional[Mapping[str, Mapping[str, Any]]] = None,
               users: Optional[Mapping[str, Sequence[Mapping[str, Any]]]] = None) -> Accounts:
        """Write an accounts file (replacing any) and open it."""
        write_accounts_file(path, account_id, roles or {}, users or {})
        return cls(path)

    @classmethod
    def for_project(cls, path: Path, project_dir: Path, user: str = DEPLOYER, *, replace: bool = False) -> Accounts:
        """The account a generated project describes, written to ``path`` (unless it exists and not ``replace``).

        The role of ``service.json``'s ``role_arn`` exists, with ``ram/trust-policy.json`` as its trust
        policy; one RAM user, ``user``, has ``ram/passrole-policy.json`` attached: the set-up that
        ``ram/README.md`` asks for in the cloud.
        """
        if replace or not Path(path).exists():
            write_project_accounts(path, project_dir, user)
        return cls(path)

    @property
    def facts(self) -> AccountFacts:
        """The file as it is now (re-read when its text changed; a refused edit keeps the previous facts)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return self._facts  # being replaced
        with self._lock:
            if text != self._text:
                self._text = text
                try:
                    self._facts = AccountFacts.parse(json.loads(text), str(self.path))
                    log.info("local RAM: %s reloaded", self.path.name)
                except (json.JSONDecodeError, ValueError) as error:
                    log.warning("local RAM: %s: %s; RAM would refuse this edit, the previous facts stay",
                                self.path.name, error)
            return self._facts

    @property
    def account_id(self) -> str:
        return self.facts.account_id

    def create_access_key(self, principal: str = MAIN_ACCOUNT) -> AccessKey:
        """A new permanent AccessKey of the main account or of a RAM user of the file."""
        self._require_principal(principal)
        return self._remember(AccessKey("LTAI" + secrets.token_hex(10), secrets.token_urlsafe(22), principal))

    def create_sts_credentials(self, principal: str = MAIN_ACCOUNT, lifetime: float = 3600) -> AccessKey:
        """STS-like credentials acting as ``principal`` (a CI job's, say), valid for ``lifetime`` seconds."""
        self._require_principal(principal)
        return self._remember(AccessKey("STS." + secrets.token_hex(12).upper(), secrets.token_urlsafe(30), principal,
                                        security_token="CAIS" + secrets.token_urlsafe(96),
                                        expires_at=float(int(time.time() + lifetime))))

    def lookup(self, access_key_id: str) -> Optional[AccessKey]:
        """The AccessKey, unless unknown or its RAM user was removed from the file since."""
        with self._lock:
            key = self._keys.get(access_key_id)
        if key is None or (key.principal != MAIN_ACCOUNT and key.principal not in self.facts.users):
            return None
        return key

    def issued_secrets(self) -> list[tuple[str, str]]:
        """Every secret and token minted here, for the leak check (never leaves the process)."""
        with self._lock:
            return [(key.access_key_secret, key.security_token or "") for key in self._keys.values()]

    def role_exists(self, role_arn: str) -> bool:
        return self._role(role_arn) is not None

    def can_pass(self, principal: str, role_arn: str) -> bool:
        """Whether ``principal`` may hand the role to EAS (``ram:PassRole`` on the role's ARN)."""
        if principal == MAIN_ACCOUNT:
            return True
        parsed = parse_role_arn(role_arn)
        policies = self.facts.users.get(principal)
        if parsed is None or policies is None:
            return False
        resource = f"acs:ram::{parsed[0]}:role/{parsed[1]}"
        return self._decide(policies, PASS_ROLE, resource)

    def trusts_eas(self, role_arn: str) -> bool:
        """Whether the role's trust policy lets ``eas.pai.aliyuncs.com`` assume it."""
        trust = self._role(role_arn)
        return trust is not None and trust_allows(trust, EAS_PRINCIPAL)

    def _role(self, role_arn: str) -> Optional[Mapping[str, Any]]:
        parsed = parse_role_arn(role_arn)
        facts = self.facts
        if parsed is None or parsed[0] != facts.account_id:
            return None
        return facts.roles.get(parsed[1])

    @staticmethod
    def _decide(policies: Sequence[Policy], action: str, resource: str) -> bool:
        """RAM over all of a user's policies: a Deny in any wins, else an Allow in any is needed."""
        combined = Policy(tuple(statement for policy in policies for statement in policy.statements))
        return combined.allows(action, resource).allowed

    def _require_principal(self, principal: str) -> None:
        if principal != MAIN_ACCOUNT and principal not in self.facts.users:
            raise AccountsError(f"{self.path}: no RAM user {principal!r}")

    def _remember(self, key: AccessKey) -> AccessKey:
        with self._lock:
            self._keys[key.access_key_id] = key
        return key


def parse_role_arn(role_arn: str) -> Optional[tuple[str, str]]:
    """``(account id, role name)`` of ``acs:ram::<account>:role/<name>``, or None."""
    match = _ROLE_ARN.fullmatch(role_arn or "")
    return (match["account"], match["name"]) if match else None


def trust_allows(trust: Mapping[str, Any], service: str) -> bool:
    """Whether a trust policy lets the cloud service ``service`` call ``sts:AssumeRole`` (no Deny for it)."""
    effects = set()
    for statement in trust.get("Statement", []) if isinstance(trust.get("Statement"), list) else []:
        if not isinstance(statement, Mapping):
            continue
        actions = _as_list(statement.get("Action"))
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        if any(fnmatch.fnmatchcase("sts:assumerole", action.lower()) for action in actions) and service in services:
            effects.add(statement.get("Effect"))
    return "Allow" in effects and "Deny" not in effects


def write_project_accounts(path: Path, project_dir: Path, user: str = DEPLOYER) -> None:
    """The RAM set-up of ``ram/README.md`` for the project's role, as an accounts file."""
    config = load_service_config(project_dir).config  # the role of the environment of EAS_ENV
    parsed = parse_role_arn(config.get("role_arn", ""))
    roles, policies = {}, []
    trust, passrole = project_dir / "ram" / "trust-policy.json", project_dir / "ram" / "passrole-policy.json"
    if parsed and trust.is_file():
        roles[parsed[1]] = json.loads(trust.read_text(encoding="utf-8"))
    if passrole.is_file():
        policies.append(json.loads(passrole.read_text(encoding="utf-8")))
    write_accounts_file(path, parsed[0] if parsed else DEFAULT_ACCOUNT_ID, roles, {user: policies})


def write_accounts_file(path: Path, account_id: str, roles: Mapping[str, Mapping[str, Any]],
                        users: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Replace the file atomically, so a reader sees the old or the new facts, never half of either."""
    document = {"account_id": account_id, "roles": dict(roles), "users": {name: list(docs) for name, docs in
                                                                             users.items()}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".accounts.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _as_list(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value
    return [item for item in values if isinstance(item, str)] if isinstance(values, list) else []
