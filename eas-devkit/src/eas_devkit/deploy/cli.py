"""The deploy tooling of the kit's command line, one command per step.

    eas-devkit check   [--format text|json] [--target local|cloud]
    eas-devkit deploy  [--skip-check] [--timeout SECONDS]
    eas-devkit status  [--show-token | --export]
    eas-devkit events  [--type Normal|Warning] [--since TIME]
    eas-devkit delete  [--yes] [--timeout SECONDS]

``EAS_TARGET=local`` (the default) deploys to the local EAS of ``make dev``; ``EAS_TARGET=cloud`` to PAI-EAS
with the developer's own credentials (see ``target.py``). Exit status: 0 when the command succeeded (for
``check``: no ERROR), 1 when it found a problem, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
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


def check_target(given: Optional[str], environ: Mapping[str, str] = os.environ) -> str:
    """What ``check`` checks for: ``--target``, else EAS_TARGET, else local."""
    name = given or environ.get("EAS_TARGET") or doctor.LOCAL
    if name not in doctor.TARGETS:
        raise TargetError(f"EAS_TARGET={name!r}: must be one of {', '.join(doctor.TARGETS)} (or give --target)")
    return name


def _service_and_target(project: Path) -> tuple[Service, Target]:
    service = Service.load(project)
    return service, resolve(project, service)


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86_400:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds between 0 and 86400")
    return seconds


ERRORS = (TargetError, TimeoutError, RuntimeError)  # EasError and UploadError are RuntimeErrors


def add_deploy_commands(commands: Any) -> None:
    """Register check, deploy, status, events and delete on the kit's command line (``eas_devkit.cli``)."""

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

    delete = command("delete", "delete the service (DeleteService) and wait until it is gone",
                     "Delete the service and wait until DescribeService no longer finds it. The code stays in OSS.")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument("--timeout", type=positive_seconds, default=600, metavar="SECONDS",
                        help="how long to wait for the service to be gone (default 600)")
    delete.set_defaults(run=run_delete)
