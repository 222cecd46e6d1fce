"""Write rows to a MaxCompute table with pyodps, then read them back, inside the instance (its role's credentials):

    eas-devkit local exec -- python examples/write_maxcompute_rows.py --partition ds=20261201 --rows 5

It appends sample orders to a partition of the demo table ``sales`` with
``table.open_writer(partition=..., create_partition=True)``: the partition is created if missing, and the rows
go up through one table-tunnel upload session, committed when the ``with`` block ends (all or none). Then it
reads the partition back with ``open_reader``. For a table of your own, change ``TABLE`` and ``sample_orders()``.
{% if cookiecutter.role == 'custom' %}
The service's ``ram/permission-policy.json`` grants no write: under it the recipe stops with ``NoPermission``
and prints the statements to add (examples/README.md explains them): grant ``odps:Update``, ``odps:Alter``
{% if not cookiecutter.maxcompute_sql %}and, for the SQL job of ``create_partition``, ``odps:CreateInstance`` and ``odps:Read`` {% endif %}to a role that writes.
{%- else %}
The PAI default role writes where the service's owner may write; a ``NoPermission`` names the action to ask the
project's owner for.
{%- endif %}
Exit status: 0 when the rows were written and read back, 1 when MaxCompute refused or a check failed, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import datetime
{%- if cookiecutter.role == 'custom' %}
import json
{%- endif %}
import logging
import os
import random
import re
import sys
import time
from decimal import Decimal
from typing import Any, Optional

import requests
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import DefaultCredentialsProvider
from odps import ODPS
from odps import errors as odps_errors
from odps.accounts import CredentialProviderAccount

TABLE = "sales"
PRODUCTS = {"tea": Decimal("12.50"), "coffee": Decimal("18.00"), "cake": Decimal("9.90"), "juice": Decimal("7.20")}
# What writing needs beyond the service's read-only policy: the upload session (odps:Update) and
# create_partition's ALTER TABLE ... ADD PARTITION (odps:Alter), which pyodps runs as a SQL job.
TABLE_ACTIONS = ["odps:Update", "odps:Alter"]


class Failure(Exception):
    """A check failed; the message says which and why."""


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    # pyodps logs the whole STS token at INFO when it reloads credentials: never let it reach a log.
    logging.getLogger("odps").setLevel(logging.WARNING)
    project = os.environ.get("ODPS_PROJECT",
                             "{{ cookiecutter.odps_project }}")
    endpoint = os.environ.get("ODPS_ENDPOINT", "https://service.{{ cookiecutter.region }}-vpc.maxcompute.aliyun-inc.com/api")
    odps = ODPS(
        account=CredentialProviderAccount(DefaultCredentialsProvider()),
        project=project,
        endpoint=endpoint,
        region_name=os.environ.get("REGION", "{{ cookiecutter.region }}"),
        logview_host="http://logview.aliyun.com",  # given, so that creating the client makes no request
    )
    orders = sample_orders(args.rows, args.partition)
    try:
        table = odps.get_table(TABLE)
        write(table, args.partition, orders)
        check_read_back(table, args.partition, orders)
    except odps_errors.NoPermission as error:
        print(f"FAILED: NoPermission: {error.args[0] if error.args else error}")
        print(permission_advice(project))
        return 1
    except odps_errors.ODPSError as error:
        print(f"FAILED: MaxCompute answered {type(error).__name__}: {error.args[0] if error.args else error}")
        return 1
    except requests.exceptions.RequestException as error:
        print(f"FAILED: cannot reach MaxCompute at {endpoint} ({type(error).__name__})")
        return 1
    except CredentialException as error:
        print(f"FAILED: no credentials ({error}). Run it inside the instance: "
              "eas-devkit local exec -- python examples/write_maxcompute_rows.py")
        return 1
    except Failure as failure:
        print(f"FAILED: {failure}")
        return 1
    print("OK")
    return 0


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    parser.add_argument("--partition", default=f"ds={today}",
                        help=f"the partition of {TABLE} to write, created if missing (default: today, ds={today})")
    parser.add_argument("--rows", type=int, default=3, help="how many sample orders to write (default 3)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"ds=\d{8}", args.partition):
        parser.error(f"--partition {args.partition!r}: {TABLE} is partitioned by ds, a date as yyyymmdd: ds=20261201")
    if not 1 <= args.rows <= 10_000:
        parser.error("--rows must be between 1 and 10000")
    return args


def sample_orders(count: int, partition: str) -> list[list[Any]]:
    """Rows in the column order of ``sales`` (order_id, product, quantity, price, sold_at); order ids start from
    the current time in milliseconds, so that runs do not collide."""
    day = datetime.datetime.strptime(partition.split("=", 1)[1], "%Y%m%d")
    first_id = int(time.time() * 1000)
    rows = []
    for index in range(count):
        product = random.choice(sorted(PRODUCTS))
        sold_at = day + datetime.timedelta(hours=9, minutes=7 * index)
        rows.append([first_id + index, product, random.randint(1, 5), PRODUCTS[product], sold_at])
    return rows


def write(table: Any, partition: str, orders: list[list[Any]]) -> None:
    started = time.monotonic()
    # The with-block commits the upload session when it ends: the rows appear all at once, or not at all.
    with table.open_writer(partition=partition, create_partition=True) as writer:
        writer.write(orders)
    print(f"wrote    {len(orders)} rows to {table.name} partition {partition} in "
          f"{time.monotonic() - started:.1f} s (open_writer, create_partition=True)")


def check_read_back(table: Any, partition: str, orders: list[list[Any]]) -> None:
    wanted = {order[0] for order in orders}
    with table.open_reader(partition=partition) as reader:
        found = {record["order_id"]: record for record in reader if record["order_id"] in wanted}
        total = reader.count
    missing = sorted(wanted - set(found))
    if missing:
        raise Failure(f"order ids {missing} are not in {table.name} partition {partition}")
    print(f"read     {partition} back: {total} rows, every order written is there")
    for order_id in sorted(found):
        record = found[order_id]
        print(f"         {order_id}  {record['product']:<7} {record['quantity']} x {record['price']}  "
              f"{record['sold_at']}")


def permission_advice(project: str) -> str:
{%- if cookiecutter.role == 'custom' %}
    resource = f"acs:odps:*:projects/{project}"
    statements = [{"Effect": "Allow", "Action": TABLE_ACTIONS, "Resource": [f"{resource}/tables/{TABLE}"]}]
{%- if not cookiecutter.maxcompute_sql %}
    # The SQL job of create_partition: creating it, then reading its status.
    statements += [{"Effect": "Allow", "Action": ["odps:CreateInstance"], "Resource": [resource]},
                   {"Effect": "Allow", "Action": ["odps:Read"], "Resource": [f"{resource}/instances/*"]}]
{%- endif %}
    return ("The role may not write this table: grant it in the MaxCompute project too (examples/README.md), and "
            "add these statements to the Statement list of ram/permission-policy.json (the local EAS applies the "
            "edit at once, as RAM does):\n" + json.dumps(statements, indent=2))
{%- else %}
    return (f"The PAI default role reaches MaxCompute only in projects where the service's owner may work: "
            f"ask the owner of {project} for {', '.join(TABLE_ACTIONS)} on {TABLE}, or use a custom role "
            "(bake with role=custom) that grants them.")
{%- endif %}


if __name__ == "__main__":
    sys.exit(main())
