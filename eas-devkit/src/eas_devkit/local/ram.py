"""The local RAM model: what the service's role may do, decided the way RAM decides it.

Every OSS and MaxCompute request signed with the instance's credentials is checked against the role's
permission policy (``ram/permission-policy.json`` for a custom role): an explicit Deny wins, then any
Allow, else the request is denied. Actions match case-insensitively and resources case-sensitively,
both with ``*`` and ``?`` wildcards. The policy file is read again when it changes, because RAM applies
an edited policy without a redeploy — which is what the guide sells as fine-grained control.

The PAI default role (``AliyunServiceRoleForPaiEas``) is modelled as the guide describes it: OSS only in
the workspace's default bucket, MaxCompute only in the projects where the service's owner may work.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

log = logging.getLogger("eas_devkit.local.ram")

EFFECTS = ("Allow", "Deny")
# Condition operators the model understands; a statement with any other is refused when loading, so a
# policy never means something here that it would not mean in RAM.
CONDITION_OPERATORS = {
    "StringEquals": lambda value, wanted: value == wanted,
    "StringNotEquals": lambda value, wanted: value != wanted,
    "StringEqualsIgnoreCase": lambda value, wanted: value.lower() == wanted.lower(),
    "StringLike": lambda value, wanted: _wildcard(wanted, value),
    "StringNotLike": lambda value, wanted: not _wildcard(wanted, value),
}


class PolicyError(ValueError):
    """The policy document is not one RAM would accept; the message names the statement and field."""


@dataclass(frozen=True)
class Decision:
    """RAM's answer: true when allowed. A denial is explicit when a Deny statement matched, implicit when no
    Allow did (OSS says which in its AccessDenied error)."""

    allowed: bool
    explicit: bool = False

    def __bool__(self) -> bool:
        return self.allowed


ALLOW, IMPLICIT_DENY, EXPLICIT_DENY = Decision(True), Decision(False), Decision(False, explicit=True)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (operator, key, values)

    def applies(self, action: str, resource: str, context: Mapping[str, str]) -> bool:
        return (
            any(_wildcard(pattern.lower(), action.lower()) for pattern in self.actions)
            and any(_wildcard(pattern, resource) for pattern in self.resources)
            and all(key in context and any(CONDITION_OPERATORS[operator](context[key], wanted) for wanted in values)
                    for operator, key, values in self.conditions)
        )


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, document: Union[str, Mapping[str, Any]], source: str = "policy") -> Policy:
        data = json.loads(document) if isinstance(document, str) else document
        if not isinstance(data, Mapping) or not isinstance(data.get("Statement"), list):
            raise PolicyError(f"{source}: a policy is an object with a Statement list")
        return cls(tuple(_statement(item, f"{source}: Statement[{index}]")
                         for index, item in enumerate(data["Statement"])))

    def allows(self, action: str, resource: str, context: Optional[Mapping[str, str]] = None) -> Decision:
        """RAM's rule: an explicit Deny wins; otherwise an Allow is needed."""
        context = context or {}
        matching = [statement.effect for statement in self.statements if statement.applies(action, resource, context)]
        if "Deny" in matching:
            return EXPLICIT_DENY
        return ALLOW if "Allow" in matching else IMPLICIT_DENY

    def actions(self) -> set[str]:
        return {action for statement in self.statements for action in statement.actions}


class PolicyFile:
    """A policy on disk, parsed again whenever the file changes.

    An edit that is not a valid policy is refused, as the RAM console refuses it: the policy in force
    stays, and the refusal is logged. The first read must succeed (``PolicyError`` otherwise).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: Optional[tuple[int, int]] = None
        self._policy = Policy.parse(path.read_text(encoding="utf-8"), str(path))

    @property
    def policy(self) -> Policy:
        try:
            stat = os.stat(self.path)
        except OSError:
            return self._policy  # being replaced, or deleted: RAM keeps the attached policy
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._policy = Policy.parse(self.path.read_text(encoding="utf-8"), str(self.path))
                    log.info("local RAM: %s reloaded", self.path.name)
                except (OSError, ValueError) as error:
                    log.warning("local RAM: %s; RAM would refuse this edit, the previous policy stays", error)
            return self._policy


def pai_default_role(bucket: str, projects: Iterable[str]) -> Policy:
    """The PAI default role as the guide describes it: the workspace's default OSS bucket, and MaxCompute
    in the projects where the service's owner has execution permissions — nothing else."""
    statements = [Statement("Allow", ("oss:*",), (f"acs:oss:*:*:{bucket}", f"acs:oss:*:*:{bucket}/*"))]
    for project in projects:
        statements.append(Statement("Allow", ("odps:*",), (f"acs:odps:*:projects/{project}",
                                                            f"acs:odps:*:projects/{project}/*")))
    return Policy(tuple(statements))


def _statement(item: Any, where: str) -> Statement:
    if not isinstance(item, Mapping):
        raise PolicyError(f"{where}: a statement is an object")
    for unsupported in ("NotAction", "NotResource", "Principal"):
        if unsupported in item:
            raise PolicyError(f"{where}: {unsupported} is not supported in a permission policy here")
    effect = item.get("Effect")
    if effect not in EFFECTS:
        raise PolicyError(f"{where}.Effect: {effect!r} is not Allow or Deny")
    return Statement(effect, _strings(item.get("Action"), f"{where}.Action"),
                     _strings(item.get("Resource"), f"{where}.Resource"),
                     _conditions(item.get("Condition", {}), f"{where}.Condition"))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise PolicyError(f"{where}: a non-empty string or list of strings")
    return tuple(values)


def _conditions(value: Any, where: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}: an object of operators")
    conditions = []
    for operator, keys in value.items():
        if operator not in CONDITION_OPERATORS:
            raise PolicyError(f"{where}.{operator}: the local RAM model knows only {', '.join(CONDITION_OPERATORS)}")
        if not isinstance(keys, Mapping):
            raise PolicyError(f"{where}.{operator}: an object of condition keys")
        for key, wanted in keys.items():
            conditions.append((operator, key, _strings(wanted, f"{where}.{operator}.{key}")))
    return tuple(conditions)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _wildcard(pattern: str, value: str) -> bool:
    """RAM's wildcards: ``*`` any run of characters, ``?`` one character; nothing else is special."""
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
        compiled = _PATTERNS[pattern] = re.compile(f"(?s:{regex})\\Z")
    return compiled.match(value) is not None
