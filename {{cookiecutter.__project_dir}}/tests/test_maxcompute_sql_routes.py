"""``POST /maxcompute/sql`` (baked with maxcompute_sql=yes): single read-only SELECTs only."""

from __future__ import annotations

import pytest
import requests


def run_sql(local_eas, body, **kwargs) -> requests.Response:
    return requests.post(f"{local_eas.url}/maxcompute/sql", json=body, timeout=120, **kwargs)


def test_a_select_runs_and_matches_pyodps(local_eas, odps_admin):
    sql = "SELECT species, COUNT(*) AS n FROM iris GROUP BY species ORDER BY species"
    response = run_sql(local_eas, {"sql": sql})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == ["species", "n"]
    with odps_admin.execute_sql(sql).open_reader() as reader:
        assert body["rows"] == [{"species": r["species"], "n": r["n"]} for r in reader]


def test_the_limit_caps_the_rows(local_eas):
    body = run_sql(local_eas, {"sql": "SELECT * FROM iris", "limit": 4}).json()
    assert len(body["rows"]) == 4


def test_bad_sql_is_400_with_the_parse_error(local_eas):
    response = run_sql(local_eas, {"sql": "SELECT FROM WHERE"})
    assert response.status_code == 400, response.text
    assert response.json()["code"]


def test_an_unknown_column_is_400(local_eas):
    response = run_sql(local_eas, {"sql": "SELECT no_such_column FROM iris"})
    assert response.status_code == 400, response.text
    assert "no_such_column" in response.json()["error"]


def test_a_missing_table_in_sql_is_404(local_eas):
    response = run_sql(local_eas, {"sql": "SELECT * FROM no_such_table"})
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"sql": "DROP TABLE iris"}, "only SELECT statements are allowed"),
        ({"sql": "SELECT 1; DROP TABLE iris"}, "only one statement"),
        ({"sql": "INSERT INTO iris SELECT * FROM iris"}, "only SELECT"),
        ({"sql": ""}, "empty"),
        ({"sql": 42}, "sql must be a string"),
        ({}, "sql must be a string"),
        ({"sql": "SELECT * FROM iris", "limit": 0}, "limit must be"),
        ({"sql": "SELECT * FROM iris", "limit": "ten"}, "limit must be"),
        ({"sql": "SELECT * FROM iris", "limit": True}, "limit must be"),
        ({"sql": "SELECT * FROM iris", "limit": 2.5}, "limit must be"),
        ([1, 2], "JSON object"),
    ],
)
def test_anything_but_a_single_select_is_400_with_the_reason(local_eas, body, reason):
    response = run_sql(local_eas, body)
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_a_body_that_is_not_json_is_400(local_eas):
    response = requests.post(f"{local_eas.url}/maxcompute/sql", data=b"SELECT 1", timeout=30,
                             headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert response.json()["field"] == "body"
