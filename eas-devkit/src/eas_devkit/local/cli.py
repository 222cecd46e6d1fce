"""eas-devkit local: the local stand-in for EAS and the cloud services the instance uses.

    up          start the credentials endpoint, OSS, MaxCompute, the EAS control plane and gateway, and the
                service (what `make dev` runs); `make deploy` deploys to it; a save under mount/ restarts
                the service (--no-reload: not)
    demo        start everything, call the service, print what it answered, stop (or --keep running)
    exec        run a command inside the instance's environment, e.g. the guide's example scripts
    rotate      issue new instance credentials now (the service must not notice: it keeps its cached ones
                until 15 minutes before they expire, and both stay valid)
    outage      take the credentials endpoint and file away (on), or bring them back (off)
    fault       make the local OSS or MaxCompute fail on demand (5xx, resets, truncated bodies, latency)
    ram         show or change the local RAM: delete the role, edit its trust, detach PassRole
    load-table  load a CSV or JSON Lines file into a table of the local MaxCompute
    maxcompute-auth
                run a security statement (add user, grant, show grants...) in the local MaxCompute, as the
                project owner: what ram/maxcompute-project.sql runs at every start
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..deploy.cli import positive_seconds
from ..service_config import SERVICE_JSON, load_service_config
from . import STATE_DIR
from .control_plane.cli import add_ram_parser
from .control_plane.policy import AUTOSCALE_INTERVAL_SECONDS
from .faults import KINDS, summary
from .instance import InstanceError, ServiceSpec
from .maxcompute.cli import add_load_table_parser, add_maxcompute_auth_parser
from .run_secret import admin_headers

if TYPE_CHECKING:
    from .stack import Settings

ERRORS = (InstanceError, FileNotFoundError, ValueError)  # PolicyError is a ValueError


def add_local_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``local`` and its commands on the kit's command line (``eas_devkit.cli``)."""
    parser = commands.add_parser("local", help="the local EAS: up, demo, exec, rotate, outage, fault, ram, "
                                               "load-table, maxcompute-auth", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                        help=f"where buckets, credentials and state.json live; default: <project>/{STATE_DIR}")
    parser.set_defaults(errors=ERRORS, error_prefix="local EAS", hermetic="local-eas")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def add_stack_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--credentials-lifetime", type=float, default=3600, metavar="SECONDS",
                             help="how long each issued credential is valid (default 3600, as on EAS)")
        command.add_argument("--rotate-every", type=float, default=None, metavar="SECONDS",
                             help="issue new credentials this often (default: at half the lifetime)")
        command.add_argument("--port", type=int, default=0, help="the service's local port (default: a free one)")
        command.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", type=env_assignment,
                             help="override a variable of service.json's container env, locally (repeatable)")
        command.add_argument("--deny", action="append", default=[], metavar="ACTION",
                             help="refuse a RAM action to the role on top of its policy, e.g. oss:PutObject or "
                                  "'odps:*' (repeatable)")
        command.add_argument("--permission-policy", type=Path, default=None, metavar="FILE",
                             help="the custom role's permission policy (default: ram/permission-policy.json); "
                                  "edits apply at once, as in RAM")
        command.add_argument("--tls", action="store_true",
                             help="give the service the local OSS and MaxCompute over HTTPS, as on EAS, with a CA "
                                  "of this run's that only the service trusts (<state dir>/tls/ca.pem)")
        command.add_argument("--autoscale-interval", type=positive_seconds, default=AUTOSCALE_INTERVAL_SECONDS,
                             metavar="SECONDS", help="how often the autoscaler of a deployed service measures and "
                                                     f"scales (default {AUTOSCALE_INTERVAL_SECONDS:g})")
        command.add_argument("--no-credentials-uri", action="store_true",
                             help="inject only the credentials file, not ALIBABA_CLOUD_CREDENTIALS_URI (method 3)")

    up = commands.add_parser("up", help="start everything and keep running until Ctrl-C (make dev)",
                             description="Start the local EAS and the service, and keep running until Ctrl-C. "
                                         "A file saved under mount/ restarts the service's process with the new "
                                         "code (one status line says which files and how it went); the local "
                                         "EAS keeps running: the same credentials, buckets and tables.")
    add_stack_options(up)
    up.add_argument("--quiet", action="store_true",
                    help="write the service's output to <state dir>/logs/, not the terminal")
    up.add_argument("--no-reload", action="store_true",
                    help="do not restart the service when a file under mount/ changes (make dev RELOAD=0)")
    up.set_defaults(run=run_up)

    demo = commands.add_parser("demo", help="start everything, call the service, show what it answered")
    add_stack_options(demo)
    demo.add_argument("--keep", action="store_true", help="keep running afterwards (Ctrl-C stops)")
    demo.set_defaults(run=run_demo)

    exec_ = commands.add_parser("exec", help="run a command in the running instance's environment")
    exec_.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    exec_.set_defaults(run=run_exec)

    rotate = commands.add_parser("rotate", help="issue new instance credentials now",
                                 description="Issue new instance credentials now, as EAS does before the current "
                                             "ones expire. The running service keeps the ones it cached until 15 "
                                             "minutes before they expire (alibabacloud_credentials' refresh "
                                             "margin); both stay valid, so no request fails. A new instance gets "
                                             "the new ones at once.")
    rotate.set_defaults(run=run_rotate)
    outage = commands.add_parser("outage", help="make the instance credentials unavailable, or available again",
                                 description="on: the credentials endpoint answers 503 and the credentials file "
                                             "is gone, as in an incident; off: both are back, with fresh "
                                             "credentials. The service must keep serving while its cached "
                                             "credentials last, and answer 503 with Retry-After after that.")
    outage.add_argument("state", choices=("on", "off"))
    outage.set_defaults(run=run_outage)
    add_fault_parser(commands)
    add_ram_parser(commands, state_dir_of)
    add_load_table_parser(commands, state_dir_of, service_odps_project)
    add_maxcompute_auth_parser(commands, running_state)
    return parser


