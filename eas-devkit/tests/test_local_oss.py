"""The local OSS, driven by the real, unmodified oss2 SDK over HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import logging
import math
import os
import re
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

import oss2
import pytest
import requests
from oss2.models import PartInfo

from eas_devkit.local.credentials import CredentialIssuer, IssuedCredentials
from eas_devkit.local.oss import ObjectStore, create_oss_app
from eas_devkit.local.oss.storage import new_crc64
from eas_devkit.local.ram import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Decision
from eas_devkit.local.servers import LoopbackServer

REGION = "cn-hangzhou"
BUCKET = "test-bucket"
ODD_KEY = "a b/ü+%.txt"
MiB = 1024 * 1024


@dataclass(frozen=True)
class StaticCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str

    def get_access_key_id(self) -> str:
        return self.access_key_id

    def get_access_key_secret(self) -> str:
        return self.access_key_secret

    def get_security_token(self) -> str:
        return self.security_token


class StaticProvider:
    """The smallest credentials provider oss2.ProviderAuth accepts."""

    def __init__(self, access_key_id: str, access_key_secret: str, security_token: str) -> None:
        self._credentials = StaticCredentials(access_key_id, access_key_secret, security_token)

    @classmethod
    def of(cls, credentials: IssuedCredentials) -> StaticProvider:
        return cls(credentials.access_key_id, credentials.access_key_secret, credentials.security_token)

    def get_credentials(self) -> StaticCredentials:
        return self._credentials


@dataclass
class Seen:
    method: str
    path: str
    transfer_encoding: str
    content_length: str
    peer: str  # the client's port: one per TCP connection


@dataclass
class LocalOss:
    """A store, an issuer and the OSS app on a loopback port; records what reached the app."""

    root: Path
    issuer: CredentialIssuer = field(default_factory=CredentialIssuer)
    authorize: Optional[Callable[[str, str, str, dict], bool]] = None
    clock: Callable[[], float] = time.time
    store_options: dict = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = ObjectStore(self.root, **self.store_options)
        self.store.create_bucket(BUCKET)
        self.app = create_oss_app(self.store, self.issuer, REGION, self.authorize, clock=self.clock)
        self.server = LoopbackServer(self._recording, name="oss").start()

    def _recording(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        finally:  # the handler, and so any upload, has finished by now
            self.seen.append(Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"],
                                  environ.get("HTTP_TRANSFER_ENCODING", ""), environ.get("CONTENT_LENGTH", ""),
                                  environ.get("REMOTE_PORT", "")))

    def provider(self) -> StaticProvider:
        return StaticProvider.of(self.issuer.current())

    def bucket(self, version: str = "v1", provider: object = None, name: str = BUCKET) -> oss2.Bucket:
        provider = provider or self.provider()
        if version == "v4":
            return oss2.Bucket(oss2.ProviderAuthV4(provider), self.server.url, name, region=REGION)
        return oss2.Bucket(oss2.ProviderAuth(provider), self.server.url, name)

    def blob_files(self) -> list[str]:
        return sorted(path.name for path in (self.root / BUCKET / "blobs").iterdir())

    def stop(self) -> None:
        self.server.stop()
        self.store.close()


@pytest.fixture(scope="module")
def oss(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOss]:
    local = LocalOss(tmp_path_factory.mktemp("oss"))
    yield local
    local.stop()


@pytest.fixture
def make_oss(tmp_path: Path) -> Iterator[Callable[..., LocalOss]]:
    """A dedicated server, for tests that need their own clock, issuer, limits or authorizer."""
    started: list[LocalOss] = []

    def make(**options: object) -> LocalOss:
        local = LocalOss(tmp_path / f"oss{len(started)}", **options)
        started.append(local)
        return local

    yield make
    for local in started:
        local.stop()


@pytest.fixture(params=["v1", "v4"])
def version(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def bucket(oss: LocalOss, version: str) -> oss2.Bucket:
    return oss.bucket(version)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


def crc64(data: bytes) -> int:
    crc = new_crc64()
    crc.update(data)
    return crc.crcValue


# Listing


def test_list_v1_and_v2_page_through_odd_keys_in_byte_order(oss: LocalOss, bucket: oss2.Bucket) -> None:
    root = unique("list") + "/"
    names = [ODD_KEY, "a b/x/1", "a b/x/2", "a/1", "b", "c%2Fd", "plain.txt", "zé", "z\U0001f600", "z~"]
    for name in names:
        oss.store.put_bytes(BUCKET, root + name, name.encode())
    expected = sorted((root + name for name in names), key=lambda key: key.encode())

    v1 = [obj.key for obj in oss2.ObjectIterator(bucket, prefix=root, max_keys=3)]
    v2 = [obj.key for obj in oss2.ObjectIteratorV2(bucket, prefix=root, max_keys=3)]

    assert v1 == expected
    assert v2 == expected
    assert [o.key for o in bucket.list_objects(prefix=root, marker=expected[3]).object_list] == expected[4:]
    assert [o.key for o in bucket.list_objects_v2(prefix=root, start_after=expected[3]).object_list] == expected[4:]


def test_list_with_delimiter_rolls_up_common_prefixes_across_pages(oss: LocalOss, bucket: oss2.Bucket) -> None:
    root = unique("dirs") + "/"
    for name in ["a b/x/1", "a b/x/2", "a b/y/1", ODD_KEY, "a b/z.txt", "top.txt"]:
        oss.store.put_bytes(BUCKET, root + name, b"-")

    first = bucket.list_objects(prefix=root + "a b/", delimiter="/", max_keys=2)
    assert first.is_truncated
    assert first.object_list == []
    assert first.prefix_list == [root + "a b/x/", root + "a b/y/"]
    assert first.next_marker == root + "a b/y/"

    entries_v1 = [(o.key, o.is_prefix()) for o in oss2.ObjectIterator(bucket, prefix=root + "a b/", delimiter="/",
                                                                      max_keys=1)]
    entries_v2 = [(o.key, o.is_prefix()) for o in oss2.ObjectIteratorV2(bucket, prefix=root + "a b/",
                                                                        delimiter="/", max_keys=1)]
    expected = [(root + "a b/x/", True), (root + "a b/y/", True), (root + "a b/z.txt", False),
                (root + ODD_KEY, False)]
    assert entries_v1 == expected
    assert entries_v2 == expected

    top = bucket.list_objects_v2(prefix=root, delimiter="/")
    assert not top.is_truncated
    assert [o.key for o in top.object_list] == [root + "top.txt"]
    assert top.prefix_list == [root + "a b/"]


def oss2_signed(bucket: oss2.Bucket, method: str, key: str = "", params: Optional[dict[str, str]] = None,
                headers: Optional[dict[str, str]] = None, **sign_options: object) -> oss2.http.Request:
    """A request signed by oss2's own signer, for tests that must send it raw or see the raw answer."""
    url = f"{bucket.endpoint}/{bucket.bucket_name}/{oss2.compat.urlquote(key, '')}"
    request = oss2.http.Request(method, url, params=params, headers=headers, region=REGION, product="oss")
    bucket.auth._sign_request(request, bucket.bucket_name, key, **sign_options)
    return request


def signed_request(bucket: oss2.Bucket, method: str, key: str = "", params: Optional[dict[str, str]] = None,
                   headers: Optional[dict[str, str]] = None, **sign_options: object) -> requests.Response:
    request = oss2_signed(bucket, method, key, params, headers, **sign_options)
    return requests.request(method, request.url, params=request.params, headers=dict(request.headers), timeout=10)


def test_list_xml_is_url_encoded_and_shaped_like_oss(oss: LocalOss, bucket: oss2.Bucket) -> None:
    key = unique("xml") + "/" + ODD_KEY
    oss.store.put_bytes(BUCKET, key, b"x")

    response = signed_request(bucket, "GET", params={"prefix": key, "encoding-type": "url", "max-keys": "10"})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    assert re.fullmatch(r"[0-9A-F]{24}", response.headers["x-oss-request-id"])
    assert "AliyunOSS" in response.headers["Server"]
    root = ET.fromstring(response.content)
    assert root.tag == "ListBucketResult"
    assert root.findtext("EncodingType") == "url"
    assert root.findtext("Prefix") == root.findtext("Contents/Key") == oss2.compat.urlquote(key)
    assert "%20" in root.findtext("Contents/Key") and "%2B" in root.findtext("Contents/Key")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", root.findtext("Contents/LastModified"))
    assert root.findtext("Contents/ETag") == '"' + hashlib.md5(b"x").hexdigest().upper() + '"'
    assert root.findtext("Contents/Type") == "Normal"
    assert root.findtext("Contents/Size") == "1"
    assert root.findtext("Contents/StorageClass") == "Standard"
    assert root.find("Contents/Owner/ID") is not None
    assert root.findtext("IsTruncated") == "false"

    v2 = ET.fromstring(signed_request(bucket, "GET", params={"list-type": "2", "prefix": key}).content)
    assert v2.findtext("Contents/Key") == key  # no encoding-type: names as they are
    assert v2.findtext("KeyCount") == "1"
    assert v2.find("Contents/Owner") is None  # v2 lists owners only with fetch-owner=true


def test_list_rejects_bad_arguments(bucket: oss2.Bucket) -> None:
    with pytest.raises(oss2.exceptions.InvalidArgument) as excinfo:
        bucket.list_objects(max_keys="many")
    assert excinfo.value.details["ArgumentName"] == "max-keys"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.list_objects_v2(continuation_token="***")


# Objects


def test_put_get_and_ranges(bucket: oss2.Bucket) -> None:
    key = unique("range") + "/" + ODD_KEY
    data = os.urandom(1000)
    put = bucket.put_object(key, data)
    assert put.status == 200
    assert put.etag == hashlib.md5(data).hexdigest().upper()
    assert put.crc == crc64(data)  # oss2 also checked it against what it sent

    whole = bucket.get_object(key)
    assert whole.status == 200
    assert whole.read() == data
    assert whole.server_crc == crc64(data)
    assert whole.object_type == "Normal"
    assert whole.headers["Accept-Ranges"] == "bytes"

    for byte_range, expected, content_range in [
        ((10, 19), data[10:20], "bytes 10-19/1000"),
        ((990, None), data[990:], "bytes 990-999/1000"),
        ((None, 10), data[-10:], "bytes 990-999/1000"),
    ]:
        part = bucket.get_object(key, byte_range=byte_range)
        assert part.status == 206
        assert part.content_range == content_range
        assert part.read() == expected
        assert part.server_crc == crc64(data)  # the whole object's CRC, as OSS sends it


def test_unsatisfiable_range_follows_oss_range_behavior(bucket: oss2.Bucket) -> None:
    key = unique("range-behavior")
    data = os.urandom(100)
    bucket.put_object(key, data)

    ignored = bucket.get_object(key, byte_range=(200, 300))  # default OSS behaviour: whole object, 200
    assert ignored.status == 200
    assert ignored.content_range is None
    assert ignored.read() == data

    standard = {"x-oss-range-behavior": "standard"}
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.get_object(key, byte_range=(200, None), headers=standard)
    assert (excinfo.value.status, excinfo.value.code) == (416, "InvalidRange")
    clamped = bucket.get_object(key, byte_range=(90, 500), headers=standard)
    assert (clamped.status, clamped.content_range, clamped.read()) == (206, "bytes 90-99/100", data[90:])


def test_put_from_a_non_seekable_stream_is_chunked(oss: LocalOss, bucket: oss2.Bucket) -> None:
    key = unique("chunked")
    chunks = [os.urandom(100_000) for _ in range(5)]

    result = bucket.put_object(key, iter(chunks), headers={"x-oss-meta-origin": "stream"})

    data = b"".join(chunks)
    assert result.etag == hashlib.md5(data).hexdigest().upper()
    assert result.crc == crc64(data)
    upload = [seen for seen in oss.seen if seen.method == "PUT" and seen.path.endswith(key)][-1]
    assert upload.transfer_encoding == "chunked"
    assert bucket.get_object(key).read() == data
    assert oss.store.head_object(BUCKET, key).metadata == {"x-oss-meta-origin": "stream"}


