"""The doctor's production rules (issue 14), rule by rule: autoscaling, rolling updates, graceful shutdown, the
request timeout chain, health checks, VPC and resources, the permissions EAS itself uses with a custom role (NAS
mounts, custom images), the template's example values for each target, and misspelt fields.

As in ``test_doctor.py``, each test copies the default bake (given the production settings it lacks: see
``project_copies.in_production``), breaks one thing, runs ``eas-devkit check`` and asserts the finding's line, then
passes once it is fixed.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import PROJECT
from conftest import SERVICE_JSON as SERVICE
from project_copies import (
    EXAMPLE_ACCOUNT,
    OWN_ACCOUNT,
    Project,
    copy_of,
    example_values,
    in_production,
    replace_everywhere,
    set_env,
)

PORT = SERVICE["containers"][0]["port"]
REGION = next(entry["value"] for entry in SERVICE["containers"][0]["env"] if entry["name"] == "REGION")
CUSTOM_IMAGE = f"acme-registry-vpc.{REGION}.cr.aliyuncs.com/prod/my-service:1.0"
ACR_PULL = {"Effect": "Allow", "Action": ["cr:PullRepository"], "Resource": ["acs:cr:*:*:repository/*/prod/my-service"]}
ACR_TOKEN = {"Effect": "Allow", "Action": ["cr:GetAuthorizationToken"], "Resource": ["*"]}
READINESS = {"http_get": {"path": "/ready", "port": PORT}, "initial_delay_seconds": 5, "period_seconds": 5,
             "failure_threshold": 3}
LIVENESS = {"http_get": {"path": "/health", "port": PORT}, "initial_delay_seconds": 10, "period_seconds": 10,
            "failure_threshold": 3}
NETWORKING = {"vpc_id": "vpc-bp1k3f9t2x0m4n8q7r6s", "vswitch_id": "vsw-bp1a2b3c4d5e6f7g8h9",
              "security_group_id": "sg-bp1z9y8x7w6v5u4t3s2r"}
GUNICORN_CONF = "mount/gunicorn.conf.py"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A copy of the default bake with the production settings."""
    copy = copy_of(PROJECT, tmp_path)
    copy.edit("service.json", in_production)
    return copy


@pytest.fixture
def sql_project(tmp_path: Path, baked: Callable[..., Path]) -> Project:
    copy = copy_of(baked(maxcompute_sql=True), tmp_path)
    copy.edit("service.json", in_production)
    return copy


