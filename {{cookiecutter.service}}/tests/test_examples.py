"""The recipes of ``examples/``, run as examples/README.md tells a user to, against a local EAS of their own.

Each command is the README's, run by bash in the project directory with ``python`` and ``eas-devkit`` on the
PATH; the only change is ``--state-dir`` for ``eas-devkit local`` (and ``EAS_LOCAL_STATE_DIR`` for the rest),
pointing at this module's local EAS. What the recipes print is searched for every issued secret before it stops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest
from conftest import (
    CONTAINER_ENV,
    HAS_MAXCOMPUTE,
    HAS_OSS,
    PROJECT,
    SERVICE_JSON,
    RunningEAS,
    needs_maxcompute,
    needs_oss,
    running_local_eas,
)

HAS_CUSTOM_ROLE = bool(SERVICE_JSON.get("role_arn"))
README = PROJECT / "examples" / "README.md"

STREAM = "python examples/stream_large_object.py"
PRESIGNED = "eas-devkit local exec -- python examples/presigned_download.py hello.txt --expires 2 --show-expiry"
WRITE = "eas-devkit local exec -- python examples/write_maxcompute_rows.py --partition ds=20261201 --rows 5"
EXPORT = 'eval "$(eas-devkit status --export)"'
CALL = ('eas-devkit local exec -- env TARGET_ENDPOINT="$EAS_SERVICE_URL" TARGET_TOKEN="$EAS_TOKEN" '
        "python examples/call_from_vpc.py")
STREAM_THROUGH_GATEWAY = f'{STREAM} --url "$EAS_SERVICE_URL" --token "$EAS_TOKEN"'


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Optional[Path]:
    """With a custom role, the permission policy this module's local EAS reads: a copy of ram/'s."""
    if not HAS_CUSTOM_ROLE:
        return None
    return Path(shutil.copy(PROJECT / "ram" / "permission-policy.json", tmp_path_factory.mktemp("policy")))


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory, policy: Optional[Path]) -> Iterator[RunningEAS]:
    options = ["--permission-policy", str(policy)] if policy else []
    with running_local_eas(tmp_path_factory.mktemp("examples-eas"), "--quiet", *options) as running:
        yield running


@pytest.fixture(scope="module")
def deployed(examples: RunningEAS) -> RunningEAS:
    """The service deployed to the local EAS's control plane (`make deploy`), reachable through the gateway."""
    deploy = examples.shell("eas-devkit deploy", timeout=300)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return examples


def readme_statements() -> list[dict]:
    """The policy statements examples/README.md tells a user to add for writing rows."""
    return json.loads(README.read_text(encoding="utf-8").split("```json\n", 1)[1].split("```", 1)[0])


def succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_readme_documents_every_recipe_with_the_commands_tested_here():
    readme = README.read_text(encoding="utf-8")
    recipes = sorted(path.name for path in (PROJECT / "examples").glob("*.py"))
    assert "call_from_vpc.py" in recipes
    for recipe in recipes:
        assert f"| [`{recipe}`]({recipe}) |" in readme, recipe
    commands = [EXPORT, CALL]
    if HAS_OSS:
        commands += [STREAM, PRESIGNED, STREAM_THROUGH_GATEWAY]
    if HAS_MAXCOMPUTE:
        commands.append(WRITE)
    for command in commands:
        assert command in readme, command


@needs_oss
def test_a_large_object_streams_both_ways_resumes_with_range_and_keeps_memory_flat(examples):
    result = examples.shell(f"{STREAM} --size-mib 16")
    output = succeeded(result)

    assert "[1/4] PUT /oss/objects/examples/stream-16MiB.bin → 201: 16.0 MiB sent chunked" in output
    assert "connection dropped after 8.0 MiB" in output
    assert "GET with Range: bytes=8388608- → 206, Content-Range bytes 8388608-16777215/16777216, same ETag" in output
    assert "[3/4] SHA-256 matches both ways" in output and ": flat (" in output
    assert "[4/4] DELETE /oss/objects/examples/stream-16MiB.bin → 204" in output and output.endswith("OK\n")
    assert "100%" in result.stderr  # the progress bars
    assert examples.get("/oss/objects/examples/stream-16MiB.bin").status_code == 404


@needs_oss
def test_a_presigned_url_downloads_without_credentials_expires_and_never_shows_the_token(examples):
    result = examples.shell(PRESIGNED)
    output = succeeded(result)
    issued = examples.current_credentials()

    assert "download 200 with plain urllib, no credentials: 26 bytes" in output
    assert "verified the same bytes as the object read with the role's credentials" in output
    assert "expired  the same URL now → 403 AccessDenied: Request has expired." in output
    assert "x-oss-security-token=****" in output and "x-oss-signature=****" in output
    for secret in (issued["SecurityToken"], issued["AccessKeySecret"]):
        assert secret not in result.stdout + result.stderr


@needs_oss
def test_a_presigned_url_for_a_client_outside_the_vpc_uses_the_public_endpoint(examples):
    region, bucket = CONTAINER_ENV["REGION"], CONTAINER_ENV["OSS_BUCKET"]
    command = PRESIGNED.replace("--expires 2 --show-expiry",
                                f"--endpoint https://oss-{region}.aliyuncs.com --no-download")
    output = succeeded(examples.shell(command))

    assert f"URL      https://{bucket}.oss-{region}.aliyuncs.com/" in output
    assert "x-oss-security-token=****" in output and "download 200" not in output


