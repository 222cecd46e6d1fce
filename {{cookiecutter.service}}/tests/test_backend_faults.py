"""Backend faults (``eas-devkit local fault``): the local OSS and MaxCompute answer 5xx, reset connections,
cut answers short or stall, and the service answers 502/504 JSON in bounded time, retries only reads, resumes
or aborts a broken download (never a short body), and keeps every worker.

The service runs with 2 s backend timeouts and 2 read retries: a read makes at most 3 attempts, a retry
starts only within 2 s of the first, so a failing read answers within 2 s + one attempt (+ backoff).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import HAS_MAXCOMPUTE, HAS_OSS, RunningEAS, local_eas_fixture, needs_maxcompute, needs_oss

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(not (HAS_OSS or HAS_MAXCOMPUTE), reason="the service uses no backend"),
]

TIMEOUT = 2
RETRIES = 2
ATTEMPTS = 1 + RETRIES
# The retry window (one timeout) + the last attempt (one timeout at most) + backoff and slack.
READ_BOUND = 2 * TIMEOUT + 2.5
# Every route's paths in the local services: the bucket's data prefix, and the demo table.
OSS_KEY = "faults/object.bin"
OSS_PATH = "/*/*" + OSS_KEY
TABLE_PATHS = "/api/projects/*/tables/iris*"
eas = local_eas_fixture("--env", f"OSS_TIMEOUT_SECONDS={TIMEOUT}", "--env", f"ODPS_TIMEOUT_SECONDS={TIMEOUT}",
                        "--env", f"BACKEND_READ_RETRIES={RETRIES}")


class Faults:
    """The local EAS's fault rules, and how many requests the test made through the service."""

    def __init__(self, running: RunningEAS) -> None:
        self.running = running
        self.add, self.clear = running.fault, running.clear_faults
        self.requests_made = 0

    def matched(self) -> int:
        """How many requests the (single) rule matched: how often the service tried."""
        return self.running.fault_rules()[0]["matched"]

    def timed(self, method: str, path: str, **kwargs: Any) -> tuple[requests.Response, float]:
        """A request through the service, and the seconds its answer took."""
        started = time.monotonic()
        response = self.running.request(method, path, **kwargs)
        self.requests_made += 1
        return response, time.monotonic() - started


@pytest.fixture
def faults(eas: RunningEAS, reliability) -> Iterator[Faults]:
    workers = eas.workers()
    faults = Faults(eas)
    injected = eas.stats()["faults_injected"]
    try:
        yield faults
    finally:
        faults.clear()
    # Every worker of before is still there (a worker still booting at the start may have joined since).
    assert workers <= eas.workers(), "a gunicorn worker died"
    reliability.record("Backend faults", faults_injected=eas.stats()["faults_injected"] - injected,
                       requests=faults.requests_made, lost=0)


