"""What the service writes and answers at the edges, through the real gunicorn, with raw sockets:

* requests gunicorn refuses before the app sees them (bad request line, bad header, headers too large)
  get the service's JSON error, not gunicorn's HTML page;
* every request gets its one JSON log line, streamed downloads included, and no record is ever split by
  a line reader (U+0085, U+2028 and U+2029 are escaped).
"""

from __future__ import annotations

import uuid

import pytest
from conftest import needs_oss

REFUSED_BY_GUNICORN = {
    # Each request fits in one read of gunicorn's (8 KiB): nothing is left unread when it closes, so no reset.
    "request line too long": (b"GET /" + b"a" * 4200 + b" HTTP/1.1\r\n\r\n", 400, "RequestLineTooLong"),
    "invalid request line": (b"HELLO\r\n\r\n", 400, "InvalidRequestLine"),
    "invalid HTTP version": (b"GET /health HTTP/9.1\r\nHost: service\r\n\r\n", 400, "InvalidHTTPVersion"),
    "invalid header name": (b"GET /health HTTP/1.1\r\nHost: service\r\nBad Header: x\r\n\r\n", 400, "InvalidHeader"),
    "too many headers": (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(120)) + b"\r\n",
                         431, "RequestHeaderFieldsTooLarge"),
}


@pytest.mark.parametrize("case", REFUSED_BY_GUNICORN)
def test_what_gunicorn_refuses_is_a_json_error_and_a_log_line(local_eas, case):
    request, status, code = REFUSED_BY_GUNICORN[case]
    answer = local_eas.raw(request)
    assert answer.status == status, answer.body[:300]
    assert answer.headers["Content-Type"] == "application/json"
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    error = answer.json()
    assert set(error) == {"error", "code", "request_id"} and error["code"] == code and error["error"]
    assert answer.headers["X-Request-Id"] == error["request_id"]
    records = local_eas.request_log(error["request_id"])
    assert [(r["status"], r["code"]) for r in records] == [(status, code)]


@needs_oss
def test_get_range_get_head_and_put_each_get_one_log_line(local_eas):
    body = b"0123456789" * 10_000
    ids = {name: f"log-{uuid.uuid4().hex}" for name in ("put", "get", "range", "head")}
    put = local_eas.request("PUT", "/oss/objects/logged/object.bin", data=body, headers={"X-Request-Id": ids["put"]})
    get = local_eas.get("/oss/objects/logged/object.bin", headers={"X-Request-Id": ids["get"]})
    part = local_eas.get("/oss/objects/logged/object.bin", headers={"X-Request-Id": ids["range"], "Range": "bytes=5-9"})
    head = local_eas.request("HEAD", "/oss/objects/logged/object.bin", headers={"X-Request-Id": ids["head"]})
    assert (put.status_code, get.status_code, part.status_code, head.status_code) == (201, 200, 206, 200)
    assert get.content == body and part.content == b"56789"
    expected = {"put": ("PUT", 201), "get": ("GET", 200), "range": ("GET", 206), "head": ("HEAD", 200)}
    for name, request_id in ids.items():
        records = local_eas.request_log(request_id)
        assert [(r["method"], r["status"], r["path"]) for r in records] == [
            (*expected[name], "/oss/objects/logged/object.bin")], name
        assert records[0]["latency_ms"] >= 0
    local_eas.request("DELETE", "/oss/objects/logged/object.bin")


@pytest.mark.parametrize("separator", ["%C2%85", "%E2%80%A8", "%E2%80%A9"])
def test_a_line_separator_in_a_path_never_splits_a_log_record(local_eas, separator):
    request_id = f"log-{uuid.uuid4().hex}"
    answer = local_eas.raw(f"GET /no/such{separator}route HTTP/1.1\r\nHost: service\r\nX-Request-Id: {request_id}\r\n"
                     "Connection: close\r\n\r\n".encode())
    assert answer.status == 404
    records = local_eas.request_log(request_id)  # json.loads of every line with the id: none is a fragment
    character = bytes.fromhex(separator.replace("%", "")).decode("utf-8")
    assert [record["path"] for record in records] == [f"/no/such{character}route"]

