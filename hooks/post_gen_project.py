"""Remove what the chosen options do not need, put the chosen language's documents in place, record the
answers for updates, then say what to do next.

Runs inside the new project directory. The answers arrive as JSON data, as in the pre-generation hook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

ANSWERS: dict[str, Any] = json.loads(r"""{{ cookiecutter | tojson }}""")

# What each disabled option takes away: no dead code, no unused dependency, no test of a missing route.
ONLY_WITH = {
    "oss": [
        "mount/app/routes/oss.py",
        "mount/app/oss_client.py",
        "mount/list_oss_objects.py",
        "tests/test_oss_routes.py",
        "tests/test_guide_example_oss.py",
        "tests/guide_examples/list_oss_objects.py",
        "examples/stream_large_object.py",
        "examples/presigned_download.py",
    ],
    "maxcompute": [
        "mount/app/routes/maxcompute.py",
        "mount/app/maxcompute_client.py",
        "mount/list_maxcompute_tables.py",
        "tests/test_maxcompute_routes.py",
        "tests/test_guide_example_maxcompute.py",
        "tests/guide_examples/list_maxcompute_tables.py",
        "examples/write_maxcompute_rows.py",
    ],
    "maxcompute_sql": [
        "mount/app/routes/maxcompute_sql.py",
        "mount/app/sql_guard.py",
        "tests/test_sql_guard.py",
        "tests/test_maxcompute_sql_routes.py",
    ],
    "role": [
        "mount/app/credentials.py",
        "mount/app/routes/credentials.py",
        "tests/test_credentials.py",
        "tests/test_credentials_routes.py",
        "ram/README.md",
        "ram/permission-policy.json",
        "examples/presigned_download.py",  # signs with the role's credentials
        "examples/write_maxcompute_rows.py",
    ],
    "handlers": ["mount/app/params.py", "mount/app/retries.py", "tests/test_ram_policy.py",
                 "tests/test_https_endpoints.py"],
    # The PAI default role is built in: nobody creates it, edits its trust policy or passes it.
    "custom_role": ["ram/trust-policy.json", "ram/passrole-policy.json", "tests/test_ram_policy.py"],
    # A custom role must be added to the MaxCompute project and granted there; the PAI default role acts
    # in the projects where the service's owner may.
    "maxcompute_custom_role": ["ram/maxcompute-project.sql"],
    # The pipeline, its page and the CI role's policies (the CI role deploys; it is not the service's role).
    "ci": [".github", "docs/ci.md", "docs/ci.zh-Hant.md", "docs/ci.zh-Hans.md", "ram/ci"],
}
# Written in three languages: README.md and every page of docs/ are English in the template, with
# <name>.zh-Hant.md and <name>.zh-Hans.md beside them. The chosen language takes the English one's name, and the
# English one becomes <name>.en.md.
TRANSLATED_DOCS = ("README.md", "docs/*.md")
# cruft's project state file: cruft check / cruft update read it (cruft create writes its own).
CRUFT_STATE = ".cruft.json"
# Where the dev kit lives in the template repository, and the file that pins it in the project.
KIT_DIRECTORY = "eas-devkit"
KIT_REQUIREMENTS = "requirements-dev.txt"
# Never part of a generated project, even when the template directory has them (from running its tests).
LEFTOVERS = ("__pycache__", ".pytest_cache", ".ruff_cache", ".local-eas", ".venv")


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def place_documents(project: Path, language: str) -> None:
    if language == "en":
        return
    for pattern in TRANSLATED_DOCS:
        originals = [path for path in sorted(project.glob(pattern)) if "." not in path.stem]  # not X.zh-Hant.md
        for english in originals:
            english.rename(english.with_name(f"{english.stem}.en{english.suffix}"))
            english.with_name(f"{english.stem}.{language}{english.suffix}").rename(english)


def git_output(repo_dir: str, *args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", "-C", repo_dir, *args], capture_output=True, text=True, check=False)
    except OSError:  # no git on this machine
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def template_origin(answers: dict[str, Any]) -> tuple[str, Optional[str]]:
    """Where the template came from and its commit, as ``.cruft.json`` records them.

    Under cruft its context carries both (``_template``, ``_commit``). Under cookiecutter, the commit is known
    when the template is a git checkout (a local clone, or the one cookiecutter makes of a URL); otherwise it
    is None.
    """
    if "_commit" in answers:
        return str(answers["_template"]), answers["_commit"]
    template, repo_dir = str(answers.get("_template", "")), template_directory(str(answers.get("_repo_dir", "")))
    commit = git_output(repo_dir, "rev-parse", "HEAD") if repo_dir else None
    if Path(repo_dir, "cookiecutter.json").is_file() and os.path.realpath(repo_dir) == os.path.realpath(
            template_directory(template)):  # a local template: where it is
        template = os.path.realpath(repo_dir)
    elif commit is not None:  # a URL or an abbreviation (gh:…): where it came from
        template = git_output(repo_dir, "remote", "get-url", "origin") or template
    return template, commit


def template_directory(path: str) -> str:
    """``path`` (the template as it was typed, perhaps relative) as an absolute path. This hook runs in the new
    project; cookiecutter, its parent, runs it from the template's directory (on Linux, /proc tells where that
    is), and was itself started from the shell's $PWD."""
    if not path or os.path.isabs(path) or "://" in path or path.startswith(("gh:", "gl:", "bb:", "git@")):
        return path
    parent_cwd = f"/proc/{os.getppid()}/cwd"
    if os.path.isdir(parent_cwd) and os.path.isfile(os.path.join(parent_cwd, "cookiecutter.json")):
        return os.path.realpath(parent_cwd)
    return os.path.normpath(os.path.join(os.environ.get("PWD", os.getcwd()), path))


