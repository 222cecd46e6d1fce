"""Liveness and readiness.

``GET /health`` answers without touching any cloud service, so a slow dependency never fails the probe.
``GET /ready`` says whether the service can do its work now: it asks for the role's credentials (served from
the per-worker cache while they are fresh, so it costs nothing then) and reports each dependency; 503 with
``Retry-After`` while one is degraded.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from ..errors import CredentialsUnavailable

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/ready")
def ready() -> tuple[dict[str, Any], int, dict[str, str]]:
    dependencies = {}
    credentials = current_app.extensions.get("credentials")  # absent for a service without a role
    if credentials is not None:
        try:
            credentials.get().get_credentials()
            dependencies["credentials"] = "ok"
        except CredentialsUnavailable:
            dependencies["credentials"] = "unavailable"
    if all(state == "ok" for state in dependencies.values()):
        return {"status": "ready", "dependencies": dependencies}, 200, {}
    retry = {"Retry-After": str(CredentialsUnavailable.RETRY_AFTER_SECONDS)}
    return {"status": "degraded", "dependencies": dependencies}, 503, retry
