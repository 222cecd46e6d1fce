"""A generated project records its answers, and ``cruft update`` brings it up to a newer template — also from
the last commit before the dev kit, whose projects carried their own copy of the tools.

The template is copied into a git repository of its own (commit "v1"); a project is baked from it with plain
cookiecutter, as the README says, and put in git. Its answer file is made older (no ``docs_language``, as a
project baked before that answer existed), and it gets a change of its own. The template then moves on
("v2": an edited file and a new answer) and the project is updated with cruft.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE

NOT_TEMPLATE = shutil.ignore_patterns(".git", ".venv", ".hypothesis", ".ruff_cache", ".pytest_cache", "__pycache__",
                                      ".local-eas", "RELIABILITY.md", "build", "*.egg-info")
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Workshop", "GIT_AUTHOR_EMAIL": "workshop@example.com",
                "GIT_COMMITTER_NAME": "Workshop", "GIT_COMMITTER_EMAIL": "workshop@example.com"}
BIN = Path(sys.executable).parent


def run(*command: str, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_IDENTITY},
                          stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def commit_all(repo: Path, message: str) -> str:
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", message, cwd=repo)
    return run("git", "rev-parse", "HEAD", cwd=repo).strip()


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, repo, ignore=NOT_TEMPLATE)
    run("git", "init", "-q", "-b", "main", cwd=repo)
    return repo


def test_a_project_baked_by_cookiecutter_records_its_answers_for_cruft(template_repo, tmp_path):
    v1 = commit_all(template_repo, "v1")
    run(str(BIN / "cookiecutter"), "--no-input", str(template_repo), "-o", str(tmp_path / "out"),
        "region=cn-shanghai", "docs_language=zh-Hant", cwd=tmp_path)
    state = json.loads((tmp_path / "out" / "my_eas_service" / ".cruft.json").read_text(encoding="utf-8"))

    assert state["template"] == str(template_repo) and state["commit"] == v1
    answers = state["context"]["cookiecutter"]
    assert answers["region"] == "cn-shanghai" and answers["docs_language"] == "zh-Hant"
    assert not {key for key in answers if key.startswith("_")} - {"_template", "_commit"}  # no local paths
    run(str(BIN / "cruft"), "check", cwd=tmp_path / "out" / "my_eas_service")  # up to date with v1


def test_cruft_update_applies_a_newer_template_to_an_older_answer_file_cleanly(template_repo, tmp_path):
    commit_all(template_repo, "v1")
    run(str(BIN / "cookiecutter"), "--no-input", str(template_repo), "-o", str(tmp_path), cwd=tmp_path)
    project = tmp_path / "my_eas_service"
    run("git", "init", "-q", "-b", "main", cwd=project)
    cruft_file = project / ".cruft.json"
    state = json.loads(cruft_file.read_text(encoding="utf-8"))
    del state["context"]["cookiecutter"]["docs_language"]  # baked before the answer existed
    cruft_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    gunicorn = project / "mount" / "gunicorn.conf.py"
    own_change = "# our own change: kept by the update\n"
    gunicorn.write_text(own_change + gunicorn.read_text(encoding="utf-8"), encoding="utf-8")
    commit_all(project, "the service as baked, with a change of its own")

    template_dir = template_repo / "{{cookiecutter.service}}"
    defaults = json.loads((template_repo / "cookiecutter.json").read_text(encoding="utf-8"))
    newer = {"maintainer": "platform-team", **defaults}  # a new answer, first in the prompts
    (template_repo / "cookiecutter.json").write_text(json.dumps(newer, ensure_ascii=False, indent=2) + "\n",
                                                     encoding="utf-8")
    with (template_dir / "mount" / "gunicorn.conf.py").open("a", encoding="utf-8") as conf:
        conf.write("\n# Maintained by {{ cookiecutter.maintainer }}.\n")
    v2 = commit_all(template_repo, "v2")

    output = run(str(BIN / "cruft"), "update", "--skip-apply-ask", cwd=project)

    assert "Good work! Project's cruft has been updated" in output, output
    assert not list(project.rglob("*.rej")), "the update did not apply cleanly"
    text = gunicorn.read_text(encoding="utf-8")
    assert text.startswith(own_change) and text.endswith("# Maintained by platform-team.\n")
    state = json.loads(cruft_file.read_text(encoding="utf-8"))
    assert state["commit"] == v2
    assert state["context"]["cookiecutter"]["docs_language"] == "en"  # the older file's missing answer: default
    changed = run("git", "status", "--porcelain", cwd=project).split("\n")
    assert sorted(line[3:] for line in changed if line) == [".cruft.json", "mount/gunicorn.conf.py",
                                                            "requirements-dev.txt"]
    assert f"@{v2}#subdirectory=eas-devkit" in (project / "requirements-dev.txt").read_text()  # the kit moved too
    run(str(BIN / "cruft"), "check", cwd=project)


# The last template commit whose bakes carried the local EAS, the deploy tooling and the benchmarks themselves
# (local_eas/, eas_deploy/, bench/): the projects baked before the dev kit existed.
BEFORE_THE_KIT = "0932fea49264732b750404bd253aff4e9c9f83f4"


def files_of(project: Path) -> dict[str, bytes]:
    return {str(path.relative_to(project)): path.read_bytes() for path in sorted(project.rglob("*"))
            if path.is_file() and ".git" not in path.relative_to(project).parts
            and path.name != ".cruft.json"}


def test_cruft_update_moves_a_project_baked_before_the_kit_to_a_lean_one(template_repo, tmp_path):
    known = subprocess.run(["git", "cat-file", "-e", f"{BEFORE_THE_KIT}^{{commit}}"], cwd=TEMPLATE,
                           capture_output=True)
    assert known.returncode == 0, ("this test needs the template's git history (a full clone, or "
                                   "`git fetch --unshallow`): it bakes a project from the commit before the kit")
    shutil.rmtree(template_repo)
    template_repo.mkdir()
    run("git", "init", "-q", "-b", "main", cwd=template_repo)
    archive = subprocess.run(["git", "archive", BEFORE_THE_KIT], cwd=TEMPLATE, capture_output=True, check=True)
    subprocess.run(["tar", "-x"], input=archive.stdout, cwd=template_repo, check=True)
    commit_all(template_repo, "before the kit")
    run(str(BIN / "cookiecutter"), "--no-input", str(template_repo), "-o", str(tmp_path / "old"), cwd=tmp_path)
    project = tmp_path / "old" / "my_eas_service"
    assert (project / "local_eas").is_dir() and (project / "eas_deploy").is_dir()
    run("git", "init", "-q", "-b", "main", cwd=project)
    commit_all(project, "baked before the kit")

    for path in template_repo.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.copytree(TEMPLATE, template_repo, ignore=NOT_TEMPLATE, dirs_exist_ok=True)
    commit_all(template_repo, "the kit")
    output = run(str(BIN / "cruft"), "update", "--skip-apply-ask", cwd=project)

    assert "Good work! Project's cruft has been updated" in output, output
    assert not list(project.rglob("*.rej")), "the update did not apply cleanly"
    run(str(BIN / "cookiecutter"), "--no-input", str(template_repo), "-o", str(tmp_path / "new"), cwd=tmp_path)
    updated, new = files_of(project), files_of(tmp_path / "new" / "my_eas_service")
    assert sorted(updated) == sorted(new)  # as lean as a new bake: every file of the old one's tools is gone
    assert [name for name in new if updated[name] != new[name]] == []
    tested = run("make", "--no-print-directory", "test", f"VIRTUAL_ENV={BIN.parent}",
                 "PYTEST_ARGS=-q -p no:cacheprovider tests/test_app.py", cwd=project)
    assert " passed" in tested and " failed" not in tested, tested
