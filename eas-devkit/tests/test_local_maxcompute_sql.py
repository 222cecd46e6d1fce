"""The local MaxCompute's SQL: queries over several tables, driven by the real pyodps SDK over HTTP on 127.0.0.1,
and what it refuses, each with the error number MaxCompute gives."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from odps import ODPS, errors
from odps.tunnel import CompressOption, TableTunnel
from test_local_maxcompute import PROJECT, connect, sts

from eas_devkit.local.credentials import CredentialIssuer
from eas_devkit.local.maxcompute.app import create_maxcompute_app
from eas_devkit.local.maxcompute.catalog import Catalog, Column
from eas_devkit.local.maxcompute.tunnel import compression, encode_records
from eas_devkit.local.servers import LoopbackServer

USERS = [[1, "ann", "cn"], [2, "bob", "sg"], [3, "cy", "cn"], [4, "dee", None]]
# id, user_id, amount, kind, at; partition ds
ORDERS = [
    [10, 1, "12.50", "book", "2024-01-01 09:00:00", "20240101"],
    [11, 1, "7.25", "pen", "2024-01-02 10:00:00", "20240102"],
    [12, 2, "30.00", "book", "2024-01-02 11:30:00", "20240102"],
    [13, 3, "5.00", "pen", "2024-01-03 08:00:00", "20240103"],
    [14, 3, "40.00", "lamp", "2024-01-03 12:00:00", "20240103"],
    [15, 3, "1.75", "pen", "2024-01-03 18:00:00", "20240103"],
]

pytestmark = pytest.mark.usefixtures("quick_pyodps_retries")


@pytest.fixture
def o(tmp_path: Path) -> Iterator[ODPS]:
    catalog = Catalog(tmp_path / "maxcompute")
    catalog.create_project(PROJECT)
    catalog.create_table(PROJECT, "users", [("id", "bigint"), ("name", "string", "login name"), ("region", "string")])
    catalog.insert_rows(PROJECT, "users", USERS)
    catalog.create_table(PROJECT, "orders", [("id", "bigint"), ("user_id", "bigint"), ("amount", "decimal(10,2)"),
                                             ("kind", "string"), ("at", "datetime")], partitions=[("ds", "string")])
    catalog.insert_rows(PROJECT, "orders", ORDERS)
    issuer = CredentialIssuer(lifetime=3600)
    server = LoopbackServer(create_maxcompute_app(catalog, credentials=issuer), name="maxcompute").start()
    try:
        yield connect(SimpleNamespace(endpoint=server.url + "/api"), sts(issuer.current()))  # type: ignore[arg-type]
    finally:
        server.stop()
        catalog.close()


def run(o: ODPS, sql: str) -> tuple[list[tuple[str, str]], list[list[Any]]]:
    """The result's (name, type) columns and rows, read through the instance tunnel as a service reads them."""
    with o.execute_sql(sql).open_reader() as reader:
        columns = [(column.name, str(column.type).lower()) for column in reader._schema.columns]
        return columns, [record.values for record in reader]


def test_inner_and_left_joins(o: ODPS) -> None:
    columns, rows = run(o, "select u.name, o.id, o.amount from users u join orders o on u.id = o.user_id "
                           "where o.kind = 'book' order by o.id")
    assert columns == [("name", "string"), ("id", "bigint"), ("amount", "decimal(10,2)")]
    assert rows == [["ann", 10, Decimal("12.50")], ["bob", 12, Decimal("30.00")]]
    _, rows = run(o, "select u.name, count(o.id) n from users u left outer join orders o on u.id = o.user_id "
                     "group by u.name order by u.name")
    assert rows == [["ann", 2], ["bob", 1], ["cy", 3], ["dee", 0]]


def test_several_ctes_and_union_all(o: ODPS) -> None:
    columns, rows = run(o, """
        with big as (select user_id, amount from orders where amount >= 10),
             small as (select user_id, amount from orders where amount < 10),
             named as (select u.name, b.amount from big b join users u on u.id = b.user_id)
        select name, amount from named
        union all
        select 'small', amount from small
        order by amount""")
    assert columns == [("name", "string"), ("amount", "decimal(10,2)")]
    assert [row[0] for row in rows] == ["small", "small", "small", "ann", "bob", "cy"]
    assert rows[-1] == ["cy", Decimal("40.00")]


