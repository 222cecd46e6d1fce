"""Where a deploy goes, chosen by configuration alone: ``EAS_TARGET=local`` (the default) or ``cloud``.

local
    The local EAS that ``make dev`` runs (``eas-devkit local up``): its control plane, its OSS, and the
    credentials of its RAM user ``developer``, read from the local EAS's ``state.json``
    (``<project>/.local-eas`` or ``EAS_LOCAL_STATE_DIR``).
cloud
    PAI-EAS of the service's region: ``pai-eas.<region>.aliyuncs.com`` and ``oss-<region>.aliyuncs.com``
    (the public endpoints: the deploy runs on the developer's machine, not in the VPC), with the
    developer's own credentials found by ``DefaultCredentialsProvider`` (environment AccessKey,
    ``aliyun`` CLI profile, ``~/.alibabacloud/credentials.ini``, ...). ``EAS_ENDPOINT`` and
    ``OSS_UPLOAD_ENDPOINT`` override the endpoints (a URL or a host; a host means https). Without
    credentials the commands stop before any request, saying how to provide them.

Both targets go through the same code: the real ``alibabacloud_eas20210701`` client and ``oss2``, each with
its endpoint set explicitly (the EAS SDK's built-in region map is stale), and an
``alibabacloud_credentials`` provider. Locally, that provider reads the developer's credentials from the
local EAS's credentials URI (which carries the local EAS's per-run secret, kept out of every message), so
no cloud secret is ever written to a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qsl, urlsplit

from ..local import STATE_DIR
from ..service_config import SERVICE_JSON, ServiceConfigError, load_service_config

TARGETS = ("local", "cloud")


class TargetError(ValueError):
    """The target cannot be used as configured; the message says which setting and what to do."""


@dataclass(frozen=True)
class Service:
    """What the deploy needs from ``service.json``, merged with the environment ``EAS_ENV`` selects."""

    name: str
    region: str
    config_text: str  # sent as it is: the body of CreateService / UpdateService
    code_bucket: str
    code_prefix: str  # ends with "/"
    environment: Optional[str] = None
    sources: str = SERVICE_JSON  # "service.json", or "environment staging (service.json + …)"

    @classmethod
    def load(cls, project: Path, environ: Mapping[str, str] = os.environ) -> Service:
        try:
            loaded = load_service_config(project, environ)
        except ServiceConfigError as problem:
            raise TargetError(str(problem)) from None
        path, config = " + ".join(loaded.sources), loaded.config
        try:
            name = config["metadata"]["name"]
            env = {item["name"]: item["value"] for item in config["containers"][0].get("env", [])}
            mount = next(entry for entry in config.get("storage", []) if "oss" in entry)
            bucket, _, prefix = mount["oss"]["path"][len("oss://"):].partition("/")
        except (OSError, ValueError, KeyError, IndexError, TypeError, StopIteration) as error:
            raise TargetError(f"{path}: cannot read the service's name, REGION and OSS code mount ({error!r}); "
                              "run `make check`") from None
        if "REGION" not in env:
            raise TargetError(f"{path}: containers[0].env has no REGION; the deploy needs the service's region")
        return cls(name, env["REGION"], loaded.text, bucket, prefix.rstrip("/") + "/" if prefix else "",
                   loaded.environment, loaded.describe())


@dataclass(frozen=True)
class Target:
    """An EAS control plane, the OSS endpoint to upload the code to, and whose credentials to use."""

    name: str  # "local" or "cloud"
    region: str
    eas_endpoint: str  # host[:port], what open_api_models.Config(endpoint=...) takes
    eas_protocol: str  # "http" or "https"
    oss_endpoint: str  # a URL, what oss2.Bucket takes
    credentials_uri: Optional[str] = None  # local: the developer's credentials at the local EAS

    def credentials_provider(self) -> Any:
        """The ``alibabacloud_credentials`` provider of the deploying identity (imported only when needed),
        which has just found credentials: otherwise a :class:`TargetError` saying how to provide them, raised
        before anything is sent to the target."""
        if self.credentials_uri:
            from alibabacloud_credentials.provider import URLCredentialsProvider

            provider = URLCredentialsProvider(uri=self.credentials_uri)
        else:
            from alibabacloud_credentials.provider import DefaultCredentialsProvider

            provider = DefaultCredentialsProvider()
        try:
            provider.get_credentials()
        except Exception as error:  # CredentialException, or the HTTP client's own errors for a URI
            raise TargetError(self._no_credentials(error)) from None
        return provider

    def redact(self, text: str) -> str:
        """``text`` without the secret of the local credentials URI (the SDK quotes the URI in its errors)."""
        for _, secret in parse_qsl(urlsplit(self.credentials_uri or "").query):
            text = text.replace(secret, "****")
        return text

    def _no_credentials(self, error: Exception, environ: Mapping[str, str] = os.environ) -> str:
        if self.name == "local":
            return (f"EAS_TARGET=local: the local EAS did not give the deploying developer's credentials "
                    f"({self.redact(str(error))}); restart `make dev`")
        if "unable to load credentials from any of the providers" not in str(error):
            return f"EAS_TARGET=cloud: the credentials found cannot be used: {error}"
        keys = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        half = [name for name in keys if not environ.get(name)] if any(environ.get(name) for name in keys) else []
        cli_off = (environ.get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "").lower() == "true")
        return ("EAS_TARGET=cloud: no Alibaba Cloud credentials found, so nothing was sent to "
                f"{self.eas_protocol}://{self.eas_endpoint}."
                + (f" {half[0]} is not set." if half else "")
                + " Provide the deploying RAM user's credentials one of these ways: set ALIBABA_CLOUD_ACCESS_KEY_ID "
                "and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials); or "
                "configure the aliyun CLI (`aliyun configure`; ALIBABA_CLOUD_PROFILE picks a profile)"
                + (", which is not read while ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true (`make` clears it for "
                   "EAS_TARGET=cloud)" if cli_off else "")
                + "; or a ~/.alibabacloud/credentials.ini (ALIBABA_CLOUD_CREDENTIALS_FILE); or "
                "ALIBABA_CLOUD_CREDENTIALS_URI.")

    def describe(self) -> str:
        return f"{self.name} EAS at {self.eas_protocol}://{self.eas_endpoint} (region {self.region})"


def resolve(project: Path, service: Service, environ: Mapping[str, str] = os.environ) -> Target:
    name = environ.get("EAS_TARGET", "local") or "local"
    if name not in TARGETS:
        raise TargetError(f"EAS_TARGET={name!r}: must be one of {', '.join(TARGETS)}")
    if name == "local":
        return _local(project, service, environ)
    endpoint, protocol = _host_and_protocol(environ.get("EAS_ENDPOINT") or f"pai-eas.{service.region}.aliyuncs.com",
                                            "EAS_ENDPOINT")
    oss = environ.get("OSS_UPLOAD_ENDPOINT") or f"https://oss-{service.region}.aliyuncs.com"
    oss_host, oss_protocol = _host_and_protocol(oss, "OSS_UPLOAD_ENDPOINT")
    return Target("cloud", service.region, endpoint, protocol, f"{oss_protocol}://{oss_host}")


def _local(project: Path, service: Service, environ: Mapping[str, str]) -> Target:
    state_dir = Path(environ.get("EAS_LOCAL_STATE_DIR") or project / STATE_DIR)
    state_file = state_dir / "state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TargetError(f"EAS_TARGET=local: {state_file} does not exist: start the local EAS first (`make dev` "
                          "in another terminal), or set EAS_TARGET=cloud") from None
    except (OSError, json.JSONDecodeError) as error:
        raise TargetError(f"EAS_TARGET=local: {state_file} cannot be read ({error}); restart `make dev`") from None
    if "eas_endpoint" not in state:
        raise TargetError(f"EAS_TARGET=local: {state_file} has no EAS control plane; restart `make dev`")
    if state.get("region") != service.region:
        raise TargetError(f"EAS_TARGET=local: the local EAS runs region {state.get('region')}, service.json's REGION "
                          f"is {service.region}; restart `make dev`")
    if not _is_alive(state.get("pid")):
        raise TargetError(f"EAS_TARGET=local: the local EAS of {state_file} (pid {state.get('pid')}) is not running; "
                          "start it with `make dev`")
    return Target("local", service.region, state["eas_endpoint"], "http", state["oss_endpoint"],
                  credentials_uri=state["deployer_credentials_uri"])


def _host_and_protocol(value: str, setting: str) -> tuple[str, str]:
    if "://" not in value:
        return value.rstrip("/"), "https"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise TargetError(f"{setting}={value!r}: a host such as pai-eas.cn-hangzhou.aliyuncs.com or a URL with "
                          "only a scheme and a host")
    return parts.netloc, parts.scheme


def _is_alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
