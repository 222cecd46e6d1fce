"""The Flask app on its own (test client, no cloud): health, JSON errors, configuration errors."""

from __future__ import annotations

import pytest
from conftest import CONTAINER_ENV

from app import create_app
from app.config import Config, ConfigError


@pytest.fixture
def client():
    config = Config.from_environ({**CONTAINER_ENV, "OSS_ENDPOINT": "http://127.0.0.1:9"})
    return create_app(config).test_client()


def test_health_answers_without_any_cloud_service(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_every_response_carries_a_request_id_and_a_given_one_is_kept(client):
    assert len(client.get("/health").headers["X-Request-Id"]) == 32
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    assert client.get("/health", headers={"X-Request-Id": "bad id <x>"}).headers["X-Request-Id"] != "bad id <x>"


def test_unknown_route_is_a_json_404(client):
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.get_json()["code"] == "NotFound"
    assert response.get_json()["request_id"]


def test_wrong_method_is_a_json_405_with_allow(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.get_json()["code"] == "MethodNotAllowed"
    assert "GET" in response.headers["Allow"]


def test_missing_region_is_named():
    with pytest.raises(ConfigError, match="REGION is not set"):
        Config.from_environ({})


@pytest.mark.parametrize("value", ["lots", "-1", "0"])
def test_bad_upload_limit_is_named(value):
    with pytest.raises(ConfigError, match="MAX_UPLOAD_BYTES"):
        Config.from_environ({"REGION": "cn-hangzhou", "MAX_UPLOAD_BYTES": value})
