"""The local MaxCompute, driven by the real, unmodified pyodps SDK over HTTP on 127.0.0.1."""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import requests
from conftest import CONTAINER_ENV
from conftest import PROJECT as PROJECT_DIR
from odps import ODPS, errors, options
from odps.accounts import CredentialProviderAccount, StsAccount
from odps.models import TableSchema as OdpsSchema
from odps.rest import RestClient
from odps.tunnel import CompressOption, TableTunnel
from odps.tunnel.io.writer import BaseRecordWriter
from odps.types import Column as OdpsColumn

from eas_devkit.local.credentials import CredentialIssuer, IssuedCredentials
from eas_devkit.local.maxcompute import upload
from eas_devkit.local.maxcompute.app import MaxComputeApp, create_maxcompute_app
from eas_devkit.local.maxcompute.catalog import Catalog
from eas_devkit.local.maxcompute.cli import add_load_table_parser
from eas_devkit.local.maxcompute.loader import IRIS_ROWS, create_demo_tables, load_table
from eas_devkit.local.maxcompute.sql import statement_kinds
from eas_devkit.local.servers import LoopbackServer
from eas_devkit.testing import devkit_command

PROJECT = "demo_project"  # the MaxCompute project (PROJECT_DIR is the baked service's directory)
REGION = "cn-hangzhou"
IRIS = [list(row) for row in IRIS_ROWS]


class FakeClock:
    """The server's and the issuer's now, which a test can move forward."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class ProviderCredential:
    """The credential object pyodps's CredentialProviderAccount reads."""

    issued: IssuedCredentials

    def get_access_key_id(self) -> str:
        return self.issued.access_key_id

    def get_access_key_secret(self) -> str:
        return self.issued.access_key_secret

    def get_security_token(self) -> str:
        return self.issued.security_token


class ScriptedProvider:
    """A credentials provider answering from ``source()`` at every call (as one reading a rotating file)."""

    def __init__(self, source: Callable[[], IssuedCredentials]) -> None:
        self._source = source
        self.calls = 0

    def get_credential(self) -> ProviderCredential:
        self.calls += 1
        return ProviderCredential(self._source())


class Recorder:
    """An ``authorize`` callable: records every question, and denies the (action, resource) pairs in ``deny``."""

    def __init__(self, deny: Optional[set[tuple[str, str]]] = None) -> None:
        self.deny = deny or set()
        self.asked: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, action: str, resource: str, access_key_id: str) -> bool:
        with self._lock:
            self.asked.append((action, resource, access_key_id))
        return (action, resource) not in self.deny

    @property
    def access_key_ids(self) -> set[str]:
        return {access_key_id for _, _, access_key_id in self.asked}


class Spy:
    """WSGI middleware remembering the request lines the server received, and how each was signed."""

    def __init__(self, app: MaxComputeApp) -> None:
        self.app = app
        self.requests: list[str] = []
        self.signed: list[tuple[str, str]] = []  # (request line, "v2" or "v4")
        self.encoded: list[tuple[str, str]] = []  # (request line, Content-Encoding) of compressed bodies
        self.peers: list[str] = []  # the client's port of each request: one per TCP connection

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        line = f"{environ['REQUEST_METHOD']} {environ.get('RAW_URI') or environ['PATH_INFO']}"
        credential = environ.get("HTTP_AUTHORIZATION", "").rpartition(":")[0]
        self.requests.append(line)
        self.peers.append(environ.get("REMOTE_PORT", ""))
        self.signed.append((line, "v4" if "/" in credential else "v2"))
        if environ.get("HTTP_CONTENT_ENCODING"):
            self.encoded.append((line, environ["HTTP_CONTENT_ENCODING"]))
        return self.app(environ, start_response)


@dataclass
class Local:
    """A running local MaxCompute: its app, the request log, and the URL pyodps's endpoint is under."""

    app: MaxComputeApp
    spy: Spy
    server: LoopbackServer

    @property
    def endpoint(self) -> str:
        return self.server.url + "/api"


pytestmark = pytest.mark.usefixtures("quick_pyodps_retries")


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog(tmp_path / "maxcompute")
    create_demo_tables(catalog, PROJECT)
    yield catalog
    catalog.close()


@pytest.fixture
def issuer() -> CredentialIssuer:
    return CredentialIssuer(lifetime=3600)


@pytest.fixture
def serve(catalog: Catalog, issuer: CredentialIssuer) -> Iterator[Callable[..., Local]]:
    servers: list[LoopbackServer] = []

    def start(**kwargs: Any) -> Local:
        kwargs.setdefault("credentials", issuer)
        app = create_maxcompute_app(catalog, **kwargs)
        spy = Spy(app)
        server = LoopbackServer(spy, name="maxcompute").start()
        servers.append(server)
        return Local(app, spy, server)

    yield start
    for server in servers:
        server.stop()


def connect(local: Local, account: Any, region: Optional[str] = None) -> ODPS:
    """pyodps as a service uses it; the logview host is set so that the constructor makes no request."""
    return ODPS(account, project=PROJECT, endpoint=local.endpoint, logview_host="http://127.0.0.1:1",
                region_name=region)


def sts(credentials: IssuedCredentials, token: Optional[str] = None) -> StsAccount:
    return StsAccount(credentials.access_key_id, credentials.access_key_secret,
                      credentials.security_token if token is None else token)


@pytest.fixture
def local(serve: Callable[..., Local]) -> Local:
    return serve()


@pytest.fixture
def o(local: Local, issuer: CredentialIssuer) -> ODPS:
    return connect(local, sts(issuer.current()))


# Metadata


