"""The doctor's rules, one module per theme. Each module lists its rules, in the order their findings are
printed, in ``RULES``: functions of a ``Project`` giving ``Finding``\\ s, whose docstring names the promise the rule
protects (the guide is "Configure the EAS RAM role").

Registering a module is adding its name to ``RULE_MODULES`` (its place there is where its findings are printed).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import Callable

from ..findings import Finding
from ..project import Project

Rule = Callable[[Project], Iterable[Finding]]

RULE_MODULES = (
    "files",  # every file is there and parses; service.json matches the schema
    "environments",  # every environments/<name>.json merges into service.json, as a service of its own
    "role",  # the RAM role: trust policy, role_arn, PassRole, the PAI default role's reach
    "endpoints",  # OSS and MaxCompute endpoints, OSS mounts
    "runtime",  # port, env, requirements
    "permissions",  # the permission policy covers what the service and EAS do with the role, and no more
    "maxcompute_grants",  # MaxCompute's own grants to the custom role (ram/maxcompute-project.sql)
    "scaling",  # autoscaler, rolling update
    "timeouts",  # graceful shutdown, the request timeout chain
    "health_checks",  # readiness, liveness and startup checks
    "resources",  # VPC, resource group, instance types, GPU
    "placeholders",  # the template's example values, before a cloud deploy
)

RULES: list[Rule] = [each for name in RULE_MODULES for each in import_module(f"{__name__}.{name}").RULES]
