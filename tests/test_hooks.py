"""The pre-generation hook: every bad answer is refused by name, with the rule and an example, and nothing
is left behind."""

from __future__ import annotations

import json
import re

import pytest
from conftest import DEFAULTS, TEMPLATE
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

REJECTED = [
    ({"service": "My-Service"}, "service: 'My-Service' is not a valid EAS service name", "my_service"),
    ({"service": "ab"}, "service: 'ab'", "2 to 62"),
    ({"service": "a" * 64}, "service:", "my_service"),
    ({"service": "9lives"}, "service: '9lives'", "my_service"),
    ({"port": 8080}, "port: 8080 cannot be the service port", "except 8080 and 9090"),
    ({"port": 9090}, "port: 9090", "except 8080 and 9090"),
    ({"port": 80}, "port: 80", "1024 to 65535"),
    ({"port": 70000}, "port: 70000", "1024 to 65535"),
    ({"port": "http"}, "port: http", "example: 8000"),
    ({"instances": 0}, "instances: '0' is not an instance count or range", "from 1 to 1000"),
    ({"instances": "1001"}, "instances: '1001'", "from 1 to 1000"),
    ({"instances": "5-2"}, "instances: '5-2' is not an instance count or range", "1 <= MIN < MAX <= 1000"),
    ({"instances": "2-2"}, "instances: '2-2'", "1 <= MIN < MAX <= 1000"),
    ({"instances": "0-3"}, "instances: '0-3'", "1 <= MIN < MAX <= 1000"),
    ({"instances": "1-1001"}, "instances: '1-1001'", "1 <= MIN < MAX <= 1000"),
    ({"instances": "x"}, "instances: 'x'", "example: 2 or 2-5"),
    ({"instances": "two"}, "instances: 'two'", "MIN-MAX to autoscale"),
    ({"instances": "2-"}, "instances: '2-'", "MIN-MAX to autoscale"),
    ({"instances": "2-5-8"}, "instances: '2-5-8'", "MIN-MAX to autoscale"),
    ({"role": "custom", "role_arn": ""}, "role_arn: '' is not the ARN of a RAM role",
     "acs:ram::1234567890123456:role/"),
    ({"role": "custom", "role_arn": "acs:ram::12ab:role/x"}, "role_arn: 'acs:ram::12ab:role/x'", "account-id digits"),
    ({"role": "custom", "role_arn": "arn:aws:iam::123:role/x"}, "role_arn:", "example: acs:ram::"),
    ({"role": "pai-default", "oss": True, "workspace_id": ""},
     "workspace_id: is empty but role=pai-default with oss=yes", "metadata.workspace_id"),
    ({"role": "pai-default", "workspace_id": "ws-12"}, "workspace_id: 'ws-12' is not a workspace ID", "123456"),
    ({"role": "none", "oss": True, "maxcompute": False}, "oss: is enabled but role=none", "RAM role"),
    ({"role": "none", "oss": False, "maxcompute": True}, "maxcompute: is enabled but role=none", "RAM role"),
    ({"maxcompute": False, "maxcompute_sql": True}, "maxcompute_sql: is enabled but maxcompute=no",
     "maxcompute_sql=no"),
    ({"oss_bucket": "My_Bucket"}, "oss_bucket: 'My_Bucket' is not a valid OSS bucket name", "my-eas-bucket"),
    ({"oss_bucket": "ab"}, "oss_bucket: 'ab'", "3 to 63"),
    ({"oss_bucket": "-bucket"}, "oss_bucket: '-bucket'", "starting and ending"),
    ({"oss_bucket": "bucket-"}, "oss_bucket: 'bucket-'", "starting and ending"),
    ({"oss_bucket": "b" * 64}, "oss_bucket:", "3 to 63"),
    ({"maxcompute": True, "odps_project": "1project"}, "odps_project: '1project' is not a valid MaxCompute project",
     "my_project"),
    ({"maxcompute": True, "odps_project": "my-project"}, "odps_project: 'my-project'", "underscores"),
    ({"oss_code_prefix": "/code/"}, "oss_code_prefix: '/code/'", "ends with /"),
    ({"oss_code_prefix": "code"}, "oss_code_prefix: 'code'", "ends with /"),
    ({"oss_data_prefix": "data"}, "oss_data_prefix: 'data'", "ends with /"),
    ({"instance_type": "c7.large"}, "instance_type: 'c7.large'", "ecs.c7.large"),
    ({"image": "bad image"}, "image: 'bad image'", "python-inference:py39-ubuntu2004"),
]


