"""The doctor (``eas-devkit check``), rule by rule: the project broken in one place, and passing.

Each test copies a project baked from the template (the default one; the one with the SQL route where a rule
is about it), edits one thing and runs the check, asserting the finding's line (level, where, key words) and the
exit status.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import CONTAINER_ENV as ENV
from conftest import PROJECT
from conftest import SERVICE_JSON as SERVICE
from project_copies import (
    OWN_ACCOUNT,
    Project,
    as_pai_default_role,
    copy_of,
    env_entries,
    env_value_where,
    example_values,
    in_production,
    set_env,
    without_statements,
)

REGION = ENV["REGION"]
OTHER_REGION = "cn-beijing" if REGION != "cn-beijing" else "cn-shanghai"
PORT = SERVICE["containers"][0]["port"]
CODE_BUCKET, CODE_PREFIX = re.match(r"^oss://([^/]+)/(.*)$", SERVICE["storage"][0]["oss"]["path"]).groups()
ROLE_NAME = SERVICE.get("role_arn", "acs:ram::1:role/none").rsplit("/", 1)[1]
ASSUME_ROLE_ERROR = ("failed to assume role for user, reason: You are not authorized to do this action. "
                     "You should be authorized by RAM.")
# The guide's "Failed to assume role" trust policy, before and after the fix.
GUIDE_TRUST_BEFORE = {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {
    "RAM": ["acs:ram::aaa:root"], "Service": ["xxx.aliyuncs.com"]}}], "Version": "1"}
GUIDE_TRUST_AFTER = {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {
    "RAM": ["acs:ram::aaa:root"], "Service": ["xxx.aliyuncs.com", "eas.pai.aliyuncs.com"]}}], "Version": "1"}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A copy of the default bake: a custom role, the OSS and MaxCompute handlers, no SQL route."""
    return copy_of(PROJECT, tmp_path)


@pytest.fixture
def sql_project(tmp_path: Path, baked: Callable[..., Path]) -> Project:
    """A copy of a bake with the SQL route (``maxcompute_sql=True``)."""
    return copy_of(baked(maxcompute_sql=True), tmp_path)


# The project as baked


def test_the_baked_project_in_production_warns_only_of_the_template_example_values(project):
    """For the local EAS, the template's example account ID, bucket and project are fine: a WARN each, to
    remember them before the cloud; nothing else is found."""
    project.edit("service.json", in_production)
    checked = project.check()
    checked.assert_clean()
    examples = example_values(SERVICE)
    findings = [line for line in checked.lines if line.startswith(("ERROR", "WARN"))]
    assert len(findings) == len([value for value in examples if value in project.read("service.json")]), \
        checked.stdout
    assert all(line.startswith("WARN ") and "--target cloud" in line for line in findings), checked.stdout
    assert checked.lines[-1].endswith("(service.json, ram/, mount/, examples/; target local)")


def test_json_format_is_a_machine_readable_list_of_findings(project):
    project.edit("service.json", lambda s: s["containers"][0].update(port=9090))
    result = project.check("--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["errors"] >= 1
    assert {"level": "ERROR", "where": "service.json $.containers[0].port"}.items() <= report["findings"][0].items()
    assert all(set(finding) == {"level", "where", "what", "fix", "snippet"} for finding in report["findings"])
    assert "service.json" in report["examined"]


# 1. service.json parses and matches the schema


def test_every_schema_violation_is_reported_with_its_path(project):
    project.edit("service.json", lambda s: s["metadata"].update(instance=-1, name="My Service"))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.instance", "-1", "minimum", "schemas/service.schema.json")
    checked.finding("ERROR", "service.json $.metadata.name", "'My Service' does not match")
    assert checked.returncode == 1 and checked.lines[-1].startswith("check: 2 errors")


def test_a_missing_required_field_is_named(project):
    project.edit("service.json", lambda s: s["metadata"].pop("name"))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.name", "is missing")
    assert checked.returncode == 1


def test_documented_optional_fields_pass(project):
    project.edit("service.json", lambda s: s["metadata"].update(cpu=2, memory=4096, rpc={"keepalive": 60000}))
    project.check().assert_clean()


def test_bad_json_is_reported_with_its_line_and_column(project):
    broken = project.read("service.json").replace('"instance": 1', '"instance": 1,,', 1)
    project.write("service.json", broken)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)
    checked = project.check()
    checked.finding("ERROR", f"service.json:{expected.value.lineno}:{expected.value.colno}", "is not valid JSON")
    assert checked.returncode == 1


