"""Running the rules on a project, and what comes of it: the ``Report`` (its text for people, its JSON for tools)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from ...service_config import ServiceConfig
from .findings import ERROR, WARN, Finding
from .project import LOCAL, Project
from .rules import RULES
from .rules.files import service_json_matches_the_schema

SERVICE_JSON_PATH = re.compile(r"service\.json (\$[^\s,;:)]*)")
AREAS = ("service.json", "ram/", "mount/", "examples/")  # what the summary says was examined, in this order


@dataclass
class Report:
    findings: list[Finding]
    examined: list[str] = field(default_factory=list)  # "service.json", "ram/", …
    target: str = LOCAL
    sources: tuple[str, ...] = ()  # with an environment: service.json and the environment's file
    environment: Optional[str] = None

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
        merged = f"; environment {self.environment}: {' + '.join(self.sources) or 'not merged'}" \
            if self.environment else ""
        return f"check: {counts} ({examined}target {self.target}{merged})"

    def as_text(self) -> str:
        return "\n".join([*(line for finding in self.findings for line in finding.lines()), self.summary()])

    def as_json(self) -> str:
        return json.dumps({"errors": self.errors, "warnings": self.warnings, "target": self.target,
                           "environment": self.environment, "sources": list(self.sources), "examined": self.examined,
                           "findings": [finding.as_dict() for finding in self.findings]}, indent=2, ensure_ascii=False)


def check(root: Path, target: str = LOCAL, environment: Optional[str] = None) -> Report:
    """Run every rule on the project at ``root``, for ``target`` (``local`` or ``cloud``), on ``service.json``
    or, with ``environment``, on its merged document.

    The schema speaks generically ("8080 should not be valid under …"); where a rule explains the same
    place better, only the rule's finding is kept, so no problem is reported twice. A finding at a JSON path
    the environment's file sets points into that file, where the fix goes.
    """
    project = Project(root, target, environment)
    results = [(each, finding) for each in RULES for finding in each(project)]
    explained = {finding.where for each, finding in results if each is not service_json_matches_the_schema}
    findings = [finding for each, finding in results
                if each is not service_json_matches_the_schema or finding.where not in explained]
    areas = {relative.split("/")[0] + ("/" if "/" in relative else "") for relative in project.examined
             if (root / relative).exists()}
    config = project.config
    if config is not None:
        findings = [_relocated(finding, config) for finding in findings]
    return Report(findings, [area for area in AREAS if area in areas], target, config.sources if config else (),
                  environment)


def _relocated(finding: Finding, config: ServiceConfig) -> Finding:
    """The finding with each ``service.json $.path`` it names (where it is, and in its text) in the file that set
    that path."""
    def relocate(match: re.Match[str]) -> str:
        return " ".join(config.source_of(match[1]))

    return replace(finding, **{name: SERVICE_JSON_PATH.sub(relocate, getattr(finding, name))
                               for name in ("where", "what", "fix")})
