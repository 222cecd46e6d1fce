"""Settings of the service, read from the environment.

On EAS the environment is ``service.json``'s ``containers[0].env``; locally the local EAS sets the same
variables (with its own endpoints). Deployment facts (bucket, endpoints, region) therefore live in one
place, ``service.json``, and are never repeated here as defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

GIB = 1024**3


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Config:
    region: str
    oss_bucket: Optional[str] = None
    oss_endpoint: Optional[str] = None
    oss_data_prefix: str = ""
    max_upload_bytes: int = 5 * GIB  # OSS's own limit for a single PutObject
    credentials_file: str = "/etc/ram/credentials"  # where EAS writes the role's credentials

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return cls(
            region=_required(environ, "REGION"),
            oss_bucket=environ.get("OSS_BUCKET") or None,
            oss_endpoint=environ.get("OSS_ENDPOINT") or None,
            oss_data_prefix=environ.get("OSS_DATA_PREFIX", ""),
            max_upload_bytes=_positive_int(environ, "MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            credentials_file=environ.get("EAS_RAM_CREDENTIALS_FILE", cls.credentials_file),
        )

    def require_oss(self) -> None:
        for name, value in (("OSS_BUCKET", self.oss_bucket), ("OSS_ENDPOINT", self.oss_endpoint)):
            if not value:
                raise ConfigError(f"{name} is not set: service.json's containers[0].env sets it on EAS, "
                                  "and `make dev` sets it locally")


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: service.json's containers[0].env sets it on EAS, "
                          "and `make dev` sets it locally")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number of bytes") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value
