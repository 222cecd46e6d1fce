"""The control plane and the gateway of one region, wired together and served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ...schemas import SERVICE_SCHEMA
from ..credentials import CredentialIssuer
from ..instance import GRACE_PERIOD_SECONDS
from ..oss import ObjectStore
from ..servers import LoopbackServer
from .accounts import AccessKey, Accounts
from .api import ControlPlaneApi
from .autoscaler import Autoscaler
from .deployer import DeployerCredentials
from .deployer import uri as deployer_uri
from .errors import openapi_host_refusal
from .gateway import Gateway, gateway_host_refusal
from .lifecycle import Lifecycle, Runtime
from .policy import AUTOSCALE_INTERVAL_SECONDS
from .registry import Registry
from .signature import Verifier


@dataclass(frozen=True)
class Endpoints:
    api_url: str  # http://127.0.0.1:<port>
    gateway_url: str
    deployer_credentials_uri: str  # the deploying RAM user's credentials (ALIBABA_CLOUD_CREDENTIALS_URI)

    @property
    def api_endpoint(self) -> str:
        """What ``open_api_models.Config(endpoint=…, protocol="http")`` takes: host and port, no scheme."""
        return self.api_url.split("://", 1)[1]


class ControlPlane:
    """PAI-EAS for one region on this machine: the OpenAPI the SDK calls, and the gateway.

    ``store`` holds the buckets that services mount code from; ``accounts`` the RAM facts and the
    deploying identities. ``endpoints`` maps the container env's ``*_ENDPOINT`` names to local services
    (any other endpoint becomes a closed loopback port), and ``trust`` is what makes an instance trust them when
    they speak HTTPS (:attr:`.tls.TLSFiles.environment`); ``issuer`` and ``credentials_uri`` are what an
    instance with a RAM role gets (the credentials file and ``ALIBABA_CLOUD_CREDENTIALS_URI``).
    ``run_commands`` are the only ``containers[].script`` it runs (the project's: anything else is refused),
    besides ``python /mnt/data/<file>.py`` for a file under ``scripts_dir`` (the project's mount/), and
    ``secret`` the run's secret that the deploying developer's credentials URI carries. ``ready_timeout`` is
    how long a new instance may take to be ready before it counts as failed to start, and ``grace`` the
    termination grace period of a service whose service.json sets none (EAS's default: 30 s), and
    ``autoscale_interval`` how often the :mod:`.autoscaler` measures and scales.
    """

    def __init__(self, state_dir: Path, store: ObjectStore, accounts: Accounts, region: str = "cn-hangzhou", *,
                 run_commands: Collection[str], secret: str, endpoints: Optional[Mapping[str, str]] = None,
                 trust: Optional[Mapping[str, str]] = None, scripts_dir: Optional[Path] = None,
                 issuer: Optional[CredentialIssuer] = None,
                 credentials_uri: Optional[str] = None, schema_path: Path = SERVICE_SCHEMA,
                 ready_timeout: float = 60, grace: float = GRACE_PERIOD_SECONDS,
                 autoscale_interval: float = AUTOSCALE_INTERVAL_SECONDS, api_port: int = 0,
                 gateway_port: int = 0) -> None:
        self.state_dir = Path(state_dir)
        self.region = region
        self.accounts = accounts
        self.registry = Registry()
        self.lifecycle = Lifecycle(self.registry, Runtime(
            state_dir=self.state_dir, store=store, accounts=accounts, endpoints=dict(endpoints or {}),
            trust=dict(trust or {}), issuer=issuer, credentials_uri=credentials_uri, ready_timeout=ready_timeout,
            grace=grace,
        ))
        self.autoscaler = Autoscaler(self.registry, self.lifecycle, autoscale_interval)
        schema = json.loads(Path(schema_path).read_text(encoding="utf-8"))
        self._gateway = LoopbackServer(Gateway(self.registry, region), port=gateway_port, name="eas-gateway",
                                       refuse_host=gateway_host_refusal)
        gateway_url = self._gateway.url
        self.api = ControlPlaneApi(self.registry, self.lifecycle, self.autoscaler, Verifier(accounts.lookup), region,
                                   schema, endpoint_of=lambda name: f"{gateway_url}/api/predict/{name}",
                                   account_id=lambda: accounts.account_id, run_commands=run_commands,
                                   scripts_dir=scripts_dir)
        self._api = LoopbackServer(self.api, port=api_port, name="eas-control-plane", refuse_host=openapi_host_refusal)
        self._secret = secret
        self.deployer = DeployerCredentials(accounts, secret)
        self._deployer = LoopbackServer(self.deployer, name="eas-deployer-credentials")
        self._started = False

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self._api.url, self._gateway.url, deployer_uri(self._deployer.url, self._secret))

    def start(self) -> Endpoints:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._gateway.start()
        self._api.start()
        self._deployer.start()
        self.autoscaler.start()
        self._started = True
        return self.endpoints

    def stop(self) -> None:
        """Stop serving, then stop every instance (SIGTERM, SIGKILL after the grace period)."""
        if self._started:
            self._deployer.stop()
            self._api.stop()
            self._gateway.stop()
            self.autoscaler.stop()
            self._started = False
        self.lifecycle.shutdown()

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client_config(self, key: AccessKey) -> dict[str, Any]:
        """The keyword arguments of ``open_api_models.Config`` for an SDK client acting as ``key``."""
        config = {"access_key_id": key.access_key_id, "access_key_secret": key.access_key_secret,
                  "endpoint": self.endpoints.api_endpoint, "protocol": "http", "region_id": self.region}
        if key.security_token:
            config["security_token"] = key.security_token
        return config
