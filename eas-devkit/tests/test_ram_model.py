"""The local RAM model's policy language (``eas_devkit.local.ram``): how RAM decides a request, what RAM
refuses, an edited policy applying at once, and the PAI default role's reach."""

from __future__ import annotations

import json

import pytest

from eas_devkit.local.ram import Policy, PolicyError, PolicyFile, pai_default_role
from eas_devkit.testing import rewrite

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
    assert Policy.parse(BUCKET_POLICY).allows(action, resource, context).allowed is allowed


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
    rewrite(path, json.dumps(narrowed))
    assert not policy_file.policy.allows("oss:PutObject", "acs:oss:*:*:bucket/data/a")
    rewrite(path, "{not json")
    assert policy_file.policy.allows("oss:GetObject", "acs:oss:*:*:bucket/data/a")  # the previous one stays


def test_the_pai_default_role_reaches_only_the_workspace_bucket_and_owned_projects():
    role = pai_default_role("workspace-bucket", ["owned_project"])
    assert role.allows("oss:PutObject", "acs:oss:*:*:workspace-bucket/any/key")
    assert role.allows("oss:ListObjects", "acs:oss:*:*:workspace-bucket")
    assert not role.allows("oss:GetObject", "acs:oss:*:*:another-bucket/key")
    assert role.allows("odps:Select", "acs:odps:*:projects/owned_project/tables/t")
    assert not role.allows("odps:Select", "acs:odps:*:projects/someone_elses/tables/t")
    assert not role.allows("ecs:DescribeInstances", "*")
