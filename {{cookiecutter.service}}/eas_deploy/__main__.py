"""``python -m eas_deploy``: the service's deploy tooling, one subcommand per step.

    python -m eas_deploy check [--project DIR] [--format text|json]

Exit status: 0 when the command succeeded (for ``check``: no ERROR), 1 when it found a problem, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from . import doctor


def run_check(args: argparse.Namespace) -> int:
    report = doctor.check(args.project)
    print(report.as_json() if args.format == "json" else report.as_text())
    return 1 if report.errors else 0


def project_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eas_deploy",
        description="Deploy tooling of this PAI-EAS service, run on the developer's machine.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="static check of service.json, ram/ and mount/ before deploying (no network)",
        description="Check service.json, ram/ and mount/ against what EAS and RAM will do with them: the schema, "
                    "the role (trust policy, PassRole, permissions), endpoints, ports, mounts and requirements. "
                    "Prints one line per finding, `LEVEL <where>: <what> — <how to fix>`, then a summary. "
                    "Exit status 1 when there is an ERROR. Reads files only; never opens a socket.",
    )
    check.add_argument("--project", type=project_dir, default=Path("."), metavar="DIR",
                       help="the project directory (default: the current directory)")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="text for people (default), json for tools: {errors, warnings, examined, findings}")
    check.set_defaults(run=run_check)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
