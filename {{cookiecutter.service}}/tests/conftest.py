"""The service's own test settings. The local EAS, the hermetic environment and the fixtures ``local_eas``,
``rotating_eas``, ``oss_admin``, ``odps_admin`` and ``reliability`` come from the dev kit's pytest plugin
(``eas_devkit.pytest_plugin``); what is here is this service's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eas_devkit import testing
from eas_devkit.testing import (  # noqa: F401  (re-exported for the test modules)
    SHORT_LIFETIME,
    RunningEAS,
    ServiceFacts,
    concurrent_calls,
    finish_local_eas,
    stop_local_eas,
)

PROJECT = Path(__file__).resolve().parent.parent
SERVICE = ServiceFacts.of(PROJECT)
SERVICE_JSON = SERVICE.service_json
CONTAINER_ENV = SERVICE.container_env
HAS_ROLE, HAS_OSS, HAS_MAXCOMPUTE = SERVICE.has_role, SERVICE.has_oss, SERVICE.has_maxcompute


def start_local_eas(state_dir: Path, *options: str) -> RunningEAS:
    """A local EAS of this project of its own (``eas-devkit local up <options>``), for a test that needs one
    configured differently from the ``local_eas`` fixture; ``finish_local_eas`` stops it."""
    return testing.start_local_eas(state_dir, *options, project=PROJECT)


@pytest.fixture(scope="session")
def data_prefix() -> str:
    """The folder of the bucket the OSS handlers may use."""
    return CONTAINER_ENV.get("OSS_DATA_PREFIX", "")