def test_pyodps_keeps_its_connection_across_requests_as_maxcompute_does(local: Local, o: ODPS) -> None:
    """Metadata, a missing table's error and a tunnel download: one TCP connection, as against the real
    MaxCompute (werkzeug's development server, used before, closed every one)."""
    assert o.exist_table("iris")
    assert not o.exist_table("no_such_table")
    with o.get_table("iris").open_reader() as reader:
        assert reader.count > 0
        assert len(list(reader[:5])) == 5

    assert len(local.spy.peers) >= 4 and len(set(local.spy.peers)) == 1, local.spy.requests


def test_list_tables_pages_through_many_tables_and_filters_by_prefix(catalog: Catalog, local: Local,
                                                                     o: ODPS) -> None:
    for number in range(230):
        catalog.create_table(PROJECT, f"t{number:03d}", [("id", "bigint")])

    names = [table.name for table in o.list_tables()]

    assert names == sorted(["iris", "sales", *(f"t{number:03d}" for number in range(230))])
    pages = [line for line in local.spy.requests if f"/projects/{PROJECT}/tables?" in line]
    assert len(pages) == 3  # 100 tables a page, as MaxCompute pages them
    assert [table.name for table in o.list_tables(prefix="t10")] == [f"t{number}" for number in range(100, 110)]
    assert [table.name for table in o.list_tables(prefix="nothing")] == []


def test_exist_table_and_a_missing_table_is_no_such_object(o: ODPS) -> None:
    assert o.exist_table("iris") is True
    assert o.exist_table("IRIS") is True  # names are case-insensitive
    assert o.exist_table("no_such_table") is False
    with pytest.raises(errors.NoSuchObject) as raised:
        o.get_table("no_such_table").reload()
    assert raised.value.status_code == 404
    assert "no_such_table" in str(raised.value)


def test_get_table_gives_types_comments_and_partition_keys(catalog: Catalog, o: ODPS) -> None:
    catalog.create_table(PROJECT, "all_types", [
        ("a_bigint", "bigint", "64-bit"), ("a_double", "double"), ("a_boolean", "boolean"), ("a_string", "string"),
        ("a_datetime", "datetime"), ("a_decimal", "decimal(10,2)"), ("an_int", "int"), ("a_float", "float"),
        ("a_date", "date"), ("a_timestamp", "timestamp"), ("a_varchar", "varchar(20)"),
    ], partitions=[("region", "string", "where")], comment="every type")

    table = o.get_table("all_types")

    assert table.comment == "every type"
    assert [(column.name, str(column.type).lower()) for column in table.table_schema.simple_columns] == [
        ("a_bigint", "bigint"), ("a_double", "double"), ("a_boolean", "boolean"), ("a_string", "string"),
        ("a_datetime", "datetime"), ("a_decimal", "decimal(10,2)"), ("an_int", "int"), ("a_float", "float"),
        ("a_date", "date"), ("a_timestamp", "timestamp"), ("a_varchar", "varchar(20)")]
    assert table.table_schema["a_bigint"].comment == "64-bit"
    assert [(key.name, str(key.type).lower(), key.comment) for key in table.table_schema.partitions] == [
        ("region", "string", "where")]
    iris = o.get_table("iris")
    assert iris.table_schema["species"].comment == "setosa, versicolor or virginica"
    assert iris.table_schema.partitions == []


# Table tunnel


def test_open_reader_reads_all_rows_a_column_subset_and_a_range(local: Local, o: ODPS) -> None:
    table = o.get_table("iris")
    with table.open_reader() as reader:
        assert reader.count == 20
        assert [record.values for record in reader] == IRIS
    with table.open_reader(columns=["species", "petal_width"]) as reader:
        assert [record.values for record in reader] == [[row[4], row[3]] for row in IRIS]
    with table.open_reader() as reader:
        assert [record.values for record in reader[5:9]] == IRIS[5:9]
    assert [record.values for record in o.read_table("iris", start=18)] == IRIS[18:]
    data = [line for line in local.spy.requests if "&data" in line or "?data" in line]
    assert any("columns=species%2Cpetal_width" in line for line in data)
    assert any("rowrange=%285%2C4%29" in line for line in data)


def test_every_type_and_null_round_trips_through_the_tunnel(catalog: Catalog, o: ODPS) -> None:
    columns = [("b", "bigint"), ("d", "double"), ("flag", "boolean"), ("s", "string"), ("dt", "datetime"),
               ("dec", "decimal(10,2)"), ("i", "int"), ("f", "float"), ("day", "date")]
    rows = [
        [2**62, 1.25, True, "héllo, \"world\"\n", datetime(2024, 2, 29, 23, 59, 58), Decimal("-12.30"), -7, 0.5,
         date(2024, 1, 31)],
        [None] * 9,
    ]
    catalog.create_table(PROJECT, "typed", columns)
    catalog.insert_rows(PROJECT, "typed", rows)
    with o.get_table("typed").open_reader() as reader:
        assert [record.values for record in reader] == rows


def test_reading_a_timestamp_column_needs_pandas(catalog: Catalog, o: ODPS) -> None:
    catalog.create_table(PROJECT, "stamped", [("id", "bigint"), ("ts", "timestamp")])
    catalog.insert_rows(PROJECT, "stamped", [[1, "2024-01-01 00:00:00.123456"]])
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(errors.InvalidArgument, match="pandas"), o.get_table("stamped").open_reader() as reader:
            list(reader)
    else:
        with o.get_table("stamped").open_reader() as reader:
            assert str(next(iter(reader))["ts"]) == "2024-01-01 00:00:00.123456"
    with o.get_table("stamped").open_reader(columns=["id"]) as reader:
        assert [record.values for record in reader] == [[1]]


