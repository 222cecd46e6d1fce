"""Validate the answers before cookiecutter writes anything.

Every rule names the field, the rule and an example of a valid value; all problems are reported at once,
and the hook exits 1 so cookiecutter removes the half-made directory. The answers arrive as JSON data
(rendered with ``tojson``), never pasted into Python source, so no answer can change what this code does.

The project directory is named by the answer itself (``{{ "{{cookiecutter.service}}" }}/``), so a name with
``/`` made cookiecutter create parent directories before this hook ran; cookiecutter removes only the
project directory. A small process left behind by the hook removes those parents once it has.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any, Callable, Optional

ANSWERS: dict[str, Any] = json.loads(r"""{{ cookiecutter | tojson }}""")

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]{2,62}$")
ROLE_ARN = re.compile(r"^acs:ram::(\d+):role/([A-Za-z0-9.-]{1,64})$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
ODPS_PROJECT = re.compile(r"^[a-z][a-z0-9_]{2,127}$", re.IGNORECASE)
WORKSPACE_ID = re.compile(r"^[0-9]{1,20}$")
INSTANCE_TYPE = re.compile(r"^(ecs|ml)\.[A-Za-z0-9.-]+$")
OSS_PREFIX = re.compile(r"^[^/\x00-\x1f\x7f\\][^\x00-\x1f\x7f\\]{0,253}/$")
RESERVED_PORTS = (8080, 9090)  # EAS uses them itself
# N, or MIN-MAX (service.json's Jinja splits the answer the same way: at the "-", spaces trimmed).
INSTANCES = re.compile(r"^\s*(?P<low>[0-9]{1,7})\s*(?:-\s*(?P<high>[0-9]{1,7})\s*)?$")
MAX_INSTANCES = 1000  # the console's limit for the maximum of horizontal auto scaling
ROLES = ("custom", "pai-default", "none")
DOCS_LANGUAGES = ("en", "zh-Hant", "zh-Hans")
CI_CHOICES = ("github", "none")
# Regions with EAS (shared/reference); the same list as cookiecutter.json's choices (a test keeps them equal).
REGIONS = (
    "cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-zhangjiakou", "cn-wulanchabu", "cn-shenzhen",
    "cn-heyuan", "cn-guangzhou", "cn-chengdu", "cn-hongkong", "ap-northeast-1", "ap-northeast-2",
    "ap-southeast-1", "ap-southeast-3", "ap-southeast-5", "eu-central-1", "us-west-1", "us-east-1",
)


def instance_bounds(value: Any) -> Optional[tuple[int, Optional[int]]]:
    """The ``instances`` answer as (count, None) for ``N``, (MIN, MAX) for ``MIN-MAX``; None when it is neither,
    or out of EAS's range (at least 1, at most 1000 instances; a range whose MIN is below its MAX)."""
    if isinstance(value, bool):
        return None
    match = INSTANCES.match(str(value))
    if match is None:
        return None
    low = int(match["low"])
    high = int(match["high"]) if match["high"] is not None else None
    if high is None:
        return (low, None) if 1 <= low <= MAX_INSTANCES else None
    return (low, high) if 1 <= low < high <= MAX_INSTANCES else None


