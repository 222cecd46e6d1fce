"""One service instance, run from ``service.json`` the way EAS runs it, on this machine.

EAS starts ``containers[0].script`` with the container's ``env``, the code mounted at ``/mnt/data/``, and,
when the service has a RAM role, ``ALIBABA_CLOUD_CREDENTIALS_URI`` and ``/etc/ram/credentials``. Here the
same script runs with three substitutions, all loopback: the mount path becomes a local directory, the
``0.0.0.0:<port>`` bind becomes ``127.0.0.1:<free port>``, and the cloud endpoints become the local ones.
Nothing else in the environment leaks in from the developer's shell (no AccessKey, no CLI profile).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional
from urllib.parse import urlsplit

from .. import hermetic

MOUNT_PATH = "/mnt/data/"
GRACE_PERIOD_SECONDS = 30  # what EAS gives an instance between SIGTERM and SIGKILL
UNEMULATED_ENDPOINT = "http://127.0.0.1:9"  # the discard port, closed: connection refused at once


class InstanceError(RuntimeError):
    """The instance could not be started as service.json describes; the message says why."""


@dataclass(frozen=True)
class ServiceSpec:
    """The parts of service.json the local instance needs."""

    name: str
    script: str
    port: int
    env: dict[str, str]
    has_role: bool
    role_arn: Optional[str]  # None with the PAI default role
    mount_path: Optional[str]
    mount_source: Optional[str]  # oss://bucket/prefix/
    local_overrides: dict[str, str] = field(default_factory=dict)  # --env of the local EAS

    @classmethod
    def load(cls, path: Path, env_overrides: Optional[Mapping[str, str]] = None) -> ServiceSpec:
        return cls.of(json.loads(path.read_text(encoding="utf-8")), env_overrides)

    @classmethod
    def of(cls, config: Mapping[str, Any], env_overrides: Optional[Mapping[str, str]] = None) -> ServiceSpec:
        container = config["containers"][0]
        if "script" not in container:
            raise InstanceError("containers[0].script is missing: the local EAS runs the run command (script)")
        mounts = [m for m in config.get("storage", []) if "oss" in m]
        return cls(
            name=config["metadata"]["name"],
            script=container["script"],
            port=int(container["port"]),
            env={**{item["name"]: str(item["value"]) for item in container.get("env", [])}, **(env_overrides or {})},
            local_overrides=checked_overrides(env_overrides or {}),
            has_role=bool(config.get("options", {}).get("enable_ram_role")),
            role_arn=config.get("role_arn"),
            mount_path=mounts[0]["mount_path"] if mounts else None,
            mount_source=mounts[0]["oss"]["path"] if mounts else None,
        )

    @property
    def binds_port(self) -> bool:
        """Whether the run command binds ``0.0.0.0:<containers[0].port>``, where EAS reaches the service."""
        return f"0.0.0.0:{self.port}" in self.script

    @property
    def bucket(self) -> Optional[str]:
        return self.env.get("OSS_BUCKET")

    @property
    def region(self) -> str:
        return self.env.get("REGION", "cn-hangzhou")


def checked_overrides(overrides: Mapping[str, str]) -> dict[str, str]:
    """The developer's overrides; an endpoint may be moved, but only to another loopback address."""
    for name, value in overrides.items():
        if name.endswith("_ENDPOINT") and urlsplit(value).hostname not in ("127.0.0.1", "localhost"):
            raise InstanceError(f"--env {name}={value}: the local EAS keeps every endpoint on 127.0.0.1")
    return dict(overrides)


def local_script(spec: ServiceSpec, mount_dir: Path, port: int, require_bind: bool = True) -> str:
    """The run command with the mount and the bind address moved to this machine. Without ``require_bind``
    (the local EAS control plane), a command that binds nothing runs too, as on EAS: a one-shot script."""
    bind = f"0.0.0.0:{spec.port}"
    if not spec.binds_port and require_bind:
        raise InstanceError(f"the run command does not bind {bind} (containers[0].port): the local EAS, like the "
                            f"EAS gateway, can only reach the service on the port service.json declares")
    script = spec.script.replace(bind, f"127.0.0.1:{port}")
    if spec.mount_path:
        script = re.sub(re.escape(spec.mount_path.rstrip("/")) + r"(?=/|\b)", str(mount_dir), script)
    return script


