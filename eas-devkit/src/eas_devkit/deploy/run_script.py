"""What ``run-script`` does: run a script of mount/ once on EAS, as the guide runs its examples, and show its output.

The guide *Configure the EAS RAM role* deploys its example scripts with the run command
``python /mnt/data/xx.py`` and reads what they print in the service logs. ``run-script mount/x.py`` does
that with a service of its own, derived from service.json (same image, env, storage, role, resources; one
instance, no autoscaler; named ``<service>_<script>``): it uploads mount/ and creates (or updates) that
service with deploy's code, follows its log with the ``logs`` code until the script has run, and deletes
the service unless ``--keep``.

Why delete (our reading, inferred from how EAS runs containers, not documented for scripts): EAS runs
services, not jobs. A run command that exits is a crashed container to EAS, which restarts it (Kubernetes'
``restartPolicy: Always``) and keeps billing the instance. So the script "has run" when its instance
restarted once or failed (the local EAS fails an instance whose run command exits before it is ready).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Optional

from .commands import Console, create_or_update, delete, poll_interval, upload
from .eas import FAILED, EasControlPlane, InstanceStatus
from .logs import LogTail, follow_logs
from .target import Service, Target, TargetError

NAME_RULE = re.compile(r"[a-z][a-z0-9_]{2,62}")  # EAS's service names
PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # what the local EAS accepts in the run command
MOUNT_PATH = "/mnt/data"
TRACEBACK = "Traceback (most recent call last):"
EXIT_STATUS = re.compile(r"the run command exited with status (\d+)")  # the local EAS's InstanceFailed event


def script_path(project: Path, given: str) -> PurePosixPath:
    """``given`` as a path relative to mount/, or a :class:`TargetError` naming the rule it breaks."""
    mount = (project / "mount").resolve()
    path = (project / given).resolve() if not Path(given).is_absolute() else Path(given).resolve()
    if mount not in path.parents or path.suffix != ".py":
        raise TargetError(f"{given}: the script must be a .py file under mount/ (EAS runs it from the code "
                          f"mount, {MOUNT_PATH}/), e.g. mount/list_oss_objects.py")
    if not path.is_file():
        raise TargetError(f"{given}: no such file")
    relative = PurePosixPath(path.relative_to(mount).as_posix())
    if not all(PATH_PART.fullmatch(part) for part in relative.parts):
        raise TargetError(f"{given}: each part of the path must be letters, digits, _ . - (not starting with . or "
                          "-), so the run command holds nothing a shell would interpret")
    return relative


def script_service(service: Service, relative: PurePosixPath) -> Service:
    """service.json for running ``relative`` once: its own name, one instance, the script as run command."""
    config = json.loads(service.config_text)
    name = re.sub(r"[^a-z0-9_]", "_", f"{service.name}_{relative.stem}".lower())[:63]
    if not NAME_RULE.fullmatch(name):
        raise TargetError(f"{name}: cannot derive a service name from {service.name} and {relative} (the rule is "
                          f"{NAME_RULE.pattern})")
    config["metadata"]["name"] = name
    config["metadata"]["instance"] = 1
    config.pop("autoscaler", None)
    config["containers"][0]["script"] = f"python {MOUNT_PATH}/{relative}"
    return replace(service, name=name, config_text=json.dumps(config, indent=2, ensure_ascii=False))


def run_script(project: Path, service: Service, target: Target, console: Console, relative: PurePosixPath, *,
               keep: bool = False, timeout: float = 600, interval: Optional[float] = None) -> int:
    """Run ``relative`` (a :func:`script_path`) once; 0 when it ran and its output was shown."""
    derived = script_service(service, relative)
    console.print(f"Running {MOUNT_PATH}/{relative} once as service {derived.name} on the {target.describe()}")
    provider = target.credentials_provider()
    upload(project, service, target, provider, console, "[1/4]")
    eas = EasControlPlane(target, derived.name, provider)
    try:
        _, earlier_warnings = create_or_update(eas, derived, console, "[2/4]")
        console.print(f"[3/4] its output (until the script has run; at most {timeout:g} s):")
        tail = LogTail(eas, console, first_run_only=True, watch=(TRACEBACK,))
        ran = follow_logs(tail, interval or poll_interval(target), until=_has_run, timeout=timeout)
        failure = _failure(eas, tail, earlier_warnings) if ran else None
    finally:
        if keep:
            console.print(f"[4/4] kept {derived.name} (--keep): EAS restarts its exited run command and bills the "
                          "instance; the same run-script without --keep runs it once more and deletes it")
        else:
            console.print(f"[4/4] deleting {derived.name}: EAS runs services, not jobs (it would restart the script "
                          "and bill the instance)")
            delete(derived, target, console, interval=interval)
    if not ran:
        console.print(f"The script did not finish within {timeout:g} s (or was interrupted).")
        return 1
    if failure:
        console.print(f"The script failed: {failure}")
        return 1
    console.print(f"The script ran ({tail.lines} line{'' if tail.lines == 1 else 's'} of output).")
    return 0


def _has_run(instances: list[InstanceStatus]) -> bool:
    return bool(instances) and all(item.status == FAILED or item.restarts >= 1 for item in instances)


def _failure(eas: EasControlPlane, tail: LogTail, earlier_warnings: int) -> Optional[str]:
    """Why the script failed, when that can be told: its exit status (the local EAS says it), a traceback."""
    for event in eas.events("Warning")[earlier_warnings:]:
        status = EXIT_STATUS.search(event.message)
        if status and status[1] != "0":
            return f"it exited with status {status[1]}"
    return "its output has a Python traceback" if tail.saw(TRACEBACK) else None
