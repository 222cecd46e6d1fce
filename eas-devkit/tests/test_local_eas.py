"""The local EAS itself: what it starts, what it injects, and that it stays on 127.0.0.1."""

from __future__ import annotations

import calendar
import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from conftest import PROJECT

from eas_devkit.local.instance import InstanceError, ServiceSpec, instance_environment, local_script
from eas_devkit.testing import devkit_command


def test_everything_listens_on_loopback_and_answers(local_eas):
    for name in ("service_url", "oss_endpoint", "admin_url", "credentials_uri"):
        assert urlparse(local_eas.state[name]).hostname == "127.0.0.1", name
    assert local_eas.get("/health").json() == {"status": "ok"}


def test_the_instance_gets_the_container_env_with_local_endpoints(local_eas):
    env = local_eas.state["env"]
    spec = ServiceSpec.load(PROJECT / "service.json")
    for name, value in spec.env.items():
        if name.endswith("_ENDPOINT"):
            assert urlparse(env[name]).hostname == "127.0.0.1"
        else:
            assert env[name] == value
    assert env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] == "true"
    assert env["ALIBABA_CLOUD_CLI_PROFILE_DISABLED"] == "true"
    assert env["HOME"] == str(Path(local_eas.state["state_dir"]) / "home")


def test_the_developers_own_keys_never_reach_the_instance(monkeypatch, tmp_path):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-developer")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "developer-secret")
    monkeypatch.setenv("HOME", "/home/developer")
    env = instance_environment(ServiceSpec.load(PROJECT / "service.json"), {}, tmp_path)
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" not in env
    assert "developer-secret" not in json.dumps(env)
    assert env["HOME"] == str(tmp_path)


def test_the_run_command_is_moved_to_loopback_and_the_local_mount(tmp_path):
    spec = ServiceSpec.load(PROJECT / "service.json")
    script = local_script(spec, tmp_path, 12345)
    assert "0.0.0.0" not in script and "127.0.0.1:12345" in script
    assert "/mnt/data" not in script and f"{tmp_path}/gunicorn.conf.py" in script


def test_a_run_command_that_does_not_bind_the_declared_port_is_refused(tmp_path):
    spec = ServiceSpec.load(PROJECT / "service.json")
    wrong = ServiceSpec(**{**spec.__dict__, "script": spec.script.replace(f":{spec.port}", ":1234")})
    with pytest.raises(InstanceError, match="does not bind 0.0.0.0"):
        local_script(wrong, tmp_path, 12345)


def test_exec_without_a_running_local_eas_says_how_to_start_it(tmp_path):
    result = subprocess.run([*devkit_command(PROJECT), "local", "--state-dir", str(tmp_path), "exec", "--", "true"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert "make dev" in result.stderr and "Traceback" not in result.stderr


class TestInstanceCredentials:
    def test_the_endpoint_answers_as_the_eas_credentials_endpoint_does(self, local_eas):
        body = requests.get(local_eas.state["credentials_uri"], timeout=5).json()
        assert set(body) == {"Code", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
        assert body["Code"] == "Success"
        assert body["AccessKeyId"].startswith("STS.")
        expires = calendar.timegm(time.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
        assert 3000 < expires - time.time() <= 3600

    def test_each_issuance_has_a_new_key_and_the_file_follows(self, local_eas):
        before = local_eas.current_credentials()
        after = local_eas.rotate()
        assert after["AccessKeyId"] != before["AccessKeyId"]
        assert after["AccessKeySecret"] != before["AccessKeySecret"]
        path = Path(local_eas.state["credentials_file"])
        assert json.loads(path.read_text()) == after
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    def test_the_rotate_command_shows_only_the_masked_key(self, local_eas):
        result = subprocess.run(
            [*devkit_command(PROJECT), "local", "--state-dir", local_eas.state["state_dir"], "rotate"],
            capture_output=True, text=True, check=True)
        current = local_eas.current_credentials()
        assert f"STS.****{current['AccessKeyId'][-4:]}" in result.stdout
        assert current["AccessKeySecret"] not in result.stdout and current["SecurityToken"] not in result.stdout

    def test_rotate_says_the_running_service_keeps_its_cached_key_until_the_refresh_margin(self, local_eas):
        """The new key is not what `GET /credentials` shows: the output says why, with the key in use (each
        gunicorn worker caches its own credentials, so the one that answers may have none cached yet)."""
        cached = {local_eas.get("/credentials").json()["access_key_id"] for _ in range(20)}
        result = subprocess.run(
            [*devkit_command(PROJECT), "local", "--state-dir", local_eas.state["state_dir"], "rotate"],
            capture_output=True, text=True, check=True)
        new_key = f"STS.****{local_eas.current_credentials()['AccessKeyId'][-4:]}"
        said = " ".join(result.stdout.split())

        masked_key = r"STS\.\*\*\*\*\w\w\w\w"
        in_use = re.search(rf"The service at {re.escape(local_eas.url)} (?:still signs with (?P<old>{masked_key}), "
                           rf"which it cached \(expiring [\dTZ:-]+\)|signs with {re.escape(new_key)} already \(the "
                           rf"worker that answered had none cached yet\)): ", said)
        assert in_use, said
        assert in_use["old"] is None or in_use["old"] in cached
        assert said.endswith("alibabacloud_credentials fetches new credentials only 15 minutes before the cached ones "
                             "expire. Both stay valid until then, so no request fails; an instance started from now "
                             f"on (a redeploy, a restart) gets {new_key}.")
