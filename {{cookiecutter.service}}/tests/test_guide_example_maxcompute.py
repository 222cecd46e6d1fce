"""The guide's Example 2, copied unchanged but for its placeholders, run inside the local EAS."""

from __future__ import annotations

from conftest import PROJECT

GUIDE_EXAMPLE = PROJECT / "tests" / "guide_examples" / "list_maxcompute_tables.py"


def listed_names(output: str, tables: list[str]) -> list[str]:
    return [name for name in tables if name in output]


def test_the_guide_example_lists_the_demo_tables(local_eas, odps_admin, tmp_path):
    code = GUIDE_EXAMPLE.read_text(encoding="utf-8")
    assert code.count("'<odps_project>'") == 1 and code.count("'<odps_endpoint>'") == 1
    script = tmp_path / "example2.py"
    script.write_text(code.replace("<odps_project>", local_eas.state["project"])
                          .replace("<odps_endpoint>", local_eas.state["odps_endpoint"]))
    result = local_eas.exec("python", str(script))
    assert result.returncode == 0, result.stderr
    tables = sorted(table.name for table in odps_admin.list_tables())
    assert len(result.stdout.strip().splitlines()) >= len(tables)
    assert listed_names(result.stdout, tables) == tables


def test_the_mounted_example_script_runs_as_a_run_command_would(local_eas, odps_admin):
    result = local_eas.exec("python", "mount/list_maxcompute_tables.py")
    assert result.returncode == 0, result.stderr
    tables = sorted(table.name for table in odps_admin.list_tables())
    assert listed_names(result.stdout, tables) == tables
