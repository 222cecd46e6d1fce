"""The log of one instance: what its process prints, each line stamped with the UTC time it was received.

An instance's stdout and stderr go into a pipe (:func:`capture`); a thread reads it line by line and appends
each line to ``<instance>.log`` as ``2024-05-21T10:39:29.123456Z <line>`` (as ``docker logs --timestamps``
shows a container's), so DescribeServiceLog can filter by StartTime and EndTime. Lines keep their order and
their bytes; a last line without a newline is written when the process closes its output; a line longer than
:data:`MAX_LINE_BYTES` is written in pieces of that size (memory stays bounded, as Docker's 16 KiB pieces).

A restarted instance gets a fresh log and the last one becomes its previous log (``<instance>.previous.log``),
as Kubernetes keeps the current and the previous container's logs. Everything that reads these files reads
them through this module: :func:`read` (lines with their times), :func:`tail` (the text, for an event).
:func:`why_it_failed` picks, from what a process printed, the lines that say why it failed.
"""

from __future__ import annotations

import calendar
import heapq
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

MAX_LINE_BYTES = 64 * 1024
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
STAMP_LENGTH = len("2024-05-21T10:39:29.123456Z")
TAIL_LINES = 20
TAIL_CHARS = 4000
TRACEBACK = "Traceback (most recent call last):"
DRAIN_SECONDS = 2.0  # how long a reader waits for the pump to write what a finished process printed

_pumps: dict[Path, threading.Thread] = {}
_pumps_guard = threading.Lock()


@dataclass(frozen=True)
class Line:
    time: float  # seconds since the epoch, when the line was received
    text: str  # as the process wrote it, without the newline


def capture(path: Path) -> IO[str]:
    """The write end of a pipe to give a process as its stdout and stderr; close it once the process has it.
    A daemon thread appends what comes out of the pipe to ``path``, stamped, until every writer closed it."""
    read_fd, write_fd = os.pipe()
    thread = threading.Thread(target=_pump, args=(read_fd, path), name=f"local-eas-log-{path.stem}", daemon=True)
    with _pumps_guard:
        _pumps[path] = thread
    thread.start()
    return os.fdopen(write_fd, "w", encoding="utf-8")


def write(path: Path, text: str, at: Optional[float] = None) -> None:
    """Append ``text``'s lines to the log at ``path``, as if the instance had printed them (the prepare step)."""
    stamp = _stamp(time.time() if at is None else at)
    with open(path, "ab") as log:
        log.write(b"".join(stamp + line.encode("utf-8") + b"\n" for line in text.splitlines()))


def drain(path: Path, timeout: float = DRAIN_SECONDS) -> None:
    """Wait until the pump of ``path`` wrote everything its process printed (the process has exited)."""
    with _pumps_guard:
        thread = _pumps.get(path)
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)


def rotate(path: Path) -> None:
    """A restart: the current log becomes the previous one (replacing an older one), the new one starts empty."""
    drain(path)
    if path.exists():
        path.replace(previous(path))


def previous(path: Path) -> Path:
    return path.with_name(path.stem + ".previous.log")


def read(path: Path) -> Iterator[Line]:
    """The lines of the log at ``path``, oldest first; nothing when there is no log."""
    try:
        log = open(path, "rb")  # noqa: SIM115 - closed below, the generator may be left unfinished
    except FileNotFoundError:
        return
    with log:
        for raw in log:
            line = raw.rstrip(b"\n").decode("utf-8", errors="replace")
            stamp, _, text = line.partition(" ")
            yield Line(_parse_stamp(stamp), text)


def merged(paths: Iterable[Path]) -> Iterator[Line]:
    """The lines of several logs merged by time (each log's own order kept)."""
    return heapq.merge(*(read(path) for path in paths), key=lambda line: line.time)


def tail(path: Path, since_line: int = 0) -> str:
    """What says why the process failed (:func:`why_it_failed`) in the log from line ``since_line`` on, without
    the times (bounded, for an event)."""
    drain(path, timeout=0.5)
    lines = [line.text for index, line in enumerate(read(path)) if index >= since_line]
    text = "\n".join(why_it_failed(lines, TAIL_LINES, TAIL_LINES)).rstrip()
    return text[-TAIL_CHARS:] or "(no output)"


def why_it_failed(lines: Sequence[str], fallback: int, limit: int) -> list[str]:
    """The last traceback in a process's output (at most its last ``limit`` lines), or its last ``fallback``
    lines when it printed none. A traceback a JSON log record carries in ``exception`` counts, as the service logs
    a worker's that failed to boot; gunicorn's own ``HaltServer`` ("Worker failed to boot.") does not, as it
    only follows that worker's traceback, which says why."""
    tracebacks: list[list[str]] = []
    for index, line in enumerate(lines):
        if line.startswith(TRACEBACK):
            end = next((i for i in range(index + 1, len(lines)) if lines[i][:1].strip()), len(lines) - 1)
            tracebacks.append(list(lines[index:end + 1]))
        elif line.startswith("{") and '"exception": "' in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            tracebacks.append([str(record.get("message", "")), *str(record["exception"]).splitlines()])
    telling = [found for found in tracebacks if not found[-1].startswith("gunicorn.errors.HaltServer")]
    if not (telling or tracebacks):
        return list(lines[-fallback:])
    return (telling or tracebacks)[-1][-limit:]


def count(path: Path) -> int:
    """How many lines the log at ``path`` has (0 when there is none)."""
    return sum(1 for _ in read(path))


def _pump(read_fd: int, path: Path) -> None:
    with open(read_fd, "rb", buffering=0) as pipe, open(path, "ab") as log:
        for line in _lines(pipe):
            log.write(_stamp(time.time()) + line + b"\n")
            log.flush()
    with _pumps_guard:  # written out: nothing to wait for
        if _pumps.get(path) is threading.current_thread():
            del _pumps[path]


def _lines(pipe: IO[bytes]) -> Iterator[bytes]:
    """The lines read from a pipe, each at most MAX_LINE_BYTES (a longer line comes in pieces)."""
    pending = b""
    while True:
        data = pipe.read(65536)
        if not data:
            if pending:
                yield pending  # the last line, without its newline
            return
        pending += data
        *complete, pending = pending.split(b"\n")
        yield from (piece for line in complete for piece in _pieces(line))
        while len(pending) >= MAX_LINE_BYTES:
            yield pending[:MAX_LINE_BYTES]
            pending = pending[MAX_LINE_BYTES:]


def _pieces(line: bytes) -> Iterator[bytes]:
    if not line:
        yield line
    for start in range(0, len(line), MAX_LINE_BYTES):
        yield line[start:start + MAX_LINE_BYTES]


def _stamp(when: float) -> bytes:
    return (time.strftime(STAMP_FORMAT, time.gmtime(when)) + f".{int(when % 1 * 1e6):06d}Z ").encode("ascii")


def _parse_stamp(stamp: str) -> float:
    try:
        whole, _, fraction = stamp.rstrip("Z").partition(".")
        return calendar.timegm(time.strptime(whole, STAMP_FORMAT)) + float("0." + (fraction or "0"))
    except ValueError:
        return 0.0
