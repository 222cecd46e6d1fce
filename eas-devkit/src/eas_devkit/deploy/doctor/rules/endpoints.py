"""Rules: OSS and MaxCompute are reached on their internal endpoints of the service's region, and OSS mounts are
folders the role may read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Optional
from urllib.parse import urlsplit

from ..findings import Finding, at, error, warn
from ..images import official_region
from ..needs import SAMPLE_KEY
from ..project import CUSTOM_ROLE, PERMISSION_POLICY, SERVICE_JSON, Project
from .permissions import allow

OSS_HOST = re.compile(r"^oss-(?P<region>[a-z0-9-]+?)(?P<internal>-internal)?\.aliyuncs\.com$")
MAXCOMPUTE_HOST = re.compile(r"^service\.(?P<region>[a-z0-9-]+?)(?P<vpc>-vpc)?\.maxcompute\.aliyun(?P<inc>-inc)?\.com$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def endpoints_are_internal_and_in_region(project: Project) -> Iterator[Finding]:
    """The guide, examples: EAS has no internet by default, so OSS and MaxCompute are reached on their internal
    endpoints (oss-<region>-internal, service.<region>-vpc.maxcompute.aliyun-inc.com) of the service's region."""
    region = project.env.get("REGION")
    for index, name, value in project.env_entries:
        if not name.endswith("_ENDPOINT") or not isinstance(value, str):
            continue
        host = urlsplit(value if "//" in value else "//" + value).hostname or ""
        where = at(SERVICE_JSON, "containers", 0, "env", index, "value")
        oss, maxcompute = OSS_HOST.match(host), MAXCOMPUTE_HOST.match(host)
        is_oss = name == "OSS_ENDPOINT" or (name != "ODPS_ENDPOINT" and oss is not None)
        if is_oss:
            expected = f"oss-{region or '<region>'}-internal.aliyuncs.com"
            problems = _endpoint_problems(host, oss, bool(oss and oss["internal"]), region, "OSS")
        elif name == "ODPS_ENDPOINT" or maxcompute:
            expected = f"https://service.{region or '<region>'}-vpc.maxcompute.aliyun-inc.com/api"
            vpc = bool(maxcompute and maxcompute["vpc"] and maxcompute["inc"])
            problems = _endpoint_problems(host, maxcompute, vpc, region, "MaxCompute")
            if not problems and (urlsplit(value).scheme not in ("http", "https") or urlsplit(value).path != "/api"):
                problems = ["pyodps takes the endpoint as a URL ending in /api"]
        else:
            continue
        if problems:
            yield error(where, f"{name}={value}: {'; '.join(problems)}", f"use {expected} (service.json is what EAS "
                        "gets; the local EAS replaces every endpoint with its own loopback one)")
    registry = official_region(project.image or "")
    if registry and region and registry != region:
        yield warn(at(SERVICE_JSON, "containers", 0, "image"), f"comes from the registry of {registry}, "
                   f"but REGION is {region}: EAS pulls images from its own region's VPC registry",
                   f"use eas-registry-vpc.{region}.cr.aliyuncs.com/…")


def _endpoint_problems(host: str, match: Optional[re.Match[str]], internal: bool, region: Optional[str],
                       service: str) -> list[str]:
    if host in LOOPBACK_HOSTS:
        return ["a loopback address, which EAS instances cannot use"]
    if match is None:
        return [f"not a {service} endpoint"]
    problems = [] if internal else [f"a public {service} endpoint: EAS has no internet access by default, "
                                    "use the internal one"]
    if region and match["region"] != region:
        problems.append(f"in {match['region']}, but REGION is {region}")
    return problems


def oss_mounts_are_folders_the_role_reads(project: Project) -> Iterator[Finding]:
    """The guide, "Deploy the examples": an OSS mount is a folder (mount path /mnt/data/, source oss://bucket/dir/),
    and EAS mounts it with the role's permissions (the code mount is checked with the other needs)."""
    policy = project.policy(PERMISSION_POLICY) if project.role == CUSTOM_ROLE else None
    for mount in project.oss_mounts:
        if not mount.mount_path.endswith("/"):
            yield error(at(SERVICE_JSON, "storage", mount.index, "mount_path"), f"{mount.mount_path} does not end in /",
                        f"write the folder with its slash: {mount.mount_path}/")
        if mount.prefix and not mount.prefix.endswith("/"):
            source = f"oss://{mount.bucket}/{mount.prefix}"
            yield error(at(SERVICE_JSON, "storage", mount.index, "oss", "path"), f"{source} does not end in /",
                        f"mount a folder: {source}/")
        if policy is None or mount == project.code_mount:
            continue
        readable = [(action, resource) for action, resource in (
            ("oss:ListObjects", project.oss_resource(mount.bucket)),
            ("oss:GetObject", project.oss_resource(mount.bucket, mount.prefix + SAMPLE_KEY)),
        ) if not policy.allows(action, resource, {"oss:Prefix": mount.prefix})]
        if readable:
            yield warn(at(SERVICE_JSON, "storage", mount.index, "oss", "path"),
                       f"the role may not read oss://{mount.bucket}/{mount.prefix} "
                       f"({', '.join(action for action, _ in readable)} is not allowed), so EAS cannot mount it",
                       f"grant it in {PERMISSION_POLICY}:", snippet=[
                           allow(["oss:ListObjects"], f"acs:oss:*:*:{mount.bucket}"),
                           allow(["oss:GetObject"], f"acs:oss:*:*:{mount.bucket}/{mount.prefix}*")])


RULES = (endpoints_are_internal_and_in_region, oss_mounts_are_folders_the_role_reads)
