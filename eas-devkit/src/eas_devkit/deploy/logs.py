"""What ``logs`` does: the instances' log lines (DescribeServiceLog, one instance at a time), once or followed.

The lines go to stdout exactly as the service wrote them (a JSON line stays a JSON line: ``| jq`` works);
with several instances a ``==> <instance> <==`` header goes to stderr before each instance's lines, as
``tail`` does with several files, so stdout stays the service's own output. Following polls every instance
ListServiceInstances lists (new ones included, as a rolling update starts them) and prints only the lines
not printed yet; when an instance restarted meanwhile, the rest of its previous container's log comes first.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from .commands import Console, poll_interval
from .eas import EasControlPlane, InstanceStatus
from .target import Service, Target, TargetError


@dataclass
class _Followed:
    restarts: int  # RestartCount when its lines were last read
    seen: int = 0  # lines of its current container already printed
    done: bool = False  # first_run_only: its first container is over


class LogTail:
    """The log lines of one service's instances, each printed once."""

    def __init__(self, eas: EasControlPlane, console: Console, *, since: Optional[str] = None,
                 previous: bool = False, instance: Optional[str] = None, first_run_only: bool = False,
                 watch: tuple[str, ...] = ()) -> None:
        self.eas = eas
        self.console = console
        self.since = since
        self.previous = previous
        self.only = instance
        self.first_run_only = first_run_only  # run-script: the output of each instance's first container only
        self.lines = 0  # printed so far
        self._watch = watch
        self._seen: set[str] = set()  # the watched beginnings some printed line had
        self._followed: dict[str, _Followed] = {}
        self._several = False
        self._header: Optional[str] = None

    def instances(self) -> list[InstanceStatus]:
        """The instances to show (ListServiceInstances); ``--instance`` one that is not there is an error."""
        items = self.eas.instances()
        if self.only is None:
            return items
        chosen = [item for item in items if item.name == self.only]
        if not chosen and not self._followed:
            raise TargetError(f"--instance {self.only}: not an instance of {self.eas.name} (`make status` lists "
                              "them)")
        return chosen

    def poll(self, items: list[InstanceStatus]) -> None:
        """Print the lines of ``items`` not printed yet."""
        self._several = self._several or (self.only is None and len(items) > 1)
        for item in items:
            state = self._followed.setdefault(item.name, _Followed(item.restarts))
            if item.restarts > state.restarts:
                if not self.previous:  # the end of what the container before the restart printed
                    self._print(item.name, self.eas.logs(item.name, self.since, True, skip=state.seen)[0])
                state.restarts, state.seen = item.restarts, 0
                state.done = self.first_run_only
            if state.done:
                continue
            lines, _ = self.eas.logs(item.name, self.since, self.previous, skip=state.seen)
            state.seen += len(lines)
            self._print(item.name, lines)

    def _print(self, instance: str, lines: list[str]) -> None:
        if not lines:
            return
        if self._several and self._header != instance:
            print(f"==> {instance} <==", file=self.console.err, flush=True)
            self._header = instance
        for line in lines:
            self.console.print(line)
            self._seen.update(start for start in self._watch if line.startswith(start))
        self.lines += len(lines)

    def saw(self, start: str) -> bool:
        """Whether a printed line began with ``start`` (one of ``watch``)."""
        return start in self._seen


def show_logs(service: Service, target: Target, console: Console, *, instance: Optional[str] = None,
              since: Optional[str] = None, previous: bool = False, follow: bool = False,
              interval: Optional[float] = None) -> int:
    eas = EasControlPlane(target, service.name, target.credentials_provider())
    if eas.describe() is None:
        print(f"{service.name}: not deployed on the {target.describe()}", file=console.err)
        return 1
    tail = LogTail(eas, console, since=since, previous=previous, instance=instance)
    try:
        if follow:
            follow_logs(tail, interval or poll_interval(target))
        else:
            tail.poll(tail.instances())
    except BrokenPipeError:  # `make logs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python exits
    return 0


def follow_logs(tail: LogTail, interval: float, until: Optional[Callable[[list[InstanceStatus]], bool]] = None,
                timeout: Optional[float] = None) -> bool:
    """Print new lines every ``interval`` seconds until Ctrl-C, ``until(instances)`` (then the last lines are
    printed) or ``timeout``; True when ``until`` ended it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            items = tail.instances()
            finished = until is not None and until(items)
            tail.poll(items)
            if finished:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(interval)
    except KeyboardInterrupt:  # how a follow ends
        return False