def test_window_functions(o: ODPS) -> None:
    columns, rows = run(o, "select id, row_number() over (partition by user_id order by amount desc) rn, "
                           "rank() over (order by kind) r, sum(amount) over (partition by user_id) total "
                           "from orders order by id")
    assert [name for name, _ in columns] == ["id", "rn", "r", "total"]
    assert [row[1] for row in rows] == [1, 2, 1, 2, 1, 3]
    assert [row[2] for row in rows] == [1, 4, 1, 4, 3, 4]  # book, book, lamp, pen, pen, pen
    assert [Decimal(str(row[3])) for row in rows] == [Decimal("19.75")] * 2 + [Decimal("30")] + [Decimal("46.75")] * 3


def test_group_by_having_on_a_join_and_subqueries(o: ODPS) -> None:
    _, rows = run(o, "select u.region, count(*) n, sum(o.amount) total from orders o join users u "
                     "on o.user_id = u.id group by u.region having count(*) > 1 order by total desc")
    assert rows == [["cn", 5, Decimal("66.50")]]
    _, rows = run(o, "select t.user_id, t.n from (select user_id, count(*) n from orders group by user_id) t "
                     "where t.n >= 2 order by t.user_id")
    assert rows == [[1, 2], [3, 3]]
    _, rows = run(o, "select name from users where id in (select user_id from orders where kind = 'lamp')")
    assert rows == [["cy"]]


def test_typed_literals_casts_and_partition_columns(o: ODPS) -> None:
    columns, rows = run(o, "select ds, count(*), cast(sum(amount) as double) total, min(at) first_at from orders "
                           "where at >= datetime '2024-01-02 00:00:00' and ds <> '20240101' group by ds order by ds")
    assert columns == [("ds", "string"), ("_c1", "bigint"), ("total", "double"), ("first_at", "datetime")]
    assert rows == [["20240102", 2, 37.25, datetime(2024, 1, 2, 10, 0)],
                    ["20240103", 3, 46.75, datetime(2024, 1, 3, 8, 0)]]
    _, rows = run(o, "select cast('42' as bigint) + 1, cast(id as string), upper(name) from users where id = 1")
    assert rows == [[43, "1", "ANN"]]


def test_comments_are_read_as_maxcompute_reads_them(o: ODPS) -> None:
    """MaxCompute does not nest comments: ``/* /* */`` is one comment, and what follows it is SQL."""
    _, rows = run(o, "select /* /* */ name -- , region\nfrom users where id = 2")
    assert rows == [["bob"]]


@pytest.mark.parametrize(("statement", "error", "words"), [
    ("select nope from users", errors.ODPSError, "ODPS-0130071:[1,8] Semantic analysis exception - column nope "
                                                 "cannot be resolved"),
    ("select u.nope from users u join orders o on u.id = o.user_id", errors.ODPSError,
     "column u.nope cannot be resolved"),
    ("select * from users u join missing m on u.id = m.id", errors.NoSuchTable, "ODPS-0130131"),
    ("select * from users where", errors.ParseError, "ODPS-0130161"),
    ("insert into users select * from users", errors.ODPSError, "INSERT statements are not supported"),
    ("select * from users; select * from orders", errors.ODPSError, "several statements"),
    ("select * from users lateral view explode(array(1)) t as x", errors.ODPSError, "LATERAL VIEW"),
    ("select no_such_function(id) from users", errors.ODPSError, "function no_such_function cannot be resolved"),
    ("select datediff(at, at, 'hh') from orders", errors.ODPSError, "DATEDIFF unsupported for 'HH'"),
    ("select " + "(" * 3000 + "1" + ")" * 3000, errors.ParseError, "nested too deeply"),
], ids=["column", "qualified-column", "table", "parse", "insert", "script", "lateral-view", "function",
        "not-emulated", "deep"])
