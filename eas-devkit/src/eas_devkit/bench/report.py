"""BENCHMARKS.md: one table of every figure against its target, then a section per benchmark."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Row:
    benchmark: str
    measured: str
    side_by_side: str
    ratio: str
    target: str
    met: Optional[bool]  # None: nothing to meet (not applicable to this bake)

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "**no**", None: "n/a"}[self.met]


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Markdown lines: how it was measured, what a miss means


def not_applicable(title: str, why: str) -> Section:
    return Section(title, [Row(title, "—", "—", "—", "—", None)], [why])


def machine() -> str:
    """CPU model, cores, Python and OS of this machine."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.platform()}")


def write_report(path: Path, sections: list[Section], command: str, quick: bool, runs: int,
                 elapsed: float) -> None:
    """``command`` is Markdown (the command line in backticks)."""
    lines = [
        "# Benchmarks",
        "",
        "Measured against the local EAS (credentials endpoint, OSS and MaxCompute on 127.0.0.1, the service run by "
        "its own gunicorn command). Every figure is the median of "
        f"{runs} run{'s' if runs != 1 else ''}; every comparison was measured side by side, alternating, in the "
        "same run and against the same local EAS. Figures on a loopback machine show the service's own costs; "
        "network latency to the real OSS and MaxCompute adds the same to both sides. The local OSS and MaxCompute "
        "keep connections alive, as the real services do, for the service and for the direct clients alike.",
        "",
    ]
    if quick:
        lines += ["> **Quick run** (`--quick`): small sizes and one run each, to check that the benchmarks work. "
                  "The figures are not the benchmark: run `make bench` for those.", ""]
    lines += [
        f"- Command: {command}",
        f"- Machine: {machine()}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; the run took {elapsed:.0f} s",
        "",
        "| benchmark | measured | side by side | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for section in sections:
        for row in section.rows:
            lines.append(f"| {row.benchmark} | {row.measured} | {row.side_by_side} | {row.ratio} | {row.target} "
                         f"| {row.verdict} |")
    for section in sections:
        lines += ["", f"## {section.title}", "", *section.notes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
