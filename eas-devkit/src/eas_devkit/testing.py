"""What a service's tests need from the local EAS, for the pytest plugin and for tests that start their own.

    running = start_local_eas(state_dir, "--quiet", project=project)   # `eas-devkit local up`, in a subprocess
    running.get("/health"); running.rotate(); running.exec("python", "mount/list_oss_objects.py")
    finish_local_eas(running)          # searches every response and log for the issued secrets, then stops it

    small_eas = local_eas_fixture("--env", "MAX_UPLOAD_BYTES=1024")   # the same, as a module's fixture

Each local EAS runs as a user runs it, in a process group of its own; the test process is hermetic
(``eas_devkit.hermetic``, applied by the plugin before any test module is imported). ``RunningEAS`` also
does what the reliability tests of a service share: requests sent byte for byte (``send``, ``raw``), slow
clients, backend faults, the documented commands (``shell``, ``local``, ``outage``), the gunicorn workers.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pytest
import requests

from .cli import devkit_command  # noqa: F401  (re-exported: tests start the kit as users do)
from .local.instance import free_port  # noqa: F401  (for tests that start a server of their own)
from .local.run_secret import admin_headers
from .reliability import ReliabilityFigures

# Where reliability tests record what they did; the plugin writes it at the end of a session that asked.
FIGURES = ReliabilityFigures()
# Just over the SDK's 15-minute refresh margin: it fetches again ~3 s after each issuance.
SHORT_LIFETIME = ("--credentials-lifetime", "903", "--rotate-every", "1")


@dataclass(frozen=True)
class ServiceFacts:
    """What service.json says about the service, for tests that only apply to some bakes."""

    service_json: dict[str, Any]

    @classmethod
    def of(cls, project: Path) -> ServiceFacts:
        return cls(json.loads((project / "service.json").read_text(encoding="utf-8")))

    @property
    def container_env(self) -> dict[str, str]:
        return {item["name"]: item["value"] for item in self.service_json["containers"][0].get("env", [])}

    @property
    def has_role(self) -> bool:
        return bool(self.service_json.get("options", {}).get("enable_ram_role"))

    @property
    def has_oss(self) -> bool:
        return "OSS_BUCKET" in self.container_env

    @property
    def has_maxcompute(self) -> bool:
        return "ODPS_PROJECT" in self.container_env


@dataclass
class RawAnswer:
    """An HTTP answer read off a socket of the test's own (``RunningEAS.raw``), and how long it took."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RunningEAS:
    """A local EAS started for the tests: its state.json, its output, and a way to call things."""

    project: Path
    state: dict[str, Any]
    log_path: Path
    process: subprocess.Popen
    seen_credentials: list[dict[str, str]] = field(default_factory=list)
    seen_responses: list[str] = field(default_factory=list)  # what the tests received, for the leak check

    @property
    def url(self) -> str:
        return self.state["service_url"]

    @property
    def address(self) -> tuple[str, int]:
        """The service's host and port, for tests that talk to it over a socket of their own."""
        host, port = self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
        return host, int(port)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.capture(requests.request(method, self.url + path, timeout=kwargs.pop("timeout", 60), **kwargs))

    def capture(self, response: requests.Response) -> requests.Response:
        """Keep what a client saw (status, headers, and the body unless it is object data) for the leak check."""
        textual = response.headers.get("Content-Type", "").startswith(("application/json", "application/x-ndjson",
                                                                        "text/"))
        self.seen_responses.append(f"{response.status_code} {dict(response.headers)}\n"
                                   f"{response.text if textual else ''}")
        return response

    def leak_check(self) -> dict[str, int]:
        """Every captured response and every log this local EAS wrote, searched by the local EAS for every
        secret and token it issued; only counts come back."""
        logs = [self.log_path, *Path(self.state["state_dir"]).glob("**/*.log")]
        text = "\n".join(self.seen_responses) + "\n".join(
            path.read_text(encoding="utf-8", errors="replace") for path in dict.fromkeys(logs) if path.is_file())
        return self.admin("POST", "/leak-check", data=text.encode("utf-8"), timeout=120).json()

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def service_problems(self) -> str:
        """The service's WARNING and ERROR log lines (tracebacks included), for failure messages."""
        log = Path(self.state["state_dir"]) / "logs" / "service.log"
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
        # Short-lived test credentials make the SDK warn at every fetch that they are stale already: expected.
        return "\n".join(line for line in lines if ('"level": "WARNING"' in line or '"level": "ERROR"' in line)
                         and "stale time is in the past" not in line)

    def request_log(self, request_id: str, expected: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        """The service's request log records (logger ``app.request``) of ``request_id``, once ``expected`` of
        them are there: the line is written when the body has been sent, just after the client has it. Lines
        are split as a line reader splits them, and every one with the id must be a whole JSON record."""
        log = Path(self.state["state_dir"]) / "logs" / "service.log"
        deadline = time.monotonic() + timeout
        while True:
            text = log.read_text(encoding="utf-8", errors="replace")
            whole = text[:text.rfind("\n") + 1]  # not a last line still being written (nor its last bytes)
            lines = [line for line in whole.splitlines() if request_id in line]
            found = [record for record in map(json.loads, lines) if record.get("logger") == "app.request"]
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    @contextmanager
    def slow_clients(self, count: int, opening: bytes, drip: bytes, every: float) -> Iterator[list[socket.socket]]:
        """``count`` connections to the service that send ``opening``, then ``drip`` every ``every`` seconds
        (a slow client, or a connection no gateway buffers), until the ``with`` block ends: then all close."""
        connections: list[socket.socket] = []
        stop = threading.Event()

        def dripping() -> None:
            while not stop.wait(every):
                for connection in connections:
                    with suppress(OSError):  # closed by the server: the test tells whether that is fine
                        connection.sendall(drip)

        dripper = threading.Thread(target=dripping, daemon=True)
        try:
            for _ in range(count):
                connections.append(socket.create_connection(self.address, timeout=5))
                connections[-1].sendall(opening)
            dripper.start()
            time.sleep(every)  # every connection accepted and waiting for its next byte
            yield connections
        finally:
            stop.set()
            if dripper.is_alive():
                dripper.join(timeout=every + 5)
            for connection in connections:
                connection.close()

    def current_credentials(self) -> dict[str, str]:
        """What the instance would get now from its credentials endpoint (recorded for the secret searches)."""
        credentials = requests.get(self.state["credentials_uri"], timeout=5).json()
        self.seen_credentials.append(credentials)
        return credentials

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to an admin route (``/rotate``, ``/faults``...), with this run's secret from state.json."""
        return requests.request(method, self.state["admin_url"] + path, headers=admin_headers(self.state),
                                timeout=kwargs.pop("timeout", 5), **kwargs)

    def rotate(self) -> dict[str, str]:
        self.admin("POST", "/rotate").raise_for_status()
        return self.current_credentials()

    def send(self, method: str, target: str, body: Union[bytes, Iterable[bytes], None] = None,
             headers: Optional[Mapping[str, str]] = None, chunked: bool = False) -> RawAnswer:
        """One request with http.client, which sends ``target`` as written (already percent-encoded; requests
        would resolve ``../`` first); ``chunked`` sends an iterable body with Transfer-Encoding: chunked."""
        connection = http.client.HTTPConnection(*self.address, timeout=60)
        try:
            started = time.monotonic()
            connection.request(method, target, body=body, headers=dict(headers or {}), encode_chunked=chunked)
            response = connection.getresponse()
            return RawAnswer(response.status, response.headers, response.read(), time.monotonic() - started)
        finally:
            connection.close()

    def raw(self, request: bytes, timeout: float = 60) -> RawAnswer:
        """``request`` sent byte for byte on a new connection, whose write side is then closed (a client with
        nothing more to send): for what no HTTP client sends, such as a broken request line or framing."""
        started = time.monotonic()
        with socket.create_connection(self.address, timeout=timeout) as connection:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
            response = http.client.HTTPResponse(connection)
            response.begin()
            body = response.read()
        return RawAnswer(response.status, response.headers, body, time.monotonic() - started)

    def fault(self, **rule: Any) -> None:
        """Make the local OSS or MaxCompute fail on demand, as ``eas-devkit local fault oss|maxcompute`` does:
        ``service``, ``kind`` (status, reset, truncate, latency), and which requests (``method``, ``path``,
        ``count``)."""
        response = self.admin("POST", "/faults", json=rule)
        assert response.status_code == 201, response.text

    def fault_rules(self) -> list[dict[str, Any]]:
        """The rules in force, each with how many requests it ``matched``."""
        return self.admin("GET", "/faults").json()["rules"]

    def clear_faults(self) -> None:
        self.admin("DELETE", "/faults").raise_for_status()

    def shell(self, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A documented command line (``eas-devkit local exec -- python examples/x.py``), run by bash in the
        project directory as a user types it, against this local EAS; what it printed is kept for the leak
        check."""
        completed = subprocess.run(["bash", "-c", self._here(command)], cwd=self.project, env=self._shell_env(),
                                   capture_output=True, text=True, timeout=timeout)
        self.seen_responses.append(completed.stdout + completed.stderr)
        return completed

    def start_shell(self, command: str) -> subprocess.Popen:
        """``shell`` in the background, in a process group of its own, its output (stderr too) on a pipe."""
        return subprocess.Popen(["bash", "-c", self._here(command)], cwd=self.project, env=self._shell_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def _here(self, command: str) -> str:
        return command.replace("eas-devkit local ",
                               f"eas-devkit local --state-dir {shlex.quote(self.state['state_dir'])} ")

    def _shell_env(self) -> dict[str, str]:
        """This Python's scripts (python, eas-devkit) first on the PATH; this local EAS for every kit command."""
        return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "EAS_LOCAL_STATE_DIR": self.state["state_dir"]}

    def local(self, *arguments: str) -> subprocess.CompletedProcess:
        """``eas-devkit local <arguments>`` on this local EAS (``outage on``, ``load-table …``), as a user runs it."""
        return subprocess.run(
            [*devkit_command(self.project), "local", "--state-dir", self.state["state_dir"], *arguments],
            cwd=self.project, capture_output=True, text=True, timeout=120,
        )

    def outage(self, state: str) -> str:
        """``eas-devkit local outage on|off``: the credentials endpoint and file go away, or come back; what the
        command said."""
        result = self.local("outage", state)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def exec(self, *command: str) -> subprocess.CompletedProcess:
        """``eas-devkit local exec -- <command>``: run a command in the instance's environment."""
        return self.local("exec", "--", *command)

    def stats(self) -> dict[str, int]:
        return self.admin("GET", "/stats").json()

    def workers(self) -> set[int]:
        """The process ids of the service's gunicorn workers (the children of its master), from /proc."""
        master, children = self.state["service_pid"], set()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    children.add(int(entry.name))
            except OSError:  # the process ended while we looked
                continue
        return children

    def worker_serving(self, connection: socket.socket) -> int:
        """The worker holding the other end of ``connection`` (a client socket of the test's), found through
        /proc's socket inodes."""
        client_port = connection.getsockname()[1]
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == client_port:  # remote address of the server's socket
                inodes.add(fields[9])
        for pid in self.workers():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd).removeprefix("socket:[").removesuffix("]") in inodes:
                        return pid
                except OSError:
                    continue
        raise AssertionError(f"no worker holds the connection from port {client_port}")

    def service_alive(self) -> bool:
        """Whether the service's gunicorn master runs (a zombie does not: the local EAS reaps it only when it
        stops)."""
        try:
            stat = Path(f"/proc/{self.state['service_pid']}/stat").read_text()
        except OSError:
            return False
        return not stat.split(") ", 1)[1].startswith("Z")

    def oss_bucket(self) -> Any:
        """A real oss2 client of the local OSS, signing with the instance's credentials (to set up and check)."""
        import oss2
        from alibabacloud_credentials.provider import URLCredentialsProvider

        provider = URLCredentialsProvider(uri=self.state["credentials_uri"])
        return oss2.Bucket(oss2.ProviderAuthV4(provider), self.state["oss_endpoint"], self.state["bucket"],
                           region=self.state["region"])

    def odps(self) -> Any:
        """A real pyodps client of the local MaxCompute, signing as the developer (who may do anything there)."""
        from alibabacloud_credentials.provider import URLCredentialsProvider
        from odps import ODPS
        from odps.accounts import CredentialProviderAccount

        logging.getLogger("odps").setLevel(logging.WARNING)  # it logs the STS token at INFO
        provider = URLCredentialsProvider(uri=self.state["deployer_credentials_uri"])
        return ODPS(account=CredentialProviderAccount(provider), project=self.state["project"],
                    endpoint=self.state["odps_endpoint"], logview_host="http://127.0.0.1:9")


