"""`make dev`'s edit loop: a save under mount/ is served within seconds, on the same local EAS (the same
instance credentials, the same objects), with one status line; a save that breaks the code says why and the
next save recovers; ``--no-reload`` keeps the code the service started with.

Each test runs ``eas-devkit local up`` on a copy of the baked project, as a developer runs ``make dev``, and
edits the copy's health route as a developer's editor saves it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import requests
from conftest import PROJECT
from project_copies import copy_of

from eas_devkit.testing import RunningEAS, finish_local_eas, start_local_eas

ROUTE = "mount/app/routes/health.py"
ANSWER = '{"status": "ok"}'
SERVED_WITHIN = 15  # seconds; 0.7 s on an idle machine (docs/development.md), the rest is headroom for a busy CI


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_of(PROJECT, tmp_path).path


@pytest.fixture
def dev(project: Path, tmp_path: Path) -> Iterator[RunningEAS]:
    running = start_local_eas(tmp_path / "eas", "--quiet", project=project, reload=True)
    try:
        yield running
    finally:
        finish_local_eas(running)


def save(project: Path, text: str) -> None:
    (project / ROUTE).write_text(text, encoding="utf-8")


def edited(number: int) -> str:
    original = (PROJECT / ROUTE).read_text(encoding="utf-8")
    assert ANSWER in original
    return original.replace(ANSWER, f'{{"status": "ok", "edit": {number}}}')


def health(running: RunningEAS) -> Optional[dict[str, Any]]:
    try:
        return running.get("/health", timeout=2).json()
    except requests.RequestException:
        return None


def eventually(condition: Callable[[], Any], what: str, timeout: float = SERVED_WITHIN) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def reload_lines(running: RunningEAS) -> list[str]:
    return [line for line in running.output().splitlines() if line.startswith("reload: ")]


def test_a_save_is_served_within_seconds_on_the_same_local_eas_and_a_broken_save_recovers(
        dev: RunningEAS, project: Path) -> None:
    key_id = dev.get("/credentials").json()["access_key_id"]
    assert dev.request("PUT", "/oss/objects/before-the-edit.txt", data=b"kept").status_code in (200, 201)

    save(project, edited(1))
    eventually(lambda: (health(dev) or {}).get("edit") == 1, "the edited route's answer")
    (line,) = eventually(lambda: reload_lines(dev), "the status line")
    assert line.startswith(f"reload: {ROUTE} changed — the service restarted with the new code in "), line
    assert line.endswith("; kept: instance credentials, OSS objects, MaxCompute tables"), line
    assert dev.get("/credentials").json()["access_key_id"] == key_id  # the same credentials, still valid
    assert dev.get("/oss/objects/before-the-edit.txt").content == b"kept"

    save(project, edited(2) + "\ndef broken(:\n")
    second = eventually(lambda: reload_lines(dev)[1:2], "the failed reload's status line")[0]
    failure = dev.output()[dev.output().index(second):]
    assert "the new code does not start (the run command exited with status" in failure, failure
    assert "the service is DOWN" in failure and "fix the error and save again" in failure
    assert 'File "' in failure and ROUTE.split("/", 1)[1] in failure and "SyntaxError: invalid syntax" in failure
    assert health(dev) is None  # down, as the line says

    save(project, edited(3))
    eventually(lambda: (health(dev) or {}).get("edit") == 3, "the fixed route's answer")
    third = eventually(lambda: reload_lines(dev)[2:3], "the recovering reload's status line")[0]
    assert third.startswith(f"reload: {ROUTE} changed — the service restarted with the new code"), third
    assert dev.get("/credentials").json()["access_key_id"] == key_id
    assert dev.get("/oss/objects/before-the-edit.txt").content == b"kept"


def test_no_reload_keeps_the_code_the_service_started_with(project: Path, tmp_path: Path) -> None:
    running = start_local_eas(tmp_path / "eas", "--quiet", "--no-reload", project=project, reload=True)
    try:
        assert "restarts the service" not in running.output()
        save(project, edited(1))
        time.sleep(2)  # a reload takes about 1 s here
        assert health(running) == {"status": "ok"} and not reload_lines(running)
    finally:
        finish_local_eas(running)