def test_one_client_keeps_its_connection_across_requests_as_oss_does(oss: LocalOss) -> None:
    """A sized upload, a chunked one, a download and an error: all on one TCP connection, as against the real
    OSS (werkzeug's development server, used before, closed every one: each request reconnected)."""
    bucket = oss.bucket("v1")
    key = unique("keepalive")
    first = len(oss.seen)

    bucket.put_object(key, b"sized")
    bucket.put_object(key, iter([b"chunked ", b"body"]))
    assert bucket.get_object(key).read() == b"chunked body"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object(key + "-missing")
    assert bucket.get_object(key).read() == b"chunked body"

    peers = {seen.peer for seen in oss.seen[first:]}
    assert len(oss.seen[first:]) == 5 and len(peers) == 1, peers


def test_head_meta_and_exists(bucket: oss2.Bucket) -> None:
    key = unique("head") + "/" + ODD_KEY
    bucket.put_object(key, b"hello", headers={"Content-Type": "text/plain", "x-oss-meta-owner": "me"})

    head = bucket.head_object(key)
    assert head.content_type == "text/plain"
    assert head.content_length == 5
    assert head.etag == hashlib.md5(b"hello").hexdigest().upper()
    assert head.object_type == "Normal"
    assert head.server_crc == crc64(b"hello")
    assert head.headers["x-oss-meta-owner"] == "me"
    assert head.last_modified == pytest.approx(time.time(), abs=5)

    meta = bucket.get_object_meta(key)
    assert (meta.content_length, meta.etag) == (5, head.etag)
    assert bucket.object_exists(key)
    assert not bucket.object_exists(key + ".missing")


def test_conditional_requests_and_forbid_overwrite(bucket: oss2.Bucket) -> None:
    key = unique("conditional")
    etag = bucket.put_object(key, b"v1").etag

    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object(key, headers={"If-None-Match": f'"{etag}"'})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object(key, headers={"If-Match": '"0123456789ABCDEF0123456789ABCDEF"'})
    assert bucket.get_object(key, headers={"If-Match": etag}).read() == b"v1"

    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.put_object(key, b"v2", headers={"x-oss-forbid-overwrite": "true"})
    assert (excinfo.value.status, excinfo.value.code) == (409, "FileAlreadyExists")
    assert bucket.get_object(key).read() == b"v1"


def test_conditions_on_the_last_modified_time(bucket: oss2.Bucket) -> None:
    key = unique("conditional-time")
    bucket.put_object(key, b"v1")
    last_modified = bucket.get_object(key).headers["Last-Modified"]
    long_ago, far_ahead = "Fri, 13 Nov 2015 14:47:53 GMT", "Fri, 13 Nov 2099 14:47:53 GMT"

    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object(key, headers={"If-Modified-Since": last_modified})
    assert bucket.get_object(key, headers={"If-Modified-Since": long_ago}).read() == b"v1"
    assert bucket.get_object(key, headers={"If-Modified-Since": "not a date"}).read() == b"v1"  # ignored, as OSS
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object(key, headers={"If-Unmodified-Since": long_ago})
    assert bucket.get_object(key, headers={"If-Unmodified-Since": far_ahead}).read() == b"v1"


def test_forbid_overwrite_on_a_multipart_upload(bucket: oss2.Bucket) -> None:
    """OSS checks x-oss-forbid-overwrite when a multipart upload starts and again when it completes."""
    forbid = {"x-oss-forbid-overwrite": "true"}
    existing = unique("multipart-forbid")
    bucket.put_object(existing, b"v1")
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.init_multipart_upload(existing, headers=forbid)
    assert (excinfo.value.status, excinfo.value.code) == (409, "FileAlreadyExists")

    raced = unique("multipart-forbid")
    upload_id = bucket.init_multipart_upload(raced, headers=forbid).upload_id
    part = bucket.upload_part(raced, upload_id, 1, b"multipart")
    bucket.put_object(raced, b"written meanwhile")
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.complete_multipart_upload(raced, upload_id, [oss2.models.PartInfo(1, part.etag)], headers=forbid)
    assert (excinfo.value.status, excinfo.value.code) == (409, "FileAlreadyExists")
    assert bucket.get_object(raced).read() == b"written meanwhile"
    bucket.abort_multipart_upload(raced, upload_id)  # the upload is still there


def test_a_head_error_travels_in_x_oss_err(oss: LocalOss, version: str) -> None:
    bucket = oss.bucket(version)
    with pytest.raises(oss2.exceptions.NoSuchKey) as excinfo:
        bucket.head_object(unique("missing"))
    error = excinfo.value
    assert error.status == 404
    assert error.body == b""
    decoded = ET.fromstring(base64.b64decode(error.headers["x-oss-err"]))
    assert decoded.findtext("Code") == "NoSuchKey"
    assert re.fullmatch(r"[0-9A-F]{24}", decoded.findtext("RequestId"))
    assert decoded.findtext("RequestId") == error.request_id

    with pytest.raises(oss2.exceptions.NoSuchBucket):  # object_exists tells a missing bucket from a missing key
        oss.bucket(version, name="no-such-bucket").object_exists("anything")


def test_not_found_errors(oss: LocalOss, bucket: oss2.Bucket) -> None:
    with pytest.raises(oss2.exceptions.NoSuchKey) as excinfo:
        bucket.get_object("no/such/key")
    assert excinfo.value.details["Key"] == "no/such/key"
    assert excinfo.value.details["Message"] == "The specified key does not exist."
    missing = oss.bucket(bucket.auth.auth_version(), name="no-such-bucket")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        missing.get_object("key")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        missing.list_objects()


def test_batch_delete_takes_keys_xml_cannot_carry(bucket: oss2.Bucket) -> None:
    keys = [unique("中文!@#$%^&*()-=文件\x0c") + ".txt", unique("<hello>"), unique("tab\there")]
    for key in keys:
        bucket.put_object(key, b"x")
    # oss2 writes the form feed raw into the XML body (XML 1.0 cannot carry it); OSS accepts it all the same
    assert sorted(bucket.batch_delete_objects(keys).deleted_keys) == sorted(keys)
    assert not any(bucket.object_exists(key) for key in keys)


def test_delete_and_batch_delete(oss: LocalOss, bucket: oss2.Bucket) -> None:
    root = unique("delete") + "/"
    keys = [root + ODD_KEY, root + "c%2Fd", root + "plain"]
    for key in keys:
        bucket.put_object(key, b"x")

    assert bucket.delete_object(keys[2]).status == 204
    assert bucket.delete_object(keys[2]).status == 204  # absent: still 204, as OSS
    result = bucket.batch_delete_objects(keys[:2] + [root + "never-existed"])

    assert result.deleted_keys == keys[:2] + [root + "never-existed"]
    assert [o.key for o in oss2.ObjectIterator(bucket, prefix=root)] == []