def local_endpoints(spec: ServiceSpec, local: Mapping[str, str]) -> dict[str, str]:
    """Every ``*_ENDPOINT`` of service.json's env, swapped for a loopback one: the local service where
    there is one, else a closed port, so nothing the instance runs can reach the real cloud."""
    return {name: local.get(name, UNEMULATED_ENDPOINT) for name in spec.env if name.endswith("_ENDPOINT")}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def instance_environment(
    spec: ServiceSpec,
    endpoints: Mapping[str, str],
    home: Path,
    credentials_uri: Optional[str] = None,
    credentials_file: Optional[Path] = None,
    trust: Optional[Mapping[str, str]] = None,
) -> dict[str, str]:
    """What the instance's process sees: service.json's env, local endpoints (and ``trust``, the variables that
    make it trust them when they speak HTTPS), injected credentials."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": str(home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(spec.env)
    env.update(endpoints)
    env.update(trust or {})
    env.update(spec.local_overrides)  # the developer's --env wins, endpoints included (loopback only)
    env.update(hermetic.SETTINGS)  # on a laptop: no 100.100.100.200, no developer's profile
    if spec.has_role:
        if credentials_uri:
            env["ALIBABA_CLOUD_CREDENTIALS_URI"] = credentials_uri
        if credentials_file:
            env["EAS_RAM_CREDENTIALS_FILE"] = str(credentials_file)
    return env


class Instance:
    """The service's process: started with ``start()``, ready when ``/health`` answers, stopped like EAS.

    The local EAS control plane drives the process step by step instead (``launch``, then its own readiness
    checks; ``terminate``, ``wait``, ``kill`` to stop it gracefully): see :mod:`.control_plane.supervisor`.
    """

    def __init__(self, script: str, env: dict[str, str], port: int, log: Optional[IO[str]] = None,
                 cwd: Optional[Path] = None) -> None:
        self.script = script
        self.env = env
        self.port = port
        self.log = log
        self.cwd = cwd
        self.process: Optional[subprocess.Popen[Any]] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    def start(self, ready_timeout: float = 60) -> None:
        self.launch()
        self._wait_ready(ready_timeout)

    def launch(self) -> None:
        """Run the script in a process group of its own (signals reach its workers too); do not wait."""
        self.process = subprocess.Popen(
            ["bash", "-c", self.script], env=self.env, cwd=self.cwd, stdout=self.log or None,
            stderr=subprocess.STDOUT if self.log else None, start_new_session=True,
        )

    def exit_status(self) -> Optional[int]:
        """The exit status once the process has exited, else None (also before ``launch``)."""
        return self.process.poll() if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise InstanceError(f"the run command exited with status {self.process.returncode} before the "
                                    "service answered; its output is above (or in .local-eas/logs/)")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:  # refused, reset, URLError; and on Python 3.9 socket.timeout, not yet a TimeoutError
                pass
            time.sleep(0.1)
        self.stop()
        raise InstanceError(f"the service did not answer GET /health on port {self.port} within {timeout:.0f} s")

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM (or ``sig``) to the whole process group (the run command and its workers)."""
        if self.running():
            assert self.process is not None
            _signal_group(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole process group."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGKILL)

    def wait(self, timeout: Optional[float]) -> Optional[int]:
        """The exit status, waiting up to ``timeout`` seconds (None: for ever); None if still running."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = GRACE_PERIOD_SECONDS, first: int = signal.SIGTERM) -> Optional[int]:
        """SIGTERM (or ``first``) the whole process group, SIGKILL what is left after the grace period."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.terminate(first)
        status = self.wait(grace)
        if status is None:
            self.kill()
            status = self.wait(None)
        return status


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, sig)
