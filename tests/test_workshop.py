"""The generated project's lab, docs/workshop.md, walked command by command against the local EAS.

The lab's first command bakes the project (``cookiecutter --no-input "$TEMPLATE"``), so the walk starts in
an empty directory with ``TEMPLATE`` pointing at this template, in the template's virtualenv (which the
lab's ``source .venv/bin/activate`` finds through a link: the walk installs nothing). The lab's port 8000
becomes a free one, so a service of the developer's own on 8000 does not get in the way.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE
from lab import Step, Terminal, console_blocks, matches, steps, substitute, terminal_environment

LAB = "docs/workshop.md"
TRANSLATIONS = ("zh-Hant", "zh-Hans")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def report(step: Step, expected: str, actual: str) -> str:
    return (f"{LAB} line {step.line}: $ {step.command}\n--- the lab says:\n{expected}\n"
            f"--- it printed:\n{actual}")


@pytest.fixture
def lab(bake) -> str:
    return bake().read(LAB)


def test_the_lab_has_the_parts_the_workshop_needs(lab):
    commands = [step.command for step in steps(lab)]
    for needed in ('cookiecutter --no-input "$TEMPLATE"', 'make dev ARGS="--port 8000 --quiet"', "make deploy",
                   "eas-devkit local ram set-trust my-eas-service-role .local-eas/trust-without-eas.json",
                   'eval "$(eas-devkit status --export)"', "make delete ARGS=--yes"):
        assert needed in commands
    assert "failed to assume role for user" in lab and "AccessDenied" in lab
    assert sum(step.background for step in steps(lab)) == 1


def test_the_lab_shows_a_classroom_without_internet_how_to_install_from_a_wheelhouse(lab):
    before_you_start = lab.split("## 0.", 1)[1].split("## 1.", 1)[0]
    for needed in ("make wheelhouse PYTHON=python3.9 WHEELHOUSE=", "--no-index --find-links",
                   "export TEMPLATE=/path/to/the/template/clone", "make dev WHEELHOUSE=/path/to/wheelhouse"):
        assert needed in before_you_start


def test_every_command_of_the_lab_prints_what_the_lab_says(lab, tmp_path):
    port = str(free_port())
    replacements = {"127.0.0.1:8000": f"127.0.0.1:{port}", "--port 8000": f"--port {port}"}
    venv = Path(sys.executable).parent.parent
    environment = {**terminal_environment(os.environ), "TEMPLATE": str(TEMPLATE), "VIRTUAL_ENV": str(venv),
                   "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    workspace, state = tmp_path / "workspace", tmp_path / "shell"
    workspace.mkdir()
    state.mkdir()
    terminal = Terminal(cwd=workspace, env=environment, state=state)
    walked = steps(lab)
    try:
        for step in walked:
            command = substitute(step.command, replacements)
            expected = substitute(step.expected, replacements)
            if step.background:
                actual = terminal.start(Step(command, expected, True, step.line))
            else:
                if command.startswith("source .venv/"):  # the lab's venv is the template's
                    (terminal.cwd / ".venv").symlink_to(venv)
                actual = terminal.run(Step(command, expected, False, step.line))
            assert matches(expected, actual), report(step, expected, actual)
    finally:
        statuses = terminal.interrupt_all()
    assert statuses and all(status in (0, 130, -2) for status in statuses), statuses  # Ctrl-C stopped it


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_each_translation_of_the_lab_runs_the_same_commands_with_the_same_output(bake, lab, language):
    translated = bake().read(f"docs/workshop.{language}.md")
    english_blocks = [(info, body) for info, body, _ in console_blocks(lab)]
    assert [(info, body) for info, body, _ in console_blocks(translated)] == english_blocks
