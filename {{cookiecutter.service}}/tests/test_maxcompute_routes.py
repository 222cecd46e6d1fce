"""``/maxcompute/tables`` through the service under gunicorn, against the local MaxCompute, checked with pyodps."""

from __future__ import annotations

import json
import re

import requests
from conftest import concurrent_calls, local_eas_fixture
{% if cookiecutter.role != 'custom' %}
# The role may list tables but may not read any table's data. (A custom role's policy: test_ram_policy.py.)
denying_eas = local_eas_fixture("--deny", "odps:Download", "--deny", "odps:Select")
{%- endif %}
# MaxCompute moved to a closed loopback port.
unreachable_eas = local_eas_fixture("--env", "ODPS_ENDPOINT=http://127.0.0.1:9/api")


def test_listing_pages_through_every_table(local_eas, odps_admin):
    expected = sorted(table.name for table in odps_admin.list_tables())
    names, marker = [], ""
    while True:
        page = local_eas.get("/maxcompute/tables", params={"limit": 1, "marker": marker}).json()
        names += page["tables"]
        if page["next_marker"] is None:
            break
        marker = page["next_marker"]
    assert names == expected and "iris" in names


def test_listing_by_prefix(local_eas):
    body = local_eas.get("/maxcompute/tables", params={"prefix": "iri"}).json()
    assert body == {"tables": ["iris"], "next_marker": None}


def test_describe_gives_columns_types_comments_and_partition_keys(local_eas, odps_admin):
    body = local_eas.get("/maxcompute/tables/sales").json()
    schema = odps_admin.get_table("sales").table_schema
    assert body["name"] == "sales"
    assert [(c["name"], c["type"]) for c in body["columns"]] == \
        [(c.name, str(c.type).lower()) for c in schema.simple_columns]
    assert [c["name"] for c in body["partition_keys"]] == [c.name for c in schema.partitions] != []
    iris = local_eas.get("/maxcompute/tables/iris").json()
    assert all(column["comment"] for column in iris["columns"])


def test_rows_default_to_ten_and_match_pyodps(local_eas, odps_admin):
    body = local_eas.get("/maxcompute/tables/iris/rows").json()
    with odps_admin.get_table("iris").open_reader() as reader:
        direct = [dict(zip(body["columns"], record.values)) for record in reader[0:10]]
    assert len(body["rows"]) == 10
    assert body["rows"] == direct


def test_rows_with_a_column_subset_and_a_limit(local_eas):
    body = local_eas.get("/maxcompute/tables/iris/rows", params={"columns": "species,petal_length", "limit": 3}).json()
    assert body["columns"] == ["species", "petal_length"]
    assert len(body["rows"]) == 3 and set(body["rows"][0]) == {"species", "petal_length"}


def test_a_partitioned_table_is_read_by_partition(local_eas, odps_admin):
    with odps_admin.execute_sql("SELECT ds FROM sales ORDER BY ds LIMIT 1").open_reader() as reader:
        partition = f"ds={next(iter(reader))['ds']}"
    response = local_eas.get("/maxcompute/tables/sales/rows", params={"partition": partition, "limit": 100})
    assert response.status_code == 200, response.text
    with odps_admin.get_table("sales").open_reader(partition=partition) as reader:
        assert len(response.json()["rows"]) == min(100, reader.count) > 0


def test_a_partitioned_table_without_its_partition_is_400(local_eas):
    response = local_eas.get("/maxcompute/tables/sales/rows")
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidPartitionSpec"


def test_a_partition_that_does_not_exist_is_404_naming_the_partition(local_eas):
    """Not 0 rows: the tunnel refuses a download session on a missing partition (NoSuchPartition)."""
    response = local_eas.get("/maxcompute/tables/sales/rows", params={"partition": "ds=19000101"})
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["code"] == "NoSuchPartition" and body["field"] == "partition"


def test_rows_stream_as_json_lines_when_asked(local_eas):
    with requests.get(f"{local_eas.url}/maxcompute/tables/iris/rows", params={"limit": 5},
                      headers={"Accept": "application/x-ndjson"}, stream=True, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert len(lines) == 5 and "species" in lines[0]


def test_a_missing_table_is_404_with_the_maxcompute_code(local_eas):
    for path in ("/maxcompute/tables/no_such_table", "/maxcompute/tables/no_such_table/rows"):
        response = local_eas.get(path)
        assert response.status_code == 404, response.text
        assert response.json()["code"] in ("NoSuchObject", "NoSuchTable")
{%- if cookiecutter.role != 'custom' %}


def test_a_denied_read_is_403_with_the_maxcompute_code(denying_eas):
    assert denying_eas.get("/maxcompute/tables").status_code == 200
    response = denying_eas.get("/maxcompute/tables/iris/rows")
    assert response.status_code == 403, response.text
    assert response.json()["code"]
{%- endif %}


def test_an_unreachable_maxcompute_is_502_json(unreachable_eas):
    response = unreachable_eas.get("/maxcompute/tables")
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "MaxComputeUnreachable"
    assert unreachable_eas.get("/health").status_code == 200


def test_rotation_during_maxcompute_requests_fails_none_and_pyodps_follows(rotating_eas):
    def call() -> int:
        listed = rotating_eas.get("/maxcompute/tables")
        return listed.status_code if listed.status_code != 200 else rotating_eas.get(
            "/maxcompute/tables/iris/rows", params={"limit": 3}).status_code

    statuses = concurrent_calls(8, call)
    assert statuses and set(statuses) == {200}, \
        f"{len(statuses)} requests, statuses {set(statuses)}\n{rotating_eas.service_problems()}"
    signers = rotating_eas.stats()["maxcompute_requests_by_key"]
    assert len(signers) >= 2, f"pyodps signed with only {list(signers)} through the rotations"


def test_load_table_while_running_is_served_at_once(local_eas, tmp_path):
    data = tmp_path / "scores.csv"
    data.write_text("name,score,passed\nann,1.5,true\nbob,2,false\n")
    loaded = local_eas.local("load-table", "scores", str(data), "--replace")
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 2 rows" in loaded.stdout and re.search(r"score\s+double", loaded.stdout)
    body = local_eas.get("/maxcompute/tables/scores/rows").json()
    assert body["rows"] == [{"name": "ann", "score": 1.5, "passed": True},
                            {"name": "bob", "score": 2.0, "passed": False}]