@needs_oss
def test_a_presigned_url_may_not_outlive_the_credentials(examples):
    result = examples.shell(PRESIGNED.replace("--expires 2 --show-expiry", "--expires 86400"))

    assert result.returncode == 1
    assert "--expires 86400 outlives the credentials that sign the URL" in result.stdout
    assert not re.search(r"^URL ", result.stdout, re.M)


@needs_maxcompute
@pytest.mark.skipif(not HAS_CUSTOM_ROLE, reason="only a custom role's policy refuses the writes")
def test_writing_rows_under_the_services_policy_fails_with_the_statements_to_add(examples):
    result = examples.shell(WRITE, timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED: NoPermission:" in result.stdout and "Traceback" not in result.stderr
    advice = result.stdout.split("ram/permission-policy.json (the local EAS applies the edit at once, as RAM does):\n")
    statements = json.loads(advice[1])
    assert any({"odps:Update", "odps:Alter"} <= set(statement["Action"]) for statement in statements)
    assert readme_statements() == statements


@needs_maxcompute
def test_rows_written_with_the_statements_added_are_read_back_through_the_service(examples, policy):
    shipped = policy.read_text(encoding="utf-8") if policy else ""
    grants = re.findall(r"^eas-devkit local maxcompute-auth 'grant .*'$", README.read_text(encoding="utf-8"), re.M)
    if policy:  # the statements of examples/README.md, which the recipe prints when refused
        widened = json.loads(shipped)
        widened["Statement"] += readme_statements()
        policy.write_text(json.dumps(widened, indent=2), encoding="utf-8")  # applied at once, as in RAM
    try:
        assert all(examples.shell(grant).returncode == 0 for grant in grants)  # MaxCompute's grants, kept
        output = succeeded(examples.shell(WRITE, timeout=60))
    finally:
        if policy:
            policy.write_text(shipped, encoding="utf-8")

    written = {int(found) for found in re.findall(r"^ +(\d{13}) ", output, re.M)}  # the order ids printed
    assert len(written) == 5 and "wrote    5 rows to sales partition ds=20261201" in output
    rows = examples.get("/maxcompute/tables/sales/rows", params={"partition": "ds=20261201", "limit": 100})
    assert rows.status_code == 200, rows.text
    assert written <= {row["order_id"] for row in rows.json()["rows"]}


def test_a_caller_in_the_vpc_gets_200s_through_the_gateway(deployed):
    output = succeeded(deployed.shell(f"{EXPORT} && {CALL}"))

    assert re.search(r"^GET /health → 200 in \d+ ms: \{\"status\":\"ok\"\}$", output, re.M), output
    assert len(re.findall(r"^GET /\S* → 200 in", output, re.M)) == 2
    assert "retry" not in output


def test_a_wrong_token_is_a_clear_401(deployed):
    result = deployed.shell(f"{EXPORT} && {CALL.replace('$EAS_TOKEN', 'not-the-token')}")

    assert result.returncode == 1
    assert "GET /health → 401" in result.stdout and "not this service's token" in result.stdout
    assert "Traceback" not in result.stderr


def test_without_the_target_variables_the_caller_says_what_to_set(deployed):
    result = deployed.shell("eas-devkit local exec -- python examples/call_from_vpc.py")

    assert result.returncode == 2 and "TARGET_ENDPOINT and TARGET_TOKEN must be set" in result.stdout


@needs_oss
def test_a_large_object_streams_through_the_gateway_with_its_token(deployed):
    output = succeeded(deployed.shell(f"{EXPORT} && {STREAM_THROUGH_GATEWAY} --size-mib 8 --no-progress"))

    assert "/api/predict/" in output.splitlines()[0] and "(--url)" in output.splitlines()[0]
    assert "→ 206" in output and "SHA-256 matches both ways" in output and output.endswith("OK\n")


def test_a_redeploy_under_calls_fails_none_of_them(deployed):
    """The rolling update starts the new instance before it stops the old one: no call meets a 503."""
    unbuffered = CALL.replace("python ", "python -u ")  # every line kept when the caller is killed
    caller = deployed.start_shell(f"{EXPORT} && {unbuffered} --repeat 1000 --interval 0.1")  # ~2 KB/s on the pipe
    try:
        started = caller.stdout.readline() + caller.stdout.readline()  # "target …", then the first call
        redeploy = deployed.shell("eas-devkit deploy", timeout=300)  # once the calls are going
        calling_still = caller.poll() is None  # the calls spanned the whole redeploy
    finally:
        if caller.poll() is None:
            os.killpg(caller.pid, signal.SIGKILL)
        output = started + caller.communicate(timeout=60)[0]
    deployed.seen_responses.append(output)
    answers = re.findall(r"^GET \S+ → (.*)$", output, re.M)

    assert "UpdateService" in succeeded(redeploy)
    assert calling_still and len(answers) >= 10, output
    assert all(answer.startswith("200 in") for answer in answers) and "retry" not in output, output
