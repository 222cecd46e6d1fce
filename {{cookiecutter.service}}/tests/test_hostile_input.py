"""Hostile input through the service under gunicorn: every answer is a 4xx JSON error naming what is wrong
(never a 5xx, never a traceback), valid-but-odd input works, and nothing is half-written in OSS.

Requests go out with http.client, which sends the path as written: requests would resolve ``../`` first.
The module has its own local EAS, with a small MAX_UPLOAD_BYTES so that going over it is cheap.
"""

from __future__ import annotations

import os
from typing import Any, Optional
from urllib.parse import quote

import pytest
from conftest import (
    CONTAINER_ENV,
    FIGURES,
    HAS_MAXCOMPUTE,
    HAS_OSS,
    RawAnswer,
    RunningEAS,
    local_eas_fixture,
    needs_maxcompute,
    needs_oss,
)

pytestmark = pytest.mark.reliability

UPLOAD_LIMIT = 64 * 1024
DATA_PREFIX = CONTAINER_ENV.get("OSS_DATA_PREFIX", "")
MAX_KEY_CHARS = 1023 - len(DATA_PREFIX.encode("utf-8"))  # ASCII keys: characters are bytes
eas = local_eas_fixture("--env", f"MAX_UPLOAD_BYTES={UPLOAD_LIMIT}")
# What the bucket may hold: the demo objects, and what this module's tests put (and delete) on purpose.
EXPECTED_PREFIXES = ("hello.txt", "datasets/", "models/", "reports/", "hostile-ok/", "long/", "chunked/")
# A client mistake is answered at once, not after OSS_TIMEOUT_SECONDS (10 s) of waiting for OSS.
AT_ONCE_SECONDS = 3


def send(eas: RunningEAS, method: str, target: str, **kwargs: Any) -> RawAnswer:
    """One request with ``target`` sent byte for byte as given (already percent-encoded): ``RunningEAS.send``."""
    return counted(eas.send(method, target, **kwargs))


def send_raw(eas: RunningEAS, request: bytes) -> RawAnswer:
    """What http.client refuses to send (raw bytes outside ASCII in the path, a body that breaks its framing):
    ``request`` byte for byte on a socket, then the write side closed."""
    return counted(eas.raw(request))


def counted(answer: RawAnswer) -> RawAnswer:
    server_error = int(answer.status >= 500)
    FIGURES.record("Hostile input", cases=1, server_errors=server_error, lost=server_error)
    return answer


@pytest.fixture(scope="module")
def bucket(eas):
    """A real oss2 client of this module's local OSS, to see what the service really stored."""
    return eas.oss_bucket()


def assert_refused(answer: RawAnswer, status: int = 400, field: Optional[str] = None) -> dict:
    """A JSON error as the service makes them, naming ``field`` (in the body's field and in the message)."""
    assert answer.status == status, (answer.status, answer.body[:500])
    assert answer.headers["Content-Type"] == "application/json", answer.headers["Content-Type"]
    assert b"Traceback" not in answer.body
    error = answer.json()
    assert {"error", "code", "request_id"} <= set(error), error
    if field is not None:
        assert error.get("field") == field and field in error["error"], error
    return error


def object_path(key: str) -> str:
    return "/oss/objects/" + quote(key, safe="/")


# --- object keys ----------------------------------------------------------------------------------------

TRAVERSALS = ["../secret", "%2e%2e/secret", "%2E%2E%2Fsecret", "a/./b", "a/%2e/b", "a/../../b", "a/..", ".",
              "%2e", "a/.", "..%2f..%2fetc/passwd"]
