"""The local EAS the benchmarks run against, and the gunicorn processes they start and watch.

The local EAS runs as a user runs it (``eas-devkit local up``), in its own process group; so do the
extra gunicorn servers (the naive app, the cold starts), in the instance's environment from state.json.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from ..cli import devkit_command
from ..local.instance import ServiceSpec, free_port, local_script
from ..local.run_secret import admin_headers


class BenchError(RuntimeError):
    """Something the benchmarks need did not start or answer; the message says what."""


def service_spec(project: Path) -> ServiceSpec:
    return ServiceSpec.load(project / "service.json")


def _stop_group(process: subprocess.Popen, grace: float) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class LocalEAS:
    """``eas-devkit local up --quiet`` for the project, in a state directory of its own, until ``stop()``."""

    project: Path
    state_dir: Path
    env_overrides: dict[str, str]
    process: Optional[subprocess.Popen] = None
    state: Optional[dict[str, Any]] = None

    def start(self, timeout: float = 120) -> LocalEAS:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [*devkit_command(self.project), "local", "--state-dir", str(self.state_dir), "up", "--quiet",
                   *(f"--env={name}={value}" for name, value in self.env_overrides.items())]
        with open(self.state_dir / "local-eas.log", "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(command, cwd=self.project, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        state_file = self.state_dir / "state.json"
        deadline = time.monotonic() + timeout
        while not state_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError("the local EAS did not start:\n" + self.log_tail())
            time.sleep(0.1)
        self.state = json.loads(state_file.read_text(encoding="utf-8"))
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process, grace=45)
            self.process = None

    def log_tail(self, lines: int = 40) -> str:
        paths = [self.state_dir / "local-eas.log", self.state_dir / "logs" / "service.log"]
        text = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in paths if path.exists())
        return "\n".join(text.splitlines()[-lines:])

    @property
    def info(self) -> dict[str, Any]:
        if self.state is None:
            raise BenchError("the local EAS is not running")
        return self.state

    @property
    def url(self) -> str:
        return self.info["service_url"]

    @property
    def env(self) -> dict[str, str]:
        return dict(self.info["env"])

    @property
    def master_pid(self) -> int:
        return int(self.info["service_pid"])

    @property
    def service_log(self) -> Path:
        return self.state_dir / "logs" / "service.log"

    def log_position(self) -> int:
        """Where the service's log ends now: ``requests_per_worker`` counts what is written after it."""
        return self.service_log.stat().st_size if self.service_log.exists() else 0

    def requests_per_worker(self, since: int, path: str, expected: int, timeout: float = 5) -> dict[int, int]:
        """How many requests for ``path`` each gunicorn worker answered after ``since``, from the service's
        request log (a line per request, with the ``pid`` of the process that wrote it). A line is written
        just after its answer: waits up to ``timeout`` for ``expected`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            with open(self.service_log, "rb") as log:
                log.seek(since)
                records = [json.loads(line) for line in log if line.startswith(b"{") and line.endswith(b"\n")]
            served = Counter(record["pid"] for record in records
                             if record.get("logger") == "app.request" and record.get("path") == path)
            if sum(served.values()) >= expected or time.monotonic() > deadline:
                return dict(served)
            time.sleep(0.05)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by the service (gunicorn's master and workers) and by the local EAS's
        process (the gateway, OSS, MaxCompute and credentials servers: threads of one process)."""
        assert self.process is not None
        service = [self.master_pid, *workers_of(self.master_pid)]
        return {"service": sum(map(cpu_seconds, service)), "local EAS": cpu_seconds(self.process.pid)}

    def credential_fetches(self) -> int:
        """How often instances have asked the credentials endpoint so far (its /admin/stats)."""
        return int(get_json(self.info["admin_url"] + "/stats", admin_headers(self.info))["fetches"])

    def __enter__(self) -> LocalEAS:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class Gunicorn:
    """A gunicorn server started by the benchmarks in the instance's environment, on a free port."""

    command: str  # run through bash, as EAS runs containers[0].script
    cwd: Path
    env: dict[str, str]
    port: int
    log: Path
    process: Optional[subprocess.Popen] = None

    @classmethod
    def service(cls, project: Path, env: dict[str, str], log: Path) -> Gunicorn:
        """The service's own run command (service.json's script, moved to this machine as the local EAS does)."""
        port = free_port()
        return cls(local_script(service_spec(project), project / "mount", port), project, env, port, log)

    @classmethod
    def app(cls, wsgi_app: str, cwd: Path, env: dict[str, str], workers: int, threads: int, log: Path) -> Gunicorn:
        port = free_port()
        command = (f"gunicorn --bind 127.0.0.1:{port} --workers {workers} --threads {threads} "
                   f"--worker-class gthread --keep-alive 65 --log-level warning {wsgi_app}")
        return cls(command, cwd, env, port, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start the server; returns the moment (``time.perf_counter()``) just before it was started."""
        with open(self.log, "a", encoding="utf-8") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(["bash", "-c", self.command], env=self.env, cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return started

    def wait_healthy(self, timeout: float = 60, path: str = "/health") -> float:
        """Poll ``path`` every 5 ms until it answers 200; returns the moment it did."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            try:
                status, _ = request("GET", self.url + path, timeout=2)
                if status == 200:
                    return time.perf_counter()
            except OSError:
                pass
            time.sleep(0.005)
        raise BenchError(f"{self.url}{path} did not answer 200 within {timeout:.0f} s; see {self.log}")

    @property
    def master_pid(self) -> int:
        assert self.process is not None
        return self.process.pid  # bash execs a lone command: this is gunicorn's master

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process, grace=30)
            self.process = None


def request(method: str, url: str, body: Optional[bytes] = None, headers: Optional[dict[str, str]] = None,
            timeout: float = 60) -> tuple[int, bytes]:
    """One request on a new connection (for set-up and probes, not for load)."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
    try:
        target = address.path + (f"?{address.query}" if address.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get_json(url: str, headers: Optional[dict[str, str]] = None) -> Any:
    status, body = request("GET", url, headers=headers)
    if status != 200:
        raise BenchError(f"GET {url} answered {status}: {body[:300]!r}")
    return json.loads(body)


# --- the processes behind a gunicorn master, from /proc ---------------------------------------------------

def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return sorted(int(pid) for pid in children.read_text().split()) if children.exists() else []


def wait_for_workers(master: int, count: int, exclude: frozenset[int] = frozenset(), timeout: float = 60) -> list[int]:
    """The master's ``count`` workers once all are up (and none of ``exclude``, the ones it replaced)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [pid for pid in workers_of(master) if pid not in exclude]
        if len(workers) == count and not set(workers_of(master)) & exclude:
            return workers
        time.sleep(0.05)
    raise BenchError(f"gunicorn {master} did not have {count} fresh workers within {timeout:.0f} s")


def restart_workers(master: int, count: int) -> list[int]:
    """SIGHUP: gunicorn replaces every worker, so each starts again with nothing cached; waits for them.

    The new workers may still be importing the app when this returns; a first request waits for them.
    """
    old = frozenset(workers_of(master))
    os.kill(master, signal.SIGHUP)
    return wait_for_workers(master, count, exclude=old)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``5`` to clear_refs); False where the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def has_mapped(pid: int, fragment: str) -> bool:
    """Whether a file whose path contains ``fragment`` is mapped into the process (e.g. a C extension)."""
    return any(fragment in line for line in Path(f"/proc/{pid}/maps").read_text().splitlines())
