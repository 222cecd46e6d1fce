"""How much each benchmark does: the full sizes of the issue, or ``--quick`` ones for a smoke run."""

from __future__ import annotations

from dataclasses import dataclass

from .stats import GIB, MIB


@dataclass(frozen=True)
class Plan:
    quick: bool
    runs: int  # every figure is the median of this many runs
    fetch_requests: int  # benchmark 1: OSS requests per side and run
    fetch_workers: int
    overhead_requests: dict[int, int]  # benchmark 2: requests per side and run, by concurrency
    object_bytes: int  # benchmark 2: the object that is read
    stream_bytes: int  # benchmark 3
    table_rows: int  # benchmark 5

    @classmethod
    def full(cls, runs: int) -> Plan:
        return cls(quick=False, runs=runs, fetch_requests=10_000, fetch_workers=4,
                   overhead_requests={1: 2_000, 16: 6_000}, object_bytes=4096, stream_bytes=GIB, table_rows=10_000)

    @classmethod
    def small(cls, runs: int) -> Plan:
        return cls(quick=True, runs=runs, fetch_requests=1_000, fetch_workers=4,
                   overhead_requests={1: 300, 16: 1_000}, object_bytes=4096, stream_bytes=32 * MIB,
                   table_rows=10_000)
