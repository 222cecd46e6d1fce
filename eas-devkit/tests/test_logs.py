"""``make logs`` and ``make run-script`` end to end against the local EAS, as a user runs them.

A copy of the project is deployed by ``eas-devkit`` in a subprocess (the real ``alibabacloud_eas20210701``
client on the wire, DescribeServiceLog answered by the local control plane from the instances' logs). The
tests run in file order on one deployment: logs of a healthy service, following, paging and the API's
refusals, a deploy that crashes, then the guide's example run as a one-shot script.
"""

from __future__ import annotations

import calendar
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest
from conftest import PROJECT
from deployments import NAME, Deployment, copy_project, failed, succeeded

from eas_devkit.local.control_plane import instance_log
from eas_devkit.testing import devkit_command, finish_local_eas, start_local_eas

pytestmark = pytest.mark.xdist_group("logs")

INSTANCE = re.compile(rf"{NAME}-[0-9a-f]{{10}}-[a-z0-9]{{5}}")
SCRIPT_SERVICE = f"{NAME}_list_oss_objects"[:63]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    project = copy_project(tmp_path_factory.mktemp("logs") / "project")
    running = start_local_eas(tmp_path_factory.mktemp("logs-eas"), "--quiet", project=project)
    deployed = Deployment(project, running, [])
    succeeded(deployed.deploy("--skip-check"))
    yield deployed
    finish_local_eas(running)


def control_plane(deployment: Deployment, name: str = NAME):
    """The kit's EasControlPlane for ``name`` on the local EAS, in this process (the SDK on the wire)."""
    from alibabacloud_credentials.provider import URLCredentialsProvider

    from eas_devkit.deploy.eas import EasControlPlane
    from eas_devkit.deploy.target import Service, resolve

    service = Service.load(deployment.project)
    target = resolve(deployment.project, service, {"EAS_LOCAL_STATE_DIR": deployment.eas.state["state_dir"]})
    return EasControlPlane(target, name, URLCredentialsProvider(uri=deployment.eas.state["deployer_credentials_uri"]))


def call(deployment: Deployment, request_id: str) -> None:
    token = control_plane(deployment).describe().token
    answer = deployment.gateway("/health", token, headers={"X-Request-Id": request_id})
    assert answer.status_code == 200, answer.text


def instance_names(deployment: Deployment) -> list[str]:
    return [item.name for item in control_plane(deployment).instances()]


def test_logs_print_the_services_own_lines_json_included(deployment):
    request_id = f"logs-{os.getpid()}"
    call(deployment, request_id)
    deadline = time.monotonic() + 5
    while request_id not in (result := deployment.run("logs")).stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = succeeded(result).splitlines()

    assert lines[0] == "prepare: pip install -r /mnt/data/requirements.txt"  # the prepare step comes first
    assert "the local EAS checks these requirements against its own environment; it installs nothing" in lines[1]
    assert any("Listening at: http://127.0.0.1:" in line for line in lines), "gunicorn's own lines"
    records = [json.loads(line) for line in lines if line.startswith("{")]  # the service's JSON lines, as written
    assert [r["status"] for r in records if r.get("request_id") == request_id] == [200]
    assert result.stderr == ""  # one instance: no header


def in_process(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               *args: str) -> tuple[int, str, str]:
    """``eas-devkit logs …`` run in this process (no interpreter to start): exit status, stdout, stderr."""
    from eas_devkit.cli import main

    monkeypatch.setenv("EAS_TARGET", "local")
    monkeypatch.setenv("EAS_LOCAL_STATE_DIR", deployment.eas.state["state_dir"])
    capsys.readouterr()
    status = main(["--project", str(deployment.project), *args])
    shown = capsys.readouterr()
    deployment.outputs.append(shown.out + shown.err)
    return status, shown.out, shown.err


def test_since_a_time_to_come_shows_nothing_and_a_past_one_shows_the_lines(deployment, monkeypatch, capsys):
    everything = succeeded(deployment.run("logs"))

    assert in_process(deployment, monkeypatch, capsys, "logs", "--since", "2099-01-01T00:00:00Z") == (0, "", "")
    assert in_process(deployment, monkeypatch, capsys, "logs", "--since", "1h") == (0, everything, "")


