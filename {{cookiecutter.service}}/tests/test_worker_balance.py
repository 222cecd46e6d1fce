"""The load spreads over both gunicorn workers, even when a burst of keep-alive connections comes while one
of them is busy.

All workers accept on the one socket the master opened, and EAS's gateway keeps its connections to the
instance open. A worker busy for a moment (its first OSS request imports oss2: a second or two with no
accept) lets the other take the whole burst, and without a remedy keeps none of it for the rest of the
run. Here the busy moment is a SIGSTOP, which is the same to the kernel, and shorter to wait for.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import RunningEAS, local_eas_fixture

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers through /proc"),
]
CLIENTS = 16  # the gateway's keep-alive connections at concurrency 16
REQUESTS = 25  # per client, after the burst
FAIR_SHARE = 0.25  # each of the 2 workers; an even split is 0.5
eas = local_eas_fixture(scope="function")  # its own: its workers are stopped and killed


def test_a_burst_of_keep_alive_connections_while_a_worker_is_busy_still_spreads_over_both(eas, reliability):
    workers = sorted(eas.workers())
    assert len(workers) == 2, workers
    connections = [http.client.HTTPConnection(*eas.address, timeout=60) for _ in range(CLIENTS)]
    os.kill(workers[1], signal.SIGSTOP)
    try:
        burst(connections, "burst")  # all answered by the other worker
    finally:
        os.kill(workers[1], signal.SIGCONT)

    shares = spread(eas, connections, "after-burst")
    assert set(shares) == set(workers) and min(shares.values()) >= FAIR_SHARE, f"each worker's share: {shares}"
    reliability.record("Worker balance", requests=CLIENTS * REQUESTS, smaller_share=f"{min(shares.values()):.0%}")


def test_the_worker_that_replaces_a_killed_one_gets_its_share_and_no_connection_is_refused(eas, reliability):
    victim, survivor = sorted(eas.workers())
    connections = [http.client.HTTPConnection(*eas.address, timeout=60) for _ in range(CLIENTS)]
    master = eas.state["service_pid"]
    os.kill(master, signal.SIGSTOP)  # it replaces the victim only once every connection is on the survivor
    try:
        os.kill(victim, signal.SIGKILL)
        burst(connections, "restart")  # new connections, each accepted (by the survivor): none refused
    finally:
        os.kill(master, signal.SIGCONT)
    deadline = time.monotonic() + 30
    replacement = None
    while replacement is None and time.monotonic() < deadline:  # until it answers a request
        answer = eas.raw(b"GET /health HTTP/1.1\r\nHost: service\r\nConnection: close\r\n\r\n")
        pid = eas.request_log(answer.headers["X-Request-Id"])[0]["pid"]
        replacement = pid if pid not in (victim, survivor) else None
    assert replacement is not None, "the master did not replace the killed worker"

    shares = spread(eas, connections, "after-restart")
    assert set(shares) == {survivor, replacement} and min(shares.values()) >= FAIR_SHARE, f"shares: {shares}"
    reliability.record("Worker balance", requests=CLIENTS * REQUESTS, workers_killed=1, lost=0)


def burst(connections: list[http.client.HTTPConnection], tag: str) -> None:
    """One request on each connection, one after the other (each opens its connection)."""
    for number, connection in enumerate(connections):
        assert call(connection, f"balance-{tag}-{number}") == 200


def spread(eas: RunningEAS, connections: list[http.client.HTTPConnection], tag: str) -> dict[int, float]:
    """REQUESTS on each connection, all at once; the share of them each worker answered (by the request log's
    pid). The connections are closed at the end."""
    statuses: list[int] = []

    def client(number: int, connection: http.client.HTTPConnection) -> None:
        statuses.extend(call(connection, f"balance-{tag}-{number}-{request}") for request in range(REQUESTS))

    clients = [threading.Thread(target=client, args=pair) for pair in enumerate(connections)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    for connection in connections:
        connection.close()
    assert statuses == [200] * CLIENTS * REQUESTS
    served = Counter(record["pid"] for record in eas.request_log(f"balance-{tag}-", expected=CLIENTS * REQUESTS))
    return {pid: count / (CLIENTS * REQUESTS) for pid, count in served.items()}


def call(connection: http.client.HTTPConnection, request_id: str) -> int:
    """``GET /health`` on ``connection``; after a ``Connection: close`` answer http.client opens a new one."""
    connection.request("GET", "/health", headers={"X-Request-Id": request_id})
    response = connection.getresponse()
    response.read()
    return response.status