def assert_backend_error(response: requests.Response, status: int, backend: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["backend"] == backend and body["request_id"] and body["error"] and body["code"], body
    return body


# The fault of each kind, the service's answer, and its code.
READ_FAULTS = [
    pytest.param({"kind": "status", "status": 503}, 502, "ServiceUnavailable", id="503"),
    pytest.param({"kind": "status", "status": 500}, 502, "InternalError", id="500"),
    pytest.param({"kind": "reset"}, 502, None, id="reset"),
    pytest.param({"kind": "truncate"}, 502, None, id="truncate"),
]


@pytest.fixture(scope="module")
def stored_object(eas: RunningEAS) -> bytes:
    body = os.urandom(2 * 1024 * 1024 + 123)
    assert eas.request("PUT", f"/oss/objects/{OSS_KEY}", data=body).status_code == 201
    return body


@needs_oss
@pytest.mark.parametrize(("rule", "status", "code"), READ_FAULTS)
def test_an_oss_read_is_retried_then_answered_502_json(eas, faults, stored_object, rule, status, code):
    faults.add(service="oss", method="GET", path="/*/", **rule)  # the bucket: list requests only
    response, took = faults.timed("GET", "/oss/objects?max_keys=5")
    body = assert_backend_error(response, status, "oss")
    assert code is None or body["code"] == code
    assert faults.matched() == ATTEMPTS, "a failing list is tried 1 + BACKEND_READ_RETRIES times"
    assert took < READ_BOUND
    faults.clear()
    assert faults.timed("GET", "/oss/objects?max_keys=5")[0].status_code == 200


@needs_oss
def test_an_oss_read_that_fails_once_succeeds_on_its_retry(eas, faults, stored_object):
    faults.add(service="oss", kind="reset", method="GET", path=OSS_PATH, count=1)
    response, _ = faults.timed("GET", f"/oss/objects/{OSS_KEY}")
    assert response.status_code == 200 and response.content == stored_object
    assert faults.matched() == 2


@needs_oss
def test_oss_latency_past_the_timeout_is_504_after_one_timeout_not_retried(eas, faults, stored_object):
    faults.add(service="oss", kind="latency", seconds=TIMEOUT + 2, method="GET", path=OSS_PATH)
    response, took = faults.timed("GET", f"/oss/objects/{OSS_KEY}")
    assert_backend_error(response, 504, "oss")
    assert response.json()["code"] == "OssTimeout"
    assert TIMEOUT <= took < TIMEOUT + 1.5, f"took {took:.1f} s"
    assert faults.matched() == 1


@needs_oss
@pytest.mark.parametrize("rule", [{"kind": "status", "status": 503}, {"kind": "reset"}], ids=["503", "reset"])
def test_an_oss_write_is_attempted_exactly_once(eas, faults, rule):
    faults.add(service="oss", method="PUT", path="/*/*faults/written.bin", **rule)
    response, took = faults.timed("PUT", "/oss/objects/faults/written.bin", data=b"x" * 100_000)
    assert_backend_error(response, 502, "oss")
    assert faults.matched() == 1, "a PUT must never be retried"
    faults.clear()
    faults.add(service="oss", method="DELETE", path="/*/*faults/written.bin", **rule)
    response, _ = faults.timed("DELETE", "/oss/objects/faults/written.bin")
    assert_backend_error(response, 502, "oss")
    assert faults.matched() == 1, "a DELETE must never be retried"


@needs_oss
def test_a_download_cut_short_is_resumed_from_the_next_byte(eas, faults, stored_object):
    faults.add(service="oss", kind="truncate", method="GET", path=OSS_PATH, count=2)
    response, _ = faults.timed("GET", f"/oss/objects/{OSS_KEY}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(stored_object).digest()
    assert faults.matched() == 3, "the first answer and two resumptions (Range, If-Match)"

    faults.clear()
    faults.add(service="oss", kind="truncate", method="GET", path=OSS_PATH, count=1)
    response, _ = faults.timed("GET", f"/oss/objects/{OSS_KEY}", headers={"Range": "bytes=1000-1999999"})
    assert response.status_code == 206 and response.content == stored_object[1000:2_000_000]


@needs_oss
def test_a_download_that_cannot_be_resumed_is_aborted_never_short(eas, faults, stored_object):
    faults.add(service="oss", kind="truncate", method="GET", path=OSS_PATH)
    started = time.monotonic()
    with eas.request("GET", f"/oss/objects/{OSS_KEY}", stream=True) as response:
        faults.requests_made += 1
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(stored_object)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):  # the transfer broke: not a clean end
            for _ in response.iter_content(64 * 1024):
                pass
    assert time.monotonic() - started < READ_BOUND
    assert faults.matched() == ATTEMPTS


@needs_oss
def test_a_download_that_breaks_before_its_first_byte_is_a_json_502(eas, faults):
    """Nothing is sent yet, so the status can still say it: the 502 the OpenAPI document lists, not gunicorn's
    HTML 500. (A one-byte object: the fault sends its headers and half of its body, no byte at all.)"""
    key = "faults/one-byte.bin"
    assert eas.request("PUT", f"/oss/objects/{key}", data=b"1").status_code == 201
    faults.add(service="oss", kind="truncate", method="GET", path="/*/*" + key)
    response, took = faults.timed("GET", f"/oss/objects/{key}")
    body = assert_backend_error(response, 502, "oss")
    assert body["code"] == "OssUnreachable" and "first byte" in body["error"]
    assert "502" in eas.get("/openapi.json").json()["paths"]["/oss/objects/{key}"]["get"]["responses"]
    assert faults.matched() == ATTEMPTS, "the first answer and BACKEND_READ_RETRIES resumptions"
    assert took < READ_BOUND
    faults.clear()
    assert faults.timed("GET", f"/oss/objects/{key}")[0].content == b"1"


@needs_maxcompute
@pytest.mark.parametrize(("rule", "status", "code"), READ_FAULTS)
@pytest.mark.parametrize("route", ["/maxcompute/tables/iris", "/maxcompute/tables/iris/rows?limit=3"],
                         ids=["describe", "rows"])
def test_a_maxcompute_read_is_retried_then_answered_502_json(eas, faults, route, rule, status, code):
    faults.add(service="maxcompute", method="GET", path=TABLE_PATHS, **rule)
    response, took = faults.timed("GET", route)
    body = assert_backend_error(response, status, "maxcompute")
    assert code is None or body["code"] == {"InternalError": "InternalServerError"}.get(code, code)
    assert faults.matched() % ATTEMPTS == 0 and faults.matched() >= ATTEMPTS, "each read tried 1 + retries times"
    assert took < READ_BOUND
    faults.clear()
    assert faults.timed("GET", route)[0].status_code == 200


@needs_maxcompute
def test_a_table_read_that_fails_once_succeeds_on_its_retry(eas, faults):
    faults.add(service="maxcompute", kind="status", status=503, method="GET", path=TABLE_PATHS + "?*data*", count=1)
    response, _ = faults.timed("GET", "/maxcompute/tables/iris/rows?limit=3")
    assert response.status_code == 200 and len(response.json()["rows"]) == 3
    assert faults.matched() == 2


@needs_maxcompute
def test_maxcompute_latency_past_the_timeout_is_504_after_one_timeout(eas, faults):
    faults.add(service="maxcompute", kind="latency", seconds=TIMEOUT + 2, method="GET", path=TABLE_PATHS)
    response, took = faults.timed("GET", "/maxcompute/tables/iris")
    assert_backend_error(response, 504, "maxcompute")
    assert response.json()["code"] == "MaxComputeTimeout"
    assert TIMEOUT <= took < TIMEOUT + 1.5, f"took {took:.1f} s"
    assert faults.matched() == 1
{%- if cookiecutter.maxcompute and cookiecutter.maxcompute_sql %}


def test_a_sql_instance_is_created_at_most_once(eas, faults):
    faults.add(service="maxcompute", kind="status", status=503, method="POST", path="/api/projects/*/instances")
    response, took = faults.timed("POST", "/maxcompute/sql", json={"sql": "SELECT * FROM iris", "limit": 1})
    assert_backend_error(response, 502, "maxcompute")
    assert faults.matched() == 1, "creating a SQL instance must never be retried"
    assert took < READ_BOUND
{%- endif %}