def test_a_missing_service_json_is_an_error_that_says_where_the_check_looked(project):
    project.remove("service.json")
    checked = project.check()
    checked.finding("ERROR", "service.json", "is missing", "eas-devkit --project DIR check")
    assert checked.returncode == 1


@pytest.mark.parametrize("document", [
    [],
    {"containers": "x"},
    {"containers": [{"env": {"a": 1}, "port": "x", "script": 5}], "storage": [1, {"oss": 3}], "options": 1},
    {"containers": [{"env": [1, {"name": 2}, {"name": "OSS_ENDPOINT"}], "port": 8000,
                     "script": "gunicorn -b 'unbalanced"}], "storage": [{"mount_path": 1, "oss": {"path": "oss://"}}],
     "options": {"enable_ram_role": True}, "role_arn": 5},
], ids=["array", "containers-string", "wrong-types", "half-broken"])
def test_a_malformed_service_json_gives_errors_not_a_traceback(project, document):
    project.write_json("service.json", document)
    checked = project.check()
    assert checked.returncode == 1 and checked.lines[-1].startswith("check: ")
    assert all(re.match(r"^(ERROR|WARN|    |check: )", line) for line in checked.lines), checked.stdout


# 2. the trust policy names eas.pai.aliyuncs.com


def test_trust_policy_without_eas_names_the_guides_error_and_prints_the_corrected_policy(project):
    project.write_json("ram/trust-policy.json", GUIDE_TRUST_BEFORE)
    checked = project.check()
    line = checked.finding("ERROR", "ram/trust-policy.json $.Statement[0].Principal.Service",
                           "eas.pai.aliyuncs.com", ASSUME_ROLE_ERROR, "Service array")
    assert checked.returncode == 1
    corrected = checked.snippet(line)
    assert corrected == GUIDE_TRUST_AFTER  # the guide's "After": other principals kept, EAS added
    project.write_json("ram/trust-policy.json", corrected)
    project.check().assert_clean()


def test_trust_policy_with_eas_among_other_principals_passes(project):
    project.write_json("ram/trust-policy.json", GUIDE_TRUST_AFTER)
    project.check().assert_clean()


def test_a_missing_trust_policy_prints_the_guides(project):
    project.remove("ram/trust-policy.json")
    checked = project.check()
    line = checked.finding("ERROR", "ram/trust-policy.json", "is missing", ASSUME_ROLE_ERROR)
    assert checked.snippet(line)["Statement"][0]["Principal"]["Service"] == ["eas.pai.aliyuncs.com"]
    assert checked.returncode == 1


# 3. role_arn needs options.enable_ram_role and the ARN form


def test_role_arn_without_options_is_one_error(project):
    project.edit("service.json", lambda s: (s.pop("options", None), s.update(role_arn=f"acs:ram::1:role/{ROLE_NAME}")))
    checked = project.check()
    checked.finding("ERROR", "service.json $.options", "role_arn is ignored", '"enable_ram_role": true')
    assert checked.returncode == 1  # and the schema's dependentRequired is not repeated (finding() counts one)


def test_role_arn_with_enable_ram_role_false_is_an_error(project):
    project.edit("service.json", lambda s: s.update(options={"enable_ram_role": False},
                                                    role_arn=f"acs:ram::1:role/{ROLE_NAME}"))
    checked = project.check()
    checked.finding("ERROR", "service.json $.options.enable_ram_role", "is false", "role_arn is ignored")
    assert checked.returncode == 1


