"""Medians, percentiles and the number formats of the report."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

MIB = 1024 * 1024
GIB = 1024 * MIB


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.99 is p99)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


def mib(value_bytes: float) -> str:
    return f"{value_bytes / MIB:.1f} MiB"


def size(value_bytes: int) -> str:
    """A size as written in the issue: ``1 GiB``, ``32 MiB``."""
    for unit, name in ((GIB, "GiB"), (MIB, "MiB")):
        if value_bytes >= unit and value_bytes % unit == 0:
            return f"{value_bytes // unit} {name}"
    return mib(value_bytes)


def mib_per_s(value_bytes_per_s: float) -> str:
    return f"{value_bytes_per_s / MIB:.0f} MiB/s"


def per_s(value: float, unit: str = "") -> str:
    return f"{value:,.0f} {unit}/s" if unit else f"{value:,.0f}/s"


def shares(counts: Sequence[float]) -> list[float]:
    """Each count's fraction of their sum, largest first."""
    total = sum(counts)
    return sorted((count / total for count in counts), reverse=True) if total else []


def percents(fractions: Sequence[float]) -> str:
    return " / ".join(f"{100 * fraction:.0f} %" for fraction in fractions)
