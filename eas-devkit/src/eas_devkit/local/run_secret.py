"""The secret of one run of the local EAS: what its routes outside the emulated cloud API require.

Any process on this machine can connect to 127.0.0.1. The admin routes (rotate, outage, faults, stats,
leak-check) and the deploying developer's credentials endpoint (whose credentials deploy code that the local
EAS runs) therefore answer only a request that presents this run's secret: ``Authorization: Bearer <secret>``,
or a ``token`` query parameter for the credentials URI, which the SDK fetches without headers of ours. The
secret is minted at every start and kept in ``state.json`` (mode 0600, in a 0700 state directory), where the
project's own commands read it (``admin_headers``); another user's process cannot.

The instance credentials endpoint needs no secret, as on EAS, where ``ALIBABA_CLOUD_CREDENTIALS_URI`` is
plain and only reachable from inside the instance: the SDK writes that URI into its error messages, which
the service logs, so a secret in it would end up in logs. What it hands out are the role's temporary
credentials, valid only at this local EAS's OSS and MaxCompute; they cannot deploy anything.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

STATE_KEY = "admin_token"  # where state.json keeps it
QUERY_PARAMETER = "token"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def admin_headers(state: Mapping[str, Any]) -> dict[str, str]:
    """The header a client of the admin routes sends, from a running local EAS's state.json."""
    return {"Authorization": f"Bearer {state[STATE_KEY]}"}


def presents(request: Request, secret: str) -> bool:
    """Whether the request carries the secret (compared in constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        given = request.args.get(QUERY_PARAMETER, "")
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def refusal(what: str) -> Response:
    """401 for a request without this run's secret: says where the secret is, never what it is."""
    body = {"Code": "Unauthorized", "field": "Authorization",
            "Message": f"Authorization: {what} of the local EAS need `Bearer <{STATE_KEY}>`, the secret of this "
                       f"run in its state.json (`eas-devkit local` and `make` read it from there)"}
    return Response(json.dumps(body), status=401, mimetype="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="local EAS"'})
