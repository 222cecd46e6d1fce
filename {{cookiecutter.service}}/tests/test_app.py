"""The Flask app on its own (test client, no cloud): health, JSON errors, configuration errors, and an
unexpected error: a JSON 500 whose request id is the one its log line carries, so the line can be found."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from conftest import CONTAINER_ENV, HAS_ROLE, PROJECT

from app.config import Config, ConfigError
from app.logs import JsonFormatter


@pytest.fixture
def client(app):
    return app.test_client()


def test_health_answers_without_any_cloud_service(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_reports_credentials_it_cannot_get_while_health_stays_ok(client):
    """No credentials endpoint and no credentials file here: a service with a role is not ready."""
    response = client.get("/ready")
    if HAS_ROLE:
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
        assert response.get_json() == {"status": "degraded", "dependencies": {"credentials": "unavailable"}}
    else:
        assert response.status_code == 200
        assert response.get_json() == {"status": "ready", "dependencies": {}}
    assert client.get("/health").status_code == 200


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


def test_creating_the_app_and_answering_health_imports_no_sdk():
    """The SDKs cost ~0.5 s each to import: only the first request that needs one pays for it."""
    code = (
        "import json, sys\n"
        "from app import create_app\n"
        "from app.config import Config\n"
        "app = create_app(Config.from_environ(json.loads(sys.argv[1])))\n"
        "assert app.test_client().get('/health').status_code == 200\n"
        "loaded = [m for m in ('odps', 'oss2', 'alibabacloud_credentials') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    environ = json.dumps({**CONTAINER_ENV, "OSS_ENDPOINT": "http://127.0.0.1:9"})
    result = subprocess.run([sys.executable, "-c", code, environ], cwd=PROJECT / "mount", capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_a_log_record_is_one_line_whatever_it_holds():
    """U+0085, U+2028 and U+2029 are line breaks to str.splitlines (and to other line readers): escaped."""
    text = "a\u0085b\u2028c\u2029d\ne\x1cf"
    record = logging.LogRecord("app.request", logging.INFO, __file__, 1, text, (), None)
    record.path = "/" + text
    line = JsonFormatter().format(record)
    assert line.splitlines() == [line]
    assert json.loads(line)["message"] == text and json.loads(line)["path"] == "/" + text


def test_the_unhandled_error_log_line_carries_the_request_id_of_the_500_body(app, caplog):
    def fail() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/fail", view_func=fail)
    response = app.test_client().get("/fail", headers={"X-Request-Id": "trace-me-42"})

    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == "InternalError" and body["request_id"] == "trace-me-42"
    # The errors logger's records, formatted as in production (one JSON object a line).
    entries = [json.loads(JsonFormatter().format(record)) for record in caplog.records if record.name == "app.errors"]
    unhandled = [entry for entry in entries if entry["message"] == "unhandled error"]
    assert len(unhandled) == 1
    assert unhandled[0]["request_id"] == body["request_id"]
    assert "RuntimeError: a bug" in unhandled[0]["exception"]
