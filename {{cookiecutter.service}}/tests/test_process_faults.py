"""Process faults: a worker killed in the middle of a download, and SIGTERM while downloads are in flight.

EAS stops an instance with SIGTERM and gives it 30 s before SIGKILL; gunicorn drains in-flight requests
within ``graceful_timeout`` (25 s). A worker that dies takes only its own requests with it: the master
starts another, and the service goes on answering.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import CONTAINER_ENV, HAS_OSS, PROJECT, RunningEAS, free_port, local_eas_fixture

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(not HAS_OSS, reason="streams an object through the OSS routes"),
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds the serving worker through /proc"),
]
OBJECT_SIZE = 16 * 1024 * 1024  # several times what the loopback socket buffers hold
CHUNK = 256 * 1024
eas = local_eas_fixture(scope="function")  # a local EAS for each test: most of them stop its service


def upload(eas: RunningEAS, key: str) -> str:
    body = os.urandom(1024 * 1024) * (OBJECT_SIZE // (1024 * 1024))
    assert eas.request("PUT", f"/oss/objects/{key}", data=body).status_code == 201
    return hashlib.sha256(body).hexdigest()


def open_download(eas: RunningEAS, key: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection(*eas.address, timeout=30)
    connection.request("GET", f"/oss/objects/{key}")
    response = connection.getresponse()
    assert response.status == 200
    return connection, response


def test_a_worker_killed_mid_download_fails_only_that_download(eas, reliability):
    upload(eas, "faults/big.bin")
    connection, download = open_download(eas, "faults/big.bin")
    try:
        received = len(download.read(CHUNK))
        victim = eas.worker_serving(connection.sock)
        os.kill(victim, signal.SIGKILL)
        try:
            while chunk := download.read(CHUNK):
                received += len(chunk)
        except (http.client.HTTPException, OSError):
            pass  # a reset instead of an early end: the same failure for the client
    finally:
        connection.close()
    assert received < OBJECT_SIZE, "the download completed although its worker was killed"

    statuses = [eas.get("/oss/objects?max_keys=1").status_code for _ in range(20)]
    assert statuses == [200] * 20
    deadline = time.monotonic() + 15
    while (len(eas.workers()) < 2 or victim in eas.workers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert victim not in eas.workers() and len(eas.workers()) == 2, "the master did not replace it"
    reliability.record("Process faults", workers_killed=1, requests_after=len(statuses), lost=0)


def test_sigterm_lets_in_flight_downloads_finish_then_stops_within_the_grace_period(eas, reliability):
    digest = upload(eas, "faults/drain.bin")
    connection, download = open_download(eas, "faults/drain.bin")
    received = hashlib.sha256(download.read(CHUNK))
    os.kill(eas.state["service_pid"], signal.SIGTERM)
    stopped_at = time.monotonic()
    try:
        while chunk := download.read(CHUNK):
            received.update(chunk)
            time.sleep(0.01)  # a slow client: the drain waits for it
    finally:
        connection.close()
    assert received.hexdigest() == digest, "the in-flight download was cut short"

    while eas.service_alive() and time.monotonic() - stopped_at < 30:
        time.sleep(0.1)
    assert not eas.service_alive(), "gunicorn outlived EAS's 30 s grace period"
    reliability.record("Process faults", sigterm_drains=1, drain_seconds=round(time.monotonic() - stopped_at, 1))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{eas.url}/health", timeout=5)


def test_sigterm_closes_idle_keep_alive_connections_instead_of_waiting_for_them(eas, reliability):
    """A gateway keeps idle connections to the instance open (30 s on EAS's dedicated gateway): they hold
    no request, so SIGTERM must not wait for them until graceful_timeout (25 s)."""
    idle = [http.client.HTTPConnection(*eas.address, timeout=30) for _ in range(4)]
    try:
        for connection in idle:
            connection.request("GET", "/health")
            answer = connection.getresponse()
            assert answer.status == 200 and answer.read()
        os.kill(eas.state["service_pid"], signal.SIGTERM)
        stopped_at = time.monotonic()
        while eas.service_alive() and time.monotonic() - stopped_at < 30:
            time.sleep(0.1)
        seconds = time.monotonic() - stopped_at
    finally:
        for connection in idle:
            connection.close()
    assert seconds < 10, f"gunicorn took {seconds:.1f} s to stop with idle keep-alive connections open"
    reliability.record("Process faults", idle_connection_stops=1)


def test_sigterm_while_a_worker_still_boots_stops_gunicorn_at_once(tmp_path):
    """EAS may stop an instance the moment it answers: a worker still booting then must stop too, not be
    SIGKILLed by the master at the end of graceful_timeout. gunicorn alone, as the run command starts it."""
    environment = {**os.environ, **CONTAINER_ENV, "HOME": str(tmp_path), "OSS_ENDPOINT": "http://127.0.0.1:9",
                   "ODPS_ENDPOINT": "http://127.0.0.1:9/api"}
    port = free_port()
    stop_seconds = []
    for _ in range(4):  # the boot window is short: a few tries to land in it
        with open(tmp_path / "gunicorn.log", "w", encoding="utf-8") as log:
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
                cwd=PROJECT / "mount", env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
                    time.sleep(0.02)
            os.killpg(gunicorn.pid, signal.SIGTERM)  # as EAS: the whole group
            stopped_at = time.monotonic()
            gunicorn.wait(timeout=40)
            stop_seconds.append(round(time.monotonic() - stopped_at, 1))
        finally:
            if gunicorn.poll() is None:
                os.killpg(gunicorn.pid, signal.SIGKILL)
                gunicorn.wait()
    assert max(stop_seconds) < 10, f"seconds each stop took: {stop_seconds}"