def kit_requirement(template: str, commit: Optional[str]) -> str:
    """The pip requirement of the dev kit at the template's commit: ``cruft update`` moves it with the service.

    Without a commit (a template that is not a git checkout) it is the kit's directory as it is. A local path
    is written ``file://localhost/…``: the pip of Python 3.9 refuses a file URL without a host.
    """
    if commit is None:
        return f"eas-devkit @ {file_url(str(Path(template, KIT_DIRECTORY).resolve()))}"
    url = template[len("git+"):] if template.startswith("git+") else template
    if url.startswith("file:///"):
        url = file_url(url[len("file://"):])
    elif "://" not in url and os.path.isabs(url):
        url = file_url(url)
    elif "://" not in url and ":" in url:  # scp-like git@host:owner/repo.git
        host, _, path = url.partition(":")
        url = f"ssh://{host}/{path}"
    return f"eas-devkit @ git+{url}@{commit}#subdirectory={KIT_DIRECTORY}"


def file_url(path: str) -> str:
    return "file://localhost" + Path(path).as_uri()[len("file://"):]


def pin_the_kit(project: Path, template: str, commit: Optional[str]) -> None:
    with (project / KIT_REQUIREMENTS).open("a", encoding="utf-8") as requirements:
        requirements.write(kit_requirement(template, commit) + "\n")


def ignored_answers(answers: dict[str, Any]) -> dict[str, str]:
    """Answers that earlier answers made irrelevant (cookiecutter asks every question): the bake does not use
    them, and records them empty, as it used them — a role ARN without a custom role, a MaxCompute project
    without MaxCompute."""
    ignored = {}
    if answers["role"] != "custom":
        ignored["role_arn"] = ""
    if not answers["maxcompute"]:
        ignored["odps_project"] = ""
    return ignored


def record_answers(project: Path, answers: dict[str, Any], template: str, commit: Optional[str]) -> None:
    """Write the answers where ``cruft update`` finds them, in cruft's own format (under cruft, cruft does)."""
    if "_commit" in answers:
        return
    context = {key: value for key, value in answers.items() if not key.startswith("_")}
    context.update(ignored_answers(answers))
    context.update({"_template": template, "_commit": commit})
    state = {"template": template, "commit": commit, "checkout": answers.get("_checkout"),
             "context": {"cookiecutter": context}, "directory": None}
    (project / CRUFT_STATE).write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    project = Path.cwd()
    enabled = {
        "oss": bool(ANSWERS["oss"]),
        "maxcompute": bool(ANSWERS["maxcompute"]),
        "maxcompute_sql": bool(ANSWERS["maxcompute"]) and bool(ANSWERS["maxcompute_sql"]),
        "role": ANSWERS["role"] != "none",
        "custom_role": ANSWERS["role"] == "custom",
        "maxcompute_custom_role": bool(ANSWERS["maxcompute"]) and ANSWERS["role"] == "custom",
        "handlers": bool(ANSWERS["oss"]) or bool(ANSWERS["maxcompute"]),
        "ci": ANSWERS["ci"] == "github",
    }
    for option, paths in ONLY_WITH.items():
        if not enabled[option]:
            for relative in paths:
                remove(project / relative)
    for name in LEFTOVERS:
        for path in sorted(project.rglob(name), reverse=True):
            remove(path)
    place_documents(project, ANSWERS["docs_language"])
    template, commit = template_origin(ANSWERS)
    pin_the_kit(project, template, commit)
    record_answers(project, ANSWERS, template, commit)
    guide_examples = project / "tests" / "guide_examples"
    if guide_examples.is_dir() and not any(guide_examples.iterdir()):
        guide_examples.rmdir()
    ram = project / "ram"
    if ram.is_dir() and not any(ram.iterdir()):  # neither the service's role nor the CI role
        ram.rmdir()
    examples = project / "examples"
    if examples.is_dir() and not any(examples.glob("*.py")):  # only its README would be left
        remove(examples)

    service = ANSWERS["service"]
    print(
        f"""
Created {service}/ — an EAS service. Its tools (the local EAS, check, deploy, bench) are the dev kit
eas-devkit, pinned in requirements-dev.txt at the template commit .cruft.json records.

Next steps:
  cd {service}
  make dev      # installs .venv with the kit, then runs the service on the local EAS (127.0.0.1 only)
  make test     # its tests, against the local EAS

Read README.md first, and docs/workshop.md for a 90-minute guided lab on the local EAS.
`cruft update` brings in a newer template: the service and its kit move together."""
    )


if __name__ == "__main__":
    main()