def test_since_takes_a_duration_or_a_utc_time_and_names_the_forms_otherwise(capsys):
    from eas_devkit.cli import build_parser
    from eas_devkit.deploy.cli import since_time

    assert since_time("2024-05-21T10:39:29Z") == since_time("2024-05-21 10:39:29") == "2024-05-21 10:39:29"
    now = calendar.timegm((2024, 5, 21, 10, 39, 29, 0, 0, 0))
    assert since_time("90s", now=now) == "2024-05-21 10:37:59"
    assert since_time("2d", now=now) == "2024-05-19 10:39:29"
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["logs", "--since", "yesterday"])
    assert refused.value.code == 2
    assert "argument --since: 'yesterday' is not a duration such as 30s, 10m, 2h or 1d, or a UTC time such as " \
           "2024-05-21T10:39:29Z" in capsys.readouterr().err


def test_instance_picks_one_and_an_unknown_one_is_named(deployment, monkeypatch, capsys):
    [name] = instance_names(deployment)
    everything = in_process(deployment, monkeypatch, capsys, "logs")

    assert in_process(deployment, monkeypatch, capsys, "logs", "--instance", name) == everything
    status, out, err = in_process(deployment, monkeypatch, capsys, "logs", "--instance", f"{NAME}-0000000000-zzzzz")
    assert status == 1 and out == ""
    assert err == f"logs: --instance {NAME}-0000000000-zzzzz: not an instance of {NAME} (`make status` lists them)\n"


def test_follow_prints_a_line_written_after_it_started_and_ctrl_c_ends_it(deployment):
    environment = {**os.environ, "EAS_TARGET": "local", "EAS_LOCAL_STATE_DIR": deployment.eas.state["state_dir"]}
    process = subprocess.Popen([*devkit_command(deployment.project), "logs", "--follow"], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        assert wait_for_line(lines, "prepare: pip install") is not None, "the lines already there come first"
        request_id = f"follow-{os.getpid()}"
        call(deployment, request_id)
        seen = wait_for_line(lines, request_id)
    finally:
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=30)
    stderr = process.stderr.read()
    deployment.outputs.append(stderr)

    assert seen is not None and json.loads(seen)["request_id"] == request_id
    assert status == 0 and "Traceback" not in stderr


