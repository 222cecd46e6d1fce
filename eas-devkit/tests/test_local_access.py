"""Who may use the local EAS: only the developer's own commands, never any process or web page on the machine.

Any local process can connect to 127.0.0.1, and a web page can reach it too by DNS rebinding (its own name,
resolved to 127.0.0.1). So the routes outside the emulated cloud API (admin, the deploying developer's
credentials) need the run's secret from state.json (readable by its owner only), every local server refuses
a Host that is not this machine, in the shape of the service it stands for, and the control plane runs only
the project's own run command, whoever signs the request.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from conftest import PROJECT, SERVICE_JSON

from eas_devkit.local.run_secret import admin_headers
from eas_devkit.testing import RunningEAS, devkit_command

ADMIN_ROUTES = [("POST", "/rotate"), ("POST", "/outage?on=true"), ("GET", "/stats"), ("POST", "/leak-check"),
                ("GET", "/faults"), ("POST", "/faults"), ("DELETE", "/faults")]
FOREIGN_HOSTS = ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "10.0.0.1", ""]


def test_state_json_is_readable_by_its_owner_only(local_eas: RunningEAS) -> None:
    state_dir = Path(local_eas.state["state_dir"])

    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "state.json").stat().st_mode) == 0o600


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer not-the-secret", "Basic eDp5"])
def test_an_admin_route_without_the_runs_secret_is_a_401(local_eas: RunningEAS, method: str, path: str,
                                                        authorization: str) -> None:
    before = local_eas.stats()
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.request(method, local_eas.state["admin_url"] + path, headers=headers,
                                json={"service": "oss", "kind": "status"}, timeout=5)

    assert response.status_code == 401, response.text
    assert response.json()["Code"] == "Unauthorized" and response.json()["field"] == "Authorization"
    assert "state.json" in response.json()["Message"]
    after = local_eas.stats()
    assert (after["issuances"], after["outage"], after["faults_injected"]) == (
        before["issuances"], before["outage"], before["faults_injected"]), "a refused request changed nothing"


def test_the_admin_routes_answer_with_the_secret_from_state_json(local_eas: RunningEAS) -> None:
    response = requests.get(local_eas.state["admin_url"] + "/stats", headers=admin_headers(local_eas.state),
                            timeout=5)

    assert response.status_code == 200 and "issuances" in response.json()


def test_the_deployer_credentials_need_the_runs_secret(local_eas: RunningEAS) -> None:
    uri = local_eas.state["deployer_credentials_uri"]
    bare = uri.split("?", 1)[0]

    for refused in (bare, bare + "?token=not-the-secret"):
        response = requests.get(refused, timeout=5)
        assert response.status_code == 401, response.text
        assert "AccessKeySecret" not in response.text and response.json()["field"] == "Authorization"
    assert requests.get(uri, timeout=5).json()["Code"] == "Success"


def servers(state: dict) -> list[tuple[str, str, str]]:
    """(name, a URL of it, the shape of its errors) for every server of the local EAS."""
    found = [("credentials", state["admin_url"] + "/stats", "json"),
             ("deployer credentials", state["deployer_credentials_uri"], "json"),
             ("control plane", f"http://{state['eas_endpoint']}/api/v2/services", "openapi"),
             ("gateway", f"{state['gateway_url']}/api/predict/{SERVICE_JSON['metadata']['name']}/health", "json"),
             ("OSS", f"{state['oss_endpoint']}/{state['bucket']}", "xml"),
             ("MaxCompute", f"{state['odps_endpoint']}/projects/{state['project']}", "xml")]
    return found


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_every_server_refuses_a_host_that_is_not_this_machine_in_its_own_shape(local_eas: RunningEAS,
                                                                              host: str) -> None:
    for name, url, shape in servers(local_eas.state):
        response = requests.get(url, headers={"Host": host, **admin_headers(local_eas.state)}, timeout=5)
        assert response.status_code == 400, f"{name}: {response.status_code} {response.text[:300]}"
        text = response.text
        assert "is not a loopback name or address" in text, f"{name}: {text[:300]}"
        if shape == "xml":
            assert "<Code>InvalidArgument</Code>" in text, f"{name}: {text}"
        elif shape == "openapi":
            body = response.json()
            assert body["Code"] == "InvalidParameter" and body["RequestId"] and "Host" in body["Message"]
        else:
            assert response.json()["Code"] == "InvalidHost", f"{name}: {text}"
        assert "AccessKeySecret" not in text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]", "127.0.0.2", "eas.localhost"])
def test_loopback_names_and_addresses_are_answered(local_eas: RunningEAS, host: str) -> None:
    port = urlsplit(local_eas.state["admin_url"]).port
    response = requests.get(local_eas.state["admin_url"] + "/stats",
                            headers={"Host": f"{host}:{port}", **admin_headers(local_eas.state)}, timeout=5)

    assert response.status_code == 200, response.text


def test_the_deployers_credentials_run_only_the_projects_run_command(local_eas: RunningEAS, tmp_path: Path) -> None:
    """CreateService signed by the deploying developer, with a script that binds the right port but does
    something else first: refused, naming the field, and nothing runs."""
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.provider import URLCredentialsProvider
    from alibabacloud_eas20210701 import models as eas_models
    from alibabacloud_eas20210701.client import Client
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_openapi.exceptions import ClientException

    state = local_eas.state
    marker = tmp_path / "ran"
    config = json.loads(json.dumps(SERVICE_JSON))
    config["metadata"]["name"] = "foreign_script"
    config["containers"][0]["script"] = f"touch {marker}; " + config["containers"][0]["script"]
    provider = URLCredentialsProvider(uri=state["deployer_credentials_uri"])
    client = Client(open_api_models.Config(credential=CredentialClient(provider=provider),
                                           endpoint=state["eas_endpoint"], protocol="http", region_id=state["region"]))

    with pytest.raises(ClientException) as refused:
        client.create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))
    assert (refused.value.status_code, refused.value.code) == (400, "InvalidParameter")
    assert "$.containers[0].script" in refused.value.message and "run command" in refused.value.message
    time.sleep(1)
    assert not marker.exists()
    with pytest.raises(ClientException) as missing:
        client.describe_service(state["region"], "foreign_script")
    assert missing.value.code == "InvalidService.NotFound"


def test_the_instance_credentials_endpoint_is_open_as_on_eas_but_only_for_this_machine(local_eas: RunningEAS) -> None:
    """Documented choice: no secret in ALIBABA_CLOUD_CREDENTIALS_URI (the SDK quotes it in its errors, which the
    service logs); the Host check still keeps a web page out."""
    uri = local_eas.state["credentials_uri"]

    assert requests.get(uri, timeout=5).json()["Code"] == "Success"
    refused = requests.get(uri, headers={"Host": "evil.example"}, timeout=5)
    assert refused.status_code == 400 and "AccessKeyId" not in refused.text


def test_a_shared_state_directory_is_refused(tmp_path: Path) -> None:
    """The state directory is made private (0700): a shared one such as /tmp is refused, not changed."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    started = subprocess.Popen([*devkit_command(PROJECT), "local", "--state-dir", str(shared), "up"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = started.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(started.pid, signal.SIGTERM)  # the local EAS and the service it started
        started.communicate(timeout=60)
        pytest.fail("the local EAS started in a shared directory")

    assert started.returncode == 1 and "is a shared directory (sticky bit)" in stderr, stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777 and not (shared / "state.json").exists()
