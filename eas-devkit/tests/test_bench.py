"""``eas-devkit bench``, in its smallest runs: the machinery works and the report says what was run.

The template's own tests run ``make bench ARGS=--quick`` (all five benchmarks) in a bake; here one benchmark
runs against the default bake, and a bake without what a benchmark needs gets "Not run" instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT

from eas_devkit.testing import devkit_command


def bench(project: Path, *options: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command as typed in a shell: not under make (whose MAKELEVEL the report would name `make bench`)."""
    environment = {name: value for name, value in os.environ.items() if name not in ("MAKELEVEL", "MAKEFLAGS")}
    return subprocess.run([*devkit_command(project), "bench", "--quick", *options], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def table_rows(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| benchmark")]


def test_one_benchmark_runs_and_its_report_says_how_to_run_it_again(tmp_path):
    output = tmp_path / "figures.md"
    result = bench(PROJECT, "--only", "maxcompute", "--output", str(output), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"bench: wrote {output} in ")
    report = output.read_text(encoding="utf-8")
    assert f"- Command: `eas-devkit bench --quick --only maxcompute --output {output}`" in report
    assert "**Quick run**" in report
    rows = table_rows(report)
    assert [row.split(" | ")[0] for row in rows] == ["| 10,000-row read, JSON", "| 10,000-row read, NDJSON"]
    assert all("pyodps open_reader: " in row for row in rows)
    assert "≥ 0.9× direct" in rows[0] and "≥ 0.85× direct" in rows[1]
    assert "Where the time goes, per 10,000-row read as NDJSON (CPU by process" in report
    assert not (PROJECT / "BENCHMARKS.md").exists()


def test_the_overhead_benchmark_says_how_the_workers_shared_the_requests(tmp_path):
    output = tmp_path / "figures.md"
    result = bench(PROJECT, "--only", "overhead", "--output", str(output), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    report = output.read_text(encoding="utf-8")
    single, concurrent = table_rows(report)
    assert "worker share" not in single  # one connection: one worker
    share = re.search(r"; worker share (\d+) % / (\d+) % \|", concurrent)
    assert share, concurrent
    assert 99 <= int(share[1]) + int(share[2]) <= 101 and int(share[1]) >= int(share[2])
    assert "counted by the `pid` of each line of its request log" in report
    # Where the time goes: CPU per request of every process on each side, and the ratio that allows.
    profile = re.search(r"Where the time goes, per request at concurrency \d+ .*: through the service "
                        r"client ([\d.]+) ms, service ([\d.]+) ms, local EAS ([\d.]+) ms, in all ([\d.]+) ms; "
                        r"direct client ([\d.]+) ms, local EAS ([\d.]+) ms, in all ([\d.]+) ms\. .* can reach "
                        r"about ([\d.]+)× direct", report)
    assert profile, report
    client, service, local_eas, total, *_ = map(float, profile.groups())
    assert service > 0 and local_eas > 0 and abs(client + service + local_eas - total) < 0.02


def test_a_benchmark_the_bake_cannot_run_is_reported_as_not_run(tmp_path, baked):
    project = tmp_path / "lean"
    shutil.copytree(baked(role="none", oss=False, maxcompute=False), project)

    result = bench(project, "--only", "fetches", "--only", "maxcompute", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    report = (project / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "Not run: the benchmark needs the OSS handlers and a role, which this bake does not have." in report
    assert "Not run: the benchmark needs the MaxCompute handlers, which this bake does not have." in report
    assert "starting a local EAS" not in result.stderr  # nothing to measure: nothing started


def test_runs_must_be_a_positive_number(tmp_path):
    result = subprocess.run([sys.executable, "-m", "eas_devkit", "bench", "--runs", "0"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert "argument --runs: '0' is not a whole number of at least 1" in result.stderr
