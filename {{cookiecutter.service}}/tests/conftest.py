"""The service's own test settings. The local EAS, the hermetic environment and the fixtures ``local_eas``,
``rotating_eas``, ``oss_admin``, ``odps_admin`` and ``reliability`` come from the dev kit's pytest plugin
(``eas_devkit.pytest_plugin``); what is here is this service's. A module that needs a local EAS configured
otherwise makes its own fixture: ``eas = local_eas_fixture("--env", "MAX_UPLOAD_BYTES=65536")``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.config import Config
from eas_devkit import testing
from eas_devkit.testing import (  # noqa: F401  (re-exported for the test modules)
    FIGURES,
    SHORT_LIFETIME,
    Ledger,
    RawAnswer,
    RunningEAS,
    ServiceFacts,
    concurrent_calls,
    free_port,
    local_eas_fixture,
    rewrite,
)

PROJECT = Path(__file__).resolve().parent.parent
SERVICE = ServiceFacts.of(PROJECT)
SERVICE_JSON = SERVICE.service_json
CONTAINER_ENV = SERVICE.container_env
HAS_ROLE, HAS_OSS, HAS_MAXCOMPUTE = SERVICE.has_role, SERVICE.has_oss, SERVICE.has_maxcompute
needs_oss = pytest.mark.skipif(not HAS_OSS, reason="baked without the OSS handlers")
needs_maxcompute = pytest.mark.skipif(not HAS_MAXCOMPUTE, reason="baked without the MaxCompute handlers")


def running_local_eas(state_dir: Path, *options: str) -> AbstractContextManager[RunningEAS]:
    """A local EAS of this project (``eas-devkit local up <options>``) for a ``with`` block, finished (stopped
    after the leak check) at its end."""
    return testing.running_local_eas(state_dir, *options, project=PROJECT)


@pytest.fixture
def app() -> Flask:
    """The service's Flask app on its own, configured as service.json says, with no cloud service reachable."""
    return create_app(Config.from_environ({**CONTAINER_ENV, "OSS_ENDPOINT": "http://127.0.0.1:9"}))


@pytest.fixture(scope="session")
def data_prefix() -> str:
    """The folder of the bucket the OSS handlers may use."""
    return CONTAINER_ENV.get("OSS_DATA_PREFIX", "")