@dataclass
class Ledger:
    """What concurrent clients did, for a reliability test: every request's outcome, counted from any thread,
    and the first failures, described."""

    outcomes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, operation: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.outcomes[(operation, ok)] += 1
            if not ok and len(self.failures) < 20:
                self.failures.append(f"{operation}: {detail}")

    def answered(self, operation: str, response: requests.Response, ok: bool) -> bool:
        """``note`` of a request whose answer is ``response`` (``ok``: the answer expected), its status and text
        the detail of a failure; returns ``ok``."""
        self.note(operation, ok, f"{response.status_code} {response.text[:200]}")
        return ok

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return sum(count for (_, ok), count in self.outcomes.items() if not ok)


def start_local_eas(state_dir: Path, *options: str, project: Path,
                    environ: Optional[Mapping[str, str]] = None, reload: bool = False) -> RunningEAS:
    """``eas-devkit local up`` for ``project`` in ``state_dir``, once its state.json is written; ``environ``
    adds variables to the local EAS's own environment (not the service's: that is ``--env``). A test's service
    keeps the code it started with (``--no-reload``) unless ``reload``: an edit under mount/ during the run
    does not restart it under the test."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "local-eas.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(environ or {})
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [*devkit_command(project), "local", "--state-dir", str(state_dir), "up", *options,
             *([] if reload else ["--no-reload"])],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    state_file = state_dir / "state.json"
    deadline = time.monotonic() + 90
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_local_eas(process)
            pytest.fail(f"the local EAS did not start:\n{log_path.read_text(encoding='utf-8')}")
        time.sleep(0.1)
    running = RunningEAS(project, json.loads(state_file.read_text(encoding="utf-8")), log_path, process)
    if running.state.get("credentials_uri"):
        running.current_credentials()
    return running


def finish_local_eas(running: RunningEAS) -> None:
    """Search what the tests saw and what was logged for every issued secret, then stop the local EAS."""
    try:
        if running.process.poll() is None:
            found = running.leak_check()
            FIGURES.record("Secrets", local_eas_runs=1, responses_searched=len(running.seen_responses),
                           bytes_searched=found["bytes_searched"], credentials_searched=found["credentials_searched"],
                           lost=found["secret_hits"] + found["token_hits"])
            assert found["secret_hits"] == found["token_hits"] == 0, f"issued secrets leaked: {found}"
    finally:
        stop_local_eas(running.process)


@contextmanager
def running_local_eas(state_dir: Path, *options: str, project: Path,
                      environ: Optional[Mapping[str, str]] = None) -> Iterator[RunningEAS]:
    """``start_local_eas`` for a ``with`` block; ``finish_local_eas`` at its end, whatever happened in it."""
    running = start_local_eas(state_dir, *options, project=project, environ=environ)
    try:
        yield running
    finally:
        finish_local_eas(running)


def local_eas_fixture(*options: str, scope: str = "module", environ: Optional[Mapping[str, str]] = None) -> Any:
    """A fixture of a local EAS of the project of its own, ``eas-devkit local up --quiet <options>``, for a
    test that needs one configured differently from the plugin's ``local_eas``; ``finish_local_eas`` at the
    end of the ``scope``. In a test module: ``small_eas = local_eas_fixture("--env", "MAX_UPLOAD_BYTES=1024")``.
    """

    @pytest.fixture(scope=scope)
    def fixture(eas_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEAS]:
        state_dir = tmp_path_factory.mktemp("eas")
        with running_local_eas(state_dir, "--quiet", *options, project=eas_project, environ=environ) as running:
            yield running

    return fixture


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that its mtime surely changes, whatever the file system's resolution: the
    local EAS notices an edited policy (as RAM applies one) by its mtime."""
    path.write_text(text, encoding="utf-8")
    future = time.time_ns() + 2 * 10**9
    os.utime(path, ns=(future, future))
    time.sleep(0.01)


def stop_local_eas(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def concurrent_calls(seconds: float, call: Callable[[], int], clients: int = 8) -> list[int]:
    """Every status ``call`` returned while ``clients`` threads called it for ``seconds``."""
    deadline = time.monotonic() + seconds

    def client() -> list[int]:
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(call())
        return statuses

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [status for result in pool.map(lambda _: client(), range(clients)) for status in result]
