"""``GET /credentials`` and credential rotation, through the service under gunicorn on the local EAS."""

from __future__ import annotations

from conftest import HAS_OSS, SHORT_LIFETIME, concurrent_calls, local_eas_fixture

# Method 3: no ALIBABA_CLOUD_CREDENTIALS_URI, only the credentials file, rewritten every second.
file_only_eas = local_eas_fixture("--no-credentials-uri", *SHORT_LIFETIME)


def test_credentials_shows_source_masked_key_and_expiry(local_eas):
    current = local_eas.current_credentials()
    body = local_eas.get("/credentials").json()
    assert body == {
        "source": "default/credential_uri",
        "access_key_id": "STS.****" + current["AccessKeyId"][-4:],
        "expiration": current["Expiration"],
    }


def keys_seen_during(running, seconds: float) -> tuple[list[int], set[str]]:
    """Concurrent clients calling /credentials (and a signed OSS listing) for ``seconds``: every status, and
    the masked keys the service reported."""
    seen_keys: set[str] = set()

    def call() -> int:
        response = running.get("/credentials")
        if response.status_code != 200:
            return response.status_code
        seen_keys.add(response.json()["access_key_id"])
        if HAS_OSS:  # a request to OSS signed with whatever credentials the worker holds now
            return running.get("/oss/objects?max_keys=2").status_code
        return 200

    return concurrent_calls(seconds, call), seen_keys


def test_rotation_during_a_run_of_requests_fails_none(rotating_eas):
    statuses, seen_keys = keys_seen_during(rotating_eas, 8)
    assert statuses and set(statuses) == {200}, \
        f"{len(statuses)} requests, statuses {set(statuses)}\n{rotating_eas.service_problems()}"
    assert len(seen_keys) >= 2, f"the service kept one key through {rotating_eas.stats()['issuances']} issuances"


def test_the_file_method_is_used_when_no_uri_is_injected(file_only_eas):
    assert "ALIBABA_CLOUD_CREDENTIALS_URI" not in file_only_eas.state["env"]
    body = file_only_eas.get("/credentials").json()
    assert body["source"] == "credentials_file"
    assert body["access_key_id"].startswith("STS.****")


def test_the_file_method_follows_the_rewritten_file_without_failures(file_only_eas):
    statuses, seen_keys = keys_seen_during(file_only_eas, 4)
    assert statuses and set(statuses) == {200}, file_only_eas.service_problems()
    assert len(seen_keys) >= 2