def test_put_checks_content_md5(bucket: oss2.Bucket) -> None:
    key = unique("md5")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object(key, b"data", headers={"Content-MD5": wrong})
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert bucket.put_object(key, b"data", headers={"Content-MD5": right}).status == 200
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object(key, b"data", headers={"Content-MD5": "not base64"})


def test_a_put_without_length_or_chunking_is_refused(oss: LocalOss, bucket: oss2.Bucket) -> None:
    request = oss2_signed(bucket, "PUT", unique("no-length"))
    connection = http.client.HTTPConnection("127.0.0.1", oss.server.port, timeout=10)
    try:
        connection.putrequest("PUT", urlsplit(request.url).path)
        for name, value in request.headers.items():
            if value is not None:
                connection.putheader(name, value)
        connection.endheaders()  # no Content-Length, no Transfer-Encoding
        response = connection.getresponse()
        assert response.status == 411
        assert ET.fromstring(response.read()).findtext("Code") == "MissingContentLength"
    finally:
        connection.close()


def test_symlinks_read_as_their_target(bucket: oss2.Bucket) -> None:
    key, link = unique("target") + "/ü x", unique("link")
    bucket.put_object(key, b"hello")
    bucket.put_symlink(key, link, headers={"x-oss-meta-kind": "link"})
    assert bucket.get_symlink(link).target_key == key
    assert bucket.get_object(link).read() == b"hello"
    head = bucket.head_object(link)
    assert (head.content_length, head.headers["x-oss-meta-kind"]) == (5, "link")
    assert head.etag == hashlib.md5(b"hello").hexdigest().upper()
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.get_symlink(key)
    assert excinfo.value.code == "NotSymlink"
    bucket.delete_object(key)
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.get_object(link)
    assert (excinfo.value.status, excinfo.value.code) == (404, "SymlinkTargetNotExist")


@pytest.mark.parametrize(("headers", "named"), [
    ({"x-oss-server-side-encryption": "AES256"}, "x-oss-server-side-encryption"),
    ({"x-oss-server-side-encryption": "KMS", "x-oss-server-side-encryption-key-id": "k"},
     "x-oss-server-side-encryption"),
    ({"x-oss-callback": base64.b64encode(b'{"callbackUrl":"127.0.0.1:9/cb"}').decode()}, "x-oss-callback"),
    ({"x-oss-request-payer": "requester"}, "x-oss-request-payer"),
    ({"x-oss-storage-class": "Archive"}, "x-oss-storage-class"),
])
def test_headers_it_does_not_implement_are_refused_not_ignored(bucket: oss2.Bucket, headers: dict,
                                                               named: str) -> None:
    key = unique("refused")
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.put_object(key, b"x", headers=headers)
    error = excinfo.value
    assert (error.status, error.code) == (501, "NotImplemented")
    assert named in error.message
    assert error.request_id and error.details["HostId"]  # OSS's error XML, not an HTML page
    assert not bucket.object_exists(key)


def test_operations_it_does_not_implement_are_refused(bucket: oss2.Bucket) -> None:
    key = unique("refused")
    bucket.put_object(key, b"x")
    for attempt, named in [
        (lambda: bucket.restore_object(key), "restore"),
        (lambda: bucket.get_object(key, process="image/resize,w_10"), "x-oss-process"),
        (lambda: bucket.copy_object(BUCKET, key, key + "-copy", headers={"x-oss-traffic-limit": "819200"}),
         "x-oss-traffic-limit"),
        (lambda: bucket.put_bucket_lifecycle(oss2.models.BucketLifecycle([])), "lifecycle"),
        (lambda: bucket.create_live_channel(key + "-live", oss2.models.LiveChannelInfo(
            target=oss2.models.LiveChannelInfoTarget())), "live"),  # was stored as an object named so
    ]:
        with pytest.raises(oss2.exceptions.ServerError) as excinfo:
            attempt()
        assert (excinfo.value.status, excinfo.value.code) == (501, "NotImplemented"), named
        assert named in excinfo.value.message
    assert bucket.get_object(key).read() == b"x"
    assert not bucket.object_exists(key + "-live")


def test_an_unknown_x_oss_header_is_signed_and_ignored_as_oss_does(bucket: oss2.Bucket) -> None:
    key = unique("custom")
    bucket.put_object(key, b"x", headers={"x-oss-user": "user-001"})
    assert bucket.get_object(key).read() == b"x"


def test_errors_carry_oss_detailed_code(oss: LocalOss, bucket: oss2.Bucket) -> None:
    for attempt in (lambda: bucket.get_object("no/such/key"), lambda: bucket.get_object_meta("no/such/key")):
        with pytest.raises(oss2.exceptions.NoSuchKey) as excinfo:
            attempt()
        assert excinfo.value.ec == "0026-00000001"
        assert excinfo.value.headers.get("x-oss-ec") == "0026-00000001"


# Copy, append, metadata, ACL and tagging


def test_upload_part_copy_copies_the_ranges(bucket: oss2.Bucket) -> None:
    source, target = unique("part-copy-source"), unique("part-copy-target")
    data = os.urandom(300 * 1024)
    bucket.put_object(source, data)
    upload_id = bucket.init_multipart_upload(target).upload_id
    first = bucket.upload_part_copy(BUCKET, source, (0, 200 * 1024 - 1), target, upload_id, 1)
    second = bucket.upload_part_copy(BUCKET, source, (200 * 1024, len(data) - 1), target, upload_id, 2)
    assert first.etag == hashlib.md5(data[:200 * 1024]).hexdigest().upper()
    bucket.complete_multipart_upload(target, upload_id, [PartInfo(1, first.etag), PartInfo(2, second.etag)])
    assert bucket.get_object(target).read() == data  # was an empty object: the copy source was ignored
    whole_id = bucket.init_multipart_upload(target).upload_id
    whole = bucket.upload_part_copy(BUCKET, source, None, target, whole_id, 1)
    assert bucket.list_parts(target, whole_id).parts[0].size == len(data)
    assert whole.etag == hashlib.md5(data).hexdigest().upper()
    bucket.abort_multipart_upload(target, whole_id)


