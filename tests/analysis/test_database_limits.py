"""Roles and databases against their own CONNECTION LIMIT."""

from __future__ import annotations

import pandas as pd
from test_database_frames import activity, at, session

from incident_lib.analysis.database import limit_findings, own_limits
from incident_lib.core.schema import conform


def _limits(*rows):
    columns = ["target", "kind", "name", "connection_limit", "connections"]
    return conform(pd.DataFrame(rows, columns=columns), "pg_limits")


LIMITS = _limits(
    ("default", "role", "report", 5, 1),
    ("default", "role", "api", -1, 40),  # no limit of its own: not listed
    ("default", "database", "orders", 200, 45),
    ("default", "role", "batch", 3, 3),  # full when the limits were read
)


def test_only_limited_roles_and_databases_fullest_first_with_their_sampled_peak():
    rows = [session(at(m), 100 + k, user="report") for m in (0, 1) for k in range(m * 4 + 1)]
    table = own_limits(LIMITS, activity(rows))
    assert table["name"].tolist() == ["batch", "report", "orders"]
    report = table.set_index("name").loc["report"]
    assert report["peak"] == 5 and report["peak_at"] == at(1) and report["share"] == 1.0
    orders = table.set_index("name").loc["orders"]
    assert orders["peak"] == 5 and orders["share"] == 45 / 200  # datname of every session


def test_a_role_at_its_own_limit_is_a_finding_and_one_under_it_is_not():
    rows = [session(at(1), 100 + k, user="report") for k in range(5)]
    found = {f.fact: f for f in limit_findings(own_limits(LIMITS, activity(rows)))}
    assert set(found) == {"db:own-limit:default:role:report", "db:own-limit:default:role:batch"}
    report = found["db:own-limit:default:role:report"]
    assert "5 sessions of role report at 14:01" in report.summary
    assert "CONNECTION LIMIT is 5" in report.summary and report.role == "mechanism"
    assert "when read" in found["db:own-limit:default:role:batch"].summary
    quiet = [session(at(1), 100, user="report")]
    assert [f.fact for f in limit_findings(own_limits(LIMITS, activity(quiet)))] == [
        "db:own-limit:default:role:batch"
    ]
