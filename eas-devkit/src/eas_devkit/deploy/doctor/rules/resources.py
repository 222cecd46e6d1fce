"""Rules: where the instances run — the VPC they join (Configure network connectivity), and their resources:
public instance types or a dedicated resource group, CPU, memory, GPU (Deploy services with JSON)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..findings import Finding, at, error, warn
from ..project import SERVICE_JSON, Project

NETWORK_PAGE = "Configure network connectivity (https://www.alibabacloud.com/help/en/pai/user-guide/" \
               "configure-network-connectivity)"
# cloud.networking's IDs and their forms, as the VPC and ECS consoles show them.
VPC_IDS = {
    "vpc_id": ("VPC", re.compile(r"^vpc-[a-z0-9]+$"), "vpc-"),
    "vswitch_id": ("vSwitch", re.compile(r"^vsw-[a-z0-9]+$"), "vsw-"),
    "security_group_id": ("security group", re.compile(r"^sg-[a-z0-9]+$"), "sg-"),
}
# ecs.<family>.<size> (ecs.c7.large, ecs.gn7i-c8g1.2xlarge) or ml.<family>.<size> (ml.gu7i.c16m60.1-gu30).
INSTANCE_TYPE = re.compile(r"^(?:ecs|ml)(?:\.[A-Za-z0-9-]+){2,}$")
# GPU families: ecs.gn*, ecs.ebmgn*, ecs.sgn*, ecs.vgn*, ecs.gu*, ml.gu*.
GPU_TYPE = re.compile(r"^(?:ecs\.(?:ebm|s|v)?gn|ecs\.gu|ml\.gu)")
FEWEST_MB = 256  # below this, metadata.memory was most likely written in GB


def vpc_settings_are_complete(project: Project) -> Iterator[Finding]:
    """Configure network connectivity: cloud.networking names the VPC, the vSwitch and the security group together
    (vpc-…, vsw-…, sg-…); EAS gives each instance a network interface in that vSwitch. One setting serves reaching
    resources in the VPC and VPC direct connection."""
    networking = project.section("cloud", "networking")
    if networking is None:
        return
    given = [key for key in VPC_IDS if networking.get(key) not in (None, "")]
    missing = [key for key in VPC_IDS if key not in given]
    if given and missing:
        yield error(at(SERVICE_JSON, "cloud", "networking"), f"has {', '.join(given)} but not {', '.join(missing)}: "
                    f"EAS joins a VPC with the three together ({NETWORK_PAGE})", "add the missing IDs (the VPC "
                    "console lists the vSwitches and the ECS console the security groups of the VPC):",
                    snippet={"networking": {key: networking.get(key) or f"{VPC_IDS[key][2]}…" for key in VPC_IDS}})
    for key in given:
        label, form, prefix = VPC_IDS[key]
        value = networking[key]
        if not (isinstance(value, str) and form.match(value)):
            yield error(at(SERVICE_JSON, "cloud", "networking", key), f"{value!r} is not a {label} ID",
                        f"copy the ID from the console: {prefix} followed by lower-case letters and digits")


def resources_are_one_kind(project: Project) -> Iterator[Finding]:
    """Deploy services with JSON: public resources are cloud.computing's instance types (metadata.cpu and
    metadata.memory alone size an instance too, as in the ROS example); a dedicated resource group is
    metadata.resource (eas-r-…) with metadata.cpu and metadata.memory (MB) per instance — one or the other.
    metadata.gpu needs a GPU instance type or a resource group."""
    service = project.service
    if service is None:
        return
    meta = project.metadata
    computing = project.section("cloud", "computing")
    resource = meta.get("resource")
    if resource and computing is not None:
        yield error(at(SERVICE_JSON, "metadata", "resource"), "and cloud.computing are both set: a service runs "
                    "either on a dedicated resource group (metadata.resource) or on public resources "
                    "(cloud.computing)", "remove cloud.computing to run on the resource group, or "
                    "metadata.resource to run on public resources")
    elif not resource and computing is None and isinstance(service.get("metadata"), dict) \
            and not ("cpu" in meta and "memory" in meta):
        yield error(at(SERVICE_JSON, "cloud", "computing"), "is missing, and so are metadata.resource and "
                    "metadata.cpu/memory: nothing says what the instances run on", "add the instance type for "
                    'public resources, or metadata.resource with "cpu" and "memory" for a dedicated resource group:',
                    snippet={"cloud": {"computing": {"instances": [{"type": "ecs.c7.large"}]}}})
    if resource:
        for key, unit in (("cpu", "cores"), ("memory", "MB")):
            if key not in meta:
                yield error(at(SERVICE_JSON, "metadata", key), "is missing: on a dedicated resource group each "
                            "instance gets metadata.cpu cores and metadata.memory MB", f'add "{key}" ({unit}), '
                            'e.g. "cpu": 2, "memory": 4096')
    types = _instance_types(computing or {})
    for where, kind in types:
        if not INSTANCE_TYPE.match(kind):
            yield warn(where, f"{kind!r} does not look like an instance type: ecs.<family>.<size> (ecs.c7.large, "
                       "ecs.gn7i-c8g1.2xlarge for a GPU) or ml.<family>.<size>",
                       "copy the type from the console's list of instance types of the region")
    gpu = meta.get("gpu")
    if isinstance(gpu, int) and gpu > 0 and not resource and not any(GPU_TYPE.match(kind) for _, kind in types):
        named = ", ".join(kind for _, kind in types) or "no instance type"
        yield error(at(SERVICE_JSON, "metadata", "gpu"), f"asks for {gpu} GPU{'s' if gpu > 1 else ''}, but {named} "
                    "has none", "choose a GPU instance type (ecs.gn*, ecs.gu*, ml.gu*, e.g. ecs.gn7i-c8g1.2xlarge) "
                    "or a resource group with GPU nodes, or remove metadata.gpu")
    memory = meta.get("memory")
    if isinstance(memory, int) and not isinstance(memory, bool) and 0 < memory < FEWEST_MB:
        yield warn(at(SERVICE_JSON, "metadata", "memory"), f"{memory}: metadata.memory is in MB",
                   f"for {memory} GB write {memory * 1024}")


def _instance_types(computing: dict[str, Any]) -> list[tuple[str, str]]:
    types = []
    instances = computing.get("instances")
    for index, entry in enumerate(instances if isinstance(instances, list) else []):
        if isinstance(entry, dict) and isinstance(entry.get("type"), str):
            types.append((at(SERVICE_JSON, "cloud", "computing", "instances", index, "type"), entry["type"]))
    if isinstance(computing.get("instance_type"), str):
        types.append((at(SERVICE_JSON, "cloud", "computing", "instance_type"), computing["instance_type"]))
    return types


RULES = (vpc_settings_are_complete, resources_are_one_kind)