def test_copy_object_copies_or_replaces_metadata(bucket: oss2.Bucket) -> None:
    source, target = unique("copy-source"), unique("copy-target")
    stored = {"Cache-Control": "no-cache", "Content-Disposition": "attachment; filename=a.txt",
              "Content-Encoding": "identity", "Content-Language": "en", "Expires": "Thu, 01 Dec 2039 16:00:00 GMT"}
    put = bucket.put_object(source, b"payload", headers={**stored, "Content-Type": "text/plain",
                                                         "x-oss-meta-owner": "me"})
    copied = bucket.copy_object(BUCKET, source, target)
    assert copied.etag == put.etag
    head = bucket.head_object(target)
    assert head.content_type == "text/plain"
    assert head.headers["x-oss-meta-owner"] == "me"
    for name, value in stored.items():
        assert head.headers[name] == value
    bucket.update_object_meta(target, {"Content-Type": "text/csv", "x-oss-meta-state": "new"})
    head = bucket.head_object(target)
    assert (head.content_type, head.headers.get("x-oss-meta-state")) == ("text/csv", "new")
    assert "x-oss-meta-owner" not in head.headers and "Cache-Control" not in head.headers
    assert bucket.get_object(target).read() == b"payload"
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.copy_object(BUCKET, source, target, headers={"x-oss-copy-source-if-match": '"0000"'})
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.copy_object(BUCKET, source, target, headers={"x-oss-storage-class": "IA"})
    assert (excinfo.value.status, excinfo.value.code) == (501, "NotImplemented")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.copy_object(BUCKET, unique("missing"), target)


def test_content_type_defaults_to_octet_stream_when_the_request_has_none(oss: LocalOss,
                                                                         bucket: oss2.Bucket) -> None:
    key = unique("presigned") + ".csv"
    url = bucket.sign_url("PUT", key, 60)
    response = requests.put(url, data=b"a,b\n", timeout=10)  # a presigned PUT sends no Content-Type
    assert response.status_code == 200
    assert bucket.head_object(key).content_type == "application/octet-stream"


def test_append_object(bucket: oss2.Bucket) -> None:
    key = unique("append")
    first = bucket.append_object(key, 0, b"hello ", headers={"Content-Type": "text/plain"})
    assert first.next_position == 6
    second = bucket.append_object(key, first.next_position, b"world")
    assert second.next_position == 11 and second.crc == crc64(b"hello world")
    assert bucket.get_object(key).read() == b"hello world"
    head = bucket.head_object(key)
    assert (head.object_type, head.content_type) == ("Appendable", "text/plain")
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as excinfo:
        bucket.append_object(key, 3, b"!")
    assert excinfo.value.next_position == 11
    normal = unique("normal")
    bucket.put_object(normal, b"x")
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object(normal, 1, b"y")


def test_object_acl_and_tagging(bucket: oss2.Bucket) -> None:
    key = unique("acl")
    bucket.put_object(key, b"x", headers={"x-oss-object-acl": "public-read", "x-oss-tagging": "a=1&b=two%20words"})
    assert bucket.get_object_acl(key).acl == "public-read"
    assert bucket.get_object_tagging(key).tag_set.tagging_rule == {"a": "1", "b": "two words"}
    assert bucket.head_object(key).headers["x-oss-tagging-count"] == "2"
    bucket.put_object_acl(key, oss2.OBJECT_ACL_PRIVATE)
    assert bucket.get_object_acl(key).acl == "private"
    rule = oss2.models.TaggingRule()
    rule.add("c", "3")
    bucket.put_object_tagging(key, oss2.models.Tagging(rule))
    assert bucket.get_object_tagging(key).tag_set.tagging_rule == {"c": "3"}
    bucket.delete_object_tagging(key)
    assert bucket.get_object_tagging(key).tag_set.tagging_rule == {}
    too_many = "&".join(f"k{i}=v" for i in range(11))
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.put_object(unique("tags"), b"x", headers={"x-oss-tagging": too_many})
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.put_object(unique("acl"), b"x", headers={"x-oss-object-acl": "everyone"})


def test_text_is_gzipped_when_the_client_accepts_it(bucket: oss2.Bucket) -> None:
    key = unique("text") + ".txt"
    content = b"some text " * 400
    bucket.put_object(key, content, headers={"Content-Type": "text/plain"})
    result = bucket.get_object(key, headers={"Accept-Encoding": "gzip"})
    assert result.headers["Content-Encoding"] == "gzip" and result.content_length is None
    assert result.read() == content
    plain = bucket.get_object(key)  # oss2 asks for no encoding by default
    assert "Content-Encoding" not in plain.headers and plain.content_length == len(content)
    ranged = bucket.get_object(key, byte_range=(0, 9), headers={"Accept-Encoding": "gzip"})
    assert ranged.read() == content[:10] and "Content-Encoding" not in ranged.headers


def test_traffic_limit_paces_the_transfer(oss: LocalOss) -> None:
    bucket = oss.bucket()  # one signature version: the pacing takes a second
    key = unique("paced")
    bucket.put_object(key, b"x" * 150 * 1024)
    started = time.monotonic()
    body = bucket.get_object(key, headers={"x-oss-traffic-limit": str(100 * 1024 * 8)}).read()  # 100 KiB/s
    assert len(body) == 150 * 1024 and time.monotonic() - started >= 1.0
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.get_object(key, headers={"x-oss-traffic-limit": "1"})


# Buckets


def test_bucket_lifecycle_info_and_location(oss: LocalOss, version: str) -> None:
    name = unique("made").lower()
    made = oss.bucket(version, name=name)
    made.create_bucket()
    service = oss2.Service(made.auth, oss.server.url, region=REGION)
    assert name in [listed.name for listed in service.list_buckets().buckets]
    info = made.get_bucket_info()
    assert (info.name, info.location, info.acl.grant) == (name, f"oss-{REGION}", "private")
    assert made.get_bucket_location().location == f"oss-{REGION}"
    made.put_object("k", b"x")
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        made.delete_bucket()
    made.delete_object("k")
    made.delete_bucket()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        made.get_bucket_info()
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        oss.bucket(version, name=unique("cold").lower()).create_bucket(
            input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_ARCHIVE))
    assert excinfo.value.status == 501


