"""``local up --tls``: the service, and every service deployed to the local EAS, reach the local OSS and
MaxCompute over HTTPS, as on EAS, with a CA of the run's that only they trust; the kit's own clients keep
state.json's HTTP endpoints."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest
import requests
from alibabacloud_credentials.provider import URLCredentialsProvider
from deployments import Deployment, copy_project, succeeded

from eas_devkit.testing import finish_local_eas, start_local_eas

pytestmark = pytest.mark.xdist_group("tls")
SHOW_ENDPOINT = "import os\nprint('OSS_ENDPOINT scheme:', os.environ['OSS_ENDPOINT'].split(':')[0])\n"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    project = copy_project(tmp_path_factory.mktemp("tls") / "project")
    (project / "mount" / "show_endpoint.py").write_text(SHOW_ENDPOINT, encoding="utf-8")
    running = start_local_eas(tmp_path_factory.mktemp("tls-eas"), "--quiet", "--tls", project=project)
    yield Deployment(project, running, [])
    finish_local_eas(running)


def bucket(deployment: Deployment, endpoint: str) -> oss2.Bucket:
    state = deployment.eas.state
    auth = oss2.ProviderAuthV4(URLCredentialsProvider(uri=state["credentials_uri"]))
    return oss2.Bucket(auth, endpoint, state["bucket"], region=state["region"])


def test_the_service_is_given_https_endpoints_and_the_ca_to_trust(deployment):
    state = deployment.eas.state
    ca = Path(state["tls_ca_bundle"])
    assert state["env"]["OSS_ENDPOINT"].startswith("https://127.0.0.1:")
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/api", state["env"]["ODPS_ENDPOINT"])
    assert state["env"]["REQUESTS_CA_BUNDLE"] == state["env"]["SSL_CERT_FILE"] == str(ca)
    assert state["oss_endpoint"].startswith("http://")  # the kit's own clients
    assert stat.S_IMODE((ca.parent / "server.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.parent.stat().st_mode) == 0o700

    listing = deployment.eas.get("/oss/objects")
    assert listing.status_code == 200 and listing.json()["objects"], listing.text
    assert deployment.eas.get("/maxcompute/tables").status_code == 200


def test_only_a_client_that_trusts_the_runs_ca_gets_through(deployment, data_prefix, monkeypatch):
    https = deployment.eas.state["env"]["OSS_ENDPOINT"]
    with pytest.raises(oss2.exceptions.RequestError, match="CERTIFICATE_VERIFY_FAILED"):
        bucket(deployment, https).get_object(f"{data_prefix}hello.txt")

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", deployment.eas.state["tls_ca_bundle"])  # as the service is given it
    assert bucket(deployment, https).get_object(f"{data_prefix}hello.txt").read()


def test_the_host_check_holds_over_https(deployment):
    answer = requests.get(deployment.eas.state["env"]["OSS_ENDPOINT"] + "/", headers={"Host": "evil.example"},
                          verify=deployment.eas.state["tls_ca_bundle"], timeout=10)
    assert answer.status_code == 400 and "evil.example" in answer.text


def test_a_deployed_script_reaches_oss_over_https(deployment, data_prefix):
    shown = succeeded(deployment.run("run-script", "mount/show_endpoint.py"))
    assert "OSS_ENDPOINT scheme: https\n" in shown
    listed = succeeded(deployment.run("run-script", "mount/list_oss_objects.py"))  # the guide's example
    assert f"{data_prefix}hello.txt\n" in listed
