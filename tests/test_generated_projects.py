"""Baked projects run their own tests, their demo, and their Python 3.9 install, as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ACCEPTED_COMBINATIONS, TEMPLATE, Baked, combination_id

# Every combination whose Python code differs runs its whole suite: with and without the OSS handlers,
# with and without the MaxCompute handlers, with and without a role (credentials code), and the SQL route
# with the PAI default role in another region and port. The rest differ only in service.json, ram/ and
# requirements: they run SUBSET.
# The whole suite where the most code is (the default bake; the PAI default role with the SQL route) and where the
# least is; every other combination runs the subset. Each full suite is ~6 minutes on a 2-core CI runner.
FULL_SUITES = [
    {},
    {"role": "none", "oss": False, "maxcompute": False},
    {"role": "pai-default", "workspace_id": "123456", "maxcompute_sql": True, "region": "cn-shanghai", "port": 8501},
]
SUBSET = ["tests/test_app.py", "tests/test_credentials.py", "tests/test_ram_policy.py"]
# The recipes run where their code paths differ: the default bake (custom role) and the PAI default role's.
EXAMPLE_TESTS = "tests/test_examples.py"


def options(answers: dict) -> tuple:
    return (answers.get("role", "custom"), answers.get("oss", True), answers.get("maxcompute", True),
            answers.get("maxcompute_sql", False))


SUBSET_ONLY = [answers for answers in ACCEPTED_COMBINATIONS
               if options(answers) not in {options(full) for full in FULL_SUITES}]


def passed_count(output: str) -> int:
    match = re.search(r"(\d+) passed", output)
    return int(match.group(1)) if match else 0


# What the reliability suite reports: one row each, every one with nothing lost.
RELIABILITY_ROWS = ("Rotation soak", "Backend faults", "Generated requests (OpenAPI)", "Hostile input", "Secrets")
# The other bakes run the reliability tests shorter still: the default bake runs them as `make test` does.
SHORTER_RELIABILITY = {"RELIABILITY_SOAK_SECONDS": "6", "RELIABILITY_FUZZ_EXAMPLES": "40"}


def reliability_rows(report: str) -> dict[str, str]:
    """The report's table rows by test name: {"Rotation soak": "| Rotation soak | … | 0 |", …}."""
    return {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")}


@pytest.mark.parametrize("answers", FULL_SUITES, ids=[combination_id(a) or "default" for a in FULL_SUITES])
def test_the_baked_project_passes_its_own_tests(bake, answers):
    same_everywhere = f"--ignore={EXAMPLE_TESTS}" if answers and answers.get("role") != "pai-default" else ""
    baked = bake(**answers)
    shorter = SHORTER_RELIABILITY if answers else {}
    result = baked.make("test", PYTEST_ARGS=f"-q -p no:cacheprovider {same_everywhere}",
                        RELIABILITY_REPORT="RELIABILITY.md", **shorter)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " failed" not in result.stdout and passed_count(result.stdout) >= 20
    if not answers:  # the default bake has every part: every row is there, and nothing was lost
        rows = reliability_rows(baked.read("RELIABILITY.md"))
        assert set(RELIABILITY_ROWS) <= set(rows), rows
        assert all(row.endswith("| 0 |") for row in rows.values() if row.split("|")[1].strip() != "test"), rows


def test_make_reliability_puts_its_figures_in_the_reliability_page(bake):
    baked = bake()
    pages = ("docs/reliability.md", "docs/reliability.zh-Hant.md", "docs/reliability.zh-Hans.md")
    assert all("<!-- reliability:start -->" in baked.read(page) for page in pages)
    result = baked.make("reliability", SOAK_SECONDS="4",
                        PYTEST_ARGS="-q -p no:cacheprovider tests/test_rotation_soak.py")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    report = baked.read("RELIABILITY.md")
    soak = reliability_rows(report)["Rotation soak"]
    assert "seconds: 4," in soak and soak.endswith("| 0 |")
    for page in pages:  # the same figures in every language
        section = baked.read(page).split("<!-- reliability:start -->", 1)[1].split("<!-- reliability:end -->")[0]
        assert soak in section and "Produced by `make reliability`" in section, page


@pytest.mark.parametrize("answers", SUBSET_ONLY, ids=[combination_id(a) for a in SUBSET_ONLY])
def test_other_combinations_pass_the_subset(bake, answers):
    baked = bake(**answers)
    paths = [path for path in SUBSET if (baked.path / path).exists()]
    result = baked.make("test", PYTEST_ARGS="-q -p no:cacheprovider " + " ".join(paths))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert passed_count(result.stdout) >= 10


def test_demo_shows_credentials_and_objects_then_stops(bake):
    result = bake().make("demo", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "GET /health       → 200" in out
    assert re.search(r"GET /credentials  → 200 source=default/credential_uri access_key_id=STS\.\*{4}\w{4} "
                     r"expires=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out), out
    assert "datasets/iris.csv" in out and "hello.txt" in out
    assert re.search(r"GET /maxcompute/tables → 200, the tables of the MaxCompute project \w+: .*iris", out), out
    assert "stopped everything" in out


@contextlib.contextmanager
def make_dev(baked: Baked) -> Iterator[None]:
    """`make dev` in a terminal of its own, until the block ends (then Ctrl-C's SIGTERM)."""
    environment = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    log = baked.path.parent / "make-dev.log"  # a file, not a pipe: nobody reads it while the test runs
    with log.open("w") as sink:
        dev = subprocess.Popen(["make", "--no-print-directory", "dev", "ARGS=--quiet"], cwd=baked.path,
                               env=environment, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        state = baked.path / ".local-eas" / "state.json"
        deadline = time.monotonic() + 90
        while not state.exists() and dev.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state.exists(), log.read_text() if dev.poll() is not None else "make dev did not start in 90 s"
        yield
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(timeout=60)


def test_the_deploy_loop_and_day_two_commands_on_the_local_eas_of_make_dev(bake):
    """The default bake's deploy loop as the README tells it: `make dev` in one terminal, then from another
    deploy, call with the printed token, read the logs, send a load, run the guide's example as the run command,
    deploy a second environment, delete."""
    baked = bake()
    with make_dev(baked):
        deployed = baked.make("deploy", timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "is Running (1/1 instances)" in deployed.stdout, deployed.stdout
        shown = baked.make("status", ARGS="--show-token").stdout  # `make deploy` keeps the token out of logs
        call = re.search(r"curl -H 'Authorization: (?P<token>[^']+)' (?P<url>\S+)", shown)
        assert call and call["token"] not in deployed.stdout, shown
        health = subprocess.run(["curl", "-s", "-H", f"Authorization: {call['token']}", call["url"]],
                                capture_output=True, text=True, timeout=30)
        assert json.loads(health.stdout) == {"status": "ok"}
        assert "Running" in baked.make("status").stdout

        # The request just made is in the instance's log, as one JSON line that jq could read.
        logs = baked.make("logs")
        assert logs.returncode == 0, logs.stdout + logs.stderr
        requests = [json.loads(line) for line in logs.stdout.splitlines() if line.startswith("{")]
        assert any(entry.get("path") == "/health" and entry.get("status") == 200 for entry in requests), logs.stdout
        assert baked.make("logs", ARGS="--since 2099-01-01T00:00:00Z").stdout == ""
        assert call["token"] not in logs.stdout + logs.stderr

        loaded = baked.make("load", ARGS="--requests 200 --concurrency 2")
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert re.search(r"^200 requests in [0-9.]+ s: ", loaded.stdout, re.MULTILINE), loaded.stdout
        assert "instances: 1 running at the start, 1 at the end" in loaded.stdout, loaded.stdout
        assert call["token"] not in loaded.stdout + loaded.stderr

        # The guide's example, deployed the guide's way (`python /mnt/data/list_oss_objects.py`), its output
        # read from the logs; its service is deleted afterwards and the service of `make deploy` keeps running.
        script = baked.make("run-script", SCRIPT="mount/list_oss_objects.py", timeout=300)
        assert script.returncode == 0, script.stdout + script.stderr
        assert "data/hello.txt" in script.stdout and "my_eas_service_list_oss_objects deleted in" in script.stdout

        # A second environment: a service of its own beside the first, with its own status, logs and delete.
        staging = baked.make("deploy", EAS_ENV="staging", timeout=300)
        assert staging.returncode == 0, staging.stdout + staging.stderr
        assert "my_eas_service_staging is Running" in staging.stdout, staging.stdout
        assert baked.make("logs", EAS_ENV="staging").returncode == 0
        gone = baked.make("delete", EAS_ENV="staging", ARGS="--yes")
        assert gone.returncode == 0 and "my_eas_service_staging deleted in" in gone.stdout, gone.stdout + gone.stderr
        assert "my_eas_service: Running" in baked.make("status").stdout

        deleted = baked.make("delete", ARGS="--yes")
        assert deleted.returncode == 0 and "deleted in" in deleted.stdout, deleted.stdout + deleted.stderr
        assert baked.make("logs").returncode != 0


def test_make_check_of_an_environment_checks_the_merged_configuration(bake):
    """`make check EAS_ENV=prod`: the variable of make's command line reaches the check, which merges
    environments/prod.json into service.json; a name no file has stops it, listing the environments."""
    baked = bake()
    prod = subprocess.run(["make", "--no-print-directory", "check", "EAS_ENV=prod"], cwd=baked.path,
                          env={**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)},
                          capture_output=True, text=True, timeout=300)
    assert prod.returncode == 0, prod.stdout + prod.stderr
    assert prod.stdout.splitlines()[-1].endswith("; environment prod: service.json + environments/prod.json)")
    unknown = baked.make("check", EAS_ENV="qa")  # from make's environment this time, `EAS_ENV=qa make check`
    assert "check] Error 1" in unknown.stderr, unknown.stderr
    assert "environments/qa.json does not exist (environments here: prod, staging)" in unknown.stdout


@pytest.mark.parametrize("copy", ["list_oss_objects.py", "list_maxcompute_tables.py"])
def test_the_guide_example_copies_are_unchanged(bake, copy):
    """The bake's copies of the guide's two examples are the guide's code (tests/guide/), character for
    character but for trailing spaces."""
    text = bake().read(f"tests/guide_examples/{copy}")
    guide = (TEMPLATE / "tests" / "guide" / copy).read_text(encoding="utf-8")
    assert [line.rstrip() for line in text.strip().splitlines()] == \
        [line.rstrip() for line in guide.strip().splitlines()]


def test_make_bench_quick_writes_the_five_benchmarks_to_benchmarks_md(bake):
    baked = bake()
    result = baked.make("bench", ARGS="--quick", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    report = baked.read("BENCHMARKS.md")
    for title in ("1. Credential fetches", "2. Service overhead", "3. Streaming", "4. Cold start", "5. MaxCompute"):
        assert f"\n## {title}\n" in report, title
    rows = [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| benchmark")]
    assert len(rows) >= 5 and all(re.search(r"\d", line.split("|")[2]) for line in rows), rows
    assert "`make bench ARGS=--quick` (runs `eas-devkit bench --quick`)" in report and "Quick run" in report
    assert re.search(r"Machine: .+, \d+ cores, Python 3\.\d+", report)
    assert "CAIS" not in report and "SecurityToken" not in report  # no STS token, ever
