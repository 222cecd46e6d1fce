"""Fixtures: local EAS instances run as a user runs them (``python -m local_eas up``), in subprocesses.

alibabacloud_credentials reads its environment once, at import: the hermetic settings are made here,
before any test module can import it, so no test ever probes the ECS metadata address or reads a
personal profile.
"""

from __future__ import annotations

import os
import tempfile

os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
os.environ["ALIBABA_CLOUD_CLI_PROFILE_DISABLED"] = "true"
os.environ["HOME"] = tempfile.mkdtemp(prefix="eas-test-home-")
for _name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
              "ALIBABA_CLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE"):
    os.environ.pop(_name, None)

import concurrent.futures  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from reliability import ReliabilityFigures  # noqa: E402

from local_eas.run_secret import admin_headers  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
SERVICE_JSON = json.loads((PROJECT / "service.json").read_text(encoding="utf-8"))
HAS_ROLE = bool(SERVICE_JSON.get("options", {}).get("enable_ram_role"))
CONTAINER_ENV = {item["name"]: item["value"] for item in SERVICE_JSON["containers"][0]["env"]}
HAS_OSS = "OSS_BUCKET" in CONTAINER_ENV
HAS_MAXCOMPUTE = "ODPS_PROJECT" in CONTAINER_ENV


@dataclass
class RunningEAS:
    """A local EAS started for the tests: its state.json, its output, and a way to call things."""

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
        """``python -m local_eas exec -- <command>``: run a command in the instance's environment."""
        return subprocess.run(
            [sys.executable, "-m", "local_eas", "--state-dir", self.state["state_dir"], "exec", "--", *command],
            cwd=PROJECT, capture_output=True, text=True, timeout=120,
        )

    def stats(self) -> dict[str, int]:
        return self.admin("GET", "/stats").json()


def start_local_eas(state_dir: Path, *options: str, project: Path = PROJECT) -> RunningEAS:
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "local-eas.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_eas", "--project", str(project), "--state-dir", str(state_dir),
             "up", *options],
            cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    state_file = state_dir / "state.json"
    deadline = time.monotonic() + 90
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_local_eas(process)
            pytest.fail(f"the local EAS did not start:\n{log_path.read_text(encoding='utf-8')}")
        time.sleep(0.1)
    running = RunningEAS(json.loads(state_file.read_text(encoding="utf-8")), log_path, process)
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


FIGURES = ReliabilityFigures()


@pytest.fixture(scope="session")
def reliability() -> ReliabilityFigures:
    """Where reliability tests record what they did: ``reliability.record("Rotation soak", requests=n, lost=0)``."""
    return FIGURES


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    FIGURES.write_if_asked(exitstatus, sorted(PROJECT.glob("README*.md")))


@pytest.fixture(scope="session")
def local_eas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEAS]:
    """The service as `make dev` runs it: credentials endpoint + OSS + gunicorn, defaults of service.json."""
    running = start_local_eas(tmp_path_factory.mktemp("local-eas"), "--quiet")
    yield running
    finish_local_eas(running)


# Just over the SDK's 15-minute refresh margin: it fetches again ~3 s after each issuance.
SHORT_LIFETIME = ("--credentials-lifetime", "903", "--rotate-every", "1")


@pytest.fixture(scope="session")
def rotating_eas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEAS]:
    """Credentials URI method, with new credentials (a new AccessKeyId) issued every second."""
    running = start_local_eas(tmp_path_factory.mktemp("rotating"), "--quiet", *SHORT_LIFETIME)
    yield running
    finish_local_eas(running)


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


@pytest.fixture(scope="session")
def oss_admin(local_eas: RunningEAS):
    """A real oss2 client of the local OSS, signing with the instance's credentials (to set up and check)."""
    import oss2
    from alibabacloud_credentials.provider import URLCredentialsProvider

    provider = URLCredentialsProvider(uri=local_eas.state["credentials_uri"])
    return oss2.Bucket(oss2.ProviderAuthV4(provider), local_eas.state["oss_endpoint"], local_eas.state["bucket"],
                       region=local_eas.state["region"])


@pytest.fixture(scope="session")
def data_prefix() -> str:
    return CONTAINER_ENV.get("OSS_DATA_PREFIX", "")
{%- if cookiecutter.maxcompute %}


@pytest.fixture(scope="session")
def odps_admin(local_eas: RunningEAS):
    """A real pyodps client of the local MaxCompute, signing as the developer (who may do anything there)."""
    import logging

    from alibabacloud_credentials.provider import URLCredentialsProvider
    from odps import ODPS
    from odps.accounts import CredentialProviderAccount

    logging.getLogger("odps").setLevel(logging.WARNING)  # it logs the STS token at INFO
    provider = URLCredentialsProvider(uri=local_eas.state["deployer_credentials_uri"])
    return ODPS(account=CredentialProviderAccount(provider), project=local_eas.state["project"],
                endpoint=local_eas.state["odps_endpoint"], logview_host="http://127.0.0.1:9")
{%- endif %}
