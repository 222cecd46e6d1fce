"""A closed-loop load generator: ``concurrency`` threads spread over a few client processes.

Several processes, so that the client is not held back by one GIL; each thread opens its connection and
makes one warm-up request before the clock starts, then makes its share of the requests back to back.
Processes are spawned (not forked), so no SDK pool or thread of this process leaks into them.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from .clients import Target
from .local import BenchError

MAX_PROCESSES = 4
THREADS_READY_TIMEOUT = 120


@dataclass(frozen=True)
class LoadResult:
    latencies: list[float]  # seconds, one per request
    seconds: float  # wall time, first request sent to last answer received
    received_bytes: int
    client_cpu: float = 0.0  # CPU seconds the client processes spent while the clock ran

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


def run_load(target: Target, total: int, concurrency: int, label: str) -> LoadResult:
    """``total`` requests to ``target`` from ``concurrency`` threads; a progress bar while it runs."""
    processes = min(concurrency, MAX_PROCESSES)
    shares = [total // concurrency + (1 if index < total % concurrency else 0) for index in range(concurrency)]
    per_process = [shares[index::processes] for index in range(processes)]
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes + 1)
    go = context.Event()
    done = context.Value("q", 0, lock=True)
    results: Any = context.Queue()
    children = [context.Process(target=_client_process, args=(target, counts, ready, go, done, results),
                                daemon=True) for counts in per_process]
    for child in children:
        child.start()
    try:
        try:
            ready.wait(timeout=THREADS_READY_TIMEOUT)
        except threading.BrokenBarrierError:
            raise BenchError(f"{label}: the client processes did not connect: {_first_error(results)}") from None
        go.set()
        outcomes = _collect(results, processes, total, done, label)
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    latencies = [latency for outcome in outcomes for latency in outcome["latencies"]]
    wall = max(outcome["end"] for outcome in outcomes) - min(outcome["start"] for outcome in outcomes)
    return LoadResult(latencies, wall, sum(outcome["bytes"] for outcome in outcomes),
                      sum(outcome["cpu"] for outcome in outcomes))


def _collect(results: Any, processes: int, total: int, done: Any, label: str) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any]] = []
    with tqdm(total=total, desc=label, unit="req", leave=False, dynamic_ncols=True) as bar:
        while len(outcomes) < processes:
            try:
                outcome = results.get(timeout=0.2)
            except queue.Empty:
                outcome = None
            bar.update(done.value - bar.n)
            if outcome is None:
                continue
            if "error" in outcome:
                raise BenchError(f"{label}: {outcome['error']}")
            outcomes.append(outcome)
        bar.update(total - bar.n)
    return outcomes


def _first_error(results: Any) -> str:
    try:
        return results.get(timeout=1).get("error", "no error reported")
    except queue.Empty:
        return "no error reported"


def _client_process(target: Target, counts: list[int], ready: Any, go: Any, done: Any, results: Any) -> None:
    """One client process: a thread per share, all connected and warmed up before ``go``."""
    connected = threading.Barrier(len(counts) + 1)
    outcomes: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(count: int) -> None:
        try:
            call = target.connect()
            call()  # warm-up: the connection is open and every lazy import is done before the clock starts
        except Exception:
            errors.append(traceback.format_exc(limit=3))
            connected.abort()
            return
        connected.wait()
        go.wait()
        latencies, received, error = [], 0, None
        start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        try:
            for _ in range(count):
                sent = time.perf_counter()
                received += call()
                latencies.append(time.perf_counter() - sent)
                if len(latencies) % 20 == 0:
                    with done.get_lock():
                        done.value += 20
        except Exception:
            error = traceback.format_exc(limit=3)
        end = time.perf_counter()
        with lock:
            if error:
                errors.append(error)
            outcomes.append({"latencies": latencies, "start": start, "end": end, "bytes": received})

    threads = [threading.Thread(target=client, args=(count,), daemon=True) for count in counts]
    for thread in threads:
        thread.start()
    try:
        connected.wait(timeout=THREADS_READY_TIMEOUT)
    except threading.BrokenBarrierError:
        results.put({"error": errors[0] if errors else "a client thread did not connect"})
        ready.abort()
        return
    ready.wait()
    cpu = time.process_time()  # the threads are connected and wait for go: from here on, the clock's work
    for thread in threads:
        thread.join()
    if errors:
        results.put({"error": errors[0]})
        return
    results.put({**_merge(outcomes), "cpu": time.process_time() - cpu})


def _merge(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "latencies": [latency for outcome in outcomes for latency in outcome["latencies"]],
        "start": min(outcome["start"] for outcome in outcomes),
        "end": max(outcome["end"] for outcome in outcomes),
        "bytes": sum(outcome["bytes"] for outcome in outcomes),
    }


def interleaved(runs: int, *measure: Any) -> list[list[Any]]:
    """Run each measurement ``runs`` times, alternating them, so that drift on a shared machine hits each
    side alike; returns the results per measurement."""
    collected: list[list[Any]] = [[] for _ in measure]
    for _ in range(runs):
        for index, one in enumerate(measure):
            collected[index].append(one())
    return collected

