"""The reliability suite's figures: what each test did (requests, rotations, faults injected, inputs tried)
and what was lost (always 0, or the test fails).

Tests record through the ``reliability`` fixture; numbers recorded twice under one heading add up. With
``RELIABILITY_REPORT=<file>`` (what `make reliability` sets) the session writes the figures there as
Markdown and puts the same table in every document of the project that has the two markers (its reliability page).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Union

Figure = Union[int, float, str]
README_START = "<!-- reliability:start -->"
README_END = "<!-- reliability:end -->"
# How long the soak runs: `make test` runs the short form, `make reliability` the long one.
SOAK_SECONDS = float(os.environ.get("RELIABILITY_SOAK_SECONDS", "20"))
FUZZ_EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "150"))


class ReliabilityFigures:
    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Figure]] = {}

    def record(self, section: str, **figures: Figure) -> None:
        """Add ``figures`` under ``section``: numbers add up across calls, text replaces."""
        current = self.sections.setdefault(section, {})
        for name, value in figures.items():
            previous = current.get(name)
            both_numbers = isinstance(value, (int, float)) and isinstance(previous, (int, float))
            current[name] = previous + value if both_numbers else value  # type: ignore[operator]

    def markdown(self, command: str) -> str:
        lines = [
            f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} "
            f"({platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs).",
            "",
            "| test | figures | lost |",
            "|---|---|---|",
        ]
        for section, figures in self.sections.items():
            shown = ", ".join(f"{name.replace('_', ' ')}: {_format(value)}" for name, value in figures.items()
                              if name != "lost")
            lines.append(f"| {section} | {shown} | {_format(figures.get('lost', 0))} |")
        return "\n".join(lines) + "\n"

    def write_if_asked(self, exitstatus: int, readmes: Iterable[Path]) -> None:
        """At the end of a passing session: the report named by ``RELIABILITY_REPORT``, and the table of each
        of ``readmes`` (the README in every language: the figures are the same in all)."""
        report = os.environ.get("RELIABILITY_REPORT")
        if report and self.sections and exitstatus == 0:
            self.write(Path(report), readmes, command="make reliability")

    def write(self, report: Path, readmes: Iterable[Path], command: str) -> None:
        text = self.markdown(command)
        report.write_text("# Reliability figures\n\n" + text, encoding="utf-8")
        for readme in readmes:
            readme.write_text(replace_section(readme.read_text(encoding="utf-8"), text), encoding="utf-8")


def replace_section(readme: str, text: str) -> str:
    """``readme`` with what is between the reliability markers replaced by ``text`` (unchanged without them)."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        return readme
    return readme[: start + len(README_START)] + "\n" + text + readme[end:]


def _format(value: Figure) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return value
