"""The kit's tests run against a service baked from this repository's template, as a user's project is.

The default bake (a custom role, the OSS and MaxCompute handlers, no SQL route) is made once per test process,
at import, so test modules can import ``PROJECT`` and the facts of its service.json; the plugin's
``eas_project`` fixture returns it, so ``local_eas`` and ``rotating_eas`` run it. The ``baked`` fixture makes
the other variants a test needs (the SQL route, no role...), each once.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from cookiecutter.main import cookiecutter
from odps import options as odps_options

from eas_devkit.testing import ServiceFacts

TEMPLATE = Path(__file__).resolve().parents[2]


def bake(output_dir: Path, **answers: Any) -> Path:
    """The template baked into ``output_dir`` with its default answers, except ``answers``.

    The post-generation hook's "Next steps" go to the process's own stdout, which pytest does not capture
    while a conftest is imported: they go nowhere instead.
    """
    stdout = os.dup(1)
    try:
        with open(os.devnull, "w") as nowhere:
            os.dup2(nowhere.fileno(), 1)
        return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output_dir), default_config=True,
                                 extra_context=answers))
    finally:
        os.dup2(stdout, 1)
        os.close(stdout)


_BAKES = Path(tempfile.mkdtemp(prefix="eas-devkit-tests-"))
atexit.register(shutil.rmtree, _BAKES, True)
PROJECT = bake(_BAKES)
SERVICE = ServiceFacts.of(PROJECT)
SERVICE_JSON = SERVICE.service_json
CONTAINER_ENV = SERVICE.container_env


def pytest_configure(config: pytest.Config) -> None:
    """``-n 2`` alone distributes as ``--dist loadgroup``: the tests of an ``xdist_group`` (those that build on
    each other, in file order) stay on one worker; the others go to whichever is free."""
    if getattr(config.option, "dist", None) == "load":  # xdist's controller, -n without --dist
        config.option.dist = "loadgroup"
    if hasattr(config, "workerinput"):  # a worker, which re-reads the command line: the group goes in the test ids
        config.option.loadgroup = True


@pytest.fixture(scope="session")
def eas_project() -> Path:
    """The plugin's fixture: the local EAS of ``local_eas`` and ``rotating_eas`` runs the default bake."""
    return PROJECT


@pytest.fixture(scope="session")
def baked(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``baked(**answers)``: the template baked with these answers instead of the defaults, once a session."""
    bakes: dict[tuple[tuple[str, Any], ...], Path] = {}

    def variant(**answers: Any) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in bakes:
            bakes[key] = bake(tmp_path_factory.mktemp("bake"), **answers)
        return bakes[key]

    return variant


@pytest.fixture(scope="session")
def data_prefix() -> str:
    """The folder of the bucket the service's OSS handlers may use."""
    return CONTAINER_ENV.get("OSS_DATA_PREFIX", "")


@pytest.fixture
def quick_pyodps_retries() -> Iterator[None]:
    """pyodps retries failed session creations with a delay; where errors are expected, delays are not."""
    saved = odps_options.retry_times, odps_options.retry_delay
    odps_options.retry_times, odps_options.retry_delay = 1, 0
    yield
    odps_options.retry_times, odps_options.retry_delay = saved