def test_refusals_keep_maxcompute_error_numbers(o: ODPS, statement: str, error: type, words: str) -> None:
    with pytest.raises(error) as raised:
        o.execute_sql(statement)
    assert words in str(raised.value)


@pytest.mark.parametrize("statement", [
    "select * from read_csv('/etc/passwd')",
    "select * from read_csv_auto('/etc/passwd')",
    "select * from users u join read_text('/etc/passwd') f on 1 = 1",
    "select * from sqlite_master",
    "select * from sqlite_schema",
    "select name from users where id in (select 1 from sqlite_master)",
    "select * from pragma_table_info('users')",
    "select * from json_each('[1]')",
    "select sqlite_version()",
    "select load_extension('x')",
    "select zeroblob(1000000000)",
    "attach database '/tmp/x.db' as x",
    "pragma table_info(users)",
    "select * from temp.sqlite_master",
    "select * from main.data_1",
    "with t as (select * from sqlite_master) select * from t",
    "select * from (with sqlite_master as (select 1 a) select * from sqlite_master) t join sqlite_master s on 1 = 1",
    "select * from users where exists (with sqlite_schema as (select 1) select 1) "
    "and id in (select 1 from sqlite_schema)",
])
def test_a_query_reaches_only_the_projects_tables(o: ODPS, statement: str) -> None:
    with pytest.raises(errors.ODPSError) as raised:
        o.execute_sql(statement)
    text = str(raised.value)
    assert any(code in text for code in ("ODPS-0130071", "ODPS-0130131", "ODPS-0130161")), text


# Partitions


def test_partitions_are_listed_and_dropped_with_their_rows(o: ODPS) -> None:
    orders = o.get_table("orders")
    orders.create_partition("ds=20240104")  # empty, and listed all the same
    assert [str(partition.partition_spec) for partition in orders.iterate_partitions()] == [
        "ds='20240101'", "ds='20240102'", "ds='20240103'", "ds='20240104'"]
    assert [str(partition.partition_spec) for partition in orders.iterate_partitions("ds=20240102")] == [
        "ds='20240102'"]
    assert str(orders.get_max_partition(skip_empty=False).partition_spec) == "ds='20240104'"

    orders.delete_partition("ds=20240103")
    o.execute_sql("alter table orders drop if exists partition (ds='20240104'), partition (ds='20240199')")
    assert [str(partition.partition_spec) for partition in orders.iterate_partitions()] == [
        "ds='20240101'", "ds='20240102'"]
    assert not orders.exist_partition("ds=20240103")
    assert run(o, "select count(*) from orders")[1] == [[3]]

    with pytest.raises(errors.ODPSError, match="ODPS-0130071.*partition ds='20240103' does not exist"):
        orders.delete_partition("ds=20240103")
    orders.delete_partition("ds=20240103", if_exists=True)
    with pytest.raises(errors.ODPSError, match="ODPS-0130071.*not partitioned"):
        o.execute_sql("alter table users drop partition (ds='1')")


# Tunnel compression


def test_a_download_is_compressed_as_the_client_asks_or_refused_by_name(o: ODPS) -> None:
    tunnel = TableTunnel(o)
    session = tunnel.create_download_session("orders", partition_spec="ds=20240103")
    with session.open_record_reader(0, 3, compress=True) as reader:
        assert [record["id"] for record in reader] == [13, 14, 15]
    columns = (Column("id", "bigint"), Column("kind", "string"))
    rows = [(number, "pen") for number in range(1000)]
    raw = b"".join(encode_records(columns, rows))
    deflated = b"".join(encode_records(columns, rows, compression("deflate")))
    assert zlib.decompress(deflated) == raw and len(deflated) < len(raw) / 2
    assert compression(None) is None and compression("identity") is None
    zstd = CompressOption(CompressOption.CompressAlgorithm.ODPS_ZSTD)
    session = tunnel.create_download_session("orders", partition_spec="ds=20240103", compress_option=zstd)
    with pytest.raises(errors.ODPSError, match="zstd.*deflate works"), \
            session.open_record_reader(0, 3, compress=True) as reader:
        list(reader)