def test_a_malformed_role_arn_is_one_error(project):
    project.edit("service.json", lambda s: s.update(options={"enable_ram_role": True},
                                                    role_arn="arn:aws:iam::123:role/x"))
    checked = project.check()
    checked.finding("ERROR", "service.json $.role_arn", "is not the ARN of a RAM role", "acs:ram::<account ID>")
    assert checked.returncode == 1


def test_a_well_formed_enabled_role_arn_gets_no_finding(project):
    project.edit("service.json", lambda s: s.update(options={"enable_ram_role": True},
                                                    role_arn=f"acs:ram::{OWN_ACCOUNT}:role/My.Role-2"))
    checked = project.check()
    assert checked.at("service.json $.role_arn") == [] and checked.at("service.json $.options") == []
    assert checked.at("service.json $.options.enable_ram_role") == []


def test_handlers_without_a_role_are_an_error(project):
    def edit(service: dict[str, Any]) -> None:
        service.pop("options", None)
        service.pop("role_arn", None)
        set_env(service, "OSS_BUCKET", CODE_BUCKET)
    project.edit("service.json", edit)
    checked = project.check()
    checked.finding("ERROR", "service.json $.options", "no RAM role", "OSS_BUCKET", "enable_ram_role")
    assert checked.returncode == 1


def test_no_role_and_no_handlers_passes(project):
    def edit(service: dict[str, Any]) -> None:
        service.pop("options", None)
        service.pop("role_arn", None)
        service["containers"][0]["env"] = [entry for entry in env_entries(service)
                                           if not entry["name"].startswith(("OSS_", "ODPS_"))]
    project.edit("service.json", edit)
    project.check().assert_clean()


# 4. a RAM user may pass the custom role


def test_passrole_for_another_role_is_an_error_with_the_guides_policy(project):
    project.edit("ram/passrole-policy.json", lambda p: p["Statement"][0].update(Resource="acs:ram::*:role/other"))
    checked = project.check()
    line = checked.finding("ERROR", "ram/passrole-policy.json $.Statement", "ram:PassRole", ROLE_NAME)
    assert checked.returncode == 1
    policy = checked.snippet(line)
    assert policy["Statement"] == [{"Effect": "Allow", "Action": "ram:PassRole",
                                    "Resource": f"acs:ram::*:role/{ROLE_NAME}"}]
    project.write_json("ram/passrole-policy.json", policy)
    project.check().assert_clean()


def test_passrole_on_every_role_passes(project):
    project.edit("ram/passrole-policy.json", lambda p: p["Statement"][0].update(Resource="acs:ram::*:role/*"))
    project.check().assert_clean()


def test_a_missing_passrole_policy_is_a_warning(project):
    project.remove("ram/passrole-policy.json")
    checked = project.check()
    checked.finding("WARN", "ram/passrole-policy.json", "is missing", "RAM user", ROLE_NAME)
    checked.assert_clean()


# 5. the PAI default role: workspace_id, the default bucket, OSS and MaxCompute only


def test_pai_default_role_with_oss_needs_workspace_id(project):
    project.edit("service.json", lambda s: (as_pai_default_role(s), s["metadata"].pop("workspace_id", None)))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.workspace_id", "is missing", "OSS SDK")
    assert checked.returncode == 1


def test_pai_default_role_with_workspace_id_passes(project):
    project.edit("service.json", lambda s: (as_pai_default_role(s), s["metadata"].update(workspace_id="123456")))
    project.check().assert_clean()


def test_pai_default_role_with_another_bucket_is_an_error(project):
    def edit(service: dict[str, Any]) -> None:
        as_pai_default_role(service)
        service["metadata"]["workspace_id"] = "123456"
        set_env(service, "OSS_BUCKET", "another-bucket")
    project.edit("service.json", edit)
    checked = project.check()
    checked.finding("ERROR", env_value_where("OSS_BUCKET"), "another-bucket", "default bucket", CODE_BUCKET)
    assert checked.returncode == 1


