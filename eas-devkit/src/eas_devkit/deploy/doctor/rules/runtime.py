"""Rules: what the run command needs to start — the port gunicorn binds, the environment, pinned requirements
inside the code mount."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import metadata
from typing import Optional

from ..findings import Finding, at, error, warn
from ..literals import NOT_A_LITERAL
from ..project import DEFAULT_REQUIREMENTS, MISSING, MOUNT_DIR, SERVICE_JSON, Project

RESERVED_PORTS = (8080, 9090)  # EAS listens on them itself


def port_is_the_bound_port(project: Project) -> Iterator[Finding]:
    """Reference, containers: port is where the EAS gateway sends requests, so it equals what gunicorn binds
    (--bind in the run command, else bind in gunicorn.conf.py) on all interfaces; 8080 and 9090 are EAS's own."""
    container = project.container or {}
    port = container.get("port")
    if not isinstance(port, int) or isinstance(port, bool):
        return
    where = at(SERVICE_JSON, "containers", 0, "port")
    if port in RESERVED_PORTS:
        yield error(where, f"{port} is reserved by EAS (8080 and 9090 are its own)",
                    "use another port, e.g. 8000, here and in the --bind of containers[0].script")
        return
    addresses = _bound_addresses(project)
    if addresses is None:
        return
    source, addresses = addresses
    ports = []
    for address in addresses:
        host, bound = _host_and_port(address)
        if bound is None:
            yield error(source, f"binds {address}, not a TCP port: the EAS gateway reaches the service on "
                        "containers[0].port", f"bind 0.0.0.0:{port}")
            return
        if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
            yield error(source, f"binds {address}, a loopback address the EAS gateway cannot reach",
                        f"bind 0.0.0.0:{port}")
            return
        ports.append(bound)
    if port not in ports:
        yield error(where, f"{port} is not the port the service listens on ({', '.join(addresses)} in {source})",
                    "make containers[0].port and the bound port the same: EAS sends requests to containers[0].port")


def _bound_addresses(project: Project) -> Optional[tuple[str, list[str]]]:
    """Where gunicorn's bind is set and its addresses; None without gunicorn, or with a bind that is not a literal."""
    if project.gunicorn is None:
        return None
    bind = project.gunicorn.setting("bind")
    values = [bind.value] if isinstance(bind.value, str) else bind.value
    if bind.value is NOT_A_LITERAL or not isinstance(values, (list, tuple)) or not values \
            or not all(isinstance(value, str) for value in values):
        return None
    return bind.where, list(values)


def _host_and_port(address: str) -> tuple[str, Optional[int]]:
    if address.startswith(("unix:", "fd://")):
        return address, None
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "8000")
    return host, int(port) if port.isdigit() else None


def env_is_strings_once_each(project: Project) -> Iterator[Finding]:
    """Reference, containers: env is a list of {"name", "value": "<string>"}; a name set twice leaves which
    value wins to EAS; the app needs REGION, and each handler its endpoint (app/config.py)."""
    seen: dict[str, int] = {}
    for index, name, value in project.env_entries:
        if value is not MISSING and not isinstance(value, str):
            scalar = isinstance(value, (bool, int, float))
            yield error(at(SERVICE_JSON, "containers", 0, "env", index, "value"),
                        f"{name} is {json.dumps(value)}, not a string: EAS takes env values as strings",
                        f'quote it: "value": "{json.dumps(value)}"' if scalar else 'give it a string, e.g. "value": ""')
        if name in seen:
            yield error(at(SERVICE_JSON, "containers", 0, "env", index, "name"),
                        f"{name} is set twice (env[{seen[name]}] and env[{index}])", "keep one of them")
        seen.setdefault(name, index)
    if project.container is None or not isinstance(project.container.get("env"), list):
        return
    if not project.env.get("REGION"):
        yield error(at(SERVICE_JSON, "containers", 0, "env"), "REGION is not set: the service refuses to start "
                    "without it", 'add {"name": "REGION", "value": "<the service\'s region, e.g. cn-hangzhou>"}')
    for handler, endpoint in (("OSS_BUCKET", "OSS_ENDPOINT"), ("ODPS_PROJECT", "ODPS_ENDPOINT")):
        if project.env.get(handler) and not project.env.get(endpoint):
            yield error(at(SERVICE_JSON, "containers", 0, "env"), f"{handler} is set but {endpoint} is not: the "
                        "service refuses to start", f"add {endpoint} (the internal endpoint of REGION)")


def requirements_are_pinned_and_mounted(project: Project) -> Iterator[Finding]:
    """Reference, prepare: EAS pip-installs the third-party library list before the run command; pinned with
    == it installs what was tested, and pythonRequirementsPath must point into the code mount."""
    prepare = (project.container or {}).get("prepare")
    prepare = prepare if isinstance(prepare, dict) else {}
    relative = DEFAULT_REQUIREMENTS
    path = prepare.get("pythonRequirementsPath")
    if isinstance(path, str):
        mount = project.code_mount
        local = project.local_file(path)
        if local is None:
            where_mounted = f"the code mount {mount.mount_path}" if mount else "any OSS mount"
            yield error(at(SERVICE_JSON, "containers", 0, "prepare", "pythonRequirementsPath"),
                        f"{path} is outside {where_mounted}: only {MOUNT_DIR}/ is uploaded and mounted, so EAS "
                        "finds no requirements file there",
                        f"point it at the mounted file, e.g. {(mount.mount_path.rstrip('/') if mount else '/mnt/data')}"
                        "/requirements.txt")
        else:
            relative = local
            if not project.exists(relative):
                yield error(relative, f"is missing, but pythonRequirementsPath ({path}) names it",
                            f"create {relative} with the service's pinned requirements, or correct the path")
    for index, spec in enumerate(prepare.get("pythonRequirements") or []):
        if isinstance(spec, str) and _unpinned(spec):
            yield error(at(SERVICE_JSON, "containers", 0, "prepare", "pythonRequirements", index),
                        f"{spec} is not pinned with ==", _pin_fix(spec))
    text = project.text(relative)
    for number, line in _logical_lines(text or ""):
        if line.startswith(("-r", "--requirement", "-c", "--constraint")):
            yield warn(f"{relative}:{number}", f"{line} is not followed by the check",
                       "list every requirement in this file, pinned with ==")
        elif line.startswith(("-e", "--editable")):
            yield error(f"{relative}:{number}", f"{line} is an editable checkout, not pinned with ==",
                        "require a released version pinned with ==, e.g. name==1.2.3")
        elif not line.startswith("-") and _unpinned(line):
            yield error(f"{relative}:{number}", f"{line} is not pinned with ==", _pin_fix(line))


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-empty requirement lines without comments, continuations joined, with their first line number."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*)(?:;.*)?$")


def _unpinned(line: str) -> bool:
    match = REQUIREMENT.match(line.strip())
    return match is None or re.fullmatch(r"==\s*[A-Za-z0-9][A-Za-z0-9.+!_-]*", match["spec"].strip()) is None


def _pin_fix(line: str) -> str:
    match = REQUIREMENT.match(line.strip())
    name = match["name"] if match else re.split(r"[\s\[<>=!~;@]", line.strip(), maxsplit=1)[0]
    try:
        return f"pin the version you test with: {name}=={metadata.version(name)} (installed here)"
    except (metadata.PackageNotFoundError, ValueError):
        return f"pin the version you test with: {name}==<version>"


RULES = (port_is_the_bound_port, env_is_strings_once_each, requirements_are_pinned_and_mounted)