def test_a_partition_is_read_with_its_values_and_a_partitioned_table_needs_one(o: ODPS) -> None:
    sales = o.get_table("sales")
    with sales.open_reader(partition="ds=20240102") as reader:
        records = [record.values for record in reader]
    assert [(row[0], row[1], row[3], row[-1]) for row in records] == [
        (1004, "tea", Decimal("12.50"), "20240102"), (1005, "juice", Decimal("7.20"), "20240102"),
        (1006, "coffee", Decimal("18.00"), "20240102")]
    assert records[0][4] == datetime(2024, 1, 2, 8, 30)
    assert [record.values for record in sales.head(2, partition="ds=20240101", columns=["product", "price"])] == [
        ["tea", Decimal("12.50")], ["coffee", Decimal("18.00")]]
    with pytest.raises(errors.ODPSError) as raised, sales.open_reader():
        pass
    assert raised.value.code == "InvalidPartitionSpec"


# Table uploads

EVERY_TYPE = [("b", "bigint"), ("d", "double"), ("flag", "boolean"), ("s", "string"), ("dt", "datetime"),
              ("dec", "decimal(10,2)"), ("i", "int"), ("f", "float"), ("day", "date"), ("v", "varchar(20)"),
              ("c", "char(4)"), ("tiny", "tinyint"), ("small", "smallint")]


def read_back(o: ODPS, table: str, partition: Optional[str] = None) -> list[list[Any]]:
    with o.get_table(table).open_reader(partition=partition, reopen=True) as reader:
        return [record.values for record in reader]


def test_write_table_and_open_writer_round_trip_every_type_and_null(catalog: Catalog, local: Local,
                                                                    o: ODPS) -> None:
    catalog.create_table(PROJECT, "written", EVERY_TYPE)
    first = [[-2**63, 1.25, True, "héllo, \"world\"\n", datetime(2024, 2, 29, 23, 59, 58, 123000), Decimal("-12.30"),
              -2**31, 0.5, date(2024, 1, 31), "varchar", "abcd", -128, 32767],
             [None] * len(EVERY_TYPE)]
    second = [[2**63 - 1, -0.0, False, "", datetime(1970, 1, 1), Decimal("99999999.99"), 7, -1.5, date(9999, 12, 31),
               "", "a", 127, -32768]]

    o.write_table("written", first)
    with o.get_table("written").open_writer() as writer:
        writer.write(second)

    assert read_back(o, "written") == first + second
    assert list(catalog.read_rows(PROJECT, "written", start=2)) == [tuple(row) for row in second]
    puts = [line for line in local.spy.requests if line.startswith("PUT ") and "blockid=" in line]
    assert len(puts) == 2 and local.spy.encoded == []  # pyodps compresses nothing unless asked to


def test_a_timestamp_column_is_written_when_pandas_is_there(catalog: Catalog, o: ODPS) -> None:
    catalog.create_table(PROJECT, "stamped", [("id", "bigint"), ("ts", "timestamp")])
    try:
        import pandas
    except ImportError:
        with pytest.raises(errors.InvalidArgument, match="pandas"):
            o.write_table("stamped", [[1, None]])
        return
    o.write_table("stamped", [[1, pandas.Timestamp("2024-01-01 00:00:00.123456")], [2, None]])
    assert list(catalog.read_rows(PROJECT, "stamped")) == [(1, datetime(2024, 1, 1, 0, 0, 0, 123456)), (2, None)]


@pytest.fixture
def small_blocks() -> Iterator[int]:
    """pyodps sends a block each ``tunnel.block_buffer_size`` bytes (20 MiB): here, each 8 KiB."""
    saved = options.tunnel.block_buffer_size
    options.tunnel.block_buffer_size = 8 * 1024
    yield options.tunnel.block_buffer_size
    options.tunnel.block_buffer_size = saved


def test_thousands_of_rows_go_in_several_blocks_compressed_or_not(catalog: Catalog, local: Local, o: ODPS,
                                                                  small_blocks: int) -> None:
    catalog.create_table(PROJECT, "many", [("id", "bigint"), ("label", "string")])
    rows = [[number, f"row {number}"] for number in range(5000)]

    o.write_table("many", rows)
    puts = [line for line in local.spy.requests if line.startswith("PUT ")]
    assert len({line.partition("blockid=")[2] for line in puts}) > 5
    with o.get_table("many").open_writer(compress_option=CompressOption()) as writer:
        writer.write(rows[:3000], compress=True)
    with o.get_table("many").open_writer(blocks=[0, 1]) as writer:  # the client numbers the blocks
        writer.write(1, rows[:2])
        writer.write(0, rows[2:4])

    assert read_back(o, "many") == rows + rows[:3000] + rows[2:4] + rows[:2]  # each commit in block-id order
    assert {encoding for _, encoding in local.spy.encoded} == {"deflate"}


def test_a_partition_is_created_written_and_overwritten(catalog: Catalog, local: Local, o: ODPS) -> None:
    sales = o.get_table("sales")
    new = [[2001, "cake", 1, Decimal("4.50"), datetime(2026, 11, 30, 10, 0)],
           [2002, "tea", 2, Decimal("12.50"), datetime(2026, 11, 30, 11, 0)]]
    assert sales.exist_partition("ds=20240101") and not sales.exist_partition("ds=20261130")

    with sales.open_writer(partition="ds=20261130", create_partition=True) as writer:
        writer.write(new)

    assert sales.exist_partition("ds=20261130")
    assert any("ALTER TABLE" in query for query in (instance.query for instance in local.app._instances.values()))
    assert read_back(o, "sales", "ds=20261130") == [row + ["20261130"] for row in new]
    assert sales.get_partition("ds=20261130").record_num == 2

    o.write_table("sales", new[1:], partition="ds=20261130", overwrite=True)
    assert read_back(o, "sales", "ds=20261130") == [new[1] + ["20261130"]]
    assert len(read_back(o, "sales", "ds=20240101")) == 3  # the other partitions are as they were
    sales.create_partition("ds=20261201")
    assert sales.exist_partition("ds=20261201") and read_back(o, "sales", "ds=20261201") == []
    o.write_table("iris", IRIS[:2], overwrite=True)
    assert read_back(o, "iris") == IRIS[:2]


