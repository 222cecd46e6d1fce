"""``eas-devkit local ram``: look at and change the local RAM, as the RAM console does in the cloud.

The local EAS creates its RAM from ``ram/`` at every start (the role of ``role_arn`` with
``ram/trust-policy.json``, the RAM user ``developer`` with ``ram/passrole-policy.json``) and re-reads it at
every deployment, so each change here applies to the next ``make deploy`` without a restart. That is how the
guide's troubleshooting cases are reproduced: the project's files are right, the cloud's RAM is not.

    ram show                           the account, its roles (trust policies) and RAM users (policies)
    ram sync                           back to what ram/ describes
    ram delete-role NAME               the guide's "role not found"
    ram set-trust NAME FILE            e.g. a trust policy without eas.pai.aliyuncs.com ("failed to assume role")
    ram detach-policies [USER]         the deploying RAM user loses ram:PassRole
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from .accounts import ACCOUNTS_FILE, DEPLOYER, write_accounts_file, write_project_accounts


def add_ram_parser(subparsers: Any, state_dir_of: Callable[[argparse.Namespace], Path]) -> argparse.ArgumentParser:
    """Register ``ram`` on an ``add_subparsers()`` object; ``state_dir_of(args)`` finds the local EAS."""
    parser = subparsers.add_parser("ram", help="show or change the local RAM (roles, trust, PassRole)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(title="actions", required=True, metavar="ACTION")
    actions.add_parser("show", help="print the local account's roles and RAM users").set_defaults(ram=show)
    actions.add_parser("sync", help="recreate the local RAM from ram/").set_defaults(ram=sync)
    delete = actions.add_parser("delete-role", help="delete a role (the guide's 'role not found')")
    delete.add_argument("name", help="the role name, the part of role_arn after role/")
    delete.set_defaults(ram=delete_role)
    trust = actions.add_parser("set-trust", help="replace a role's trust policy (creates the role if needed)")
    trust.add_argument("name", help="the role name")
    trust.add_argument("file", type=Path, help="the trust policy document (JSON)")
    trust.set_defaults(ram=set_trust)
    detach = actions.add_parser("detach-policies", help="detach every policy of a RAM user (no more PassRole)")
    detach.add_argument("user", nargs="?", default=DEPLOYER, help=f"the RAM user (default: {DEPLOYER})")
    detach.set_defaults(ram=detach_policies)
    parser.set_defaults(run=lambda args: args.ram(args, state_dir_of(args) / ACCOUNTS_FILE))
    return parser


def show(args: argparse.Namespace, path: Path) -> int:
    document = _read(path)
    print(f"local RAM of account {document['account_id']} ({path})")
    for name, trust in document["roles"].items():
        print(f"  role acs:ram::{document['account_id']}:role/{name}, trust policy:")
        print("    " + json.dumps(trust, indent=2).replace("\n", "\n    "))
    if not document["roles"]:
        print("  no roles")
    for user, policies in document["users"].items():
        print(f"  RAM user {user}: {len(policies)} polic{'y' if len(policies) == 1 else 'ies'} attached")
        for policy in policies:
            print("    " + json.dumps(policy, indent=2).replace("\n", "\n    "))
    return 0


def sync(args: argparse.Namespace, path: Path) -> int:
    write_project_accounts(path, args.project.resolve())
    print(f"local RAM recreated from {args.project.resolve() / 'ram'}")
    return 0


def delete_role(args: argparse.Namespace, path: Path) -> int:
    def change(document: dict[str, Any]) -> None:
        if document["roles"].pop(args.name, None) is None:
            roles = ", ".join(document["roles"]) or "none"
            raise ValueError(f"ram delete-role: no role {args.name!r} (roles: {roles})")
    _edit(path, change)
    print(f"role {args.name} deleted from the local RAM")
    return 0


def set_trust(args: argparse.Namespace, path: Path) -> int:
    try:
        trust = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"ram set-trust: {args.file}: {error}") from None
    _edit(path, lambda document: document["roles"].__setitem__(args.name, trust))
    print(f"role {args.name}: trust policy replaced with {args.file}")
    return 0


def detach_policies(args: argparse.Namespace, path: Path) -> int:
    def change(document: dict[str, Any]) -> None:
        if args.user not in document["users"]:
            raise ValueError(f"ram detach-policies: no RAM user {args.user!r}")
        document["users"][args.user] = []
    _edit(path, change)
    print(f"RAM user {args.user}: every policy detached (no ram:PassRole any more)")
    return 0


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: start the local EAS first (`make dev`)")
    return json.loads(path.read_text(encoding="utf-8"))


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = _read(path)
    change(document)
    write_accounts_file(path, document["account_id"], document["roles"], document["users"])
