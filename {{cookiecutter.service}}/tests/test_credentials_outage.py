"""The credentials endpoint and file go away (``eas-devkit local outage on``) and come back.

While the worker's cached credentials are fresh, nothing fails. Once they are stale (15 minutes before their
expiry, for the SDK), requests that need them get a quick ``503 credentials unavailable`` with ``Retry-After``,
never a hang; ``/health`` stays 200 and ``/ready`` reports the degraded dependency; once the endpoint is back,
the service recovers within seconds. One gunicorn worker, so which credentials are cached is known.
"""

from __future__ import annotations

import time

import pytest
import requests
from conftest import HAS_OSS, HAS_ROLE, concurrent_calls, local_eas_fixture

pytestmark = [pytest.mark.reliability,
              pytest.mark.skipif(not HAS_ROLE, reason="a service without a role has no credentials")]
ONE_WORKER = ("--env", "GUNICORN_WORKERS=1")
# A route that needs the credentials on every request.
NEEDS_CREDENTIALS = "/oss/objects?max_keys=1" if HAS_OSS else "/credentials"
# Credentials valid for an hour: cached for 45 minutes.
fresh_eas = local_eas_fixture(*ONE_WORKER)
# Credentials valid for 903 s: stale for the SDK 3 s after they are issued, so fetched on every request.
stale_eas = local_eas_fixture(*ONE_WORKER, "--credentials-lifetime", "903", "--rotate-every", "600", scope="function")


def test_an_outage_while_cached_credentials_are_fresh_fails_nothing(fresh_eas, reliability):
    assert fresh_eas.get(NEEDS_CREDENTIALS).status_code == 200  # the worker caches its credentials
    fresh_eas.outage("on")
    try:
        assert requests.get(fresh_eas.state["credentials_uri"], timeout=5).status_code == 503
        statuses = concurrent_calls(3, lambda: fresh_eas.get(NEEDS_CREDENTIALS).status_code)
        ready = fresh_eas.get("/ready")
    finally:
        fresh_eas.outage("off")
    reliability.record("Credentials outage", requests_while_cached=len(statuses),
                       lost=sum(status != 200 for status in statuses))
    assert statuses and set(statuses) == {200}, f"{len(statuses)} requests, statuses {set(statuses)}"
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "dependencies": {"credentials": "ok"}}


def test_past_freshness_it_is_503_with_retry_after_at_once_and_recovers_when_the_endpoint_returns(stale_eas,
                                                                                                  reliability):
    assert stale_eas.get(NEEDS_CREDENTIALS).status_code == 200
    time.sleep(3.5)  # the credentials are now stale for the SDK
    stale_eas.outage("on")
    try:
        started = time.monotonic()
        refused = stale_eas.get(NEEDS_CREDENTIALS)
        took = time.monotonic() - started
        health, ready = stale_eas.get("/health"), stale_eas.get("/ready")
    finally:
        stale_eas.outage("off")
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "CredentialsUnavailable" and refused.json()["error"] == "credentials unavailable"
    assert int(refused.headers["Retry-After"]) > 0
    assert took < 5, f"the refusal took {took:.1f} s"
    assert health.status_code == 200
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.json() == {"status": "degraded", "dependencies": {"credentials": "unavailable"}}

    returned = time.monotonic()
    while (status := stale_eas.get(NEEDS_CREDENTIALS).status_code) != 200 and time.monotonic() < returned + 10:
        time.sleep(0.2)
    recovered_in = time.monotonic() - returned
    reliability.record("Credentials outage", refused_in_ms=round(took * 1000),
                       recovered_in_ms=round(recovered_in * 1000))
    assert status == 200, "the service did not recover within 10 s of the endpoint's return"
    assert stale_eas.get("/ready").status_code == 200


def test_the_outage_command_says_what_it_did(fresh_eas):
    for state, said in (("on", "UNAVAILABLE"), ("off", "available again")):
        assert said in fresh_eas.outage(state)
    assert not fresh_eas.stats()["outage"]