def test_pai_default_role_policy_naming_another_service_is_an_error(project):
    project.edit("service.json", lambda s: (as_pai_default_role(s), s["metadata"].update(workspace_id="123456")))
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].append(
        {"Effect": "Allow", "Action": ["ecs:DescribeInstances"], "Resource": ["acs:ecs:*:*:instance/*"]}))
    index = len(json.loads(project.read("ram/permission-policy.json"))["Statement"]) - 1
    checked = project.check()
    checked.finding("ERROR", f"ram/permission-policy.json $.Statement[{index}].Action", "ecs:DescribeInstances",
                    "OSS and MaxCompute")
    assert checked.returncode == 1


def test_a_custom_role_may_name_other_services(project):
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].append(
        {"Effect": "Allow", "Action": ["ecs:DescribeInstances"], "Resource": ["acs:ecs:*:*:instance/*"]}))
    project.check().assert_clean()


# 6. endpoints: internal, in REGION — read from service.json only


@pytest.mark.parametrize(("name", "value", "words"), [
    ("OSS_ENDPOINT", f"oss-{REGION}.aliyuncs.com", ["public OSS endpoint", f"oss-{REGION}-internal.aliyuncs.com"]),
    ("OSS_ENDPOINT", f"oss-{OTHER_REGION}-internal.aliyuncs.com", [f"in {OTHER_REGION}, but REGION is {REGION}"]),
    ("ODPS_ENDPOINT", f"https://service.{REGION}.maxcompute.aliyun.com/api",
     ["public MaxCompute endpoint", f"https://service.{REGION}-vpc.maxcompute.aliyun-inc.com/api"]),
    ("ODPS_ENDPOINT", f"https://service.{OTHER_REGION}-vpc.maxcompute.aliyun-inc.com/api",
     [f"in {OTHER_REGION}, but REGION is {REGION}"]),
    ("OSS_ENDPOINT", "http://127.0.0.1:9000", ["loopback"]),
], ids=["oss-public", "oss-other-region", "maxcompute-public", "maxcompute-other-region", "loopback"])
def test_an_endpoint_eas_cannot_reach_is_an_error(project, name, value, words):
    project.edit("service.json", lambda s: set_env(s, name, value))
    checked = project.check()
    checked.finding("ERROR", env_value_where(name), f"{name}={value}", *words)
    assert checked.returncode == 1


def test_internal_endpoints_of_the_region_pass(project):
    project.edit("service.json", lambda s: (
        set_env(s, "OSS_ENDPOINT", f"oss-{REGION}-internal.aliyuncs.com"),
        set_env(s, "ODPS_ENDPOINT", f"https://service.{REGION}-vpc.maxcompute.aliyun-inc.com/api")))
    project.check().assert_clean()


def test_loopback_endpoints_in_the_process_environment_are_not_read(project):
    checked = project.check(env={"EAS_TARGET": "local", "OSS_ENDPOINT": "http://127.0.0.1:9000",
                                 "ODPS_ENDPOINT": "http://127.0.0.1:9001/api"})
    checked.assert_clean()


# 7. OSS mounts: folders, readable by the custom role


@pytest.mark.parametrize(("field", "where"), [
    ("mount_path", "service.json $.storage[0].mount_path"),
    ("path", "service.json $.storage[0].oss.path"),
])
def test_an_oss_mount_without_its_trailing_slash_is_an_error(project, field, where):
    def edit(service: dict[str, Any]) -> None:
        mount = service["storage"][0]
        target = mount if field == "mount_path" else mount["oss"]
        target[field] = target[field].rstrip("/")
    project.edit("service.json", edit)
    checked = project.check()
    checked.finding("ERROR", where, "does not end in /")
    assert checked.returncode == 1


def test_a_mount_the_custom_role_cannot_read_is_a_warning(project):
    project.edit("service.json", lambda s: s["storage"].append(
        {"mount_path": "/mnt/models/", "oss": {"path": "oss://other-models/resnet/", "readOnly": True}}))
    checked = project.check()
    checked.finding("WARN", "service.json $.storage[1].oss.path", "oss://other-models/resnet/", "oss:GetObject")
    checked.assert_clean()


def test_a_mount_inside_the_code_folder_is_readable(project):
    project.edit("service.json", lambda s: s["storage"].append(
        {"mount_path": "/mnt/models/", "oss": {"path": f"oss://{CODE_BUCKET}/{CODE_PREFIX}models/"}}))
    checked = project.check()
    checked.assert_clean()
    assert checked.at("service.json $.storage[1].oss.path") == []


