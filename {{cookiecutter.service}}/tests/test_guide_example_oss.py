"""The guide's Example 1, copied unchanged but for its placeholders, run inside the local EAS."""

from __future__ import annotations

from itertools import islice

import oss2
from conftest import PROJECT

GUIDE_EXAMPLE = PROJECT / "tests" / "guide_examples" / "list_oss_objects.py"


def first_ten_keys(oss_admin) -> list[str]:
    return [info.key for info in islice(oss2.ObjectIterator(oss_admin), 10)]


def test_the_guide_example_lists_the_bucket(local_eas, oss_admin, tmp_path):
    code = GUIDE_EXAMPLE.read_text(encoding="utf-8")
    assert code.count("'<oss_endpoint>'") == 1 and code.count("'<oss_bucket>'") == 1
    script = tmp_path / "example1.py"
    script.write_text(code.replace("<oss_endpoint>", local_eas.state["oss_endpoint"])
                          .replace("<oss_bucket>", local_eas.state["bucket"]))
    result = local_eas.exec("python", str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == first_ten_keys(oss_admin)


def test_the_mounted_example_script_runs_as_a_run_command_would(local_eas, oss_admin):
    result = local_eas.exec("python", "mount/list_oss_objects.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == first_ten_keys(oss_admin)
