"""The one hermetic environment of every process that may import alibabacloud_credentials.

alibabacloud_credentials reads its environment once, at import. Before that import, a process the kit runs
(the local EAS, the benchmarks, the tests through the pytest plugin, the local instance) gets:

- ``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true``: never probe the ECS metadata address 100.100.100.200;
- ``ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true``: never read the developer's own aliyun CLI profile;
- a throw-away ``HOME``, so no ``~/.alibabacloud`` or ``~/.aliyun`` file is found either;
- none of the variables that carry credentials of their own (an AccessKey, a credentials URI, an OIDC token).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

SETTINGS = {
    "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
    "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
}
CREDENTIAL_VARIABLES = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_CREDENTIALS_FILE", "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_PROFILE",
    "ALIBABA_CLOUD_ECS_METADATA",
)


def hermetic_environment(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """``environ`` without credentials of its own, with the hermetic settings and ``home`` as HOME."""
    environment = {name: value for name, value in environ.items() if name not in CREDENTIAL_VARIABLES}
    environment.update(SETTINGS, HOME=str(home))
    return environment


def make_this_process_hermetic(purpose: str) -> Path:
    """Make ``os.environ`` hermetic, with a new throw-away HOME (returned, removed at exit); the processes
    it starts inherit it.

    Must run before anything imports alibabacloud_credentials: afterwards it would be too late, and says so.
    """
    if "alibabacloud_credentials" in sys.modules:
        raise RuntimeError("alibabacloud_credentials was imported before the hermetic environment was set: "
                           "it has read the real one already")
    home = Path(tempfile.mkdtemp(prefix=f"eas-{purpose}-home-"))
    atexit.register(shutil.rmtree, home, True)
    hermetic = hermetic_environment(os.environ, home)
    for name in set(os.environ) - set(hermetic):
        del os.environ[name]
    os.environ.update(hermetic)
    return home
