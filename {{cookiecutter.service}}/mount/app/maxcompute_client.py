"""The service's view of its MaxCompute project: one ``ODPS`` client per worker, errors turned into API errors.

The client signs with ``CredentialProviderAccount`` over the same provider the OSS handler uses, so both
follow the role's rotating credentials. Importing pyodps costs ~0.5 s, so the app imports this module on
the first MaxCompute request; ``logview_host`` is given so that creating the client makes no request.

Failures of MaxCompute. pyodps 0.13.2 retries on its own: its REST client 4 times (GET after a 502/503/504
or a broken connection; POST only when the request never left), its tunnel 7 times after a 5xx, waiting
1 to 64 s (127 s in all), and 308/429 forever; and ``open_reader``/``read`` wrap all that in 4 more tries.
Nested, that is minutes, past EAS's request timeout. So here pyodps sends each request once (``retry_times=0``,
tunnel policy: no retry) and ``ReadRetries`` retries the idempotent reads (list, describe, table reads) in
bounded time; creating a SQL instance is a write and is never retried. Every request has
``ODPS_TIMEOUT_SECONDS`` to connect and for each read; a timeout is a 504 at once. A table read that breaks
after some rows resumes at the next row (the tunnel reads by row range), up to ``BACKEND_READ_RETRIES`` times.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

from odps import ODPS, options
from odps import errors as odps_errors
from odps.accounts import CredentialProviderAccount
from odps.tunnel.retry import NoRetryPolicy, TunnelRetryHandler

from .config import BACKEND_POOL_SIZE, Config
from .credentials import ServiceCredentials
from .errors import APIError
from .logs import tame_sdk_loggers
from .retries import BROKEN_CONNECTION, ReadRetries, timed_out

tame_sdk_loggers()  # pyodps logs the whole STS token at INFO
log = logging.getLogger(__name__)

SQL_POLL_SECONDS = 0.2  # first poll of a running SQL instance; doubles up to SQL_POLL_MAX_SECONDS
SQL_POLL_MAX_SECONDS = 2.0


@dataclass(frozen=True)
class Rows:
    """Rows on their way out: the reader is open (errors already raised), the rows are read lazily."""

    columns: list[str]
    records: Iterator[dict[str, Any]]


class MaxComputeTables:
    def __init__(self, client: ODPS, sql_timeout_seconds: int, retries: ReadRetries) -> None:
        self.client = client
        self.sql_timeout_seconds = sql_timeout_seconds
        self.retries = retries

    def list(self, prefix: str, marker: str, limit: int) -> dict[str, Any]:
        """A page of table names after ``marker``, in MaxCompute's (name) order."""
        def page_of_names() -> list[str]:
            names = (table.name for table in self.client.list_tables(prefix=prefix or None))
            return list(itertools.islice((name for name in names if name > marker), limit + 1))

        with translated_errors():
            page = self.retries.call(page_of_names, transient, "list tables")
        return {"tables": page[:limit], "next_marker": page[limit - 1] if len(page) > limit else None}

    def describe(self, name: str) -> dict[str, Any]:
        def description() -> dict[str, Any]:
            table = self.client.get_table(name)
            table.reload()
            schema = table.table_schema
            return {
                "name": table.name,
                "comment": table.comment or "",
                "columns": [_column(column) for column in schema.simple_columns],
                "partition_keys": [_column(column) for column in schema.partitions],
            }

        with translated_errors():
            return self.retries.call(description, transient, "describe table")

    def rows(self, name: str, limit: int, columns: Optional[list[str]], partition: Optional[str]) -> Rows:
        with translated_errors():
            # The tunnel readers hold no connection between reads (their __exit__ does nothing).
            reader = self.retries.call(lambda: self._open_reader(name, partition, columns), transient,
                                       "open table reader")
            if columns:
                _require_columns(name, columns, reader.schema)
            names = columns or [column.name for column in reader.schema.simple_columns]
            count = min(limit, reader.count)
        return Rows(names, self._resuming_records(reader, count, names))

    def _open_reader(self, name: str, partition: Optional[str], columns: Optional[list[str]]) -> Any:
        """A download session of this request's own: pyodps would otherwise reuse the session an earlier request
        left in this thread, a snapshot of the table as it was then."""
        reader = self.client.get_table(name).open_reader(partition=partition, columns=columns, reopen=True)
        if reader.schema is None:
            raise IncompleteAnswer("the table's download session came without its schema")
        return reader

    def _resuming_records(self, reader: Any, count: int, names: list[str]) -> Iterator[dict[str, Any]]:
        """The table's first ``count`` rows; a read that breaks, or ends before ``count`` rows without an error
        (a stream cut after its headers), resumes at the next row of the same download session. Never fewer
        rows than promised: past the retries it is a 502 (or, once rows are streaming, an aborted stream)."""
        done, resumes_left = 0, self.retries.retries
        while done < count:
            try:
                for record in reader.read(start=done, count=count - done):
                    yield {name: json_value(record[name]) for name in names}
                    done += 1
                if done < count:
                    raise ShortRead(done, count)
            except Exception as error:
                if resumes_left <= 0 or not transient(error):
                    with translated_errors():
                        raise
                resumes_left -= 1
                log.warning("MaxCompute table read broke after %d rows (%s); resuming there", done,
                            type(error).__name__)

    def query(self, sql: str, limit: int, client_gone: Callable[[], bool] = lambda: False) -> Rows:
        """Run ``sql`` (sent as given: the guard has judged this very text) and open its result. An instance
        that the client will not get the result of is stopped, not left running (and billing): after
        ``sql_timeout_seconds`` (504), once ``client_gone()`` says the client closed its connection, or when
        polling its status fails."""
        with translated_errors():
            instance = self.client.run_sql(sql)  # creating an instance is a write: never retried
            try:
                self._wait_until_terminated(instance, client_gone)
            except BaseException as error:
                _stop(instance, reason=type(error).__name__)
                raise
            instance.wait_for_success()  # terminated: raises the failed task's error, if any
            reader = instance.open_reader()
            names = [column.name for column in reader.schema.columns]
            count = min(limit, reader.count) if reader.count is not None else limit
        return Rows(names, _records(reader, count, names))  # the instance is created: never run again

    def _wait_until_terminated(self, instance: Any, client_gone: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.sql_timeout_seconds
        interval = SQL_POLL_SECONDS
        while not instance.is_terminated(retry=False):
            if client_gone():
                raise ClientGone()
            left = deadline - time.monotonic()
            if left <= 0:
                raise odps_errors.WaitTimeoutError(f"the SQL instance did not finish in {self.sql_timeout_seconds} s",
                                                   instance_id=instance.id)
            time.sleep(min(interval, left))
            interval = min(interval * 2, SQL_POLL_MAX_SECONDS)


def _stop(instance: Any, reason: str) -> None:
    """Stop an instance whose result nobody will read; a failure to stop is logged, the first error stands."""
    try:
        instance.stop()
    except Exception as error:
        log.warning("could not stop MaxCompute instance %s after %s: %s", instance.id, reason, type(error).__name__)
    else:
        log.warning("stopped MaxCompute instance %s after %s", instance.id, reason)


class ClientGone(Exception):
    """The client closed its connection while its SQL instance ran."""


def create_maxcompute_tables(config: Config, credentials: ServiceCredentials) -> MaxComputeTables:
    config.require_maxcompute()
    send_each_request_once(config.odps_timeout_seconds)
    client = ODPS(
        account=CredentialProviderAccount(credentials),
        project=config.odps_project,
        endpoint=config.odps_endpoint,
        logview_host=config.odps_logview_host,
        region_name=config.region,
    )
    retries = ReadRetries("MaxCompute", config.read_retries, window=config.odps_timeout_seconds)
    return MaxComputeTables(client, config.sql_timeout_seconds, retries)


def send_each_request_once(timeout_seconds: int) -> None:
    """pyodps's settings for this worker: each request sent once, with ``timeout_seconds`` to connect and for
    each read. Its options are process-wide; the tunnel's retry policy has no option, hence the override
    (checked against pyodps 0.13.2, pinned in requirements.txt)."""
    options.connect_timeout = timeout_seconds
    options.read_timeout = timeout_seconds
    options.retry_times = 0
    options.pool_connections = options.pool_maxsize = BACKEND_POOL_SIZE
    # run_sql() would otherwise take any "set key=value" in the text (even in a string literal) as a setting of
    # the instance: the statement the guard judged is sent as it is, with no settings drawn from it.
    options.sql.parse_set_as_hints = False
    TunnelRetryHandler.get_retry_policy = lambda self, status_code: NoRetryPolicy()  # type: ignore[method-assign]


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
        if isinstance(error, odps_errors.ConnectTimeout) or _server_error(error):
            raise _backend_failed(error) from None
        status = next((status for kind, status in STATUS_BY_ERROR if isinstance(error, kind)),
                      CLIENT_ERROR_CODES.get(error.code or "", 502))
        message = str(error.args[0]).strip().splitlines()[0] if error.args else type(error).__name__
        details = {"field": "partition"} if error.code == "NoSuchPartition" else {}
        raise APIError(status, error.code or type(error).__name__, message, odps_request_id=error.request_id,
                       **details) from None
    except BROKEN_CONNECTION as error:
        raise _backend_failed(error) from None
    except ClientGone:
        raise APIError(499, "ClientClosedRequest", "the client closed the connection; its SQL instance was stopped",
                       backend="maxcompute") from None
    except ShortRead as error:
        raise APIError(502, "MaxComputeShortRead", str(error), backend="maxcompute") from None
    except IncompleteAnswer as error:
        raise APIError(502, "MaxComputeIncompleteAnswer", str(error), backend="maxcompute") from None


def _backend_failed(error: Exception) -> APIError:
    """502 or 504 naming MaxCompute as the failed backend."""
    if _timed_out(error):
        return APIError(504, "MaxComputeTimeout", "MaxCompute did not answer in time", backend="maxcompute")
    if _server_error(error):
        code = getattr(error, "code", None) or "MaxComputeError"
        return APIError(502, code, f"MaxCompute failed: {error.status_code} {code}",  # type: ignore[attr-defined]
                        backend="maxcompute", odps_request_id=getattr(error, "request_id", None))
    return APIError(502, "MaxComputeUnreachable", "MaxCompute could not be reached, or broke the connection",
                    backend="maxcompute")


class IncompleteAnswer(Exception):
    """MaxCompute answered without an error, but with less than its answer must hold: worth another try."""


class ShortRead(IncompleteAnswer):
    """A table read that ended, without an error, before the rows its download session promised."""

    def __init__(self, received: int, promised: int) -> None:
        super().__init__(f"the table read ended after {received} of {promised} rows")


def transient(error: Exception) -> bool:
    """Worth another try for a read: a 5xx, a reset or an answer cut short; not a timeout (504 at once)."""
    if isinstance(error, IncompleteAnswer):
        return True
    if isinstance(error, odps_errors.ODPSError) and not isinstance(error, odps_errors.ConnectTimeout):
        return _server_error(error)
    return isinstance(error, BROKEN_CONNECTION) and not _timed_out(error)


def _server_error(error: Exception) -> bool:
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and status >= 500


def _timed_out(error: Exception) -> bool:
    return isinstance(error, odps_errors.ConnectTimeout) or timed_out(error)


def _records(reader: Any, count: int, names: list[str]) -> Iterator[dict[str, Any]]:
    if count <= 0:
        return
    with translated_errors():
        for record in reader.read(start=0, count=count):
            yield {name: json_value(record[name]) for name in names}


def _require_columns(table: str, selected: list[str], schema: Any) -> None:
    """A 400 for a column the table does not have: pyodps finds out only when the first row is read, too late
    for an answer other than a 500 (or a JSON Lines stream cut short)."""
    known = {column.name.lower() for column in schema.columns}  # partition keys included
    unknown = next((column for column in selected if column.lower() not in known), None)
    if unknown is not None:
        raise APIError(400, "NoSuchColumn", f"columns: {table} has no column {unknown!r}", field="columns")


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