def test_list_multipart_uploads(bucket: oss2.Bucket) -> None:
    root = unique("uploads") + "/"
    ids = [bucket.init_multipart_upload(root + "same").upload_id for _ in range(3)]
    bucket.init_multipart_upload(root + "dir/inner")
    listed = list(oss2.MultipartUploadIterator(bucket, prefix=root, delimiter="/", max_uploads=2))
    assert [upload.upload_id for upload in listed if not upload.is_prefix()] == ids  # in the order they began
    assert [upload.key for upload in listed if upload.is_prefix()] == [root + "dir/"]
    for upload in oss2.MultipartUploadIterator(bucket, prefix=root):
        bucket.abort_multipart_upload(upload.key, upload.upload_id)
    assert list(oss2.MultipartUploadIterator(bucket, prefix=root)) == []


# Multipart


def test_resumable_upload_and_download_in_parts(bucket: oss2.Bucket, tmp_path: Path) -> None:
    key = unique("resumable") + "/" + ODD_KEY
    data = os.urandom(1_300_000)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    part_size = 256 * 1024

    oss2.resumable_upload(bucket, key, str(source), multipart_threshold=200 * 1024, part_size=part_size,
                          num_threads=2, store=oss2.ResumableStore(root=str(tmp_path)))

    head = bucket.head_object(key)
    part_md5s = b"".join(hashlib.md5(data[i:i + part_size]).digest() for i in range(0, len(data), part_size))
    assert head.etag == f"{hashlib.md5(part_md5s).hexdigest().upper()}-{math.ceil(len(data) / part_size)}"
    assert head.object_type == "Multipart"
    assert head.server_crc == crc64(data)

    target = tmp_path / "target.bin"
    oss2.resumable_download(bucket, key, str(target), multiget_threshold=200 * 1024, part_size=300 * 1024,
                            num_threads=3, store=oss2.ResumableDownloadStore(root=str(tmp_path)))
    assert target.read_bytes() == data


def test_multipart_list_parts_abort_and_complete_errors(bucket: oss2.Bucket) -> None:
    key = unique("multipart")
    first, second = os.urandom(100 * 1024), os.urandom(10)
    upload_id = bucket.init_multipart_upload(key).upload_id
    etags = [bucket.upload_part(key, upload_id, number, data).etag
             for number, data in ((1, first), (2, second))]

    listed = bucket.list_parts(key, upload_id)
    assert [(p.part_number, p.etag, p.size) for p in listed.parts] == [(1, etags[0], len(first)),
                                                                        (2, etags[1], len(second))]
    assert not listed.is_truncated

    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.complete_multipart_upload(key, upload_id, [PartInfo(1, etags[0]), PartInfo(2, "0" * 32)])
    assert excinfo.value.code == "InvalidPart"

    unordered = ("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>\"{1}\"</ETag></Part>"
                 "<Part><PartNumber>1</PartNumber><ETag>\"{0}\"</ETag></Part></CompleteMultipartUpload>")
    url = bucket.sign_url("POST", key, 60, params={"uploadId": upload_id})
    response = requests.post(url, data=unordered.format(*etags).encode(), timeout=10)
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "InvalidPartOrder"

    small = bucket.upload_part(key, upload_id, 1, b"too small").etag
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.complete_multipart_upload(key, upload_id, [PartInfo(1, small), PartInfo(2, etags[1])])
    assert excinfo.value.code == "EntityTooSmall"

    assert bucket.abort_multipart_upload(key, upload_id).status == 204
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.list_parts(key, upload_id)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.upload_part(key, upload_id, 3, b"late")
    assert not bucket.object_exists(key)


# Presigned URLs


def test_presigned_urls(oss: LocalOss, bucket: oss2.Bucket) -> None:
    key = unique("presigned") + "/" + ODD_KEY
    bucket.put_object(key, b"shared")

    url = bucket.sign_url("GET", key, 60)
    fetched = requests.get(url, timeout=10)
    assert (fetched.status_code, fetched.content) == (200, b"shared")
    assert ("x-oss-signature-version=OSS4-HMAC-SHA256" in url) == (bucket.auth.auth_version() == "v4")

    upload_url = bucket.sign_url("PUT", key + ".new", 60, headers={"Content-Type": "text/plain"})
    uploaded = requests.put(upload_url, data=b"via url", headers={"Content-Type": "text/plain"}, timeout=10)
    assert uploaded.status_code == 200
    assert oss.store.read_bytes(BUCKET, key + ".new") == b"via url"

    tampered = requests.get(url.replace(oss2.compat.urlquote(key, ""), oss2.compat.urlquote(key + "x", "")),
                            timeout=10)
    assert tampered.status_code == 403
    assert ET.fromstring(tampered.content).findtext("Code") == "SignatureDoesNotMatch"


def test_v4_additional_headers_are_signed(oss: LocalOss) -> None:
    bucket = oss.bucket("v4")
    key = unique("additional") + "/" + ODD_KEY
    bucket.put_object(key, b"0123456789")

    url = bucket.sign_url("GET", key, 60, headers={"Range": "bytes=2-4"}, additional_headers=["range"])
    assert "x-oss-additional-headers=range" in url
    assert requests.get(url, headers={"Range": "bytes=2-4"}, timeout=10).content == b"234"
    assert requests.get(url, headers={"Range": "bytes=2-5"}, timeout=10).status_code == 403

    response = signed_request(bucket, "GET", key, headers={"Range": "bytes=0-1"}, in_additional_headers=["range"])
    assert "AdditionalHeaders=range" in response.request.headers["Authorization"]
    assert (response.status_code, response.content) == (206, b"01")


# Authentication and authorization


def test_anonymous_requests_follow_bucket_and_object_acls(make_oss: Callable[..., LocalOss]) -> None:
    local = make_oss()
    owner, anonymous = local.bucket(), oss2.Bucket(oss2.AnonymousAuth(), local.server.url, BUCKET)
    owner.put_object("shared", b"public", headers={"x-oss-object-acl": "public-read"})
    owner.put_object("secret", b"private")
    assert anonymous.get_object("shared").read() == b"public"  # the object's ACL overrides the private bucket
    for attempt in (lambda: anonymous.get_object("secret"), lambda: anonymous.put_object("new", b"x"),
                    lambda: anonymous.list_objects()):
        with pytest.raises(oss2.exceptions.AccessDenied):
            attempt()
    owner.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    assert owner.get_bucket_acl().acl == "public-read-write"
    anonymous.put_object("new", b"x")
    assert anonymous.get_object("secret").read() == b"private"
    owner.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_object("new")


