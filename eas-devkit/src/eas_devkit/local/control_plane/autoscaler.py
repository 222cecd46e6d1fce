"""The local EAS's horizontal autoscaler: *Horizontal auto scaling*
(https://www.alibabacloud.com/help/en/pai/user-guide/enable-or-disable-the-horizontal-auto-scaling-feature), with
the defaults and meanings of UpdateServiceAutoScaler
(https://www.alibabacloud.com/help/en/pai/developer-reference/api-eas-2021-07-01-updateserviceautoscaler).

Every ``interval`` seconds (15 [inferred]: the period of Kubernetes' autoscaler, which EAS's formula is; ``local
up --autoscale-interval``), for each Running service with an ``autoscaler`` (:class:`.policy.Autoscaling`):

1. the metrics of the last interval, averaged over the serving instances: ``qps``, the requests the gateway
   handed them per second; ``cpu``, the CPU time of each instance's processes (the run command and what it
   started: gunicorn's master and workers) per second, as a percentage of the instance's cores;
2. the page's formula for each metric, ``desired = ceil(instances × value / threshold)``; a value within 10 % of
   the threshold changes nothing (the page's tolerance); the largest count of the metrics wins, within
   [min, max];
3. the stabilization windows: the count rises to the lowest count recommended within the last
   ``scaleUp.stabilizationWindowSeconds`` (default 0: at once) and falls to the highest recommended within the
   last ``scaleDown.stabilizationWindowSeconds`` (default 300): it moves only when the metrics met the condition
   throughout the window (UpdateServiceAutoScaler);
4. :meth:`.lifecycle.Lifecycle.scale_to` starts or stops the difference, with a Normal event ``Scaled``
   [inferred name] that says which metric asked for it.

A service in the middle of an operation (an update, a stop) is left alone that round.
DescribeServiceAutoScaler reads the range, the thresholds and the metrics of the last round
(:meth:`Autoscaler.describe`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import psutil

from .instances import ServiceInstance
from .lifecycle import Lifecycle
from .policy import AUTOSCALE_INTERVAL_SECONDS, Autoscaling, PolicyError, autoscaling_of
from .registry import RUNNING, Registry, ServiceRecord

log = logging.getLogger("eas_devkit.local.control_plane")

TOLERANCE = 0.1
METRIC_NAMES = {"qps": "QPS", "cpu": "CPU"}  # as DescribeServiceAutoScaler names them


def desired_replicas(instances: int, metrics: Mapping[str, float], autoscaling: Autoscaling) -> int:
    """The page's formula for each measured metric, its 10 % tolerance, the largest count within [min, max]."""
    counts = []
    for metric, threshold in autoscaling.thresholds.items():
        if metric in metrics:
            ratio = metrics[metric] / threshold
            counts.append(instances if abs(ratio - 1) <= TOLERANCE else math.ceil(round(instances * ratio, 9)))
    return autoscaling.clamp(max(counts, default=instances))


def stabilized(current: int, recommendations: Sequence[tuple[float, int]], now: float,
               autoscaling: Autoscaling) -> int:
    """The count to move to: up to the lowest recommendation of the scale-up window, down to the highest of the
    scale-down window (each window holds the latest recommendation)."""
    up = min(count for when, count in recommendations if now - when <= autoscaling.scale_up_window)
    down = max(count for when, count in recommendations if now - when <= autoscaling.scale_down_window)
    return min(max(current, up), down)


@dataclass
class _Sample:
    when: float
    requests: int
    cpu_seconds: dict[str, float]  # by instance name


@dataclass
class _Watch:
    """What the autoscaler keeps of one service between rounds."""

    last: Optional[_Sample] = None
    recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    metrics: dict[str, float] = field(default_factory=dict)  # of the last round


