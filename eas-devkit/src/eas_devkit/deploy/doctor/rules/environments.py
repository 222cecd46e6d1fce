"""Rules: every environment of ``environments/`` merges into service.json, deploys as a service of its own, and
is checked against ram/ when it changes the role or a bucket (``eas_devkit.service_config`` has the merge rules).

The check checks one configuration in depth, the one ``EAS_ENV`` selects (the merged document); these rules
look at every environment, whichever is selected, so a broken one is found before anyone deploys it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

from ....service_config import (
    NAME,
    SERVICE_JSON,
    VARIABLE,
    ServiceConfig,
    ServiceConfigError,
    environment_file,
    environment_names,
    load_environment,
)
from ..findings import Finding, error, warn
from ..project import Project


def environments_merge(project: Project) -> Iterator[Finding]:
    """An environment file is named as ``EAS_ENV`` can select it, is a JSON object, and merges into service.json
    by the merge rules: otherwise ``EAS_ENV=<name> make deploy`` stops before sending anything."""
    for name in environment_names(project.root):
        relative = environment_file(name)
        if not NAME.match(name):
            yield error(relative, f"{name!r} is not an environment name ({NAME.pattern}: lower case letters, "
                        "digits, _ and -, at most 32)", f"rename the file, e.g. {_suggested(name)}.json: "
                        f"{VARIABLE} selects it by its name")
            continue
        if name == project.environment:
            continue  # the selected one is read as service.json: the files rule reports its problems
        try:
            load_environment(project.root, name)
        except ServiceConfigError as problem:
            if not problem.where.startswith(SERVICE_JSON):  # service.json's own problems: the files rule
                yield error(problem.where, problem.what, problem.fix)


def environments_are_services_of_their_own(project: Project) -> Iterator[Finding]:
    """Each environment deploys a service of its own (its ``metadata.name``): one that keeps service.json's name
    replaces the base service of the same region when it is deployed."""
    for base, config in _environments(project):
        name = _get(config.config, "metadata", "name")
        if name is not None and name == _get(base.config, "metadata", "name"):
            relative = config.sources[-1]
            source, path = config.source_of("$.metadata.name")
            yield warn(f"{relative} {path}" if source == relative else relative,
                       f"environment {config.environment} keeps service.json's metadata.name {name!r}: deploying it "
                       "updates that service (same name, same region) instead of creating one of its own",
                       f"set metadata.name in {relative}, e.g. {{\"metadata\": {{\"name\": "
                       f"\"{name}_{config.environment}\"}}}}")


def environments_use_the_role_ram_describes(project: Project) -> Iterator[Finding]:
    """ram/ describes one role and what it may read: an environment with another role or another bucket needs
    policies of its own, which only a check of that environment compares (the selected one is checked in full)."""
    for base, config in _environments(project):
        if config.environment == project.environment:
            continue
        changed = [what for what, before, after in (
            ("role_arn", _get(base.config, "role_arn"), _get(config.config, "role_arn")),
            ("OSS_BUCKET", _env(base, "OSS_BUCKET"), _env(config, "OSS_BUCKET")),
            ("storage (the mounts)", _get(base.config, "storage"), _get(config.config, "storage")),
        ) if before != after]
        if changed:
            yield warn(config.sources[-1], f"environment {config.environment} changes {', '.join(changed)}: "
                       "ram/ (trust, permission and PassRole policies) was written for service.json's",
                       f"run `{VARIABLE}={config.environment} make check`: it checks ram/ against this environment "
                       "and says what the policies lack (an environment with its own role keeps its policies "
                       "apart, e.g. ram/" + f"{config.environment}/)")


def _environments(project: Project) -> Iterator[tuple[ServiceConfig, ServiceConfig]]:
    try:
        base = load_environment(project.root, None)
    except ServiceConfigError:
        return
    for name in environment_names(project.root):
        try:
            yield base, load_environment(project.root, name)
        except ServiceConfigError:
            continue  # environments_merge reports it


def _get(node: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(key, int):
            node = node[key] if isinstance(node, list) and len(node) > key else None
        else:
            node = node.get(key) if isinstance(node, dict) else None
    return node


def _env(config: ServiceConfig, variable: str) -> Optional[Any]:
    env = _get(config.config, "containers", 0, "env")
    return next((item.get("value") for item in env or [] if isinstance(item, dict) and item.get("name") == variable),
                None)


def _suggested(name: str) -> str:
    cleaned = "".join(char if char.isalnum() or char in "_-" else "-" for char in name.lower()).lstrip("0123456789_-")
    return (cleaned or "staging")[:32]


RULES = (environments_merge, environments_are_services_of_their_own, environments_use_the_role_ram_describes)
