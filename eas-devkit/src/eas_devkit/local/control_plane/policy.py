"""What service.json says about a service's instances: how many, how an update replaces them, how they are
checked and how they are stopped. Read once per deployment, checked when the API accepts the configuration.

Every key, its default and its source, in one place (official page: *Rolling updates and graceful shutdown*,
https://www.alibabacloud.com/help/en/pai/user-guide/scrolling-updates-with-graceful-exit; *Configure health
checks*, https://www.alibabacloud.com/help/en/pai/advanced-configuration-health-check):

* ``metadata.instance``: the number of instances. With an ``autoscaler``, its ``min`` instead: the local EAS
  does not autoscale, it holds the minimum (at least one instance: EAS's scale to zero, which starts an
  instance on the first request, is not emulated).
* ``metadata.rolling_strategy.max_surge``: extra instances an update may create, an integer or a percentage
  of the instances; default 2 %, at least 1. ``max_unavailable``: instances an update may stop before their
  replacements are ready; default 0 on public resources, 1 on a dedicated resource group
  (``metadata.resource``). The names are the page's; their place under ``metadata`` is a third-party
  schema's [inferred]. A percentage is rounded up for the surge and down for the unavailable instances, as
  Kubernetes does [inferred].
* ``metadata.eas.termination_grace_period``: seconds an instance taken out of rotation gets to finish the
  requests it has, default 30. ``metadata.rpc.enable_sigterm``: send SIGTERM as soon as it is taken out of
  rotation (default false: the process is signalled at the end). Names from the page; the ``metadata.``
  prefix [inferred], as ``metadata.rpc.keepalive``.
* ``containers[0].readiness_check`` / ``liveness_check`` / ``startup_check``: Kubernetes probes with
  ``http_get`` (``path``, ``port``) or ``tcp_socket`` (``port``), ``initial_delay_seconds`` (default 10),
  ``period_seconds`` (10), ``timeout_seconds`` (1), ``failure_threshold`` (3), ``success_threshold`` (1).
  Names from the health-check page; the defaults and the place under the container from a third-party
  reference [inferred]. Without a readiness check an instance is ready once its port accepts connections
  (EAS's default check). ``exec`` probes, and probes of another port than ``containers[0].port``, are not
  emulated: the API refuses them (``NotImplemented``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_SURGE_PERCENT = 2
PROBE_KEYS = ("readiness_check", "liveness_check", "startup_check")
PROBE_DEFAULTS = {"initial_delay_seconds": 10.0, "period_seconds": 10.0, "timeout_seconds": 1.0,
                  "failure_threshold": 3, "success_threshold": 1}
_PERCENT = re.compile(r"(?P<number>\d+(?:\.\d+)?)%")


class PolicyError(ValueError):
    """A value of service.json the local EAS cannot run: the message names the field and the rule."""

    def __init__(self, message: str, not_implemented: bool = False) -> None:
        super().__init__(message)
        self.not_implemented = not_implemented  # EAS takes it, the local EAS does not emulate it


@dataclass(frozen=True)
class Probe:
    """One health check: ``http_get`` of ``path`` (2xx/3xx succeeds) or, with ``path`` None, a TCP connect."""

    field: str  # where it comes from, for messages: containers[0].readiness_check
    path: Optional[str]
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int

    def describe(self) -> str:
        return f"GET {self.path}" if self.path is not None else "a TCP connection to the port"


@dataclass(frozen=True)
class InstancePolicy:
    replicas: int
    autoscaler_min: Optional[int]  # set when an autoscaler decides the count on EAS
    max_surge: int
    max_unavailable: int
    grace: float  # metadata.eas.termination_grace_period
    sigterm_at_once: bool  # metadata.rpc.enable_sigterm
    readiness: Optional[Probe]  # None: ready once the port accepts connections
    liveness: Optional[Probe]
    startup: Optional[Probe]

    @classmethod
    def of(cls, config: Mapping[str, Any], default_grace: float = DEFAULT_GRACE_SECONDS) -> InstancePolicy:
        metadata = config.get("metadata", {})
        autoscaler = config.get("autoscaler")
        autoscaler_min = None
        if isinstance(autoscaler, Mapping) and "min" in autoscaler:
            autoscaler_min = _integer(autoscaler["min"], "autoscaler.min", minimum=0)
            replicas = max(autoscaler_min, 1)
        else:
            replicas = _integer(metadata.get("instance", 1), "metadata.instance", minimum=0)
        strategy = _object(metadata, "rolling_strategy", "metadata.rolling_strategy")
        surge = _count(strategy.get("max_surge"), "metadata.rolling_strategy.max_surge", replicas, math.ceil)
        if surge is None:
            surge = max(1, math.ceil(replicas * DEFAULT_SURGE_PERCENT / 100))
        unavailable = _count(strategy.get("max_unavailable"), "metadata.rolling_strategy.max_unavailable",
                             replicas, math.floor)
        if unavailable is None:
            unavailable = 1 if metadata.get("resource") else 0
        if surge == 0 and unavailable == 0:
            raise PolicyError("metadata.rolling_strategy: max_surge and max_unavailable are both 0, so an update "
                              "could neither add an instance nor stop one: set either above 0")
        grace_setting = _object(metadata, "eas", "metadata.eas").get("termination_grace_period")
        grace = default_grace if grace_setting is None else _number(
            grace_setting, "metadata.eas.termination_grace_period", minimum=0)
        sigterm = _object(metadata, "rpc", "metadata.rpc").get("enable_sigterm", False)
        if not isinstance(sigterm, bool):
            raise PolicyError(f"metadata.rpc.enable_sigterm {sigterm!r} must be true or false")
        container = config.get("containers", [{}])[0]
        probes = {key: _probe(container.get(key), f"containers[0].{key}", container.get("port"))
                  for key in PROBE_KEYS}
        return cls(replicas, autoscaler_min, surge, unavailable, grace, sigterm, probes["readiness_check"],
                   probes["liveness_check"], probes["startup_check"])

    def describe_readiness(self) -> str:
        return self.readiness.describe() if self.readiness is not None else "a TCP connection to the port"


def _probe(value: Any, field: str, container_port: Any) -> Optional[Probe]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise PolicyError(f"{field} must be an object with http_get, tcp_socket or exec")
    methods = [name for name in ("http_get", "tcp_socket", "exec") if name in value]
    if len(methods) != 1:
        raise PolicyError(f"{field} needs exactly one of http_get, tcp_socket, exec (found "
                          f"{', '.join(methods) or 'none'})")
    method = value[methods[0]]
    if methods[0] == "exec":
        raise PolicyError(f"{field}.exec: a command probe runs inside the container, and the local EAS runs no "
                          "command but the run command", not_implemented=True)
    if not isinstance(method, Mapping):
        raise PolicyError(f"{field}.{methods[0]} must be an object")
    port = method.get("port", container_port)
    if port != container_port:
        raise PolicyError(f"{field}.{methods[0]}.port {port!r}: the local EAS can check only the port of "
                          f"containers[0].port ({container_port}), the one it moves to a local port",
                          not_implemented=True)
    path = None
    if methods[0] == "http_get":
        path = method.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/"):
            raise PolicyError(f"{field}.http_get.path {path!r} must be a path starting with /")
    settings = {name: value.get(name, default) for name, default in PROBE_DEFAULTS.items()}
    return Probe(
        field=field, path=path,
        initial_delay=_number(settings["initial_delay_seconds"], f"{field}.initial_delay_seconds", minimum=0),
        period=_number(settings["period_seconds"], f"{field}.period_seconds", minimum=0.01),
        timeout=_number(settings["timeout_seconds"], f"{field}.timeout_seconds", minimum=0.01),
        failure_threshold=_integer(settings["failure_threshold"], f"{field}.failure_threshold", minimum=1),
        success_threshold=_integer(settings["success_threshold"], f"{field}.success_threshold", minimum=1),
    )


def _object(parent: Mapping[str, Any], key: str, field: str) -> Mapping[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, Mapping):
        raise PolicyError(f"{field} must be an object")
    return value


def _count(value: Any, field: str, replicas: int, rounding: Any) -> Optional[int]:
    """An instance count given as an integer or as a percentage of ``replicas``."""
    if value is None:
        return None
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value.strip())
        if match is None:
            raise PolicyError(f"{field} {value!r} must be an integer or a percentage such as \"10%\"")
        return int(rounding(replicas * float(match["number"]) / 100))
    return _integer(value, field, minimum=0)


def _integer(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PolicyError(f"{field} {value!r} must be an integer of at least {minimum}")
    return value


def _number(value: Any, field: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise PolicyError(f"{field} {value!r} must be a number of at least {minimum:g}")
    return float(value)
