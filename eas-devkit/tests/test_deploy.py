"""``make deploy`` / ``status`` / ``events`` / ``delete`` end to end against the local EAS, as a user runs them.

A copy of the project is deployed (so its code can change between deploys), by ``eas-devkit`` in a
subprocess, to a local EAS started with that copy (``eas-devkit local up``): the real
``alibabacloud_eas20210701`` client and oss2 on the wire, the local control plane deciding RAM as the cloud
does. The tests run in file order: deploy, call, update, the guide's troubleshooting cases, delete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import PROJECT, SERVICE_JSON
from deployments import Deployment, copy_project, failed, succeeded

from eas_devkit.hermetic import hermetic_environment
from eas_devkit.local.control_plane import instance_log
from eas_devkit.testing import devkit_command, finish_local_eas, start_local_eas

# The tests build on each other, in file order, on one module-wide deployment: one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("deploy")

NAME = SERVICE_JSON["metadata"]["name"]
ROLE_NAME = SERVICE_JSON.get("role_arn", "").rsplit("/", 1)[-1]
CURL = re.compile(r"curl -H 'Authorization: (?P<token>[^']+)' (?P<endpoint>\S+)/health")
# The guide's "Before" trust policy: another service is trusted, not eas.pai.aliyuncs.com.
TRUST_WITHOUT_EAS = {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                    "Principal": {"RAM": ["acs:ram::aaa:root"], "Service": ["xxx.aliyuncs.com"]}}],
                     "Version": "1"}
GUIDE_ASSUME_ROLE_ERROR = ("unable to render, error: failed to assume role for user, reason: You are not authorized "
                          "to do this action. You should be authorized by RAM.")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    project = copy_project(tmp_path_factory.mktemp("deploy") / "project")
    running = start_local_eas(tmp_path_factory.mktemp("deploy-eas"), "--quiet", project=project)
    yield Deployment(project, running, [])
    finish_local_eas(running)


def test_deploy_uploads_creates_waits_and_prints_the_endpoint_not_the_token(deployment):
    output = succeeded(deployment.deploy())
    files = [path for path in (deployment.project / "mount").rglob("*") if path.is_file()]
    call = CURL.search(succeeded(deployment.run("status", "--show-token")))

    assert "[1/5] check: 0 errors" in output
    assert f"{len(files)} uploaded" in output and "0 unchanged, 0 removed" in output
    assert f"[3/5] CreateService {NAME}" in output
    assert f"[4/5] {NAME} is Running (1/1 instances)" in output
    assert f"[5/5] endpoint  {deployment.eas.state['gateway_url']}/api/predict/{NAME}" in output
    assert call["token"] not in output and "curl -H" not in output  # CI logs keep what a deploy prints
    assert "token     (hidden; `make status ARGS=--show-token` prints it and a curl command)" in output
    health = requests.get(call["endpoint"] + "/health", headers={"Authorization": call["token"]}, timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_the_upload_shows_a_progress_bar(deployment):
    (deployment.project / "mount" / "notes.txt").write_text("a file to upload\n", encoding="utf-8")
    result = deployment.deploy()

    assert "1 uploaded" in succeeded(result)
    assert "uploading 1 of" in result.stderr and "100%" in result.stderr


def test_the_gateway_wants_the_token_and_strips_the_prefix(deployment):
    token = deployment.run("status", "--show-token")
    call = CURL.search(succeeded(token))

    assert deployment.gateway("/health", None).status_code == 401
    assert deployment.gateway("/health", "not-the-token").status_code == 401
    assert deployment.gateway("/health", call["token"]).json() == {"status": "ok"}
    assert deployment.gateway("/no/such/route", call["token"]).status_code == 404  # the service's own 404
    listed = deployment.gateway("/oss/objects?max_keys=2", call["token"])  # with the role's credentials
    assert listed.status_code == 200, listed.text
    assert listed.json()["objects"]


def test_every_request_through_the_gateway_gets_one_log_line(deployment):
    """Streamed downloads included: the instance's log has one request record for each request."""
    token = CURL.search(succeeded(deployment.run("status", "--show-token")))["token"]
    endpoint = f"{deployment.eas.state['gateway_url']}/api/predict/{NAME}"
    key, body = "/oss/objects/gateway-logged.bin", b"0123456789" * 10_000
    calls = {"health": ("GET", "/health", {}, 200), "put": ("PUT", key, {"data": body}, 201),
             "get": ("GET", key, {}, 200), "range": ("GET", key, {"headers": {"Range": "bytes=5-9"}}, 206)}
    ids = {name: f"gateway-{name}-{os.getpid()}" for name in calls}
    for name, (method, path, options, status) in calls.items():
        headers = {**options.pop("headers", {}), "Authorization": token, "X-Request-Id": ids[name]}
        answer = requests.request(method, endpoint + path, headers=headers, timeout=30, **options)
        assert answer.status_code == status, answer.text[:300]
    logs = Path(deployment.eas.state["state_dir"]) / "services" / NAME / "logs"  # one log per instance
    expected = {name: [status] for name, (_, _, _, status) in calls.items()}
    deadline = time.monotonic() + 5
    while (logged := request_statuses(logs, ids)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logged == expected


def request_statuses(logs: Path, ids: dict[str, str]) -> dict[str, list[int]]:
    """The status of each request record in the instances' logs, by the name of its request id in ``ids``."""
    lines = [line.text for log in sorted(logs.glob("*.log")) for line in instance_log.read(log)]
    records = [json.loads(line) for line in lines if '"app.request"' in line]
    return {name: [r["status"] for r in records if r["request_id"] == request_id] for name, request_id in ids.items()}


def test_status_lists_each_instance_and_hides_the_token_unless_asked(deployment):
    output = succeeded(deployment.run("status"))
    token = CURL.search(succeeded(deployment.run("status", "--show-token")))["token"]

    assert f"{NAME}: Running" in output and "1 running of 1" in output
    assert re.search(rf"^  instance   {NAME}-[0-9a-f]{{10}}-[a-z0-9]{{5}}  Running  ready 1/1  restarts 0  "
                     r"started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", output, re.M), output
    assert token not in output


def test_status_export_puts_the_endpoint_and_token_in_a_shell(deployment):
    token = CURL.search(succeeded(deployment.run("status", "--show-token")))["token"]
    exported = succeeded(deployment.run("status", "--export"))
    shell = subprocess.run(["bash", "-c", exported + '\nprintf "%s\\n%s" "$EAS_SERVICE_URL" "$EAS_TOKEN"'],
                           capture_output=True, text=True, check=True)
    url, shell_token = shell.stdout.split("\n")

    assert shell_token == token
    assert url.endswith(f"/api/predict/{NAME}")
    assert deployment.gateway("/health", shell_token).json() == {"status": "ok"}
    assert "usage" in deployment.run("status", "--export", "--show-token").stderr  # one or the other


def test_a_redeploy_uploads_only_what_changed_and_runs_the_new_code(deployment):
    health = deployment.project / "mount" / "app" / "routes" / "health.py"
    code = health.read_text(encoding="utf-8")
    health.write_text(code.replace('{"status": "ok"}', '{"status": "ok", "release": "2"}'), encoding="utf-8")
    (deployment.project / "mount" / "notes.txt").unlink()
    output = succeeded(deployment.deploy())
    token = CURL.search(succeeded(deployment.run("status", "--show-token")))["token"]

    assert "1 uploaded" in output and "1 removed" in output
    assert f"UpdateService {NAME} (it exists: Running)" in output
    assert re.search(r"Updating → .*Running in", output)
    assert deployment.gateway("/health", token).json() == {"status": "ok", "release": "2"}


def test_an_object_uploaded_in_parts_is_compared_by_crc64(deployment, tmp_path):
    """A multipart object's ETag is not an MD5: the upload compares OSS's CRC-64 instead."""
    import oss2
    from alibabacloud_credentials.provider import URLCredentialsProvider

    from eas_devkit.deploy.target import Service, resolve
    from eas_devkit.deploy.upload import open_bucket, sync_mount

    service = Service.load(deployment.project)
    target = resolve(deployment.project, service, {"EAS_LOCAL_STATE_DIR": deployment.eas.state["state_dir"]})
    bucket = open_bucket(target, service, URLCredentialsProvider(uri=deployment.eas.state["deployer_credentials_uri"]))
    mount = tmp_path / "mount"
    mount.mkdir()
    (mount / "weights.bin").write_bytes(bytes(range(256)) * 1024)  # 256 KiB
    oss2.resumable_upload(bucket, "crc-test/weights.bin", str(mount / "weights.bin"), multipart_threshold=100 * 1024,
                          part_size=100 * 1024, num_threads=1, store=oss2.ResumableStore(root=str(tmp_path)))
    assert "-" in bucket.head_object("crc-test/weights.bin").etag  # uploaded in parts

    assert sync_mount(bucket, mount, "crc-test/").unchanged == ["crc-test/weights.bin"]
    (mount / "weights.bin").write_bytes(bytes(reversed(range(256))) * 1024)  # same size, other content
    assert sync_mount(bucket, mount, "crc-test/").uploaded == ["crc-test/weights.bin"]


def test_events_list_what_happened(deployment):
    output = succeeded(deployment.run("events"))

    for reason in ("Creating", "Mounted", "Running", "Updating"):
        assert f" {reason}: " in output
    assert re.search(r"\d+ events", output)


@pytest.mark.parametrize("case", ["role deleted", "trust without EAS", "no PassRole"])
def test_the_guides_troubleshooting_cases_fail_with_their_fix(deployment, case, tmp_path):
    if case == "role deleted":
        change = ("ram", "delete-role", ROLE_NAME)
        expected = ["RoleNotFound", "↳ Role not found. Fix:", "Check in the RAM console whether the role exists.",
                    "Role doesn't exist: update the service configuration", "lacks ram:PassRole permission"]
    elif case == "trust without EAS":
        before = tmp_path / "trust-before.json"
        before.write_text(json.dumps(TRUST_WITHOUT_EAS), encoding="utf-8")
        change = ("ram", "set-trust", ROLE_NAME, str(before))
        expected = [GUIDE_ASSUME_ROLE_ERROR, "↳ Failed to assume role. Fix:",
                    "The RAM role's trust policy does not include eas.pai.aliyuncs.com as a trusted principal.",
                    '5. In the Service array, add "eas.pai.aliyuncs.com" and click OK.']
    else:
        change = ("ram", "detach-policies")
        expected = ["is not authorized to perform ram:PassRole", "↳ The deploying RAM user lacks ram:PassRole. Fix:",
                    "attach ram/passrole-policy.json"]
    token = CURL.search(succeeded(deployment.run("status", "--show-token")))["token"]
    succeeded(deployment.local_eas(*change))
    try:
        output = failed(deployment.deploy())
        for text in expected:
            assert text in output
        # A failed update leaves the running instance serving, as EAS pauses a rolling update.
        assert "1 of 1 instances still serve" in output
        assert deployment.gateway("/health", token).json()["status"] == "ok"
        assert "${RoleName}" not in output, "ram/passrole-policy.json names the role already"
        assert f"{NAME} is Failed" in output
        assert len(re.findall(r"Failed in \d", output)) == 1, output  # said once, in the summary
        assert not re.search(r"Failed \(\d+ s\)", output), output  # not by the live line before it
        assert output.count(" Warning ") == 1  # this deployment's warning, not those of earlier ones
        assert "Running\n" not in output and "curl" not in output
        assert "Failed" in succeeded(deployment.run("status"))
    finally:
        succeeded(deployment.local_eas("ram", "sync"))
    assert "is Running" in succeeded(deployment.deploy())  # fixed as the fix says


def test_the_cloud_target_is_configuration_alone(deployment):
    """EAS_TARGET=cloud through DefaultCredentialsProvider, its endpoints pointed at the local EAS; its check refuses
    the template's example values, as PAI-EAS would, so the deploy goes on with --skip-check."""
    state = deployment.eas.state
    cloud = {"EAS_TARGET": "cloud", "EAS_LOCAL_STATE_DIR": "/nonexistent",
             "EAS_ENDPOINT": f"http://{state['eas_endpoint']}", "OSS_UPLOAD_ENDPOINT": state["oss_endpoint"],
             "ALIBABA_CLOUD_CREDENTIALS_URI": state["deployer_credentials_uri"]}

    output = succeeded(deployment.run("status", env=cloud))
    assert f"{NAME}: Running" in output

    refused = failed(deployment.run("deploy", env=cloud))  # the check is for the deploy's own target
    assert "is the template's example account ID: PAI-EAS needs your own" in refused
    assert "(service.json, ram/, mount/" in refused and "; target cloud)" in refused and "[2/5]" not in refused

    deployed = succeeded(deployment.run("deploy", "--skip-check", env=cloud))
    assert "Deploying" in deployed and "the cloud EAS at http://127.0.0.1" in deployed
    assert "is Running" in deployed


def test_without_a_local_eas_the_error_says_how_to_start_it(deployment, tmp_path):
    result = deployment.run("status", env={"EAS_LOCAL_STATE_DIR": str(tmp_path)})

    assert failed(result) and "start the local EAS first (`make dev`" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("command", "options"), [("status", []), ("deploy", ["--skip-check"])],
                         ids=["status", "deploy"])
