"""The rolling update of *Rolling updates and graceful shutdown*
(https://www.alibabacloud.com/help/en/pai/user-guide/scrolling-updates-with-graceful-exit), on the instances
of one service:

1. new instances are created, at most ``max_surge`` beyond the wanted count, while the traffic stays on the
   old ones;
2. once new instances are ready, old ones are stopped (taken out of rotation, drained, signalled), keeping at
   least the wanted count minus ``max_unavailable`` serving;
3. again, until every instance is new.

If a new instance fails to start, the update pauses: it gets no traffic, the old instances keep serving,
and :class:`RollingUpdate` reports the failures. A deployment with no instance yet (CreateService,
StartService) is the same steps with nothing old: all instances start at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable

from .instances import InstancePool, ServiceInstance
from .policy import InstancePolicy
from .supervisor import Supervisor


@dataclass(frozen=True)
class Outcome:
    finished: bool  # every instance is of the new deployment
    failures: list[tuple[Supervisor, str]] = field(default_factory=list)  # new instances that failed to start
    superseded: bool = False  # a newer operation took over: left as it was


@dataclass
class RollingUpdate:
    pool: InstancePool
    policy: InstancePolicy
    start: Callable[[], Supervisor]  # one new instance of the new deployment, started
    retire: Callable[[Sequence[ServiceInstance]], None]  # stop these as EAS does, and drop them from the pool
    wanted: Callable[[], bool]  # false once a newer operation took over

    def run(self) -> Outcome:
        replicas, policy = self.policy.replicas, self.policy
        old = self.pool.members()
        new: list[Supervisor] = []  # started and ready
        while True:
            if not self.wanted():
                return Outcome(finished=False, superseded=True)
            if len(new) >= replicas:
                self.retire(old)
                return Outcome(finished=True)
            serving_old = [instance for instance in old if instance.serving]
            keep = replicas - policy.max_unavailable  # serving instances the update never goes below
            retired = [instance for instance in old if not instance.serving]
            retired += serving_old[:max(0, len(serving_old) + len(new) - keep)]
            if retired:
                self.retire(retired)
                old = [instance for instance in old if instance not in retired]
            batch = min(replicas + policy.max_surge - len(old) - len(new), replicas - len(new))
            if batch <= 0:
                raise RuntimeError(f"rolling update stuck: {len(old)} old, {len(new)} new, {replicas} wanted, "
                                   f"max_surge {policy.max_surge}, max_unavailable {policy.max_unavailable}")
            started = [self.start() for _ in range(batch)]
            failures = [(supervisor, why) for supervisor in started
                        if (why := supervisor.wait_started()) is not None]
            new += [supervisor for supervisor in started if supervisor not in [f for f, _ in failures]]
            if failures:
                return Outcome(finished=False, failures=failures)