def service_odps_project(args: argparse.Namespace) -> Optional[str]:
    """The MaxCompute project of service.json's env, if the service has one (load-table's default)."""
    if not (args.project / SERVICE_JSON).is_file():
        return None
    return ServiceSpec.of(load_service_config(args.project).config).env.get("ODPS_PROJECT")


def state_dir_of(args: argparse.Namespace) -> Path:
    return (args.state_dir or args.project / STATE_DIR).resolve()


def running_state(args: argparse.Namespace) -> dict[str, Any]:
    """The state.json of the running local EAS (a FileNotFoundError saying how to start it if there is none)."""
    from .stack import read_state

    return read_state(state_dir_of(args))


def settings_from(args: argparse.Namespace, log_to_console: bool) -> Settings:
    from .stack import Settings

    project = args.project.resolve()
    if not (project / "service.json").is_file():
        raise FileNotFoundError(f"no service.json in {project}: run in the service's project directory, or pass "
                                "eas-devkit --project DIR")
    return Settings(
        project=project,
        state_dir=state_dir_of(args),
        credentials_lifetime=args.credentials_lifetime,
        rotate_every=args.rotate_every,
        service_port=args.port,
        log_to_console=log_to_console,
        env_overrides=dict(args.env),
        denied_actions=args.deny,
        permission_policy=args.permission_policy.resolve() if args.permission_policy else None,
        inject_credentials_uri=not args.no_credentials_uri,
        tls=args.tls,
        autoscale_interval=args.autoscale_interval,
    )


def env_assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def run_up(args: argparse.Namespace) -> int:
    from .stack import LocalEAS

    local_eas = LocalEAS(settings_from(args, log_to_console=not args.quiet))
    print(f"local EAS: starting the credentials endpoint, OSS and {local_eas.spec.name} of "
          f"{local_eas.config.describe()}…", flush=True)
    state = local_eas.start()
    print_urls(state, local_eas.settings.state_file)
    reloader = None
    if not args.no_reload:
        from .reload import MountReloader

        reloader = MountReloader(local_eas, local_eas.mount_dir, say=lambda line: print(line, flush=True)).start()
        print(f"A save under {local_eas.mount_dir} restarts the service (--no-reload: not).", flush=True)
    print("Ctrl-C stops everything.", flush=True)
    wait_for_signal()
    print("local EAS: stopping (SIGTERM to the service, then the local services)…", flush=True)
    if reloader is not None:
        reloader.stop()
    local_eas.stop()
    print("local EAS: stopped.", flush=True)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from .stack import LocalEAS

    local_eas = LocalEAS(settings_from(args, log_to_console=False))
    print(f"local EAS: starting {local_eas.spec.name} with its credentials endpoint and OSS on 127.0.0.1…",
          flush=True)
    state = local_eas.start()
    try:
        print(f"local EAS: ready — service at {state['service_url']}\n")
        show_service(state, local_eas.spec.has_role)
        if args.keep:
            print()
            print_urls(state, local_eas.settings.state_file)
            print("Still running (KEEP=1). Ctrl-C stops everything.", flush=True)
            wait_for_signal()
    finally:
        local_eas.stop()
        print("\nlocal EAS: stopped everything (the service and the local cloud services).")
    return 0