def test_the_cloud_target_without_credentials_says_how_to_provide_them_before_any_request(command, options, tmp_path):
    """No credentials anywhere (the hermetic environment, a fresh HOME, the aliyun CLI profile allowed as
    `make` allows it for the cloud): the command stops before anything reaches the endpoints. (The deploy skips
    its check, which refuses the bake's example values for the cloud before it looks for credentials.)"""
    with socket.socket() as eas, socket.socket() as oss:
        for listener in (eas, oss):
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            listener.setblocking(False)
        environment = hermetic_environment(os.environ, tmp_path)
        del environment["ALIBABA_CLOUD_CLI_PROFILE_DISABLED"]
        environment.update(EAS_TARGET="cloud", EAS_ENDPOINT=f"http://{eas.getsockname()[0]}:{eas.getsockname()[1]}",
                           OSS_UPLOAD_ENDPOINT=f"http://127.0.0.1:{oss.getsockname()[1]}")
        result = subprocess.run([*devkit_command(PROJECT), command, *options], env=environment, capture_output=True,
                                text=True, timeout=120)
        connected = []
        for listener in (eas, oss):
            with contextlib.suppress(BlockingIOError):
                connected.append(listener.accept())

    assert result.returncode == 1, result.stdout + result.stderr
    assert connected == [], "nothing may be sent without credentials"
    message = result.stderr
    assert message.startswith(f"{command}: EAS_TARGET=cloud: no Alibaba Cloud credentials found"), message
    for way in ("ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET", "`aliyun configure`",
                "~/.alibabacloud/credentials.ini", "ALIBABA_CLOUD_CREDENTIALS_URI"):
        assert way in message
    assert "Traceback" not in message and "Exception" not in message and "unable to load" not in message


