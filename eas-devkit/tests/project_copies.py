"""Copies of a baked project to break in one place, and ``eas-devkit check`` run on them as a user runs it:
what the doctor's tests share."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Optional
from unittest import mock

from conftest import SERVICE_JSON as SERVICE

from eas_devkit.cli import main

NOT_COPIED = shutil.ignore_patterns(".venv", ".local-eas", "__pycache__", ".pytest_cache", ".ruff_cache")


class Checked:
    """The output of one ``eas-devkit check``."""

    def __init__(self, returncode: int, stdout: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.lines = stdout.splitlines()

    def finding(self, level: str, where: str, *words: str) -> str:
        """The one ``<level> <where>: …`` line, which must contain every word."""
        found = [line for line in self.lines if line.startswith(f"{level} {where}: ")]
        assert len(found) == 1, f"expected one {level} at {where}, got {len(found)}:\n{self.stdout}"
        for word in words:
            assert word in found[0], f"{word!r} not in: {found[0]}"
        return found[0]

    def at(self, where: str) -> list[str]:
        return [line for line in self.lines if re.match(rf"^(ERROR|WARN) {re.escape(where)}: ", line)]

    def snippet(self, line: str) -> Any:
        """The JSON document printed, indented, under a finding's line."""
        start = self.lines.index(line) + 1
        end = next((i for i in range(start, len(self.lines)) if not self.lines[i].startswith("    ")), len(self.lines))
        return json.loads("\n".join(self.lines[start:end]))

    def assert_clean(self) -> None:
        assert self.returncode == 0, self.stdout
        assert not [line for line in self.lines if line.startswith("ERROR ")], self.stdout
        assert re.match(r"^check: 0 errors, \d+ warnings? \(", self.lines[-1]), self.stdout


class Project:
    """A copy of the baked project to break."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, relative: str) -> str:
        return (self.path / relative).read_text(encoding="utf-8")

    def write(self, relative: str, text: str) -> None:
        (self.path / relative).write_text(text, encoding="utf-8")

    def write_json(self, relative: str, data: Any) -> None:
        self.write(relative, json.dumps(data, indent=2))

    def edit(self, relative: str, change: Callable[[Any], Any]) -> None:
        """Parse the file, let ``change`` modify it in place (what it returns is ignored), save it."""
        data = json.loads(self.read(relative))
        change(data)
        self.write_json(relative, data)

    def remove(self, relative: str) -> None:
        (self.path / relative).unlink()

    def check(self, *options: str, env: Optional[dict[str, str]] = None) -> Checked:
        """``eas-devkit --project <copy> check <options>``, run by the command's own ``main`` in this process
        (one interpreter start less for each of the hundred checks; ``test_cli.py`` runs it as a program)."""
        output = io.StringIO()
        with mock.patch.dict(os.environ, env or {}), contextlib.redirect_stdout(output):
            returncode = main(["--project", str(self.path), "check", *options])
        return Checked(returncode, output.getvalue())


def copy_of(baked: Path, tmp_path: Path) -> Project:
    copy = tmp_path / baked.name
    shutil.copytree(baked, copy, ignore=NOT_COPIED)
    return Project(copy)


def env_entries(service: dict[str, Any]) -> list[dict[str, Any]]:
    return service["containers"][0]["env"]


def set_env(service: dict[str, Any], name: str, value: Any) -> int:
    """Set (or add) a variable of containers[0].env; returns its index."""
    entries = env_entries(service)
    for index, entry in enumerate(entries):
        if entry["name"] == name:
            entry["value"] = value
            return index
    entries.append({"name": name, "value": value})
    return len(entries) - 1


def env_index(name: str) -> int:
    """Where ``set_env`` puts the variable in the baked project's env: its place, or appended."""
    names = [entry["name"] for entry in env_entries(SERVICE)]
    return names.index(name) if name in names else len(names)


def env_value_where(name: str) -> str:
    return f"service.json $.containers[0].env[{env_index(name)}].value"


def as_pai_default_role(service: dict[str, Any]) -> None:
    service["options"] = {"enable_ram_role": True}
    service.pop("role_arn", None)


def without_statements(resource: str) -> Callable[[dict[str, Any]], None]:
    def edit(policy: dict[str, Any]) -> None:
        policy["Statement"] = [statement for statement in policy["Statement"] if resource not in statement["Resource"]]
    return edit


# The production settings of docs/production.md, as the template renders them (the default bake's values are kept
# where it has them; until the template renders them all, a test adds the missing ones here).
PRODUCTION_METADATA = {
    "rpc": {"keepalive": 30000, "enable_sigterm": True},
    "eas": {"termination_grace_period": 30},
    "rolling_strategy": {"max_surge": 1, "max_unavailable": 0},
}


def in_production(service: dict[str, Any]) -> None:
    """Give ``service`` the production settings it does not have yet."""
    metadata = service["metadata"]
    for key, settings in PRODUCTION_METADATA.items():
        section = metadata.setdefault(key, {})
        for name, value in settings.items():
            section.setdefault(name, value)


# The template's example values and what they are replaced with for the cloud.
EXAMPLE_ACCOUNT = "1234567890123456"
OWN_ACCOUNT = "1987654321098765"


def example_values(service: dict[str, Any]) -> dict[str, str]:
    """The template's example values in this service, each with the answer that set it."""
    name = service["metadata"]["name"]
    return {EXAMPLE_ACCOUNT: "role_arn", f"{name.replace('_', '-')}-bucket": "oss_bucket",
            f"{name}_project": "odps_project"}


def replace_everywhere(project: Project, values: dict[str, str]) -> None:
    """Replace each value in service.json and ram/ (what a team does before its first cloud deploy)."""
    ram_files = [f"ram/{path.name}" for path in (project.path / "ram").iterdir() if path.suffix in (".json", ".sql")]
    for relative in ("service.json", *ram_files):
        text = project.read(relative)
        for old, new in values.items():
            text = text.replace(old, new)
        project.write(relative, text)
