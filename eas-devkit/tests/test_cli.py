"""The ``eas-devkit`` command as a user meets it: its help, its version, the project it works on, the package.

Every command, at every level, answers ``--help``; every command works on the project given with
``--project`` (default: the current directory), wherever it is run from.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from conftest import PROJECT

import eas_devkit
from eas_devkit.cli import build_parser, main

COMMAND = Path(sys.executable).with_name("eas-devkit")  # the console script of this environment
KIT = Path(__file__).resolve().parents[1]


def command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of ``parser``, as the words that name it."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*path, name))
                found.extend(command_paths(sub, (*path, name)))
    return found


COMMANDS = command_paths(build_parser())


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMMAND), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_command_and_python_m_show_every_command(tmp_path):
    installed = run("--help", cwd=tmp_path)
    module = subprocess.run([sys.executable, "-m", "eas_devkit", "--help"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)

    assert installed.returncode == module.returncode == 0, installed.stderr + module.stderr
    assert installed.stdout == module.stdout
    assert installed.stdout.startswith("usage: eas-devkit [-h] [--version] [--project DIR] COMMAND ...")
    for command in ("local", "check", "deploy", "status", "events", "logs", "run-script", "delete", "bench"):
        assert f"\n    {command} " in installed.stdout, command


def test_the_version_is_the_packages(tmp_path):
    shown = run("--version", cwd=tmp_path)

    assert shown.returncode == 0
    assert shown.stdout.strip() == f"eas-devkit {eas_devkit.__version__}"
    assert eas_devkit.__version__ == metadata.version("eas-devkit")


def test_the_command_tree_is_the_documented_one():
    assert sorted(path[0] for path in COMMANDS if len(path) == 1) == sorted(
        ["local", "check", "deploy", "status", "events", "logs", "run-script", "delete", "load", "bench"])
    assert sorted(path[1] for path in COMMANDS if len(path) == 2 and path[0] == "local") == sorted(
        ["up", "demo", "exec", "rotate", "outage", "fault", "ram", "load-table", "maxcompute-auth"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    shown = capsys.readouterr()

    assert exited.value.code == 0, shown.err
    assert shown.out.startswith(f"usage: eas-devkit {' '.join(command)} "), shown.out
    assert "options:\n  -h, --help" in shown.out


def test_a_command_works_on_the_project_given_from_another_directory(tmp_path):
    checked = run("--project", str(PROJECT), "check", cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(r"^check: 0 errors, \d+ warnings \(service.json, ram/, mount/, examples/; target local\)$",
                     checked.stdout, re.MULTILINE), checked.stdout


def test_without_project_the_current_directory_is_the_project(tmp_path):
    here = run("check", cwd=PROJECT)
    elsewhere = run("check", cwd=tmp_path)

    assert here.returncode == 0 and "check: 0 errors" in here.stdout, here.stdout + here.stderr
    assert elsewhere.returncode == 1
    assert "ERROR service.json: is missing" in elsewhere.stdout and "eas-devkit --project DIR" in elsewhere.stdout


def test_a_project_that_is_not_a_directory_is_a_usage_error(tmp_path):
    result = run("--project", str(tmp_path / "nowhere"), "check", cwd=tmp_path)

    assert result.returncode == 2
    assert f"argument --project: {tmp_path / 'nowhere'} is not a directory" in result.stderr


@pytest.mark.parametrize("interval", ["0", "-1", "soon", "inf"])
def test_an_autoscale_interval_that_is_no_positive_number_is_a_usage_error(tmp_path, interval):
    result = run("--project", str(PROJECT), "local", "up", "--autoscale-interval", interval, cwd=tmp_path)

    assert result.returncode == 2
    assert f"argument --autoscale-interval: {interval!r} is not a number of seconds between 0 and 86400" in \
        result.stderr


@pytest.mark.parametrize(("args", "said"), [
    (("--requests", "0"), "argument --requests: '0' is not a whole number from 1 to 10000000"),
    (("--concurrency", "1000"), "argument --concurrency: '1000' is not a whole number from 1 to 256"),
    (("--path", "health"), "argument --path: 'health' is not a path starting with / (no spaces), e.g. /health"),
])
def test_a_load_with_a_bad_argument_is_a_usage_error_before_anything_is_sent(tmp_path, args, said):
    result = run("--project", str(PROJECT), "load", *args, cwd=tmp_path)

    assert result.returncode == 2
    assert said in result.stderr


def test_the_local_eas_runs_a_service_without_a_role_from_another_directory(tmp_path, baked):
    """``local demo`` of a bake without role, OSS or MaxCompute: its state is in that project, not here."""
    project = baked(role="none", oss=False, maxcompute=False)

    shown = run("--project", str(project), "local", "demo", cwd=tmp_path)

    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert 'GET /health       → 200 {"status": "ok"}' in shown.stdout
    assert "/credentials" not in shown.stdout and "/oss/" not in shown.stdout and "/maxcompute/" not in shown.stdout
    assert (project / ".local-eas" / "logs" / "service.log").is_file()
    assert list(tmp_path.iterdir()) == []


def test_the_wheel_has_every_module_and_the_schema(tmp_path):
    """Built from a copy of the kit's sources: setuptools leaves a build/ directory, whose leftovers would go
    into the next wheel built from the same tree."""
    source = tmp_path / "eas-devkit"
    shutil.copytree(KIT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                            str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("eas_devkit-*.whl")
    package = Path(eas_devkit.__file__).parent
    modules = {path.relative_to(package.parent).as_posix() for path in package.rglob("*.py")}
    assert all((path.parent / "__init__.py").is_file() for path in package.rglob("*.py")), "a namespace package"

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"eas_devkit-{eas_devkit.__version__}.dist-info/entry_points.txt").decode()
    assert modules <= names, sorted(modules - names)
    assert "eas_devkit/schemas/service.schema.json" in names
    assert "eas-devkit = eas_devkit.cli:main" in entry_points
    assert "eas_devkit = eas_devkit.pytest_plugin" in entry_points
