"""Baking helpers for the template's tests.

The dev kit's pytest plugin (installed in the template's environment) makes this process hermetic before this
file is imported, and every baked project's test run inherits that environment; its ``reliability`` fixture
collects the figures that `make reliability` writes to the README.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

TEMPLATE = Path(__file__).resolve().parent.parent
KIT = TEMPLATE / "eas-devkit"
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))


def left_in(directory: Path, settle_seconds: float = 3) -> list[Path]:
    """What a refused bake left in ``directory``. For a service name with ``/`` the hook's clean-up of the
    parent directories runs just after cookiecutter returns: give it a moment."""
    deadline = time.monotonic() + settle_seconds
    while any(directory.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return sorted(directory.iterdir())


# The baked projects' own suites are most of the run (1–5½ minutes each). `make test` runs pytest-xdist with
# --dist loadgroup: these go to the two workers as two groups of about equal length (measured on the CI
# machine), and the short tests fill in around them. Left to the scheduler, one worker once got five of them.
EVEN_SHARES = {
    "passes_its_own_tests[default]": "first",  # 270 s on the CI machine
    "passes_its_own_tests[role=pai-default": "first",  # 250 s
    "passes_its_own_tests[role=none": "first",  # 20 s
    "installs_offline_from_a_wheelhouse": "second",  # 300 s
    "passes_its_own_tests[maxcompute=False]": "second",  # 165 s
    "passes_its_own_tests[oss=False]": "second",  # 125 s
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        share = next((group for part, group in EVEN_SHARES.items() if part in item.nodeid), None)
        if share is not None:
            item.add_marker(pytest.mark.xdist_group(share))
    items.sort(key=lambda item: not item.get_closest_marker("xdist_group"))  # the long ones start first


# Every combination of role × oss × maxcompute the hook accepts (role=none only without handlers).
ACCEPTED_COMBINATIONS = [
    {"role": role, "oss": oss, "maxcompute": maxcompute,
     **({"workspace_id": "123456"} if role == "pai-default" else {})}
    for role in ("custom", "pai-default")
    for oss in (True, False)
    for maxcompute in (True, False)
] + [
    {"role": "none", "oss": False, "maxcompute": False},
    {"role": "custom", "oss": True, "maxcompute": True, "maxcompute_sql": True},
    {"role": "pai-default", "oss": False, "maxcompute": True, "maxcompute_sql": True, "workspace_id": "123456"},
]


def combination_id(answers: dict[str, Any]) -> str:
    return "-".join(f"{key}={value}" for key, value in answers.items() if key != "workspace_id")


class Baked:
    def __init__(self, result) -> None:
        assert result.exit_code == 0, result.exception
        self.path = Path(result.project_path)
        self.context = result.context

    def read(self, relative: str) -> str:
        return (self.path / relative).read_text(encoding="utf-8")

    def json(self, relative: str) -> Any:
        return json.loads(self.read(relative))

    def make(self, target: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
        """Run a target of the baked Makefile, in the template's virtualenv unless told otherwise."""
        environment = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent), **env}
        environment = {key: value for key, value in environment.items() if value != ""}
        return subprocess.run(["make", "--no-print-directory", target], cwd=self.path, env=environment,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bake(cookies):
    def bake(**answers: Any) -> Baked:
        return Baked(cookies.bake(extra_context=answers))

    return bake
