"""Slow clients (a byte every 2 s, in the headers or in a PUT body) do not stop the service: ``/health``
keeps answering within a second while 32 of them hold connections.

No gateway buffers a request that comes over a VPC direct connection, so the service must not give a
whole worker thread to each one. Every socket is opened on loopback and closed at the end of its test.
"""

from __future__ import annotations

import socket
import time

import pytest
from conftest import RunningEAS, needs_oss

pytestmark = pytest.mark.reliability

SLOW_CLIENTS = 32
DRIP_SECONDS = 2.0  # one byte per connection every DRIP_SECONDS
PROBES = 6
HEALTH_BOUND_SECONDS = 1.0


def health_latencies(local_eas: RunningEAS) -> list[float]:
    """Seconds each of PROBES calls of /health took on a new connection (inf: no answer within the bound)."""
    latencies = []
    for _ in range(PROBES):
        try:
            answer = local_eas.raw(b"GET /health HTTP/1.1\r\nHost: service\r\nConnection: close\r\n\r\n",
                             timeout=HEALTH_BOUND_SECONDS)
            assert answer.status == 200, answer.body[:200]
            latencies.append(answer.seconds)
        except socket.timeout:
            latencies.append(float("inf"))
        time.sleep(0.3)
    return latencies


def check_health_under(local_eas: RunningEAS, reliability, kind: str, opening: bytes, drip: bytes) -> None:
    with local_eas.slow_clients(SLOW_CLIENTS, opening, drip, every=DRIP_SECONDS):
        latencies = health_latencies(local_eas)
    late = sum(latency > HEALTH_BOUND_SECONDS for latency in latencies)
    reliability.record("Slow clients", **{f"slow_{kind}": SLOW_CLIENTS}, health_probes=len(latencies),
                       lost=late)
    assert late == 0, f"/health took {[round(x, 3) for x in latencies]} s with {SLOW_CLIENTS} slow {kind}"
    assert local_eas.get("/health", timeout=5).status_code == 200


def test_slow_headers_leave_health_answering_within_a_second(local_eas, reliability):
    check_health_under(local_eas, reliability, "headers", b"GET /health HTTP/1.1\r\nHost: service\r\nX-Slow: ", b"x")


@needs_oss
def test_slow_upload_bodies_leave_health_answering_within_a_second(local_eas, reliability):
    opening = (b"PUT /oss/objects/slow-clients/object HTTP/1.1\r\nHost: service\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 1000\r\n\r\n")
    check_health_under(local_eas, reliability, "bodies", opening, b"x")
    listing = local_eas.get("/oss/objects?prefix=slow-clients/").json()
    assert not listing.get("objects"), f"an unfinished upload was stored: {listing}"
