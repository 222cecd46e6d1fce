"""What the service's role must allow, one ``Need`` per caller and resource: the code mount and the handlers
enabled in ``containers[0].env`` (every role), and, for a custom role, what EAS itself does with the role when it
deploys (the guide: "在部署服务时，系统将基于自定义角色的权限访问挂载的数据源并拉取自定义镜像" — with a custom role,
EAS mounts the data sources and pulls a custom image with the role's permissions): NAS mounts and ACR pulls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .images import acr_repository
from .project import CUSTOM_ROLE, PERMISSION_POLICY, SERVICE_JSON, SQL_ROUTE

if TYPE_CHECKING:
    from .project import Project

# What the doctor asks RAM about: a sample object under a prefix, a sample table, a sample SQL instance.
SAMPLE_KEY = "doctor-check"
SAMPLE_TABLE = "doctor_check"
SAMPLE_INSTANCE = "doctor-check"
SAMPLE_ACR_INSTANCE = "cri-doctor-check"  # an Enterprise Edition instance ID, which an image's host does not give
# NAS: mounting reads the file system and its mount targets. The RAM guide names no NAS action: these read-only
# ones are our reading of NAS's "RAM authorization" page (resource acs:nas:<region>:<account>:filesystem/<id>).
NAS_MOUNT_ACTIONS = ("nas:DescribeFileSystems", "nas:DescribeMountTargets")
# ACR: a pull signs in (cr:GetAuthorizationToken, which takes no resource but *) and pulls the repository.
ACR_TOKEN_ACTION = "cr:GetAuthorizationToken"
ACR_PULL_ACTION = "cr:PullRepository"
# <file system ID>-<mount target>.<region>.nas.aliyuncs.com (extreme-<ID>-… for Extreme NAS).
NAS_SERVER = re.compile(r"^(?P<filesystem>(?:extreme-)?[0-9a-z]+)-[0-9a-z]+\.(?P<region>[a-z0-9-]+)\."
                        r"(?:extreme\.)?nas\.aliyuncs\.com$")


@dataclass(frozen=True)
class Need:
    """Actions one part of the service calls on one resource, and a concrete resource to ask RAM about."""

    caller: str  # for the message: "the /oss/objects/<key> routes"
    actions: tuple[str, ...]
    pattern: str  # the resource as a policy names it
    sample: str  # one resource the caller touches, as RAM sees the request
    context: tuple[tuple[str, str], ...] = ()
    also: tuple[str, ...] = ()  # other resources it may be, any of which the policy may allow instead


def needs_of(project: Project) -> list[Need]:
    return [*_code_mount(project), *_handlers(project), *_deployment(project)]


def _code_mount(project: Project) -> list[Need]:
    code = project.code_mount
    if code is None:
        return []
    caller = f"the OSS mount of the code at {code.mount_path} ({SERVICE_JSON} $.storage[{code.index}])"
    return [
        Need(caller, ("oss:ListObjects",), f"acs:oss:*:*:{code.bucket}", project.oss_resource(code.bucket),
             (("oss:Prefix", code.prefix),)),
        Need(caller, ("oss:GetObject",), f"acs:oss:*:*:{code.bucket}/{code.prefix}*",
             project.oss_resource(code.bucket, code.prefix + SAMPLE_KEY)),
    ]


def _handlers(project: Project) -> list[Need]:
    needs = []
    bucket = project.env.get("OSS_BUCKET")
    if bucket:
        prefix = project.env.get("OSS_DATA_PREFIX", "")
        needs += [
            Need("GET /oss/objects", ("oss:ListObjects",), f"acs:oss:*:*:{bucket}", project.oss_resource(bucket),
                 (("oss:Prefix", prefix),)),
            Need("the /oss/objects/<key> routes (GET, PUT, DELETE)",
                 ("oss:GetObject", "oss:PutObject", "oss:DeleteObject"), f"acs:oss:*:*:{bucket}/{prefix}*",
                 project.oss_resource(bucket, prefix + SAMPLE_KEY)),
        ]
    odps_project = project.env.get("ODPS_PROJECT")
    if odps_project:
        project_arn = f"acs:odps:*:projects/{odps_project}"
        needs += [
            Need("GET /maxcompute/tables", ("odps:List",), project_arn, project_arn),
            Need("the /maxcompute/tables/<name> routes", ("odps:Describe", "odps:Select", "odps:Download"),
                 f"{project_arn}/tables/*", f"{project_arn}/tables/{SAMPLE_TABLE}"),
        ]
        if project.exists(SQL_ROUTE):
            needs += [
                Need("POST /maxcompute/sql", ("odps:CreateInstance",), project_arn, project_arn),
                Need("POST /maxcompute/sql", ("odps:Read",), f"{project_arn}/instances/*",
                     f"{project_arn}/instances/{SAMPLE_INSTANCE}"),
            ]
    return needs


def _deployment(project: Project) -> list[Need]:
    """What EAS does with a custom role while it deploys: mount NAS, pull an image from ACR (unless dockerAuth
    gives the registry's own credentials)."""
    if project.role != CUSTOM_ROLE:
        return []
    needs = []
    for mount in project.nfs_mounts:
        match = NAS_SERVER.match(mount.server)
        filesystem, region = (match["filesystem"], match["region"]) if match else ("*", project.region)
        needs.append(Need(f"the NAS mount at {mount.mount_path} ({SERVICE_JSON} $.storage[{mount.index}])",
                          NAS_MOUNT_ACTIONS, f"acs:nas:*:*:filesystem/{filesystem}",
                          f"acs:nas:{region}:{project.account}:filesystem/{filesystem}"))
    repository = acr_repository(project.image or "")
    if repository is not None and "dockerAuth" not in (project.service or {}):
        caller = f"pulling the image {project.image} ({SERVICE_JSON} $.containers[0].image)"
        policy = project.policy(PERMISSION_POLICY)
        resources = [resource for statement in (policy.statements if policy else ())
                     for resource in statement.resources]
        # The instance IDs the policy names, so that a grant on the real instance counts.
        named = {resource.split("/")[1] for resource in resources if resource.startswith("acs:cr:")
                 and resource.count("/") == 3 and "*" not in resource.split("/")[1]}
        samples = [repository.resource(project.account, instance) for instance in [SAMPLE_ACR_INSTANCE, *sorted(named)]]
        needs += [
            Need(caller, (ACR_TOKEN_ACTION,), "*", "*"),
            Need(caller, (ACR_PULL_ACTION,), repository.pattern(), samples[0], also=tuple(samples[1:])),
        ]
    return needs
