"""A copy of the project deployed by ``eas-devkit`` in a subprocess, as a user runs it, to a local EAS started
with that copy: what the deploy, logs and run-script tests share."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import requests
from conftest import PROJECT, SERVICE_JSON

from eas_devkit.testing import RunningEAS, devkit_command

NAME = SERVICE_JSON["metadata"]["name"]


@dataclass
class Deployment:
    project: Path
    eas: RunningEAS
    outputs: list[str]  # everything every command printed, for the secret search

    def run(self, *args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "EAS_TARGET": "local", "EAS_LOCAL_STATE_DIR": self.eas.state["state_dir"],
                       **(env or {})}
        result = subprocess.run([*devkit_command(self.project), *args], env=environment, capture_output=True,
                                text=True, timeout=300)
        self.outputs.append(result.stdout + result.stderr)
        return result

    def local_eas(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([*devkit_command(self.project), "local", "--state-dir", self.eas.state["state_dir"],
                                 *args], capture_output=True, text=True, timeout=60)
        self.outputs.append(result.stdout + result.stderr)
        return result

    def deploy(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("deploy", *args)

    def issued_secrets(self) -> list[str]:
        """The AccessKeySecret and SecurityToken of the deployer's and the role's credentials."""
        issued = [requests.get(self.eas.state["deployer_credentials_uri"], timeout=5).json()]
        if self.eas.state.get("credentials_uri"):
            issued.append(self.eas.current_credentials())
        return [value for credentials in issued for value in (credentials["AccessKeySecret"],
                                                               credentials["SecurityToken"])]

    def gateway(self, path: str, token: Optional[str], headers: Optional[dict[str, str]] = None) -> requests.Response:
        headers = {**(headers or {}), **({"Authorization": token} if token is not None else {})}
        return requests.get(f"{self.eas.state['gateway_url']}/api/predict/{NAME}{path}", headers=headers, timeout=30)


def copy_project(destination: Path) -> Path:
    """What a deploy reads: service.json, ram/ and mount/ (no caches)."""
    destination.mkdir(parents=True)
    shutil.copy2(PROJECT / "service.json", destination / "service.json")
    for directory in ("ram", "mount"):
        shutil.copytree(PROJECT / directory, destination / directory,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return destination


def succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def failed(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr
