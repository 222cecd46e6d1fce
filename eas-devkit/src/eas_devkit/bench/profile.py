"""Where a benchmark's time goes: the CPU each process spent while it ran, beside the direct side's.

On one machine the client, the service and the local cloud share the cores. When they keep them busy,
throughput is about cores ÷ CPU per unit of work, so the CPU each process spends says why the service's
side is slower than the direct one, and by how much it has to be.
"""

from __future__ import annotations

import os
import time
from typing import Callable, TypeVar

from .local import LocalEAS
from .stats import median, ratio

T = TypeVar("T")
CpuSpent = dict[str, float]  # CPU seconds by process: client, service, local EAS


def cpu_spent(eas: LocalEAS, run: Callable[[], T]) -> tuple[T, CpuSpent]:
    """``run()`` in this process, and the CPU seconds this process (the client), the service and the local
    EAS spent while it ran."""
    before, client = eas.cpu_seconds(), time.process_time()
    result = run()
    client = time.process_time() - client
    after = eas.cpu_seconds()
    return result, {"client": client, **{name: after[name] - before[name] for name in after}}


def per_unit(spent: CpuSpent, units: float) -> CpuSpent:
    return {name: seconds / units for name, seconds in spent.items()}


def where_the_time_goes(what: str, show: Callable[[float], str], service: list[CpuSpent],
                        direct: list[CpuSpent]) -> str:
    """A note for the report: CPU per unit of work by process on each side (medians of the runs), and the
    ratio to direct that it allows when every process shares this machine's cores."""
    def spent(runs: list[CpuSpent], names: tuple[str, ...]) -> tuple[str, float]:
        parts = {name: median([run[name] for run in runs]) for name in names}
        return ", ".join(f"{name} {show(value)}" for name, value in parts.items()), sum(parts.values())

    service_parts, service_total = spent(service, ("client", "service", "local EAS"))
    direct_parts, direct_total = spent(direct, ("client", "local EAS"))
    bound = direct_total / service_total if service_total else 0.0
    return (f"- Where the time goes, {what} (CPU by process, median of the runs): through the service "
            f"{service_parts}, in all {show(service_total)}; direct {direct_parts}, in all {show(direct_total)}. "
            "The local EAS's process holds the local OSS, MaxCompute and credentials endpoint. When client, "
            f"service and local cloud share {os.cpu_count()} cores and keep them busy, throughput is about cores ÷ "
            f"CPU, so the service's side can reach about {ratio(bound)} direct here: the service's own CPU is "
            "the hop's cost.")
