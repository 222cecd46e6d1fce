"""``GET /credentials``: where the service's credentials come from and when they expire.

Shows the source, a masked AccessKeyId and the expiry: never the AccessKeySecret or the SecurityToken.
"""

from __future__ import annotations

from flask import Blueprint, current_app

bp = Blueprint("credentials", __name__)


@bp.get("/credentials")
def describe_credentials() -> dict:
    return current_app.extensions["credentials"].get().describe()
