"""Benchmark 1: credentials-endpoint hits for many OSS requests, the service vs the naive handler.

Both run under gunicorn with the same number of workers, in the instance's environment, against the same
local EAS; the hits are the endpoint's own count (``/admin/stats`` ``fetches``) before and after. Each run
starts from fresh workers (SIGHUP), so each worker's first fetch is counted.
"""

from __future__ import annotations

from .clients import HttpGet
from .load import interleaved, run_load
from .local import Gunicorn, LocalEAS, restart_workers
from .plan import Plan
from .report import Row, Section
from .stats import median, per_s

TITLE = "1. Credential fetches"
CONCURRENCY = 16
OBJECT = "hello.txt"  # a demo object of the local OSS, under the data prefix


def run(eas: LocalEAS, plan: Plan) -> Section:
    workers = plan.fetch_workers
    naive = Gunicorn.app("eas_devkit.bench.naive_app:app", eas.project, eas.env, workers=workers, threads=8,
                         log=eas.state_dir / "naive-app.log")
    naive.start()
    try:
        naive.wait_healthy(path="/oss/objects/" + OBJECT)

        def measure(url: str, master: int, label: str) -> tuple[int, float]:
            restart_workers(master, workers)
            before = eas.credential_fetches()
            result = run_load(HttpGet(url + "/oss/objects/" + OBJECT), plan.fetch_requests, CONCURRENCY, label)
            return eas.credential_fetches() - before, result.throughput

        service, naive_runs = interleaved(
            plan.runs,
            lambda: measure(eas.url, eas.master_pid, "service: GET /oss/objects"),
            lambda: measure(naive.url, naive.master_pid, "naive handler: GET /oss/objects"),
        )
    finally:
        naive.stop()
    fetches, naive_fetches = median([f for f, _ in service]), median([f for f, _ in naive_runs])
    throughput, naive_throughput = median([t for _, t in service]), median([t for _, t in naive_runs])
    requests = plan.fetch_requests
    row = Row(
        f"Credential fetches, {requests:,} OSS GETs, {workers} workers",
        f"{fetches:,.0f} fetches ({fetches / workers:.2f} per worker)",
        f"naive handler: {naive_fetches:,.0f} fetches",
        f"{naive_fetches / max(fetches, 1):,.0f}× fewer",
        f"≤ {workers} (1 per worker per refresh window)",
        fetches <= workers,
    )
    notes = [
        f"{requests:,} `GET /oss/objects/{OBJECT}` from {CONCURRENCY} keep-alive connections (plus one warm-up "
        f"request each, counted too) to gunicorn with {workers} workers (`GUNICORN_WORKERS={workers}`), each run "
        "from freshly started workers; hits counted by the credentials endpoint.",
        "",
        "- Service: one `DefaultCredentialsProvider` (the current, caching one) per worker, shared by every request "
        "and SDK client of the worker.",
        "- Naive handler (`eas_devkit/bench/naive_app.py` in the dev kit): the guide's OSS example pasted into a "
        "handler, a new legacy `providers.DefaultCredentialsProvider` and `oss2.Bucket` per request.",
        f"- Throughput alongside: service {per_s(throughput)}, naive handler {per_s(naive_throughput)}.",
        f"- Per run (service / naive): {', '.join(f'{s[0]} / {n[0]}' for s, n in zip(service, naive_runs))}.",
    ]
    return Section(TITLE, [row], notes)
