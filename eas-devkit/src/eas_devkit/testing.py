"""What a service's tests need from the local EAS, for the pytest plugin and for tests that start their own.

    running = start_local_eas(state_dir, "--quiet", project=project)   # `eas-devkit local up`, in a subprocess
    running.get("/health"); running.rotate(); running.exec("python", "mount/list_oss_objects.py")
    finish_local_eas(running)          # searches every response and log for the issued secrets, then stops it

Each local EAS runs as a user runs it, in a process group of its own; the test process is hermetic
(``eas_devkit.hermetic``, applied by the plugin before any test module is imported).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

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

    def exec(self, *command: str) -> subprocess.CompletedProcess:
        """``eas-devkit local exec -- <command>``: run a command in the instance's environment."""
        return subprocess.run(
            [*devkit_command(self.project), "local", "--state-dir", self.state["state_dir"], "exec", "--", *command],
            cwd=self.project, capture_output=True, text=True, timeout=120,
        )

    def stats(self) -> dict[str, int]:
        return self.admin("GET", "/stats").json()


def devkit_command(project: Path) -> list[str]:
    """The kit's command line for ``project``, run by this Python (``python -m eas_devkit --project …``)."""
    return [sys.executable, "-m", "eas_devkit", "--project", str(project)]


def start_local_eas(state_dir: Path, *options: str, project: Path) -> RunningEAS:
    """``eas-devkit local up`` for ``project`` in ``state_dir``, once its state.json is written."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "local-eas.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [*devkit_command(project), "local", "--state-dir", str(state_dir), "up", *options],
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
