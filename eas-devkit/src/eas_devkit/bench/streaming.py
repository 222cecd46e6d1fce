"""Benchmark 3: a large object down and up through the service vs oss2 streaming it directly.

Throughput of each direction, and how much the serving worker's memory grows while it relays the stream:
its peak RSS (VmHWM, reset just before the transfer where the kernel allows, sampled otherwise) minus its
RSS before. Every worker is warmed up first, so the SDK imports are not counted as stream buffers.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable
from urllib.parse import urlsplit

from tqdm import tqdm

from .clients import HttpGet, OssLocation
from .load import interleaved
from .local import BenchError, LocalEAS, has_mapped, memory_kib, request, reset_peak_rss, workers_of
from .plan import Plan
from .profile import cpu_spent, per_unit, where_the_time_goes
from .report import Row, Section
from .stats import GIB, MIB, median, mib, mib_per_s, ratio, seconds, size

TITLE = "3. Streaming"
SERVICE_KEY = "bench/stream-service.bin"  # under the data prefix
DIRECT_KEY = "bench/stream-direct.bin"
BLOCK = MIB
THROUGHPUT_TARGET = 0.85
RSS_TARGET = 50 * MIB
OSS2_LOADED = "_crcfunext"  # crcmod's C extension: mapped once a worker has imported oss2


class PatternBody:
    """``size`` bytes of a repeated random block, read like a file; ``len`` makes both clients send a
    Content-Length (oss2 looks for it, as the service's BoundedBody gives it)."""

    def __init__(self, size: int, progress: Callable[[int], Any]) -> None:
        self.len = size
        self._left = size
        self._block = os.urandom(BLOCK)
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        size = min(self._left, BLOCK if size is None or size < 0 else size, BLOCK)
        self._left -= size
        self._progress(size)
        return self._block[:size]


@dataclass
class RssWatch:
    """The largest RSS growth of any of the service's workers between ``start()`` and ``stop()``."""

    master: int
    baseline: dict[int, int] = field(default_factory=dict)
    peak: dict[int, int] = field(default_factory=dict)
    reset: bool = True
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Any = None

    def start(self) -> None:
        for pid in workers_of(self.master):
            self.reset = reset_peak_rss(pid) and self.reset
            self.baseline[pid] = self.peak[pid] = memory_kib(pid)["VmRSS"]
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for pid in self.baseline:
                self.peak[pid] = max(self.peak[pid], memory_kib(pid)["VmRSS"])

    def stop(self) -> int:
        """The growth in bytes."""
        self._stop.set()
        self._thread.join()
        if self.reset:
            for pid in self.baseline:
                self.peak[pid] = max(self.peak[pid], memory_kib(pid)["VmHWM"])
        return max(self.peak[pid] - self.baseline[pid] for pid in self.baseline) * 1024


@dataclass(frozen=True)
class Transfer:
    seconds: float
    rss_growth: int = 0


def run(eas: LocalEAS, plan: Plan) -> Section:
    length = plan.stream_bytes
    location = OssLocation.of(eas.info)
    prefix = eas.env.get("OSS_DATA_PREFIX", "")
    bucket = location.open()
    warm_up(eas)

    def service_upload() -> Transfer:
        watch = RssWatch(eas.master_pid)
        with bar(length, "service upload") as progress:
            watch.start()
            seconds = put_through(f"{eas.url}/oss/objects/{SERVICE_KEY}", PatternBody(length, progress.update))
        return Transfer(seconds, watch.stop())

    def direct_upload() -> Transfer:
        with bar(length, "direct oss2 upload") as progress:
            started = time.perf_counter()
            bucket.put_object(prefix + DIRECT_KEY, PatternBody(length, progress.update))
            return Transfer(time.perf_counter() - started)

    def service_download() -> Transfer:
        watch = RssWatch(eas.master_pid)
        with bar(length, "service download") as progress:
            watch.start()
            seconds = get_through(f"{eas.url}/oss/objects/{SERVICE_KEY}", length, progress.update)
        return Transfer(seconds, watch.stop())

    def direct_download() -> Transfer:
        with bar(length, "direct oss2 download") as progress:
            started = time.perf_counter()
            stream, received = bucket.get_object(prefix + SERVICE_KEY), 0
            while chunk := stream.read(BLOCK):
                received += len(chunk)
                progress.update(len(chunk))
            seconds = time.perf_counter() - started
        if received != length:
            raise BenchError(f"direct download: {received} of {length} bytes")
        return Transfer(seconds)

    try:
        measured = interleaved(plan.runs, *(partial(cpu_spent, eas, transfer) for transfer in (
            service_upload, direct_upload, service_download, direct_download)))
    finally:
        for key in (SERVICE_KEY, DIRECT_KEY):
            request("DELETE", f"{eas.url}/oss/objects/{key}")
    up, direct_up, down, direct_down = ([transfer for transfer, _ in runs] for runs in measured)
    spent = [[per_unit(cpu, length / GIB) for _, cpu in runs] for runs in measured]
    section = Section(TITLE)
    for name, through, beside in (("download", down, direct_down), ("upload", up, direct_up)):
        speed = median([length / t.seconds for t in through])
        direct_speed = median([length / t.seconds for t in beside])
        share = median([b.seconds / t.seconds for t, b in zip(through, beside)])
        growth = median([t.rss_growth for t in through])
        section.rows.append(Row(
            f"Stream {name}, {size(length)}", f"{mib_per_s(speed)}; worker RSS +{mib(growth)}",
            f"direct oss2: {mib_per_s(direct_speed)}", ratio(share),
            f"≥ {THROUGHPUT_TARGET}× direct; RSS growth < {size(RSS_TARGET)}",
            share >= THROUGHPUT_TARGET and growth < RSS_TARGET,
        ))
    section.notes = [
        f"One {size(length)} object: `PUT /oss/objects/{SERVICE_KEY}` (with Content-Length) and `GET` of it through "
        "the service, read and written in 1 MiB blocks by an http.client connection; beside it oss2's "
        "`put_object` of the same stream and `get_object(...).read(1 MiB)` of the same object, with the role's "
        "credentials. CRC-64 checks stay on everywhere (oss2's default): the serving worker verifies the whole "
        "object's CRC-64 as it relays it, as the direct client does, and that is most of its CPU time in a "
        "download.",
        "",
        "- Memory: the growth of the serving worker's peak RSS (VmHWM, reset through /proc/<pid>/clear_refs just "
        "before; RSS sampled every 20 ms where that is not allowed) over its RSS just before the transfer, the "
        "largest of all workers (any may serve it).",
        where_the_time_goes("per GiB downloaded", seconds, spent[2], spent[3]),
        where_the_time_goes("per GiB uploaded", seconds, spent[0], spent[1]),
        "- Per run (service / direct seconds): "
        + "; ".join(f"down {t.seconds:.2f} / {b.seconds:.2f}" for t, b in zip(down, direct_down)) + "; "
        + "; ".join(f"up {t.seconds:.2f} / {b.seconds:.2f}" for t, b in zip(up, direct_up)) + ".",
    ]
    return section


def warm_up(eas: LocalEAS, attempts: int = 20) -> None:
    """Small GETs on fresh connections until every worker has imported oss2 and made its client."""
    status, _ = request("PUT", f"{eas.url}/oss/objects/{SERVICE_KEY}", body=b"warm-up")
    if status != 201:
        raise BenchError(f"PUT through the service answered {status}")
    for _ in range(attempts):
        workers = workers_of(eas.master_pid)
        if workers and all(has_mapped(pid, OSS2_LOADED) for pid in workers):
            return
        threads = [threading.Thread(target=HttpGet(f"{eas.url}/oss/objects/{SERVICE_KEY}").connect())
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    raise BenchError("could not warm every worker of the service up")


def put_through(url: str, body: PatternBody) -> float:
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=600, blocksize=BLOCK)
    try:
        started = time.perf_counter()
        connection.request("PUT", address.path, body=body, headers={"Content-Length": str(body.len)})
        response = connection.getresponse()
        answer = response.read()
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    if response.status != 201:
        raise BenchError(f"upload through the service answered {response.status}: {answer[:300]!r}")
    return seconds


def get_through(url: str, size: int, progress: Callable[[int], Any]) -> float:
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=600)
    try:
        started = time.perf_counter()
        connection.request("GET", address.path)
        response = connection.getresponse()
        if response.status != 200:
            raise BenchError(f"download through the service answered {response.status}: {response.read(300)!r}")
        received = 0
        while chunk := response.read(BLOCK):
            received += len(chunk)
            progress(len(chunk))
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    if received != size:
        raise BenchError(f"download through the service: {received} of {size} bytes")
    return seconds


def bar(size: int, label: str) -> tqdm:
    return tqdm(total=size, desc=label, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                dynamic_ncols=True)