def run_exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValueError("exec needs a command, e.g. `eas-devkit local exec -- python mount/list_oss_objects.py`")
    state = running_state(args)
    return subprocess.call(command, env=state["env"], cwd=args.project)


def run_rotate(args: argparse.Namespace) -> int:
    state = running_state(args)
    rotated = admin_ok(args, "POST", "/rotate")
    print(f"new instance credentials: {rotated['access_key_id']}, expiring {rotated['expiration']}")
    print(cached_credentials_note(state, rotated["access_key_id"]))
    return 0


def cached_credentials_note(state: dict[str, Any], new_key: str) -> str:
    """Why the running service does not show the new key yet: the key it does use, and when it changes."""
    try:
        status, used = call(state["service_url"] + "/credentials")
    except (OSError, ValueError):
        status, used = 0, {}
    key = used.get("access_key_id") if status == 200 else None
    if key == new_key:  # each gunicorn worker caches its own: this one had fetched none yet
        in_use = f"signs with {new_key} already (the worker that answered had none cached yet)"
    elif key:
        in_use = f"still signs with {key}, which it cached" + (
            f" (expiring {used['expiration']})" if used.get("expiration") else "")
    else:
        in_use = "keeps the credentials it cached"
    return (f"The service at {state['service_url']} {in_use}:\n"
            f"alibabacloud_credentials fetches new credentials only 15 minutes before the cached ones expire. "
            f"Both stay\nvalid until then, so no request fails; an instance started from now on (a redeploy, a "
            f"restart) gets {new_key}.")


def run_outage(args: argparse.Namespace) -> int:
    on = "true" if args.state == "on" else "false"
    outage = admin_ok(args, "POST", f"/outage?on={on}")["outage"]
    print("instance credentials: " + ("UNAVAILABLE (endpoint 503, file removed)" if outage else "available again"))
    return 0


FAULT_HELP = """Backend faults: the local OSS or MaxCompute fails matching requests, as the cloud services sometimes do.

    status    answer with a 5xx (--status, default 503) and the service's own error XML
    reset     reset the TCP connection (RST) before any response
    truncate  send the real response's headers and only half of its body, then close
    latency   wait --seconds before answering

A rule applies to --count matching requests (default: until `fault clear`); --method and --path (a glob of
the request path, e.g. '/*/data/*' for OSS or '/api/projects/*/tables/*' for MaxCompute) narrow it."""


