"""The local MaxCompute's commands of ``eas-devkit local``.

``load-table`` loads a CSV or JSON Lines file into a table of the local MaxCompute. The tables live in
``<state dir>/maxcompute`` (the state directory of the local EAS, ``.local-eas`` in the project by default),
where the local MaxCompute serves them from, also while it runs.

``maxcompute-auth`` runs one security statement (``add user``, ``grant``, ``show grants``...) against the
running local MaxCompute, as the project owner, with pyodps's ``run_security_query``.

Wiring into a parent command line: :func:`add_load_table_parser` registers ``load-table``; its handler finds
the state directory with the parent's ``state_dir_of(args)`` and the default MaxCompute project (the
service's, used when ``--maxcompute-project`` is not given) with ``service_project_of(args)``.
:func:`add_maxcompute_auth_parser` registers ``maxcompute-auth``, which reads the running local EAS's state
with the parent's ``running_state(args)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from .catalog import Catalog, CatalogError
from .loader import load_table

MAXCOMPUTE_DIR = "maxcompute"
DESCRIPTION = """\
Load FILE (.csv with a header row, or .jsonl with one JSON object a line) into
table NAME of the local MaxCompute. Column types not given with --types are
inferred: bigint, double, boolean, datetime (YYYY-MM-DD HH:MM:SS) or string.
Empty CSV cells are NULL."""
EXAMPLES = """examples:
  eas-devkit local load-table iris data/iris.csv
  eas-devkit local load-table events events.jsonl --maxcompute-project analytics \\
      --types ts=datetime,amount=decimal(10,2) --replace
"""


def add_load_table_parser(subparsers: Any, state_dir_of: Callable[[argparse.Namespace], Path],
                          service_project_of: Callable[[argparse.Namespace], Optional[str]]) -> argparse.ArgumentParser:
    """Register ``load-table`` on an ``add_subparsers()`` object; its handler is ``args.run``."""
    parser = subparsers.add_parser(
        "load-table", help="load a CSV or JSON Lines file into a local MaxCompute table",
        description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", metavar="NAME", help="the table to create")
    parser.add_argument("file", metavar="FILE", type=Path, help="a .csv or .jsonl file")
    parser.add_argument("--maxcompute-project", metavar="P", default=None,
                        help="the MaxCompute project, created if missing (default: the service's ODPS_PROJECT)")
    parser.add_argument("--types", metavar="COL=TYPE,...", type=parse_types, action=_MergeTypes, default={},
                        help="column types instead of inferred ones, e.g. id=bigint,price=decimal(10,2) "
                             "(repeatable)")
    parser.add_argument("--replace", action="store_true", help="replace the table if it exists")
    parser.set_defaults(run=lambda args: run_load_table(
        args, state_dir_of(args), args.maxcompute_project or service_project_of(args)))
    return parser


def run_load_table(args: argparse.Namespace, state_dir: Path, project: Optional[str]) -> int:
    """Load the file into ``project``, then print what was loaded: the row count and each column with its type."""
    if not project:
        raise ValueError("which MaxCompute project? pass --maxcompute-project")
    catalog = Catalog(state_dir / MAXCOMPUTE_DIR)
    try:
        schema = load_table(catalog, project, args.name, args.file, types=args.types, replace=args.replace)
        rows = catalog.row_count(project, schema.name)
    except CatalogError as error:  # the local EAS's command line reports ValueErrors
        raise ValueError(str(error)) from None
    finally:
        catalog.close()
    print(f"loaded {rows} row{'s' if rows != 1 else ''} into {project}.{schema.name} from {args.file}")
    width = max(len(column.name) for column in schema.columns)
    for column in schema.columns:
        print(f"  {column.name:<{width}}  {column.type}")
    return 0


def parse_types(text: str) -> dict[str, str]:
    """``a=bigint,b=decimal(10,2)`` -> {"a": "bigint", "b": "decimal(10,2)"} (commas in parentheses kept)."""
    types: dict[str, str] = {}
    depth, start = 0, 0
    pieces = []
    for index, char in enumerate(text + ","):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            pieces.append(text[start:index])
            start = index + 1
    for piece in (piece.strip() for piece in pieces if piece.strip()):
        name, equals, type_name = piece.partition("=")
        if not equals or not name.strip() or not type_name.strip():
            raise argparse.ArgumentTypeError(f"{piece!r} is not COLUMN=TYPE")
        types[name.strip()] = type_name.strip()
    return types


class _MergeTypes(argparse.Action):
    """Repeated ``--types`` options add up."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), **values})


