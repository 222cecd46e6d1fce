"""The fault injection of the local OSS and MaxCompute, seen by the real oss2 and pyodps (and the CLI).

These tests also pin what the SDKs do on their own with a failing backend, which the service's retry
design relies on: oss2 never retries; pyodps retries a GET after a 503 but not after a 500, and never a POST.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import oss2
import pytest
import requests
from conftest import PROJECT

from eas_devkit.testing import RunningEAS, devkit_command

KEY = "local-faults/object.txt"
BODY = b"0123456789" * 1000


class FaultsRoute:
    """``/admin/faults`` of the local EAS, called with its secret."""

    def __init__(self, running: RunningEAS) -> None:
        self.running = running

    def post(self, **kwargs) -> requests.Response:
        return self.running.admin("POST", "/faults", **kwargs)

    def get(self, **kwargs) -> requests.Response:
        return self.running.admin("GET", "/faults", **kwargs)

    def delete(self, **kwargs) -> requests.Response:
        return self.running.admin("DELETE", "/faults", **kwargs)


@pytest.fixture
def admin(local_eas: RunningEAS) -> Iterator[FaultsRoute]:
    route = FaultsRoute(local_eas)
    yield route
    route.delete().raise_for_status()


@pytest.fixture(scope="module")
def stored(oss_admin, data_prefix) -> str:
    key = data_prefix + KEY
    oss_admin.put_object(key, BODY)
    return key


def add(admin: FaultsRoute, **rule) -> dict:
    response = admin.post(json=rule)
    assert response.status_code == 201, response.text
    return response.json()["rule"]


def rules(admin: FaultsRoute) -> list[dict]:
    return admin.get().json()["rules"]


@pytest.mark.parametrize(("rule", "field"), [
    ({"service": "s3", "kind": "status"}, "service"),
    ({"service": "oss", "kind": "explode"}, "kind"),
    ({"service": "oss", "kind": "status", "status": 404}, "status"),
    ({"service": "oss", "kind": "latency"}, "seconds"),
    ({"service": "oss", "kind": "latency", "seconds": -1}, "seconds"),
    ({"service": "oss", "kind": "reset", "count": 0}, "count"),
    ({"service": "oss", "kind": "reset", "path": "no-slash"}, "path"),
    ({"service": "oss", "kind": "reset", "method": "GET /"}, "method"),
    ({"service": "oss", "kind": "reset", "when": "now"}, "when"),
    (["oss"], "body"),
])
def test_a_bad_rule_is_a_400_naming_the_field(admin, rule, field):
    response = admin.post(json=rule)
    assert response.status_code == 400
    assert response.json()["field"] == field and field in response.json()["Message"]
    assert rules(admin) == []


def test_a_5xx_is_the_oss_error_xml_and_oss2_does_not_retry(admin, oss_admin, stored):
    add(admin, service="oss", kind="status", status=503, method="GET", path="/*/" + stored)
    with pytest.raises(oss2.exceptions.ServerError) as raised:
        oss_admin.get_object(stored)
    assert raised.value.status == 503 and raised.value.code == "ServiceUnavailable" and raised.value.request_id
    assert rules(admin)[0]["matched"] == 1, "oss2 sends a request once"
    admin.delete()
    assert oss_admin.get_object(stored).read() == BODY


def test_a_5xx_on_head_travels_in_x_oss_err_as_real_oss_does(admin, oss_admin, stored):
    add(admin, service="oss", kind="status", status=500, method="HEAD")
    with pytest.raises(oss2.exceptions.ServerError) as raised:
        oss_admin.object_exists(stored)
    assert raised.value.status == 500 and raised.value.code == "InternalError"


def test_count_limits_the_faults_and_every_match_is_counted(admin, local_eas, oss_admin, stored):
    injected_before = local_eas.stats()["faults_injected"]
    add(admin, service="oss", kind="status", status=500, method="GET", path="/*/" + stored, count=2)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(oss_admin.get_object(stored).read() == BODY)
        except oss2.exceptions.ServerError:
            outcomes.append(False)
    assert outcomes == [False, False, True]
    assert rules(admin)[0]["injected"] == 2 and rules(admin)[0]["matched"] == 3
    assert local_eas.stats()["faults_injected"] == injected_before + 2


def test_a_reset_is_a_tcp_rst_before_any_response(admin, oss_admin, stored):
    add(admin, service="oss", kind="reset", method="GET", path="/*/" + stored)
    with pytest.raises(oss2.exceptions.RequestError) as raised:
        oss_admin.get_object(stored)
    assert "reset by peer" in str(raised.value.exception).lower()


def test_truncate_sends_the_real_headers_and_half_the_body(admin, oss_admin, stored):
    add(admin, service="oss", kind="truncate", method="GET", path="/*/" + stored)
    result = oss_admin.get_object(stored)
    assert int(result.headers["Content-Length"]) == len(BODY)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # oss2 leaves body errors unwrapped
        result.read()


def test_latency_delays_the_answer_and_trips_a_client_timeout(admin, local_eas, oss_admin, stored):
    add(admin, service="oss", kind="latency", seconds=1.5, method="GET", path="/*/" + stored)
    started = time.monotonic()
    assert oss_admin.get_object(stored).read() == BODY
    assert time.monotonic() - started >= 1.5
    impatient = oss2.Bucket(oss_admin.auth, local_eas.state["oss_endpoint"], local_eas.state["bucket"],
                            region=local_eas.state["region"], connect_timeout=0.5)
    with pytest.raises(oss2.exceptions.RequestError) as raised:
        impatient.get_object(stored)
    assert isinstance(raised.value.exception, requests.exceptions.Timeout)


def test_rules_match_method_and_path_only(admin, oss_admin, stored, data_prefix):
    add(admin, service="oss", kind="status", method="PUT", path="/*/" + stored)
    assert oss_admin.get_object(stored).read() == BODY
    oss_admin.put_object(data_prefix + "local-faults/other.txt", b"not matched")
    assert rules(admin)[0]["matched"] == 0


def fault_cli(*args: str, state_dir: str) -> subprocess.CompletedProcess:
    return subprocess.run([*devkit_command(PROJECT), "local", "--state-dir", state_dir, "fault", *args],
                          capture_output=True, text=True, timeout=30)


def test_the_fault_command_adds_lists_and_clears_rules(admin, local_eas, oss_admin, stored):
    state_dir = local_eas.state["state_dir"]
    added = fault_cli("oss", "status", "--status", "500", "--count", "1", "--method", "get", "--path", "/*/" + stored,
                      state_dir=state_dir)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("fault added: oss status 500 on GET /*/")
    with pytest.raises(oss2.exceptions.ServerError):
        oss_admin.get_object(stored)
    listed = fault_cli("list", state_dir=state_dir)
    assert "1 of 1 injected, 1 requests matched" in listed.stdout and "faults injected in all" in listed.stdout
    cleared = fault_cli("clear", state_dir=state_dir)
    assert cleared.stdout.startswith("faults cleared: 1 rule(s) removed")
    assert "no fault rules" in fault_cli("list", state_dir=state_dir).stdout

    refused = fault_cli("oss", "latency", state_dir=state_dir)
    assert refused.returncode == 2 and "seconds" in refused.stderr
    for command in ((), ("oss",), ("list",), ("clear",)):
        shown = fault_cli(*command, "--help", state_dir=state_dir)
        assert shown.returncode == 0 and "usage:" in shown.stdout
    assert "truncate" in fault_cli("--help", state_dir=state_dir).stdout


def test_a_503_is_the_maxcompute_error_and_pyodps_retries_a_get_by_itself(admin, odps_admin):
    add(admin, service="maxcompute", kind="status", status=503, method="GET", path="/api/projects/*/tables/iris",
        count=1)
    assert odps_admin.exist_table("iris")
    assert rules(admin)[0]["matched"] == 2, "pyodps retried the GET after its 503"


def test_pyodps_does_not_retry_a_500(admin, odps_admin):
    from odps import errors

    add(admin, service="maxcompute", kind="status", status=500, method="GET", path="/api/projects/*/tables/iris")
    with pytest.raises(errors.InternalServerError) as raised:
        odps_admin.get_table("iris").reload()
    assert raised.value.request_id
    assert rules(admin)[0]["matched"] == 1


def test_pyodps_never_retries_creating_a_sql_instance(admin, odps_admin):
    from odps import errors

    add(admin, service="maxcompute", kind="status", status=503, method="POST", path="/api/projects/*/instances")
    with pytest.raises(errors.ODPSError) as raised:
        odps_admin.run_sql("SELECT * FROM iris")
    assert raised.value.status_code == 503
    assert rules(admin)[0]["matched"] == 1


def test_a_maxcompute_rule_can_pick_the_tunnel_data_downloads(admin, odps_admin):
    import urllib3

    add(admin, service="maxcompute", kind="truncate", method="GET", path="/api/projects/*/tables/iris?*data*")
    reader = odps_admin.get_table("iris").open_reader()
    with pytest.raises(urllib3.exceptions.ProtocolError):  # raw urllib3: pyodps neither wraps nor retries it
        list(reader.read(count=5))
    rule = rules(admin)[0]
    assert rule["injected"] == 1 and rule["matched"] == 1, "only the data download was cut short, once"