# 8. the port is the port gunicorn binds, and not one EAS reserves


def test_a_port_other_than_the_bound_one_is_an_error(project):
    project.edit("service.json", lambda s: s["containers"][0].update(port=PORT + 1))
    checked = project.check()
    checked.finding("ERROR", "service.json $.containers[0].port", str(PORT + 1), f"0.0.0.0:{PORT}")
    assert checked.returncode == 1


@pytest.mark.parametrize("reserved", [8080, 9090])
def test_a_port_eas_reserves_is_one_error(project, reserved):
    project.edit("service.json", lambda s: s["containers"][0].update(
        port=reserved, script=s["containers"][0]["script"].replace(f":{PORT}", f":{reserved}")))
    checked = project.check()
    checked.finding("ERROR", "service.json $.containers[0].port", str(reserved), "reserved by EAS")
    assert checked.returncode == 1


def test_the_same_new_port_in_both_places_passes(project):
    project.edit("service.json", lambda s: s["containers"][0].update(
        port=PORT + 1, script=s["containers"][0]["script"].replace(f"--bind 0.0.0.0:{PORT}", f"-b 0.0.0.0:{PORT + 1}")))
    project.check().assert_clean()


def test_a_loopback_bind_is_an_error(project):
    project.edit("service.json", lambda s: s["containers"][0].update(
        script=s["containers"][0]["script"].replace("0.0.0.0", "127.0.0.1")))
    checked = project.check()
    checked.finding("ERROR", "service.json $.containers[0].script", f"127.0.0.1:{PORT}", "loopback")
    assert checked.returncode == 1


def test_without_any_bind_gunicorn_listens_on_loopback(project):
    project.edit("service.json", lambda s: s["containers"][0].update(
        script=s["containers"][0]["script"].replace(f" --bind 0.0.0.0:{PORT}", "")))
    checked = project.check()
    checked.finding("ERROR", "service.json $.containers[0].script", "127.0.0.1:8000", "loopback")
    assert checked.returncode == 1


def test_a_bind_in_gunicorn_conf_is_read_when_the_script_has_none(project):
    project.edit("service.json", lambda s: s["containers"][0].update(
        script=s["containers"][0]["script"].replace(f" --bind 0.0.0.0:{PORT}", "")))
    project.write("mount/gunicorn.conf.py", project.read("mount/gunicorn.conf.py") + f'bind = "0.0.0.0:{PORT}"\n')
    project.check().assert_clean()
    project.write("mount/gunicorn.conf.py", project.read("mount/gunicorn.conf.py") + 'bind = ["0.0.0.0:8001"]\n')
    project.check().finding("ERROR", "service.json $.containers[0].port", "mount/gunicorn.conf.py")


# 9. env: string values, each name once


def test_a_non_string_env_value_is_one_error(project):
    project.edit("service.json", lambda s: env_entries(s).append({"name": "GUNICORN_WORKERS", "value": 2}))
    checked = project.check()
    checked.finding("ERROR", env_value_where("GUNICORN_WORKERS"), "GUNICORN_WORKERS is 2, not a string",
                    '"value": "2"')
    assert checked.returncode == 1


def test_a_duplicate_env_name_is_an_error(project):
    project.edit("service.json", lambda s: env_entries(s).append({"name": "REGION", "value": REGION}))
    checked = project.check()
    checked.finding("ERROR", f"service.json $.containers[0].env[{len(env_entries(SERVICE))}].name",
                    "REGION is set twice")
    assert checked.returncode == 1


def test_a_new_string_env_value_passes(project):
    project.edit("service.json", lambda s: env_entries(s).append({"name": "GUNICORN_WORKERS", "value": "2"}))
    project.check().assert_clean()


# 10. requirements: pinned with ==, inside the mount


