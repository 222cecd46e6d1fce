"""Rules: the health checks of a container (readiness, liveness, startup) reach the service where it answers them.

EAS runs them only for custom images (Configure health checks,
https://www.alibabacloud.com/help/en/pai/user-guide/advanced-configuration-health-check); the key names
(``readiness_check``, ``liveness_check``, ``startup_check`` with ``http_get``/``tcp_socket``/``exec``) are those of a
third-party schema of the service JSON, not of an official page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding, at, error, warn
from ..images import is_official
from ..project import SERVICE_JSON, Project

HEALTH_CHECK_PAGE = ("Configure health checks, https://www.alibabacloud.com/help/en/pai/user-guide/"
                     "advanced-configuration-health-check")
LIMIT = "Health checks are available only for services deployed using custom images that include health check logic."
# The check, the path the service answers it on, and why that one (app/routes/health.py).
PROBES = {
    "readiness_check": ("/ready", "/ready answers 503 while the role's credentials are unavailable, so EAS sends "
                                  "the instance no traffic until it can work"),
    "liveness_check": ("/health", "/health touches no cloud service, so a slow dependency never gets the instance "
                                  "restarted"),
    "startup_check": (None, ""),
}


def health_checks_reach_the_service(project: Project) -> Iterator[Finding]:
    """Configure health checks: EAS runs readiness, liveness and startup checks only for custom images ("Health
    checks are available only for services deployed using custom images that include health check logic."); an
    http_get or tcp_socket check probes the container's port, an http_get path is absolute, and the service
    answers readiness on /ready and liveness on /health."""
    containers = (project.service or {}).get("containers")
    for index, container in enumerate(containers if isinstance(containers, list) else []):
        if not isinstance(container, dict):
            continue
        for probe, (expected, reason) in PROBES.items():
            check = container.get(probe)
            if isinstance(check, dict):
                yield from _check(index, container, probe, check, expected, reason)


def _check(index: int, container: dict[str, Any], probe: str, check: dict[str, Any], expected: Any,
           reason: str) -> Iterator[Finding]:
    image, port = container.get("image"), container.get("port")
    if isinstance(image, str) and is_official(image):
        yield warn(at(SERVICE_JSON, "containers", index, probe), f"is set, but the image is EAS's official one: "
                   f'"{LIMIT}" ({HEALTH_CHECK_PAGE}); with it, EAS only checks that the port accepts connections',
                   "deploy a custom image that holds the service (it answers /ready and /health), or remove the "
                   "check")
    for method in ("http_get", "tcp_socket"):
        target = check.get(method)
        probed = target.get("port") if isinstance(target, dict) else None
        if isinstance(probed, int) and isinstance(port, int) and probed != port:
            yield error(at(SERVICE_JSON, "containers", index, probe, method, "port"), f"{probed} is not "
                        f"containers[{index}].port ({port}): the check probes a port the service does not listen on",
                        f"set it to {port}")
    http = check.get("http_get")
    path = http.get("path") if isinstance(http, dict) else None
    if not isinstance(path, str):
        return
    where = at(SERVICE_JSON, "containers", index, probe, "http_get", "path")
    if not path.startswith("/"):
        yield error(where, f"{path!r} does not start with /", f"write the path from the root: /{path}")
    elif expected and path.split("?", 1)[0].rstrip("/") != expected:
        yield warn(where, f"{path}: the service answers {probe.split('_')[0]} on {expected} ({reason})",
                   f"use {expected}")


RULES = (health_checks_reach_the_service,)