def test_a_wrong_target_is_named(deployment):
    result = deployment.run("status", env={"EAS_TARGET": "staging"})

    assert failed(result) and "EAS_TARGET='staging': must be one of local, cloud" in result.stderr


def test_delete_needs_yes_without_a_terminal_then_removes_the_service(deployment):
    refused = deployment.run("delete")
    assert failed(refused) and refused.stderr.startswith("delete: pass --yes to delete"), refused.stderr
    assert refused.stderr.count("delete:") == 1

    deleted = deployment.run("delete", "--yes")
    assert f"{NAME} deleted in" in succeeded(deleted)
    assert "deleted (" not in deleted.stderr, "gone is said once, with the time it took"
    assert "not deployed" in failed(deployment.run("status"))
    logs = deployment.run("logs")
    assert f"{NAME}: not deployed on the local EAS" in failed(logs) and logs.stdout == ""
    assert deployment.gateway("/health", "any").status_code == 404


def test_a_deploy_with_check_errors_stops_before_uploading(deployment, tmp_path):
    broken = copy_project(tmp_path / "broken")
    config = json.loads((broken / "service.json").read_text(encoding="utf-8"))
    config["containers"][0]["port"] = 8080
    (broken / "service.json").write_text(json.dumps(config), encoding="utf-8")
    result = subprocess.run([*devkit_command(broken), "deploy"],
                            env={**os.environ, "EAS_LOCAL_STATE_DIR": deployment.eas.state["state_dir"]},
                            capture_output=True, text=True, timeout=120)
    deployment.outputs.append(result.stdout + result.stderr)

    output = failed(result)
    assert "ERROR service.json $.containers[0].port" in output and "Stopped: fix the errors above" in output
    assert "[2/5]" not in output
    assert "not deployed" in failed(deployment.run("status"))


def test_no_command_ever_printed_a_secret(deployment):
    secrets = deployment.issued_secrets()
    everything = "\n".join(deployment.outputs) + deployment.eas.output()

    assert len(deployment.outputs) > 10
    for secret in secrets:
        assert secret not in everything
