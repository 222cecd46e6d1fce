"""The service configuration of a project: ``service.json``, with the overrides of one environment merged in.

One service, several deployments (dev, staging, prod): ``environments/<name>.json`` holds what an environment
changes, and the variable ``EAS_ENV`` picks one (unset or empty: ``service.json`` alone, as it is). Every command
that reads the configuration calls :func:`load_service_config`: ``check``, ``deploy``, ``status``, ``events``,
``delete`` and the local EAS.

Merge rules (an environment file is a patch of ``service.json``):

1. Objects merge key by key, recursively; a key the environment sets replaces the base's; ``null`` deletes
   the key (RFC 7386, JSON Merge Patch).
2. ``containers`` merges item by item, by index: ``{"containers": [{"env": […]}]}`` changes container 0 only
   (``{}`` keeps a container as it is).
3. A list whose items are all objects with a string ``name`` (``containers[].env``), in the base and in the
   environment, merges by ``name``: an entry with a known name merges into that entry (``{"name": "OSS_BUCKET",
   "value": "x"}`` changes its value), a new name is appended, and an entry whose other fields are all ``null``
   (``{"name": "X", "value": null}``) removes X.
4. Any other list replaces the base's, and so does an empty list (``null`` deletes the key).
5. An override keeps the kind of what it overrides: an object stays an object, a list a list (``null`` deletes
   either). A scalar may replace a scalar of another type (the doctor's schema check judges the result).

Neither JSON-merge library on PyPI does this: ``json-merge-patch`` is RFC 7386 alone (every list replaces, so
overriding one variable would mean repeating the whole ``env``), and ``jsonmerge`` merges lists by id only
through a merge schema of its own and never deletes on ``null``. Hence this small function.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

SERVICE_JSON = "service.json"
ENVIRONMENTS = "environments"
VARIABLE = "EAS_ENV"
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MERGED_BY_INDEX = (("containers",),)  # where a list merges item by item (rule 2)

JsonPath = tuple[Any, ...]  # a JSON path as keys and indices: ("containers", 0, "env")


class ServiceConfigError(ValueError):
    """The configuration cannot be read or merged: ``where`` (a file, with a JSON path or ``line:col``), what is
    wrong, and how to fix it."""

    def __init__(self, where: str, what: str, fix: str) -> None:
        super().__init__(f"{where}: {what} — {fix}")
        self.where, self.what, self.fix = where, what, fix


@dataclass(frozen=True)
class ServiceConfig:
    """The configuration a command uses: ``config`` (the merged document), ``text`` (the body of CreateService
    and UpdateService: ``service.json`` as it is, or the merged document), where it comes from."""

    config: dict[str, Any]
    text: str
    sources: tuple[str, ...]  # ("service.json",) or ("service.json", "environments/staging.json")
    environment: Optional[str] = None
    overridden: dict[str, str] = field(default_factory=dict)  # merged JSON path → the environment file's

    def describe(self) -> str:
        """``service.json``, or ``environment staging (service.json + environments/staging.json)``."""
        if self.environment is None:
            return SERVICE_JSON
        return f"environment {self.environment} ({' + '.join(self.sources)})"

    def source_of(self, path: str) -> tuple[str, str]:
        """The file and JSON path that set ``path`` (``$.metadata.name``) of the merged document: the environment
        file's when it set that path or one above it, else ``service.json``'s."""
        for merged in sorted(self.overridden, key=len, reverse=True):
            if path == merged or (path.startswith(merged) and path[len(merged)] in ".["):
                return self.sources[-1], self.overridden[merged] + path[len(merged):]
        return SERVICE_JSON, path


def selected_environment(environ: Mapping[str, str] = os.environ) -> Optional[str]:
    return environ.get(VARIABLE) or None


def environment_file(name: str) -> str:
    return f"{ENVIRONMENTS}/{name}.json"


def environment_names(project: Path) -> list[str]:
    """The stems of ``environments/*.json``, sorted (valid names or not: the doctor reports the others)."""
    return sorted(path.stem for path in (project / ENVIRONMENTS).glob("*.json") if path.is_file())


def load_service_config(project: Path, environ: Mapping[str, str] = os.environ) -> ServiceConfig:
    """``service.json`` with the environment of ``EAS_ENV`` merged in (the rules are this module's); a
    :class:`ServiceConfigError` names the file and the rule when either cannot be used."""
    return load_environment(project, selected_environment(environ))


def load_environment(project: Path, name: Optional[str]) -> ServiceConfig:
    text, base = _read_object(project, SERVICE_JSON)
    if name is None:
        return ServiceConfig(base, text, (SERVICE_JSON,))
    relative = environment_file(name)
    if not NAME.match(name):
        raise ServiceConfigError(f"{VARIABLE}={name!r}", f"is not an environment name ({NAME.pattern}: lower case "
                                 "letters, digits, _ and -, at most 32)", f"rename {relative} and set {VARIABLE} to "
                                 "its new name")
    if not (project / relative).is_file():
        existing = [each for each in environment_names(project) if NAME.match(each)]
        raise ServiceConfigError(f"{VARIABLE}={name}", f"{relative} does not exist (environments here: "
                                 f"{', '.join(existing) or 'none'})", f"set {VARIABLE} to one of them, unset it for "
                                 f"{SERVICE_JSON} alone, or create {relative}")
    _, patch = _read_object(project, relative)
    overridden: dict[str, str] = {}
    merged = _merge(base, patch, (), (), overridden, relative)
    return ServiceConfig(merged, json.dumps(merged, indent=2, ensure_ascii=False), (SERVICE_JSON, relative), name,
                         overridden)


def every_config(project: Path) -> Iterator[ServiceConfig]:
    """The base configuration and each environment's that loads (the doctor reports those that do not)."""
    for name in [None, *environment_names(project)]:
        try:
            yield load_environment(project, name)
        except ServiceConfigError:
            continue


def merge(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base`` by this module's rules (neither is changed)."""
    return _merge(base, patch, (), (), {}, "patch")


def json_path(*parts: Any) -> str:
    """``json_path("containers", 0, "port")`` → ``$.containers[0].port`` (jsonschema's notation)."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def _read_object(project: Path, relative: str) -> tuple[str, dict[str, Any]]:
    try:
        text = (project / relative).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServiceConfigError(relative, "is missing", f"run in the service's project directory, or restore "
                                 f"{relative}") from None
    except (OSError, UnicodeDecodeError) as problem:
        raise ServiceConfigError(relative, f"cannot be read as UTF-8 text ({problem})", "save it as UTF-8 JSON") \
            from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise ServiceConfigError(f"{relative}:{problem.lineno}:{problem.colno}", f"is not valid JSON: {problem.msg}",
                                 f"correct line {problem.lineno}, column {problem.colno} (often a missing or "
                                 "trailing comma, or an unquoted name)") from None
    if not isinstance(data, dict):
        raise ServiceConfigError(f"{relative} $", f"is a JSON {_kind(data)}, not an object",
                                 'write it as one object, {"metadata": …, …}' if relative == SERVICE_JSON else
                                 'write it as one object of the keys it overrides, {"metadata": {"name": …}, …}')
    return text, data


def _merge(base: Any, patch: Any, at: JsonPath, patch_at: JsonPath, overridden: dict[str, str], source: str) -> Any:
    """Rules 1-5; ``overridden`` records each merged path the patch set, with its own path in ``source``."""
    if base is not None and (isinstance(base, dict) != isinstance(patch, dict)
                             or isinstance(base, list) != isinstance(patch, list)):
        kind = _kind(base)
        raise ServiceConfigError(f"{source} {json_path(*patch_at)}", f"is a JSON {_kind(patch)} where {SERVICE_JSON} "
                                 f"has {_a(kind)}: an override keeps the kind of what it overrides (objects merge key "
                                 "by key, lists replace or merge by index or name)", f"write {_a(kind)} there ({{}} "
                                 "or [] when nothing changes; null deletes the key)")
    if isinstance(patch, dict):
        merged = dict(base) if isinstance(base, dict) else {}
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
                overridden[json_path(*at, key)] = json_path(*patch_at, key)
            else:
                merged[key] = _merge(merged.get(key), value, (*at, key), (*patch_at, key), overridden, source)
        if not isinstance(base, dict):
            overridden[json_path(*at)] = json_path(*patch_at)
        return merged
    if isinstance(patch, list) and isinstance(base, list):
        if at in MERGED_BY_INDEX:
            return _merge_by_index(base, patch, at, patch_at, overridden, source)
        if patch and _named(base) and _named(patch):
            return _merge_by_name(base, patch, at, patch_at, overridden, source)
    overridden[json_path(*at)] = json_path(*patch_at)
    return patch


def _merge_by_index(base: list[Any], patch: list[Any], at: JsonPath, patch_at: JsonPath, overridden: dict[str, str],
                    source: str) -> list[Any]:
    merged = list(base)
    for index, item in enumerate(patch):
        if not isinstance(item, dict):
            raise ServiceConfigError(f"{source} {json_path(*patch_at, index)}", f"is a JSON {_kind(item)}: "
                                     f"{json_path(*at)} merges item by item, each item an object of what changes",
                                     "write an object ({} keeps that item as it is)")
        if index < len(merged):
            merged[index] = _merge(merged[index], item, (*at, index), (*patch_at, index), overridden, source)
        else:
            merged.append(_merge(None, item, (*at, index), (*patch_at, index), overridden, source))
    return merged


def _merge_by_name(base: list[dict[str, Any]], patch: list[dict[str, Any]], at: JsonPath, patch_at: JsonPath,
                   overridden: dict[str, str], source: str) -> list[Any]:
    entries: list[tuple[str, Optional[dict[str, Any]], Optional[int]]] = [(each["name"], each, None) for each in base]
    for patch_index, entry in enumerate(patch):
        found = next((index for index, (name, _, _) in enumerate(entries) if name == entry["name"]), None)
        if all(value is None for key, value in entry.items() if key != "name"):  # removes the entry
            if found is not None:
                del entries[found]
        elif found is not None:
            entries[found] = (entry["name"], entries[found][1], patch_index)
        else:
            entries.append((entry["name"], None, patch_index))
    return [entry if patch_index is None else
            _merge(entry, patch[patch_index], (*at, index), (*patch_at, patch_index), overridden, source)
            for index, (_, entry, patch_index) in enumerate(entries)]


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in items)


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "string"
