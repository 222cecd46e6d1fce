"""The Makefile's commands as a user types them: what a command prints for a machine is only its own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import PROJECT


def make(*args: str) -> subprocess.CompletedProcess:
    # As typed in a shell: not a sub-make of `make test` (which would add "Entering directory" lines).
    environment = {key: value for key, value in os.environ.items() if key not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    environment["VIRTUAL_ENV"] = sys.prefix
    return subprocess.run(["make", *args], cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=300)


def test_make_check_format_json_prints_only_the_json_report() -> None:
    result = make("check", "ARGS=--format json")

    report = json.loads(result.stdout)  # the documented command, piped into a JSON parser
    assert set(report) >= {"errors", "warnings", "findings"}, report
    assert result.returncode == (1 if report["errors"] else 0)
