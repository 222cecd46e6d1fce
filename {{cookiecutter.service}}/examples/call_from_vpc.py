{%- from "production.j2" import request_timeout_seconds with context -%}
{%- set data_path = '/oss/objects?max_keys=5' if cookiecutter.oss else ('/maxcompute/tables' if cookiecutter.maxcompute else '/ready') -%}
r"""Call this service from another service in the same VPC, through the gateway, with the service's token:

    TARGET_ENDPOINT=http://<uid>.vpc.{{ cookiecutter.region }}.pai-eas.aliyuncs.com/api/predict/<service> \
    TARGET_TOKEN=<make status ARGS=--show-token> python call_from_vpc.py        # on EAS, in the VPC
    eval "$(eas-devkit status --export)"                                       # locally, after make deploy
    eas-devkit local exec -- env TARGET_ENDPOINT="$EAS_SERVICE_URL" TARGET_TOKEN="$EAS_TOKEN" \
        python examples/call_from_vpc.py

It calls ``GET /health`` and ``GET {{ data_path }}`` (``--path``) with one ``requests.Session``: a connect
and a read timeout on every request, and exponential backoff (urllib3's ``Retry``, honouring ``Retry-After``)
only for GETs the gateway answered 502, 503 or 504 (no instance ready): other methods may have done their work.
examples/README.md says more. Exit status: 0 when every call answered 2xx, 1 otherwise (401: TARGET_TOKEN is
not the service's token), 2 when TARGET_ENDPOINT or TARGET_TOKEN is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

TIMEOUT = (3.05, {{ request_timeout_seconds + 5 }})  # s to connect, then per read: past EAS's metadata.rpc.keepalive
RETRIED_STATUSES = (502, 503, 504)  # the gateway's "not now"; a 500 is the service's own failure: not retried
SAFE_METHODS = frozenset({"GET", "HEAD"})  # idempotent: sending them twice does no harm


class AnnouncedRetry(Retry):
    """urllib3's Retry, printing a line for each retry (urllib3 logs them only at DEBUG)."""

    def increment(self, method: Optional[str] = None, url: Optional[str] = None, response: Any = None,
                  error: Optional[Exception] = None, _pool: Any = None, _stacktrace: Any = None) -> Retry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when exhausted
        cause = f"{response.status}" if response is not None else type(error).__name__
        print(f"      retry {len(retry.history)}: {method} answered {cause}; next try in "
              f"{retry.get_backoff_time():.1f} s", flush=True)
        return retry


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    endpoint = os.environ.get("TARGET_ENDPOINT", "").rstrip("/")
    token = os.environ.get("TARGET_TOKEN", "")
    if not endpoint or not token:
        print("TARGET_ENDPOINT and TARGET_TOKEN must be set: the service's endpoint "
              "(http://<uid>.vpc.<region>.pai-eas.aliyuncs.com/api/predict/<service>) and its token; locally, "
              "`eval \"$(eas-devkit status --export)\"` gives them as EAS_SERVICE_URL and EAS_TOKEN")
        return 2
    print(f"target   {endpoint} (token ****{token[-4:]})")
    session = caller_session(token, args.retries)
    failures = 0
    for round_number in range(1, args.repeat + 1):
        if round_number > 1:
            time.sleep(args.interval)
        for path in ("/health", args.path):
            if not call(session, endpoint, path):
                failures += 1
                if args.repeat == 1:
                    return 1  # a single round: the first failure says it all
    if args.repeat > 1:
        print(f"{args.repeat} rounds: {'every call answered 2xx' if not failures else f'{failures} calls failed'}")
    return 1 if failures else 0


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="{{ data_path }}", help="the data route to call after /health "
                                                                "(default: {{ data_path }})")
    parser.add_argument("--retries", type=int, default=5,
                        help="retries of a GET answered 502/503/504 (default 5: about 15 s of backoff)")
    parser.add_argument("--repeat", type=int, default=1, help="call both routes this many times (default 1)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between rounds (default 0.5)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.retries < 0 or args.interval < 0:
        parser.error("--repeat must be at least 1, --retries and --interval at least 0")
    return args


def caller_session(token: str, retries: int) -> requests.Session:
    """One session for every call: pooled keep-alive connections, the token, and the retry policy."""
    retry = AnnouncedRetry(
        total=retries,
        connect=retries,  # the request never reached the gateway: safe to send again, whatever the method
        read=0,  # a read that timed out may have been served: never sent twice
        status=retries,
        status_forcelist=RETRIED_STATUSES,
        allowed_methods=SAFE_METHODS,
        backoff_factor=0.5,  # 0 s, then 1, 2, 4, 8 s between tries
        respect_retry_after_header=True,
        raise_on_status=False,  # after the last retry, hand back the last answer instead of raising
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["Authorization"] = token  # the gateway checks it, and does not pass it on to the service
    return session


def call(session: requests.Session, endpoint: str, path: str) -> bool:
    """GET one route, print what it answered; True when it is a 2xx."""
    started = time.monotonic()
    try:
        response = session.get(endpoint + path, timeout=TIMEOUT)
    except requests.exceptions.ConnectionError as error:
        print(f"GET {path} → cannot connect ({type(error).__name__}): on EAS, is the caller in the service's "
              "VPC, and TARGET_ENDPOINT its VPC endpoint (http://<uid>.vpc.<region>.pai-eas.aliyuncs.com/...)?")
        return False
    except requests.exceptions.Timeout:
        print(f"GET {path} → no answer within {TIMEOUT[1]} s (not retried: it may have been served)")
        return False
    took = f"{(time.monotonic() - started) * 1000:.0f} ms"
    if response.status_code == 401:
        print(f"GET {path} → 401 in {took}: the gateway refused TARGET_TOKEN, which is not this service's token "
              "(DescribeService AccessToken; `make status ARGS=--show-token` prints it)")
    elif response.status_code in RETRIED_STATUSES:
        print(f"GET {path} → {response.status_code} in {took}, still after the retries: {summary(response)}. "
              "The service is not Running (deploying, stopped, failed): see `make status` and `make events`")
    else:
        print(f"GET {path} → {response.status_code} in {took}: {summary(response)}")
    return 200 <= response.status_code < 300


def summary(response: requests.Response, limit: int = 160) -> str:
    """The answer in one line: compact JSON, or the start of the text."""
    try:
        text = json.dumps(response.json(), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        text = " ".join(response.text.split())
    return text if len(text) <= limit else text[:limit] + "…"


if __name__ == "__main__":
    sys.exit(main())