def metadata(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda service: service["metadata"].update(values)


def section(*keys: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    """Update the object at ``keys`` (created when missing) with ``values``."""
    def edit(service: dict[str, Any]) -> None:
        node = service
        for key in keys:
            node = node.setdefault(key, {})
        node.update(values)
    return edit


def line_of(project: Project, relative: str, prefix: str) -> int:
    return next(number for number, line in enumerate(project.read(relative).splitlines(), start=1)
                if line.startswith(prefix))


# Autoscaling: min > 0, max > min and ≤ 1000, a metric, metadata.instance within the range


AUTOSCALER = {"min": 2, "max": 4, "strategies": {"qps": 10}}


@pytest.mark.parametrize(("autoscaler", "where", "words"), [
    ({"min": 0}, "$.autoscaler.min", ["0: the autoscaler's min must be greater than 0", "CreateServiceAutoScaler"]),
    ({"max": 2}, "$.autoscaler.max", ["2 is not greater than min (2)"]),
    ({"max": 1001}, "$.autoscaler.max", ["more than the 1000 instances"]),
    ({"strategies": {}}, "$.autoscaler.strategies", ["no metric to scale by", "qps", "cpu"]),
    ({"strategies": {"qps": 0}}, "$.autoscaler.strategies.qps", ["requests per second per instance, above 0"]),
    ({"strategies": {"cpu": 0.7}}, "$.autoscaler.strategies.cpu", ["a percentage", "e.g. 70 for 70 %"]),
], ids=["min-0", "max-not-above-min", "max-over-1000", "no-metric", "qps-0", "cpu-fraction"])
def test_an_autoscaler_eas_refuses_is_one_error(project, autoscaler, where, words):
    project.edit("service.json", lambda s: s.update(autoscaler={**AUTOSCALER, **autoscaler}))
    checked = project.check()
    checked.finding("ERROR", f"service.json {where}", *words)  # the schema's own finding there is not repeated
    assert checked.returncode == 1


def test_an_instance_count_outside_the_range_is_a_warning(project):
    project.edit("service.json", lambda s: (s.update(autoscaler=AUTOSCALER), s["metadata"].update(instance=1)))
    checked = project.check()
    checked.finding("WARN", "service.json $.metadata.instance", "outside the autoscaler's range [2, 4]",
                    "set metadata.instance to 2")
    checked.assert_clean()


@pytest.mark.parametrize("strategies", [{"qps": 10}, {"cpu": 70}, {"qps": 0.5, "cpu": 80}])
def test_an_autoscaler_with_a_range_and_a_metric_passes(project, strategies):
    project.edit("service.json", lambda s: (s.update(autoscaler={**AUTOSCALER, "strategies": strategies}),
                                            s["metadata"].update(instance=2)))
    checked = project.check()
    checked.assert_clean()
    assert [line for line in checked.lines if "autoscaler" in line] == []


def test_a_misspelt_metric_is_named_with_the_documented_ones(project):
    project.edit("service.json", lambda s: s.update(autoscaler={**AUTOSCALER, "strategies": {"qsp": 10}}))
    checked = project.check()
    checked.finding("ERROR", "service.json $.autoscaler.strategies.qsp", "'qsp' is not a field EAS documents here",
                    "qps, cpu")
    checked.finding("ERROR", "service.json $.autoscaler.strategies", "no metric to scale by")


# Rolling update: surge before removing


def test_no_surge_and_no_unavailable_is_an_error(project):
    project.edit("service.json", section("metadata", "rolling_strategy", max_surge=0, max_unavailable=0))
    checked = project.check()
    line = checked.finding("ERROR", "service.json $.metadata.rolling_strategy", "both 0", "set max_surge to 1")
    assert checked.snippet(line) == {"rolling_strategy": {"max_surge": 1, "max_unavailable": 0}}
    assert checked.returncode == 1


@pytest.mark.parametrize(("instances", "unavailable"), [(1, 1), (2, "100%"), (3, 5)])
def test_as_many_unavailable_as_instances_is_a_warning(project, instances, unavailable):
    project.edit("service.json", lambda s: (s["metadata"].update(instance=instances),
                                            section("metadata", "rolling_strategy", max_unavailable=unavailable)(s)))
    checked = project.check()
    checked.finding("WARN", "service.json $.metadata.rolling_strategy.max_unavailable",
                    f"stop all {instances} instance", "503", "surge before removing")
    checked.assert_clean()


@pytest.mark.parametrize("strategy", [{"max_surge": 1, "max_unavailable": 0},
                                      {"max_surge": "50%", "max_unavailable": 1}])
def test_a_rollout_that_keeps_an_instance_serving_passes(project, strategy):
    project.edit("service.json", lambda s: (s["metadata"].update(instance=2, rolling_strategy=strategy)))
    checked = project.check()
    checked.assert_clean()
    assert [line for line in checked.lines if "rolling_strategy" in line] == []


def test_a_dedicated_resource_group_without_a_rolling_strategy_is_a_warning(project):
    def edit(service: dict[str, Any]) -> None:
        service["metadata"].pop("rolling_strategy")
        service["metadata"].update(resource="eas-r-k3f9t2x0m4n8q7", cpu=2, memory=4096)
        service.pop("cloud")
    project.edit("service.json", edit)
    checked = project.check()
    line = checked.finding("WARN", "service.json $.metadata", "no rolling_strategy", "dedicated resource group")
    assert checked.snippet(line) == {"rolling_strategy": {"max_surge": 1, "max_unavailable": 0}}
    checked.assert_clean()


def test_a_misspelt_rolling_strategy_field_is_an_error(project):
    project.edit("service.json", section("metadata", "rolling_strategy", max_surg=2))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.rolling_strategy.max_surg", "'max_surg' is not a field",
                    "max_surge, max_unavailable")
    assert checked.returncode == 1


# Graceful shutdown: SIGTERM on, gunicorn's graceful_timeout inside EAS's grace period


def test_without_sigterm_gunicorn_never_shuts_down_gracefully(project):
    project.edit("service.json", section("metadata", "rpc", enable_sigterm=False))
    checked = project.check()
    line = checked.finding("WARN", "service.json $.metadata.rpc.enable_sigterm", "is false", "no SIGTERM")
    assert checked.snippet(line) == {"rpc": {"enable_sigterm": True}}
    checked.assert_clean()


def test_a_graceful_timeout_as_long_as_the_grace_period_is_an_error(project):
    project.edit("service.json", section("metadata", "eas", termination_grace_period=20))
    graceful = line_of(project, GUNICORN_CONF, "graceful_timeout")
    checked = project.check()
    checked.finding("ERROR", f"{GUNICORN_CONF}:{graceful}", "graceful_timeout is 25 s",
                    "termination_grace_period, 20 s", "set graceful_timeout = 15")
    assert checked.returncode == 1
    project.edit("service.json", section("metadata", "eas", termination_grace_period=30))
    project.check().assert_clean()


def test_a_graceful_timeout_on_the_command_line_is_read_there(project):
    project.edit("service.json", lambda s: s["containers"][0].update(
        script=s["containers"][0]["script"] + " --graceful-timeout 40"))
    checked = project.check()
    checked.finding("ERROR", "service.json $.containers[0].script", "graceful_timeout is 40 s",
                    "termination_grace_period, 30 s")


def test_gunicorns_default_graceful_timeout_is_named_where_to_set_it(project):
    text = project.read(GUNICORN_CONF)
    project.write(GUNICORN_CONF, re.sub(r"(?m)^graceful_timeout = .*\n", "", text))
    checked = project.check()
    checked.finding("ERROR", GUNICORN_CONF, "30 s (gunicorn's default)", "termination_grace_period, 30 s",
                    f"set graceful_timeout = 25 in {GUNICORN_CONF}")


# The request timeout chain: client ≥ metadata.rpc.keepalive ≥ the service's own deadlines


def test_a_keepalive_shorter_than_the_backend_deadlines_is_an_error(project):
    project.edit("service.json", lambda s: (set_env(s, "OSS_TIMEOUT_SECONDS", "10"),
                                            set_env(s, "BACKEND_READ_RETRIES", "2"),
                                            set_env(s, "ODPS_TIMEOUT_SECONDS", "10"),
                                            section("metadata", "rpc", keepalive=20000)(s)))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.rpc.keepalive", "20000 ms",
                    "30 s (OSS_TIMEOUT_SECONDS 10 × (BACKEND_READ_RETRIES 2 + 1))", "408",
                    "at least 30000 ms")
    assert checked.returncode == 1
    project.edit("service.json", section("metadata", "rpc", keepalive=30000))
    project.check().assert_clean()


