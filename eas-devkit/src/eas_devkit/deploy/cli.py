"""The deploy tooling of the kit's command line, one command per step.

    eas-devkit check   [--format text|json] [--target local|cloud]
    eas-devkit deploy  [--skip-check] [--timeout SECONDS]
    eas-devkit status  [--show-token | --export]
    eas-devkit events  [--type Normal|Warning] [--since TIME]
    eas-devkit logs    [--since DURATION|TIME] [--follow] [--instance NAME] [--previous]
    eas-devkit run-script mount/PATH.py [--keep] [--timeout SECONDS]
    eas-devkit delete  [--yes] [--timeout SECONDS]
    eas-devkit load    [--requests N] [--concurrency N] [--path PATH]

``EAS_TARGET=local`` (the default) deploys to the local EAS of ``make dev``; ``EAS_TARGET=cloud`` to PAI-EAS
with the developer's own credentials (see ``target.py``). Exit status: 0 when the command succeeded (for
``check``: no ERROR), 1 when it found a problem, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import calendar
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from ..service_config import selected_environment
from . import doctor
from .target import TARGETS, Service, Target, TargetError, resolve

TARGET_HELP = (f"The target is the environment variable EAS_TARGET ({' or '.join(TARGETS)}, default local): local "
               "is the local EAS of `make dev` (start it first); cloud is PAI-EAS of the service's region with your "
               "own credentials (DefaultCredentialsProvider: environment AccessKey, aliyun CLI profile unless "
               "ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true, ...); "
               "EAS_ENDPOINT and OSS_UPLOAD_ENDPOINT override its endpoints. EAS_ENV=NAME merges "
               "environments/NAME.json into service.json (another service name, instance count, role, bucket…): "
               "check, deploy, status, events and delete then work on that environment's service.")


def run_check(args: argparse.Namespace) -> int:
    report = doctor.check(args.project, check_target(args.target), selected_environment())
    print(report.as_json() if args.format == "json" else report.as_text())
    return 1 if report.errors else 0


def run_deploy(args: argparse.Namespace) -> int:
    from . import commands

    service, target = _service_and_target(args.project)
    return commands.deploy(args.project, service, target, commands.Console(), skip_check=args.skip_check,
                           timeout=args.timeout)


def run_status(args: argparse.Namespace) -> int:
    from . import commands

    service, target = _service_and_target(args.project)
    if args.export:
        return commands.export_endpoint(service, target)
    return commands.show_status(service, target, commands.Console(), show_token=args.show_token)


def run_events(args: argparse.Namespace) -> int:
    from . import commands

    service, target = _service_and_target(args.project)
    return commands.show_events(service, target, commands.Console(), event_type=args.type, since=args.since)


def run_logs(args: argparse.Namespace) -> int:
    from . import commands, logs

    service, target = _service_and_target(args.project)
    return logs.show_logs(service, target, commands.Console(), instance=args.instance, since=args.since,
                          previous=args.previous, follow=args.follow)


def run_run_script(args: argparse.Namespace) -> int:
    from . import commands, run_script

    relative = run_script.script_path(args.project, args.script)  # before anything is looked for
    service, target = _service_and_target(args.project)
    return run_script.run_script(args.project, service, target, commands.Console(), relative, keep=args.keep,
                                 timeout=args.timeout)


def run_delete(args: argparse.Namespace) -> int:
    from . import commands

    service, target = _service_and_target(args.project)
    if not args.yes:
        if not sys.stdin.isatty():
            raise TargetError(f"pass --yes to delete {service.name} from the {target.describe()} "
                              "(there is no terminal to ask)")
        answer = input(f"Delete {service.name} from the {target.describe()}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Not deleted.")
            return 1
    return commands.delete(service, target, commands.Console(), timeout=args.timeout)


def run_load(args: argparse.Namespace) -> int:
    from . import commands, traffic

    service, target = _service_and_target(args.project)
    return traffic.send_load(service, target, commands.Console(), requests=args.requests,
                             concurrency=args.concurrency, path=args.path)


def check_target(given: Optional[str], environ: Mapping[str, str] = os.environ) -> str:
    """What ``check`` checks for: ``--target``, else EAS_TARGET, else local."""
    name = given or environ.get("EAS_TARGET") or doctor.LOCAL
    if name not in doctor.TARGETS:
        raise TargetError(f"EAS_TARGET={name!r}: must be one of {', '.join(doctor.TARGETS)} (or give --target)")
    return name


def _service_and_target(project: Path) -> tuple[Service, Target]:
    service = Service.load(project)
    return service, resolve(project, service)


def count_between(low: int, high: int) -> Any:
    def count(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from {low} to {high}")
        return number

    return count


def request_path(value: str) -> str:
    if not value.startswith("/") or any(character.isspace() for character in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a path starting with / (no spaces), e.g. /health")
    return value


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86_400:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds between 0 and 86400")
    return seconds


DURATION = re.compile(r"(\d+)([smhd])")
SECONDS_PER = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
EAS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # DescribeServiceLog's StartTime, UTC (Go's 2006-01-02 15:04:05)
SINCE_FORMS = "a duration such as 30s, 10m, 2h or 1d, or a UTC time such as 2024-05-21T10:39:29Z or " \
              "'2024-05-21 10:39:29'"


def since_time(value: str, now: Optional[float] = None) -> str:
    """``--since``: a duration back from now, or a UTC time; the UTC time DescribeServiceLog takes."""
    duration = DURATION.fullmatch(value.strip())
    if duration:
        when = (time.time() if now is None else now) - int(duration[1]) * SECONDS_PER[duration[2]]
        return time.strftime(EAS_TIME_FORMAT, time.gmtime(when))
    for form in ("%Y-%m-%dT%H:%M:%SZ", EAS_TIME_FORMAT):
        try:
            return time.strftime(EAS_TIME_FORMAT, time.gmtime(calendar.timegm(time.strptime(value.strip(), form))))
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{value!r} is not {SINCE_FORMS}")


ERRORS = (TargetError, TimeoutError, RuntimeError)  # EasError and UploadError are RuntimeErrors


def add_deploy_commands(commands: Any) -> None:
    """Register check, deploy, status, events, logs, run-script, delete and load on the kit's command line
    (``eas_devkit.cli``)."""

    def command(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=description, epilog=TARGET_HELP)
        sub.set_defaults(errors=ERRORS, error_prefix=name)
        return sub

    check = command(
        "check", "static check of service.json, ram/ and mount/ before deploying (no network)",
        "Check service.json, ram/, mount/ and examples/ against what EAS and RAM will do with them: the schema, the "
        "role (trust policy, PassRole, permissions, NAS mounts and custom images), endpoints, ports, mounts, "
        "requirements, autoscaling and rolling updates, graceful shutdown and request timeouts, health checks, VPC "
        "and resources, and the template's example values. Prints one line per finding, `LEVEL <where>: <what> — "
        "<how to fix>`, then a summary. Exit status 1 when there is an ERROR. Reads files only; never opens a "
        "socket.")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="text for people (default), json for tools: {errors, warnings, target, examined, "
                            "findings}")
    check.add_argument("--target", choices=doctor.TARGETS, default=None,
                       help="what the check is for (default: EAS_TARGET, else local): local, the local EAS, takes the "
                            "template's example values (account ID, bucket, MaxCompute project) with a WARN; cloud "
                            "refuses them with an ERROR. `deploy` checks for its own target.")
    check.set_defaults(run=run_check)

    deploy = command(
        "deploy", "check, upload mount/, create or update the service, wait until it runs",
        "1. the check (stops on an ERROR); 2. upload mount/ to the OSS path of service.json's code mount, skipping "
        "unchanged files (by ETag/CRC-64) and deleting removed ones, with a progress bar; 3. CreateService, or "
        "UpdateService when the service exists; 4. poll DescribeService with a live status line until Running or "
        "Failed; on Failed, print the Warning events, each known one with its fix; 5. print the endpoint and a "
        "curl command with the access token.")
    deploy.add_argument("--skip-check", action="store_true",
                        help="deploy even if the check finds errors (to see what EAS itself says)")
    deploy.add_argument("--timeout", type=positive_seconds, default=900, metavar="SECONDS",
                        help="how long to wait for Running or Failed (default 900)")
    deploy.set_defaults(run=run_deploy)

    status = command("status", "the service's status, endpoint and instances (DescribeService)",
                     "Print the service's status, reason, instances and endpoint. Exit status 1 if it is not "
                     "deployed.")
    shown = status.add_mutually_exclusive_group()
    shown.add_argument("--show-token", action="store_true", help="print the access token in a curl command")
    shown.add_argument("--export", action="store_true",
                       help="print only `export EAS_SERVICE_URL=… EAS_TOKEN=…` lines for a shell: "
                            "eval \"$(eas-devkit status --export)\"")
    status.set_defaults(run=run_status)

    events = command("events", "the service's deployment events, with fixes for known problems",
                     "Print the service's events (DescribeServiceEvent), oldest first; a Warning the guide or the "
                     "template knows comes with its fix.")
    events.add_argument("--type", choices=("Normal", "Warning"), help="only events of this type")
    events.add_argument("--since", metavar="TIME", help="only events from this time, e.g. 2024-05-21T10:39:29Z")
    events.set_defaults(run=run_events)

    logs = command("logs", "the instances' logs: what the service printed (DescribeServiceLog)",
                   "Print the log lines of the service's instances (DescribeServiceLog, every page), oldest first, "
                   "exactly as the service wrote them: JSON lines stay JSON, so `make logs | jq` works. Every "
                   "instance ListServiceInstances lists, unless --instance; with several, a `==> <instance> <==` "
                   "line on stderr says whose lines follow. Exit status 1 if the service is not deployed.")
    logs.add_argument("--since", type=since_time, metavar="DURATION|TIME",
                      help=f"only lines from then on: {SINCE_FORMS}")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing new lines (polling every 0.5 s locally, 3 s in the cloud), instances that "
                           "start meanwhile included, until Ctrl-C")
    logs.add_argument("--instance", metavar="NAME", help="only this instance (`make status` lists them)")
    logs.add_argument("--previous", action="store_true",
                      help="the log of each instance's container before its last restart (why it restarted)")
    logs.set_defaults(run=run_logs)

    script = command(
        "run-script", "run a script of mount/ once on EAS and show its output (then delete its service)",
        "Run `python /mnt/data/<PATH>` once, as the guide *Configure the EAS RAM role* runs its examples: 1. "
        "upload mount/; 2. create (or update) a service of its own, derived from service.json (same image, env, "
        "storage, role and resources; one instance, no autoscaler; named <service>_<script>); 3. print the "
        "script's output (the `logs` code) until it has run; 4. delete that service, unless --keep: EAS runs "
        "services, not jobs, so it restarts an exited run command and keeps billing the instance. Exit status "
        "1 when the script failed (a non-zero exit status the local EAS reports, or a Python traceback in its "
        "output) or did not finish in time.")
    script.add_argument("script", metavar="PATH", help="a .py file under mount/, e.g. mount/list_oss_objects.py")
    script.add_argument("--keep", action="store_true",
                        help="keep the script's service afterwards (EAS restarts the script and bills the instance)")
    script.add_argument("--timeout", type=positive_seconds, default=600, metavar="SECONDS",
                        help="how long to wait for the script to have run (default 600)")
    script.set_defaults(run=run_run_script)

    delete = command("delete", "delete the service (DeleteService) and wait until it is gone",
                     "Delete the service and wait until DescribeService no longer finds it. The code stays in OSS.")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument("--timeout", type=positive_seconds, default=600, metavar="SECONDS",
                        help="how long to wait for the service to be gone (default 600)")
    delete.set_defaults(run=run_delete)

    load = command("load", "send requests to the deployed service and watch its instances (the autoscaler at work)",
                   "Send GET requests to the deployed service through its endpoint, with its access token, from "
                   "--concurrency connections kept alive, with a progress bar; a line on stderr says each change of "
                   "the running instances (DescribeService, every second) and the summary gives the throughput, "
                   "the latency percentiles and the instances at the start and at the end. Exit status 1 if the "
                   "service is not Running or a request is not answered 200.")
    load.add_argument("--requests", type=count_between(1, 10_000_000), default=2000, metavar="N",
                      help="how many requests in all (default 2000)")
    load.add_argument("--concurrency", type=count_between(1, 256), default=8, metavar="N",
                      help="requests in flight at once, each on a connection of its own (default 8)")
    load.add_argument("--path", type=request_path, default="/health",
                      help="the service's path to GET (default /health)")
    load.set_defaults(run=run_load)