def add_fault_parser(commands: Any) -> None:
    fault = commands.add_parser("fault", help="inject backend faults into the local OSS or MaxCompute",
                                description=FAULT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = fault.add_subparsers(title="targets", required=True, metavar="oss|maxcompute|list|clear")
    for service in ("oss", "maxcompute"):
        inject = targets.add_parser(service, help=f"add a fault rule for the local {service}",
                                    description=FAULT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        inject.add_argument("kind", choices=KINDS, help="the kind of fault")
        inject.add_argument("--status", type=int, default=None, help="the 5xx status of kind status (default 503)")
        inject.add_argument("--seconds", type=float, default=None, help="the delay of kind latency")
        inject.add_argument("--count", type=int, default=None,
                            help="how many matching requests get the fault (default: until cleared)")
        inject.add_argument("--method", default=None, help="only requests with this method, e.g. GET or PUT")
        inject.add_argument("--path", default=None, metavar="GLOB", help="only requests whose path matches")
        inject.set_defaults(run=run_fault_add, service=service)
    listing = targets.add_parser("list", help="show the fault rules, and how often each was injected")
    listing.set_defaults(run=run_fault_list)
    clear = targets.add_parser("clear", help="remove every fault rule: the local services answer normally")
    clear.set_defaults(run=run_fault_clear)


def run_fault_add(args: argparse.Namespace) -> int:
    rule = {name: getattr(args, name) for name in ("service", "kind", "status", "seconds", "count", "method", "path")
            if getattr(args, name) is not None}
    status, body = admin_call(args, "POST", "/faults", rule)
    if status != 201:
        print(f"fault refused: {body.get('Message', body)}", file=sys.stderr)
        return 2
    print(f"fault added: {body['description']}")
    return 0


def run_fault_list(args: argparse.Namespace) -> int:
    print(summary(admin_call(args, "GET", "/faults")[1]))
    return 0


def run_fault_clear(args: argparse.Namespace) -> int:
    body = admin_call(args, "DELETE", "/faults")[1]
    print(f"faults cleared: {body['cleared']} rule(s) removed; the local services answer normally "
          f"({body['injected']} faults injected since the start)")
    return 0


def admin_call(args: argparse.Namespace, method: str, path: str, document: Optional[dict] = None) -> tuple[int, Any]:
    state = running_state(args)
    data = json.dumps(document).encode() if document is not None else None
    request = urllib.request.Request(state["admin_url"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **admin_headers(state)})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def admin_ok(args: argparse.Namespace, method: str, path: str) -> Any:
    """The answer of an admin route; a ValueError (printed by ``main``) if the local EAS refused."""
    status, body = admin_call(args, method, path)
    if status >= 400:
        raise ValueError(f"{method} /admin{path} answered {status}: {body.get('Message', body)}")
    return body


def show_service(state: dict[str, Any], has_role: bool) -> None:
    """Call the service as a client would, and print what it answered."""
    status, body = call(state["service_url"] + "/health")
    print(f"GET /health       → {status} {json.dumps(body)}")
    if has_role:
        status, body = call(state["service_url"] + "/credentials")
        if status == 200:
            print(f"GET /credentials  → {status} source={body['source']} access_key_id={body['access_key_id']} "
                  f"expires={body['expiration']}")
        else:
            print(f"GET /credentials  → {status} {json.dumps(body)}")
    if state.get("bucket"):
        status, body = call(state["service_url"] + "/oss/objects?max_keys=10")
        print(f"GET /oss/objects  → {status}, the first objects of the demo bucket oss://{state['bucket']}/"
              f"{state['env'].get('OSS_DATA_PREFIX', '')}:")
        for item in body.get("objects", []) if status == 200 else []:
            print(f"    {item['key']:<28} {item['size']:>6} B  {item['last_modified']}")
        if status != 200:
            print(f"    {json.dumps(body)}")
    if state.get("project"):
        status, body = call(state["service_url"] + "/maxcompute/tables")
        listed = ", ".join(body["tables"]) if status == 200 else json.dumps(body)
        print(f"GET /maxcompute/tables → {status}, the tables of the MaxCompute project {state['project']}: {listed}")


def call(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def print_urls(state: dict[str, Any], state_file: Path) -> None:
    print(f"  service          {state['service_url']}")
    if state.get("credentials_uri"):
        print(f"  credentials URI  {state['credentials_uri']}")
        print(f"  credentials file {state['credentials_file']}")
    print(f"  OSS endpoint     {state['oss_endpoint']}  (bucket {state['bucket']}, region {state['region']})")
    if state.get("odps_endpoint"):
        print(f"  MaxCompute       {state['odps_endpoint']}  (project {state['project']})")
        if state.get("maxcompute_grants"):
            print(f"                   {state['maxcompute_grants']}")
    print(f"  EAS control plane {state['eas_endpoint']}  (make deploy / status / events / delete deploy to it)")
    print(f"  EAS gateway      {state['gateway_url']}/api/predict/<service>")
    print(f"  state            {state_file}")
    project = Path(state["project_dir"])
    if (project / "mount" / "list_oss_objects.py").exists():
        print("  the guide's example that lists OSS objects, inside the instance:\n"
              f"    eas-devkit --project {project} local --state-dir {state['state_dir']} "
              "exec -- python mount/list_oss_objects.py")
    sys.stdout.flush()


def wait_for_signal() -> None:
    # Not a threading.Event set from the handler: the handler runs in the main thread, which may be inside
    # Event.wait() holding the Event's (non-reentrant) lock, and then set() waits for it forever (seen under
    # load: `make dev` ignoring SIGTERM). Appending to a list takes no lock.
    received: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _frame: received.append(number))
    while not received:
        time.sleep(0.2)

