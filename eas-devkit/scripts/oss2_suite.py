"""Run oss2's own test suite against the local OSS and report the result per module.

    python eas-devkit/scripts/oss2_suite.py [--modules test_object,test_sign] [--markdown build/oss2-suite.md]

The suite ships in oss2's source distribution: it is downloaded once with ``pip download`` and cached under
``build/oss2-suite/``. The local OSS starts in this process on 127.0.0.1, with one static AccessKey pair and no
RAM check (every authenticated request allowed, so that RAM never masks a protocol gap). Each test module runs
in its own pytest process, pointed at the local OSS by the variables the suite's ``tests/common.py`` reads.

Nothing may leave the machine: the pytest processes load this file as a plugin (``-p oss2_suite``), which
refuses every name resolution and connection to anything but loopback. A test that wants a real second
region, STS or KMS fails on that refusal instead of connecting out, and is counted as skipped (it measures a
cloud service that is not the local OSS), and so is a test that opens a data file the source distribution
lacks (``tests/example.jpg``, ``tests/sample_data.csv``); the pass rate is over the tests that ran. The suite
picks buckets at random (plain, RSA or KMS client-side encryption): the plugin fixes ``random``'s state, so
every run picks the same.

Results (passed / failed / errors / skipped per module) go to stdout and, as a markdown table, to
``--markdown``. Progress goes to stderr. Not part of the kit's tests: it needs a download.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest.mock
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

OSS2_VERSION = "2.19.1"
MODULES = (
    "test_object", "test_multipart", "test_list_objects_v2", "test_iterator", "test_sign", "test_chinese",
    "test_put_object_chunked", "test_upload", "test_download", "test_exception_ec", "test_crypto_object",
    "test_crypto_multipart", "test_traffic_limit",
)
REGION = "cn-hangzhou"
MODULE_TIMEOUT = 900
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "oss2-suite"
LOOPBACK_NAMES = frozenset(["127.0.0.1", "localhost", "::1"])


# The socket guard, loaded into each pytest process with ``-p oss2_suite``.


REFUSAL = "oss2 suite: refused to reach"
RANDOM_STATE = 20191
MISSING_FIXTURE = re.compile(r"No such file or directory: '(tests/[^']+)'")


def _refuse(host: object) -> None:
    raise OSError(f"{REFUSAL} {host!r}: only loopback is allowed")


def _check_host(host: object) -> None:
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name not in LOOPBACK_NAMES:
        _refuse(host)


def install_socket_guard() -> None:
    """Refuse name resolution and connections to anything but loopback, in this process."""
    real_getaddrinfo, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, \
        socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _check_host(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_host(address[0])
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_host(address[0])
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def pytest_configure(config: Any) -> None:
    install_socket_guard()
    sys.modules.setdefault("mock", unittest.mock)  # test_upload and test_download import the old backport
    random.seed(RANDOM_STATE)  # the suite picks buckets and thread counts at random: the same picks every run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """A test that failed because it wanted to leave loopback (KMS, another region's endpoint) is reported
    as skipped, with the address it wanted: it measures a cloud service that is not the local OSS. So is one
    that failed to open a data file the source distribution lacks."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    reason = None
    missing = MISSING_FIXTURE.search(report.longreprtext)
    if REFUSAL in report.longreprtext:
        start = report.longreprtext.index(REFUSAL) + len(REFUSAL)
        reason = f"needs {report.longreprtext[start:].split(':', 1)[0].strip()}, which is not loopback"
    elif missing is not None:
        reason = f"{missing.group(1)} is not in oss2's source distribution"
    if reason is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, reason)


# The runner


@dataclass(frozen=True)
class ModuleResult:
    module: str
    passed: int
    failed: int
    errors: int
    skipped: int
    seconds: float
    note: str = ""

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


@dataclass(frozen=True)
class StaticKey:
    access_key_id: str
    access_key_secret: str
    security_token: str = ""
    expires_at: float = float("inf")

    def is_expired(self, now: Optional[float] = None) -> bool:
        return False