def test_the_client_timeout_shorter_than_keepalive_is_a_warning_until_it_waits_as_long(project):
    project.edit("service.json", lambda s: (set_env(s, "OSS_TIMEOUT_SECONDS", "20"),
                                            section("metadata", "rpc", keepalive=60000)(s)))
    example = "examples/call_from_vpc.py"
    project.write(example, re.sub(r"(?m)^TIMEOUT = .*$", "TIMEOUT = (3.05, 30)", project.read(example)))
    checked = project.check()
    checked.finding("WARN", f"{example}:{line_of(project, example, 'TIMEOUT = ')}", "TIMEOUT waits 30 s",
                    "metadata.rpc.keepalive, 60 s", "TIMEOUT = (3.05, 60)")
    checked.assert_clean()
    project.write(example, re.sub(r"(?m)^TIMEOUT = .*$", "TIMEOUT = (3.05, 60)", project.read(example)))
    assert project.check().at(f"{example}:{line_of(project, example, 'TIMEOUT = ')}") == []


def test_a_deadline_left_to_app_config_is_read_from_its_default(project):
    """Without OSS_TIMEOUT_SECONDS in containers[0].env, the service takes mount/app/config.py's default."""
    project.edit("service.json", lambda s: (
        s["containers"][0].update(env=[entry for entry in s["containers"][0]["env"]
                                       if entry["name"] not in ("OSS_TIMEOUT_SECONDS", "ODPS_TIMEOUT_SECONDS")]),
        set_env(s, "BACKEND_READ_RETRIES", "2"), section("metadata", "rpc", keepalive=60000)(s)))
    config = "mount/app/config.py"
    project.write(config, re.sub(r"oss_timeout_seconds: int = \d+", "oss_timeout_seconds: int = 25",
                                 project.read(config)))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.rpc.keepalive", "75 s (OSS_TIMEOUT_SECONDS 25 × "
                    "(BACKEND_READ_RETRIES 2 + 1))")


