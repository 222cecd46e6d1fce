"""``eas-devkit load``: requests to the deployed service through its endpoint, with its token, as its clients send
them; the instance count while it runs, which is how the autoscaler is watched at work.

The requests come from the benchmarks' closed-loop generator (:func:`eas_devkit.bench.load.run_load`: keep-alive
connections, a few client processes, a progress bar); a thread polls DescribeService meanwhile and says each
change of the instances. The token goes into the request headers only; nothing printed names it.
"""

from __future__ import annotations

import sys
import threading
from typing import Optional

from tqdm import tqdm

from ..bench.clients import HttpGet
from ..bench.load import run_load
from ..bench.local import BenchError
from ..bench.stats import ms, per_s, percentile
from .commands import Console
from .eas import RUNNING, EasControlPlane, EasError, ServiceStatus
from .target import Service, Target

POLL_SECONDS = 1.0


def send_load(service: Service, target: Target, console: Console, *, requests: int, concurrency: int,
              path: str) -> int:
    eas = EasControlPlane(target, service.name, target.credentials_provider())
    status = eas.describe()
    if status is None or status.status != RUNNING:
        what = "not deployed" if status is None else f"{status.status}, not Running"
        console.print(f"{service.name} is {what} on the {target.describe()}: `make deploy` first")
        return 1
    console.print(f"load: {requests} GET {path} to {service.name} on the {target.describe()}, {concurrency} at a "
                  "time")
    watch = InstanceWatch(eas, status)
    watch.start()
    try:
        result = run_load(HttpGet(status.endpoint + path, (("Authorization", status.token),)), requests,
                          concurrency, "load")
    except BenchError as error:
        console.print(f"load stopped: {error}")
        return 1
    finally:
        watch.stop()
    latencies = result.latencies
    console.print(f"{len(latencies)} requests in {result.seconds:.1f} s: {per_s(result.throughput)}; latency p50 "
                  f"{ms(percentile(latencies, 0.5))}, p90 {ms(percentile(latencies, 0.9))}, p99 "
                  f"{ms(percentile(latencies, 0.99))}")
    console.print(f"instances: {status.running} running at the start, {watch.last.running} at the end "
                  f"(`make events` shows why they changed)")
    return 0


class InstanceWatch:
    """Polls DescribeService in a thread and says each change of the running and total instances."""

    def __init__(self, eas: EasControlPlane, first: ServiceStatus) -> None:
        self.eas = eas
        self.last = first
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="instance-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._poll()  # the count the load ended with

    def _run(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            self._poll()

    def _poll(self) -> None:
        try:
            status: Optional[ServiceStatus] = self.eas.describe()
        except EasError:  # a missed poll: the next one, or the summary, says the count
            return
        if status is None:
            return
        if (status.running, status.total) != (self.last.running, self.last.total):
            tqdm.write(f"instances: {status.running} running of {status.total}", file=sys.stderr)
        self.last = status
