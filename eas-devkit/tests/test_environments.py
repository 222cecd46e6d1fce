"""Environments: ``environments/<name>.json`` merged into service.json when ``EAS_ENV`` names it, for the check,
the deploy commands and the local EAS (``eas_devkit.service_config`` has the merge rules)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from conftest import PROJECT, SERVICE_JSON
from project_copies import Project, copy_of

from eas_devkit.cli import main
from eas_devkit.service_config import ServiceConfigError, load_service_config, merge
from eas_devkit.testing import RunningEAS, devkit_command, finish_local_eas, start_local_eas

NAME = SERVICE_JSON["metadata"]["name"]
STAGING = {"metadata": {"name": f"{NAME}_staging"},
           "containers": [{"env": [{"name": "OSS_TIMEOUT_SECONDS", "value": "5"}]}]}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return copy_of(PROJECT, tmp_path)


# The merge rules


def test_objects_merge_key_by_key_and_null_deletes():
    base = {"metadata": {"name": "a", "instance": 1, "rpc": {"keepalive": 60000}}, "role_arn": "r"}
    patch = {"metadata": {"instance": 2, "rpc": {"batching": True}}, "role_arn": None}
    assert merge(base, patch) == {"metadata": {"name": "a", "instance": 2, "rpc": {"keepalive": 60000,
                                                                                   "batching": True}}}
    assert base["role_arn"] == "r" and base["metadata"]["instance"] == 1  # the base is not changed


def test_env_merges_by_name_containers_by_index_and_other_lists_replace():
    base = {"containers": [{"image": "i", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"},
                                                  {"name": "C", "value": "3"}]},
                           {"image": "sidecar"}],
            "cloud": {"computing": {"instances": [{"type": "ecs.c7.large"}]}}}
    patch = {"containers": [{"env": [{"name": "B", "value": "two"}, {"name": "A", "value": None},
                                     {"name": "D", "value": "4"}, {"name": "Z", "value": None}]}],
             "cloud": {"computing": {"instances": [{"type": "ecs.c7.xlarge"}, {"type": "ecs.c7.2xlarge"}]}}}
    merged = merge(base, patch)
    assert merged["containers"][0] == {"image": "i", "env": [{"name": "B", "value": "two"},
                                                             {"name": "C", "value": "3"},
                                                             {"name": "D", "value": "4"}]}
    assert merged["containers"][1] == {"image": "sidecar"}  # container 1 untouched
    assert merged["cloud"]["computing"]["instances"] == [{"type": "ecs.c7.xlarge"}, {"type": "ecs.c7.2xlarge"}]
    assert merge({"x": [1, 2]}, {"x": []}) == {"x": []}  # an empty list replaces too


# Every error names the file and the rule


def test_each_error_names_the_file_and_the_rule(project):
    def error(env: str) -> str:
        with pytest.raises(ServiceConfigError) as raised:
            load_service_config(project.path, {"EAS_ENV": env})
        return str(raised.value)

    assert "EAS_ENV=nope: environments/nope.json does not exist (environments here: prod, staging)" in error("nope")
    assert "EAS_ENV='Prod'" in error("Prod") and "^[a-z][a-z0-9_-]{0,31}$" in error("Prod")
    project.write("environments/broken.json", '{"metadata": {"name": "x",}}')
    assert error("broken").startswith("environments/broken.json:1:27: is not valid JSON")
    project.write("environments/listed.json", "[]")
    assert error("listed").startswith("environments/listed.json $: is a JSON array, not an object")
    project.write_json("environments/typed.json", {"metadata": "x"})
    assert error("typed").startswith("environments/typed.json $.metadata: is a JSON string where service.json has "
                                     "an object: an override keeps the kind of what it overrides")
    project.write_json("environments/containers.json", {"containers": ["x"]})
    assert "environments/containers.json $.containers[0]: is a JSON string: $.containers merges item by item" \
        in error("containers")
    assert load_service_config(project.path, {"EAS_ENV": ""}).text == project.read("service.json")  # empty: none


def test_a_bad_environment_stops_the_commands_with_one_line(project):
    """Before anything is sent (no local EAS runs here), each command says what is wrong, exit status 1."""
    for command in (["deploy"], ["status"], ["events"], ["delete", "--yes"]):
        stderr = io.StringIO()
        with mock.patch.dict(os.environ, {"EAS_ENV": "nope"}), contextlib.redirect_stderr(stderr):
            returncode = main(["--project", str(project.path), *command])
        assert returncode == 1
        assert stderr.getvalue() == (f"{command[0]}: EAS_ENV=nope: environments/nope.json does not exist "
                                     "(environments here: prod, staging) — set EAS_ENV to one of them, unset it for "
                                     "service.json alone, or create environments/nope.json\n")


# The check reads the merged document and points at the file to fix


def test_the_check_of_an_environment_points_at_the_environment_file(project):
    project.write_json("environments/staging.json", {**STAGING, "metadata": {"name": f"{NAME}_staging",
                                                                             "instance": -1}})
    checked = project.check(env={"EAS_ENV": "staging"})
    checked.finding("ERROR", "environments/staging.json $.metadata.instance", "-1", "minimum")
    assert checked.returncode == 1
    assert checked.lines[-1].endswith("; environment staging: service.json + environments/staging.json)")
    assert not checked.at("service.json $.metadata.instance")
    assert project.check(env={"EAS_ENV": ""}).returncode == 0  # the base has no such error


def test_an_overridden_variable_is_reported_at_its_place_in_the_environment_file(project):
    project.write_json("environments/staging.json", {"containers": [{"env": [
        {"name": "REGION", "value": "cn-hangzhou"}, {"name": "OSS_ENDPOINT", "value": "http://203.0.113.1"}]}]})
    checked = project.check(env={"EAS_ENV": "staging"})
    assert checked.at("environments/staging.json $.containers[0].env[1].value"), checked.stdout
    assert not [line for line in checked.lines if line.startswith(("ERROR service.json", "WARN service.json"))
                and "OSS_ENDPOINT" in line], checked.stdout


def test_the_generated_environments_pass_the_check(project):
    warnings = {}
    for environment in ("", "staging", "prod"):
        checked = project.check(env={"EAS_ENV": environment})
        checked.assert_clean()
        assert not [line for line in checked.lines if line.startswith("WARN environments/")], checked.stdout
        warnings[environment] = [line.split(":")[0] for line in checked.lines if line.startswith("WARN ")]
    # The template's example bucket and project are still known as such under another service name.
    assert warnings["staging"] == warnings["prod"] == warnings[""] != []
    prod = load_service_config(project.path, {"EAS_ENV": "prod"}).config
    assert prod["metadata"]["name"] == f"{NAME}_prod" and prod["metadata"]["instance"] == 2


# The environments rules: every environment, whichever is selected


def test_every_environment_file_is_checked_whichever_is_selected(project):
    project.write("environments/Prod.json", "{}")
    project.write("environments/broken.json", "{")
    project.write_json("environments/same.json", {"metadata": {"instance": 3}})
    project.write_json("environments/other.json", {"metadata": {"name": f"{NAME}_other"},
                                                   "role_arn": "acs:ram::1234567890123456:role/other-role"})
    checked = project.check()
    checked.finding("ERROR", "environments/Prod.json", "is not an environment name", "rename the file, e.g. prod.json")
    checked.finding("ERROR", "environments/broken.json:1:2", "is not valid JSON")
    checked.finding("WARN", "environments/same.json", "keeps service.json's metadata.name", "updates that service",
                    f'"name": "{NAME}_same"')
    checked.finding("WARN", "environments/other.json", "changes role_arn", "EAS_ENV=other make check")
    assert checked.returncode == 1
    selected = project.check(env={"EAS_ENV": "broken"})  # reported once, and nothing checked as if it merged
    selected.finding("ERROR", "environments/broken.json:1:2", "is not valid JSON")
    assert selected.lines[-1].endswith("; environment broken: not merged)"), selected.stdout
    project.remove("environments/Prod.json")
    project.remove("environments/broken.json")
    assert project.check().returncode == 0


# End to end: the local EAS and the deploy commands


@pytest.fixture(scope="module")
def staging_eas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEAS]:
    project = copy_of(PROJECT, tmp_path_factory.mktemp("environments"))
    project.write_json("environments/staging.json", STAGING)
    running = start_local_eas(tmp_path_factory.mktemp("environments-eas"), "--quiet", project=project.path,
                              environ={"EAS_ENV": "staging"})
    yield running
    finish_local_eas(running)


@pytest.mark.xdist_group("environments")  # one local EAS for both
def test_the_local_eas_runs_the_environment_it_was_started_with(staging_eas):
    assert staging_eas.state["service"] == f"{NAME}_staging"
    assert staging_eas.state["env"]["OSS_TIMEOUT_SECONDS"] == "5"
    assert "environment staging (service.json + environments/staging.json)" in staging_eas.log_path.read_text()


@pytest.mark.xdist_group("environments")
def test_an_environment_deploys_next_to_the_base_and_the_commands_act_on_it(staging_eas):
    def run(*args: str, environment: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([*devkit_command(staging_eas.project), *args], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "EAS_TARGET": "local", "EAS_ENV": environment,
                                                "EAS_LOCAL_STATE_DIR": staging_eas.state["state_dir"]})

    base = run("deploy")
    assert base.returncode == 0, base.stdout + base.stderr
    staging = run("deploy", environment="staging")
    assert staging.returncode == 0, staging.stdout + staging.stderr
    assert f"Deploying {NAME}_staging (environment staging (service.json + environments/staging.json))" \
        in staging.stdout and f"CreateService {NAME}_staging" in staging.stdout
    status = run("status", environment="staging")
    assert status.stdout.startswith(f"{NAME}_staging: Running"), status.stdout
    events = run("events", environment="staging")
    assert events.returncode == 0 and "events" in events.stdout.splitlines()[-1]
    deleted = run("delete", "--yes", environment="staging")
    assert f"{NAME}_staging deleted" in deleted.stdout, deleted.stdout + deleted.stderr
    assert "not deployed" in run("status", environment="staging").stdout
    assert run("status").stdout.startswith(f"{NAME}: Running")  # the base is untouched
