"""What ``deploy``, ``status``, ``events`` and ``delete`` do, step by step, and what they print.

Each returns the process exit status: 0 done, 1 the service or the cloud said no (the message says why
and what to do). Output goes to ``out`` (stdout); the upload's progress bar and the live status line go
to stderr, so ``> file`` keeps a clean record.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional

from . import doctor
from .eas import RUNNING, EasControlPlane, EasError, Event, ServiceStatus
from .fixes import known_problem
from .target import Service, Target
from .upload import open_bucket, sync_mount

HEALTH_PATH = "/health"
# Logs keep what a deploy prints (CI's too): the token is shown only when asked for.
TOKEN_HIDDEN = "(hidden; `make status ARGS=--show-token` prints it and a curl command)"
UPDATE_SETTLE_SECONDS = 15  # after UpdateService, a Running status this early may still be the old deployment


@dataclass
class Console:
    """Where the commands write: results to ``out``, live progress to ``err`` (rewritten in place on a TTY)."""

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    _live: str = ""

    def print(self, text: str = "") -> None:
        self._end_live()
        print(text, file=self.out, flush=True)

    def live(self, text: str) -> None:
        """A status line: rewritten in place on a terminal, a new line only when it changes otherwise."""
        if self.err.isatty():
            self.err.write("\r\x1b[K" + text)
            self.err.flush()
        elif _steady(text) != _steady(self._live):
            print(text, file=self.err, flush=True)
        self._live = text

    def _end_live(self) -> None:
        if self._live and self.err.isatty():
            self.err.write("\r\x1b[K")  # what follows says where the status line got to
            self.err.flush()
        self._live = ""


def _steady(text: str) -> str:
    """The status line without its clock, to tell a change of status from time passing."""
    return text.rsplit(" (", 1)[0]


def deploy(project: Path, service: Service, target: Target, console: Console, *, skip_check: bool = False,
           timeout: float = 900, interval: Optional[float] = None) -> int:
    console.print(f"Deploying {service.name}{f' ({service.sources})' if service.environment else ''} to the "
                  f"{target.describe()}")
    if not skip_check:
        report = doctor.check(project, target.name, service.environment)
        for finding in report.findings:
            console.print("\n".join(finding.lines()))
        console.print(f"[1/5] {report.summary()}")
        if report.errors:
            console.print("Stopped: fix the errors above (`make check` shows them again), then deploy again.")
            return 1
    else:
        console.print("[1/5] check skipped (--skip-check): EAS itself will say what is wrong")
    provider = target.credentials_provider()
    upload(project, service, target, provider, console, "[2/5]")
    eas = EasControlPlane(target, service.name, provider)
    before, earlier_warnings = create_or_update(eas, service, console, "[3/5]")
    status = wait_until_settled(eas, console, before, timeout, interval or poll_interval(target))
    if status.status != RUNNING:
        console.print(f"[4/5] {service.name} is {status.status}: {status.reason} {status.message}".rstrip())
        if before is not None and status.running:
            console.print(f"      {status.running} of {status.total} instances still serve (EAS pauses a rolling "
                          "update that fails and keeps the old instances); `make status` lists them")
        print_warnings(eas, console, skip=earlier_warnings)
        print_log_hints(eas, console)
        return 1
    console.print(f"[4/5] {service.name} is Running ({status.running}/{status.total} instances)")
    console.print(f"[5/5] endpoint  {status.endpoint}")
    console.print(f"      token     {TOKEN_HIDDEN}")
    return 0


def upload(project: Path, service: Service, target: Target, provider: Any, console: Console, step: str) -> None:
    """Make the service's OSS code path hold what mount/ holds."""
    bucket = open_bucket(target, service, provider)
    destination = f"oss://{service.code_bucket}/{service.code_prefix}"
    console.print(f"{step} uploading {project / 'mount'}/ to {destination}")
    uploaded = sync_mount(bucket, project / "mount", service.code_prefix, progress=console.err)
    console.print(f"      {uploaded.summary(destination)}")


def create_or_update(eas: EasControlPlane, service: Service, console: Console,
                     step: str) -> tuple[Optional[ServiceStatus], int]:
    """CreateService, or UpdateService when it exists: its status before, and how many Warning events it had."""
    before = eas.describe()
    earlier_warnings = len(eas.events("Warning")) if before is not None else 0
    if before is None:
        console.print(f"{step} CreateService {service.name}")
        eas.create(service.config_text)
    else:
        console.print(f"{step} UpdateService {service.name} (it exists: {before.status})")
        eas.update(service.config_text)
    return before, earlier_warnings


def wait_until_settled(eas: EasControlPlane, console: Console, before: Optional[ServiceStatus], timeout: float,
                       interval: float) -> ServiceStatus:
    started = time.monotonic()
    seen: list[str] = []

    def show(status: Optional[ServiceStatus]) -> None:
        name = status.status if status else "(not visible yet)"
        if not seen or seen[-1] != name:
            seen.append(name)
        if not settled(status):  # the settled status is said once, below, with the time it took
            console.live(f"      {' → '.join(seen)} ({time.monotonic() - started:.0f} s)")

    def settled(status: Optional[ServiceStatus]) -> bool:
        if status is None or not status.is_final:
            return False
        if before is None or len(seen) > 1 or status.update_time != before.update_time:
            return True
        return time.monotonic() - started > UPDATE_SETTLE_SECONDS  # an update that never left Running

    final = eas.wait(settled, show, interval, timeout)
    assert final is not None  # settled() is never true for None
    console.print(f"      {' → '.join(seen)} in {time.monotonic() - started:.1f} s")
    return final


