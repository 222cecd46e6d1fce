"""The deploying developer's own credentials on this machine, served as a credentials URI.

In the cloud, ``eas-devkit`` finds the developer's credentials with ``DefaultCredentialsProvider``
(an environment AccessKey, the ``aliyun`` CLI profile, ...). Locally, the developer is the RAM user
:data:`~.accounts.DEPLOYER` of the local account, and the deploy tool reads its credentials from this
endpoint through the same provider chain (``ALIBABA_CLOUD_CREDENTIALS_URI``), so nothing secret is ever
written to a file. The credentials are STS-like, valid for an hour and re-minted well before the SDK's
15-minute refresh margin. The endpoint listens on 127.0.0.1 only, like every local service, and answers
only a request with the run's secret (:mod:`eas_devkit.local.run_secret`): its URI carries it as ``?token=``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Callable, Optional
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from .. import run_secret
from ..credentials import IssuedCredentials
from .accounts import DEPLOYER, AccessKey, Accounts

LIFETIME_SECONDS = 3600
REMINT_BEFORE_SECONDS = 20 * 60  # alibabacloud_credentials refreshes 15 minutes before the expiration
PATH = "/api/v1/deployer-credentials"


class DeployerCredentials:
    """WSGI app: ``GET /api/v1/deployer-credentials``, the guide's credentials JSON for the deployer."""

    def __init__(self, accounts: Accounts, secret: str, principal: str = DEPLOYER) -> None:
        self.accounts = accounts
        self.secret = secret
        self.principal = principal
        self._lock = threading.Lock()
        self._key: Optional[AccessKey] = None

    def current(self) -> AccessKey:
        with self._lock:
            key = self._key
            if key is None or key.expires_at is None or key.expires_at - time.time() < REMINT_BEFORE_SECONDS:
                key = self._key = self.accounts.create_sts_credentials(self.principal, LIFETIME_SECONDS)
            return key

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        if request.path != PATH:
            response = _json({"Code": "NotFound", "Message": f"the deployer's credentials are at {PATH}"}, 404)
        elif request.method != "GET":
            response = _json({"Code": "MethodNotAllowed", "Message": "GET only"}, 405)
        elif not run_secret.presents(request, self.secret):
            response = run_secret.refusal("the deploying developer's credentials")
        else:
            response = _json(as_issued(self.current()).to_json(), 200)
        return response(environ, start_response)


def uri(base_url: str, secret: str) -> str:
    """The credentials URI of the endpoint served at ``base_url``, with the secret it needs."""
    return f"{base_url}{PATH}?{urlencode({run_secret.QUERY_PARAMETER: secret})}"


def as_issued(key: AccessKey) -> IssuedCredentials:
    """An AccessKey of the local account in the form the local OSS and MaxCompute verify."""
    return IssuedCredentials(key.access_key_id, key.access_key_secret, key.security_token or "",
                             key.expires_at if key.expires_at is not None else math.inf)


def _json(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")