def test_writing_a_partitioned_table_needs_an_existing_partition(catalog: Catalog, o: ODPS) -> None:
    sales = o.get_table("sales")
    row = [[1, "tea", 1, Decimal("1.00"), None]]
    with pytest.raises(errors.ODPSError) as raised, sales.open_writer() as writer:
        writer.write(row)
    assert raised.value.code == "MissingPartitionSpec"
    with pytest.raises(errors.NoSuchPartition, match="does not exist"), \
            sales.open_writer(partition="ds=20991231") as writer:
        writer.write(row)
    with pytest.raises(errors.NoSuchTable):
        o.write_table("no_such_table", [[1]])
    with pytest.raises(errors.ODPSError, match="already exists"):
        o.execute_sql("ALTER TABLE sales ADD PARTITION (ds='20240101')")
    with pytest.raises(errors.ODPSError, match="DROP .IF EXISTS. PARTITION"):
        o.execute_sql("ALTER TABLE sales RENAME TO shop_sales")
    with pytest.raises(errors.ODPSError, match="not partitioned"):
        o.execute_sql("ALTER TABLE iris ADD PARTITION (ds='20240101')")
    assert catalog.row_count(PROJECT, "sales") == 6


def test_rows_are_invisible_until_the_commit_and_a_session_commits_once(catalog: Catalog, o: ODPS) -> None:
    catalog.create_table(PROJECT, "staged", [("id", "bigint"), ("name", "string")])
    session = TableTunnel(o).create_upload_session("staged")
    with session.open_record_writer(0) as writer:
        writer.write(session.new_record([1, "replaced"]))
    with session.open_record_writer(0) as writer:  # a block sent again replaces the first
        writer.write(session.new_record([1, "one"]))
    with session.open_record_writer(3) as writer:
        writer.write(session.new_record([3, "three"]))

    assert read_back(o, "staged") == []
    assert session.get_block_list() == [0, 3]
    session.commit([0, 3])

    assert read_back(o, "staged") == [[1, "one"], [3, "three"]]
    with pytest.raises(errors.ODPSError) as raised, session.open_record_writer(4) as writer:
        writer.write(session.new_record([4, "late"]))
    assert raised.value.code == "StatusConflict"
    assert catalog.row_count(PROJECT, "staged") == 2


