"""Rules: how many instances run — the autoscaler's range and metrics (Horizontal auto scaling, the
CreateServiceAutoScaler API), and a rolling update that never drops capacity (Rolling updates and graceful exit)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, Optional

from ..findings import Finding, at, error, warn
from ..literals import number
from ..project import SERVICE_JSON, Project

AUTOSCALER_API = "CreateServiceAutoScaler (https://www.alibabacloud.com/help/en/pai/developer-reference/" \
                 "api-eas-2021-07-01-createserviceautoscaler)"
MOST_INSTANCES = 1000  # the console's limit on the maximum ("最大为 1000", Horizontal auto scaling)
METRICS = ("qps", "cpu")
PERCENT = re.compile(r"^(?P<number>[0-9]+)%$")
SAFE_ROLLOUT = {"max_surge": 1, "max_unavailable": 0}


def autoscaler_scales_within_eas_limits(project: Project) -> Iterator[Finding]:
    """Horizontal auto scaling: the autoscaler's min "must be greater than 0" (CreateServiceAutoScaler), max is
    greater than min and at most 1000 (the console), it scales by a metric (qps: requests per second per instance,
    above 0; cpu: average CPU utilisation per instance, a percentage 1–100), and metadata.instance, the count the
    service starts with, lies within [min, max]."""
    autoscaler = project.section("autoscaler")
    if autoscaler is None:
        return
    low, high = _whole(autoscaler.get("min")), _whole(autoscaler.get("max"))
    if low is not None and low < 1:
        yield error(at(SERVICE_JSON, "autoscaler", "min"), f"{low}: the autoscaler's min must be greater than 0 "
                    f"({AUTOSCALER_API})", "set min to 1 or more (a fixed count is metadata.instance without an "
                    "autoscaler)")
    if high is not None and low is not None and high <= low:
        yield error(at(SERVICE_JSON, "autoscaler", "max"), f"{high} is not greater than min ({low}): there is "
                    "nothing to scale between", f"set max above {low}, or remove the autoscaler and run a fixed "
                    "metadata.instance")
    if high is not None and high > MOST_INSTANCES:
        yield error(at(SERVICE_JSON, "autoscaler", "max"), f"{high} is more than the {MOST_INSTANCES} instances "
                    "EAS scales a service to (Horizontal auto scaling)", f"set max to {MOST_INSTANCES} or less")
    yield from _strategies(autoscaler.get("strategies"))
    instance = _whole(project.metadata.get("instance"))
    if instance is not None and low is not None and high is not None and low >= 1 and high > low \
            and not low <= instance <= high:
        yield warn(at(SERVICE_JSON, "metadata", "instance"), f"{instance} is outside the autoscaler's range "
                   f"[{low}, {high}]: the service starts with {instance} instances, then the autoscaler moves it "
                   "into the range", f"set metadata.instance to {low}, the autoscaler's min")


def _strategies(strategies: Any) -> Iterator[Finding]:
    where = at(SERVICE_JSON, "autoscaler", "strategies")
    example = {"strategies": {"qps": 10}}
    if not isinstance(strategies, dict) or not any(metric in strategies for metric in METRICS):
        yield error(where, "has no metric to scale by: the autoscaler needs qps or cpu",
                    'add "qps" (requests per second one instance serves before another starts) or "cpu" (a CPU '
                    "utilisation percentage, e.g. 70):", snippet=example)
        return
    qps = strategies.get("qps")
    if "qps" in strategies and not (number(qps) is not None and number(qps) > 0):
        yield error(f"{where}.qps", f"{json.dumps(qps)}: the QPS threshold is requests per second per instance, "
                    "above 0", "set it to what one instance serves, e.g. 10 (Horizontal auto scaling: a new "
                    "instance starts when the average per instance stays above it)")
    cpu = number(strategies.get("cpu"))
    if "cpu" in strategies and not (cpu is not None and 1 <= cpu <= 100):
        percent = f"{cpu * 100:g}" if cpu is not None and 0 < cpu < 1 else "70"
        yield error(f"{where}.cpu", f"{json.dumps(strategies.get('cpu'))}: the CPU threshold is a percentage of "
                    "an instance's CPU, from 1 to 100", f"write it as a percentage, e.g. {percent} for {percent} %")


def rollout_never_drops_capacity(project: Project) -> Iterator[Finding]:
    """Rolling updates and graceful exit: max_surge new instances start before max_unavailable old ones stop. With
    max_unavailable 0 and max_surge 1 or more, capacity never drops during an update; with both 0 the update cannot
    proceed; with as many unavailable as instances the service is down during the update (the page warns of a
    single instance with max_unavailable 1). Percentages count instances: surge rounded up, unavailable down (as
    Kubernetes does; our reading)."""
    if project.service is None:
        return
    strategy = project.section("metadata", "rolling_strategy")
    instances = project.fewest_instances
    if strategy is None:
        if project.metadata.get("resource") and "rolling_strategy" not in project.metadata:
            yield warn(at(SERVICE_JSON, "metadata"), "has no rolling_strategy: on a dedicated resource group "
                       "EAS's default max_unavailable is 1 for many services (it depends on when the service was "
                       "created and on the elastic resource pool), so an update may stop an instance before its "
                       "replacement is ready", "add to metadata:", snippet={"rolling_strategy": SAFE_ROLLOUT})
        return
    surge = _instances(strategy.get("max_surge"), instances, math.ceil)
    unavailable = _instances(strategy.get("max_unavailable"), instances, math.floor)
    if surge == 0 and unavailable == 0:
        yield error(at(SERVICE_JSON, "metadata", "rolling_strategy"), "max_surge and max_unavailable are both 0: an "
                    "update can neither start a new instance first nor stop an old one",
                    "surge before removing: set max_surge to 1", snippet={"rolling_strategy": SAFE_ROLLOUT})
    elif unavailable is not None and instances is not None and 0 < instances <= unavailable:
        yield warn(at(SERVICE_JSON, "metadata", "rolling_strategy", "max_unavailable"),
                   f"{json.dumps(strategy.get('max_unavailable'))} lets an update stop all {instances} "
                   f"instance{'s' if instances > 1 else ''} at once: the service answers 503 until the new ones are "
                   "ready (Rolling updates and graceful exit warns of this)",
                   "surge before removing: a new instance starts and gets ready before an old one stops",
                   snippet={"rolling_strategy": SAFE_ROLLOUT})


def _instances(value: Any, instances: Optional[int], rounding: Any) -> Optional[int]:
    """A rolling-strategy count: an integer, or a percentage of the instances; None when it cannot be told."""
    whole = _whole(value)
    if whole is not None:
        return whole
    match = PERCENT.match(value) if isinstance(value, str) else None
    if match is None or instances is None:
        return None
    return int(rounding(instances * int(match["number"]) / 100))


def _whole(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


RULES = (autoscaler_scales_within_eas_limits, rollout_never_drops_capacity)
