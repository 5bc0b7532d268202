"""The SQL adapts to each supported server version (13 to 17); only 15 runs in these tests,
so what differs between versions is checked on the SQL itself."""

from __future__ import annotations

import pytest

from incident_lib.sources.postgres.queries import SETTINGS, locks_sql, sql_by_frame, statements_sql
from incident_lib.sources.postgres.session import MAX_VERSION, MIN_VERSION

VERSIONS = (130014, 140011, 150008, 160004, 170002)


def test_the_supported_versions_are_13_to_17():
    assert MIN_VERSION == 130000 and MAX_VERSION == 179999


@pytest.mark.parametrize("version", VERSIONS)
def test_lock_waits_have_a_start_from_14_and_null_before(version):
    sql = locks_sql(version)
    if version >= 140000:
        assert "w.waitstart" in sql
    else:  # pg_locks.waitstart is new in 14: reading it on 13 would fail
        assert "w.waitstart" not in sql and "NULL::timestamptz AS waitstart" in sql


@pytest.mark.parametrize("version", VERSIONS)
def test_statements_read_the_exec_time_columns_of_13_and_later(version):
    sql = statements_sql(version)
    assert "total_exec_time" in sql and "mean_exec_time" in sql
    assert "total_time" not in sql.replace("total_exec_time", "")  # the pre-13 name


def test_reserved_connections_is_asked_for_and_simply_absent_before_16():
    assert {"reserved_connections", "superuser_reserved_connections", "max_connections"} <= set(
        SETTINGS
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_every_frame_has_its_sql_for_every_version(version):
    sql = sql_by_frame(version)
    assert set(sql) == {
        "activity",
        "locks",
        "replication",
        "database_stats",
        "settings",
        "limits",
        "statements",
    }
    assert "pg_blocking_pids" in sql["activity"] and "backend_xmin" in sql["activity"]
