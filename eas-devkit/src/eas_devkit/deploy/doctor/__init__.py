"""The doctor: what EAS and RAM would refuse in this project, found before deploying (``make check``).

``check(root, target)`` runs every rule (``rules/``, one module per theme) on the project and returns a
``Report`` of ``Finding``\\ s. A rule reads the project through ``Project`` (``project.py``), which never raises on
a missing or malformed file: the files rule reports those once, every other rule skips what it cannot read.
Policy questions ("may this role call X on Y?") are answered by the same RAM evaluator the local EAS uses
(``eas_devkit.local.ram``), so the doctor and ``make dev`` agree on what a policy allows.

The doctor reads files only: ``service.json`` (not the process environment: ``EAS_TARGET`` and loopback
endpoints given to the local EAS change nothing here; the caller passes the environment ``EAS_ENV`` selects,
whose ``environments/<name>.json`` is merged in), ``ram/``, ``mount/`` and ``examples/`` (Python files are
read with ``ast``, never run), and checks ``service.json`` against the kit's JSON Schema of the EAS service
configuration. It never opens a socket. The target (``local``, the local EAS, or ``cloud``, PAI-EAS) only changes
how the template's example values are judged: fine locally, refused for the cloud.
"""

from __future__ import annotations

from .findings import ERROR, WARN, Finding
from .project import CLOUD, LOCAL, TARGETS
from .report import Report, check

__all__ = ["CLOUD", "ERROR", "LOCAL", "TARGETS", "WARN", "Finding", "Report", "check"]