def test_the_sql_route_is_bounded_by_its_deadline_and_three_backend_requests(sql_project):
    project = sql_project
    project.edit("service.json", lambda s: (set_env(s, "SQL_TIMEOUT_SECONDS", "45"),
                                            set_env(s, "ODPS_TIMEOUT_SECONDS", "10"),
                                            section("metadata", "rpc", keepalive=60000)(s)))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.rpc.keepalive", "75 s (SQL_TIMEOUT_SECONDS 45 + 3 × "
                    "ODPS_TIMEOUT_SECONDS 10)", "lower SQL_TIMEOUT_SECONDS and ODPS_TIMEOUT_SECONDS")
    project.edit("service.json", section("metadata", "rpc", keepalive=75000))
    project.check().assert_clean()


def test_without_keepalive_the_timeout_to_set_is_suggested(project):
    project.edit("service.json", lambda s: (set_env(s, "OSS_TIMEOUT_SECONDS", "10"),
                                            set_env(s, "ODPS_TIMEOUT_SECONDS", "10"),
                                            set_env(s, "BACKEND_READ_RETRIES", "2"),
                                            s["metadata"]["rpc"].pop("keepalive")))
    checked = project.check()
    line = checked.finding("WARN", "service.json $.metadata.rpc", "keepalive is not set")
    assert checked.snippet(line) == {"rpc": {"keepalive": 30000}}
    checked.assert_clean()


def test_gunicorns_timeout_bounds_requests_only_with_sync_workers(project):
    project.edit("service.json", lambda s: (set_env(s, "OSS_TIMEOUT_SECONDS", "20"),
                                            section("metadata", "rpc", keepalive=60000)(s)))
    project.write(GUNICORN_CONF, re.sub(r"(?m)^timeout = .*$", "timeout = 30", project.read(GUNICORN_CONF)))
    assert project.check().at(f"{GUNICORN_CONF}:{line_of(project, GUNICORN_CONF, 'timeout = ')}") == []
    project.write(GUNICORN_CONF, re.sub(r"(?m)^worker_class = .*$", 'worker_class = "sync"',
                                        project.read(GUNICORN_CONF)))
    checked = project.check()
    checked.finding("ERROR", f"{GUNICORN_CONF}:{line_of(project, GUNICORN_CONF, 'timeout = ')}",
                    "gunicorn's timeout is 30 s", "60 s", "502", "docs.gunicorn.org")
    assert checked.returncode == 1


# Health checks: custom images only; the container's port; /ready and /health


def with_custom_image(service: dict[str, Any]) -> None:
    service["containers"][0]["image"] = CUSTOM_IMAGE


def with_acr_pull(policy: dict[str, Any]) -> None:
    policy["Statement"] += [ACR_TOKEN, ACR_PULL]


def test_a_health_check_with_the_official_image_is_a_warning_citing_the_limit(project):
    project.edit("service.json", lambda s: s["containers"][0].update(readiness_check=READINESS))
    checked = project.check()
    checked.finding("WARN", "service.json $.containers[0].readiness_check", "EAS's official one",
                    "Health checks are available only for services deployed using custom images",
                    "advanced-configuration-health-check")
    checked.assert_clean()