CONTROL = ["a%00b", "%00", "a%01", "a%09b", "a%0ab", "a%0d%0aX-Injected:%201", "a%1fb", "a%7fb"]
# Percent-encoded bytes that are not UTF-8: a lone surrogate (CESU-8), an overlong "/", bytes past U+10FFFF,
# a lone continuation byte, a truncated sequence.
NOT_UTF8 = ["a%ffb", "%c0%af", "a%ed%a0%80b", "%f4%90%80%80", "%80", "a%e4%b8"]
TOO_LONG = ["k" * (MAX_KEY_CHARS + 1), "k" * 4000, quote("é" * (MAX_KEY_CHARS // 2 + 1))]
# Each kind of key, and the rule the refusal names ("": only the field).
HOSTILE_KEYS = {". or .. path segments": TRAVERSALS, "control characters": CONTROL, "": NOT_UTF8,
                "OSS allows at most 1023": TOO_LONG, "must not start with /": ["/etc/passwd", "%2fetc"]}


@needs_oss
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize(("raw_key", "rule"), [(key, rule) for rule, keys in HOSTILE_KEYS.items() for key in keys],
                         ids=lambda value: value[:40])
def test_hostile_keys_are_refused_by_name_and_nothing_is_written(eas, method, raw_key, rule):
    answer = send(eas, method, "/oss/objects/" + raw_key, body=b"x" if method == "PUT" else None)
    assert rule in assert_refused(answer, 400, "key")["error"]
    listing = send(eas, "GET", "/oss/objects?max_keys=1000").json()
    assert not [item["key"] for item in listing["objects"] if not item["key"].startswith(EXPECTED_PREFIXES)]


@needs_oss
@pytest.mark.parametrize("parameter", ["prefix", "marker"])
@pytest.mark.parametrize("value", ["../x", "%2e%2e", "a%00", "%ff", "/x", "k" * (MAX_KEY_CHARS + 1)],
                         ids=lambda value: value[:20])
def test_hostile_listing_prefixes_are_refused_by_name(eas, parameter, value):
    assert_refused(send(eas, "GET", f"/oss/objects?{parameter}={value}"), 400, parameter)


ODD_BUT_VALID = [
    "rtl/\u202eevil.txt\u202c",  # right-to-left override
    "rtl/\u200fmark",  # right-to-left mark
    "combining/e\u0301",  # NFD é, a different key from NFC é
    "combining/\u00e9",
    "emoji/\U0001f600/\U0001f1e8\U0001f1f3/\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "cjk/数据/文件 名.txt",
    "bom/\ufeffstart",
    "replacement/\ufffd",  # sent as valid UTF-8, so a key like any other
    "zero-width/a\u200bb",
    "spaces/ lead and trail ",
    "punct/a+b=c&d?e#f%g;h",
    "dots/.hidden/..three/...",
    "slashes/a//b/",
    "astral/\U0010fffd",
]


@needs_oss
@pytest.mark.parametrize("key", ODD_BUT_VALID)
def test_odd_but_valid_keys_round_trip(eas, key):
    full = "hostile-ok/" + key
    body = full.encode("utf-8")
    put = send(eas, "PUT", object_path(full), body=body, headers={"Content-Type": "text/plain; charset=utf-8"})
    assert put.status == 201, put.body
    assert put.json()["key"] == full and put.json()["size"] == len(body)
    got = send(eas, "GET", object_path(full))
    assert got.status == 200 and got.body == body
    listed = send(eas, "GET", "/oss/objects?prefix=" + quote(full, safe="") + "&max_keys=5").json()
    assert full in [item["key"] for item in listed["objects"]]
    assert send(eas, "DELETE", object_path(full)).status == 204
    assert_refused(send(eas, "GET", object_path(full)), 404)


@needs_oss
def test_the_longest_key_works_and_one_byte_more_does_not(eas):
    longest = "long/" + "k" * (MAX_KEY_CHARS - len("long/"))
    assert send(eas, "PUT", object_path(longest), body=b"edge").status == 201
    assert send(eas, "GET", object_path(longest)).body == b"edge"
    assert send(eas, "DELETE", object_path(longest)).status == 204
    assert_refused(send(eas, "PUT", object_path(longest + "k"), body=b"edge"), 400, "key")


@needs_oss
def test_raw_utf8_in_the_path_is_decoded_once(eas, bucket):
    """Raw UTF-8 bytes in the request line (not percent-encoded) are the key's bytes: not read as Latin-1 and
    encoded again (which stored ``data/Ã¯Â¼Â`` for ``＞``)."""
    key = "hostile-ok/raw/\uff1e \u00e9"
    request = (f"PUT /oss/objects/{key.replace(' ', '%20')} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
               "Connection: close\r\n\r\nraw").encode()
    answer = send_raw(eas, request)
    assert answer.status == 201, answer.body
    assert answer.json()["key"] == key
    assert bucket.get_object(DATA_PREFIX + key).read() == b"raw"
    listed = [info.key for info in bucket.list_objects(prefix=DATA_PREFIX + "hostile-ok/raw/").object_list]
    assert listed == [DATA_PREFIX + key]
    assert [item["key"] for item in send(eas, "GET", "/oss/objects?prefix=hostile-ok/raw/").json()["objects"]] == [key]
    assert send(eas, "DELETE", object_path(key)).status == 204


@needs_oss
def test_raw_bytes_that_are_not_utf8_in_the_path_are_refused(eas, bucket):
    answer = send_raw(eas, b"PUT /oss/objects/hostile-ok/raw/a\xffb HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 1\r\nConnection: close\r\n\r\nx")
    assert_refused(answer, 400, "key")
    assert not list(bucket.list_objects(prefix=DATA_PREFIX + "hostile-ok/raw/").object_list)


# --- bodies ---------------------------------------------------------------------------------------------

@needs_oss
def test_an_oversized_content_length_is_413_before_any_byte_is_read(eas):
    # No body follows: the service must answer from the header alone.
    answer = send(eas, "PUT", "/oss/objects/big/declared", headers={"Content-Length": str(10 * 1024**3)})
    error = assert_refused(answer, 413)
    assert error["code"] == "EntityTooLarge" and "MAX_UPLOAD_BYTES" in error["error"]
    assert_refused(send(eas, "GET", "/oss/objects/big/declared"), 404)


@needs_oss
def test_a_body_one_byte_over_the_limit_is_413_and_not_stored(eas):
    assert_refused(send(eas, "PUT", "/oss/objects/big/plus-one", body=os.urandom(UPLOAD_LIMIT + 1)), 413)
    assert_refused(send(eas, "GET", "/oss/objects/big/plus-one"), 404)


@needs_oss
def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_half_written(eas):
    body = (os.urandom(10_000) for _ in range(3 * UPLOAD_LIMIT // 10_000))  # ~3 times the limit, chunked
    answer = send(eas, "PUT", "/oss/objects/big/chunked", body=body, chunked=True)
    assert "MAX_UPLOAD_BYTES" in assert_refused(answer, 413)["error"]
    assert_refused(send(eas, "GET", "/oss/objects/big/chunked"), 404)
    assert send(eas, "GET", "/oss/objects?prefix=big/").json()["objects"] == []


@needs_oss
@pytest.mark.parametrize(("total", "size"), [(0, 1), (1, 1), (UPLOAD_LIMIT, 4093), (UPLOAD_LIMIT - 1, 65_536)])
def test_chunked_bodies_up_to_the_limit_round_trip(eas, total, size):
    data = os.urandom(total)
    parts = [data[offset:offset + size] for offset in range(0, len(data), size)]
    put = send(eas, "PUT", "/oss/objects/chunked/ok", body=iter(parts), chunked=True)
    assert put.status == 201, put.body
    assert put.json()["size"] == total
    assert send(eas, "GET", "/oss/objects/chunked/ok").body == data
    assert send(eas, "DELETE", "/oss/objects/chunked/ok").status == 204


BROKEN_BODIES = {
    # Content-Length 100, 3 bytes, then the client stops sending.
    "short-content-length": b"Content-Length: 100\r\n\r\nabc",
    # Chunked, with a chunk size that is not hexadecimal.
    "malformed-chunk-size": b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n",
    # Chunked, cut in the middle of a chunk.
    "chunked-cut-short": b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\nabc",
    # Chunked, a chunk longer than its size.
    "chunk-overruns-its-size": b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
}


@needs_oss
@pytest.mark.parametrize("framing", BROKEN_BODIES.values(), ids=BROKEN_BODIES.keys())
def test_a_body_that_breaks_its_framing_is_400_at_once_and_nothing_is_written(eas, bucket, framing):
    """The client's mistake, not OSS's failure: a 400 naming body as soon as the body ends, not a 504 after
    OSS_TIMEOUT_SECONDS or a 502."""
    answer = send_raw(eas, b"PUT /oss/objects/broken/body HTTP/1.1\r\nHost: x\r\n" + framing)
    assert assert_refused(answer, 400, "body")["code"] == "IncompleteBody"
    assert answer.seconds < AT_ONCE_SECONDS, f"took {answer.seconds:.1f} s"
    assert not bucket.object_exists(DATA_PREFIX + "broken/body")
    assert send(eas, "GET", "/oss/objects?prefix=broken/").json()["objects"] == []
{%- if cookiecutter.maxcompute and cookiecutter.maxcompute_sql %}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 413, "body"),
        (b'{"sql": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400, "body"),  # deeper than the JSON decoder goes
        (b'{"sql": "SELECT 1", "limit": 1e3}', 400, "limit"),
        (b'{"sql": "SELECT 1\\u0000"}', 400, "sql"),
        (b"\xff\xfe not json", 400, "body"),
        ('{"sql": "\u6570\u636e"}'.encode(), 400, "sql"),  # words, but no ASCII word to check
        (b'{"sql": "42"}', 400, "sql"),
    ],
    ids=["oversized", "deeply-nested", "float-limit", "nul-in-sql", "not-utf8", "cjk-only", "number-only"],
)
def test_hostile_sql_bodies(eas, body, status, field):
    answer = send(eas, "POST", "/maxcompute/sql", body=body, headers={"Content-Type": "application/json"})
    assert_refused(answer, status, field)
{%- endif %}


# --- methods, ranges, parameters ------------------------------------------------------------------------

WRONG_METHODS = [("POST", "/health", "GET"), ("DELETE", "/ready", "GET"), ("PUT", "/openapi.json", "GET")]
if HAS_OSS:
    WRONG_METHODS += [("POST", "/oss/objects/a.txt", "PUT"), ("PATCH", "/oss/objects/a.txt", "DELETE"),
                      ("PUT", "/oss/objects", "GET"), ("DELETE", "/oss/objects", "GET")]
if HAS_MAXCOMPUTE:
    WRONG_METHODS += [("POST", "/maxcompute/tables", "GET"), ("DELETE", "/maxcompute/tables/iris", "GET"),
                      ("PUT", "/maxcompute/tables/iris/rows", "GET")]
{%- if cookiecutter.maxcompute and cookiecutter.maxcompute_sql %}
WRONG_METHODS += [("GET", "/maxcompute/sql", "POST")]
{%- endif %}


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_methods_are_json_405_with_allow(eas, method, path, allowed):
    answer = send(eas, method, path)
    assert_refused(answer, 405)
    assert allowed in [item.strip() for item in answer.headers["Allow"].split(",")]


@needs_oss
@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        ("bytes=5-2", 200, b"Hello from the local EAS!\n"),  # malformed: the whole object
        ("bytes=abc", 200, b"Hello from the local EAS!\n"),
        ("bytes=-", 200, b"Hello from the local EAS!\n"),
        ("bytes=0-0,", 200, b"Hello from the local EAS!\n"),
        ("bytes=0-1,3-4", 200, b"Hello from the local EAS!\n"),
        ("items=0-4", 200, b"Hello from the local EAS!\n"),
        ("bytes=" + ",".join(["0-0"] * 500), 200, b"Hello from the local EAS!\n"),
        ("bytes=\u0660-1", 200, b"Hello from the local EAS!\n"),  # Arabic-Indic zero
        ("bytes=0-4", 206, b"Hello"),
        ("bytes=0-99999999999999999999", 206, b"Hello from the local EAS!\n"),
        ("bytes=-99999999999999999999", 206, b"Hello from the local EAS!\n"),
        ("bytes=99999999999999999999-", 416, None),
        ("bytes=26-", 416, None),
        ("bytes=-0", 416, None),  # an empty suffix: nothing to send, as OSS says
        ("bytes = - 00", 416, None),
    ],
)
def test_malformed_and_extreme_ranges(eas, header, status, body):
    answer = send(eas, "GET", "/oss/objects/hello.txt", headers={"Range": header.encode("utf-8").decode("latin-1")})
    if body is None:
        assert assert_refused(answer, status, "Range")["code"] == "InvalidRange"
    else:
        assert (answer.status, answer.body) == (status, body)


BAD_NUMBERS = ["0", "-1", "1e3", "1.0", "0x10", "+5", " 5", "5 ", "", "99999999999999999999", "%D9%A1%D9%A2",
               "%EF%BC%91", "%C2%B2", "NaN", "1_0"]


@needs_oss
@pytest.mark.parametrize("value", BAD_NUMBERS + ["1001"])
def test_bad_max_keys(eas, value):
    assert_refused(send(eas, "GET", f"/oss/objects?max_keys={quote(value, safe='%')}"), 400, "max_keys")


@needs_maxcompute
@pytest.mark.parametrize("value", BAD_NUMBERS + ["10001"])
def test_bad_row_limits(eas, value):
    assert_refused(send(eas, "GET", f"/maxcompute/tables/iris/rows?limit={quote(value, safe='%')}"), 400, "limit")


@pytest.mark.parametrize(
    ("target", "field"),
    [
        pytest.param("/oss/objects?max-keys=5", "max-keys", marks=needs_oss),  # a typo is not silently ignored
        pytest.param("/oss/objects?max_keys=1&max_keys=2", "max_keys", marks=needs_oss),
        pytest.param("/oss/objects/hello.txt?versionId=1", "versionId", marks=needs_oss),
        pytest.param("/oss/objects?%ff=1", "query", marks=needs_oss),
        pytest.param("/maxcompute/tables?limit=1&limit=2", "limit", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/" + "t" * 129, "name", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris%3Bdrop", "name", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/%C3%AFris", "name", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris%00", "name", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris%ff", "name", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris%0A", "name", marks=needs_maxcompute),  # "$" matches before "\n"
        pytest.param("/maxcompute/tables?prefix=iris%0A", "prefix", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?limit=5%0A", "limit", marks=needs_maxcompute),
        pytest.param("/oss/objects?max_keys=5%0A", "max_keys", marks=needs_oss),
        pytest.param("/maxcompute/tables/iris/rows?columns=species,", "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?columns=" + "c" * 129, "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?columns=no_such_column", "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?columns=species%09", "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/sales/rows?partition=ds=1,ds", "partition", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/sales/rows?partition=ds%3D%E2%80%AE1", "partition", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables?prefix=" + "p" * 129, "prefix", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables?prefix=a%27b", "prefix", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables?limit=1001", "limit", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/bad-name", "name", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/1table", "name", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?columns=", "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?columns=species,bad-col", "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?columns=species,species", "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/iris/rows?columns=species,SPECIES", "columns", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/sales/rows?partition=ds", "partition", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/sales/rows?partition=ds=2026%27--", "partition", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/sales/rows?partition=ds=x,ds=y", "partition", marks=needs_maxcompute),
        pytest.param("/maxcompute/tables/sales/rows?partition=ds=x,DS=y", "partition", marks=needs_maxcompute),
    ],
)
def test_bad_parameters_are_refused_by_name(eas, target, field):
    assert_refused(send(eas, "GET", target), 400, field)


def test_a_hostile_request_id_is_replaced(eas):
    answer = send(eas, "GET", "/health", headers={"X-Request-Id": "../../" + "x" * 100})
    assert answer.status == 200
    assert answer.headers["X-Request-Id"] != "../../" + "x" * 100 and len(answer.headers["X-Request-Id"]) == 32