AUTH_DESCRIPTION = """\
Run one MaxCompute security statement in the project of the running local
MaxCompute, as the project owner, with pyodps's run_security_query: the
statements of ram/maxcompute-project.sql and the ones to inspect them.

  add user <user>            remove user <user>          list users
  create role <role>         drop role <role>            list roles
  describe role <role>       show grants [for <user>]    whoami
  grant <role> to <user>     revoke <role> from <user>
  grant <privileges> on {project|table} <name> to {user|role} <name>
      [privilegeproperties("policy" = "true", "allow" = "true")]
  revoke <privileges> on {project|table} <name> from {user|role} <name> [...]

A user is ALIYUN$<account>, RAM$<account>:<RAM user> or, for a RAM role,
`RAM$<account>:role/<role>` with its backticks: put the statement in single
quotes, or the shell runs what is between the backticks. A change lasts until
the local EAS stops: every start applies ram/maxcompute-project.sql afresh."""
AUTH_EXAMPLES = """examples:
  eas-devkit local maxcompute-auth 'list users'
  eas-devkit local maxcompute-auth 'show grants for `RAM$1234567890123456:role/my-eas-service-role`'
  eas-devkit local maxcompute-auth 'remove user `RAM$1234567890123456:role/my-eas-service-role`'
"""


def add_maxcompute_auth_parser(subparsers: Any, running_state: Callable[[argparse.Namespace], dict[str, Any]]
                               ) -> argparse.ArgumentParser:
    """Register ``maxcompute-auth`` on an ``add_subparsers()`` object; its handler is ``args.run``."""
    parser = subparsers.add_parser(
        "maxcompute-auth", help="run a security statement (add user, grant, show grants...) in the local MaxCompute",
        description=AUTH_DESCRIPTION, epilog=AUTH_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("statement", metavar="STATEMENT", help="one statement, a final ; allowed")
    parser.add_argument("--maxcompute-project", metavar="P", default=None,
                        help="the MaxCompute project (default: the service's, which the local EAS serves)")
    parser.set_defaults(run=lambda args: run_maxcompute_auth(args, running_state(args)))
    return parser


def run_maxcompute_auth(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """Send the statement with pyodps, signing as the deploying developer (who stands for the project owner
    locally); print MaxCompute's result, or its refusal (exit status 1)."""
    endpoint, project = state.get("odps_endpoint"), args.maxcompute_project or state.get("project")
    if not endpoint or not project:
        raise ValueError("the running local EAS has no MaxCompute: the service's env sets no ODPS_PROJECT")
    from alibabacloud_credentials.provider import URLCredentialsProvider
    from odps import ODPS, errors
    from odps.accounts import CredentialProviderAccount

    from .security_file import refusal_text

    logging.getLogger("odps").setLevel(logging.WARNING)  # pyodps logs STS tokens at INFO
    provider = URLCredentialsProvider(uri=state["deployer_credentials_uri"])
    odps = ODPS(account=CredentialProviderAccount(provider), project=project, endpoint=endpoint,
                logview_host="http://127.0.0.1:9")
    try:
        result = odps.run_security_query(args.statement.strip())
    except errors.ODPSError as error:
        print(f"MaxCompute refused it: {refusal_text(error)}", file=sys.stderr)
        return 1
    if isinstance(result, list):
        print("\n".join(str(item) for item in result) if result else "(none)")
    elif isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