class Autoscaler:
    """Scales the Running services that have an autoscaler, in a thread of its own."""

    def __init__(self, registry: Registry, lifecycle: Lifecycle, interval: float = AUTOSCALE_INTERVAL_SECONDS) -> None:
        self.registry = registry
        self.lifecycle = lifecycle
        self.interval = interval
        self._watches: dict[tuple[str, str], _Watch] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-eas-autoscaler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def describe(self, record: ServiceRecord) -> dict[str, Any]:
        """DescribeServiceAutoScaler's body (without RequestId): an empty range without an autoscaler
        [inferred]."""
        with self.registry.locked():
            config = record.config
        autoscaling = _autoscaling(config)
        body: dict[str, Any] = {"ServiceName": record.name, "ScaleStrategies": [], "CurrentMetrics": []}
        if autoscaling is None:
            return body
        with self._lock:
            watch = self._watches.get((record.region, record.name))
            metrics = dict(watch.metrics) if watch is not None else {}
        body.update({
            "MinReplica": autoscaling.low, "MaxReplica": autoscaling.high,
            "Behavior": {"scaleUp": {"stabilizationWindowSeconds": _seconds(autoscaling.scale_up_window)},
                         "scaleDown": {"stabilizationWindowSeconds": _seconds(autoscaling.scale_down_window)}},
            "ScaleStrategies": [{"metricName": METRIC_NAMES[metric], "threshold": threshold, "service": record.name}
                                for metric, threshold in autoscaling.thresholds.items()],
            "CurrentMetrics": [{"metricName": METRIC_NAMES[metric], "value": round(value, 3), "service": record.name}
                               for metric, value in metrics.items()],
        })
        return body

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            for record in self.registry.records():
                try:
                    self._round(record)
                except Exception:  # one service's surprise never stops the others' scaling
                    log.exception("local EAS autoscaler: %s", record.name)

    def _round(self, record: ServiceRecord) -> None:
        key = (record.region, record.name)
        with self.registry.locked():
            config, status = record.config, record.status
        autoscaling = _autoscaling(config)
        if autoscaling is None or status != RUNNING:
            with self._lock:
                self._watches.pop(key, None)  # a new start measures afresh
            return
        with self._lock:
            watch = self._watches.setdefault(key, _Watch())
        serving = [instance for instance in record.pool.members() if instance.serving]
        sample = _Sample(time.monotonic(), record.pool.requests,
                         {instance.name: _cpu_seconds(instance) for instance in serving})
        last, watch.last = watch.last, sample
        if last is None or not serving:
            return
        metrics = _metrics(last, sample, autoscaling)
        with self._lock:
            watch.metrics = metrics
        current = record.wanted_instances
        watch.recommendations.append((sample.when, desired_replicas(len(serving), metrics, autoscaling)))
        horizon = max(autoscaling.scale_up_window, autoscaling.scale_down_window)
        while sample.when - watch.recommendations[0][0] > horizon:
            watch.recommendations.popleft()
        wanted = stabilized(current, watch.recommendations, sample.when, autoscaling)
        if wanted != current:
            self.lifecycle.scale_to(record, wanted, because=_why(metrics, autoscaling), blocking=False)


def _autoscaling(config: Mapping[str, Any]) -> Optional[Autoscaling]:
    try:
        return autoscaling_of(config)
    except PolicyError:  # the API refused it, or a deployment failed on it and said so
        return None


def _metrics(last: _Sample, sample: _Sample, autoscaling: Autoscaling) -> dict[str, float]:
    """The metrics between two samples, averaged over the instances of the later one."""
    elapsed = max(sample.when - last.when, 1e-6)
    instances = len(sample.cpu_seconds)
    metrics: dict[str, float] = {}
    if "qps" in autoscaling.thresholds:
        metrics["qps"] = (sample.requests - last.requests) / elapsed / instances
    if "cpu" in autoscaling.thresholds and autoscaling.cores:
        measured = [max(0.0, seconds - last.cpu_seconds[name]) for name, seconds in sample.cpu_seconds.items()
                    if name in last.cpu_seconds]
        if measured:
            metrics["cpu"] = 100 * sum(measured) / len(measured) / elapsed / autoscaling.cores
    return metrics


def _cpu_seconds(instance: ServiceInstance) -> float:
    """CPU seconds of the instance's run command and of every process under it, including the finished ones
    that were waited for."""
    pid = instance.process.pid if instance.process is not None else None
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # it ended meanwhile
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _seconds(window: float) -> Any:
    """A window as service.json would write it: an integer unless it has a fraction."""
    return int(window) if window.is_integer() else window


def _why(metrics: Mapping[str, float], autoscaling: Autoscaling) -> str:
    return ", ".join(f"{metric} {metrics[metric]:.1f}{' %' if metric == 'cpu' else ''} per instance against "
                     f"{threshold:g}" for metric, threshold in autoscaling.thresholds.items() if metric in metrics)
