"""No issued AccessKeySecret or SecurityToken in any log line or response, whatever the traffic."""

from __future__ import annotations

import json

import pytest
import requests
from conftest import HAS_MAXCOMPUTE, HAS_OSS, HAS_ROLE, running_local_eas

pytestmark = pytest.mark.skipif(not HAS_ROLE, reason="no RAM role: no credentials are issued")


def exercise(running) -> list[str]:
    """Every route, good and bad requests, with a rotation in the middle; returns what the client saw."""
    seen = []

    def record(response: requests.Response) -> None:
        seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")

    for round_ in range(2):
        record(running.get("/health"))
        record(running.get("/credentials"))
        record(running.get("/nowhere"))
        record(requests.post(running.url + "/credentials", timeout=10))
        if HAS_OSS:
            record(running.get("/oss/objects"))
            record(running.get("/oss/objects", params={"max_keys": "many"}))
            record(requests.put(f"{running.url}/oss/objects/secrets-test/{round_}.txt", data=b"data", timeout=10))
            record(running.get(f"/oss/objects/secrets-test/{round_}.txt", headers={"Range": "bytes=0-1"}))
            record(running.get("/oss/objects/secrets-test/missing.txt"))
            record(running.get("/oss/objects/a%01b"))
            record(requests.delete(f"{running.url}/oss/objects/secrets-test/{round_}.txt", timeout=10))
        if HAS_MAXCOMPUTE:  # pyodps logs the STS token at INFO: the run is at DEBUG
            record(running.get("/maxcompute/tables"))
            record(running.get("/maxcompute/tables/iris"))
            record(running.get("/maxcompute/tables/iris/rows", headers={"Accept": "application/x-ndjson"}))
            record(running.get("/maxcompute/tables/no_such_table/rows"))
            record(running.get("/maxcompute/tables/bad-name"))
        running.rotate()
    return seen


def test_no_secret_in_logs_or_responses(tmp_path):
    # DEBUG logging: the most the service ever writes. Every log is complete once the local EAS has stopped.
    with running_local_eas(tmp_path / "eas", "--quiet", "--env", "LOG_LEVEL=DEBUG") as running:
        responses = exercise(running)
        issuances = running.stats()["issuances"]
    issued = running.seen_credentials
    # The test saw every issuance, so every secret the service could have held is searched for.
    assert len({credentials["AccessKeyId"] for credentials in issued}) == issuances == 3
    output = running.output() + (tmp_path / "eas" / "logs" / "service.log").read_text(encoding="utf-8")
    assert '"logger": "app.request"' in output
    captured = output + "\n".join(responses)
    for credentials in issued:
        for name in ("AccessKeySecret", "SecurityToken"):
            assert credentials[name] not in captured, f"an issued {name} leaked"


def test_the_leak_check_finds_a_planted_secret_and_token(local_eas):
    """The search every local EAS gets before it stops (eas_devkit.testing.finish_local_eas) can fail."""
    issued = local_eas.current_credentials()
    planted = json.dumps({"message": f"signing with {issued['AccessKeySecret']}", "token": issued["SecurityToken"]})
    found = local_eas.admin("POST", "/leak-check", data=planted, timeout=10)
    assert found.status_code == 200
    assert found.json()["secret_hits"] == 1 and found.json()["token_hits"] == 1
    assert issued["AccessKeySecret"] not in found.text and issued["SecurityToken"] not in found.text

    partial = issued["SecurityToken"][:-1]  # a token cut short is not the token
    clean = local_eas.admin("POST", "/leak-check", data=partial, timeout=10).json()
    assert clean["secret_hits"] == clean["token_hits"] == 0 and clean["credentials_searched"] >= 1
