"""What the doctor reports: a ``Finding`` names where (a file and a JSON path, or ``file:line``), what is
wrong and how to fix it, with a JSON document to paste where that helps."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...service_config import json_path

ERROR, WARN = "ERROR", "WARN"


@dataclass(frozen=True)
class Finding:
    """One problem: where it is, what is wrong, how to fix it; ``snippet`` is a JSON document to paste."""

    level: str  # ERROR (the deployment or the service fails) or WARN (works, but worth a look)
    where: str  # a file and a JSON path (``service.json $.containers[0].port``) or a line (``file:line``)
    what: str
    fix: str
    snippet: Any = None

    def lines(self) -> list[str]:
        head = f"{self.level} {self.where}: {self.what} — {self.fix}"
        if self.snippet is None:
            return [head]
        return [head, *("    " + line for line in json.dumps(self.snippet, indent=2, ensure_ascii=False).splitlines())]

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "where": self.where, "what": self.what, "fix": self.fix, "snippet": self.snippet}


def error(where: str, what: str, fix: str, snippet: Any = None) -> Finding:
    return Finding(ERROR, where, what, fix, snippet)


def warn(where: str, what: str, fix: str, snippet: Any = None) -> Finding:
    return Finding(WARN, where, what, fix, snippet)


def at(relative: str, *parts: Any) -> str:
    return f"{relative} {json_path(*parts)}"
