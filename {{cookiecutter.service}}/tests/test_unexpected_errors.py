"""An unexpected error: a JSON 500 whose request id is the one its log line carries, so the line can be found."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from conftest import CONTAINER_ENV

from app import create_app
from app.config import Config
from app.logs import JsonFormatter


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the service's errors logger writes, formatted as in production (one JSON object a line)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app.errors")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_the_unhandled_error_log_line_carries_the_request_id_of_the_500_body(log_lines):
    app = create_app(Config.from_environ({**CONTAINER_ENV, "OSS_ENDPOINT": "http://127.0.0.1:9"}))

    def fail() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/fail", view_func=fail)
    response = app.test_client().get("/fail", headers={"X-Request-Id": "trace-me-42"})

    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == "InternalError" and body["request_id"] == "trace-me-42"
    entries = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    unhandled = [entry for entry in entries if entry["message"] == "unhandled error"]
    assert len(unhandled) == 1
    assert unhandled[0]["request_id"] == body["request_id"]
    assert "RuntimeError: a bug" in unhandled[0]["exception"]
