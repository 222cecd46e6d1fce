"""The process of one instance, run as EAS (which runs it as Kubernetes runs a container) runs it.

* **Start.** The run command is launched; the startup check (when declared) gates the others; the instance
  becomes ready, and the gateway sends it requests, when its readiness check passes (``success_threshold``
  times in a row, after ``initial_delay_seconds``, every ``period_seconds``); without a declared readiness
  check, once its port accepts a connection (EAS's default check). The first start fails when the process
  exits before that, when the startup check fails ``failure_threshold`` times, or when the instance is not
  ready within the local EAS's ready timeout: :meth:`Supervisor.wait_started` says why, and the instance stays
  in the pool as Failed, without traffic, until a later deployment removes it (its process is stopped: on
  EAS it would be retried and stay unready).
* **Running.** A failing readiness check (``failure_threshold`` times in a row) takes the instance out of
  rotation until it passes again. A process that exits, or a liveness check that fails ``failure_threshold``
  times, gets the instance restarted in place (same name, ``RestartCount`` + 1), at once the first time, then
  after 1, 2, 4 … 30 s while it keeps failing (Kubernetes' back-off, shortened). A Warning event says so, with
  the last lines of the output; the restarted process writes a new log and the last one becomes the
  instance's previous log (:mod:`.instance_log`).
* **Stop** (:meth:`Supervisor.stop`). The instance is taken out of rotation (Terminating), the gateway's
  requests in flight on it may finish, then SIGTERM, and SIGKILL when the termination grace period
  (``metadata.eas.termination_grace_period``) is over; the grace period counts from the moment it left the
  rotation, draining included. With ``metadata.rpc.enable_sigterm`` the SIGTERM is sent at once instead.
  EAS waits the whole grace period; the local EAS stops waiting once no gateway request is in flight.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Callable, Optional

from ..instance import Instance
from . import instance_log, probes
from .instances import FAILED, RUNNING, TERMINATING, InstancePool, ServiceInstance
from .policy import InstancePolicy, Probe
from .registry import NORMAL, WARNING

TICK_SECONDS = 0.05  # how often a process's exit and the default TCP check are looked at
MAX_BACKOFF_SECONDS = 30.0

Launch = Callable[[ServiceInstance], Instance]  # starts the run command of an instance, returns its process
Report = Callable[[str, str, str], None]  # (event type, reason, message) -> a service event


class _Stopped(Exception):
    """The instance is being stopped: the watch ends."""


class Supervisor:
    """Starts, checks, restarts and stops the process of one :class:`ServiceInstance` in ``pool``."""

    def __init__(self, pool: InstancePool, instance: ServiceInstance, launch: Launch, policy: InstancePolicy,
                 report: Report, ready_timeout: float, not_ready_hint: str = "") -> None:
        self.pool = pool
        self.instance = instance
        self.policy = policy
        self._launch_process = launch
        self._report = report
        self._ready_timeout = ready_timeout
        self._not_ready_hint = not_ready_hint  # appended to "did not accept connections / pass within"
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a restart never launches a process once stop() began
        self._started = threading.Event()
        self._failure: Optional[str] = None
        self.failure_reason = ""  # why the first start failed: InstanceExited, InstanceNotReady, StartupCheckFailed
        self._log_start = 0  # the first line of the current process's output in the instance's log
        self._liveness_from = 0.0  # when liveness checks may begin (after the startup check)
        self._thread = threading.Thread(target=self._watch, name=f"local-eas-{instance.name}", daemon=True)

    # What the rollout calls.

    def start(self) -> None:
        self._thread.start()

    def wait_started(self) -> Optional[str]:
        """Block until the first start is decided: None once ready, else why it failed (an event's message)."""
        self._started.wait()
        return self._failure

    def stop(self, drain: bool = True) -> str:
        """Stop the instance as EAS does (see the module); returns what happened, for an event."""
        with self._lock:
            self._stopping.set()
        deadline = time.monotonic() + self.policy.grace
        self.pool.update(self.instance, status=TERMINATING, reason="TERMINATING", ready=False, isolated=True)
        process = self.instance.process
        outcome = "it had exited already"
        if process is not None and process.running():
            if self.policy.sigterm_at_once:
                process.terminate()
            if drain and not self.pool.wait_idle(self.instance, self.policy.grace):
                outcome = "requests still in flight at the end of the grace period"
            process.terminate()
            status = process.wait(max(0.0, deadline - time.monotonic()))
            if status is None:
                process.kill()
                status = process.wait(None)
                outcome = f"SIGKILL after the {self.policy.grace:g} s grace period"
            else:
                outcome = f"exited with status {status} after SIGTERM"
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        return outcome

    def output_tail(self) -> str:
        """The last lines the current (or last) process printed."""
        return instance_log.tail(self.instance.log_path, self._log_start)

    # The watch, in its own thread.

    def _watch(self) -> None:
        try:
            self._launch()
            failure = self._until_ready(first=True)
            if failure is not None:
                self.failure_reason = failure[0]
                self._failure = f"instance {self.instance.name} failed to start: {failure[1]}"
                self._fail()
                return
            self._started.set()
            streak = 0
            while True:
                reason, why = self._until_unhealthy()
                while True:  # restarted until it is ready again
                    streak += 1
                    self._report(WARNING, reason, f"instance {self.instance.name}: {why}; restarting it (restart "
                                 f"{self.instance.restarts + 1}). Last lines of its output:\n{self.output_tail()}")
                    self._restart(backoff=0.0 if streak == 1 else min(2.0 ** (streak - 2), MAX_BACKOFF_SECONDS))
                    failure = self._until_ready(first=False)
                    if failure is None:
                        streak = 0
                        break
                    reason, why = failure
        except _Stopped:
            pass
        finally:
            if not self._started.is_set():  # stopped before its first start was decided
                self.failure_reason = self.failure_reason or "InstanceStopped"
                self._failure = self._failure or f"instance {self.instance.name} was stopped before it was ready"
                self._started.set()

    def _launch(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                raise _Stopped
            self._log_start = instance_log.count(self.instance.log_path)  # after the prepare step's lines
            process = self._launch_process(self.instance)
            self.pool.update(self.instance, process=process, status=RUNNING, reason="RUNNING", ready=False,
                             started=time.time())

    def _restart(self, backoff: float) -> None:
        process = self.instance.process
        self.pool.update(self.instance, ready=False, reason="CRASHLOOPBACKOFF" if backoff else "RUNNING")
        if process is not None:
            process.stop(self.policy.grace)  # after a failed liveness check the process is still there
        self._sleep(backoff)
        with self._lock:
            if self._stopping.is_set():
                raise _Stopped
            self.pool.update(self.instance, restarts=self.instance.restarts + 1)
            instance_log.rotate(self.instance.log_path)  # what Previous=true returns
        self._launch()

    def _until_ready(self, first: bool) -> Optional[tuple[str, str]]:
        """Wait until the instance is ready (None), or say why it is not: (event reason, why). Only a first
        start has a deadline; a restarted instance may take as long as its checks let it."""
        began = time.monotonic()
        deadline = began + self._ready_timeout if first else None
        startup, readiness = self.policy.startup, self.policy.readiness
        if startup is not None:
            outcome = self._probe_until_decided(startup, began, deadline, keep_trying=False)
            if outcome is not None:
                return outcome
            began = time.monotonic()  # readiness and liveness checks begin once the startup check passed
        self._liveness_from = began
        if readiness is None:
            while not probes.port_accepts(self.instance.port, timeout=1.0):
                exited = self._exited()
                if exited is not None:
                    return "InstanceExited", exited
                if deadline is not None and time.monotonic() > deadline:
                    return "InstanceNotReady", (f"port {self.instance.port} did not accept connections within "
                                                f"{self._ready_timeout:g} s{self._not_ready_hint}")
                self._sleep(TICK_SECONDS)
        else:
            outcome = self._probe_until_decided(readiness, began, deadline, keep_trying=True)
            if outcome is not None:
                return outcome
        self.pool.update(self.instance, ready=True, reason="RUNNING")
        self._report(NORMAL, "InstanceReady", f"instance {self.instance.name} is ready on 127.0.0.1:"
                     f"{self.instance.port} ({self.policy.describe_readiness()} succeeded)")
        return None

    def _probe_until_decided(self, probe: Probe, began: float, deadline: Optional[float],
                             keep_trying: bool) -> Optional[tuple[str, str]]:
        """Run ``probe`` every period from ``began`` + its initial delay until it passes
        ``success_threshold`` times in a row (None); else why not: the process exited, the deadline passed,
        or (unless ``keep_trying``, as a readiness check does) it failed ``failure_threshold`` times in a row."""
        successes = failures = 0
        due = began + probe.initial_delay
        while True:
            exited = self._exited()
            if exited is not None:
                return "InstanceExited", exited
            now = time.monotonic()
            if deadline is not None and now > deadline:
                return "InstanceNotReady", (f"{probe.field} ({probe.describe()}) did not pass within "
                                            f"{self._ready_timeout:g} s{self._not_ready_hint}")
            if now >= due:
                due = now + probe.period
                if probes.passes(probe, self.instance.port):
                    successes, failures = successes + 1, 0
                    if successes >= probe.success_threshold:
                        return None
                else:
                    successes, failures = 0, failures + 1
                    if failures >= probe.failure_threshold and not keep_trying:
                        return "StartupCheckFailed", f"{probe.field} ({probe.describe()}) failed {failures} times"
            self._sleep(max(0.0, min(TICK_SECONDS, due - time.monotonic())) or TICK_SECONDS)

    def _until_unhealthy(self) -> tuple[str, str]:
        """Watch a ready instance until its process exits or its liveness check fails: (reason, message)."""
        readiness, liveness = self.policy.readiness, self.policy.liveness
        name = self.instance.name
        ready_due = time.monotonic() + (readiness.period if readiness else 0)
        live_due = self._liveness_from + (liveness.initial_delay if liveness else 0)
        ready_failures = ready_successes = live_failures = 0
        while True:
            exited = self._exited()
            if exited is not None:
                return "InstanceExited", exited
            now = time.monotonic()
            if readiness is not None and now >= ready_due:
                ready_due = now + readiness.period
                if probes.passes(readiness, self.instance.port):
                    ready_failures, ready_successes = 0, ready_successes + 1
                    if not self.instance.ready and ready_successes >= readiness.success_threshold:
                        self.pool.update(self.instance, ready=True, reason="RUNNING")
                        self._report(NORMAL, "InstanceReady", f"instance {name} passes its readiness check "
                                     f"({readiness.describe()}) again: back in rotation")
                else:
                    ready_failures, ready_successes = ready_failures + 1, 0
                    if self.instance.ready and ready_failures >= readiness.failure_threshold:
                        self.pool.update(self.instance, ready=False, reason="NOTREADY")
                        self._report(WARNING, "InstanceNotReady", f"instance {name} failed its readiness check "
                                     f"({readiness.describe()}) {ready_failures} times: out of rotation until it "
                                     "passes again")
            if liveness is not None and now >= live_due:
                live_due = now + liveness.period
                if probes.passes(liveness, self.instance.port):
                    live_failures = 0
                else:
                    live_failures += 1
                    if live_failures >= liveness.failure_threshold:
                        return "LivenessCheckFailed", (f"its liveness check ({liveness.describe()}) failed "
                                                       f"{live_failures} times")
            self._sleep(TICK_SECONDS)

    def _fail(self) -> None:
        """The first start failed: no traffic, its process stopped, kept in the pool to be seen."""
        self.pool.update(self.instance, status=FAILED, reason="FAILED", ready=False, isolated=True)
        process = self.instance.process
        if process is not None:
            process.stop(self.policy.grace)
        self._started.set()

    def _exited(self) -> Optional[str]:
        process = self.instance.process
        status = process.exit_status() if process is not None else None
        if status is None:
            return None
        if status < 0:
            return f"the run command was killed by {signal.Signals(-status).name}"
        return f"the run command exited with status {status}"

    def _sleep(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise _Stopped

