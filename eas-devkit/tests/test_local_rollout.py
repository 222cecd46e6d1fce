"""Instances and rolling updates on the local EAS, driven by the real ``alibabacloud_eas20210701`` client.

A small service (gunicorn, a WSGI app that says which deployment and which instance answered) runs with
several instances behind the gateway. The rollout test keeps a client calling through the gateway while an
update that cannot start is tried, then a good one: EAS's promise (*Rolling updates and graceful shutdown*)
is that the client never notices.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import pytest
import requests
from alibabacloud_eas20210701 import client as eas_client
from alibabacloud_eas20210701 import models as eas_models
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from conftest import PROJECT

from eas_devkit.local.control_plane.accounts import Accounts
from eas_devkit.local.control_plane.autoscaler import desired_replicas, stabilized
from eas_devkit.local.control_plane.plane import ControlPlane
from eas_devkit.local.control_plane.policy import Autoscaling, InstancePolicy
from eas_devkit.local.oss.storage import ObjectStore

# The tests build on each other, in file order: one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("rollout")

REGION = "cn-hangzhou"
BUCKET = "rollout-bucket"
PORT = 8000
IMAGE = "eas-registry-vpc.cn-hangzhou.cr.aliyuncs.com/pai-eas/python-inference:py39-ubuntu2004"
SERVE = f"gunicorn --chdir /mnt/data --threads 8 --bind 0.0.0.0:{PORT} whoami:app"
BROKEN = f"echo 'binding 0.0.0.0:{PORT}'; echo 'ImportError: this release is broken' >&2; exit 3"
GRACE_SECONDS = 5
T = TypeVar("T")
INSTANCE_NAME = r"[a-z][a-z0-9_]+-[0-9a-f]{10}-[a-z0-9]{5}"
WHOAMI_APP = '''
import json, os, time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ready":  # ready while the file READY_FILE names exists (always, without READY_FILE)
        ready = not os.environ.get("READY_FILE") or os.path.exists(os.environ["READY_FILE"])
        start_response("200 OK" if ready else "503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"ready" if ready else b"not ready"]
    if path == "/sleep":
        time.sleep(float(environ["QUERY_STRING"].split("=")[1]))
    if path == "/burn":  # keeps a core busy
        until = time.monotonic() + float(environ["QUERY_STRING"].split("=")[1])
        while time.monotonic() < until:
            pass
    body = {"version": os.environ["VERSION"], "port": environ["gunicorn.socket"].getsockname()[1]}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
'''


@dataclass
class Local:
    plane: ControlPlane
    client: eas_client.Client


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    yield from local_eas(tmp_path_factory.mktemp("rollout"))


@pytest.fixture(scope="module")
def autoscaling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """A local EAS whose autoscaler acts every 0.5 s."""
    yield from local_eas(tmp_path_factory.mktemp("autoscaling"), autoscale_interval=0.5)


def local_eas(state_dir: Path, **settings: Any) -> Iterator[Local]:
    store = ObjectStore(state_dir / "oss")
    store.create_bucket(BUCKET)
    store.put_bytes(BUCKET, "whoami/whoami.py", WHOAMI_APP.encode())
    accounts = Accounts.for_project(state_dir / "ram-account.json", PROJECT)
    plane = ControlPlane(state_dir, store, accounts, REGION, run_commands={SERVE, BROKEN}, secret="rollout-secret",
                         ready_timeout=20, grace=GRACE_SECONDS, **settings)
    plane.start()
    try:
        key = accounts.create_access_key("developer")
        yield Local(plane, eas_client.Client(open_api_models.Config(**plane.client_config(key))))
    finally:
        plane.stop()
        store.close()


def service_config(name: str, version: str, script: str = SERVE, instances: int = 2,
                   **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "instance": instances, "eas": {"termination_grace_period": GRACE_SECONDS}},
        "containers": [{"image": IMAGE, "port": PORT, "script": script,
                        "env": [{"name": "VERSION", "value": version}], **container}],
        "storage": [{"mount_path": "/mnt/data/", "oss": {"path": f"oss://{BUCKET}/whoami/", "readOnly": True}}],
    }


def settled(client: eas_client.Client, name: str, timeout: float = 60) -> eas_models.Service:
    """DescribeService, polled as the PAI SDK does, until Running, Stopped or Failed."""
    deadline = time.monotonic() + timeout
    while True:
        service = client.describe_service(REGION, name).body
        if service.status in ("Running", "Stopped", "Failed") or time.monotonic() > deadline:
            return service
        time.sleep(0.1)


def update(client: eas_client.Client, config: dict[str, Any]) -> eas_models.Service:
    name = config["metadata"]["name"]
    request = eas_models.UpdateServiceRequest(body=json.dumps(config), update_type="replace")
    client.update_service(REGION, name, request)
    return settled(client, name)


def instances(client: eas_client.Client, name: str) -> list[eas_models.Instance]:
    return client.list_service_instances(REGION, name, eas_models.ListServiceInstancesRequest()).body.instances


def events(client: eas_client.Client, name: str, event_type: Optional[str] = None) -> list[Any]:
    request = eas_models.DescribeServiceEventRequest(event_type=event_type, page_size="1000")
    return client.describe_service_event(REGION, name, request).body.events


def call(service: eas_models.Service, path: str = "/whoami", **kwargs: Any) -> requests.Response:
    return requests.get(service.internet_endpoint + path, headers={"Authorization": service.access_token},
                        timeout=30, **kwargs)


def eventually(get: Callable[[], T], done: Callable[[T], bool], timeout: float = 10) -> T:
    """``get()`` again and again until ``done`` says so, or the timeout: the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@dataclass
