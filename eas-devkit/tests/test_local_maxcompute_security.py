"""MaxCompute's own authorization in the local MaxCompute: a RAM role must be added to the project and granted
there, whatever RAM allows. Driven by the real pyodps over HTTP: its ``run_security_query`` as the project
owner, its table and SQL calls as the role."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import requests
from conftest import PROJECT as PROJECT_DIR
from conftest import SERVICE_JSON
from odps import ODPS, errors
from odps.accounts import StsAccount

from eas_devkit.local.control_plane.accounts import Accounts
from eas_devkit.local.control_plane.deployer import as_issued
from eas_devkit.local.credentials import CredentialIssuer, IssuedCredentials
from eas_devkit.local.instance import InstanceError
from eas_devkit.local.maxcompute.app import create_maxcompute_app
from eas_devkit.local.maxcompute.catalog import Catalog
from eas_devkit.local.maxcompute.cli import add_maxcompute_auth_parser
from eas_devkit.local.maxcompute.loader import IRIS_ROWS, create_demo_tables
from eas_devkit.local.maxcompute.project_security import OWNER, SERVICE_LINKED, Caller, ProjectSecurity
from eas_devkit.local.maxcompute.security_file import PROJECT_GRANTS_FILE, SecurityFileError, run_security_file
from eas_devkit.local.maxcompute.security_statements import (
    AddUser,
    GrantPrivileges,
    GrantRoles,
    Principal,
    ShowGrants,
    StatementSyntaxError,
    UnsupportedStatement,
    parse,
    split_statements,
)
from eas_devkit.local.servers import LoopbackServer
from eas_devkit.local.stack import LocalEAS, Settings
from eas_devkit.testing import RunningEAS, devkit_command

ACCOUNT = SERVICE_JSON["role_arn"].split(":")[3]
ROLE_NAME = SERVICE_JSON["role_arn"].rsplit("/", 1)[1]
ROLE_USER = f"`RAM${ACCOUNT}:role/{ROLE_NAME}`"
PROJECT = "demo_project"
ARN = f"acs:odps:*:projects/{PROJECT}"


pytestmark = pytest.mark.usefixtures("quick_pyodps_retries")


class Project:
    """A local MaxCompute with project security, the owner's pyodps and the role's pyodps."""

    def __init__(self, tmp_path: Path) -> None:
        self.catalog = Catalog(tmp_path / "maxcompute")
        create_demo_tables(self.catalog, PROJECT)
        self.issuer = CredentialIssuer(lifetime=3600)
        self.accounts = Accounts.create(tmp_path / "ram-account.json", ACCOUNT)
        owner_key = self.accounts.create_access_key()
        role = self.issuer.current()
        callers = {owner_key.access_key_id: Caller(f"ALIYUN${ACCOUNT}", OWNER),
                   role.access_key_id: Caller(f"RAM${ACCOUNT}:role/{ROLE_NAME}")}

        def lookup(access_key_id: str) -> Optional[IssuedCredentials]:
            key = self.accounts.lookup(access_key_id)
            return as_issued(key) if key is not None else self.issuer.lookup(access_key_id)

        self.security = ProjectSecurity(callers.get, ACCOUNT,
                                        lambda project, table: self.catalog.get_table(project, table) is not None)
        self.server = LoopbackServer(create_maxcompute_app(self.catalog, lookup, security=self.security),
                                     name="maxcompute").start()
        endpoint = self.server.url + "/api"
        self.owner = ODPS(owner_key.access_key_id, owner_key.access_key_secret, project=PROJECT, endpoint=endpoint,
                          logview_host="http://127.0.0.1:1")
        self.role = ODPS(StsAccount(role.access_key_id, role.access_key_secret, role.security_token),
                         project=PROJECT, endpoint=endpoint, logview_host="http://127.0.0.1:1")

    def run(self, *statements: str) -> list[Any]:
        return [self.owner.run_security_query(statement) for statement in statements]

    def close(self) -> None:
        self.server.stop()
        self.catalog.close()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    opened = Project(tmp_path)
    yield opened
    opened.close()


def read_iris(o: ODPS) -> list[list[Any]]:
    with o.get_table("iris").open_reader() as reader:
        return [list(record.values) for record in reader]


# The statements


def test_the_documented_statements_parse_as_maxcompute_writes_them() -> None:
    role = Principal("ram-role", "5527xxxxxxxx5788", "ram_role")

    assert parse("add user `RAM$5527xxxxxxxx5788:role/ram_role`;") == AddUser(role)
    assert parse("ADD USER RAM$ram_test") == AddUser(Principal("ram-user", None, "ram_test"))
    assert parse("grant Worker to `RAM$5527xxxxxxxx5788:role/ram_role`") == GrantRoles(("Worker",), role)
    assert parse("grant Describe, select on table userprofile to role tableviewer") == GrantPrivileges(
        ("Describe", "Select"), "table", "userprofile", "role", "tableviewer")
    assert parse('grant Select on table * to role aliyun_test privilegeproperties("policy" = "true", '
                 '"allow"="true")') == GrantPrivileges(("Select",), "table", "*", "role", "aliyun_test", policy=True)
    assert parse('grant Drop on table * to role r privilegeproperties("policy" = "true", "allow"="false")').effect \
        == "Deny"
    assert parse("show grants for ALIYUN$odps_test_user@aliyun.com") == ShowGrants(
        Principal("account", None, "odps_test_user@aliyun.com"))


@pytest.mark.parametrize(("statement", "where", "says"), [
    ("add user RAM$5527:role/ram_role", "[1,10]", "the grave accents are required"),
    ("grant Selekt on table t to role r", "[1,7]", "'Selekt' is not a privilege"),
    ("grant Describe on project p to role r", "[1,7]", "Describe is not a privilege of a project"),
    ("grant List on project p\n  to role", "[2,10]", "expected a role name, found the end of the statement"),
    ("add user ALIYUN$1 now", "[1,19]", "expected the end of the statement, found 'now'"),
    ("delete user ALIYUN$1", "[1,1]", "expected a security statement"),
])
def test_a_statement_that_does_not_parse_says_where_and_what_was_expected(statement: str, where: str,
                                                                         says: str) -> None:
    with pytest.raises(StatementSyntaxError) as raised:
        parse(statement)
    assert str(raised.value).startswith(where) and says in str(raised.value)


@pytest.mark.parametrize(("statement", "names"), [
    ("grant Read on function f to role r", "grants on function objects"),
    ("grant Download on table t to role r", "the Download privilege"),
    ('grant Select on table t to role r privilegeproperties("conditions" = "x")', "'conditions'"),
    ("grant Select on table t (a, b) to role r", "column-level grants"),
    ("use other_project", "use statements"),
    ("create role admins privilegeproperties(\"type\"=\"admin\")", "admin roles"),
])
def test_what_maxcompute_has_and_the_local_one_does_not_is_named(statement: str, names: str) -> None:
    with pytest.raises(UnsupportedStatement, match=names.replace("(", r"\(").replace(")", r"\)")):
        parse(statement)


def test_a_file_splits_into_statements_with_their_lines_and_without_comments() -> None:
    text = ("-- a comment; with a semicolon\nadd user `RAM$1:role/a;b`;\n\ncreate role r; -- r's\n"
            "grant r\n  to `RAM$1:role/a;b`")

    assert [(statement.line, statement.text) for statement in split_statements(text)] == [
        (2, "add user `RAM$1:role/a;b`"), (4, "create role r"), (5, "grant r\n  to `RAM$1:role/a;b`")]
    with pytest.raises(StatementSyntaxError, match=r"\[3,1\] the ` opened here is never closed"):
        split_statements("create role r;\n\nadd user `RAM$1:role/a;")


# Membership and grants, over HTTP with pyodps


def test_a_role_that_is_not_a_user_of_the_project_is_refused_whatever_ram_allows(project: Project) -> None:
    with pytest.raises(errors.NoPermission) as raised:
        list(project.role.list_tables())

    assert raised.value.status_code == 403
    assert f"ODPS-0420095: Access Denied - Authorization Failed [4002], You don't exist in project {PROJECT}." \
        in str(raised.value)
    with pytest.raises(errors.NoPermission, match=r"\[4002\]"):
        read_iris(project.role)
    assert read_iris(project.owner)[0] == [5.1, 3.5, 1.4, 0.2, "setosa"], "the owner may do anything"


def test_a_user_without_a_privilege_gets_no_privilege_naming_it(project: Project) -> None:
    project.run(f"add user {ROLE_USER}", f"grant List, CreateInstance on project {PROJECT} to user {ROLE_USER}",
                f"grant Describe on table iris to user {ROLE_USER}")

    assert {table.name for table in project.role.list_tables()} == {"iris", "sales"}
    assert project.role.get_table("iris").table_schema.names[:2] == ["sepal_length", "sepal_width"]
    with pytest.raises(errors.NoPermission) as raised:
        read_iris(project.role)
    assert f"Authorization Failed [4019], You have NO privilege 'odps:Select' on {{{ARN}/tables/iris}}." \
        in str(raised.value)
    with pytest.raises(errors.NoPermission, match="'odps:Describe'"):
        project.role.get_table("sales").reload()
    failed = project.role.run_sql("SELECT species FROM iris")
    with pytest.raises(errors.NoPermission, match=r"ODPS-0130013.*\[4019\].*'odps:Select'"):
        failed.wait_for_success()


def test_with_the_projects_file_applied_the_role_lists_reads_and_queries(project: Project, baked: Callable[..., Path],
                                                                         tmp_path: Path) -> None:
    sql_project = baked(maxcompute_sql=True)
    grants = tmp_path / "maxcompute-project.sql"
    grants.write_text((sql_project / PROJECT_GRANTS_FILE).read_text(encoding="utf-8").replace(
        odps_project_of(sql_project), PROJECT), encoding="utf-8")

    assert run_security_file(project.owner, grants) == 5

    assert {table.name for table in project.role.list_tables()} == {"iris", "sales"}
    assert len(read_iris(project.role)) == len(IRIS_ROWS)
    with project.role.execute_sql("SELECT species FROM iris LIMIT 2").open_reader() as reader:
        assert [record["species"] for record in reader] == ["setosa", "setosa"]
    assert project.owner.run_security_query(f"show grants for {ROLE_USER}")["Roles"] == ["my_eas_service_reader"]
    with pytest.raises(errors.NoPermission, match="'odps:Update'"):
        project.role.write_table("iris", [[1.0, 1.0, 1.0, 1.0, "x"]])


def odps_project_of(project_dir: Path) -> str:
    config = json.loads((project_dir / "service.json").read_text(encoding="utf-8"))
    return next(entry["value"] for entry in config["containers"][0]["env"] if entry["name"] == "ODPS_PROJECT")


def test_a_removed_user_is_refused_and_gets_its_grants_back_when_added_again(project: Project) -> None:
    project.run(f"add user {ROLE_USER}", "create role readers", f"grant List on project {PROJECT} to role readers",
                f"grant readers to {ROLE_USER}")
    assert project.run("list users") == [[f"RAM${ACCOUNT}:role/{ROLE_NAME}"]]

    project.run(f"remove user {ROLE_USER}")
    with pytest.raises(errors.NoPermission, match=r"\[4002\]"):
        list(project.role.list_tables())

    project.run(f"add user {ROLE_USER}")
    assert {table.name for table in project.role.list_tables()} == {"iris", "sales"}


def test_a_policy_deny_wins_over_an_allow(project: Project) -> None:
    policy = 'privilegeproperties("policy" = "true", "allow" = "{}")'
    project.run(f"add user {ROLE_USER}", "create role r", f"grant r to {ROLE_USER}",
                f"grant Describe, Select on table * to role r {policy.format('true')}",
                f"grant Select on table sal* to role r {policy.format('false')}")

    assert len(read_iris(project.role)) == len(IRIS_ROWS)
    with pytest.raises(errors.NoPermission, match=r"\[4011\].*'odps:Select'.*Explicitly denied by policy"):
        project.role.get_table("sales").open_reader(partition="ds=20240101")


def test_only_the_owner_runs_security_statements(project: Project) -> None:
    with pytest.raises(errors.NoPermission, match=r"\[4002\]"):
        project.role.run_security_query(f"add user {ROLE_USER}")
    project.run(f"add user {ROLE_USER}")

    with pytest.raises(errors.NoPermission, match="project owner only"):
        project.role.run_security_query(f"grant List on project {PROJECT} to user {ROLE_USER}")
    assert project.role.run_security_query("whoami")["DisplayName"] == f"RAM${ACCOUNT}:role/{ROLE_NAME}"
    assert project.role.run_security_query("show grants") == {"Roles": [], "Grants": [], "RoleGrants": {}}
    assert project.owner.run_security_query(f"show grants for {ROLE_USER}")["Grants"] == []


@pytest.mark.parametrize(("statement", "error", "says"), [
    ("set odps.security.acl=true", errors.ODPSError, "Set statements (only add/remove user"),
    ("grant Read on resource r to role x", errors.ODPSError, "Grants on resource objects"),
    ("add user RAM$1:role/x", errors.ParseError, "ODPS-0130161:[1,10] Parse exception - a RAM role is named in "
                                                "backticks"),
    ("grant Select on table * to user ALIYUN$1", errors.InvalidArgument, "An ACL grant names an existing table"),
    ('grant Select on table * to user ALIYUN$1 privilegeproperties("policy" = "true", "allow" = "true")',
     errors.InvalidArgument, "grants permissions only to roles"),
    ("grant Select on table nope to user ALIYUN$1", errors.NoSuchObject, "Table not found"),
    ("grant r to ALIYUN$2", errors.NoSuchObject, "does not exist in project"),
    ("add user `RAM$9999:role/x`", errors.InvalidArgument, "of its owner's account"),
])
def test_a_statement_the_local_maxcompute_refuses_is_refused_clearly(project: Project, statement: str,
                                                                    error: type[Exception], says: str) -> None:
    with pytest.raises(error) as raised:
        project.owner.run_security_query(statement)
    assert says in str(raised.value)
    if "Set statements" in says or "Grants on" in says:
        assert raised.value.code == "NotImplemented" and raised.value.status_code == 501


def test_a_duplicate_user_or_role_is_object_already_exists(project: Project) -> None:
    project.run(f"add user {ROLE_USER}", "create role r")

    with pytest.raises(errors.ObjectAlreadyExists):
        project.owner.run_security_query(f"add user {ROLE_USER}")
    with pytest.raises(errors.ObjectAlreadyExists):
        project.owner.run_security_query("CREATE ROLE R")


def test_the_pai_default_role_acts_with_the_owners_permissions() -> None:
    security = ProjectSecurity(lambda key: Caller("AliyunServiceRoleForPaiEas", SERVICE_LINKED), ACCOUNT,
                               lambda project, table: True)
    caller = security.caller("any")

    assert security.decide(PROJECT, caller, "odps:Select", f"{ARN}/tables/iris") is None
    with pytest.raises(Exception, match="project owner only"):
        security.run(PROJECT, caller, "add user ALIYUN$1")


def test_a_bad_statement_in_the_file_names_its_line(project: Project, tmp_path: Path) -> None:
    grants = tmp_path / "grants.sql"
    grants.write_text(f"-- first\nadd user {ROLE_USER};\n\ngrant nobody to {ROLE_USER};\n", encoding="utf-8")

    with pytest.raises(SecurityFileError) as raised:
        run_security_file(project.owner, grants)
    assert str(raised.value).startswith(f"{grants}:4: grant nobody to {ROLE_USER}\n  MaxCompute refused it: "
                                        "NoSuchObject: Role nobody does not exist in project demo_project.")


# The local EAS: the file applied at every start


def start_without(tmp_path: Path, replace: Optional[str]) -> LocalEAS:
    """A copy of the default bake whose ram/maxcompute-project.sql is ``replace`` (None: no file)."""
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, copy, ignore=shutil.ignore_patterns(".local-eas", ".venv"))
    if replace is None:
        (copy / PROJECT_GRANTS_FILE).unlink()
    else:
        (copy / PROJECT_GRANTS_FILE).write_text(replace, encoding="utf-8")
    return LocalEAS(Settings(project=copy, state_dir=tmp_path / "state", log_to_console=False))


def test_without_the_file_the_services_maxcompute_calls_are_refused_with_maxcomputes_error(tmp_path: Path) -> None:
    local_eas = start_without(tmp_path, None)
    state = local_eas.start()
    try:
        answer = requests.get(state["service_url"] + "/maxcompute/tables", timeout=30)
        listed = requests.get(state["service_url"] + "/oss/objects?max_keys=1", timeout=30)
    finally:
        local_eas.stop()

    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == (f"ODPS-0420095: Access Denied - Authorization Failed [4002], You don't exist "
                                      f"in project {odps_project_of(PROJECT_DIR)}.")
    assert listed.status_code == 200, "OSS is RAM's alone"
    assert state["maxcompute_grants"].startswith(f"no {PROJECT_GRANTS_FILE}: the role is not a user of the project")


def test_a_statement_the_local_maxcompute_refuses_stops_the_start_naming_the_file_and_line(tmp_path: Path) -> None:
    local_eas = start_without(tmp_path, f"add user {ROLE_USER};\ngrant List on project elsewhere to user "
                                        f"{ROLE_USER};\n")
    with pytest.raises(InstanceError) as raised:
        local_eas.start()

    assert f"{PROJECT_GRANTS_FILE}:2: grant List on project elsewhere" in str(raised.value)
    assert "Project elsewhere is not this project" in str(raised.value)
    assert not (tmp_path / "state" / "state.json").exists()


def test_maxcompute_auth_runs_a_statement_in_the_running_local_maxcompute(
        local_eas: RunningEAS, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="eas-devkit local")
    add_maxcompute_auth_parser(parser.add_subparsers(required=True), lambda args: local_eas.state)

    def auth(statement: str) -> tuple[int, str, str]:
        args = parser.parse_args(["maxcompute-auth", statement])
        status = args.run(args)
        printed = capsys.readouterr()
        return status, printed.out, printed.err

    assert local_eas.state["maxcompute_grants"] == f"{PROJECT_GRANTS_FILE} applied (5 statements)"
    assert auth("list users") == (0, f"RAM${ACCOUNT}:role/{ROLE_NAME}\n", "")
    try:
        assert auth(f"remove user {ROLE_USER}") == (0, "OK\n", "")
        refused = local_eas.get("/maxcompute/tables")
        assert refused.status_code == 403 and "[4002], You don't exist in project" in refused.json()["error"]
    finally:
        assert auth(f"add user {ROLE_USER};") == (0, "OK\n", "")
    assert local_eas.get("/maxcompute/tables").status_code == 200
    assert '"Roles": [\n    "my_eas_service_reader"\n  ]' in auth(f"show grants for {ROLE_USER}")[1]


def test_maxcompute_auth_command_line(local_eas: RunningEAS) -> None:
    command = [*devkit_command(PROJECT_DIR), "local", "--state-dir", local_eas.state["state_dir"], "maxcompute-auth"]
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "add user <user>" in shown.stdout and "single" in shown.stdout

    bad = subprocess.run([*command, "add user RAM$1:role/x"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.startswith("MaxCompute refused it: ParseError: ODPS-0130161:[1,10] Parse exception - a RAM "
                                 "role is named in backticks")
