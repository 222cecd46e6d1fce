"""Benchmark 5: reading a 10,000-row table through the service (JSON and NDJSON) vs pyodps directly.

The table is loaded into the local MaxCompute with ``eas-devkit local load-table``. The service side is
timed until the client has parsed every row; the direct side until pyodps's ``open_reader`` has handed over
every record as a dict. All of it on one keep-alive connection, warmed up first, so one warm worker serves it.
"""

from __future__ import annotations

import csv
import http.client
import json
import logging
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from ..cli import devkit_command
from .load import interleaved
from .local import BenchError, LocalEAS
from .plan import Plan
from .profile import cpu_spent, where_the_time_goes
from .report import Row, Section
from .stats import median, ms, per_s, ratio

TITLE = "5. MaxCompute"
TABLE = "bench_rows"
NDJSON = "application/x-ndjson"
TARGETS = {"JSON": 0.9, "NDJSON": 0.85}  # service throughput ÷ pyodps direct


def run(eas: LocalEAS, plan: Plan) -> Section:
    rows = plan.table_rows
    load_table(eas, rows)
    address = urlsplit(eas.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    path = f"/maxcompute/tables/{TABLE}/rows?limit={rows}"
    reader = DirectReader(eas.info)

    def as_json() -> float:
        return timed(lambda: len(json.loads(get(connection, path, {}))["rows"]), rows)

    def as_ndjson() -> float:
        return timed(lambda: sum(1 for line in get(connection, path, {"Accept": NDJSON}).splitlines()
                                 if json.loads(line)), rows)

    def direct() -> float:
        return timed(reader.read_all, rows)

    try:
        as_json(), as_ndjson(), direct()  # warm-up: imports, clients, the connection
        measured = interleaved(plan.runs, *(partial(cpu_spent, eas, read) for read in (as_json, as_ndjson, direct)))
    finally:
        connection.close()
    through_json, through_ndjson, beside = ([seconds for seconds, _ in runs] for runs in measured)
    spent = {name: [cpu for _, cpu in runs] for name, runs in zip(("JSON", "NDJSON", "direct"), measured)}
    direct_seconds = median(beside)
    section = Section(TITLE)
    for name, through in (("JSON", through_json), ("NDJSON", through_ndjson)):
        share = median([b / t for t, b in zip(through, beside)])
        section.rows.append(Row(
            f"{rows:,}-row read, {name}", f"{ms(median(through))} ({per_s(rows / median(through), 'rows')})",
            f"pyodps open_reader: {ms(direct_seconds)} ({per_s(rows / direct_seconds, 'rows')})", ratio(share),
            f"≥ {TARGETS[name]}× direct", share >= TARGETS[name],
        ))
    section.notes = [
        f"`GET {path}` through the service, as one JSON document and as JSON Lines (`Accept: {NDJSON}`), parsed "
        f"by the client; beside it `get_table('{TABLE}').open_reader()` reading the same {rows:,} rows with "
        "pyodps and the role's credentials, each record made a dict. Ratio: direct time / service time.",
        "",
        "- Table: id bigint, name string, amount double, active boolean, created datetime, loaded with "
        "`eas-devkit local load-table`.",
        *(where_the_time_goes(f"per {rows:,}-row read as {name}", ms, spent[name], spent["direct"])
          for name in ("JSON", "NDJSON")),
    ]
    return section


def load_table(eas: LocalEAS, rows: int) -> None:
    source = eas.state_dir / f"{TABLE}.csv"
    write_rows(source, rows)
    result = subprocess.run(
        [*devkit_command(eas.project), "local", "--state-dir", str(eas.state_dir), "load-table", TABLE, str(source),
         "--replace"],
        cwd=eas.project, capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        raise BenchError(f"load-table failed: {result.stderr or result.stdout}")


def write_rows(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "amount", "active", "created"])
        for index in range(rows):
            writer.writerow([index, f"customer-{index:05d}", f"{index * 1.25:.2f}", "true" if index % 2 else "false",
                             f"2026-11-{1 + index % 28:02d} {index % 24:02d}:{index % 60:02d}:00"])


class DirectReader:
    """pyodps against the local MaxCompute, signing with the role's credentials, as the service does."""

    def __init__(self, state: dict[str, Any]) -> None:
        from alibabacloud_credentials.provider import URLCredentialsProvider
        from odps import ODPS
        from odps.accounts import CredentialProviderAccount

        logging.getLogger("odps").setLevel(logging.WARNING)  # it logs the whole STS token at INFO
        self.client = ODPS(account=CredentialProviderAccount(URLCredentialsProvider(uri=state["credentials_uri"])),
                           project=state["project"], endpoint=state["odps_endpoint"],
                           logview_host="http://127.0.0.1:9", region_name=state["region"])

    def read_all(self) -> int:
        with self.client.get_table(TABLE).open_reader() as reader:
            names = [column.name for column in reader.schema.simple_columns]
            return sum(1 for record in reader.read(start=0, count=reader.count)
                       if {name: record[name] for name in names})


def get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> bytes:
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise BenchError(f"GET {path} answered {response.status}: {body[:300]!r}")
    return body


def timed(read: Callable[[], int], rows: int) -> float:
    started = time.perf_counter()
    got = read()
    seconds = time.perf_counter() - started
    if got != rows:
        raise BenchError(f"read {got} rows, expected {rows}")
    return seconds
