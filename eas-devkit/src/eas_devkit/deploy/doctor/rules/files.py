"""Rules: the files the deployment needs are there and parse, and service.json matches the kit's JSON Schema."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from typing import Any, Optional

from ....schemas import SERVICE_SCHEMA
from ..findings import Finding, at, error, warn
from ..project import PASSROLE_POLICY, PERMISSION_POLICY, SERVICE_JSON, TRUST_POLICY, Project

SECRETS = {("dockerAuth",), ("token",)}  # fields whose value a finding never shows


def files_are_there_and_parse(project: Project) -> Iterator[Finding]:
    """Every file the deployment needs exists and parses: an error names the file (and line), never a traceback.

    Missing ram/ files are reported by the rule that needs them, with the document to create.
    """
    if not project.json_file(SERVICE_JSON).exists:
        yield error(SERVICE_JSON, "is missing: it is the service configuration EAS deploys",
                    f"run the check in the project directory (or `eas-devkit --project DIR check`), or restore "
                    f"{SERVICE_JSON}")
    for relative in (SERVICE_JSON, TRUST_POLICY, PERMISSION_POLICY, PASSROLE_POLICY):
        problem = project.json_file(relative).problem
        if problem is not None:
            yield problem
    if project.json_file(SERVICE_JSON).data is not None and project.service is None:
        yield error(at(SERVICE_JSON), "is not a JSON object", "the service configuration is one object "
                    '{"metadata": …, "containers": […], …}')
    for relative in (PERMISSION_POLICY, PASSROLE_POLICY):
        problem = project.policy_problem(relative)
        if problem is not None:
            yield problem


def service_json_matches_the_schema(project: Project) -> Iterator[Finding]:
    """service.json is what the console's JSON deployment and CreateService take: every field EAS documents
    has the documented type and form (the kit's service.schema.json, Draft 2020-12), reported with its path."""
    from jsonschema import Draft202012Validator

    instance = project.json_file(SERVICE_JSON).data
    if instance is None:
        return
    schema = json.loads(SERVICE_SCHEMA.read_text(encoding="utf-8"))
    violations = Draft202012Validator(schema).iter_errors(instance)
    for violation in sorted(violations, key=lambda v: (list(map(str, v.absolute_path)), v.message)):
        where, what = violation.json_path, _described(violation)
        if violation.validator in ("required", "dependentRequired") and isinstance(violation.instance, dict):
            missing = _missing_property(violation)
            if missing is not None:
                where = f"{where}.{missing}" if where != "$" else f"$.{missing}"
                what = "is missing" + (f" ({violation.message.split(' is a ', 1)[1]})"
                                       if violation.validator == "dependentRequired" else " (required)")
        elif violation.validator == "additionalProperties" and isinstance(violation.instance, dict):
            where, what = _unknown_property(violation, where)
        elif tuple(violation.absolute_path)[:1] in SECRETS:
            what = f"is not what EAS takes here ({violation.validator} {json.dumps(violation.validator_value)}; " \
                   "the value is a secret and is not printed)"
        schema_location = "/".join(map(str, violation.absolute_schema_path))
        description = violation.schema.get("description") if violation.schema is not schema else None
        yield error(f"{SERVICE_JSON} {where}", what, f"make it match eas_devkit/schemas/service.schema.json "
                    f"#/{schema_location}" + (f" ({description})" if description else ""))


def fields_are_spelled_as_documented(project: Project) -> Iterator[Finding]:
    """Where EAS has more fields than the schema lists (the top level, metadata, metadata.rpc, cloud.networking...),
    an unknown one is allowed; one a letter or two away from a documented field is most likely that field
    misspelt, which EAS would ignore."""
    service = project.json_file(SERVICE_JSON).data
    if service is None:
        return
    schema = json.loads(SERVICE_SCHEMA.read_text(encoding="utf-8"))
    for path, name, meant in _near_misses(service, schema, schema, ()):
        yield warn(at(SERVICE_JSON, *path, name), f"{name!r} is not a field EAS documents here: did you mean "
                   f"{meant!r}?", f"rename it to {meant} (a field EAS does not know is ignored, with its value)")


def _near_misses(node: Any, schema: Any, root: dict[str, Any], path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = target
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(node, dict) and isinstance(properties, dict):
        for name, value in node.items():
            if name in properties:
                yield from _near_misses(value, properties[name], root, (*path, name))
            elif schema.get("additionalProperties") is not False:
                meant = difflib.get_close_matches(name, list(properties), n=1, cutoff=0.8)
                if meant:
                    yield path, name, meant[0]
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        for index, value in enumerate(node):
            yield from _near_misses(value, schema["items"], root, (*path, index))


def _missing_property(violation: Any) -> Optional[str]:
    names: list[str] = []
    if violation.validator == "required":
        names = list(violation.validator_value)
    else:
        names = [name for dependents in violation.validator_value.values() for name in dependents]
    return next((name for name in names if name not in violation.instance and violation.message.startswith(repr(name))),
                None)


def _unknown_property(violation: Any, where: str) -> tuple[str, str]:
    """A field the object does not have (often a typo), named with its own path and the fields it has."""
    known = list(violation.schema.get("properties", {}))
    unknown = [name for name in violation.instance if name not in known]
    path = f"{where}.{unknown[0]}" if len(unknown) == 1 else where
    return path, (f"{', '.join(map(repr, unknown))} {'is not a field' if len(unknown) == 1 else 'are not fields'} "
                  f"EAS documents here (it has {', '.join(known)})")


def _described(violation: Any) -> str:
    """jsonschema's message, without a whole object pasted in front of it."""
    if violation.validator in ("oneOf", "anyOf"):
        options = ", ".join(json.dumps(option) for option in violation.validator_value)
        several = "valid under each of" in violation.message
        return f"must match {'exactly ' if violation.validator == 'oneOf' else ''}one of {options}, " \
               f"but matches {'more than one' if several else 'none'}"
    value = repr(violation.instance)
    if len(value) > 60 and violation.message.startswith(value):
        return "the value" + violation.message[len(value):]
    return violation.message


RULES = (files_are_there_and_parse, service_json_matches_the_schema, fields_are_spelled_as_documented)
