"""How long `make dev` takes from a save under mount/ to the first answer of the new code: the figures of the
kit's README and of a generated project's docs/development.md.

    cd eas-devkit && python tests/measure_reload.py [RUNS]     # default 10 runs; prints each, the median, p90

It runs ``eas-devkit local up`` on a copy of the default bake, saves a changed ``GET /health`` answer, and
polls the service every 10 ms until the new answer comes back, RUNS times (not a test: it asserts nothing).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from conftest import PROJECT
from project_copies import copy_of

from eas_devkit.testing import start_local_eas, stop_local_eas

ROUTE = "mount/app/routes/health.py"
ANSWER = '{"status": "ok"}'


def measure(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="measure-reload-") as work:
        project = copy_of(PROJECT, Path(work)).path
        running = start_local_eas(Path(work) / "eas", "--quiet", project=project, reload=True)
        route = project / ROUTE
        original = route.read_text(encoding="utf-8")
        seconds = []
        try:
            for run in range(runs):
                time.sleep(1)  # the previous restart's workers settle, as between two saves
                route.write_text(original.replace(ANSWER, f'{{"status": "ok", "edit": {run}}}'), encoding="utf-8")
                saved = time.monotonic()
                while not answers(running.url + "/health", run):
                    time.sleep(0.01)
                seconds.append(time.monotonic() - saved)
        finally:
            stop_local_eas(running.process)
        return seconds


def answers(url: str, run: int) -> bool:
    try:
        return requests.get(url, timeout=2).json().get("edit") == run
    except (requests.RequestException, ValueError):
        return False


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    seconds = sorted(measure(runs))
    p90 = seconds[min(runs - 1, round(0.9 * (runs - 1)))]
    print("runs (s):", " ".join(f"{value:.2f}" for value in seconds))
    print(f"save to first answer of the new code: median {statistics.median(seconds):.2f} s, p90 {p90:.2f} s "
          f"({runs} runs)")


if __name__ == "__main__":
    main()