def as_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def check(answers: dict[str, Any]) -> list[str]:
    """All the problems with ``answers``, as ``<field>: <what is wrong> (rule: …; example: …)``."""
    problems: list[str] = []

    def require(field: str, ok: bool, what: str, rule: str, example: str) -> None:
        if not ok:
            problems.append(f"{field}: {what} (rule: {rule}; example: {example})")

    def matches(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
        return lambda value: isinstance(value, str) and pattern.match(value) is not None

    service, region, role = answers["service"], answers["region"], answers["role"]
    role_arn, workspace_id = answers["role_arn"].strip(), answers["workspace_id"].strip()
    oss, maxcompute = answers["oss"], answers["maxcompute"]

    require("service", matches(SERVICE_NAME)(service), f"{service!r} is not a valid EAS service name",
            "a lower-case letter, then 2 to 62 lower-case letters, digits or underscores", "my_service")
    require("region", region in REGIONS, f"{region!r} is not a region with EAS",
            "one of " + ", ".join(REGIONS), "cn-hangzhou")

    port = as_int(answers["port"])
    require("port", port is not None and 1024 <= port <= 65535 and port not in RESERVED_PORTS,
            f"{answers['port']} cannot be the service port",
            "a whole number from 1024 to 65535, except 8080 and 9090 which EAS reserves", "8000")
    require("instances", instance_bounds(answers["instances"]) is not None,
            f"{answers['instances']!r} is not an instance count or range",
            f"N, a fixed count from 1 to {MAX_INSTANCES}, or MIN-MAX to autoscale, "
            f"with 1 <= MIN < MAX <= {MAX_INSTANCES}", "2 or 2-5")
    require("instance_type", matches(INSTANCE_TYPE)(answers["instance_type"]),
            f"{answers['instance_type']!r} is not an instance type", "ecs.<family>.<size> or ml.<spec>", "ecs.c7.large")
    require("image", bool(answers["image"].strip()) and not re.search(r"\s", answers["image"].strip()),
            f"{answers['image']!r} is not an image reference", "a registry path without spaces",
            f"eas-registry-vpc.{region}.cr.aliyuncs.com/pai-eas/python-inference:py39-ubuntu2004")

    require("role", role in ROLES, f"{role!r} is not a role choice", "one of " + ", ".join(ROLES), "custom")
    if role == "custom":  # with any other role the answer is ignored: nothing in the bake uses it
        require("role_arn", matches(ROLE_ARN)(role_arn), f"{role_arn!r} is not the ARN of a RAM role",
                "role=custom needs acs:ram::<account-id digits>:role/<role name of letters, digits, . and ->",
                "acs:ram::1234567890123456:role/my-eas-role")
    if role == "pai-default" and oss:
        require("workspace_id", bool(workspace_id), "is empty but role=pai-default with oss=yes",
                "the PAI default role reaches only the workspace's default bucket, and JSON deployment needs "
                "metadata.workspace_id for the OSS SDK", "123456")
    if workspace_id:
        require("workspace_id", matches(WORKSPACE_ID)(workspace_id), f"{workspace_id!r} is not a workspace ID",
                "the digits of the PAI workspace ID", "123456")
    if role == "none":
        for field, enabled in (("oss", oss), ("maxcompute", maxcompute)):
            require(field, not enabled, "is enabled but role=none",
                    "the OSS and MaxCompute handlers get their credentials from the service's RAM role",
                    "role=custom or role=pai-default, or answer no here")

    require("docs_language", answers["docs_language"] in DOCS_LANGUAGES,
            f"{answers['docs_language']!r} is not a language of the documentation",
            "one of " + ", ".join(DOCS_LANGUAGES), "zh-Hant")
    require("ci", answers["ci"] in CI_CHOICES, f"{answers['ci']!r} is not a CI/CD choice",
            "one of " + ", ".join(CI_CHOICES), "github")
    require("oss_bucket", matches(BUCKET_NAME)(answers["oss_bucket"]),
            f"{answers['oss_bucket']!r} is not a valid OSS bucket name",
            "3 to 63 lower-case letters, digits or -, starting and ending with a letter or digit", "my-eas-bucket")
    require("oss_code_prefix", matches(OSS_PREFIX)(answers["oss_code_prefix"]),
            f"{answers['oss_code_prefix']!r} is not a folder in the bucket",
            "a non-empty path that ends with / and does not start with / (no control characters)",
            f"eas/{service}/")
    data_prefix = answers["oss_data_prefix"]
    require("oss_data_prefix", data_prefix == "" or matches(OSS_PREFIX)(data_prefix),
            f"{data_prefix!r} is not a folder in the bucket",
            "empty (the whole bucket) or a path that ends with / and does not start with /", "data/")
    require("maxcompute_sql", maxcompute or not answers.get("maxcompute_sql"), "is enabled but maxcompute=no",
            "the SQL route is part of the MaxCompute handlers", "maxcompute=yes, or maxcompute_sql=no")
    if maxcompute:
        require("odps_project", matches(ODPS_PROJECT)(answers["odps_project"]),
                f"{answers['odps_project']!r} is not a valid MaxCompute project name",
                "a letter, then 2 to 127 letters, digits or underscores", "my_project")
    return problems


# Run by a detached Python after the hook exits: wait (at most 10 s) until cookiecutter has removed the project
# directory, then remove the directories it created for it, deepest first, those that are empty.
REMOVE_PARENTS_AFTERWARDS = """
import os, sys, time
project, parents = sys.argv[1], sys.argv[2:]
deadline = time.monotonic() + 10
while os.path.lexists(project) and time.monotonic() < deadline:
    time.sleep(0.002)
for parent in parents:
    try:
        os.rmdir(parent)
    except OSError:
        pass
"""


def created_parents(service: str, output_dir: str) -> list[str]:
    """The directories cookiecutter made inside the output directory on its way to a project directory named
    ``service`` (``a/b`` makes ``a``; ``a/../b`` makes ``a`` too), deepest first. Never the output directory
    itself, and nothing outside it."""
    parts = service.split("/")
    inside = output_dir.rstrip(os.sep) + os.sep
    parents = {os.path.normpath(os.path.join(output_dir, *parts[:depth])) for depth in range(1, len(parts))}
    return sorted((parent for parent in parents if parent.startswith(inside)), key=len, reverse=True)


def remove_created_parents_afterwards(project: str, service: str, output_dir: str) -> None:
    parents = created_parents(service, output_dir)
    if parents:
        subprocess.Popen([sys.executable, "-c", REMOVE_PARENTS_AFTERWARDS, project, *parents],
                         start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def main() -> int:
    problems = check(ANSWERS)
    if not problems:
        return 0
    if isinstance(ANSWERS["service"], str) and "/" in ANSWERS["service"]:
        remove_created_parents_afterwards(os.getcwd(), ANSWERS["service"],
                                          os.path.abspath(ANSWERS.get("_output_dir", ".")))
    print("\nThe template cannot be baked with these answers:", file=sys.stderr)
    for problem in problems:
        print(f"  ERROR {problem}", file=sys.stderr)
    print("Nothing was written. Run cookiecutter again with corrected answers.\n", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