def wait_for_line(lines: queue.Queue[str], text: str, timeout: float = 15) -> Optional[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if text in line:
            return line
    return None


def test_small_pages_give_every_line_once_in_order(deployment):
    eas = control_plane(deployment)
    [name] = instance_names(deployment)
    for index in range(7):
        call(deployment, f"paging-{index}-{os.getpid()}")
    time.sleep(0.5)
    whole, total = eas.logs(name)

    assert total == len(whole) > 7
    assert eas.logs(name, page_size=3) == (whole, total)
    assert eas.logs(name, page_size=3, skip=5)[0] == whole[5:]
    assert eas.logs(name, page_size=4, skip=total)[0] == []


@pytest.mark.parametrize(("arguments", "named"), [
    ({"since": "tomorrow"}, "StartTime 'tomorrow' is not a UTC time such as 2024-05-21 10:39:29"),
    ({"instance": "nope"}, "InstanceName 'nope' is not an instance of service"),
    ({"page_size": 501}, "PageSize 501 is more than 500"),
    ({"previous": True}, "Previous: instance {name} has not restarted"),
], ids=["StartTime", "InstanceName", "PageSize", "Previous"])
def test_describe_service_log_refuses_bad_parameters_naming_them(deployment, arguments, named):
    from eas_devkit.deploy.eas import EasError

    [name] = instance_names(deployment)
    eas = control_plane(deployment)
    with pytest.raises(EasError) as refused:
        eas.logs(**{"instance": name, **arguments})

    assert refused.value.code == "InvalidParameter" and refused.value.status == 400  # the SDK read a JSON error
    assert named.format(name=name) in refused.value.message


def test_keyword_ip_and_container_filter_as_eas_does(deployment):
    from alibabacloud_eas20210701 import models
    from alibabacloud_tea_openapi.exceptions import ServerException

    eas = control_plane(deployment)
    [name] = instance_names(deployment)

    def lines(**query: str) -> list[str]:
        request = models.DescribeServiceLogRequest(instance_name=name, **query)
        return eas.client.describe_service_log(eas.target.region, NAME, request).body.logs

    everything = lines()
    assert lines(keyword="prepare:") == [line for line in everything if "prepare:" in line] != []
    assert lines(ip="127.0.0.1", container_name="worker0") == everything
    assert lines(ip="10.0.0.1") == []
    with pytest.raises(ServerException) as refused:
        lines(container_name="sidecar")
    assert refused.value.code == "NotImplemented" and "ContainerName 'sidecar'" in refused.value.message


def test_the_log_keeps_lines_whole_and_in_order_and_the_last_one_without_newline(tmp_path):
    path = tmp_path / "instance.log"
    long_line = "x" * (instance_log.MAX_LINE_BYTES + 10)
    with instance_log.capture(path) as output:
        process = subprocess.Popen(["python3", "-c", "import sys\nfor i in range(2000): print(i)\n"
                                    f"print('{long_line}')\nsys.stdout.write('no newline')"], stdout=output)
    process.wait(timeout=30)
    instance_log.drain(path)
    texts = [line.text for line in instance_log.read(path)]

    assert texts[:2000] == [str(i) for i in range(2000)]
    assert "".join(texts[2000:-1]) == long_line and texts[-1] == "no newline"
    instance_log.rotate(path)
    assert not path.exists() and instance_log.count(instance_log.previous(path)) == len(texts)


def test_a_restarted_instance_keeps_its_previous_log(deployment):
    """SIGTERM to the gunicorn of the instance: it exits, the local EAS restarts it in place (as EAS restarts
    an exited container), and --previous shows what the process before the restart printed."""
    eas = control_plane(deployment)
    [name] = instance_names(deployment)
    from alibabacloud_eas20210701 import models

    request = models.ListServiceInstancesRequest()
    port = eas.client.list_service_instances(eas.target.region, NAME, request).body.instances[0].instance_port
    os.kill(gunicorn_master(port), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while not [item for item in eas.instances() if item.restarts == 1 and item.ready] and time.monotonic() < deadline:
        time.sleep(0.2)
    previous = succeeded(deployment.run("logs", "--instance", name, "--previous"))
    current = succeeded(deployment.run("logs", "--instance", name))

    assert "Handling signal: term" in previous and "prepare: pip install" in previous
    assert "Handling signal: term" not in current and "Listening at: http://127.0.0.1:" in current


def gunicorn_master(port: int) -> int:
    """The pid of the gunicorn that binds 127.0.0.1:<port> (its workers' parent)."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
            parent = int((cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if f"127.0.0.1:{port}".encode() in words and any(b"gunicorn" in word for word in words):
            found[int(cmdline.parent.name)] = parent
    masters = [pid for pid, parent in found.items() if parent not in found]
    assert len(masters) == 1, found
    return masters[0]


def test_a_crashing_run_command_fails_the_deploy_and_logs_show_its_own_error(deployment):
    config = deployment.project / "mount" / "gunicorn.conf.py"
    good = config.read_text(encoding="utf-8")
    config.write_text(good + "\nraise RuntimeError('a broken gunicorn config, for the logs test')\n",
                      encoding="utf-8")
    try:
        output = failed(deployment.deploy("--skip-check"))
    finally:
        config.write_text(good, encoding="utf-8")
    hints = re.findall(rf"make logs ARGS='--instance ({INSTANCE.pattern})'", output)

    assert "InstanceFailed" in output and len(hints) == 1, output
    shown = succeeded(deployment.run("logs", "--instance", hints[0]))
    assert "RuntimeError: a broken gunicorn config, for the logs test" in shown
    assert "Traceback (most recent call last):" in shown
    both = deployment.run("logs")  # the old instance still serves: two instances, a header for each
    assert f"==> {hints[0]} <==" in succeeded(both) + both.stderr and "==>" not in both.stdout


def test_a_route_that_does_not_import_fails_the_deploy_with_its_own_error(deployment):
    """The blueprints are imported in the workers (create_app), so gunicorn's master only says that a worker
    failed to boot; the Warning event shows the worker's traceback instead, which says why."""
    route = deployment.project / "mount" / "app" / "routes" / "health.py"
    good = route.read_text(encoding="utf-8")
    route.write_text(good + "\ndef broken(:\n", encoding="utf-8")
    try:
        output = failed(deployment.deploy("--skip-check"))
    finally:
        route.write_text(good, encoding="utf-8")

    assert "InstanceFailed" in output and "SyntaxError: invalid syntax" in output, output
    assert "app/routes/health.py" in output and "HaltServer" not in output


# run-script: the guide's examples, run once as the run command.


def test_run_script_prints_the_buckets_keys_then_deletes_its_service(deployment, data_prefix):
    result = deployment.run("run-script", "mount/list_oss_objects.py")
    output = succeeded(result)

    assert f"CreateService {SCRIPT_SERVICE}" in output
    assert f"{data_prefix}datasets/iris.csv\n" in output and f"{data_prefix}hello.txt\n" in output
    assert "The script ran (" in output and f"deleting {SCRIPT_SERVICE}: EAS runs services, not jobs" in output
    assert control_plane(deployment, SCRIPT_SERVICE).describe() is None


def test_run_script_keep_leaves_the_service_and_a_failing_script_exits_1(deployment):
    script = deployment.project / "mount" / "fails.py"
    script.write_text("print('about to fail')\nraise SystemExit('the script failed on purpose')\n", encoding="utf-8")
    try:
        result = deployment.run("run-script", "mount/fails.py", "--keep")
    finally:
        script.unlink()
    output = failed(result)
    kept = control_plane(deployment, f"{NAME}_fails"[:63])

    assert "about to fail\nthe script failed on purpose\n" in output
    assert "The script failed: it exited with status 1" in output
    assert kept.describe() is not None and f"kept {NAME}_fails" in output
    kept.delete()


@pytest.mark.parametrize(("given", "rule"), [
    ("service.json", "the script must be a .py file under mount/"),
    ("mount/../service.json", "the script must be a .py file under mount/"),
    ("mount/requirements.txt", "the script must be a .py file under mount/"),
    ("mount/missing.py", "no such file"),
])
def test_run_script_takes_only_a_python_file_under_mount(given, rule, capsys):
    from eas_devkit.cli import main

    assert main(["--project", str(PROJECT), "run-script", given]) == 1
    output = capsys.readouterr()
    assert output.err == f"run-script: {given}: {rule}" + output.err.split(rule, 1)[1] and output.out == ""


@pytest.mark.parametrize("script", [
    "python /mnt/data/list_oss_objects.py; rm -rf ~", "python /mnt/data/../list_oss_objects.py",
    "python /mnt/data/app/../list_oss_objects.py", "python /mnt/data/missing.py", "python /mnt/data/outside.py",
    "python  /mnt/data/list_oss_objects.py", "python /mnt/data/list_oss_objects.py --all",
    "python /mnt/data/$(id).py",
])
def test_the_local_eas_runs_no_other_command_than_a_script_of_mount(deployment, script, tmp_path):
    from eas_devkit.deploy.eas import EasError

    (tmp_path / "outside.py").write_text("print('outside')\n", encoding="utf-8")
    link = deployment.project / "mount" / "outside.py"
    link.symlink_to(tmp_path / "outside.py")  # in mount/, but the file is elsewhere
    config = json.loads((deployment.project / "service.json").read_text(encoding="utf-8"))
    config["metadata"]["name"] = "security_probe"
    config["containers"][0]["script"] = script
    try:
        with pytest.raises(EasError) as refused:
            control_plane(deployment, "security_probe").create(json.dumps(config))
    finally:
        link.unlink()

    assert refused.value.code == "InvalidParameter" and "$.containers[0].script" in refused.value.message


def test_no_command_printed_a_secret(deployment):
    token = control_plane(deployment).describe().token  # the gateway checks it, nothing prints it
    logs = "\n".join(path.read_text(encoding="utf-8", errors="replace")
                     for path in Path(deployment.eas.state["state_dir"]).glob("services/*/logs/*.log"))
    everything = "\n".join(deployment.outputs)

    assert len(deployment.outputs) > 10 and token not in everything
    for secret in deployment.issued_secrets():
        assert secret not in everything and secret not in logs
