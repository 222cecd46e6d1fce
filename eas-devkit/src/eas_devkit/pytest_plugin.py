"""The kit's pytest plugin (entry point ``eas_devkit``): loaded by every pytest run of an environment that has
the kit, so a service's ``tests/conftest.py`` holds only what is its own.

- Before any conftest or test module is imported, the test process becomes hermetic
  (``eas_devkit.hermetic``): no ECS metadata probe, no personal profile, a throw-away HOME.
- Fixtures: ``eas_project`` (the service's project directory: the ini option ``eas_project``, else pytest's
  rootdir), ``local_eas`` and ``rotating_eas`` (a local EAS for the whole session, as ``make dev`` runs it;
  the second issues new credentials every second), ``oss_admin`` and ``odps_admin`` (real SDK clients of the
  local OSS and MaxCompute, to set up and check), and ``reliability`` (the reliability suite's figures).
- At the end of a passing session asked for with ``RELIABILITY_REPORT``, the figures go to that file and
  into the project's documents between their reliability markers.

``-p no:eas_devkit`` turns it off.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import hermetic
from .reliability import ReliabilityFigures
from .testing import FIGURES, SHORT_LIFETIME, RunningEAS, finish_local_eas, start_local_eas


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    hermetic.make_this_process_hermetic("test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("eas_project", "the service's project directory, relative to the rootdir (default: the rootdir)",
                  default="")


def project_of(config: pytest.Config) -> Path:
    return (config.rootpath / str(config.getini("eas_project"))).resolve()


@pytest.fixture(scope="session")
def eas_project(pytestconfig: pytest.Config) -> Path:
    """The service's project directory (service.json, ram/, mount/) the local EAS runs."""
    return project_of(pytestconfig)


@pytest.fixture(scope="session")
def local_eas(eas_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEAS]:
    """The service as `make dev` runs it: credentials endpoint, OSS, MaxCompute and gunicorn, service.json's
    defaults. At the end, every response and log is searched for the secrets it issued."""
    running = start_local_eas(tmp_path_factory.mktemp("local-eas"), "--quiet", project=eas_project)
    yield running
    finish_local_eas(running)


@pytest.fixture(scope="session")
def rotating_eas(eas_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEAS]:
    """Credentials URI method, with new credentials (a new AccessKeyId) issued every second."""
    running = start_local_eas(tmp_path_factory.mktemp("rotating"), "--quiet", *SHORT_LIFETIME, project=eas_project)
    yield running
    finish_local_eas(running)


@pytest.fixture(scope="session")
def oss_admin(local_eas: RunningEAS) -> Any:
    """A real oss2 client of the local OSS, signing with the instance's credentials (to set up and check)."""
    return local_eas.oss_bucket()


@pytest.fixture(scope="session")
def odps_admin(local_eas: RunningEAS) -> Any:
    """A real pyodps client of the local MaxCompute, signing as the developer (who may do anything there)."""
    return local_eas.odps()


@pytest.fixture(scope="session")
def reliability() -> ReliabilityFigures:
    """Where reliability tests record what they did: ``reliability.record("Rotation soak", requests=n, lost=0)``."""
    return FIGURES


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    project = project_of(session.config)
    FIGURES.write_if_asked(exitstatus, sorted([*project.glob("README*.md"), *project.glob("docs/*.md")]))