@pytest.mark.parametrize(("probe", "change", "level", "where", "words"), [
    ("readiness_check", {"http_get": {"path": "/ready", "port": PORT + 1}}, "ERROR", "http_get.port",
     [f"{PORT + 1} is not containers[0].port ({PORT})"]),
    ("liveness_check", {"tcp_socket": {"port": PORT + 1}}, "ERROR", "tcp_socket.port", ["not containers[0].port"]),
    ("readiness_check", {"http_get": {"path": "ready", "port": PORT}}, "ERROR", "http_get.path",
     ["'ready' does not start with /", "/ready"]),
    ("readiness_check", {"http_get": {"path": "/health", "port": PORT}}, "WARN", "http_get.path",
     ["readiness on /ready", "503"]),
    ("liveness_check", {"http_get": {"path": "/ready", "port": PORT}}, "WARN", "http_get.path",
     ["liveness on /health", "restarted"]),
], ids=["http-port", "tcp-port", "relative-path", "readiness-on-health", "liveness-on-ready"])
def test_a_health_check_that_misses_the_service_is_named(project, probe, change, level, where, words):
    project.edit("service.json", lambda s: (with_custom_image(s), s["containers"][0].update(
        readiness_check=copy.deepcopy(READINESS), liveness_check=copy.deepcopy(LIVENESS)),
        s["containers"][0][probe].pop("http_get"), s["containers"][0][probe].update(change)))
    project.edit("ram/permission-policy.json", with_acr_pull)
    checked = project.check()
    checked.finding(level, f"service.json $.containers[0].{probe}.{where}", *words)
    assert checked.returncode == (1 if level == "ERROR" else 0)


def test_health_checks_on_ready_and_health_with_a_custom_image_pass(project):
    project.edit("service.json", lambda s: (with_custom_image(s), s["containers"][0].update(
        readiness_check=READINESS, liveness_check=LIVENESS,
        startup_check={"tcp_socket": {"port": PORT}, "failure_threshold": 30, "period_seconds": 2})))
    project.edit("ram/permission-policy.json", with_acr_pull)
    checked = project.check()
    checked.assert_clean()
    assert [line for line in checked.lines if "_check" in line] == []


def test_a_misspelt_probe_field_is_an_error(project):
    project.edit("service.json", lambda s: s["containers"][0].update(
        liveness_check={**LIVENESS, "initial_delay": 10}))
    checked = project.check()
    checked.finding("ERROR", "service.json $.containers[0].liveness_check.initial_delay", "'initial_delay'",
                    "initial_delay_seconds")


# VPC: the three IDs together, in their forms


@pytest.mark.parametrize(("networking", "where", "words"), [
    ({"vpc_id": NETWORKING["vpc_id"]}, "$.cloud.networking", ["has vpc_id but not vswitch_id, security_group_id"]),
    ({**NETWORKING, "vswitch_id": "vpc-bp1a2b3c"}, "$.cloud.networking.vswitch_id",
     ["'vpc-bp1a2b3c' is not a vSwitch ID", "vsw-"]),
    ({**NETWORKING, "security_group_id": "sg-BP1"}, "$.cloud.networking.security_group_id",
     ["not a security group ID"]),
], ids=["incomplete", "vswitch-form", "security-group-form"])
def test_vpc_settings_eas_cannot_use_are_an_error(project, networking, where, words):
    project.edit("service.json", section("cloud", networking=networking))
    checked = project.check()
    checked.finding("ERROR", f"service.json {where}", *words)
    assert checked.returncode == 1


def test_complete_vpc_settings_pass(project):
    project.edit("service.json", section("cloud", networking=NETWORKING))
    checked = project.check()
    checked.assert_clean()
    assert checked.at("service.json $.cloud.networking") == []


def test_a_near_miss_of_a_vpc_field_is_a_warning(project):
    networking = {**NETWORKING, "vswitch": NETWORKING["vswitch_id"]}
    networking.pop("vswitch_id")
    project.edit("service.json", section("cloud", networking=networking))
    checked = project.check()
    checked.finding("WARN", "service.json $.cloud.networking.vswitch", "did you mean 'vswitch_id'?")
    checked.finding("ERROR", "service.json $.cloud.networking", "but not vswitch_id")


# Resources: instance types or a dedicated resource group with cpu and memory; GPUs with a GPU type


def on_resource_group(**values: Any) -> Callable[[dict[str, Any]], None]:
    def edit(service: dict[str, Any]) -> None:
        service.pop("cloud", None)
        service["metadata"].update({"resource": "eas-r-k3f9t2x0m4n8q7", "cpu": 2, "memory": 4096, **values})
    return edit