def test_an_unpinned_requirement_is_an_error_with_its_line(project):
    lines = project.read("mount/requirements.txt").splitlines()
    number = next(n for n, line in enumerate(lines, start=1) if line.startswith("flask=="))
    lines[number - 1] = lines[number - 1].replace("==", ">=")
    project.write("mount/requirements.txt", "\n".join(lines) + "\n")
    checked = project.check()
    checked.finding("ERROR", f"mount/requirements.txt:{number}", "flask>=", "not pinned", "flask==")
    assert checked.returncode == 1


def test_pinned_requirements_with_comments_and_markers_pass(project):
    project.write("mount/requirements.txt", project.read("mount/requirements.txt")
                  + "\n# a comment\nimportlib-metadata==8.0.0 ; python_version < '3.10'  # backport\n")
    project.check().assert_clean()


def test_a_requirements_path_outside_the_mount_is_an_error(project):
    project.edit("service.json", lambda s: s["containers"][0]["prepare"].update(
        pythonRequirementsPath="/opt/requirements.txt"))
    checked = project.check()
    checked.finding("ERROR", "service.json $.containers[0].prepare.pythonRequirementsPath", "/opt/requirements.txt",
                    "outside")
    assert checked.returncode == 1


def test_a_missing_requirements_file_is_an_error(project):
    project.remove("mount/requirements.txt")
    checked = project.check()
    checked.finding("ERROR", "mount/requirements.txt", "is missing")
    assert checked.returncode == 1


# 11. the permission policy covers what the handlers and the code mount call


ODPS_ARN = f"acs:odps:*:projects/{ENV['ODPS_PROJECT']}"
COVERAGE = [  # (the bake, the resource, its actions)
    pytest.param("project", f"acs:oss:*:*:{CODE_BUCKET}/{CODE_PREFIX}*", ["oss:GetObject"], id="code-mount"),
    pytest.param("project", f"acs:oss:*:*:{ENV['OSS_BUCKET']}/{ENV['OSS_DATA_PREFIX']}*",
                 ["oss:GetObject", "oss:PutObject", "oss:DeleteObject"], id="oss-objects"),
    pytest.param("project", f"{ODPS_ARN}/tables/*", ["odps:Describe", "odps:Select", "odps:Download"],
                 id="maxcompute-tables"),
    pytest.param("sql_project", f"{ODPS_ARN}/instances/*", ["odps:Read"], id="maxcompute-sql"),
]


@pytest.mark.parametrize(("bake", "resource", "actions"), COVERAGE)
def test_a_missing_grant_is_an_error_with_the_statement_to_add(request, bake, resource, actions):
    project = request.getfixturevalue(bake)
    project.edit("ram/permission-policy.json", without_statements(resource))
    checked = project.check()
    assert checked.returncode == 1
    prefix = f"ERROR ram/permission-policy.json $.Statement: the role may not call {', '.join(actions)} on {resource},"
    line = next((line for line in checked.lines if line.startswith(prefix)), None)
    assert line is not None, checked.stdout
    statement = checked.snippet(line)
    assert statement == {"Effect": "Allow", "Action": actions, "Resource": [resource]}
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].append(statement))
    project.check().assert_clean()


def test_without_the_sql_route_instances_need_no_grant(project):
    project.edit("ram/permission-policy.json", without_statements("/instances/*"))
    project.check().assert_clean()


def test_a_deny_that_overrides_a_needed_grant_is_named(project):
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].append(
        {"Effect": "Deny", "Action": "oss:GetObject", "Resource": f"acs:oss:*:*:{CODE_BUCKET}/*"}))
    index = len(json.loads(project.read("ram/permission-policy.json"))["Statement"]) - 1
    checked = project.check()
    line = next(line for line in checked.lines if line.startswith("ERROR ram/permission-policy.json $.Statement: "))
    assert "oss:GetObject" in line and f"Deny in $.Statement[{index}]" in line
    assert checked.returncode == 1


@pytest.mark.parametrize(("field", "value", "words"), [
    ("Action", "oss:*", ["oss:*", "more actions", "oss:ListObjects"]),
    ("Resource", "*", ["* allows every resource"]),
])
def test_a_wildcard_grant_is_a_warning(project, field, value, words):
    project.edit("ram/permission-policy.json", lambda p: p["Statement"][0].update({field: value}))
    checked = project.check()
    checked.finding("WARN", f"ram/permission-policy.json $.Statement[0].{field}", *words)
    checked.assert_clean()


