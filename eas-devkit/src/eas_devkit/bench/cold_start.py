"""Benchmark 4: from starting gunicorn to the first /health, the first OSS list, the first MaxCompute list.

The service's own run command, in the instance's environment, with one worker (so that every request
meets the same cold worker). Whether the MaxCompute handler costs the start anything is measured twice:
pyodps's C extensions must not be mapped into the worker until the first MaxCompute request (read from
/proc/<pid>/maps after /health and after the first OSS list), and pyodps's import cost, measured alone in a
fresh interpreter, is what that first MaxCompute request pays and what /health does not.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .local import BenchError, Gunicorn, LocalEAS, has_mapped, request, workers_of
from .plan import Plan
from .report import Row, Section
from .stats import median, ms, seconds

TITLE = "4. Cold start"
HEALTH_TARGET = 1.5
PYODPS_LOADED = "/odps/"  # pyodps's C extensions live in site-packages/odps/
OSS_LIST = "/oss/objects?max_keys=10"
MAXCOMPUTE_LIST = "/maxcompute/tables"


@dataclass(frozen=True)
class ColdStart:
    health: float  # seconds from starting gunicorn to the first 200 on /health
    first_oss: float  # … to the first OSS list answered
    first_maxcompute: float  # … to the first MaxCompute list answered
    oss_latency: tuple[float, float]  # first and second OSS list
    maxcompute_latency: tuple[float, float]
    pyodps_loaded: tuple[bool, bool, bool]  # after /health, after the first OSS list, after the first MaxCompute list


def run(eas: LocalEAS, plan: Plan) -> Section:
    starts = []
    for index in tqdm(range(plan.runs), desc="cold starts", leave=False, dynamic_ncols=True):
        starts.append(cold_start(eas, index))
    pyodps_import = median([import_seconds("odps", eas.env, eas.project / "mount") for _ in range(plan.runs)])

    health = median([s.health for s in starts])
    first_oss = median([s.first_oss for s in starts])
    first_maxcompute = median([s.first_maxcompute for s in starts])
    oss_first, oss_next = (median([s.oss_latency[i] for s in starts]) for i in (0, 1))
    mc_first, mc_next = (median([s.maxcompute_latency[i] for s in starts]) for i in (0, 1))
    lazy = all(loaded == (False, False, True) for loaded in (s.pyodps_loaded for s in starts))
    loaded = starts[0].pyodps_loaded
    rows = [
        Row("Cold start → first 200 on /health", seconds(health),
            f"pyodps import alone: {seconds(pyodps_import)} (not in it)", "—", f"< {HEALTH_TARGET} s",
            health < HEALTH_TARGET),
        Row("Cold start → first OSS list", seconds(first_oss),
            f"that request {ms(oss_first)}, the next {ms(oss_next)}", "—", "—", None),
        Row("Cold start → first MaxCompute list (after the OSS list)", seconds(first_maxcompute),
            f"that request {ms(mc_first)}, the next {ms(mc_next)}",
            f"first request pays +{ms(mc_first - mc_next)}",
            "MaxCompute import paid only by the first MaxCompute request", lazy and mc_first - mc_next > 0),
    ]
    notes = [
        f"The run command of service.json (`gunicorn --config mount/gunicorn.conf.py`) with `GUNICORN_WORKERS=1`, "
        f"started {plan.runs} time{'s' if plan.runs != 1 else ''}; then `GET /health` polled every 5 ms, then "
        f"`GET {OSS_LIST}` twice, then `GET {MAXCOMPUTE_LIST}` twice, each timed from the start of gunicorn.",
        "",
        f"- pyodps mapped into the worker after /health: {_yes(loaded[0])}; after the first OSS list: "
        f"{_yes(loaded[1])}; after the first MaxCompute list: {_yes(loaded[2])} (the same in every start: "
        f"{_yes(lazy)}).",
        f"- So the MaxCompute handler costs the start nothing: without it /health would come no sooner. "
        f"The first MaxCompute request pays pyodps's import ({seconds(pyodps_import)} in a fresh interpreter) and "
        "its client; the first OSS request pays the credentials SDK and oss2.",
        "- Per start (/health, OSS list, MaxCompute list, seconds from start): "
        + "; ".join(f"{s.health:.2f}, {s.first_oss:.2f}, {s.first_maxcompute:.2f}" for s in starts) + ".",
    ]
    return Section(TITLE, rows, notes)


def cold_start(eas: LocalEAS, index: int) -> ColdStart:
    server = Gunicorn.service(eas.project, {**eas.env, "GUNICORN_WORKERS": "1"},
                              eas.state_dir / f"cold-start-{index}.log")
    started = server.start()
    try:
        health = server.wait_healthy() - started
        worker = _only_worker(server.master_pid)
        at_health = has_mapped(worker, PYODPS_LOADED)
        oss_first = timed_get(server.url + OSS_LIST)
        first_oss = time.perf_counter() - started
        oss_next = timed_get(server.url + OSS_LIST)
        after_oss = has_mapped(worker, PYODPS_LOADED)
        mc_first = timed_get(server.url + MAXCOMPUTE_LIST)
        first_maxcompute = time.perf_counter() - started
        mc_next = timed_get(server.url + MAXCOMPUTE_LIST)
        after_maxcompute = has_mapped(worker, PYODPS_LOADED)
    finally:
        server.stop()
    return ColdStart(health, first_oss, first_maxcompute, (oss_first, oss_next), (mc_first, mc_next),
                     (at_health, after_oss, after_maxcompute))


def timed_get(url: str) -> float:
    started = time.perf_counter()
    status, body = request("GET", url)
    if status != 200:
        raise BenchError(f"GET {url} answered {status}: {body[:300]!r}")
    return time.perf_counter() - started


def import_seconds(module: str, env: dict[str, str], cwd: Path) -> float:
    """How long ``import module`` takes in a fresh interpreter with the instance's environment, in ``cwd``."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=120, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def _only_worker(master: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = workers_of(master)
        if len(workers) == 1:
            return workers[0]
        time.sleep(0.01)
    raise BenchError(f"gunicorn {master} does not have exactly one worker")


def _yes(value: bool) -> str:
    return "yes" if value else "no"