def suite_directory() -> Path:
    """The unpacked sdist, downloaded on first use."""
    unpacked = CACHE / f"oss2-{OSS2_VERSION}"
    if (unpacked / "tests" / "common.py").exists():
        return unpacked
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"oss2-{OSS2_VERSION}.tar.gz"
    if not archive.exists():
        print(f"downloading oss2=={OSS2_VERSION} (sdist) into {CACHE}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                        f"oss2=={OSS2_VERSION}", "-d", str(CACHE)], check=True)
    with tarfile.open(archive) as tar:
        members = [member for member in tar.getmembers() if member.name.startswith(f"oss2-{OSS2_VERSION}/")
                   and ".." not in member.name and (member.isfile() or member.isdir())]
        tar.extractall(CACHE, members=members)  # noqa: S202 - members filtered just above
    return unpacked


def start_local_oss(root: Path, key: StaticKey) -> Any:
    from eas_devkit.local.oss import ObjectStore, create_oss_app
    from eas_devkit.local.servers import LoopbackServer

    store = ObjectStore(root)
    app = create_oss_app(store, lambda access_key_id: key if access_key_id == key.access_key_id else None,
                         REGION, authorize=None)
    return LoopbackServer(app, name="oss").start()


def run_module(module: str, suite: Path, environment: dict[str, str], report_dir: Path) -> ModuleResult:
    report = report_dir / f"{module}.xml"
    report.unlink(missing_ok=True)  # never read a previous run's result
    command = [sys.executable, "-m", "pytest", "-q", "-p", "oss2_suite", "-p", "no:cacheprovider",
               "-o", "log_level=WARNING", "--junitxml", str(report), f"tests/{module}.py"]
    started = time.monotonic()
    log = report_dir / f"{module}.log"
    with open(log, "wb") as output:
        try:
            subprocess.run(command, cwd=suite, env=environment, stdout=output, stderr=subprocess.STDOUT,
                           timeout=MODULE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return ModuleResult(module, 0, 0, 0, 0, time.monotonic() - started, f"timed out after {MODULE_TIMEOUT} s")
    seconds = time.monotonic() - started
    if not report.exists():
        return ModuleResult(module, 0, 0, 0, 0, seconds, f"no report: see {log}")
    # One outcome per test: a failing test whose tearDown also fails is reported twice by junit.
    outcomes: dict[tuple[str, str], str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        outcome = next((kind for kind in ("failure", "error", "skipped") if kind in kinds), "passed")
        name = (case.get("classname", ""), case.get("name", ""))
        if outcomes.get(name, "passed") == "passed":
            outcomes[name] = outcome
    counted = [list(outcomes.values()).count(kind) for kind in ("passed", "failure", "error", "skipped")]
    return ModuleResult(module, *counted, seconds=seconds)


def markdown(results: list[ModuleResult]) -> str:
    lines = ["| module | tests | passed | failed | errors | skipped | pass rate (of those run) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for result in [*results, total(results)]:
        run = result.total - result.skipped
        rate = f"{100 * result.passed / run:.0f} %" if run else "–"
        name = f"**{result.module}**" if result.module == "total" else result.module
        lines.append(f"| {name} | {result.total} | {result.passed} | {result.failed} | {result.errors} | "
                     f"{result.skipped} | {rate} |")
    return "\n".join(lines) + "\n"


def total(results: list[ModuleResult]) -> ModuleResult:
    return ModuleResult("total", sum(r.passed for r in results), sum(r.failed for r in results),
                        sum(r.errors for r in results), sum(r.skipped for r in results),
                        sum(r.seconds for r in results))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", default=",".join(MODULES),
                        help="comma-separated test modules of oss2's suite (default: the object-level ones)")
    parser.add_argument("--markdown", type=Path, default=CACHE / "results.md",
                        help="where to write the markdown table (default: %(default)s)")
    parser.add_argument("--auth-version", choices=["v1", "v4"], default="v1",
                        help="the signature version the suite signs with (default: %(default)s)")
    args = parser.parse_args(argv)

    from eas_devkit.hermetic import make_this_process_hermetic

    home = make_this_process_hermetic("oss2-suite")
    suite = suite_directory()
    key = StaticKey("LTAI" + secrets.token_hex(8), secrets.token_urlsafe(24))
    with tempfile.TemporaryDirectory(prefix="oss2-suite-") as work:
        server = start_local_oss(Path(work) / "oss", key)
        environment = {name: value for name, value in os.environ.items()
                       if not name.upper().endswith("_PROXY") and not name.startswith("OSS_TEST_")}
        environment.update(
            OSS_TEST_ENDPOINT=server.url, OSS_TEST_ACCESS_KEY_ID=key.access_key_id,
            OSS_TEST_ACCESS_KEY_SECRET=key.access_key_secret, OSS_TEST_REGION=REGION,
            OSS_TEST_AUTH_VERSION=args.auth_version, NO_PROXY="*", HOME=str(home),
            PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent),
                                        environment.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        report_dir = CACHE / "reports"
        report_dir.mkdir(parents=True, exist_ok=True)
        results = []
        try:
            for module in [name.strip() for name in args.modules.split(",") if name.strip()]:
                print(f"running {module} ...", file=sys.stderr, flush=True)
                result = run_module(module, suite, environment, report_dir)
                print(f"  {module}: {result.passed}/{result.total} passed in {result.seconds:.0f} s "
                      f"{result.note}".rstrip(), file=sys.stderr, flush=True)
                results.append(result)
        finally:
            server.stop()
    table = markdown(results)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(table, encoding="utf-8")
    print(table, end="")
    print(f"logs and junit reports: {CACHE / 'reports'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