class LoadClient:
    """Calls the service through the gateway in a loop, as a client under load would, recording every answer."""

    service: eas_models.Service
    path: str = "/whoami"
    params: dict[str, str] = field(default_factory=dict)
    answers: list[tuple[int, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def __enter__(self) -> LoadClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    answer = session.get(self.service.internet_endpoint + self.path, params=self.params, timeout=10,
                                         headers={"Authorization": self.service.access_token})
                    self.answers.append((answer.status_code, answer.json() if answer.ok else answer.text))
                except requests.RequestException as error:
                    self.answers.append((0, repr(error)))
                time.sleep(0.005)

    def failures(self) -> list[tuple[int, Any]]:
        return [(status, body) for status, body in self.answers if status != 200]

    def versions(self) -> Counter:
        return Counter(body["version"] for status, body in self.answers if status == 200)

    def wait_for(self, count: int, timeout: float = 10) -> None:
        """Until ``count`` more answers came (the load is really running while the test goes on)."""
        target, deadline = len(self.answers) + count, time.monotonic() + timeout
        while len(self.answers) < target and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture(scope="module")
def v1(local: Local) -> eas_models.Service:
    """The service ``rolling`` with 2 instances of release v1, Running."""
    local.client.create_service(eas_models.CreateServiceRequest(body=json.dumps(service_config("rolling", "v1"))))
    service = settled(local.client, "rolling")
    assert service.status == "Running", [f"{e.reason}: {e.message}" for e in events(local.client, "rolling")]
    return service


def test_each_instance_is_listed_and_gets_requests(local: Local, v1: eas_models.Service) -> None:
    listed = instances(local.client, "rolling")
    ports = {instance.instance_port for instance in listed}
    seen = Counter(call(v1).json()["port"] for _ in range(20))

    assert (v1.running_instance, v1.total_instance) == (2, 2)
    assert len(listed) == 2 and len(ports) == 2
    for instance in listed:
        assert re.fullmatch(INSTANCE_NAME, instance.instance_name) and instance.instance_name.startswith("rolling-")
        assert (instance.status, instance.ready_processes, instance.total_processes) == ("Running", 1, 1)
        assert instance.restart_count == 0 and instance.isolated is False
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", instance.start_time)
    assert set(seen) == ports and min(seen.values()) >= 5  # spread over both, not all on one

    first = listed[0].instance_name
    by_name = local.client.list_service_instances(REGION, "rolling", eas_models.ListServiceInstancesRequest(
        instance_name=first)).body
    paged = local.client.list_service_instances(REGION, "rolling", eas_models.ListServiceInstancesRequest(
        page_size=1, page_number=2, instance_status="Running")).body
    assert [i.instance_name for i in by_name.instances] == [first] and by_name.total_count == 1
    assert [i.instance_name for i in paged.instances] == [listed[1].instance_name] and paged.total_count == 2
    with pytest.raises(ServerException) as refused:
        local.client.list_service_instances(REGION, "rolling", eas_models.ListServiceInstancesRequest(
            host_ip="10.0.0.1"))
    assert (refused.value.status_code, refused.value.code) == (501, "NotImplemented")


def test_a_failed_update_leaves_the_old_instances_serving_then_a_good_one_replaces_them(
        local: Local, v1: eas_models.Service) -> None:
    client = local.client
    v1_names = {instance.instance_name for instance in instances(client, "rolling")}
    slow: dict[str, Any] = {}
    with LoadClient(v1) as load:
        load.wait_for(20)
        failed = update(client, service_config("rolling", "v2", script=BROKEN))
        listed_after_failure = instances(client, "rolling")
        load.wait_for(20)
        served_by_v1 = sum(load.versions().values())

        slow_call = threading.Thread(target=lambda: slow.update(answer=call(v1, "/sleep", params={"s": "1.5"})))
        slow_call.start()  # in flight on a v1 instance while the good update replaces it
        time.sleep(0.2)
        good = update(client, service_config("rolling", "v2"))
        slow_call.join()
        load.wait_for(20)
    final = instances(client, "rolling")
    reasons = [event.reason for event in events(client, "rolling")]
    warnings = events(client, "rolling", "Warning")
    print(f"\nrollout under load: {len(load.answers)} requests, {len(load.failures())} failed, "
          f"by release {dict(load.versions())}")

    # The failed update: EAS's status and message, the instance named with its output, v1 still serving.
    (broken,) = [i for i in listed_after_failure if i.instance_name not in v1_names]
    assert (failed.status, failed.reason) == ("Failed", "InstanceFailed")
    assert failed.message == f"Instance <{broken.instance_name}> not healthy: Instance crashed, please inspect " \
                             "instance log."
    assert (failed.running_instance, failed.total_instance) == (2, 2)
    assert (broken.status, broken.ready_processes, broken.isolated) == ("Failed", 0, True)
    assert {i.instance_name for i in listed_after_failure if i.status == "Running"} == v1_names
    assert [w.reason for w in warnings] == ["InstanceFailed"]
    assert broken.instance_name in warnings[0].message and "ImportError: this release is broken" in warnings[0].message
    assert "UpdatePaused" in reasons
    assert served_by_v1 > 0

    # The good update: the failed instance removed first, every instance v2, the slow request finished.
    assert good.status == "Running" and (good.running_instance, good.total_instance) == (2, 2)
    assert reasons.index("FailedInstancesRemoved") > reasons.index("UpdatePaused")
    assert len(final) == 2 and all(i.status == "Running" and i.ready_processes == 1 for i in final)
    assert not {i.instance_name for i in final} & (v1_names | {broken.instance_name})
    assert {call(good).json()["version"] for _ in range(10)} == {"v2"}
    assert slow["answer"].status_code == 200 and slow["answer"].json()["version"] == "v1"
    stopped = [e.message for e in events(client, "rolling") if e.reason == "InstanceStopped"]
    assert len(stopped) == 2 and all("exited with status 0 after SIGTERM" in message for message in stopped)
    steps = [r for r in reasons[reasons.index("FailedInstancesRemoved"):]
             if r in ("Starting", "InstanceReady", "InstanceStopped")]
    assert steps == ["Starting", "InstanceReady", "InstanceStopped"] * 2  # max_surge 1, max_unavailable 0

    # What the client saw: not one failure, v1 then v2, never a mix after the update.
    assert load.failures() == []
    assert len(load.answers) >= 60
    assert set(load.versions()) == {"v1", "v2"}
    assert {body["version"] for _, body in load.answers[-10:]} == {"v2"}


def test_an_instance_that_dies_is_restarted_in_place(local: Local, v1: eas_models.Service) -> None:
    """EAS (Kubernetes) restarts a container that exits: same instance, RestartCount + 1, no traffic until it
    is ready again. (A request the dying process had already accepted is lost, on EAS too.)"""
    record = local.plane.registry.get(REGION, "rolling")
    victim = record.pool.members()[0]
    assert victim.process is not None and victim.process.pid is not None
    service = local.client.describe_service(REGION, "rolling").body
    os.killpg(victim.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while victim.serving and time.monotonic() < deadline:  # until the local EAS noticed
        time.sleep(0.01)
    answers = [call(service).status_code for _ in range(20)]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        (restarted,) = [i for i in instances(local.client, "rolling") if i.instance_name == victim.name]
        if restarted.restart_count == 1 and restarted.ready_processes == 1:
            break
        time.sleep(0.1)
    exited = [e for e in events(local.client, "rolling", "Warning") if e.reason == "InstanceExited"]

    assert answers == [200] * 20
    assert (restarted.status, restarted.restart_count, restarted.ready_processes) == ("Running", 1, 1)
    assert len(exited) == 1 and victim.name in exited[0].message and "restarting it (restart 1)" in exited[0].message
    assert "the run command was killed by SIGKILL" in exited[0].message
    assert local.client.describe_service(REGION, "rolling").body.status == "Running"
    assert {call(service).json()["port"] for _ in range(20)} == {i.instance_port for i in instances(local.client,
                                                                                                    "rolling")}


def test_readiness_check_gates_the_traffic(local: Local, tmp_path: Path) -> None:
    """A declared readiness check decides: no traffic before it passes, none while it fails."""
    ready_file = tmp_path / "ready"
    config = service_config("gated", "v1", instances=1, readiness_check={
        "http_get": {"path": "/ready", "port": PORT}, "initial_delay_seconds": 0, "period_seconds": 1,
        "failure_threshold": 2})
    config["containers"][0]["env"].append({"name": "READY_FILE", "value": str(ready_file)})
    client = local.client
    client.create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))
    time.sleep(1.5)  # up and answering, but /ready says no
    starting = client.describe_service(REGION, "gated").body
    unready = call(starting)
    ready_file.touch()
    running = settled(client, "gated")
    served = call(running)
    ready_file.unlink()
    dropped = eventually(lambda: call(running), lambda answer: answer.status_code != 200)
    listed_unready = instances(client, "gated")
    ready_file.touch()
    back = eventually(lambda: call(running), lambda answer: answer.status_code == 200)
    reasons = [event.reason for event in events(client, "gated")]

    assert starting.status == "Starting" and starting.running_instance == 0
    assert (unready.status_code, unready.text) == (503, "no healthy upstream")
    assert running.status == "Running" and served.status_code == 200
    assert (dropped.status_code, dropped.text) == (503, "no healthy upstream")
    assert [(i.status, i.ready_processes) for i in listed_unready] == [("Running", 0)]
    assert back.status_code == 200
    assert "InstanceNotReady" in reasons and reasons.count("InstanceReady") == 2
    client.delete_service(REGION, "gated")


def test_a_failing_liveness_check_restarts_the_instance(local: Local, tmp_path: Path) -> None:
    alive_file = tmp_path / "alive"
    alive_file.touch()
    config = service_config("liveness", "v1", instances=1, liveness_check={
        "http_get": {"path": "/ready", "port": PORT}, "initial_delay_seconds": 0, "period_seconds": 1,
        "failure_threshold": 2})
    config["containers"][0]["env"].append({"name": "READY_FILE", "value": str(alive_file)})
    client = local.client
    client.create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))
    running = settled(client, "liveness")
    alive_file.unlink()
    (restarted,) = eventually(lambda: instances(client, "liveness"), lambda found: found[0].restart_count >= 1)
    alive_file.touch()
    (recovered,) = eventually(lambda: instances(client, "liveness"), lambda found: found[0].ready_processes == 1)
    failed_checks = [e.message for e in events(client, "liveness", "Warning") if e.reason == "LivenessCheckFailed"]

    assert running.status == "Running" and restarted.restart_count >= 1
    assert failed_checks and "its liveness check (GET /ready) failed 2 times" in failed_checks[0]
    assert recovered.instance_name == restarted.instance_name and call(running).status_code == 200
    client.delete_service(REGION, "liveness")


