"""Rotation soak: 16 clients of mixed traffic while the local EAS rotates the role's credentials.

Credentials live just over the SDK's 15-minute refresh margin, so each worker's cached credentials go stale
soon after every rotation and are fetched again under load. Nothing may fail: every request is accounted for
(an answer with the expected status, never an exception), and every object uploaded reads back identical.
`make test` runs it for 20 s with a rotation every 5 s; `make reliability` for 3 minutes with one every 20 s.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import os
import random
import time
from dataclasses import dataclass, field

import pytest
from conftest import HAS_MAXCOMPUTE, HAS_OSS, HAS_ROLE, Ledger, RunningEAS, local_eas_fixture

from eas_devkit.reliability import SOAK_SECONDS

pytestmark = [pytest.mark.reliability,
              pytest.mark.skipif(not HAS_ROLE, reason="a service without a role has no credentials to rotate")]

CLIENTS = 16
# Every 20 s in the long soak; shorter soaks still see several rotations (5 s in `make test`'s 20 s).
ROTATE_EVERY = min(20.0, SOAK_SECONDS / 4)
# Stale for the SDK ROTATE_EVERY seconds after issuance: one fetch per worker per rotation.
LIFETIME = 15 * 60 + ROTATE_EVERY
PREFIX = "soak/"
soak_eas = local_eas_fixture("--credentials-lifetime", str(LIFETIME), "--rotate-every", str(ROTATE_EVERY))


@dataclass
class SoakLedger(Ledger):
    """What the clients did: every request and its outcome, the digest of every object they uploaded, and the
    keys the service reported."""

    uploaded: dict[str, str] = field(default_factory=dict)
    key_ids: set = field(default_factory=set)


def operations(eas: RunningEAS, ledger: SoakLedger, client: int) -> list:
    """The traffic mix of one client: each call makes one request and notes its outcome."""
    counter = itertools.count()
    own: list[str] = []

    def put() -> None:
        key = f"{PREFIX}{client}/{next(counter)}.bin"
        body = os.urandom(random.randint(1, 64 * 1024))
        response = eas.request("PUT", f"/oss/objects/{key}", data=body)
        if ledger.answered("put", response, response.status_code == 201):
            with ledger.lock:
                ledger.uploaded[key] = hashlib.sha256(body).hexdigest()
            own.append(key)

    def get() -> None:
        if not own:
            return put()
        key = random.choice(own)
        response = eas.get(f"/oss/objects/{key}")
        ok = response.status_code == 200 and hashlib.sha256(response.content).hexdigest() == ledger.uploaded[key]
        ledger.note("get", ok, f"{response.status_code} {key}")

    def list_objects() -> None:
        response = eas.get(f"/oss/objects?prefix={PREFIX}{client}/&max_keys=5")
        ledger.answered("list", response, response.status_code == 200)

    def list_tables() -> None:
        response = eas.get("/maxcompute/tables")
        ledger.answered("tables", response, response.status_code == 200 and "iris" in response.json().get("tables", []))

    def read_rows() -> None:
        response = eas.get("/maxcompute/tables/iris/rows?limit=20")
        ledger.answered("rows", response, response.status_code == 200 and len(response.json().get("rows", [])) == 20)

    def credentials() -> None:
        response = eas.get("/credentials")
        if ledger.answered("credentials", response, response.status_code == 200):
            with ledger.lock:
                ledger.key_ids.add(response.json()["access_key_id"])

    mix: list = [credentials]
    if HAS_OSS:
        mix += [put, get, get, list_objects]
    if HAS_MAXCOMPUTE:
        mix += [list_tables, read_rows]
    return mix


def run_client(eas: RunningEAS, ledger: SoakLedger, client: int, deadline: float) -> None:
    """Until the deadline, and at least two operations (a loaded runner gets more time, not a failure)."""
    mix = operations(eas, ledger, client)
    made = 0
    while time.monotonic() < deadline or (made < 2 and time.monotonic() < deadline + 120):
        made += 1
        operation = random.choice(mix)
        try:
            operation()
        except Exception as error:  # a reset, a timeout: a failed request like any other, and counted
            ledger.note(operation.__name__, False, f"{type(error).__name__}: {error}")


def test_mixed_traffic_through_rotations_loses_nothing(soak_eas, reliability):
    ledger = SoakLedger()
    issued_before = soak_eas.stats()["issuances"]
    deadline = time.monotonic() + SOAK_SECONDS
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        for done in [pool.submit(run_client, soak_eas, ledger, client, deadline) for client in range(CLIENTS)]:
            done.result()
    rotations = soak_eas.stats()["issuances"] - issued_before

    # Every object uploaded during the soak reads back identical once the traffic has stopped.
    mismatched = [key for key, digest in ledger.uploaded.items()
                  if hashlib.sha256(soak_eas.get(f"/oss/objects/{key}").content).hexdigest() != digest]

    reliability.record("Rotation soak", clients=CLIENTS, seconds=SOAK_SECONDS, requests=ledger.requests,
                       rotations=rotations, objects_read_back=len(ledger.uploaded),
                       lost=ledger.failed + len(mismatched))
    assert ledger.failed == 0, f"{soak_eas.service_problems()[-3000:]}\n" \
                               f"{ledger.failed} of {ledger.requests} requests failed: {ledger.failures}"
    assert not mismatched, f"{len(mismatched)} objects read back different: {mismatched[:5]}"
    # Says the soak ran (each client goes on past the deadline until it made two), not a throughput target.
    assert ledger.requests >= CLIENTS * 2, f"only {ledger.requests} requests in {SOAK_SECONDS} s"
    assert rotations >= SOAK_SECONDS // ROTATE_EVERY - 1, f"{rotations} rotations in {SOAK_SECONDS} s"
    # The service followed the rotations, not one key held for the whole soak.
    assert len(ledger.key_ids) >= 2, ledger.key_ids
    # Each worker keeps a connection to OSS for every request it serves at once (16 here), instead of opening
    # and throwing away one per request past a pool of 10.
    discarded = [line for line in soak_eas.service_problems().splitlines() if "Connection pool is full" in line]
    assert not discarded, f"{len(discarded)} OSS connections thrown away, e.g. {discarded[0]}"
