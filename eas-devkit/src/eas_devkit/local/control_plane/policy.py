"""What service.json says about a service's instances: how many, how an update replaces them, how they are
checked and how they are stopped. Read once per deployment, checked when the API accepts the configuration.

Every key, its default and its source, in one place (official page: *Rolling updates and graceful shutdown*,
https://www.alibabacloud.com/help/en/pai/user-guide/scrolling-updates-with-graceful-exit; *Configure health
checks*, https://www.alibabacloud.com/help/en/pai/advanced-configuration-health-check):

* ``metadata.instance``: the number of instances a deployment starts with.
* ``autoscaler`` (*Horizontal auto scaling*,
  https://www.alibabacloud.com/help/en/pai/user-guide/enable-or-disable-the-horizontal-auto-scaling-feature):
  ``min`` and ``max`` instances, ``strategies.qps`` (requests per second per instance) and ``strategies.cpu``
  (CPU utilisation per instance, percent), ``behavior.scaleUp`` / ``behavior.scaleDown``
  ``.stabilizationWindowSeconds`` (defaults 0 and 300, UpdateServiceAutoScaler's page). :mod:`.autoscaler` acts
  on them. CPU is measured against the instance's cores: ``metadata.cpu``, else the size in the ECS instance
  type's name (``large`` 2 vCPUs, ``xlarge`` 4, ``<n>xlarge`` 4 n [inferred]: ECS's naming); with neither, a
  ``cpu`` strategy is ``NotImplemented``, as is any other ``behavior`` (``onZero``: the schema keeps ``min`` at
  1 or more).
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
AUTOSCALE_INTERVAL_SECONDS = 15.0  # how often the autoscaler acts (:mod:`.autoscaler`)
DEFAULT_SURGE_PERCENT = 2
PROBE_KEYS = ("readiness_check", "liveness_check", "startup_check")
PROBE_DEFAULTS = {"initial_delay_seconds": 10.0, "period_seconds": 10.0, "timeout_seconds": 1.0,
                  "failure_threshold": 3, "success_threshold": 1}
_PERCENT = re.compile(r"(?P<number>\d+(?:\.\d+)?)%")
_ECS_SIZE = re.compile(r"^ecs\.[a-z0-9-]+\.(?:(?P<times>[1-9][0-9]*)?(?P<x>x))?large$")  # ecs.c7.large, ecs.g7.2xlarge


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
class Autoscaling:
    """The ``autoscaler`` of service.json: the range, a threshold per metric, the stabilization windows."""

    low: int
    high: int
    thresholds: Mapping[str, float]  # "qps" and/or "cpu"
    scale_up_window: float  # seconds
    scale_down_window: float
    cores: Optional[float]  # what a cpu threshold's percentage is of; set when there is one

    def clamp(self, replicas: int) -> int:
        return max(self.low, min(self.high, replicas))


@dataclass(frozen=True)
class InstancePolicy:
    replicas: int
    autoscaling: Optional[Autoscaling]
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
        autoscaling = autoscaling_of(config)
        replicas = _integer(metadata.get("instance", autoscaling.low if autoscaling else 1), "metadata.instance",
                            minimum=0)
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
        return cls(replicas, autoscaling, surge, unavailable, grace, sigterm, probes["readiness_check"],
                   probes["liveness_check"], probes["startup_check"])

    def describe_readiness(self) -> str:
        return self.readiness.describe() if self.readiness is not None else "a TCP connection to the port"


def autoscaling_of(config: Mapping[str, Any]) -> Optional[Autoscaling]:
    """The ``autoscaler`` of ``config``, checked; None without one."""
    autoscaler = config.get("autoscaler")
    if autoscaler is None:
        return None
    if not isinstance(autoscaler, Mapping):
        raise PolicyError("autoscaler must be an object with min, max and strategies")
    low = _integer(autoscaler.get("min"), "autoscaler.min", minimum=1)
    high = _integer(autoscaler.get("max"), "autoscaler.max", minimum=low + 1)
    strategies = _object(autoscaler, "strategies", "autoscaler.strategies")
    thresholds = {metric: _number(strategies[metric], f"autoscaler.strategies.{metric}", minimum=0.001)
                  for metric in ("qps", "cpu") if metric in strategies}
    if not thresholds:
        raise PolicyError("autoscaler.strategies needs qps or cpu: the metric the autoscaler scales by")
    behavior = _object(autoscaler, "behavior", "autoscaler.behavior")
    windows = {}
    for key, default in (("scaleUp", 0.0), ("scaleDown", 300.0)):
        section = _object(behavior, key, f"autoscaler.behavior.{key}")
        unknown = sorted(set(section) - {"stabilizationWindowSeconds"})
        if unknown:
            raise PolicyError(f"autoscaler.behavior.{key}.{unknown[0]}: the local autoscaler has only "
                              "stabilizationWindowSeconds", not_implemented=True)
        windows[key] = _number(section.get("stabilizationWindowSeconds", default),
                               f"autoscaler.behavior.{key}.stabilizationWindowSeconds", minimum=0)
    unknown = sorted(set(behavior) - set(windows))
    if unknown:
        raise PolicyError(f"autoscaler.behavior.{unknown[0]}: the local autoscaler emulates scaleUp and scaleDown",
                          not_implemented=True)
    cores = _cores(config) if "cpu" in thresholds else None
    return Autoscaling(low, high, thresholds, windows["scaleUp"], windows["scaleDown"], cores)


def _cores(config: Mapping[str, Any]) -> float:
    """The cores of one instance, which a CPU utilisation is a percentage of."""
    cpu = config.get("metadata", {}).get("cpu")
    if cpu is not None:
        return _number(cpu, "metadata.cpu", minimum=0.001)
    instances = config.get("cloud", {}).get("computing", {}).get("instances") or [{}]
    instance_type = str(instances[0].get("type", ""))
    match = _ECS_SIZE.search(instance_type)
    if match is None:
        raise PolicyError(f"autoscaler.strategies.cpu: the local EAS measures CPU against an instance's cores and "
                          f"cannot tell them from {instance_type or 'no instance type'!r}: set metadata.cpu",
                          not_implemented=True)
    return 2.0 if match["x"] is None else 4.0 * int(match["times"] or 1)


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