def test_scale_to_starts_instances_and_drains_the_extra_ones(local: Local) -> None:
    client = local.client
    client.create_service(eas_models.CreateServiceRequest(body=json.dumps(service_config("scaled", "v1"))))
    service = settled(client, "scaled")
    record = local.plane.registry.get(REGION, "scaled")
    local.plane.lifecycle.scale_to(record, 3)
    three = {call(service).json()["port"] for _ in range(30)}
    local.plane.lifecycle.scale_to(record, 1)
    one = client.describe_service(REGION, "scaled").body

    assert service.status == "Running" and (service.running_instance, service.total_instance) == (2, 2)
    assert len(three) == 3
    assert (one.running_instance, one.total_instance, len(instances(client, "scaled"))) == (1, 1, 1)
    assert [e.message for e in events(client, "scaled") if e.reason == "Scaled"] == ["2 → 3 instances",
                                                                                       "3 → 1 instances"]
    client.delete_service(REGION, "scaled")


def test_the_autoscaler_follows_horizontal_auto_scaling() -> None:
    """*Horizontal auto scaling*: desired = ceil(instances × value / threshold), 2 instances at 23 QPS each
    against 10 → 5, then 5 at 2 QPS → 1; within 10 % of the threshold nothing changes; the largest metric's count
    wins, within [min, max]. UpdateServiceAutoScaler: the count moves only when the whole stabilization window
    agrees (scale-up 0 s, scale-down 300 s by default)."""
    qps = Autoscaling(1, 10, {"qps": 10}, scale_up_window=0, scale_down_window=300, cores=None)
    both = Autoscaling(1, 3, {"qps": 10, "cpu": 50}, scale_up_window=30, scale_down_window=300, cores=2)

    assert desired_replicas(2, {"qps": 23}, qps) == 5 and desired_replicas(5, {"qps": 2}, qps) == 1
    assert desired_replicas(2, {"qps": 10.9}, qps) == 2 and desired_replicas(2, {"qps": 11.5}, qps) == 3
    assert desired_replicas(2, {"qps": 9.1}, qps) == 2 and desired_replicas(2, {"qps": 8.9}, qps) == 2
    assert desired_replicas(4, {"qps": 8.9}, qps) == 4 and desired_replicas(4, {"qps": 8.5}, qps) == 4
    assert desired_replicas(2, {"qps": 5, "cpu": 100}, both) == 3  # cpu asks for 4, max is 3
    assert desired_replicas(2, {"qps": 0}, both) == 1  # cpu not measured yet: qps decides
    assert stabilized(5, [(0, 5), (100, 1)], now=100, autoscaling=qps) == 5  # 5 recommended 100 s ago
    assert stabilized(5, [(0, 5), (100, 1), (301, 1)], now=301, autoscaling=qps) == 1
    assert stabilized(1, [(0, 1), (10, 3)], now=10, autoscaling=both) == 1  # 1 recommended 10 s ago
    assert stabilized(1, [(0, 1), (10, 3), (31, 3)], now=31, autoscaling=both) == 3


