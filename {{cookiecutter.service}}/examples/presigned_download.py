"""A presigned URL: a client downloads one object straight from OSS, with no credentials of its own.

    eas-devkit local exec -- python examples/presigned_download.py datasets/iris.csv
    eas-devkit local exec -- python examples/presigned_download.py hello.txt --expires 2 --show-expiry

Inside the instance it signs ``GET <key>`` (relative to ``OSS_DATA_PREFIX``) with the role's credentials
(``DefaultCredentialsProvider`` behind oss2's ``ProviderAuthV4``, as the service does), downloads the URL with
plain urllib and checks the bytes against the object read with the role's credentials; ``--show-expiry``
then shows OSS refusing the expired URL (403). The URL carries the role's STS token: it is never printed
whole, ``--expires`` may not outlive the credentials, and a client outside the VPC needs a URL for the public
endpoint (``--endpoint https://oss-<region>.aliyuncs.com --no-download``): examples/README.md explains.
Exit status: 0 when every check passed, 1 when one failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import oss2
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import DefaultCredentialsProvider

CHUNK_SIZE = 64 * 1024
MASK = "****"
# Query parameters of a presigned URL that must never be shown: the STS token and the signature
# (V4 names; V1 URLs call them security-token and Signature).
SECRET_PARAMETERS = ("security-token", "signature")
V4_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class Failure(Exception):
    """A check failed; the message says which and why."""


class RoleCredentials(oss2.credentials.CredentialsProvider):
    """oss2's credentials interface over alibabacloud_credentials' ``DefaultCredentialsProvider``.

    In the instance, the provider finds ``ALIBABA_CLOUD_CREDENTIALS_URI`` and caches what it fetched until
    15 minutes before it expires. Every secret it hands out is remembered, so that nothing printed carries it.
    """

    def __init__(self) -> None:
        self.provider = DefaultCredentialsProvider()
        self.secrets: set[str] = set()

    def get_credentials(self) -> oss2.credentials.Credentials:
        credentials = self.provider.get_credentials()
        secret, token = credentials.get_access_key_secret(), credentials.get_security_token()
        self.secrets.update(value for value in (secret, token) if value)
        return oss2.credentials.Credentials(credentials.get_access_key_id(), secret, token)

    def expiration(self) -> Optional[float]:
        """When the credentials in use expire (epoch seconds): ``DefaultCredentialsProvider`` drops it, the provider
        it settled on has it (cached: no request). A private attribute, read as mount/app/credentials.py reads it:
        if it moves, the expiry is unknown (None)."""
        chosen = getattr(self.provider, "_DefaultCredentialsProvider__last_used_provider", None)
        return chosen.get_credentials().get_expiration() if chosen is not None else None

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


@dataclass
class Fetched:
    status: int
    size: int = 0
    sha256: str = ""
    error: str = ""  # OSS's Code and Message when the status is not 200


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    credentials = RoleCredentials()
    try:
        check_presigned_download(args, credentials)
    except Failure as failure:
        print(credentials.redact(f"FAILED: {failure}"))
        return 1
    except oss2.exceptions.OssError as error:  # its str() would include every detail of OSS's answer
        print(credentials.redact(f"FAILED: OSS answered {error.status} {error.code}: {error.message}"))
        return 1
    except CredentialException as error:
        print(f"FAILED: no credentials ({error}). Run it inside the instance: "
              "eas-devkit local exec -- python examples/presigned_download.py ...")
        return 1
    print("OK")
    return 0


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("key", help="the object, relative to OSS_DATA_PREFIX (e.g. datasets/iris.csv)")
    parser.add_argument("--expires", type=int, default=300,
                        help="seconds the URL is valid (default 300); at most the credentials' remaining lifetime")
    internal_endpoint = os.environ.get("OSS_ENDPOINT", "oss-{{ cookiecutter.region }}-internal.aliyuncs.com")
    parser.add_argument("--endpoint", default=internal_endpoint,
                        help="the OSS endpoint the URL points at: the one the client reaches (default: "
                             "OSS_ENDPOINT, the instance's internal one; outside the VPC: "
                             "https://oss-{{ cookiecutter.region }}.aliyuncs.com)")
    parser.add_argument("--no-download", action="store_true",
                        help="only sign and show the (masked) URL: for an endpoint this machine cannot reach")
    parser.add_argument("--show-expiry", action="store_true",
                        help="after the download, wait until the URL expires and show that OSS refuses it")
    args = parser.parse_args(argv)
    if args.expires < 1:
        parser.error("--expires must be at least 1 second")
    return args


def check_presigned_download(args: argparse.Namespace, credentials: RoleCredentials) -> None:
    bucket_name = os.environ.get("OSS_BUCKET", "{{ cookiecutter.oss_bucket }}")
    region = os.environ.get("REGION", "{{ cookiecutter.region }}")
    key = os.environ.get("OSS_DATA_PREFIX", "") + args.key  # the instance has service.json's env
    # V4 signatures need the region; the client's endpoint goes into the URL.
    signer = oss2.Bucket(oss2.ProviderAuthV4(credentials), args.endpoint, bucket_name, region=region)

    url = signer.sign_url("GET", key, args.expires, slash_safe=True)
    print(f"signed   GET oss://{bucket_name}/{key} for {args.expires} s with the role's credentials "
          f"(V4, endpoint {args.endpoint})")
    check_lifetime(args.expires, credentials.expiration())
    print(f"URL      {masked(url)}")
    print("         (the security token and the signature are masked: the real URL carries both, "
          f"so hand it only to whoever may read oss://{bucket_name}/{key})")
    if args.no_download:
        return

    fetched = fetch(url)
    if fetched.status != 200:
        raise Failure(f"the presigned URL → {fetched.status} {fetched.error}")
    print(f"download 200 with plain urllib, no credentials: {fetched.size} bytes, SHA-256 {fetched.sha256}")

    reader = oss2.Bucket(oss2.ProviderAuthV4(credentials), os.environ.get("OSS_ENDPOINT", args.endpoint),
                         bucket_name, region=region)
    expected = size_and_sha256(reader.get_object(key))  # streamed with the role's own credentials
    if (fetched.size, fetched.sha256) != expected:
        raise Failure(f"the download differs from the object: {expected[0]} bytes, SHA-256 {expected[1]}")
    print("verified the same bytes as the object read with the role's credentials")

    if args.show_expiry:
        show_expiry(url)


def check_lifetime(expires: int, expiration: Optional[float]) -> None:
    """A URL signed with STS credentials stops working when they expire: refuse to promise longer."""
    if expiration is None:
        print("         the credentials' expiry is unknown: keep --expires short")
        return
    remaining = int(expiration - time.time())
    expiry_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiration))
    if expires > remaining:
        raise Failure(f"--expires {expires} outlives the credentials that sign the URL (they expire in "
                      f"{remaining} s, at {expiry_text}): the URL would stop working then. Use at most {remaining}.")
    print(f"         the credentials expire in {remaining} s ({expiry_text}): the URL expires first")


def masked(url: str) -> str:
    """The URL with the values of its secret query parameters replaced by ****."""
    parts = urlsplit(url)
    query = [(name, MASK if name.lower().endswith(SECRET_PARAMETERS) else value)
             for name, value in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*/")))


def fetch(url: str) -> Fetched:
    """GET the URL as any HTTP client would: no SDK, no credentials; the body is hashed, never kept."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return Fetched(response.status, *size_and_sha256(response))
    except urllib.error.HTTPError as error:
        return Fetched(error.code, error=oss_error(error.read()))
    except urllib.error.URLError as error:
        raise Failure(f"cannot reach the URL's endpoint ({error.reason}): sign with an endpoint this machine "
                      "reaches, or pass --no-download") from None


def oss_error(body: bytes) -> str:
    """OSS's Code and Message only: other fields of an error (StringToSign, ...) may echo the query."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "(no OSS error document)"
    return f"{root.findtext('Code')}: {root.findtext('Message')}"


def size_and_sha256(stream: Any) -> tuple[int, str]:
    """Read ``stream`` to its end a chunk at a time: its size and SHA-256 (the bytes are not kept)."""
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def show_expiry(url: str) -> None:
    """Wait until the URL has expired, then show OSS refusing it."""
    query = dict(parse_qsl(urlsplit(url).query))
    signed_at = calendar.timegm(time.strptime(query["x-oss-date"], V4_DATE_FORMAT))
    wait = signed_at + int(query["x-oss-expires"]) + 1 - time.time()
    if wait > 0:
        print(f"waiting  {wait:.0f} s for the URL to expire…", flush=True)
        time.sleep(wait)
    fetched = fetch(url)
    if fetched.status == 200:
        raise Failure("the URL still works after its expiry")
    print(f"expired  the same URL now → {fetched.status} {fetched.error}")


if __name__ == "__main__":
    sys.exit(main())
