"""Rules: how long a request and a shutdown may take — graceful exit (EAS's SIGTERM and grace period against
gunicorn's graceful_timeout) and the chain of request timeouts from the client to the backends.

The chain, outermost first, each at least the next:

1. the client's read timeout (``examples/call_from_vpc.py``'s ``TIMEOUT``, ``(connect, read)``): how long it waits
   for the answer to start;
2. ``metadata.rpc.keepalive`` (ms), EAS's request timeout: past it the gateway answers 408;
3. the longest the service may work on a request before it answers, from its own deadlines (``containers[0].env``,
   else the defaults of ``mount/app/config.py``): a backend read gives each attempt ``*_TIMEOUT_SECONDS`` (the
   SDK's connect and read timeout) and makes at most ``BACKEND_READ_RETRIES`` + 1 attempts, so
   ``T × (retries + 1)``; the SQL route creates its instance (one request, T), waits for it until
   ``SQL_TIMEOUT_SECONDS``, the status poll under way at the deadline finishing (T), then opens the result (T), so
   ``SQL_TIMEOUT_SECONDS + 3 × T``.

gunicorn's ``timeout`` is in the chain only for sync workers, which it kills mid-request: for the gevent worker of
the template (and any non-sync one) it is a liveness heartbeat, "not tied to the length of time required to handle
a single request" (gunicorn's settings, ``timeout``), so it bounds no request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from ..findings import Finding, at, error, warn
from ..literals import NOT_A_LITERAL, number
from ..project import SERVICE_JSON, SQL_ROUTE, Project

GRACE_PERIOD_DEFAULT = 30  # eas.termination_grace_period, seconds (Rolling updates and graceful exit)
CLIENT_EXAMPLE = "examples/call_from_vpc.py"
CLIENT_TIMEOUT = "TIMEOUT"
SYNC_WORKERS = ("sync", "gunicorn.workers.sync.SyncWorker")
GUNICORN_TIMEOUT_DOC = "gunicorn's settings, timeout (https://docs.gunicorn.org/en/stable/settings.html#timeout)"


def shutdown_is_graceful(project: Project) -> Iterator[Finding]:
    """Rolling updates and graceful exit: EAS sends SIGTERM when it stops an instance only with
    metadata.rpc.enable_sigterm true (the default is false: no signal, the instance is stopped when
    metadata.eas.termination_grace_period, 30 s by default, ends); gunicorn then finishes the requests under way
    for up to graceful_timeout, which must end before the grace period does."""
    if project.service is None:
        return
    rpc = project.section("metadata", "rpc")
    sigterm = (rpc or {}).get("enable_sigterm")
    if sigterm is not True:
        where = at(SERVICE_JSON, "metadata", "rpc", "enable_sigterm") if rpc and "enable_sigterm" in rpc \
            else at(SERVICE_JSON, "metadata", "rpc") if rpc is not None else at(SERVICE_JSON, "metadata")
        state = f"is {json.dumps(sigterm)}" if rpc and "enable_sigterm" in rpc else "is not set (EAS's default: false)"
        yield warn(where, f"enable_sigterm {state}: EAS sends no SIGTERM when an update or a scale-in stops an "
                   "instance, so gunicorn never shuts down gracefully: the instance is stopped when the grace "
                   "period ends, whatever it is still doing", 'set "enable_sigterm": true in metadata.rpc:',
                   snippet={"rpc": {"enable_sigterm": True}})
        return
    eas = project.section("metadata", "eas") or {}
    grace = number(eas.get("termination_grace_period", GRACE_PERIOD_DEFAULT))
    gunicorn = project.gunicorn
    if grace is None or gunicorn is None:
        return
    graceful = gunicorn.setting("graceful_timeout")
    seconds = _seconds(graceful.value)
    if seconds is None or seconds < grace:
        return
    default = " (gunicorn's default)" if graceful.default else ""
    eas_default = "" if "termination_grace_period" in eas else " (EAS's default)"
    yield error(gunicorn.config if graceful.default else graceful.where,
                f"gunicorn's graceful_timeout is {seconds:g} s{default}, not shorter than "
                f"metadata.eas.termination_grace_period, {grace:g} s{eas_default}: EAS stops the instance while "
                "gunicorn still finishes the requests under way",
                f"set graceful_timeout = {max(grace - 5, 1):g} in {gunicorn.config}, or raise "
                "metadata.eas.termination_grace_period")


@dataclass(frozen=True)
class Bound:
    """The longest the service may work on a request before it answers, and how that was reckoned."""

    seconds: float
    reckoning: str
    variables: tuple[str, ...]  # the settings that make it up, for the fix


def request_timeouts_are_a_chain(project: Project) -> Iterator[Finding]:
    """Request timeouts, outermost first, each at least the next: the client's read timeout ≥ metadata.rpc.keepalive
    (EAS's request timeout: past it the gateway answers 408) ≥ the longest the service may work on a request (its
    backend timeouts and retries, the SQL route's deadline), so that every answer comes from the innermost layer
    that gave up, with its reason; with sync workers, gunicorn's timeout ≥ that too (this module's docstring)."""
    if project.service is None:
        return
    bound = longest_request(project)
    rpc = project.section("metadata", "rpc")
    keepalive = number((rpc or {}).get("keepalive"))
    if rpc is None or "keepalive" not in rpc:
        suggested = {"keepalive": int(math.ceil(bound.seconds)) * 1000} if bound else {"keepalive": 60000}
        yield warn(at(SERVICE_JSON, "metadata", "rpc") if rpc is not None else at(SERVICE_JSON, "metadata"),
                   "keepalive is not set: EAS's own request timeout applies, which its documentation does not give "
                   "(the local EAS takes 600 s)", "set the request timeout in milliseconds, at least the longest "
                   f"a request may take{f' ({bound.seconds:g} s: {bound.reckoning})' if bound else ''}:",
                   snippet={"rpc": suggested})
    elif keepalive is not None and bound is not None and keepalive / 1000 < bound.seconds:
        yield error(at(SERVICE_JSON, "metadata", "rpc", "keepalive"),
                    f"{keepalive:g} ms is shorter than the longest the service may work on a request, "
                    f"{bound.seconds:g} s ({bound.reckoning}): the gateway answers 408 while the service still "
                    "works, instead of the service's own answer", f"set keepalive to at least "
                    f"{math.ceil(bound.seconds) * 1000} ms, or lower {' and '.join(bound.variables)} in "
                    "containers[0].env")
    yield from _client_waits_long_enough(project, keepalive / 1000 if keepalive else None, bound)
    yield from _sync_workers_outlast_requests(project, bound)


def longest_request(project: Project) -> Optional[Bound]:
    """The longest of the enabled routes' bounds (this module's docstring), or None when none can be told."""
    retries = _whole(project.app_setting("BACKEND_READ_RETRIES", "read_retries"))
    bounds = []
    for handler, variable, field in (("OSS_BUCKET", "OSS_TIMEOUT_SECONDS", "oss_timeout_seconds"),
                                     ("ODPS_PROJECT", "ODPS_TIMEOUT_SECONDS", "odps_timeout_seconds")):
        timeout = _whole(project.app_setting(variable, field)) if project.env.get(handler) else None
        if timeout is not None and retries is not None:
            bounds.append(Bound(timeout * (retries + 1), f"{variable} {timeout} × (BACKEND_READ_RETRIES {retries} + 1)",
                                (variable, "BACKEND_READ_RETRIES")))
        if timeout is not None and handler == "ODPS_PROJECT" and project.exists(SQL_ROUTE):
            sql = _whole(project.app_setting("SQL_TIMEOUT_SECONDS", "sql_timeout_seconds"))
            if sql is not None:
                bounds.append(Bound(sql + 3 * timeout, f"SQL_TIMEOUT_SECONDS {sql} + 3 × {variable} {timeout}",
                                    ("SQL_TIMEOUT_SECONDS", variable)))
    return max(bounds, key=lambda bound: bound.seconds, default=None)


def _client_waits_long_enough(project: Project, keepalive: Optional[float],
                              bound: Optional[Bound]) -> Iterator[Finding]:
    literals = project.python_literals(CLIENT_EXAMPLE)
    timeout = (literals or {}).get(CLIENT_TIMEOUT)
    if timeout is None:
        return
    value = timeout.value
    parts = list(value) if isinstance(value, (tuple, list)) and len(value) == 2 else [None, value]
    read = number(parts[1])
    inner, named = (keepalive, "metadata.rpc.keepalive") if keepalive is not None \
        else ((bound.seconds, f"the longest the service may work on a request ({bound.reckoning})") if bound
              else (None, ""))
    if read is None or inner is None or read >= inner:
        return
    connect = f"{parts[0]!r}, " if parts[0] is not None else ""
    yield warn(f"{CLIENT_EXAMPLE}:{timeout.line}", f"{CLIENT_TIMEOUT} waits {read:g} s for an answer, less than "
               f"{named}, {inner:g} s: the client gives up on a request EAS still lets the service work on, and "
               "never sees EAS's 408 or the service's own error",
               f"wait at least as long: {CLIENT_TIMEOUT} = ({connect}{math.ceil(inner)})" if connect
               else f"wait at least as long: {CLIENT_TIMEOUT} = {math.ceil(inner)}")


def _sync_workers_outlast_requests(project: Project, bound: Optional[Bound]) -> Iterator[Finding]:
    gunicorn = project.gunicorn
    if gunicorn is None or bound is None:
        return
    worker = gunicorn.setting("worker_class")
    if worker.value not in SYNC_WORKERS:
        return  # a heartbeat for the other workers: no request deadline
    timeout = gunicorn.setting("timeout")
    seconds = _seconds(timeout.value)
    if seconds is None or seconds >= bound.seconds:
        return
    default = " (gunicorn's default)" if timeout.default else ""
    yield error(gunicorn.config if timeout.default else timeout.where,
                f"gunicorn's timeout is {seconds:g} s{default}, shorter than the longest the service may work on a "
                f"request, {bound.seconds:g} s ({bound.reckoning}): a sync worker still busy then is killed, and the "
                f"client gets a 502 instead of the service's answer ({GUNICORN_TIMEOUT_DOC})",
                f"set timeout = {math.ceil(bound.seconds)} in {gunicorn.config}, or use the gevent worker")


def _seconds(value: Any) -> Optional[float]:
    """A gunicorn setting in seconds: a number from the config file, or a number written on the command line."""
    if value is NOT_A_LITERAL:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return number(value)


def _whole(value: Any) -> Optional[int]:
    """A setting of the service as the app reads it (app/config.py: a whole number, from a string or a default)."""
    if isinstance(value, str):
        return int(value) if value.strip().isdigit() else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


RULES = (shutdown_is_graceful, request_timeouts_are_a_chain)