def test_a_resource_group_with_cpu_and_memory_passes(project):
    project.edit("service.json", on_resource_group())
    checked = project.check()
    checked.assert_clean()
    assert [line for line in checked.lines if "$.metadata" in line or "$.cloud" in line] == []


def test_a_resource_group_and_instance_types_together_are_an_error(project):
    project.edit("service.json", lambda s: (on_resource_group()(s), s.update(cloud=SERVICE["cloud"])))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.resource", "both set", "remove cloud.computing")
    assert checked.returncode == 1


@pytest.mark.parametrize("missing", ["cpu", "memory"])
def test_a_resource_group_without_cpu_or_memory_is_an_error(project, missing):
    project.edit("service.json", lambda s: (on_resource_group()(s), s["metadata"].pop(missing)))
    checked = project.check()
    checked.finding("ERROR", f"service.json $.metadata.{missing}", "is missing", "dedicated resource group")
    assert checked.returncode == 1


def test_neither_instance_types_nor_a_resource_group_is_an_error(project):
    project.edit("service.json", lambda s: s.pop("cloud"))
    checked = project.check()
    line = checked.finding("ERROR", "service.json $.cloud.computing", "is missing")
    assert checked.snippet(line)["cloud"]["computing"]["instances"][0]["type"].startswith("ecs.")


def test_gpus_need_a_gpu_instance_type(project):
    project.edit("service.json", metadata(gpu=1))
    checked = project.check()
    checked.finding("ERROR", "service.json $.metadata.gpu", "asks for 1 GPU", SERVICE["cloud"]["computing"]
                    ["instances"][0]["type"], "ecs.gn")
    assert checked.returncode == 1
    project.edit("service.json", lambda s: s["cloud"]["computing"].update(
        instances=[{"type": "ecs.gn7i-c8g1.2xlarge"}, {"type": "ml.gu7i.c16m60.1-gu30"}]))
    project.check().assert_clean()


def test_an_odd_instance_type_and_memory_in_gb_are_warnings(project):
    project.edit("service.json", lambda s: (s["cloud"]["computing"].update(instances=[{"type": "c7.large"}]),
                                            s["metadata"].update(cpu=2, memory=4)))
    checked = project.check()
    checked.finding("WARN", "service.json $.cloud.computing.instances[0].type", "'c7.large' does not look like")
    checked.finding("WARN", "service.json $.metadata.memory", "in MB", "4096")
    checked.assert_clean()


# The template's example values: a WARN for the local EAS, an ERROR for the cloud


def test_each_example_value_is_an_error_for_the_cloud_naming_its_answer_and_files(project):
    checked = project.check("--target", "cloud")
    assert checked.returncode == 1
    for value, answer in example_values(SERVICE).items():
        line = next(line for line in checked.lines if line.startswith("ERROR ") and f": {value} is" in line)
        assert f"the answer {answer} set it" in line and "put your own in service.json ($." in line
        if answer != "role_arn":
            assert "ram/permission-policy.json" in line, line
    assert checked.lines[-1].endswith("; target cloud)")


def test_the_target_defaults_to_eas_target_and_the_option_wins(project):
    assert project.check(env={"EAS_TARGET": "cloud"}).returncode == 1
    assert project.check("--target", "local", env={"EAS_TARGET": "cloud"}).returncode == 0
    wrong = project.check(env={"EAS_TARGET": "staging"})
    assert wrong.returncode == 1 and wrong.stdout == ""


def test_own_values_pass_for_the_cloud(project):
    name = SERVICE["metadata"]["name"]
    replace_everywhere(project, {EXAMPLE_ACCOUNT: OWN_ACCOUNT, f"{name.replace('_', '-')}-bucket": "acme-prod-data",
                                 f"{name}_project": "acme_prod"})
    checked = project.check("--target", "cloud")
    checked.assert_clean()
    assert [line for line in checked.lines if "is the template's" in line] == []


@pytest.mark.parametrize(("target", "level"), [("local", "WARN"), ("cloud", "ERROR")])
def test_an_id_that_looks_like_a_placeholder_is_named(project, target, level):
    project.edit("service.json", section("cloud", networking={**NETWORKING, "vpc_id": "vpc-xxxxxxxx"}))
    checked = project.check("--target", target)
    checked.finding(level, "service.json $.cloud.networking.vpc_id", "vpc-xxxxxxxx", "looks like a placeholder")


