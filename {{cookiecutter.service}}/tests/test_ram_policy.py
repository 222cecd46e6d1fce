"""The custom role's policies of ram/, deciding every request of the service on the local EAS as RAM would: a
policy too narrow fails with the cloud's error, a fix applies at once, and conditions are decided as RAM and
``eas-devkit check`` decide them. (How the local RAM model decides is the dev kit's own test.) Only in bakes
with a custom role and handlers.
"""

from __future__ import annotations

import json
{%- if cookiecutter.oss %}
import shutil
{%- endif %}

import pytest
from conftest import {% if cookiecutter.oss %}CONTAINER_ENV, {% endif %}PROJECT, {% if cookiecutter.oss %}SERVICE_JSON, {% endif %}rewrite, running_local_eas
{%- if cookiecutter.oss %}

from eas_devkit.deploy import doctor
{%- endif %}


def narrowed_policy(path, without: set[str]) -> None:
    """The generated permission policy without some actions, written to ``path``."""
    policy = json.loads((PROJECT / "ram" / "permission-policy.json").read_text())
    for statement in policy["Statement"]:
        statement["Action"] = [action for action in statement["Action"] if action not in without] or ["none:None"]
    rewrite(path, json.dumps(policy, indent=2))


@pytest.fixture(scope="module")
def narrow_eas(tmp_path_factory):
    """The service on the local EAS with a copy of its policy that the tests narrow and widen."""
    state_dir = tmp_path_factory.mktemp("narrow")
    policy = state_dir / "policy.json"
    narrowed_policy(policy, without=set())
    with running_local_eas(state_dir / "eas", "--quiet", "--permission-policy", str(policy)) as running:
        yield running, policy
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
    running, policy = narrow_eas
    account = SERVICE_JSON["role_arn"].split(":")[3]
    rewrite(policy, json.dumps(region_and_account_policy(account)))
    assert running.get("/oss/objects?max_keys=1").status_code == 200
    assert running.request("PUT", "/oss/objects/ram-test.txt", data=b"x").status_code == 201

    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".venv", ".local-eas", "tests", "__pycache__"))
    (project / "ram" / "permission-policy.json").write_text(json.dumps(region_and_account_policy(account)))
    assert doctor.check(project).errors == 0

    rewrite(policy, json.dumps(region_and_account_policy("999999")))  # another account's bucket
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