def test_signature_version_2(oss: LocalOss) -> None:
    v2 = oss2.Bucket(oss2.ProviderAuthV2(oss.provider()), oss.server.url, BUCKET)
    key = unique("v2") + "/ü x+y"
    v2.put_object(key, b"two", headers={"x-oss-meta-a": "1"})
    assert v2.get_object(key, byte_range=(0, 1)).read() == b"tw"
    assert [info.key for info in v2.list_objects(prefix=key).object_list] == [key]
    assert requests.get(v2.sign_url("GET", key, 60), timeout=10).content == b"two"
    forged = oss2.Bucket(oss2.ProviderAuthV2(StaticProvider(oss.provider().get_credentials().access_key_id,
                                                            "not-the-secret",
                                                            oss.provider().get_credentials().security_token)),
                         oss.server.url, BUCKET)
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        forged.get_object(key)


def test_credential_errors(oss: LocalOss, version: str) -> None:
    key = unique("auth")
    oss.store.put_bytes(BUCKET, key, b"x")
    current = oss.issuer.current()

    cases = [
        (StaticProvider("STS.NOSUCHKEY", "secret", "token"), "InvalidAccessKeyId"),
        (StaticProvider(current.access_key_id, current.access_key_secret, "CAISbogus"), "InvalidSecurityToken"),
        (StaticProvider(current.access_key_id, current.access_key_secret, ""), "InvalidSecurityToken"),
        (StaticProvider(current.access_key_id, "wrong-secret", current.security_token), "SignatureDoesNotMatch"),
    ]
    for provider, code in cases:
        with pytest.raises(oss2.exceptions.ServerError) as excinfo:
            oss.bucket(version, provider).get_object(key)
        assert (excinfo.value.status, excinfo.value.code) == (403, code)
        assert current.security_token.encode() not in excinfo.value.body
        assert current.access_key_secret.encode() not in excinfo.value.body

    mismatch = excinfo.value.details
    assert "StringToSign" in mismatch
    assert ("CanonicalRequest" in mismatch) == (version == "v4")

    anonymous = oss2.Bucket(oss2.AnonymousAuth(), oss.server.url, BUCKET)
    with pytest.raises(oss2.exceptions.AccessDenied) as excinfo:
        anonymous.get_object(key)
    assert excinfo.value.message == "You have no right to access this object because of bucket acl."


def test_v4_signed_for_another_region_is_refused(oss: LocalOss) -> None:
    elsewhere = oss2.Bucket(oss2.ProviderAuthV4(oss.provider()), oss.server.url, BUCKET, region="cn-shanghai")
    with pytest.raises(oss2.exceptions.InvalidArgument) as excinfo:
        elsewhere.list_objects()
    # OSS's own words and detailed code (oss2's test_exception_ec checks both)
    assert excinfo.value.message == "Invalid signing region in Authorization header."
    assert excinfo.value.ec == "0002-00000226"
    assert "cn-shanghai" in excinfo.value.details["Region"]


def test_expired_credentials(make_oss: Callable[..., LocalOss], version: str) -> None:
    stale = CredentialIssuer(clock=lambda: time.time() - 2 * 3600)  # issued two hours ago, for one hour
    local = make_oss(issuer=stale)
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        local.bucket(version).list_objects()
    assert (excinfo.value.status, excinfo.value.code) == (403, "SecurityTokenExpired")


def test_skewed_clock_and_expired_presigned_urls(make_oss: Callable[..., LocalOss]) -> None:
    local = make_oss(clock=lambda: time.time() + 20 * 60)  # the server lives 20 minutes ahead
    for version in ("v1", "v4"):
        bucket = local.bucket(version)
        with pytest.raises(oss2.exceptions.ServerError) as excinfo:
            bucket.get_object("key")
        assert (excinfo.value.status, excinfo.value.code) == (403, "RequestTimeTooSkewed")

        response = requests.get(bucket.sign_url("GET", "key", 60), timeout=10)
        error = ET.fromstring(response.content)
        assert response.status_code == 403
        assert (error.findtext("Code"), error.findtext("Message")) == ("AccessDenied", "Request has expired.")


def test_authorize_sees_ram_actions_and_can_deny(make_oss: Callable[..., LocalOss], tmp_path: Path) -> None:
    asked: list[tuple[str, str, str]] = []
    contexts: list[dict] = []

    def authorize(action: str, resource: str, access_key_id: str, context: dict) -> Decision:
        asked.append((action, resource, access_key_id))
        contexts.append(context)
        if resource.endswith("/boom"):
            raise RuntimeError("policy engine failure")
        return IMPLICIT_DENY if action == "oss:DeleteObject" else ALLOW

    local = make_oss(authorize=authorize)
    bucket = local.bucket("v4")
    access_key_id = local.issuer.current().access_key_id
    bucket.put_object("k", b"x")
    bucket.get_object("k").read()
    bucket.object_exists("k")
    bucket.list_objects(prefix="models/", delimiter="/")
    upload_id = bucket.init_multipart_upload("m").upload_id
    bucket.upload_part("m", upload_id, 1, b"x")
    bucket.list_parts("m", upload_id)
    bucket.abort_multipart_upload("m", upload_id)
    with pytest.raises(oss2.exceptions.AccessDenied) as excinfo:
        bucket.delete_object("k")
    assert excinfo.value.message == "You have no right to access this object because of bucket acl."
    assert excinfo.value.ec == "0003-00000001"  # no Allow matched: an implicit deny, as OSS words it
    assert denial_detail(excinfo.value) == {"PolicyType": "AccountLevelIdentityBasedPolicy",
                                            "AuthPrincipalType": "AssumedRoleUser",
                                            "NoPermissionType": "ImplicitDeny", "AuthAction": "oss:DeleteObject"}
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.batch_delete_objects(["k"])

    # As RAM sees a request: the region and the bucket owner's account (unknown to this app: *).
    obj, bucket_arn = f"acs:oss:{REGION}:*:{BUCKET}/k", f"acs:oss:{REGION}:*:{BUCKET}"
    upload_arn = f"acs:oss:{REGION}:*:{BUCKET}/m"
    assert asked == [(action, resource, access_key_id) for action, resource in [
        ("oss:PutObject", obj), ("oss:GetObject", obj), ("oss:GetObject", obj), ("oss:ListObjects", bucket_arn),
        ("oss:PutObject", upload_arn), ("oss:PutObject", upload_arn), ("oss:ListParts", upload_arn),
        ("oss:AbortMultipartUpload", upload_arn), ("oss:DeleteObject", obj), ("oss:DeleteObject", obj),
    ]]
    assert contexts[3] == {"oss:Prefix": "models/", "oss:Delimiter": "/"}
    assert not any(contexts[:3] + contexts[4:])
    assert local.store.read_bytes(BUCKET, "k") == b"x"


