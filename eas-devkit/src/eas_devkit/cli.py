"""eas-devkit: one command for everything around the service, each subcommand with its --help.

    eas-devkit [--project DIR] local up|demo|exec|rotate|outage|fault|ram|load-table   the local EAS
    eas-devkit [--project DIR] check|deploy|status|events|logs|run-script|delete|load  the deploy tooling
    eas-devkit [--project DIR] bench                                                   the benchmarks

Every command works on the project directory given with --project (default: the current directory),
never on a directory of its own. Exit status: 0 on success, 1 when the command found a problem, 2 on a
usage error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from . import __version__, hermetic


def devkit_command(project: Path) -> list[str]:
    """This command line for ``project``, run by this Python (``python -m eas_devkit --project …``): how the
    kit starts itself in a subprocess."""
    return [sys.executable, "-m", "eas_devkit", "--project", str(project)]


def project_directory(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path.resolve()


def build_parser() -> argparse.ArgumentParser:
    from .bench.cli import add_bench_parser
    from .deploy.cli import TARGET_HELP, add_deploy_commands
    from .local.cli import add_local_parser

    parser = argparse.ArgumentParser(prog="eas-devkit", description=__doc__, epilog=TARGET_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"eas-devkit {__version__}")
    parser.add_argument("--project", type=project_directory, default=None, metavar="DIR",
                        help="the service's project directory: service.json, ram/, mount/ (default: the current one)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    add_local_parser(commands)
    add_deploy_commands(commands)
    add_bench_parser(commands)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    args.project = args.project or Path.cwd().resolve()
    if getattr(args, "hermetic", None):  # local and bench: never the developer's own credentials
        hermetic.make_this_process_hermetic(args.hermetic)
    try:
        return args.run(args)
    except args.errors as error:
        print(f"{args.error_prefix}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{args.error_prefix}: interrupted", file=sys.stderr)
        return 130
