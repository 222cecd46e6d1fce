"""Only single read-only SELECT statements pass; the reason names what is wrong."""

from __future__ import annotations

import pytest

from app.sql_guard import UnsafeSQL, single_select


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM iris", "SELECT * FROM iris"),
        ("  select count(*) from iris;  ", "select count(*) from iris"),
        ("SELECT 'drop table x; --' AS s FROM iris", "SELECT 'drop table x; --' AS s FROM iris"),
        ("SELECT a FROM t -- delete everything\nWHERE a > 1", "SELECT a FROM t -- delete everything\nWHERE a > 1"),
        ("WITH s AS (SELECT a FROM t) SELECT a FROM s", "WITH s AS (SELECT a FROM t) SELECT a FROM s"),
        ("SELECT create_time, updated FROM t", "SELECT create_time, updated FROM t"),
        ("SELECT 'it''s' FROM t", "SELECT 'it''s' FROM t"),
    ],
)
def test_a_single_select_passes(sql, expected):
    assert single_select(sql) == expected


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("", "sql is empty"),
        ("  ;  ", "sql is empty"),
        ("-- only a comment", "sql is empty"),
        ("SELECT 1; SELECT 2", "only one statement"),
        ("SELECT 1; DROP TABLE iris", "only one statement"),
        ("DROP TABLE iris", "only SELECT statements are allowed, not DROP"),
        ("INSERT OVERWRITE TABLE t SELECT * FROM s", "not INSERT"),
        ("WITH s AS (SELECT 1) INSERT INTO t SELECT * FROM s", "INSERT is not"),
        ("SET odps.sql.allow.fullscan=true", "not SET"),
        ("WITH x AS (VALUES 1)", "must end in a SELECT"),
        ("SELECT 'unterminated FROM t", "unterminated"),
        ("SELECT a FROM t /* open comment", "unterminated"),
        ("SELECT \x00 FROM t", "NUL"),
        ("SELECT " + "a" * 70_000, "longer than"),
    ],
)
def test_anything_else_is_refused_with_the_reason(sql, reason):
    with pytest.raises(UnsafeSQL, match=reason.replace("(", r"\(")):
        single_select(sql)
