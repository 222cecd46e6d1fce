"""The local RAM model: RAM's policy language, and the role's policy deciding every request of the service."""

from __future__ import annotations

import json
import os
import time

import pytest
{%- if cookiecutter.role == 'custom' %}
from conftest import PROJECT, finish_local_eas, start_local_eas
{%- elif cookiecutter.role == 'pai-default' and cookiecutter.oss %}
from conftest import finish_local_eas, start_local_eas
{%- endif %}

from local_eas.ram import Policy, PolicyError, PolicyFile, pai_default_role

BUCKET_POLICY = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": ["oss:Get*", "oss:PutObject"], "Resource": "acs:oss:*:*:bucket/data/*"},
        {"Effect": "Allow", "Action": "oss:ListObjects", "Resource": "acs:oss:*:*:bucket",
         "Condition": {"StringLike": {"oss:Prefix": "data/*"}}},
        {"Effect": "Deny", "Action": "oss:PutObject", "Resource": "acs:oss:*:*:bucket/data/locked/*"},
    ],
}


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        ("oss:GetObject", "acs:oss:*:*:bucket/data/a.txt", None, True),
        ("OSS:getobject", "acs:oss:*:*:bucket/data/a.txt", None, True),  # actions ignore case
        ("oss:GetObject", "acs:oss:*:*:bucket/DATA/a.txt", None, False),  # resources do not
        ("oss:GetObject", "acs:oss:*:*:bucket/code/app.py", None, False),  # implicit deny
        ("oss:DeleteObject", "acs:oss:*:*:bucket/data/a.txt", None, False),
        ("oss:PutObject", "acs:oss:*:*:bucket/data/x/y/z", None, True),
        ("oss:PutObject", "acs:oss:*:*:bucket/data/locked/a", None, False),  # explicit Deny wins
        ("oss:ListObjects", "acs:oss:*:*:bucket", {"oss:Prefix": "data/2026"}, True),
        ("oss:ListObjects", "acs:oss:*:*:bucket", {"oss:Prefix": "code/"}, False),
        ("oss:ListObjects", "acs:oss:*:*:bucket", {}, False),  # a condition on a missing key fails
    ],
)
def test_policy_evaluation_follows_ram(action, resource, context, allowed):
    assert Policy.parse(BUCKET_POLICY).allows(action, resource, context) is allowed


def test_question_mark_is_one_character_and_brackets_are_literal():
    statement = {"Effect": "Allow", "Action": "odps:*", "Resource": "acs:odps:*:projects/p?/[x]*"}
    policy = Policy.parse({"Statement": [statement]})
    assert policy.allows("odps:Select", "acs:odps:*:projects/p1/[x]tables")
    assert not policy.allows("odps:Select", "acs:odps:*:projects/p12/[x]tables")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"Version": "1"}, "a Statement list"),
        ({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}, "Statement[0].Effect"),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "Statement[0].Action"),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": []}]}, "Statement[0].Resource"),
        ({"Statement": [{"Effect": "Allow", "NotAction": "*", "Resource": "*"}]}, "NotAction is not supported"),
        ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {}}}]},
         "knows only"),
    ],
)
def test_a_policy_ram_would_refuse_is_refused_by_name(document, message):
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Policy.parse(document)


def test_an_edited_policy_applies_at_once_and_a_broken_edit_is_refused(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(BUCKET_POLICY))
    policy_file = PolicyFile(path)
    assert policy_file.policy.allows("oss:PutObject", "acs:oss:*:*:bucket/data/a")
    narrowed = {**BUCKET_POLICY, "Statement": BUCKET_POLICY["Statement"][:1]}
    narrowed["Statement"] = [{**narrowed["Statement"][0], "Action": ["oss:Get*"]}]
    write_later(path, json.dumps(narrowed))
    assert not policy_file.policy.allows("oss:PutObject", "acs:oss:*:*:bucket/data/a")
    write_later(path, "{not json")
    assert policy_file.policy.allows("oss:GetObject", "acs:oss:*:*:bucket/data/a")  # the previous one stays


def test_the_pai_default_role_reaches_only_the_workspace_bucket_and_owned_projects():
    role = pai_default_role("workspace-bucket", ["owned_project"])
    assert role.allows("oss:PutObject", "acs:oss:*:*:workspace-bucket/any/key")
    assert role.allows("oss:ListObjects", "acs:oss:*:*:workspace-bucket")
    assert not role.allows("oss:GetObject", "acs:oss:*:*:another-bucket/key")
    assert role.allows("odps:Select", "acs:odps:*:projects/owned_project/tables/t")
    assert not role.allows("odps:Select", "acs:odps:*:projects/someone_elses/tables/t")
    assert not role.allows("ecs:DescribeInstances", "*")


def write_later(path, text: str) -> None:
    """Rewrite a file so that its mtime surely changes, whatever the file system's resolution."""
    path.write_text(text)
    future = time.time_ns() + 2 * 10**9
    os.utime(path, ns=(future, future))
    time.sleep(0.01)
{%- if cookiecutter.role == 'custom' %}


def narrowed_policy(path, without: set[str]) -> None:
    """The generated permission policy without some actions, written to ``path``."""
    policy = json.loads((PROJECT / "ram" / "permission-policy.json").read_text())
    for statement in policy["Statement"]:
        statement["Action"] = [action for action in statement["Action"] if action not in without] or ["none:None"]
    write_later(path, json.dumps(policy, indent=2))


@pytest.fixture(scope="module")
def narrow_eas(tmp_path_factory):
    """The service on the local EAS with a copy of its policy that the tests narrow and widen."""
    state_dir = tmp_path_factory.mktemp("narrow")
    policy = state_dir / "policy.json"
    narrowed_policy(policy, without=set())
    running = start_local_eas(state_dir / "eas", "--quiet", "--permission-policy", str(policy))
    yield running, policy
    finish_local_eas(running)
{%- if cookiecutter.oss %}


def test_a_too_narrow_policy_fails_with_the_clouds_error_and_a_fix_applies_at_once(narrow_eas):
    running, policy = narrow_eas

    def put():
        return running.request("PUT", "/oss/objects/ram-test.txt", data=b"x")

    assert put().status_code == 201
    narrowed_policy(policy, without={"oss:PutObject"})
    denied = put()
    assert denied.status_code == 403
    assert denied.json()["code"] == "AccessDenied"
    assert "no right to access this object" in denied.json()["error"]
    assert running.get("/oss/objects/ram-test.txt").status_code == 200  # reading is still allowed
    narrowed_policy(policy, without=set())
    assert put().status_code == 201


def region_and_account_policy(account: str) -> dict:
    """The generated policy with OSS resources for this region and ``account`` only, and listing allowed only
    under the data prefix (an ``oss:Prefix`` condition), as a careful administrator might write it."""
    from conftest import CONTAINER_ENV

    region = CONTAINER_ENV["REGION"]
    policy = json.loads((PROJECT / "ram" / "permission-policy.json").read_text())
    for statement in policy["Statement"]:
        statement["Resource"] = [resource.replace("acs:oss:*:*:", f"acs:oss:{region}:{account}:")
                                 for resource in statement["Resource"]]
        if statement["Action"] == ["oss:ListObjects"]:
            # The data prefix for the service, the code prefix for EAS's mount of the code.
            statement["Condition"] = {"StringLike": {"oss:Prefix": ["{{ cookiecutter.oss_data_prefix }}*",
                                                                    "{{ cookiecutter.oss_code_prefix }}*"]}}
    return policy


def test_region_account_and_prefix_conditions_are_decided_as_ram_and_the_doctor_decide(narrow_eas, tmp_path):
    import shutil

    from conftest import SERVICE_JSON

    from eas_deploy import doctor

    running, policy = narrow_eas
    account = SERVICE_JSON["role_arn"].split(":")[3]
    write_later(policy, json.dumps(region_and_account_policy(account)))
    assert running.get("/oss/objects?max_keys=1").status_code == 200
    assert running.request("PUT", "/oss/objects/ram-test.txt", data=b"x").status_code == 201

    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".venv", ".local-eas", "tests", "__pycache__"))
    (project / "ram" / "permission-policy.json").write_text(json.dumps(region_and_account_policy(account)))
    assert doctor.check(project).errors == 0

    write_later(policy, json.dumps(region_and_account_policy("999999")))  # another account's bucket
    assert running.get("/oss/objects?max_keys=1").status_code == 403
    narrowed_policy(policy, without=set())
    assert running.get("/oss/objects?max_keys=1").status_code == 200
{%- endif %}
{%- if cookiecutter.maxcompute %}


def test_a_policy_without_table_reads_gives_maxcompute_no_permission(narrow_eas):
    running, policy = narrow_eas
    narrowed_policy(policy, without={"odps:Select", "odps:Download"})
    try:
        assert running.get("/maxcompute/tables").status_code == 200
        denied = running.get("/maxcompute/tables/iris/rows")
        assert denied.status_code == 403, denied.text
        assert denied.json()["code"] == "NoPermission"
    finally:
        narrowed_policy(policy, without=set())
{%- endif %}
{%- endif %}
{%- if cookiecutter.role == 'pai-default' and cookiecutter.oss %}


def test_the_pai_default_role_is_refused_another_bucket(tmp_path):
    running = start_local_eas(tmp_path / "eas", "--quiet", "--env", "OSS_BUCKET=not-the-workspace-bucket")
    try:
        denied = running.get("/oss/objects")
        assert denied.status_code == 403, denied.text
        assert denied.json()["code"] == "AccessDenied"
        assert running.get("/health").status_code == 200
    finally:
        finish_local_eas(running)
{%- endif %}
