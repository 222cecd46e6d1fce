"""The OSS handler written the naive way, for the credential-fetch benchmark (never deployed).

What a copy-paste of the guide's OSS example into a request handler gives: a new legacy
``providers.DefaultCredentialsProvider`` and a new ``oss2.Bucket`` for every request. The legacy provider
returns a new credential object on every call, so every signed request fetches the credentials URI again.
Run by gunicorn in the instance's environment (``OSS_ENDPOINT``, ``OSS_BUCKET``, ``OSS_DATA_PREFIX``).
"""

from __future__ import annotations

import os

import oss2
from alibabacloud_credentials import providers
from flask import Flask, Response

app = Flask(__name__)


@app.get("/oss/objects/<path:key>")
def get_object(key: str) -> Response:
    auth = oss2.ProviderAuth(providers.DefaultCredentialsProvider())
    bucket = oss2.Bucket(auth, os.environ["OSS_ENDPOINT"], os.environ["OSS_BUCKET"])
    return Response(bucket.get_object(os.environ.get("OSS_DATA_PREFIX", "") + key).read())
