"""The service's view of its MaxCompute project: one ``ODPS`` client per worker, errors turned into API errors.

The client signs with ``CredentialProviderAccount`` over the same provider the OSS handler uses, so both
follow the role's rotating credentials. Importing pyodps costs ~0.5 s, so the app imports this module on
the first MaxCompute request; ``logview_host`` is given so that creating the client makes no request.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

import requests.exceptions
from odps import ODPS
from odps import errors as odps_errors
from odps.accounts import CredentialProviderAccount

from .config import Config
from .credentials import ServiceCredentials
from .errors import APIError
from .logs import tame_sdk_loggers

tame_sdk_loggers()  # pyodps logs the whole STS token at INFO

SQL_POLL_SECONDS = 0.2  # first poll of a running SQL instance; doubles up to SQL_POLL_MAX_SECONDS
SQL_POLL_MAX_SECONDS = 2.0


@dataclass(frozen=True)
class Rows:
    """Rows on their way out: the reader is open (errors already raised), the rows are read lazily."""

    columns: list[str]
    records: Iterator[dict[str, Any]]


class MaxComputeTables:
    def __init__(self, client: ODPS, sql_timeout_seconds: int) -> None:
        self.client = client
        self.sql_timeout_seconds = sql_timeout_seconds

    def list(self, prefix: str, marker: str, limit: int) -> dict[str, Any]:
        """A page of table names after ``marker``, in MaxCompute's (name) order."""
        with translated_errors():
            names = (table.name for table in self.client.list_tables(prefix=prefix or None))
            page = list(itertools.islice((name for name in names if name > marker), limit + 1))
        return {"tables": page[:limit], "next_marker": page[limit - 1] if len(page) > limit else None}

    def describe(self, name: str) -> dict[str, Any]:
        with translated_errors():
            table = self.client.get_table(name)
            table.reload()
            schema = table.table_schema
            return {
                "name": table.name,
                "comment": table.comment or "",
                "columns": [_column(column) for column in schema.simple_columns],
                "partition_keys": [_column(column) for column in schema.partitions],
            }

    def rows(self, name: str, limit: int, columns: Optional[list[str]], partition: Optional[str]) -> Rows:
        with translated_errors():
            # The tunnel readers hold no connection between reads (their __exit__ does nothing).
            reader = self.client.get_table(name).open_reader(partition=partition, columns=columns)
            names = columns or [column.name for column in reader.schema.simple_columns]
            count = min(limit, reader.count)
        return Rows(names, _records(reader, count, names))

    def query(self, sql: str, limit: int) -> Rows:
        with translated_errors():
            instance = self.client.run_sql(sql)
            instance.wait_for_success(interval=SQL_POLL_SECONDS, max_interval=SQL_POLL_MAX_SECONDS,
                                      timeout=self.sql_timeout_seconds)
            reader = instance.open_reader()
            names = [column.name for column in reader.schema.columns]
            count = min(limit, reader.count) if reader.count is not None else limit
        return Rows(names, _records(reader, count, names))


def create_maxcompute_tables(config: Config, credentials: ServiceCredentials) -> MaxComputeTables:
    config.require_maxcompute()
    client = ODPS(
        account=CredentialProviderAccount(credentials),
        project=config.odps_project,
        endpoint=config.odps_endpoint,
        logview_host=config.odps_logview_host,
        region_name=config.region,
    )
    return MaxComputeTables(client, config.sql_timeout_seconds)


# What MaxCompute says → what the client of the service gets.
STATUS_BY_ERROR: list[tuple[type, int]] = [
    (odps_errors.NoSuchObject, 404),  # NoSuchTable, NoSuchProject, NoSuchPartition
    (odps_errors.NoPermission, 403),
    (odps_errors.ParseError, 400),
    (odps_errors.InvalidArgument, 400),
    (odps_errors.WaitTimeoutError, 504),
]
# The request's fault too, though pyodps has no class for them: a query that does not make sense
# (unknown column, wrong types) and a partitioned table read without its partition.
CLIENT_ERROR_CODES = {"ODPS-0130071": 400, "InvalidPartitionSpec": 400}


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except APIError:
        raise
    except odps_errors.ODPSError as error:
        status = next((status for kind, status in STATUS_BY_ERROR if isinstance(error, kind)),
                      CLIENT_ERROR_CODES.get(error.code or "", 502))
        message = str(error.args[0]).strip().splitlines()[0] if error.args else type(error).__name__
        raise APIError(status, error.code or type(error).__name__, message,
                       odps_request_id=error.request_id) from None
    except requests.exceptions.Timeout:
        raise APIError(504, "MaxComputeTimeout", "MaxCompute did not answer in time") from None
    except requests.exceptions.RequestException:
        raise APIError(502, "MaxComputeUnreachable", "MaxCompute could not be reached") from None


def _records(reader: Any, count: int, names: list[str]) -> Iterator[dict[str, Any]]:
    if count <= 0:
        return
    with translated_errors():
        for record in reader.read(start=0, count=count):
            yield {name: json_value(record[name]) for name in names}


def _column(column: Any) -> dict[str, str]:
    return {"name": column.name, "type": str(column.type).lower(), "comment": column.comment or ""}


def json_value(value: Any) -> Any:
    """A MaxCompute value as JSON: dates in ISO 8601, decimals as strings (no float rounding), bytes base64."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value
