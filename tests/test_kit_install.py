"""How a generated project gets the dev kit: pinned at the template commit it was baked from, installed on a
fresh machine with only Python and pip — from a local clone of the template, from a git URL, and offline from a
classroom's wheelhouse — on the EAS image's Python 3.9."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Optional

import pytest
from conftest import TEMPLATE

BIN = Path(sys.executable).parent


def run(*command: str, cwd: Path, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in {**os.environ, **env}.items() if value != ""}
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
    return done


def head_commit() -> str:
    return run("git", "rev-parse", "HEAD", cwd=TEMPLATE).stdout.strip()


def python39() -> Optional[str]:
    candidates = [shutil.which("python3.9"), *map(str, Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")),
                  *map(str, Path("/root").glob(".pyenv/versions/3.9*/bin/python3.9"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 9)":
            return candidate
    return None


def test_the_kit_of_a_bake_from_a_local_clone_builds_offline_at_the_recorded_commit(bake, tmp_path):
    requirement = bake().read("requirements-dev.txt").splitlines()[-1]
    assert requirement.startswith("eas-devkit @ git+file://localhost/") and f"@{head_commit()}#" in requirement
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
        "--wheel-dir", str(tmp_path), requirement, cwd=tmp_path)
    (wheel,) = tmp_path.glob("eas_devkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for packaged in ("eas_devkit/schemas/service.schema.json", "eas_devkit/pytest_plugin.py",
                     "eas_devkit/local/oss/app.py", "eas_devkit/deploy/doctor/__init__.py",
                     "eas_devkit/deploy/doctor/rules/timeouts.py", "eas_devkit/bench/cli.py"):
        assert packaged in names, packaged
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "eas-devkit = eas_devkit.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.skipif(python39() is None, reason="no Python 3.9 on this machine (the EAS image's Python)")
def test_a_bake_from_a_git_url_installs_offline_from_a_wheelhouse_and_passes_on_python39(tmp_path):
    """The classroom: `make wheelhouse PYTHON=python3.9` (the only step that reaches PyPI), a template behind a
    git URL, and a project whose `make test` builds its .venv with no index, the kit at the pinned commit."""
    wheelhouse = tmp_path / "wheelhouse"
    run("make", "--no-print-directory", "wheelhouse", f"PYTHON={python39()}", f"WHEELHOUSE={wheelhouse}",
        cwd=TEMPLATE)
    # The EAS image has no compiler to count on: every compiled pin ships a wheel for its Python 3.9.
    # crcmod (oss2's) only ships its source; oss2 works without its C extension.
    built_here = {wheel.name.split("-")[0] for wheel in wheelhouse.glob("*-cp39-cp39-linux_*.whl")}
    assert built_here <= {"crcmod"}, f"pins with no Python 3.9 wheel, compiled from source: {built_here}"
    repository = tmp_path / "template.git"
    run("git", "clone", "--quiet", "--bare", str(TEMPLATE), str(repository), cwd=tmp_path)
    run(str(BIN / "cookiecutter"), "--no-input", f"git+{repository.as_uri()}", "--output-dir", str(tmp_path / "out"),
        cwd=tmp_path)
    project = tmp_path / "out" / "my_eas_service"
    commit = head_commit()
    requirement = (project / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()[-1]
    assert requirement == f"eas-devkit @ git+file://localhost{repository}@{commit}#subdirectory=eas-devkit"
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == commit

    result = run("make", "--no-print-directory", "test", cwd=project, timeout=1500, PYTHON=python39(),
                 VIRTUAL_ENV="", WHEELHOUSE=str(wheelhouse), PIP_INDEX_URL="http://127.0.0.1:9/simple",
                 PYTEST_ARGS="-q -p no:cacheprovider -m 'not reliability'")
    assert int(re.search(r"(\d+) passed", result.stdout).group(1)) >= 20, result.stdout[-3000:]
    assert (project / ".venv" / "bin" / "python3.9").exists()
    assert installed_kit_commit(project) == commit

    # `cruft update` moves the pin to a newer template commit (same kit version): the next make installs that.
    work = tmp_path / "work"
    run("git", "clone", "--quiet", str(repository), str(work), cwd=tmp_path)
    run("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty",
        "-m", "a newer template", cwd=work)
    run("git", "push", "--quiet", "origin", "HEAD", cwd=work)
    newer = run("git", "rev-parse", "HEAD", cwd=work).stdout.strip()
    requirements = project / "requirements-dev.txt"
    requirements.write_text(requirements.read_text(encoding="utf-8").replace(commit, newer), encoding="utf-8")
    run("make", "--no-print-directory", "check", cwd=project, PYTHON=python39(), VIRTUAL_ENV="",
        WHEELHOUSE=str(wheelhouse), PIP_INDEX_URL="http://127.0.0.1:9/simple")
    assert installed_kit_commit(project) == newer


def installed_kit_commit(project: Path) -> str:
    (installed,) = (project / ".venv" / "lib" / "python3.9" / "site-packages").glob("eas_devkit-*.dist-info")
    return json.loads((installed / "direct_url.json").read_text(encoding="utf-8"))["vcs_info"]["commit_id"]
