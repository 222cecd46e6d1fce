"""``/oss/objects`` through the service under gunicorn, against the local OSS, checked with the real oss2."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import requests
from conftest import concurrent_calls{% if cookiecutter.role == 'pai-default' %}, running_local_eas{% endif %}

MIB = 1024 * 1024


def test_listing_defaults_to_ten_keys_relative_to_the_data_prefix(local_eas, oss_admin, data_prefix):
    for index in range(12):
        oss_admin.put_object(f"{data_prefix}many/{index:02d}.txt", b"x")
    body = local_eas.get("/oss/objects", params={"prefix": "many/"}).json()
    assert [item["key"] for item in body["objects"]] == [f"many/{index:02d}.txt" for index in range(10)]
    assert body["is_truncated"] is True
    assert set(body["objects"][0]) == {"key", "size", "last_modified", "etag"}


def test_paging_with_the_marker_reaches_every_key(local_eas, oss_admin, data_prefix):
    for index in range(7):
        oss_admin.put_object(f"{data_prefix}paged/{index}.txt", b"p" * index)
    keys, marker = [], ""
    while True:
        page = local_eas.get("/oss/objects", params={"prefix": "paged/", "max_keys": 3, "marker": marker}).json()
        keys += [item["key"] for item in page["objects"]]
        if not page["is_truncated"]:
            break
        marker = page["next_marker"]
    assert keys == [f"paged/{index}.txt" for index in range(7)]


def test_get_streams_the_object_with_its_headers(local_eas, oss_admin, data_prefix):
    oss_admin.put_object(f"{data_prefix}docs/a b+ü.txt", "héllo wörld".encode(), headers={"Content-Type": "text/plain"})
    response = local_eas.get("/oss/objects/docs/a b+ü.txt")
    assert response.status_code == 200
    assert response.content == "héllo wörld".encode()
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["ETag"]


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=0-4", 206, b"01234", "bytes 0-4/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=0-3,5-6", 200, b"0123456789", None),  # several ranges: the whole object is a valid answer
    ],
)
def test_range_requests(local_eas, oss_admin, data_prefix, header, status, body, content_range):
    oss_admin.put_object(f"{data_prefix}range.txt", b"0123456789")
    response = local_eas.get("/oss/objects/range.txt", headers={"Range": header})
    assert response.status_code == status
    assert response.content == body
    assert response.headers.get("Content-Range") == content_range


# --- conditional requests ---------------------------------------------------------------------------------

LONG_AGO = "Fri, 13 Nov 2015 14:47:53 GMT"
FAR_AHEAD = "Fri, 13 Nov 2099 14:47:53 GMT"


@pytest.fixture
def versioned(local_eas, oss_admin, data_prefix) -> dict[str, str]:
    """An object, with its ETag (as the ETag header has it and as the listing has it) and Last-Modified."""
    oss_admin.put_object(f"{data_prefix}conditional/object.txt", b"version 1")
    response = local_eas.get("/oss/objects/conditional/object.txt")
    listed = local_eas.get("/oss/objects", params={"prefix": "conditional/object.txt"}).json()["objects"][0]
    return {"etag": response.headers["ETag"], "bare_etag": listed["etag"],
            "last_modified": response.headers["Last-Modified"]}


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        ({"If-None-Match": "{etag}"}, 304),
        ({"If-None-Match": "{bare_etag}"}, 304),  # as the listing gives it
        ({"If-None-Match": '"other", {etag}'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"other"'}, 200),
        ({"If-Modified-Since": "{last_modified}"}, 304),
        ({"If-Modified-Since": LONG_AGO}, 200),
        ({"If-Match": "{etag}"}, 200),
        ({"If-Match": "{bare_etag}"}, 200),
        ({"If-Match": "*"}, 200),
        ({"If-Match": '"0123456789ABCDEF0123456789ABCDEF"'}, 412),
        ({"If-Unmodified-Since": FAR_AHEAD}, 200),
        ({"If-Unmodified-Since": LONG_AGO}, 412),
        ({"If-Match": "{etag}", "If-None-Match": "{etag}"}, 304),
    ],
)
def test_a_conditional_get_is_decided_by_oss(local_eas, versioned, conditions, status):
    headers = {name: value.format(**versioned) for name, value in conditions.items()}
    response = local_eas.get("/oss/objects/conditional/object.txt", headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.content == b"version 1"
    elif status == 304:
        assert response.content == b""
        assert response.headers["ETag"] == versioned["etag"] and response.headers["X-Request-Id"]
    else:
        failed = "If-Match" if "If-Match" in conditions else "If-Unmodified-Since"
        assert response.json()["code"] == "PreconditionFailed" and response.json()["field"] == failed


def test_if_range_sends_the_whole_object_rather_than_a_range_of_another_version(local_eas, versioned):
    response = local_eas.get("/oss/objects/conditional/object.txt",
                             headers={"Range": "bytes=0-3", "If-Range": '"an-old-version"'})
    assert response.status_code == 200 and response.content == b"version 1"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("If-Match", 'W/"0123"'),  # weak: OSS compares strongly
        ("If-None-Match", '"unterminated'),
        ("If-Match", '"a" "b"'),
        ("If-Modified-Since", "yesterday"),
        ("If-Unmodified-Since", "2015-11-13T14:47:53Z"),
    ],
)
def test_a_condition_oss_cannot_read_is_a_400_naming_it(local_eas, versioned, header, value):
    response = local_eas.get("/oss/objects/conditional/object.txt", headers={header: value})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == header and header in response.json()["error"]


def test_put_if_none_match_star_creates_but_never_overwrites(local_eas, oss_admin, data_prefix):
    key = "conditional/create-only.txt"
    oss_admin.batch_delete_objects([f"{data_prefix}{key}"])
    url = f"{local_eas.url}/oss/objects/{key}"
    assert requests.put(url, data=b"first", headers={"If-None-Match": "*"}, timeout=30).status_code == 201
    refused = requests.put(url, data=b"second", headers={"If-None-Match": "*"}, timeout=30)
    assert refused.status_code == 412, refused.text
    assert refused.json()["code"] == "PreconditionFailed" and refused.json()["field"] == "If-None-Match"
    assert oss_admin.get_object(f"{data_prefix}{key}").read() == b"first"


@pytest.mark.parametrize(
    ("method", "header", "value"),
    [
        ("PUT", "If-Match", "{etag}"),
        ("PUT", "If-None-Match", "{etag}"),  # only * is a condition OSS can check on a write
        ("PUT", "If-Modified-Since", LONG_AGO),
        ("PUT", "If-Unmodified-Since", FAR_AHEAD),
        ("DELETE", "If-Match", "{etag}"),
        ("DELETE", "If-None-Match", "*"),
        ("DELETE", "If-Modified-Since", LONG_AGO),
        ("DELETE", "If-Unmodified-Since", FAR_AHEAD),
    ],
)
def test_a_condition_oss_cannot_check_on_a_write_is_refused_and_nothing_changes(local_eas, oss_admin, data_prefix,
                                                                               versioned, method, header, value):
    response = requests.request(method, f"{local_eas.url}/oss/objects/conditional/object.txt", data=b"version 2",
                                headers={header: value.format(**versioned)}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == header and header in response.json()["error"]
    assert oss_admin.get_object(f"{data_prefix}conditional/object.txt").read() == b"version 1"


def test_put_then_read_back_with_oss2_and_delete(local_eas, oss_admin, data_prefix):
    response = requests.put(f"{local_eas.url}/oss/objects/uploads/note.json", data=b'{"a": 1}',
                            headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 201
    assert response.json()["size"] == 8
    stored = oss_admin.get_object(f"{data_prefix}uploads/note.json")
    assert stored.read() == b'{"a": 1}'
    assert stored.headers["Content-Type"] == "application/json"

    assert requests.delete(f"{local_eas.url}/oss/objects/uploads/note.json", timeout=30).status_code == 204
    assert not oss_admin.object_exists(f"{data_prefix}uploads/note.json")


def test_a_missing_object_is_a_json_404_with_the_oss_codes(local_eas):
    response = local_eas.get("/oss/objects/no/such/object.txt")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "NoSuchKey"
    assert body["oss_request_id"] and body["request_id"]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read the workers' peak memory")
def test_a_large_streamed_put_and_get_never_buffer_the_object(local_eas, oss_admin, data_prefix):
    """256 MiB through the service both ways: no worker's peak memory grows by more than 32 MiB."""
    size, block = 256 * MIB, os.urandom(MIB)
    workers = local_eas.workers()
    assert workers, "no gunicorn workers found"
    # Let every worker import the SDKs and make its clients first: that is not what is measured.
    concurrent_calls(1, lambda: local_eas.get("/oss/objects", params={"max_keys": 1}).status_code)
    before = {pid: peak_rss_mib(pid) for pid in workers}

    def body():  # a generator: requests sends it chunked, nobody knows the size in advance
        for _ in range(size // MIB):
            yield block

    response = requests.put(f"{local_eas.url}/oss/objects/big/blob.bin", data=body(), timeout=300)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    assert oss_admin.head_object(f"{data_prefix}big/blob.bin").content_length == size

    digest = hashlib.md5()
    with requests.get(f"{local_eas.url}/oss/objects/big/blob.bin", stream=True, timeout=300) as download:
        assert download.status_code == 200
        for chunk in download.iter_content(MIB):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.md5(block * (size // MIB)).hexdigest()

    growth = {pid: peak_rss_mib(pid) - before[pid] for pid in workers}
    assert max(growth.values()) < 32, f"peak RSS growth per worker (MiB): {growth}"
    oss_admin.delete_object(f"{data_prefix}big/blob.bin")
{%- if cookiecutter.role == 'pai-default' %}


def test_the_pai_default_role_is_refused_another_bucket(tmp_path):
    """The PAI default role reaches the workspace's default bucket only (its RAM model is the dev kit's)."""
    with running_local_eas(tmp_path / "eas", "--quiet", "--env", "OSS_BUCKET=not-the-workspace-bucket") as running:
        denied = running.get("/oss/objects")
        assert denied.status_code == 403, denied.text
        assert denied.json()["code"] == "AccessDenied"
        assert running.get("/health").status_code == 200
{%- endif %}