def test_uncommitted_sessions_expire_or_are_forgotten_with_their_blocks(catalog: Catalog, o: ODPS,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    catalog.create_table(PROJECT, "dropped", [("id", "bigint")])
    tunnel = TableTunnel(o)
    session = tunnel.create_upload_session("dropped")
    with session.open_record_writer(0) as writer:
        writer.write(session.new_record([1]))

    monkeypatch.setattr(upload, "SESSION_LIFETIME", -1)  # a day has passed
    with pytest.raises(errors.ODPSError) as raised:
        session.commit([0])
    assert raised.value.code == "UploadSessionExpired"
    monkeypatch.undo()
    monkeypatch.setattr(upload, "MAX_SESSIONS", 1)
    oldest = tunnel.create_upload_session("dropped")
    tunnel.create_upload_session("dropped")
    with pytest.raises(errors.ODPSError) as raised:
        oldest.reload()
    assert raised.value.code == "NoSuchUpload"
    with pytest.raises(errors.ODPSError) as raised:
        tunnel.create_upload_session("dropped", upload_id="20240101000000" + "0" * 24)
    assert (raised.value.code, raised.value.status_code) == ("NoSuchUpload", 404)
    assert catalog.row_count(PROJECT, "dropped") == 0


def test_a_bad_value_or_a_bad_block_is_refused_clearly(catalog: Catalog, local: Local, o: ODPS) -> None:
    catalog.create_table(PROJECT, "short", [("id", "bigint"), ("code", "varchar(3)")])
    with pytest.raises(ValueError, match="invalid literal for int"):  # pyodps checks a value before sending it
        o.write_table("short", [["one", "abc"]])
    with pytest.raises(ValueError, match="more than 3"):
        o.write_table("short", [[1, "abcd"]])

    session = TableTunnel(o).create_upload_session("short")
    session.schema = OdpsSchema(columns=[OdpsColumn(name="id", typo="bigint"), OdpsColumn(name="code", typo="string")])
    with pytest.raises(errors.ODPSError) as raised, session.open_record_writer(0) as writer:
        writer.write(session.new_record([1, "abcd"]))  # a client that skipped the check
    assert raised.value.code == "MalformedDataStream" and "more than 3" in str(raised.value)

    buffer = io.BytesIO()
    writer = BaseRecordWriter(session.schema, buffer)
    writer.write(session.new_record([1, "abc"]))
    writer.flush()  # no footer: the stream is cut short
    url = f"{local.endpoint}/projects/{PROJECT}/tables/short"
    for body, words in [(buffer.getvalue(), "truncated"), (b"\xff" * 64, "record 1"), (b"", "truncated")]:
        with pytest.raises(errors.ODPSError, match=words) as raised:
            o.rest.put(url, data=body, params={"uploadid": session.id, "blockid": "1"})
        assert (raised.value.code, raised.value.status_code) == ("MalformedDataStream", 400)
    with pytest.raises(errors.ODPSError) as raised:
        o.rest.put(url, data=b"", params={"uploadid": session.id, "blockid": "20000"})
    assert raised.value.code == "InvalidBlockID"
    with pytest.raises(errors.ODPSError) as raised:  # refused before its body is read: the body is drained
        o.rest.put(url, data=b"x" * (3 * 1024 * 1024), params={"uploadid": "unknown", "blockid": "1"})
    assert raised.value.code == "NoSuchUpload"

    assert session.get_block_list() == []
    assert catalog.row_count(PROJECT, "short") == 0
    assert "InternalServerError" not in local.app.stats.errors


def test_writing_needs_odps_update_and_creating_a_partition_odps_alter(catalog: Catalog, serve: Callable[..., Local],
                                                                      issuer: CredentialIssuer) -> None:
    iris, sales = (f"acs:odps:*:projects/{PROJECT}/tables/{name}" for name in ("iris", "sales"))
    recorder = Recorder(deny={("odps:Update", iris), ("odps:Alter", sales)})
    local = serve(authorize=recorder)
    o = connect(local, sts(issuer.current()))

    with pytest.raises(errors.NoPermission, match="odps:Update"):
        o.write_table("iris", IRIS[:1])
    with pytest.raises(errors.NoPermission, match="odps:Alter"):
        o.write_table("sales", [[1, "tea", 1, Decimal("1.00"), None]], partition="ds=20261130", create_partition=True)
    assert catalog.row_count(PROJECT, "iris") == 20
    assert catalog.get_partition(catalog.get_table(PROJECT, "sales"), {"ds": "20261130"}) is None

    o.write_table("sales", [[1, "tea", 1, Decimal("1.00"), None]], partition="ds=20240101")
    assert ("odps:Update", sales) in {(action, resource) for action, resource, _ in recorder.asked}
    assert catalog.row_count(PROJECT, "sales", {"ds": "20240101"}) == 4


def test_uploads_work_with_v4_signatures_and_sts_tokens(serve: Callable[..., Local], issuer: CredentialIssuer) -> None:
    local = serve(region=REGION)
    o = connect(local, sts(issuer.current()), region=REGION)

    o.write_table("sales", [[1, "tea", 1, Decimal("1.00"), None]], partition="ds=20261130", create_partition=True)

    assert read_back(o, "sales", "ds=20261130") == [[1, "tea", 1, Decimal("1.00"), None, "20261130"]]
    assert local.app.stats.errors == {"NoSuchPartition": 1}  # exist_partition() asked, before creating it
    versions = dict(local.spy.signed)
    assert {versions[line] for line in versions if "/instances" in line or "?partition" in line} == {"v4"}
    assert any("uploadid=" in line for line in versions)


# SQL


def test_execute_sql_select_with_where_order_by_and_limit(local: Local, o: ODPS) -> None:
    instance = o.execute_sql("SELECT species, sepal_length AS length FROM iris "
                             "WHERE sepal_length > 6 AND species <> 'setosa' ORDER BY sepal_length DESC LIMIT 3")
    assert instance.is_successful()
    with instance.open_reader() as reader:
        assert [column.name for column in reader._schema.columns] == ["species", "length"]
        got = [record.values for record in reader]
    expected = sorted(([row[4], row[0]] for row in IRIS if row[0] > 6 and row[4] != "setosa"),
                      key=lambda row: -row[1])[:3]
    assert got == expected
    assert any("?downloads" in line for line in local.spy.requests)  # read through the instance tunnel


def test_execute_sql_aggregates_keep_maxcompute_types(o: ODPS) -> None:
    instance = o.execute_sql("select species, count(*) as n, avg(petal_length) mean, max(sepal_width) "
                             "from iris group by species order by species")
    with instance.open_reader() as reader:
        schema = [(column.name, str(column.type).lower()) for column in reader._schema.columns]
        got = [record.values for record in reader]
    assert schema == [("species", "string"), ("n", "bigint"), ("mean", "double"), ("_c3", "double")]
    for species, count, mean, widest in got:
        lengths = [row[2] for row in IRIS if row[4] == species]
        assert count == len(lengths)
        assert mean == pytest.approx(sum(lengths) / len(lengths))
        assert widest == max(row[1] for row in IRIS if row[4] == species)
    totals = o.execute_sql("select sum(quantity), sum(price), min(sold_at) from sales where ds = '20240101'")
    with totals.open_reader() as reader:
        assert [record.values for record in reader] == [[6, Decimal("40.40"), datetime(2024, 1, 1, 9, 15)]]


def test_results_come_from_the_csv_result_when_the_instance_tunnel_is_unavailable(
        catalog: Catalog, serve: Callable[..., Local], issuer: CredentialIssuer) -> None:
    local = serve(instance_tunnel=False)
    o = connect(local, sts(issuer.current()))
    tricky = ["comma, here", 'a "quote"', "two\nlines", "back\\slash", "ünïcödé", ""]
    catalog.create_table(PROJECT, "texts", [("id", "bigint"), ("text", "string"), ("at", "datetime")])
    catalog.insert_rows(PROJECT, "texts", [[index, text, "2024-05-06 07:08:09"] for index, text in enumerate(tricky)]
                        + [[99, None, None]])

    instance = o.execute_sql("select * from texts order by id")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with instance.open_reader() as reader:
            got = [record.values for record in reader]

    assert any("fallback" in str(warning.message) for warning in caught)
    assert any("?result" in line for line in local.spy.requests)
    assert got == [[index, text, datetime(2024, 5, 6, 7, 8, 9)] for index, text in enumerate(tricky)] \
        + [[99, None, None]]


def test_a_statement_that_does_not_parse_raises_parse_error(o: ODPS) -> None:
    with pytest.raises(errors.ParseError) as raised:
        o.execute_sql("SELEC * FROM iris")
    assert "ODPS-0130161:[1,1] Parse exception - invalid token 'SELEC'" in str(raised.value)
    assert raised.value.instance_id  # as on MaxCompute, the instance ran and its SQL task failed
    with pytest.raises(errors.ParseError):
        o.execute_sql("select species from iris where")
    with pytest.raises(errors.ParseError, match="parenthesised"):
        o.execute_sql("select * from iris where species in sales")


def test_a_missing_table_in_sql_raises_no_such_table(o: ODPS) -> None:
    with pytest.raises(errors.NoSuchTable, match="ODPS-0130131"):
        o.execute_sql("select * from no_such_table")
    with pytest.raises(errors.NoSuchTable):
        o.execute_sql("select * from other_project.iris")


def test_what_the_local_maxcompute_does_not_run_fails_clearly(o: ODPS) -> None:
    for statement, words in [("select nope from iris", "column nope cannot be resolved"),
                             ("insert into iris select * from iris", "INSERT statements are not supported"),
                             ("drop table iris", "DROP statements"),
                             ("select * from iris; select * from sales", "several statements"),
                             ("select * from iris lateral view explode(array(1)) t as x", "LATERAL VIEW"),
                             ("select sqlite_version()", "function sqlite_version cannot be resolved")]:
        with pytest.raises(errors.ODPSError, match=words) as raised:
            o.execute_sql(statement)
        assert "ODPS-0130071" in str(raised.value)
    assert o.exist_table("iris")


def test_a_running_instance_is_stopped_as_maxcompute_stops_it(serve: Callable[..., Local],
                                                              issuer: CredentialIssuer) -> None:
    """``sql_seconds``: each instance runs that long. ``instance.stop()`` (PUT <Status>Terminated) ends it at
    once, its task Cancelled, with no result to read; the instance list tells running from terminated."""
    o = connect(serve(sql_seconds=60), sts(issuer.current()))
    running = o.run_sql("select * from iris")
    assert running.status == running.Status.RUNNING
    assert [listed.id for listed in o.list_instances(status="Running")] == [running.id]
    with pytest.raises(errors.ODPSError, match="does not terminate"):
        running.open_reader(tunnel=True)

    running.stop()
    stopped = o.get_instance(running.id)
    assert stopped.status == stopped.Status.TERMINATED
    assert stopped.get_task_statuses()["AnonymousSQLTask"].status.value == "CANCELLED"
    assert running.id in [listed.id for listed in o.list_instances(status="Terminated")]
    assert not list(o.list_instances(status="Running"))
    with pytest.raises(errors.ODPSError):
        stopped.wait_for_success()


def test_the_query_is_recorded_as_received_after_xml_turns_carriage_returns_into_line_feeds(o: ODPS) -> None:
    """What MaxCompute runs is the text its XML parser gives it: a \r in a -- comment ends the comment."""
    instance = o.run_sql("select 1 --x\r; select 2")
    assert instance.get_sql_query() == "select 1 --x\n; select 2;"
    assert statement_kinds(instance.get_sql_query()) == ["SELECT", "SELECT"]
    assert statement_kinds("select 1 --x; select 2") == ["SELECT"]
    assert statement_kinds("/* c */ with a as (select 1) select * from a; ; drop table t") == ["WITH", "DROP"]


def test_a_download_session_on_a_missing_partition_is_no_such_partition(o: ODPS) -> None:
    with pytest.raises(errors.NoSuchPartition, match="partition does not exist"):
        o.get_table("sales").open_reader(partition="ds=19000101", reopen=True)


# Signatures and credentials


def test_signature_v4_is_verified_when_a_region_is_configured(serve: Callable[..., Local],
                                                              issuer: CredentialIssuer) -> None:
    local = serve(region=REGION)
    o = connect(local, sts(issuer.current()), region=REGION)
    assert o.exist_table("iris")
    with o.execute_sql("select count(*) from iris").open_reader() as reader:
        assert [record.values for record in reader] == [[20]]
    # pyodps signs v4 for the API; its tunnel client is built without the region, so it signs v2.
    tunnel = [version for line, version in local.spy.signed if "?download" in line]
    assert {version for line, version in local.spy.signed if "?download" not in line} == {"v4"}
    assert len(tunnel) == 2 and set(tunnel) == {"v2"}
    assert local.app.stats.errors == {}

    elsewhere = connect(local, sts(issuer.current()), region="cn-shanghai")
    with pytest.raises(errors.SignatureNotMatch, match="region"):
        elsewhere.get_table("iris").reload()


def test_a_v4_request_without_a_server_region_falls_back_to_v2(local: Local, issuer: CredentialIssuer) -> None:
    o = connect(local, sts(issuer.current()), region=REGION)
    try:
        assert o.exist_table("iris")
        assert local.app.stats.errors == {"InvalidParameter": 1}  # pyodps then signs v2, and remembers it
        assert set(local.app.stats.by_signature_version) == {"v2"}
    finally:  # pyodps remembers it per endpoint, for the process: forget it before the port is used again
        RestClient._endpoints_without_v4_sign.discard(local.endpoint)


def test_a_wrong_secret_is_signature_not_match(local: Local, issuer: CredentialIssuer) -> None:
    credentials = issuer.current()
    o = connect(local, StsAccount(credentials.access_key_id, "not-the-secret", credentials.security_token))
    with pytest.raises(errors.SignatureNotMatch):
        o.get_table("iris").reload()


def test_an_unknown_access_key_or_a_wrong_sts_token_is_refused(local: Local, issuer: CredentialIssuer) -> None:
    credentials = issuer.current()
    unknown = connect(local, StsAccount("STS.UNKNOWNKEY", credentials.access_key_secret, credentials.security_token))
    with pytest.raises(errors.Unauthorized, match="accessKeyId not found"):
        unknown.get_table("iris").reload()

    wrong_token = connect(local, sts(credentials, token="CAIS-not-the-token"))
    with pytest.raises(errors.Unauthorized, match="STS token") as raised:
        wrong_token.get_table("iris").reload()
    assert credentials.security_token not in str(raised.value)
    no_token = ODPS(credentials.access_key_id, credentials.access_key_secret, project=PROJECT,
                    endpoint=local.endpoint, logview_host="http://127.0.0.1:1")
    with pytest.raises(errors.Unauthorized):
        no_token.get_table("iris").reload()


def test_unsigned_requests_get_the_maxcompute_error_document(local: Local) -> None:
    response = requests.get(f"{local.endpoint}/projects/{PROJECT}/tables", params={"curr_project": PROJECT},
                            timeout=10)
    assert response.status_code == 401
    root = ET.fromstring(response.content)
    assert [child.tag for child in root] == ["Code", "Message", "RequestId", "HostId"]
    assert root.findtext("Code") == "AuthorizationRequired"
    assert root.findtext("RequestId") == response.headers["x-odps-request-id"]


def test_expired_credentials_fail_with_authentication_request_expired(serve: Callable[..., Local]) -> None:
    clock = FakeClock()
    issuer = CredentialIssuer(lifetime=60, clock=clock)
    local = serve(credentials=issuer, clock=clock)
    o = connect(local, sts(issuer.current()))
    clock.advance(120)

    with pytest.raises(errors.AuthenticationRequestExpired):
        o.get_table("iris").reload()
    # pyodps reloaded its account and retried once; a StsAccount without a source had nothing new to sign with.
    assert len([line for line in local.spy.requests if "/tables/iris?" in line]) == 2
    assert set(local.app.stats.errors) == {"AuthenticationRequestExpired"}


def test_expired_credentials_are_reloaded_and_the_call_retried(serve: Callable[..., Local]) -> None:
    clock = FakeClock()
    issuer = CredentialIssuer(lifetime=60, clock=clock)
    local = serve(credentials=issuer, clock=clock)
    stale = issuer.current()
    clock.advance(120)  # the server now holds `stale` expired; EAS has rotated meanwhile
    fresh = issuer.rotate()
    answers = iter([stale])  # a provider whose cache is stale once, then reads the rotated credentials
    provider = ScriptedProvider(lambda: next(answers, fresh))
    o = connect(local, CredentialProviderAccount(provider))

    assert o.exist_table("iris")

    assert local.app.stats.errors == {"AuthenticationRequestExpired": 1}
    assert set(local.app.stats.by_access_key) == {fresh.access_key_id}


def test_rotated_credentials_are_picked_up(serve: Callable[..., Local], issuer: CredentialIssuer) -> None:
    recorder = Recorder()
    local = serve(authorize=recorder)
    o = connect(local, CredentialProviderAccount(ScriptedProvider(issuer.current)))
    first = issuer.current().access_key_id

    assert o.exist_table("iris")
    second = issuer.rotate().access_key_id
    with o.get_table("iris").open_reader() as reader:
        assert reader.count == 20
    with o.execute_sql("select count(*) from sales").open_reader() as reader:
        assert [record.values for record in reader] == [[6]]

    assert first != second
    assert recorder.access_key_ids == {first, second}
    assert set(local.app.stats.by_access_key) == {first, second}


# Authorization


def test_authorize_is_asked_and_a_denial_is_no_permission(serve: Callable[..., Local],
                                                          issuer: CredentialIssuer) -> None:
    project = f"acs:odps:*:projects/{PROJECT}"
    iris, sales = f"{project}/tables/iris", f"{project}/tables/sales"
    recorder = Recorder(deny={("odps:Describe", iris), ("odps:Download", sales), ("odps:Select", sales)})
    local = serve(authorize=recorder)
    o = connect(local, sts(issuer.current()))

    with pytest.raises(errors.NoPermission, match="odps:Describe"):
        o.get_table("iris").reload()
    with pytest.raises(errors.NoPermission, match="odps:Download"), \
            o.get_table("sales").open_reader(partition="ds=20240101"):
        pass
    with pytest.raises(errors.NoPermission, match="ODPS-0130013") as raised:
        o.execute_sql("select * from sales")
    assert "You have NO privilege 'odps:Select' on {" + sales + "}" in str(raised.value)
    for statement in ("select * from iris a join sales b on a.species = b.product",  # every table read is asked
                      "with s as (select * from sales) select count(*) from s",
                      "select species from iris where species in (select product from sales)"):
        with pytest.raises(errors.NoPermission, match="odps:Select"):
            o.execute_sql(statement)
    recorder.deny = set()
    with o.get_table("iris").open_reader() as reader:
        assert reader.count == 20
    instance = o.execute_sql("select count(*) from iris")

    asked = {(action, resource) for action, resource, _ in recorder.asked}
    assert {("odps:Describe", iris), ("odps:Download", iris), ("odps:Select", iris), ("odps:CreateInstance", project),
            ("odps:Select", sales), ("odps:Read", f"{project}/instances/{instance.id}")} <= asked

    recorder.deny = {("odps:List", project), ("odps:CreateInstance", project)}
    with pytest.raises(errors.NoPermission, match="odps:List"):
        list(o.list_tables())
    with pytest.raises(errors.NoPermission, match="odps:CreateInstance"):
        o.execute_sql("select 1")


# Errors


def test_unsupported_operations_and_internal_errors_answer_clear_xml(local: Local, o: ODPS, issuer: CredentialIssuer,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(errors.ODPSError) as raised:
        o.rest.get(f"{local.endpoint}/projects/{PROJECT}/resources")
    assert (raised.value.code, raised.value.status_code) == ("NotImplemented", 501)
    assert o.exist_project(PROJECT) and not o.exist_project("missing_project")
    with pytest.raises(errors.NoSuchProject):
        o.get_project("missing_project").reload()

    def broken(*args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(local.app.catalog, "get_table", broken)
    caplog.set_level(logging.ERROR, logger="eas_devkit.local.maxcompute")
    with pytest.raises(errors.InternalServerError):
        o.get_table("iris").reload()
    assert "disk on fire" in caplog.text
    credentials = issuer.current()
    assert credentials.access_key_secret not in caplog.text
    assert credentials.security_token not in caplog.text


# Loading tables


def test_load_table_from_csv_infers_types(catalog: Catalog, o: ODPS, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("id,score,ok,at,label,note\n"
                    "1,0.5,true,2024-01-01 00:00:01,a,\n"
                    "2,3,false,2024-01-02 12:30:00,\"b, c\",x\n", encoding="utf-8")

    schema = load_table(catalog, PROJECT, "Events", path)

    assert [(column.name, column.type) for column in schema.columns] == [
        ("id", "bigint"), ("score", "double"), ("ok", "boolean"), ("at", "datetime"), ("label", "string"),
        ("note", "string")]
    with o.get_table("events").open_reader() as reader:
        assert [record.values for record in reader] == [
            [1, 0.5, True, datetime(2024, 1, 1, 0, 0, 1), "a", None],
            [2, 3.0, False, datetime(2024, 1, 2, 12, 30), "b, c", "x"]]
    with pytest.raises(ValueError, match="already exists"):
        load_table(catalog, PROJECT, "events", path)
    path.write_text("id\n7\n", encoding="utf-8")
    load_table(catalog, PROJECT, "events", path, replace=True)
    assert list(catalog.read_rows(PROJECT, "events")) == [(7,)]


def test_load_table_from_jsonl_with_explicit_types(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text('{"id": 1, "price": "12.50", "code": 7, "day": "2024-03-01"}\n'
                    '\n'
                    '{"id": 2, "price": 3, "extra": true}\n', encoding="utf-8")

    schema = load_table(catalog, "analytics", "orders", path,
                        types={"price": "decimal(10,2)", "code": "string", "day": "date"})

    assert [(column.name, column.type) for column in schema.columns] == [
        ("id", "bigint"), ("price", "decimal(10,2)"), ("code", "string"), ("day", "date"), ("extra", "boolean")]
    assert list(catalog.read_rows("analytics", "orders")) == [
        (1, Decimal("12.50"), "7", date(2024, 3, 1), None), (2, Decimal("3.00"), None, None, True)]


def test_load_table_names_the_file_line_and_column_of_bad_input(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,when\n1,2024-01-01 00:00:00\n2,yesterday\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv: line 3, column 'when' \(datetime\)"):
        load_table(catalog, PROJECT, "bad", path, types={"when": "datetime"})
    path.write_text("id,name\n1,a\n2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv: line 3: expected 2 fields"):
        load_table(catalog, PROJECT, "bad", path)
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl: line 2: invalid JSON"):
        load_table(catalog, PROJECT, "bad", jsonl)
    assert catalog.get_table(PROJECT, "bad") is None


def test_load_table_command(tmp_path: Path) -> None:
    """``eas-devkit local load-table``, run from another directory than the project's."""
    command = [*devkit_command(PROJECT_DIR), "local", "--state-dir", str(tmp_path / "state"), "load-table"]
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "NAME FILE" in shown.stdout and "--types" in shown.stdout and "--replace" in shown.stdout

    data = tmp_path / "points.csv"
    data.write_text("x,y,label\n1,2.5,a\n3,4,b\n", encoding="utf-8")
    loaded = subprocess.run([*command, "points", str(data), "--maxcompute-project", "geo", "--types", "y=decimal(5,1)"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 2 rows into geo.points" in loaded.stdout
    assert "y      decimal(5,1)" in loaded.stdout
    catalog = Catalog(tmp_path / "state" / "maxcompute")
    assert list(catalog.read_rows("geo", "points")) == [(1, Decimal("2.5"), "a"), (3, Decimal("4.0"), "b")]
    catalog.close()

    failed = subprocess.run([*command, "points", str(data), "--maxcompute-project", "geo"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert failed.returncode == 1
    assert "already exists" in failed.stderr

    into_the_services = subprocess.run([*command, "points", str(data)], capture_output=True, text=True,
                                       cwd=tmp_path, timeout=60)
    assert into_the_services.returncode == 0, into_the_services.stderr
    assert f"loaded 2 rows into {CONTAINER_ENV['ODPS_PROJECT']}.points" in into_the_services.stdout


def test_load_table_sub_command_takes_its_state_dir_and_default_project_from_the_parent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="eas-devkit local")
    parser.add_argument("--state-dir", type=Path)
    commands = parser.add_subparsers(required=True)
    add_load_table_parser(commands, lambda args: args.state_dir, lambda args: "svc_project")
    data = tmp_path / "one.jsonl"
    data.write_text('{"k": "v"}\n', encoding="utf-8")

    args = parser.parse_args(["--state-dir", str(tmp_path), "load-table", "one", str(data)])
    assert args.run(args) == 0

    assert "loaded 1 row into svc_project.one" in capsys.readouterr().out
    catalog = Catalog(tmp_path / "maxcompute")
    assert list(catalog.read_rows("svc_project", "one")) == [("v",)]
    catalog.close()