def test_the_autoscaler_follows_the_load_and_an_update_keeps_its_count(autoscaling: Local) -> None:
    config = service_config("elastic", "v1", instances=1)
    config["autoscaler"] = {"min": 1, "max": 3, "strategies": {"qps": 5},
                            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 2}}}
    client = autoscaling.client
    client.create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))
    service = settled(client, "elastic")
    quiet = client.describe_service_auto_scaler(REGION, "elastic").body
    with LoadClient(service) as load:
        busy = eventually(lambda: client.describe_service(REGION, "elastic").body,
                          lambda found: found.running_instance == 3, timeout=30)
        measured = client.describe_service_auto_scaler(REGION, "elastic").body
        update(client, {**config, "containers": [{**config["containers"][0],
                                                   "env": [{"name": "VERSION", "value": "v2"}]}]})
        updated = client.describe_service(REGION, "elastic").body
    after_update = instances(client, "elastic")
    calm = eventually(lambda: (client.describe_service(REGION, "elastic").body, len(instances(client, "elastic"))),
                      lambda found: (found[0].total_instance, found[0].running_instance, found[1]) == (1, 1, 1),
                      timeout=30)
    scaled = [e.message for e in events(client, "elastic") if e.reason == "Scaled"]

    assert (quiet.min_replica, quiet.max_replica) == (1, 3)
    assert [(s.metric_name, s.threshold) for s in quiet.scale_strategies] == [("QPS", 5)]
    assert json.dumps(quiet.behavior) == ('{"scaleUp": {"stabilizationWindowSeconds": 0}, '
                                          '"scaleDown": {"stabilizationWindowSeconds": 2}}')
    assert (busy.running_instance, busy.total_instance) == (3, 3) and not load.failures()
    (qps,) = measured.current_metrics
    assert qps.metric_name == "QPS" and qps.value > 5
    assert (updated.status, updated.total_instance, len(after_update)) == ("Running", 3, 3)
    assert (calm[0].running_instance, calm[0].total_instance, calm[1]) == (1, 1, 1)  # the drained ones stopped
    assert re.fullmatch(r"1 → 3 instances: qps [0-9.]+ per instance against 5", scaled[0]), scaled
    assert re.fullmatch(r"3 → 1 instances: qps 0\.0 per instance against 5", scaled[-1]), scaled
    client.delete_service(REGION, "elastic")


