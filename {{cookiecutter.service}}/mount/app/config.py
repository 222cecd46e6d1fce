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
# Connections each worker keeps open to a backend. A gevent worker serves many requests at once (the SDKs'
# default of 10 made it open, and throw away, one connection per request beyond the tenth).
BACKEND_POOL_SIZE = 64
WHERE_SET = "service.json's containers[0].env sets it on EAS, and `make dev` sets it locally"


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
    odps_project: Optional[str] = None
    odps_endpoint: Optional[str] = None
    # Given, so that creating the client makes no request (pyodps asks the endpoint for it otherwise).
    odps_logview_host: str = "http://logview.aliyun.com"  # pyodps's own default
    sql_timeout_seconds: int = 120  # then the query's instance is stopped (504); below metadata.rpc.keepalive
    # Each backend HTTP request: the connect and every read of the answer (oss2's and pyodps's defaults, 60 and
    # 120 s, outlast EAS's request timeout). A read route takes at most one timeout for its retries to start in,
    # plus one attempt: see oss_client.py and maxcompute_client.py.
    oss_timeout_seconds: int = 10
    odps_timeout_seconds: int = 10
    # Retries of an idempotent read after a 5xx, a reset or a cut-short answer; writes are never retried.
    read_retries: int = 2

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return cls(
            region=_required(environ, "REGION"),
            oss_bucket=environ.get("OSS_BUCKET") or None,
            oss_endpoint=environ.get("OSS_ENDPOINT") or None,
            oss_data_prefix=environ.get("OSS_DATA_PREFIX", ""),
            max_upload_bytes=_positive_int(environ, "MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            credentials_file=environ.get("EAS_RAM_CREDENTIALS_FILE", cls.credentials_file),
            odps_project=environ.get("ODPS_PROJECT") or None,
            odps_endpoint=environ.get("ODPS_ENDPOINT") or None,
            odps_logview_host=environ.get("ODPS_LOGVIEW_HOST", cls.odps_logview_host),
            sql_timeout_seconds=_positive_int(environ, "SQL_TIMEOUT_SECONDS", cls.sql_timeout_seconds),
            oss_timeout_seconds=_positive_int(environ, "OSS_TIMEOUT_SECONDS", cls.oss_timeout_seconds),
            odps_timeout_seconds=_positive_int(environ, "ODPS_TIMEOUT_SECONDS", cls.odps_timeout_seconds),
            read_retries=_whole_number(environ, "BACKEND_READ_RETRIES", cls.read_retries),
        )

    def require_oss(self) -> None:
        _require_set(OSS_BUCKET=self.oss_bucket, OSS_ENDPOINT=self.oss_endpoint)

    def require_maxcompute(self) -> None:
        _require_set(ODPS_PROJECT=self.odps_project, ODPS_ENDPOINT=self.odps_endpoint)


def _require_set(**values: Optional[str]) -> None:
    for name, value in values.items():
        if not value:
            raise ConfigError(f"{name} is not set: {WHERE_SET}")


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {WHERE_SET}")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _whole_number(environ, name, default)
    if value <= 0:
        raise ConfigError(f"{name}={environ[name]!r} must be positive")
    return value


def _whole_number(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value