def test_a_policy_the_evaluator_refuses_is_an_error_with_its_message(project):
    project.edit("ram/permission-policy.json", lambda p: p["Statement"][0].update(Effect="Alow"))
    checked = project.check()
    checked.finding("ERROR", "ram/permission-policy.json $.Statement[0].Effect", "'Alow' is not Allow or Deny")
    assert checked.returncode == 1


# 13. with the SQL route, the role may not write to MaxCompute (defence in depth behind the SQL guard)


def granting(actions: list[str], effect: str = "Allow") -> Callable[[dict[str, Any]], None]:
    return lambda policy: policy["Statement"].append(
        {"Effect": effect, "Action": actions, "Resource": [ODPS_ARN, f"{ODPS_ARN}/*"]})


@pytest.mark.parametrize(("actions", "named"), [
    (["odps:Update"], "odps:Update"),
    (["odps:Alter", "odps:Drop"], "odps:Alter, odps:Drop"),
    (["odps:CreateTable"], "odps:CreateTable"),
    (["odps:Create*"], "odps:CreateTable"),
    (["odps:Delete"], "odps:Delete"),
    (["odps:Write"], "odps:Write"),
    (["ODPS:DROP"], "odps:Drop"),
    (["odps:*"], "odps:Update"),
    (["odps:Up*"], "odps:Update"),
])
def test_with_the_sql_route_a_grant_that_writes_to_maxcompute_is_an_error(sql_project, actions, named):
    project = sql_project
    project.edit("ram/permission-policy.json", granting(actions))
    index = len(json.loads(project.read("ram/permission-policy.json"))["Statement"]) - 1
    checked = project.check()
    checked.finding("ERROR", f"ram/permission-policy.json $.Statement[{index}].Action", named, "in MaxCompute",
                    "SQL guard misjudged")
    assert checked.returncode == 1


def test_with_the_sql_route_create_instance_and_a_denied_write_pass(sql_project):
    """odps:CreateInstance (a SELECT runs as an instance) is no write; an odps:* whose writes a Deny takes back
    grants none (the wildcard is still worth its warning)."""
    project = sql_project
    project.edit("ram/permission-policy.json", granting(["odps:CreateInstance", "odps:*"]))
    project.edit("ram/permission-policy.json", granting(["odps:Write", "odps:Update", "odps:Alter", "odps:Drop",
                                                         "odps:Delete*", "odps:Execute", "odps:All", "odps:CreateT*",
                                                         "odps:CreateF*", "odps:CreateR*", "odps:CreateJ*",
                                                         "odps:CreateV*", "odps:CreateO*", "odps:CreateX*",
                                                         "odps:CreateP*", "odps:UpdateP*"], effect="Deny"))
    checked = project.check()
    assert not [line for line in checked.lines if "in MaxCompute;" in line], checked.stdout
    checked.assert_clean()


def test_without_the_sql_route_a_maxcompute_write_grant_is_not_refused(project):
    project.edit("ram/permission-policy.json", granting(["odps:Update"]))
    assert not [line for line in project.check().lines if "in MaxCompute;" in line]


# 12. missing and unreadable files are errors, never tracebacks


def test_a_missing_permission_policy_prints_one_that_passes(project):
    project.remove("ram/permission-policy.json")
    checked = project.check()
    line = checked.finding("ERROR", "ram/permission-policy.json", "is missing")
    assert checked.returncode == 1
    project.write_json("ram/permission-policy.json", checked.snippet(line))
    project.check().assert_clean()


def test_bad_json_in_a_policy_is_reported_with_its_line_and_column(project):
    project.write("ram/permission-policy.json", '{\n  "Version": "1",\n  "Statement": [\n}\n')
    checked = project.check()
    checked.finding("ERROR", "ram/permission-policy.json:4:1", "is not valid JSON")
    assert checked.returncode == 1