def test_the_autoscaler_measures_the_cpu_of_an_instances_processes(autoscaling: Local) -> None:
    config = service_config("busy", "v1", instances=1)
    config["metadata"]["cpu"] = 1
    config["autoscaler"] = {"min": 1, "max": 2, "strategies": {"cpu": 30}}
    client = autoscaling.client
    client.create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))
    service = settled(client, "busy")
    with LoadClient(service, "/burn", {"s": "0.2"}):
        busy = eventually(lambda: client.describe_service(REGION, "busy").body,
                          lambda found: found.running_instance == 2, timeout=30)
    scaled = [e.message for e in events(client, "busy") if e.reason == "Scaled"]

    assert busy.running_instance == 2  # one core kept busy is 100 % of metadata.cpu 1
    assert re.fullmatch(r"1 → 2 instances: cpu [0-9.]+ % per instance against 30", scaled[0]), scaled
    client.delete_service(REGION, "busy")


@pytest.mark.parametrize(("change", "status", "code", "named"), [
    ({"metadata": {"rolling_strategy": {"max_surge": "lots"}}}, 400, "InvalidParameter",
     "$.metadata.rolling_strategy.max_surge: 'lots'"),
    ({"metadata": {"rolling_strategy": {"max_surge": 0, "max_unavailable": "0%"}}}, 400, "InvalidParameter",
     "max_surge and max_unavailable are both 0"),
    ({"metadata": {"eas": {"termination_grace_period": -1}}}, 400, "InvalidParameter",
     "$.metadata.eas.termination_grace_period: -1 is less than the minimum of 0"),
    ({"containers": [{"readiness_check": {"exec": {"command": ["true"]}}}]}, 501, "NotImplemented",
     "containers[0].readiness_check.exec"),
    ({"containers": [{"liveness_check": {"tcp_socket": {"port": 9000}}}]}, 501, "NotImplemented",
     "containers[0].liveness_check.tcp_socket.port 9000"),
    ({"autoscaler": {"min": 1, "max": 2, "strategies": {"cpu": 50}},
      "cloud": {"computing": {"instances": [{"type": "ml.gu7i.c16m60.1-gu30"}]}}}, 501, "NotImplemented",
     "cannot tell them from 'ml.gu7i.c16m60.1-gu30': set metadata.cpu"),
    ({"autoscaler": {"min": 1, "max": 2, "strategies": {"qps": 5},
                     "behavior": {"onZero": {"scaleDownGracePeriodSeconds": 60}}}}, 501, "NotImplemented",
     "autoscaler.behavior.onZero"),
])
def test_instance_settings_are_checked_before_anything_runs(local: Local, change: dict[str, Any], status: int,
                                                            code: str, named: str) -> None:
    config = service_config("refused", "v1")
    for section, value in change.items():
        if section == "containers":
            config["containers"][0].update(value[0])
        else:
            config.setdefault(section, {}).update(value)
    with pytest.raises((ClientException, ServerException)) as refused:
        local.client.create_service(eas_models.CreateServiceRequest(body=json.dumps(config)))

    assert (refused.value.status_code, refused.value.code) == (status, code)
    assert named in refused.value.message
    with pytest.raises(ClientException):
        local.client.describe_service(REGION, "refused")


def test_the_documented_defaults() -> None:
    """*Rolling updates and graceful shutdown*: surge 2 % (at least 1); unavailable 0 on public resources, 1 on a
    dedicated group; grace 30 s; no SIGTERM until the end. A percentage is rounded up for the surge, down for
    the unavailable instances."""
    public = InstancePolicy.of(service_config("defaults", "v1", instances=120))
    dedicated = InstancePolicy.of({**service_config("defaults", "v1", instances=1),
                                   "metadata": {"name": "defaults", "instance": 1, "resource": "eas-r-abc"}})
    percent = InstancePolicy.of({**service_config("defaults", "v1"), "metadata": {
        "name": "defaults", "instance": 3, "rolling_strategy": {"max_surge": "50%", "max_unavailable": "50%"}}})

    assert (public.replicas, public.max_surge, public.max_unavailable) == (120, 3, 0)
    assert (dedicated.max_surge, dedicated.max_unavailable, dedicated.grace) == (1, 1, 30.0)
    assert (percent.max_surge, percent.max_unavailable) == (2, 1)
    assert public.grace == GRACE_SECONDS and public.sigterm_at_once is False and public.readiness is None