# What EAS does with a custom role while deploying: NAS mounts and custom images (the RAM guide)


NAS = {"mount_path": "/mnt/nas/", "nfs": {"server": f"0c4f14b1b7-kqv12.{REGION}.nas.aliyuncs.com", "path": "/models",
                                           "readOnly": True}}


def test_a_nas_mount_the_custom_role_may_not_read_is_an_error_with_the_statement(project):
    project.edit("service.json", lambda s: s["storage"].append(NAS))
    checked = project.check()
    prefix = "ERROR ram/permission-policy.json $.Statement: the role may not call nas:DescribeFileSystems"
    line = next((line for line in checked.lines if line.startswith(prefix)), None)
    assert line is not None and "the NAS mount at /mnt/nas/" in line, checked.stdout
    statement = checked.snippet(line)
    assert statement == {"Effect": "Allow", "Action": ["nas:DescribeFileSystems", "nas:DescribeMountTargets"],
                         "Resource": ["acs:nas:*:*:filesystem/0c4f14b1b7"]}
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].append(statement))
    project.check().assert_clean()


def test_a_custom_image_the_custom_role_may_not_pull_is_an_error_with_the_statements(project):
    project.edit("service.json", with_custom_image)
    checked = project.check()
    assert checked.returncode == 1
    statements = []
    for action, resource in (("cr:GetAuthorizationToken", "*"),
                             ("cr:PullRepository", "acs:cr:*:*:repository/*/prod/my-service")):
        prefix = f"ERROR ram/permission-policy.json $.Statement: the role may not call {action} on {resource},"
        line = next((line for line in checked.lines if line.startswith(prefix)), None)
        assert line is not None and f"pulling the image {CUSTOM_IMAGE}" in line, checked.stdout
        statements.append(checked.snippet(line))
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].extend(statements))
    token = len(json.loads(project.read("ram/permission-policy.json"))["Statement"]) - 2
    checked = project.check()
    checked.assert_clean()
    # cr:GetAuthorizationToken takes no resource but *: no least-privilege warning for it
    assert checked.at(f"ram/permission-policy.json $.Statement[{token}].Resource") == [], checked.stdout


def test_a_pull_granted_on_the_registry_instance_or_a_docker_auth_passes(project):
    project.edit("service.json", with_custom_image)
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].extend([ACR_TOKEN, {
        "Effect": "Allow", "Action": "cr:PullRepository",
        "Resource": "acs:cr:*:*:repository/cri-0a1b2c3d4e5f/prod/*"}]))
    project.check().assert_clean()
    project.edit("ram/permission-policy.json", lambda p: p["Statement"].pop())
    assert project.check().returncode == 1
    project.edit("service.json", lambda s: s.update(dockerAuth=base64.b64encode(b"puller:secret").decode()))
    project.check().assert_clean()


def test_a_malformed_docker_auth_is_an_error_that_does_not_print_it(project):
    project.edit("service.json", lambda s: s.update(dockerAuth="puller:s3cr3t-pass"))
    checked = project.check()
    checked.finding("ERROR", "service.json $.dockerAuth", "is a secret and is not printed")
    assert "s3cr3t" not in checked.stdout


def test_an_official_image_needs_no_pull_permission(project):
    checked = project.check()
    assert [line for line in checked.lines if "cr:" in line] == []


# Misspelt fields where EAS has more than the schema lists: a WARN with the field meant


def test_a_near_miss_of_a_documented_field_is_a_warning(project):
    project.edit("service.json", lambda s: s["metadata"]["rpc"].update(keep_alive=60000))
    checked = project.check()
    checked.finding("WARN", "service.json $.metadata.rpc.keep_alive", "did you mean 'keepalive'?")
    checked.assert_clean()


def test_an_unknown_field_far_from_any_documented_one_is_allowed(project):
    project.edit("service.json", lambda s: (s["metadata"].update(shm_size=64), s.update(features={"x": "y"})))
    project.check().assert_clean()
    assert json.loads(project.read("service.json"))["features"] == {"x": "y"}
