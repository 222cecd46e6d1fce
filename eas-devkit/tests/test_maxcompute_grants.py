"""The doctor's rule for MaxCompute's own authorization of a custom role (``ram/maxcompute-project.sql``): each
case fails on a project that would be refused, and passes on the template's own file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Optional

import pytest
from conftest import PROJECT as DEFAULT_PROJECT
from conftest import SERVICE_JSON

from eas_devkit.deploy import doctor
from eas_devkit.deploy.doctor.project import Project
from eas_devkit.deploy.doctor.rules.maxcompute_grants import maxcompute_project_grants
from eas_devkit.local.maxcompute.security_file import PROJECT_GRANTS_FILE
from eas_devkit.local.maxcompute.security_statements import split_statements

ODPS_PROJECT = next(entry["value"] for entry in SERVICE_JSON["containers"][0]["env"] if entry["name"] == "ODPS_PROJECT")
ROLE_USER = "`RAM${}:role/{}`".format(SERVICE_JSON["role_arn"].split(":")[3], SERVICE_JSON["role_arn"].rsplit("/")[1])
POLICY = 'privilegeproperties("policy" = "true", "allow" = "true")'


def findings(project_dir: Path) -> list[doctor.Finding]:
    return list(maxcompute_project_grants(Project(project_dir)))


def copy_with(tmp_path: Path, source: Path, grants: Optional[str]) -> Path:
    """A copy of a baked project whose ram/maxcompute-project.sql holds ``grants`` (None: removed)."""
    copy = tmp_path / "project"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".local-eas", ".venv", "tests", "docs"))
    if grants is None:
        (copy / PROJECT_GRANTS_FILE).unlink()
    else:
        (copy / PROJECT_GRANTS_FILE).write_text(grants, encoding="utf-8")
    return copy


@pytest.mark.parametrize("answers", [{}, {"maxcompute_sql": True}], ids=["default", "sql"])
def test_the_templates_file_passes(baked: Callable[..., Path], answers: dict) -> None:
    assert findings(baked(**answers) if answers else DEFAULT_PROJECT) == []


@pytest.mark.parametrize("answers", [{"role": "pai-default", "workspace_id": "123456"}, {"maxcompute": False},
                                     {"role": "none", "oss": False, "maxcompute": False}])
def test_without_a_custom_role_and_maxcompute_there_is_no_file_and_nothing_to_report(baked: Callable[..., Path],
                                                                                     answers: dict) -> None:
    project_dir = baked(**answers)

    assert not (project_dir / PROJECT_GRANTS_FILE).exists()
    assert findings(project_dir) == []


@pytest.mark.parametrize("answers", [{}, {"maxcompute_sql": True}], ids=["default", "sql"])
def test_a_missing_file_is_an_error_whose_fix_is_the_templates_statements(baked: Callable[..., Path],
                                                                          tmp_path: Path, answers: dict) -> None:
    source = baked(**answers) if answers else DEFAULT_PROJECT
    baked_statements = [statement.text + ";" for statement in
                        split_statements((source / PROJECT_GRANTS_FILE).read_text(encoding="utf-8"))]

    [finding] = findings(copy_with(tmp_path, source, None))

    assert (finding.level, finding.where) == ("ERROR", PROJECT_GRANTS_FILE)
    assert f"You don't exist in project {ODPS_PROJECT}." in finding.what
    assert finding.fix.endswith(": " + " ".join(baked_statements))
    assert f"odpscmd --project={ODPS_PROJECT} -f {PROJECT_GRANTS_FILE}" in finding.fix


def test_a_file_that_does_not_add_the_role_is_an_error(tmp_path: Path) -> None:
    [finding] = findings(copy_with(tmp_path, DEFAULT_PROJECT, "create role r;\n"))

    assert finding.level == "ERROR" and f"does not add the role my-eas-service-role to the project {ODPS_PROJECT}" \
        in finding.what
    assert finding.fix.startswith(f"add: add user {ROLE_USER};")


def test_each_missing_privilege_is_an_error_naming_the_routes_that_need_it(baked: Callable[..., Path],
                                                                          tmp_path: Path) -> None:
    grants = (f"add user {ROLE_USER};\ncreate role r;\ngrant Describe on table * to role r {POLICY};\n"
              f"grant r to {ROLE_USER};\n")
    project_dir = copy_with(tmp_path, baked(maxcompute_sql=True), grants)

    reported = {(finding.level, finding.what.split(" (", 1)[0]) for finding in findings(project_dir)}

    assert reported == {("ERROR", "does not grant the role my-eas-service-role List"),
                        ("ERROR", "does not grant the role my-eas-service-role Select"),
                        ("ERROR", "does not grant the role my-eas-service-role CreateInstance")}


def test_grants_on_named_tables_only_are_a_warning(tmp_path: Path) -> None:
    project_dir = copy_with(tmp_path, DEFAULT_PROJECT, f"add user {ROLE_USER};\n"
                                                       f"grant List on project {ODPS_PROJECT} to user {ROLE_USER};\n"
                                                       f"grant Describe, Select on table iris to user {ROLE_USER};\n")

    reported = findings(project_dir)

    assert [finding.level for finding in reported] == ["WARN", "WARN"]
    assert "grants the role Describe on the tables iris only" in reported[0].what
    assert "grant Select on table * to role <role>" in reported[1].fix


@pytest.mark.parametrize(("grants", "line", "says"), [
    ("-- the role\nadd user RAM$1:role/x;\n", 2, "a RAM role is named in backticks"),
    (f"add user {ROLE_USER};\ngrant List on project other to user {ROLE_USER};\n", 2, "is not this project"),
    (f"add user {ROLE_USER};\n\n\ngrant Read on function f to user {ROLE_USER};\n", 4, "is not implemented"),
])
def test_a_statement_maxcompute_would_refuse_is_an_error_at_its_line(tmp_path: Path, grants: str, line: int,
                                                                     says: str) -> None:
    [finding] = findings(copy_with(tmp_path, DEFAULT_PROJECT, grants))

    assert (finding.level, finding.where) == ("ERROR", f"{PROJECT_GRANTS_FILE}:{line}")
    assert says in finding.what
