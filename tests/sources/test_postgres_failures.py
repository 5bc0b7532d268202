"""The PostgreSQL source when things go wrong, and its configuration.

Against a real throwaway cluster (``pg_server``, its own for this module): the server
full ("remaining connection slots are reserved", "too many clients") and the
investigator still getting in through a reserved slot; a wrong password, a closed
port, a name that does not resolve, TLS required of a server without it, an unknown
database, a server that never answers: each a clear reason with no password in it.
Then the configuration from the environment, which needs no server.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from pg_server import (  # the fixture is imported so that pytest finds it
    PASSWORD,
    PgServer,
    blocking,
    fill_server,
    free_port,
    postgres,  # noqa: F401
    wait_until,
)

from incident_lib.core.errors import InvalidInput, SourceUnavailable
from incident_lib.core.schema import validate
from incident_lib.sources.base import default_registry
from incident_lib.sources.postgres import (
    REFUSED_FULL,
    PostgresConnector,
    Sampling,
    Timeouts,
    targets_from_environment,
)
from incident_lib.sources.postgres.config import NOT_CONFIGURED

QUICK = Sampling(every=0.5, duration=0)
SECRETS = (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD))


def assert_no_password(*texts: object) -> None:
    for text in texts:
        shown = text if isinstance(text, str) else json.dumps(text, default=str)
        for secret in SECRETS:
            assert secret not in shown, shown


def unavailable(env: dict[str, str], frame: str = "activity", **kwargs: object) -> str:
    connector = PostgresConnector.from_environment(env, sampling=QUICK, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(SourceUnavailable) as caught:
        connector.fetch(frame, None, None)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith("postgres unavailable: ") and "Traceback" not in text
    assert_no_password(text, caught.value.reason, connector.query(frame, None, None))  # type: ignore[arg-type]
    return caught.value.reason


# -- the server is full -----------------------------------------------------------------------


@pytest.mark.integration
def test_a_full_server_is_evidence_and_the_investigator_still_gets_in(postgres):  # noqa: F811
    with fill_server(postgres, user="app") as filled:
        assert "remaining connection slots are reserved" in filled.refusal
        assert len(filled.connections) == postgres.max_connections - postgres.superuser_reserved
        reason = unavailable({"INCIDENT_PG_DSN": postgres.dsn("app")})
        assert reason.startswith(REFUSED_FULL)
        assert "this refusal is itself evidence that the connections are exhausted" in reason
        assert "superuser_reserved_connections" in reason
        assert "pg_use_reserved_connections" in reason and "16+" in reason
        # the investigator, a superuser, gets in through the reserved slots
        env = {"INCIDENT_PG_DSN": postgres.dsn("postgres")}
        connector = PostgresConnector.from_environment(env, sampling=QUICK)
        activity = connector.fetch("activity", None, None).frame  # type: ignore[arg-type]
        flood = activity[activity["application_name"] == "flood"]
        assert set(flood["pid"]) == set(filled.pids)
        settings = connector.fetch("settings", None, None).frame  # type: ignore[arg-type]
        assert validate(settings, "pg_settings") is settings


@pytest.mark.integration
def test_too_many_clients_is_refused_full_too(postgres):  # noqa: F811
    with (
        fill_server(postgres, user="app") as _,
        fill_server(postgres, user="postgres", application_name="flood-su") as su,
    ):
        assert "too many clients" in su.refusal
        reason = unavailable({"INCIDENT_PG_DSN": postgres.dsn("postgres")}, "settings")
        assert reason.startswith(REFUSED_FULL)


# -- connection failures: a clear reason, never the password ------------------------------------


def reader_dsn(server: PgServer, **changes: object) -> str:
    password = str(changes.pop("password", PASSWORD))
    user = str(changes.pop("user", "reader"))
    dbname = str(changes.pop("dbname", "orders"))
    return server.dsn(user, dbname, password=password, **changes)  # type: ignore[arg-type]


@pytest.mark.integration
def test_a_wrong_password(postgres):  # noqa: F811
    reason = unavailable({"INCIDENT_PG_DSN": reader_dsn(postgres, user="nobody")})
    assert reason.startswith("authentication failed for user nobody: check the user and password")
    assert "INCIDENT_PG_DSN" in reason


@pytest.mark.integration
def test_a_closed_port(postgres):  # noqa: F811
    dsn = reader_dsn(postgres, port=free_port())
    reason = unavailable({"INCIDENT_PG_DSN": dsn})
    assert reason.startswith("127.0.0.1 could not be reached (connection refused)")


@pytest.mark.integration
def test_a_host_name_that_does_not_resolve(postgres):  # noqa: F811
    dsn = reader_dsn(postgres, host="no-such-host.invalid")
    reason = unavailable({"INCIDENT_PG_DSN": dsn})
    assert reason.startswith("no-such-host.invalid could not be reached: its name does not resolve")


@pytest.mark.integration
def test_tls_required_of_a_server_without_it(postgres):  # noqa: F811
    reason = unavailable({"INCIDENT_PG_DSN": reader_dsn(postgres, sslmode="require")})
    assert reason.startswith("TLS failed (sslmode=require): the server does not support TLS")


@pytest.mark.integration
def test_an_unknown_database(postgres):  # noqa: F811
    reason = unavailable({"INCIDENT_PG_DSN": reader_dsn(postgres, dbname="nosuchdb")})
    assert reason.startswith("database nosuchdb does not exist on the server")


def test_a_server_that_never_answers():
    with socket.socket() as listener:  # the handshake completes, nothing ever answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        dsn = f"postgresql://reader:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/orders"
        connector = PostgresConnector.from_environment({"INCIDENT_PG_DSN": dsn}, sampling=QUICK)
        connector.timeouts = Timeouts(connect=1.0)
        started = time.monotonic()
        with pytest.raises(SourceUnavailable) as caught:
            connector.fetch("settings", None, None)  # type: ignore[arg-type]
        assert time.monotonic() - started < 8
    assert caught.value.reason.startswith("127.0.0.1 did not answer within 2 s (connect_timeout)")
    assert_no_password(str(caught.value))


@pytest.mark.integration
def test_one_broken_target_of_two_gives_the_others_frames_and_a_note(postgres):  # noqa: F811
    env = {
        "INCIDENT_PG_DSN": reader_dsn(postgres),
        "INCIDENT_PG_DSN_BROKEN": reader_dsn(postgres, port=free_port()),
    }
    connector = PostgresConnector.from_environment(env, sampling=QUICK)
    for frame in ("activity", "settings", "statements"):
        fetched = connector.fetch(frame, None, None)  # type: ignore[arg-type]
        assert set(fetched.frame["target"]) == {"default"}, frame
        broken = [n for n in fetched.notes if n.startswith("broken could not be read: ")]
        assert len(broken) == 1 and "connection refused" in broken[0], fetched.notes
        assert_no_password(*fetched.notes, connector.query(frame, None, None))  # type: ignore[arg-type]


@pytest.mark.integration
def test_every_target_broken_names_each(postgres):  # noqa: F811
    env = {
        "INCIDENT_PG_DSN": reader_dsn(postgres, dbname="nosuchdb"),
        "INCIDENT_PG_DSN_OTHER": reader_dsn(postgres, port=free_port()),
    }
    reason = unavailable(env, "limits")
    assert reason.startswith("no configured database could be read: ")
    assert "[default: " in reason and "[other: " in reason


@pytest.mark.integration
def test_the_scenarios_clean_up_after_themselves(postgres):  # noqa: F811
    with blocking(postgres) as b:
        pids = [b.holder, *b.waiters, *b.chain]
        assert len(set(pids)) == 6
    wait_until(
        lambda: not postgres.sql("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]),
        "the blocking sessions to end",
    )


# -- configuration ----------------------------------------------------------------------------


def test_nothing_configured_is_unavailable_with_the_fix():
    with pytest.raises(SourceUnavailable) as caught:
        PostgresConnector.from_environment({"HOME": "/nowhere"})
    assert caught.value.reason == NOT_CONFIGURED
    assert "INCIDENT_PG_DSN" in NOT_CONFIGURED and "PGHOST" in NOT_CONFIGURED
    with pytest.raises(SourceUnavailable, match="not configured"):
        default_registry({}).get("postgres")


def test_targets_by_name_and_the_manifest_without_password():
    env = {
        "INCIDENT_PG_DSN": f"postgresql://reader:{quote(PASSWORD, safe='')}@db.prod:5433/app",
        "INCIDENT_PG_DSN_ORDERS": f"host=orders.prod dbname=orders user=ro password={PASSWORD}",
        "INCIDENT_PG_DSN_EMPTY": "  ",
    }
    connector = default_registry(env).get("postgres")
    assert isinstance(connector, PostgresConnector)
    assert [t.name for t in connector.targets] == ["default", "orders"]
    assert [t.password for t in connector.targets] == [PASSWORD, PASSWORD]
    for frame in connector.frames:
        query = connector.query(frame, None, None)  # type: ignore[arg-type]
        assert_no_password(query)
        assert query["application_name"] == "incident-runbooks" and query["sql"]
    described = connector.query("activity", None, None)["targets"]  # type: ignore[arg-type]
    assert described[0] == {
        "target": "default",
        "configured_by": "INCIDENT_PG_DSN",
        "host": "db.prod",
        "port": "5433",
        "dbname": "app",
        "user": "reader",
    }
    assert described[1]["target"] == "orders" and described[1]["host"] == "orders.prod"
    assert connector.query("activity", None, None)["sampling"] == {  # type: ignore[arg-type]
        "every_s": 5.0,
        "for_s": 30.0,
        "snapshots": 7,
    }
    only = PostgresConnector.from_environment(env, databases=("ORDERS",))
    assert [t.name for t in only.targets] == ["orders"]
    with pytest.raises(
        InvalidInput, match="unknown database 'billing'; configured: default, orders"
    ):
        PostgresConnector.from_environment(env, databases=("billing",))


def test_libpq_variables_make_the_default_target():
    env = {"PGHOST": "db.prod", "PGDATABASE": "orders", "PGUSER": "ro", "PGPASSWORD": PASSWORD}
    (target,) = targets_from_environment(env)
    assert target.name == "default" and target.variable == "PGHOST/PGDATABASE/PGUSER"
    assert target.params == {
        "host": "db.prod",
        "dbname": "orders",
        "user": "ro",
        "password": PASSWORD,
    }
    assert_no_password(target.describe())
    # PGPASSWORD alone names no database
    with pytest.raises(SourceUnavailable):
        targets_from_environment({"PGPASSWORD": PASSWORD})


def test_an_invalid_dsn_is_refused_without_quoting_it():
    bad = f"host=db password {PASSWORD}"
    with pytest.raises(InvalidInput) as caught:
        targets_from_environment({"INCIDENT_PG_DSN_ORDERS": bad})
    assert str(caught.value).startswith("INCIDENT_PG_DSN_ORDERS is not a valid libpq connection")
    assert_no_password(str(caught.value))
    with pytest.raises(InvalidInput, match=r'\(invalid connection option "colour"\)'):
        targets_from_environment({"INCIDENT_PG_DSN": "host=db colour=blue"})
    with pytest.raises(InvalidInput, match="letters, digits or _"):
        targets_from_environment({"INCIDENT_PG_DSN_ORD-ERS": "host=db"})


def test_sampling_defaults_and_environment():
    assert Sampling.from_environment({}) == Sampling(every=5.0, duration=30.0)
    sampling = Sampling.from_environment(
        {"INCIDENT_PG_SAMPLE_EVERY": "0.5", "INCIDENT_PG_SAMPLE_FOR": "99.5"}
    )
    assert (sampling.every, sampling.duration, sampling.samples) == (0.5, 99.5, 200)
    assert Sampling(every=1, duration=0).samples == 1
    assert Sampling(every=2, duration=5).clipped(3.0) == Sampling(every=2, duration=3.0)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INCIDENT_PG_SAMPLE_EVERY", "fast", "INCIDENT_PG_SAMPLE_EVERY must be a number"),
        (
            "INCIDENT_PG_SAMPLE_EVERY",
            "0.1",
            "INCIDENT_PG_SAMPLE_EVERY must be a number of seconds at least 0.5",
        ),
        ("INCIDENT_PG_SAMPLE_EVERY", "nan", "INCIDENT_PG_SAMPLE_EVERY must be a finite number"),
        (
            "INCIDENT_PG_SAMPLE_FOR",
            "-1",
            "INCIDENT_PG_SAMPLE_FOR must be a number of seconds between 0 and 600",
        ),
        (
            "INCIDENT_PG_SAMPLE_FOR",
            "601",
            "INCIDENT_PG_SAMPLE_FOR must be a number of seconds between 0 and 600",
        ),
        ("INCIDENT_PG_SAMPLE_FOR", "inf", "INCIDENT_PG_SAMPLE_FOR must be a finite number"),
        ("INCIDENT_PG_SAMPLE_FOR", "100", "at most 200"),
    ],
)
def test_sampling_values_are_validated_naming_the_variable(variable, value, message):
    env = {"INCIDENT_PG_DSN": "host=db", "INCIDENT_PG_SAMPLE_EVERY": "0.5", variable: value}
    with pytest.raises(InvalidInput, match=message):
        PostgresConnector.from_environment(env)


def test_the_connector_gets_its_own_budget_from_the_environment():
    env = {"INCIDENT_PG_DSN": "host=db", "INCIDENT_SOURCE_BUDGET": "7"}
    registry = default_registry(env)
    built = registry.get("postgres")
    assert built.budget.seconds == 7 and built.budget.source == "postgres"  # type: ignore[attr-defined]
    assert registry.get("postgres") is built
    with pytest.raises(SourceUnavailable, match="no live fetch named 'queries'"):
        built.fetch("queries", None, None)  # type: ignore[arg-type]


def test_importing_the_source_imports_neither_psycopg_nor_pandas():
    code = (
        "import sys, incident_lib, incident_lib.sources.postgres;"
        "print(sorted(m for m in ('psycopg', 'pandas', 'pglast') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