def bake_into(output, **answers):
    """Bake with cookiecutter itself, into a directory of our own, to see exactly what is left there."""
    cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output))


@pytest.mark.parametrize(("answers", "message", "hint"), REJECTED, ids=[m for _, m, _ in REJECTED])
def test_a_bad_answer_is_refused_by_name_and_nothing_is_written(tmp_path, capfd, answers, message, hint):
    with pytest.raises(FailedHookException):
        bake_into(tmp_path, **answers)
    error = capfd.readouterr().err
    line = next((line for line in error.splitlines() if message in line), None)
    assert line is not None, error
    assert "rule:" in line and "example:" in line and hint in line
    assert "Traceback" not in error
    assert list(tmp_path.iterdir()) == []


def test_every_problem_is_reported_at_once(tmp_path, capfd):
    with pytest.raises(FailedHookException):
        bake_into(tmp_path, service="X", port=8080, oss_bucket="B")
    error = capfd.readouterr().err
    assert "ERROR service:" in error and "ERROR port:" in error and "ERROR oss_bucket:" in error


def test_a_region_outside_the_list_is_refused_by_cookiecutter(cookies):
    result = cookies.bake(extra_context={"region": "mars-north-1"})
    assert result.exit_code != 0
    assert "region" in str(result.exception) and "cn-hangzhou" in str(result.exception)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("region", "mars-north-1", "region: 'mars-north-1' is not a region with EAS"),
    ("docs_language", "fr", "docs_language: 'fr' is not a language of the documentation"),
    ("ci", "gitlab", "ci: 'gitlab' is not a CI/CD choice"),
])
def test_a_choice_that_bypasses_the_choice_list_is_refused_by_the_hook(tmp_path, capfd, field, value, message):
    """A replay file skips cookiecutter's choice check: the hook still holds the line."""
    answers = {key: value for key, value in DEFAULTS.items() if not key.startswith("_")}
    answers.update(region="cn-hangzhou", docs_language="en", ci="github", service="replayed", role="custom",
                   role_arn="acs:ram::1234567890123456:role/r", oss_bucket="replayed-bucket",
                   oss_code_prefix="eas/replayed/", odps_project="replayed_project")
    answers[field] = value
    replay = tmp_path / "replay.json"
    replay.write_text(json.dumps({"cookiecutter": answers}))
    output = tmp_path / "out"
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), replay=str(replay), output_dir=str(output))
    errors = capfd.readouterr().err
    assert message in errors, errors
    assert not (output / "replayed").exists()


def test_the_hooks_region_list_is_cookiecutters_choice_list():
    source = (TEMPLATE / "hooks" / "pre_gen_project.py").read_text(encoding="utf-8")
    listed = source.split("REGIONS = (", 1)[1].split(")", 1)[0]
    assert [region.strip().strip('"') for region in listed.split(",") if region.strip()] == DEFAULTS["region"]


def test_prompts_render_as_written():
    """rich turns :name: into emoji: no prompt may contain such a pair (acs:ram:: did)."""
    prompts = [p if isinstance(p, str) else p["__prompt__"] for p in DEFAULTS["__prompts__"].values()]
    assert set(DEFAULTS["__prompts__"]) == {key for key in DEFAULTS if not key.startswith("_")}
    assert not [p for p in prompts if re.search(r":[a-z_]+:", p)]
