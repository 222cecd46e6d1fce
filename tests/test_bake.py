"""What a bake writes, for the default answers and every combination the hook accepts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import ACCEPTED_COMBINATIONS, KIT, TEMPLATE, combination_id
from eas_devkit.schemas import SERVICE_SCHEMA

VARIANTS = ACCEPTED_COMBINATIONS + [
    {"region": "ap-southeast-1", "port": 8501},
    {"region": "eu-central-1", "port": 1024, "instances": 3, "oss_data_prefix": ""},
    {"region": "us-east-1", "port": 65535, "project_name": "Fraud Scorer", "instance_type": "ml.gu7i.c8m30.1-gu30"},
]
LEFTOVER_TEMPLATING = re.compile(r"(?<!\$)\{\{|\{%|cookiecutter\.")  # ${{ … }} is GitHub's own


def all_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.mark.parametrize("answers", VARIANTS, ids=[combination_id(v) for v in VARIANTS])
def test_bake_is_complete_and_valid(bake, answers):
    baked = bake(**answers)
    service = baked.context["service"]
    assert baked.path.name == service

    for path in all_files(baked.path):
        text = path.read_text(encoding="utf-8")
        assert not LEFTOVER_TEMPLATING.search(text), f"templating left in {path.relative_to(baked.path)}"
        if path.suffix == ".json":
            json.loads(text)

    config = baked.json("service.json")
    schema = json.loads(SERVICE_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(config, schema, cls=jsonschema.Draft202012Validator)
    assert config["metadata"]["name"] == service

    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--target-version", "py39", "."],
                          cwd=baked.path, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_default_bake_is_an_eas_service(bake):
    baked = bake()
    config = baked.json("service.json")
    container = config["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    region = baked.context["region"]

    assert container["image"] == f"eas-registry-vpc.{region}.cr.aliyuncs.com/pai-eas/python-inference:py39-ubuntu2004"
    assert container["script"] == "gunicorn --config /mnt/data/gunicorn.conf.py --bind 0.0.0.0:8000"
    assert container["port"] == 8000
    assert container["prepare"] == {"pythonRequirementsPath": "/mnt/data/requirements.txt"}
    assert env["OSS_ENDPOINT"] == f"oss-{region}-internal.aliyuncs.com"
    assert env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] == "true"
    assert all(isinstance(value, str) for value in env.values())
    assert config["storage"] == [{"mount_path": "/mnt/data/", "oss": {
        "path": f"oss://{baked.context['oss_bucket']}/{baked.context['oss_code_prefix']}", "readOnly": True}}]
    assert config["options"] == {"enable_ram_role": True}
    assert config["role_arn"] == baked.context["role_arn"]
    assert config["cloud"]["computing"]["instances"] == [{"type": "ecs.c7.large"}]


def test_the_mounted_directory_holds_exactly_what_is_uploaded(bake):
    baked = bake()
    uploaded = sorted(str(path.relative_to(baked.path / "mount")) for path in all_files(baked.path / "mount"))
    assert uploaded == sorted([
        "requirements.txt", "gunicorn.conf.py", "list_oss_objects.py", "list_maxcompute_tables.py",
        "app/__init__.py", "app/config.py", "app/credentials.py", "app/errors.py", "app/lazy.py", "app/logs.py",
        "app/oss_client.py", "app/maxcompute_client.py", "app/params.py", "app/retries.py", "app/openapi.py",
        "app/server.py", "app/raw_path.py",
        "app/routes/__init__.py",
        "app/routes/credentials.py", "app/routes/health.py", "app/routes/oss.py", "app/routes/maxcompute.py",
    ])


@pytest.mark.parametrize("answers", ACCEPTED_COMBINATIONS, ids=[combination_id(v) for v in ACCEPTED_COMBINATIONS])
def test_disabled_options_leave_no_code_and_no_dependency(bake, answers):
    baked = bake(**answers)
    requirements = baked.read("mount/requirements.txt")
    has_role = answers["role"] != "none"
    env = {item["name"] for item in baked.json("service.json")["containers"][0]["env"]}

    assert (baked.path / "mount/app/routes/oss.py").exists() == answers["oss"]
    assert (baked.path / "mount/app/oss_client.py").exists() == answers["oss"]
    assert (baked.path / "mount/list_oss_objects.py").exists() == answers["oss"]
    assert ("oss2==" in requirements) == answers["oss"]
    assert ("OSS_BUCKET" in env) == answers["oss"]
    assert ("pyodps==" in requirements) == answers["maxcompute"]
    for path in ("mount/app/routes/maxcompute.py", "mount/app/maxcompute_client.py", "mount/list_maxcompute_tables.py",
                 "tests/test_maxcompute_routes.py"):
        assert (baked.path / path).exists() == answers["maxcompute"], path
    sql = answers["maxcompute"] and answers.get("maxcompute_sql", False)
    for path in ("mount/app/routes/maxcompute_sql.py", "mount/app/sql_guard.py", "tests/test_sql_guard.py"):
        assert (baked.path / path).exists() == sql, path
    assert ("maxcompute_sql" in baked.read("mount/app/__init__.py")) == sql
    assert ({"ODPS_PROJECT", "ODPS_ENDPOINT"} <= env) == answers["maxcompute"]
    assert (baked.path / "mount/app/credentials.py").exists() == has_role
    assert ("alibabacloud-credentials==" in requirements) == has_role
    assert (baked.path / "ram/README.md").exists() == has_role
    assert (baked.path / "ram/trust-policy.json").exists() == (answers["role"] == "custom")
    assert (baked.path / "ram/passrole-policy.json").exists() == (answers["role"] == "custom")
    examples = {"call_from_vpc.py"}
    if answers["oss"]:
        examples |= {"stream_large_object.py", "presigned_download.py"}
    if answers["maxcompute"]:
        examples.add("write_maxcompute_rows.py")
    assert {path.name for path in (baked.path / "examples").glob("*.py")} == examples
    for leftover in ("__pycache__", ".pytest_cache", ".local-eas", ".venv"):
        assert not list(baked.path.rglob(leftover))


@pytest.mark.parametrize("role", ["custom", "pai-default", "none"])
def test_role_options_in_service_json(bake, role):
    answers = {"role": role, "oss": role != "none", "maxcompute": role != "none",
               "workspace_id": "123456" if role == "pai-default" else ""}
    config = bake(**answers).json("service.json")
    assert ("options" in config) == (role != "none")
    assert ("role_arn" in config) == (role == "custom")
    assert ("workspace_id" in config["metadata"]) == (role == "pai-default")
    if role != "none":
        assert config["options"]["enable_ram_role"] is True


@pytest.mark.parametrize("answers", [
    {"role": "pai-default", "workspace_id": "123456", "role_arn": "acs:ram::9876543210987654:role/unused-role"},
    {"role": "none", "oss": False, "maxcompute": False, "role_arn": "not an ARN at all"},
    {"maxcompute": False, "odps_project": "not a project!"},
], ids=["role_arn-with-pai-default", "role_arn-with-none", "odps_project-without-maxcompute"])
def test_an_answer_that_cannot_matter_is_accepted_and_used_nowhere(bake, answers):
    """cookiecutter asks every question: one that an earlier answer made irrelevant is taken, and ignored."""
    baked = bake(**answers)
    ignored = [value for key, value in answers.items() if key in ("role_arn", "odps_project")]
    for path in all_files(baked.path):
        text = path.read_text(encoding="utf-8")
        assert not [value for value in ignored if value in text], path.relative_to(baked.path)
    assert ("role_arn" in baked.json("service.json")) == (answers.get("role", "custom") == "custom")


def test_questions_that_do_not_matter_default_to_empty(bake):
    context = bake(role="pai-default", workspace_id="123456", maxcompute=False).context
    assert context["role_arn"] == "" and context["odps_project"] == ""


def test_a_range_of_instances_autoscales_from_its_minimum(bake):
    config = bake(instances="2-5").json("service.json")
    assert config["metadata"]["instance"] == 2
    assert config["autoscaler"] == {"min": 2, "max": 5, "strategies": {"qps": 100}}


def test_a_count_of_instances_is_fixed(bake):
    config = bake(instances="3").json("service.json")
    assert config["metadata"]["instance"] == 3
    assert "autoscaler" not in config


@pytest.mark.parametrize("answers", [{}, {"maxcompute_sql": True}, {"role": "none", "oss": False, "maxcompute": False}],
                         ids=["default", "sql", "no-backend"])
def test_rollout_graceful_shutdown_and_the_timeout_chain_agree(bake, answers):
    """client timeout ≥ EAS's request timeout ≥ the longest a request runs in the service; gunicorn stops before
    EAS kills the instance; an update never drops capacity."""
    baked = bake(**answers)
    metadata = baked.json("service.json")["metadata"]
    env = {item["name"]: int(item["value"]) for item in baked.json("service.json")["containers"][0]["env"]
           if item["name"].endswith(("_SECONDS", "_RETRIES"))}
    gunicorn = dict(re.findall(r"^(\w+) = (\d+)", baked.read("mount/gunicorn.conf.py"), re.MULTILINE))
    client_read_timeout = float(re.search(r"^TIMEOUT = \([\d.]+, (\d+)\)", baked.read("examples/call_from_vpc.py"),
                                          re.MULTILINE)[1])

    assert metadata["rolling_strategy"] == {"max_surge": 1, "max_unavailable": 0}
    assert metadata["rpc"]["enable_sigterm"] is True
    assert int(gunicorn["graceful_timeout"]) < metadata["eas"]["termination_grace_period"] == 30
    eas_timeout = metadata["rpc"]["keepalive"] / 1000
    backend_reads = [env[name] * (env.get("BACKEND_READ_RETRIES", 0) + 1)
                     for name in ("OSS_TIMEOUT_SECONDS", "ODPS_TIMEOUT_SECONDS") if name in env]
    assert client_read_timeout > eas_timeout >= max([*backend_reads, env.get("SQL_TIMEOUT_SECONDS", 0)])
    assert ("SQL_TIMEOUT_SECONDS" in env) == bool(answers.get("maxcompute_sql"))
    assert eas_timeout >= int(gunicorn["timeout"])


def test_maxcompute_uses_the_regions_vpc_endpoint(bake):
    config = bake(maxcompute=True, region="cn-shanghai").json("service.json")
    env = {item["name"]: item["value"] for item in config["containers"][0]["env"]}
    assert env["ODPS_ENDPOINT"] == "https://service.cn-shanghai-vpc.maxcompute.aliyun-inc.com/api"


def test_ram_policies_are_the_guides_with_least_privilege(bake):
    baked = bake(maxcompute=True)
    bucket, code, data = (baked.context[k] for k in ("oss_bucket", "oss_code_prefix", "oss_data_prefix"))
    role_name = baked.context["role_arn"].split("/")[-1]

    trust = baked.json("ram/trust-policy.json")
    assert trust["Statement"][0]["Principal"]["Service"] == ["eas.pai.aliyuncs.com"]
    assert trust["Statement"][0]["Action"] == "sts:AssumeRole"
    assert baked.json("ram/passrole-policy.json") == {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:PassRole", "Resource": f"acs:ram::*:role/{role_name}"}]}

    grants = {(action, resource) for statement in baked.json("ram/permission-policy.json")["Statement"]
              for action in statement["Action"] for resource in statement["Resource"]}
    assert all(not action.endswith("*") for action, _ in grants)
    assert ("oss:ListObjects", f"acs:oss:*:*:{bucket}") in grants
    assert ("oss:GetObject", f"acs:oss:*:*:{bucket}/{code}*") in grants
    data_objects = f"acs:oss:*:*:{bucket}/{data}*"
    assert {("oss:PutObject", data_objects), ("oss:DeleteObject", data_objects)} <= grants
    project = baked.context["odps_project"]
    assert ("odps:Select", f"acs:odps:*:projects/{project}/tables/*") in grants
    readme = baked.read("docs/ram-role.md")
    for command in ("aliyun ram CreateRole", "aliyun ram AttachPolicyToRole", "aliyun ram AttachPolicyToUser",
                    "eas.pai.aliyuncs.com", "Cloud Service"):
        assert command in readme


def test_pai_default_ram_readme_says_what_the_role_reaches(bake):
    readme = bake(role="pai-default", workspace_id="998877").read("ram/README.md")
    assert "AliyunServiceRoleForPaiEas" in readme
    assert "only the default bucket of the workspace" in readme
    assert "execution permissions" in readme and "998877" in readme


def templates_pins() -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9-]+)==(\S+)$", (TEMPLATE / "requirements-dev.txt").read_text(), re.M))


def test_every_pin_is_the_templates_pin(bake):
    pins = templates_pins()
    baked = bake(maxcompute=True)
    for relative in ("mount/requirements.txt", "requirements-dev.txt"):
        for line in baked.read(relative).splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "-r", "eas-devkit @ ")):
                continue
            name, _, version = line.partition("==")
            assert version, f"{relative}: {line!r} is not pinned"
            assert pins.get(name) == version, f"{relative}: {line!r} differs from the template's pin"


def test_every_dependency_of_the_kit_is_pinned_to_the_templates_pin():
    import tomllib

    project = tomllib.loads((KIT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = templates_pins()
    for requirement in [*project["project"]["dependencies"], *project["build-system"]["requires"]]:
        name, _, version = requirement.partition("==")
        assert version and pins.get(name) == version, f"the kit's {requirement!r} is not the template's pin"


def test_the_bake_holds_the_service_and_no_file_of_the_kit(bake):
    baked = bake()
    top = sorted(path.name for path in baked.path.iterdir())
    assert top == sorted([".cruft.json", ".github", ".gitignore", "Makefile", "README.md", "README.zh-Hans.md",
                          "README.zh-Hant.md", "docs", "environments", "examples", "mount", "pyproject.toml", "ram",
                          "requirements-dev.txt", "service.json", "tests"])
    assert sorted(path.name for path in (baked.path / "tests").iterdir() if path.is_dir()) == ["guide_examples"]
    assert not any(baked.path.rglob("*.schema.json"))


def test_the_default_bake_is_a_lean_service(bake):
    """The code a service team owns and reviews: under 5,800 lines of Python, its tests and recipes included
    (5,666 with the worker balance of issue 16; 5,496 when the kit moved out)."""
    lines = sum(len(path.read_text(encoding="utf-8").splitlines()) for path in bake().path.rglob("*.py"))
    assert lines < 5_800, lines


def test_the_code_spells_an_optional_value_one_way():
    """``Optional[X]`` everywhere (the EAS image's Python 3.9 reads it at run time too), never PEP 604's bar."""
    sources = [path for path in TEMPLATE.rglob("*.py")
               if not {".venv", "build", ".git"} & set(path.relative_to(TEMPLATE).parts)]
    spelled_with_a_bar = [f"{path.relative_to(TEMPLATE)}:{number}" for path in sources
                          for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                          if re.search(r"[\w\]] \| None\b|\bNone \| \w", line)]
    assert not spelled_with_a_bar, spelled_with_a_bar


def test_the_kit_is_pinned_at_the_template_commit_the_project_records(bake):
    baked = bake()
    state = baked.json(".cruft.json")
    requirement = baked.read("requirements-dev.txt").splitlines()[-1]
    commit = subprocess.run(["git", "-C", str(TEMPLATE), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert state["commit"] == commit and state["template"] == str(TEMPLATE)
    assert requirement == f"eas-devkit @ git+file://localhost{TEMPLATE}@{commit}#subdirectory=eas-devkit"


def test_make_help_lists_every_target_with_the_descriptions_in_one_column(bake):
    baked = bake()
    done = subprocess.run(["make", "--no-print-directory", "help"], cwd=baked.path, capture_output=True, text=True,
                          check=True, timeout=60)
    lines = done.stdout.splitlines()
    documented = re.findall(r"^([a-z-]+):.*## ", baked.read("Makefile"), re.MULTILINE)
    assert {"run-script", "reliability"} <= set(documented)
    assert [line.split()[:2] for line in lines] == [["make", target] for target in documented]
    assert len({re.match(r"  make \S+ +", line).end() for line in lines}) == 1, done.stdout


def test_next_steps_are_printed(cookies, capfd):
    result = cookies.bake()
    assert result.exit_code == 0
    out = capfd.readouterr().out
    assert "make dev" in out and "make test" in out and f"cd {result.context['service']}" in out
