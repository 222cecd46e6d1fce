"""Running the rules on a project, and what comes of it: the ``Report`` (its text for people, its JSON for tools)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .findings import ERROR, WARN, Finding
from .project import LOCAL, Project
from .rules import RULES
from .rules.files import service_json_matches_the_schema

AREAS = ("service.json", "ram/", "mount/", "examples/")  # what the summary says was examined, in this order


@dataclass
class Report:
    findings: list[Finding]
    examined: list[str] = field(default_factory=list)  # "service.json", "ram/", …
    target: str = LOCAL

    @property
    def errors(self) -> int:
        return sum(finding.level == ERROR for finding in self.findings)

    @property
    def warnings(self) -> int:
        return sum(finding.level == WARN for finding in self.findings)

    def summary(self) -> str:
        def count(number: int, word: str) -> str:
            return f"{number} {word}{'' if number == 1 else 's'}"

        examined = f"{', '.join(self.examined)}; " if self.examined else ""
        counts = f"{count(self.errors, 'error')}, {count(self.warnings, 'warning')}"
        return f"check: {counts} ({examined}target {self.target})"

    def as_text(self) -> str:
        return "\n".join([*(line for finding in self.findings for line in finding.lines()), self.summary()])

    def as_json(self) -> str:
        return json.dumps({"errors": self.errors, "warnings": self.warnings, "target": self.target,
                           "examined": self.examined, "findings": [finding.as_dict() for finding in self.findings]},
                          indent=2, ensure_ascii=False)


def check(root: Path, target: str = LOCAL) -> Report:
    """Run every rule on the project at ``root``, for ``target`` (``local`` or ``cloud``).

    The schema speaks generically ("8080 should not be valid under …"); where a rule explains the same
    place better, only the rule's finding is kept, so no problem is reported twice.
    """
    project = Project(root, target)
    results = [(each, finding) for each in RULES for finding in each(project)]
    explained = {finding.where for each, finding in results if each is not service_json_matches_the_schema}
    findings = [finding for each, finding in results
                if each is not service_json_matches_the_schema or finding.where not in explained]
    areas = {relative.split("/")[0] + ("/" if "/" in relative else "") for relative in project.examined
             if (root / relative).exists()}
    return Report(findings, [area for area in AREAS if area in areas], target)