def test_a_deny_statement_is_an_explicit_deny_as_oss_words_it(make_oss: Callable[..., LocalOss]) -> None:
    local = make_oss(authorize=lambda action, resource, access_key_id, context: (
        EXPLICIT_DENY if action == "oss:PutObject" else ALLOW))
    with pytest.raises(oss2.exceptions.AccessDenied) as excinfo:
        local.bucket("v4").put_object("k", b"x")
    assert (excinfo.value.message, excinfo.value.ec) == ("Access denied by bucket policy.", "0003-00000201")
    assert denial_detail(excinfo.value)["NoPermissionType"] == "ExplicitDeny"
    assert denial_detail(excinfo.value)["AuthAction"] == "oss:PutObject"


def denial_detail(error: oss2.exceptions.OssError) -> dict[str, str]:
    detail = ET.fromstring(error.body).find("AccessDeniedDetail")
    assert detail is not None, error.body
    return {child.tag: child.text or "" for child in detail}


def test_an_unexpected_failure_is_an_internal_error_without_secrets(make_oss: Callable[..., LocalOss],
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    def authorize(action: str, resource: str, access_key_id: str, context: dict) -> bool:
        raise RuntimeError("policy engine failure")

    local = make_oss(authorize=authorize)
    credentials = local.issuer.current()
    with caplog.at_level(logging.ERROR, logger="eas_devkit.local.oss"), \
            pytest.raises(oss2.exceptions.ServerError) as excinfo:
        local.bucket("v1").get_object("boom")
    assert (excinfo.value.status, excinfo.value.code) == (500, "InternalError")
    assert b"Traceback" not in excinfo.value.body
    logged = caplog.text
    assert "policy engine failure" in logged
    assert credentials.security_token not in logged and credentials.access_key_secret not in logged


# Limits, failures and memory


def test_entity_too_large(make_oss: Callable[..., LocalOss]) -> None:
    local = make_oss(store_options={"max_object_size": 1000})
    bucket = local.bucket("v1")
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.put_object("sized", b"x" * 1001)
    assert (excinfo.value.status, excinfo.value.code) == (400, "EntityTooLarge")
    with pytest.raises(oss2.exceptions.ServerError) as excinfo:
        bucket.put_object("streamed", iter([b"x" * 600, b"x" * 600]))
    assert excinfo.value.code == "EntityTooLarge"
    assert local.blob_files() == []


class FailingReader(io.RawIOBase):
    """A seekable file whose reads fail part-way: oss2 sends it with a Content-Length it never completes."""

    def __init__(self, size: int, fail_after: int) -> None:
        self._size, self._fail_after, self._position = size, fail_after, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = {io.SEEK_SET: offset, io.SEEK_CUR: self._position + offset,
                          io.SEEK_END: self._size + offset}[whence]
        return self._position

    def read(self, size: int = -1) -> bytes:
        if self._position >= self._fail_after:
            raise RuntimeError("the disk went away")
        size = self._size - self._position if size < 0 else size
        chunk = b"x" * min(size, self._fail_after - self._position)
        self._position += len(chunk)
        return chunk


def failing_stream() -> Iterator[bytes]:
    yield b"x" * 300_000
    raise RuntimeError("the producer died")


@pytest.mark.parametrize("body", ["content-length", "chunked"])
def test_an_interrupted_upload_leaves_nothing(make_oss: Callable[..., LocalOss], body: str) -> None:
    local = make_oss()
    bucket = local.bucket("v1")
    data = FailingReader(1_000_000, 300_000) if body == "content-length" else failing_stream()

    with pytest.raises(Exception, match="went away|died"):
        bucket.put_object("interrupted", data)

    deadline = time.monotonic() + 5
    while not any(seen.method == "PUT" for seen in local.seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    upload = next(seen for seen in local.seen if seen.method == "PUT")
    assert bool(upload.transfer_encoding) == (body == "chunked")
    assert not bucket.object_exists("interrupted")
    assert local.blob_files() == []


def test_a_64_mib_transfer_streams_in_small_memory(oss: LocalOss) -> None:
    """Client and server share the process, so the traced peak covers both; each streams in 256 KiB pieces."""
    bucket = oss.bucket("v1")
    key = unique("big")
    piece = 256 * 1024
    block = os.urandom(piece)
    sent = hashlib.md5()

    def produce() -> Iterator[bytes]:
        for index in range(64 * MiB // piece):
            chunk = index.to_bytes(4, "big") + block[4:]
            sent.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        put = bucket.put_object(key, produce())
        received = hashlib.md5()
        result = bucket.get_object(key)
        while True:
            chunk = result.read(piece)
            if not chunk:
                break
            received.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert put.etag == sent.hexdigest().upper()
    assert received.digest() == sent.digest()
    assert result.content_length == 64 * MiB
    assert peak < 8 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


# The store on its own


def test_store_persists_and_sweeps_leftovers(tmp_path: Path) -> None:
    with ObjectStore(tmp_path) as store:
        store.create_bucket("existing")
        store.put_bytes("existing", "data/a.csv", b"a,b\n")
        # no Content-Type given: OSS stores application/octet-stream, it does not guess from the key
        assert store.head_object("existing", "data/a.csv").content_type == "application/octet-stream"
    (tmp_path / "existing" / "blobs" / ".tmp-crashed").write_bytes(b"half an upload")

    with ObjectStore(tmp_path) as reopened:
        assert reopened.bucket_exists("existing")
        assert reopened.read_bytes("existing", "data/a.csv") == b"a,b\n"
        assert [p.name for p in (tmp_path / "existing" / "blobs").iterdir()] == [
            reopened.head_object("existing", "data/a.csv").blob]
