"""Benchmark 2: small GETs through the service vs the real oss2 client calling the local OSS directly.

Same object, same concurrency, keep-alive connections on both sides, several client processes. The direct
side is what a caller inside the VPC would do without the service; the difference is the service's hop
(gunicorn, Flask, the relay) and the load it adds to the same CPU.
"""

from __future__ import annotations

import os
from typing import Callable

from .clients import DirectOssGet, HttpGet, OssLocation, Target
from .load import LoadResult, interleaved, run_load
from .local import BenchError, LocalEAS, request
from .plan import Plan
from .profile import CpuSpent, cpu_spent, per_unit, where_the_time_goes
from .report import Row, Section
from .stats import median, ms, per_s, percentile, percents, ratio, shares

TITLE = "2. Service overhead"
KEY = "bench/object-4k.bin"  # under the data prefix
P50_OVERHEAD_TARGET = 0.001
THROUGHPUT_TARGET = 0.85


def run(eas: LocalEAS, plan: Plan) -> Section:
    status, body = request("PUT", f"{eas.url}/oss/objects/{KEY}", body=os.urandom(plan.object_bytes))
    if status != 201:
        raise BenchError(f"could not put the {plan.object_bytes}-byte object through the service: {status} {body!r}")
    service = HttpGet(f"{eas.url}/oss/objects/{KEY}")
    direct = DirectOssGet(OssLocation.of(eas.info), eas.env.get("OSS_DATA_PREFIX", "") + KEY)
    section = Section(TITLE)
    size = f"{plan.object_bytes // 1024} KiB"
    profiles: list[str] = []
    for concurrency, total in plan.overhead_requests.items():
        served, direct_runs = interleaved(
            plan.runs,
            lambda c=concurrency, n=total: _through_service(eas, service, n, c),
            lambda c=concurrency, n=total: _cpu_per_request(
                eas, lambda: run_load(direct, n, c, f"direct oss2, concurrency {c}")),
        )
        through = [result for result, _, _ in served]
        beside = [result for result, _ in direct_runs]
        p50, p99, throughput = _figures(through)
        direct_p50, direct_p99, direct_throughput = _figures(beside)
        overhead = median([percentile(s.latencies, 0.5) - percentile(d.latencies, 0.5)
                           for s, d in zip(through, beside)])
        speed = median([s.throughput / d.throughput for s, d in zip(through, beside)])
        measured = f"p50 {ms(p50)}, p99 {ms(p99)}, {per_s(throughput)}"
        side = f"direct oss2: p50 {ms(direct_p50)}, p99 {ms(direct_p99)}, {per_s(direct_throughput)}"
        if concurrency == 1:
            section.rows.append(Row(f"{size} GET, concurrency 1", measured, side,
                                    f"+{ms(overhead)} p50; throughput {ratio(speed)}",
                                    f"p50 overhead ≤ {ms(P50_OVERHEAD_TARGET)}", overhead <= P50_OVERHEAD_TARGET))
        else:
            worker_shares = [median(rank) for rank in zip(*(split for _, split, _ in served))]
            profiles.append(where_the_time_goes(f"per request at concurrency {concurrency}", ms,
                                                [cpu for _, _, cpu in served], [cpu for _, cpu in direct_runs]))
            measured += f"; worker share {percents(worker_shares)}"
            section.rows.append(Row(f"{size} GET, concurrency {concurrency}", measured, side,
                                    f"throughput {ratio(speed)}; +{ms(overhead)} p50",
                                    f"throughput ≥ {THROUGHPUT_TARGET}× direct", speed >= THROUGHPUT_TARGET))
    section.notes = [
        f"`GET /oss/objects/{KEY}` ({size}) through the service (gunicorn as service.json runs it, default "
        "workers and threads) vs `bucket.get_object(key).read()` with oss2 and the role's credentials against the "
        "local OSS. Concurrency 1: one client thread; higher: that many threads over "
        "up to 4 spawned client processes, each thread on its own keep-alive connection (http.client for the "
        "service, an `oss2.Bucket` per thread for direct), warmed up before the clock starts.",
        "",
        *(f"- Concurrency {c}: {n:,} requests per side and run." for c, n in plan.overhead_requests.items()),
        "- Overhead is the per-run difference of the p50s, then the median; the throughput ratio likewise.",
        "- Worker share: how the service's requests of a run (warm-ups included) were split over its gunicorn "
        "workers, counted by the `pid` of each line of its request log, largest first; the median of each.",
        "- Client, service and local OSS share this machine's CPU: on few cores the service's hop costs "
        "throughput that a real deployment (client elsewhere, OSS elsewhere) would not lose.",
        *profiles,
    ]
    return section


def _cpu_per_request(eas: LocalEAS, load: Callable[[], LoadResult]) -> tuple[LoadResult, CpuSpent]:
    """A load run, and the CPU per request of each process: the client's is its spawned processes'."""
    result, spent = cpu_spent(eas, load)
    return result, per_unit({**spent, "client": result.client_cpu}, len(result.latencies))


def _through_service(eas: LocalEAS, service: Target, total: int,
                     concurrency: int) -> tuple[LoadResult, list[float], CpuSpent]:
    """A load run through the service, the share of its requests each worker answered, and its CPU."""
    since = eas.log_position()
    result, cpu = _cpu_per_request(eas, lambda: run_load(service, total, concurrency,
                                                         f"service, concurrency {concurrency}"))
    served = eas.requests_per_worker(since, f"/oss/objects/{KEY}", expected=total + concurrency)
    return result, shares(list(served.values())), cpu


def _figures(results: list[LoadResult]) -> tuple[float, float, float]:
    return (median([percentile(r.latencies, 0.5) for r in results]),
            median([percentile(r.latencies, 0.99) for r in results]),
            median([r.throughput for r in results]))
