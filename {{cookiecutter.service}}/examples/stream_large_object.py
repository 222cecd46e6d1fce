"""Stream a large object through the service both ways, resume a cut download, and keep memory flat.

    python examples/stream_large_object.py                        # 64 MiB through the service of `make dev`
    python examples/stream_large_object.py --url "$EAS_SERVICE_URL" --token "$EAS_TOKEN"   # through the gateway

1. ``PUT /oss/objects/<key>`` with a generator as the body: requests sends it chunked, a chunk at a time.
2. ``GET`` with ``stream=True`` and ``iter_content``, hashing the bytes as they arrive. Halfway
   (``--cut-at-mib``) the connection is dropped, and the download resumes with ``Range: bytes=<next byte>-``
   (206, same ETag), as after a real break.
3. The SHA-256 both ways must match, and the client's peak memory must stay flat: streaming, not buffering.
4. ``DELETE`` (``--keep`` keeps the object).

The service is the local EAS's (``service_url`` in ``.local-eas/state.json`` or ``$EAS_LOCAL_STATE_DIR``)
unless ``--url`` (``eas-devkit status --export`` prints the gateway's URL and token). Exit status: 0 when
every check passed, 1 when one failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import requests
from tqdm import tqdm

MIB = 1024 * 1024
CHUNK_SIZE = 256 * 1024  # what the client holds at a time, in either direction
TIMEOUT = (5, 60)  # seconds to connect, and for each read: a stalled transfer fails instead of hanging
MAX_RESUMES = 3  # real breaks resumed per download (the simulated cut is not counted)


class Failure(Exception):
    """A step failed; the message says which and why."""


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    try:
        base_url, where = (args.url.rstrip("/"), "--url") if args.url else local_service_url()
        print(f"service   {base_url} ({where})")
        with requests.Session() as session:
            if args.token:
                session.headers["Authorization"] = args.token  # what the EAS gateway wants
            round_trip(session, base_url, args)
    except Failure as failure:
        print(f"FAILED: {failure}")
        return 1
    except requests.exceptions.RequestException as error:  # could not connect, or no answer in time
        print(f"FAILED: {type(error).__name__}: {error}")
        return 1
    print("OK")
    return 0


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="the service's base URL (default: the local EAS's service_url)")
    parser.add_argument("--token", help="the EAS gateway's token, sent as the Authorization header")
    parser.add_argument("--size-mib", type=int, default=64, help="size of the object (default 64)")
    parser.add_argument("--key", help="object key under the service's data prefix "
                                      "(default: examples/stream-<size>MiB.bin)")
    parser.add_argument("--cut-at-mib", type=float, default=None,
                        help="drop the download's connection after this many MiB and resume it with Range "
                             "(default: half the size; 0: never)")
    parser.add_argument("--keep", action="store_true", help="do not delete the object at the end")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    args = parser.parse_args(argv)
    if args.size_mib < 1:
        parser.error("--size-mib must be at least 1")
    if args.cut_at_mib is None:
        args.cut_at_mib = args.size_mib / 2
    if not 0 <= args.cut_at_mib < args.size_mib:
        parser.error(f"--cut-at-mib must be at least 0 and less than --size-mib ({args.size_mib})")
    return args


def local_service_url() -> tuple[str, str]:
    """The service URL the local EAS wrote to its state.json, and where it came from."""
    state_file = Path(os.environ.get("EAS_LOCAL_STATE_DIR") or ".local-eas") / "state.json"
    try:
        return json.loads(state_file.read_text(encoding="utf-8"))["service_url"], f"local EAS, {state_file}"
    except FileNotFoundError:
        raise Failure(f"{state_file} does not exist: start the local EAS with `make dev` (from the project "
                      "directory), or pass --url") from None


def round_trip(session: requests.Session, base_url: str, args: argparse.Namespace) -> None:
    size = args.size_mib * MIB
    key = args.key or f"examples/stream-{args.size_mib}MiB.bin"
    url = f"{base_url}/oss/objects/{key}"
    show_progress = not args.no_progress

    expect(session.get(f"{base_url}/health", timeout=TIMEOUT), 200, "GET /health")
    memory_before = peak_memory()  # after the first request: the session and its connection exist

    started = time.monotonic()
    sent_sha256, etag = upload(session, url, size, show_progress)
    seconds = time.monotonic() - started
    print(f"[1/4] PUT /oss/objects/{key} → 201: {mib(size)} sent chunked in {seconds:.1f} s "
          f"({size / MIB / max(seconds, 1e-6):.0f} MiB/s), ETag {etag}")

    cut_at = int(args.cut_at_mib * MIB) or None
    received_sha256 = download(session, url, key, size, cut_at, show_progress)

    if received_sha256 != sent_sha256:
        raise Failure(f"SHA-256 differs: sent {sent_sha256}, received {received_sha256}")
    growth = peak_memory() - memory_before
    # A client that buffered would have grown by the whole object; a streaming one by a few chunks and the
    # libraries' buffers (~2 MiB), whatever the size: below 8 MiB objects the check cannot tell them apart.
    flat = growth < min(max(8 * MIB, size / 4), 32 * MIB)
    print(f"[3/4] SHA-256 matches both ways: {sent_sha256}")
    print(f"      client peak memory +{mib(max(growth, 0))} while streaming {mib(size)} each way: "
          f"{'flat' if flat else 'NOT flat'} (a buffering client grows by the object's size)")
    if not flat:
        raise Failure(f"the client's peak memory grew by {mib(growth)}: something buffered the object")

    if args.keep:
        print(f"[4/4] kept: GET {url}")
    else:
        expect(session.delete(url, timeout=TIMEOUT), 204, f"DELETE /oss/objects/{key}")
        print(f"[4/4] DELETE /oss/objects/{key} → 204")


def upload(session: requests.Session, url: str, size: int, show_progress: bool) -> tuple[str, str]:
    """Send ``size`` generated bytes chunked; return their SHA-256 and the ETag OSS gave the object."""
    digest = hashlib.sha256()
    with progress_bar(size, "upload", show_progress) as bar:
        # A generator has no length, so requests sends it chunked, one chunk at a time.
        response = session.put(url, data=generated_chunks(size, digest, bar),
                               headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT)
    stored = expect(response, 201, "PUT").json()
    if stored.get("size") != size:
        raise Failure(f"the service stored {stored.get('size')} bytes, not {size}")
    return digest.hexdigest(), stored.get("etag", "?")


def generated_chunks(size: int, digest: Any, bar: tqdm) -> Iterator[bytes]:
    """``size`` pseudo-random bytes (they do not compress), added to ``digest`` and ``bar`` as they are made."""
    generator = random.Random(size)
    remaining = size
    while remaining:
        chunk = generator.randbytes(min(CHUNK_SIZE, remaining))
        digest.update(chunk)
        bar.update(len(chunk))
        remaining -= len(chunk)
        yield chunk


def download(session: requests.Session, url: str, key: str, size: int, cut_at: Optional[int],
             show_progress: bool) -> str:
    """Stream the object, resuming with Range after a (simulated or real) break; return its SHA-256."""
    digest = hashlib.sha256()
    received = 0
    etag: Optional[str] = None
    breaks = 0
    started = time.monotonic()
    with progress_bar(size, "download", show_progress) as bar:
        while received < size:
            resuming = received > 0
            headers = {"Range": f"bytes={received}-"} if resuming else {}
            with session.get(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
                if resuming:
                    what = f"GET with Range: bytes={received}-"
                    expect(response, 206, what)
                    check_resumed(response, received, size, etag)
                    say(f"      {what} → 206, Content-Range {response.headers['Content-Range']}, same ETag")
                else:
                    expect(response, 200, f"GET /oss/objects/{key}")
                    say(f"[2/4] GET /oss/objects/{key} → 200, streamed with iter_content({CHUNK_SIZE // 1024} KiB)")
                    etag = response.headers.get("ETag")
                try:
                    for chunk in response.iter_content(CHUNK_SIZE):
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if cut_at is not None and received >= cut_at:
                            say(f"      connection dropped after {mib(received)} (simulated: --cut-at-mib); "
                                "resuming from the next byte")
                            cut_at = None
                            break  # leaving the with-block closes the connection mid-body
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as error:
                    breaks += 1
                    if breaks > MAX_RESUMES:
                        raise Failure(f"the download broke {breaks} times; the last: {error}") from None
                    say(f"      the connection broke after {mib(received)} ({type(error).__name__}); resuming")
    seconds = time.monotonic() - started
    say(f"      {mib(received)} received in {seconds:.1f} s ({received / MIB / max(seconds, 1e-6):.0f} MiB/s)")
    if received != size:
        raise Failure(f"received {received} bytes, expected {size}")
    return digest.hexdigest()


def check_resumed(response: requests.Response, received: int, size: int, etag: Optional[str]) -> None:
    """The 206 must start at the next byte, cover the rest, and be the same object (same ETag)."""
    expected_range = f"bytes {received}-{size - 1}/{size}"
    if response.headers.get("Content-Range") != expected_range:
        raise Failure(f"resumed with Content-Range {response.headers.get('Content-Range')!r}, "
                      f"expected {expected_range!r}")
    if etag is not None and response.headers.get("ETag") != etag:
        raise Failure(f"the object changed while it was downloaded (ETag {etag} → {response.headers.get('ETag')}): "
                      "start again")


def expect(response: requests.Response, status: int, what: str) -> requests.Response:
    """``response`` if it has ``status``; otherwise a Failure that says what the service (or gateway) said."""
    if response.status_code == status:
        return response
    if response.status_code == 401:
        raise Failure(f"{what} → 401: the EAS gateway wants its token in the Authorization header (--token; "
                      "`eas-devkit status --export` prints it)")
    try:
        body = response.json()
        said = f"{body.get('code') or body.get('Code')}: {body.get('error') or body.get('Message')}"
    except ValueError:
        said = response.text[:200].strip()
    raise Failure(f"{what} → {response.status_code} {said}")


def progress_bar(total: int, label: str, enabled: bool) -> tqdm:
    return tqdm(total=total, desc=f"{label:<8}", unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                mininterval=0.5, disable=not enabled)


def peak_memory() -> int:
    """This process's peak resident memory so far, in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def say(line: str) -> None:
    """A status line on stdout, written so that a progress bar on the same terminal stays intact."""
    tqdm.write(line, file=sys.stdout)


def mib(size: float) -> str:
    return f"{size / MIB:.1f} MiB"


if __name__ == "__main__":
    sys.exit(main())