def print_warnings(eas: EasControlPlane, console: Console, skip: int = 0) -> None:
    """The Warning events of this deployment: those after the ``skip`` ones of earlier deployments."""
    warnings = eas.events("Warning")[skip:]
    if not warnings:
        console.print("No Warning events: see `make events` for everything EAS recorded.")
    for event in warnings:
        print_event(event, console)


def print_log_hints(eas: EasControlPlane, console: Console) -> None:
    """For each instance that failed or restarted, the command that shows its own output."""
    try:
        instances = eas.instances()
    except EasError:
        return
    for item in instances:
        if item.status != RUNNING or item.ready < item.total or item.restarts:
            previous = " --previous" if item.restarts else ""
            console.print(f"Its output: make logs ARGS='--instance {item.name}{previous}' "
                          f"({item.name} is {item.status}, restarts {item.restarts})")


def print_event(event: Event, console: Console) -> None:
    console.print(f"{event.time} {event.type:<7} {event.reason}: {event.message}")
    problem = known_problem(event) if event.type == "Warning" else None
    if problem is not None:
        console.print(f"  ↳ {problem.title}. Fix:")
        console.print("    " + problem.fix.replace("\n", "\n    "))


def curl(status: ServiceStatus, path: str = HEALTH_PATH) -> str:
    return f"curl -H {shlex.quote('Authorization: ' + status.token)} {shlex.quote(status.endpoint + path)}"


def show_status(service: Service, target: Target, console: Console, *, show_token: bool = False) -> int:
    eas = EasControlPlane(target, service.name, target.credentials_provider())
    status = eas.describe()
    if status is None:
        console.print(f"{service.name}: not deployed on the {target.describe()}")
        return 1
    console.print(f"{status.name}: {status.status}" + (f" ({status.reason}: {status.message})"
                                                       if status.status != RUNNING and status.message else ""))
    console.print(f"  instances  {status.running} running of {status.total}")
    console.print(f"  endpoint   {status.endpoint}")
    console.print(f"  updated    {status.update_time}")
    print_instances(eas, console)
    if "autoscaler" in json.loads(service.config_text):
        print_autoscaler(eas, console)
    if show_token:
        console.print(f"  call it    {curl(status)}")
    else:
        console.print("  token      (hidden; --show-token prints it and a curl command)")
    return 0


def print_instances(eas: EasControlPlane, console: Console) -> None:
    """One line per instance (ListServiceInstances); a refusal is said, not fatal: DescribeService answered."""
    try:
        instances = eas.instances()
    except EasError as error:
        console.print(f"  instance   (not listed: {error.code}: {error.message})")
        return
    name_width = max((len(item.name) for item in instances), default=0)
    status_width = max((len(item.status) for item in instances), default=0)
    for item in instances:
        console.print(f"  instance   {item.name:<{name_width}}  {item.status:<{status_width}}  ready "
                      f"{item.ready}/{item.total}  restarts {item.restarts}  started {item.started or '-'}")


def print_autoscaler(eas: EasControlPlane, console: Console) -> None:
    """The range and each metric against its threshold (DescribeServiceAutoScaler); a refusal is said."""
    try:
        autoscaler = eas.autoscaler()
    except EasError as error:
        console.print(f"  autoscaler (not read: {error.code}: {error.message})")
        return
    metrics = ", ".join(f"{name} {autoscaler.current.get(name, 'not measured yet')} (threshold {threshold:g})"
                        for name, threshold in autoscaler.thresholds.items())
    console.print(f"  autoscaler {autoscaler.low} to {autoscaler.high} instances; per instance: {metrics}")


def export_endpoint(service: Service, target: Target) -> int:
    """Shell lines that put the endpoint and token in the environment, for scripts and the workshop."""
    status = EasControlPlane(target, service.name, target.credentials_provider()).describe()
    if status is None:
        print(f"{service.name}: not deployed on the {target.describe()}", file=sys.stderr)
        return 1
    print(f"export EAS_SERVICE_URL={shlex.quote(status.endpoint)}")
    print(f"export EAS_TOKEN={shlex.quote(status.token)}")
    return 0


def show_events(service: Service, target: Target, console: Console, *, event_type: Optional[str] = None,
                since: Optional[str] = None) -> int:
    eas = EasControlPlane(target, service.name, target.credentials_provider())
    if eas.describe() is None:
        console.print(f"{service.name}: not deployed on the {target.describe()}")
        return 1
    events = eas.events(event_type, since)
    for event in events:
        print_event(event, console)
    console.print(f"{len(events)} event{'' if len(events) == 1 else 's'}")
    return 0


def delete(service: Service, target: Target, console: Console, *, timeout: float = 600,
           interval: Optional[float] = None) -> int:
    eas = EasControlPlane(target, service.name, target.credentials_provider())
    if eas.describe() is None:
        console.print(f"{service.name}: not deployed on the {target.describe()}; nothing to delete")
        return 0
    console.print(f"DeleteService {service.name} on the {target.describe()}")
    eas.delete()
    started = time.monotonic()

    def show(status: Optional[ServiceStatus]) -> None:
        if status is not None:  # gone is said once, below, with the time it took
            console.live(f"      {status.status} ({time.monotonic() - started:.0f} s)")

    eas.wait(lambda status: status is None, show, interval or poll_interval(target), timeout)
    console.print(f"{service.name} deleted in {time.monotonic() - started:.1f} s (the code stays in OSS)")
    return 0


def poll_interval(target: Target) -> float:
    return 0.5 if target.name == "local" else 3.0  # the PAI SDK polls EAS every 3 s
