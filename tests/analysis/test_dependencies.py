"""Dependency findings and the summary table, from small literal frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from incident_lib.analysis.dependencies import (
    applicable_checks,
    dependencies_verdict,
    dependency_findings,
    dependency_table,
    endpoint_findings,
)
from incident_lib.core.schema import conform, empty_frame

AT = pd.Timestamp("2026-11-03T14:05:00Z")
NAN = math.nan
HEALTH = "https://api.prod.svc/healthz"
PAY = "https://payments.prod.svc:8443/health"
DB = "orders-db.prod.svc:5432"
GONE = "https://gone.prod.svc/health"
SLOWDEP = "http://search.prod.svc/ping"


def _row(target, host, port, check, status, detail, latency=NAN, days=NAN, reason=""):
    expires = AT + pd.Timedelta(days=days) if not math.isnan(days) else pd.NaT
    return {
        "target": target,
        "host": host,
        "port": port,
        "check": check,
        "status": status,
        "latency_ms": latency,
        "detail": detail,
        "checked_at": AT,
        "expires_at": expires,
        "days_left": days,
        "reason": reason,
    }


def _checks() -> pd.DataFrame:
    rows = [
        _row(HEALTH, "api.prod.svc", 443, "dns", "ok", "10.0.0.1", 3.0),
        _row(HEALTH, "api.prod.svc", 443, "tcp", "ok", "connected", 1.0),
        _row(HEALTH, "api.prod.svc", 443, "tls", "ok", "valid", 5.0, days=80.0),
        _row(
            HEALTH,
            "api.prod.svc",
            443,
            "http",
            "failed",
            "answered 503 <b>x</b>",
            20.0,
            reason="http_503",
        ),
        _row(PAY, "payments.prod.svc", 8443, "dns", "ok", "10.0.0.2", 2.0),
        _row(PAY, "payments.prod.svc", 8443, "tcp", "ok", "connected", 1.0),
        _row(
            PAY,
            "payments.prod.svc",
            8443,
            "tls",
            "failed",
            "certificate not valid: self-signed",
            4.0,
            days=3.0,
            reason="self_signed",
        ),
        _row(
            PAY,
            "payments.prod.svc",
            8443,
            "http",
            "unknown",
            "not checked: TLS failed",
            reason="tls",
        ),
        _row(DB, "orders-db.prod.svc", 5432, "dns", "ok", "10.0.0.3", 2.0),
        _row(
            DB,
            "orders-db.prod.svc",
            5432,
            "tcp",
            "failed",
            "connection refused",
            1.0,
            reason="refused",
        ),
        _row(
            GONE,
            "gone.prod.svc",
            443,
            "dns",
            "failed",
            "the name does not exist (NXDOMAIN)",
            reason="nxdomain",
        ),
        _row(GONE, "gone.prod.svc", 443, "tcp", "unknown", "not checked", reason="dns"),
        _row(SLOWDEP, "search.prod.svc", 80, "dns", "ok", "10.0.0.4", 2.0),
        _row(SLOWDEP, "search.prod.svc", 80, "tcp", "ok", "connected", 1.0),
        _row(SLOWDEP, "search.prod.svc", 80, "http", "slow", "answered 200 OK", 1800.0),
    ]
    return pd.DataFrame(rows)


def test_the_first_failure_of_each_target_with_what_to_do():
    findings = dependency_findings(conform(_checks(), "dependency_checks"), health_url=HEALTH)
    titles = [f.title for f in findings]
    assert any(t.startswith(f"{HEALTH}: HTTP failed") for t in titles)
    assert any(t.startswith(f"{PAY}: TLS failed") for t in titles)
    assert any(t.startswith(f"{DB}: TCP connect failed") for t in titles)
    assert any(t.startswith(f"{GONE}: DNS failed") for t in titles)
    own = next(f for f in findings if f.title.startswith(f"{HEALTH}: HTTP failed"))
    assert own.role == "symptom" and "health endpoint" in own.summary
    dep = next(f for f in findings if f.title.startswith(f"{DB}:"))
    assert dep.role == "mechanism" and dep.fact == f"dependency:{DB}"
    assert "checked at 2026-11-03 14:05:00 UTC" in dep.summary
    assert "What to do: nothing listens there" in dep.summary
    gone = next(f for f in findings if f.title.startswith(f"{GONE}:"))
    assert "check the name" in gone.summary
    assert "<b>" not in own.summary  # untrusted detail quoted for Markdown
    # the checks that did not run after a failure are not findings of their own
    assert not any("not known" in t for t in titles)


def test_slow_answers_and_certificates_expiring_within_the_threshold():
    findings = dependency_findings(conform(_checks(), "dependency_checks"))
    slow = [f for f in findings if "slow" in f.title]
    assert len(slow) == 1 and slow[0].severity == "medium" and "1.8 s" in slow[0].title
    certs = [f for f in findings if "TLS certificate" in f.title]
    assert [f.title for f in certs] == [f"{PAY}: TLS certificate expires in 3.0 days"]
    assert (
        certs[0].severity == "high" and "renew it before 2026-11-06 14:05 UTC" in certs[0].summary
    )
    wider = dependency_findings(conform(_checks(), "dependency_checks"), expiring_days=90)
    assert sum("TLS certificate expires" in f.title for f in wider) == 2  # 80 days too


def test_an_expired_certificate():
    frame = conform(
        pd.DataFrame([_row(PAY, "p", 8443, "tls", "failed", "expired", days=-2.0)]),
        "dependency_checks",
    )
    (failure, cert) = dependency_findings(frame)
    assert "expired 2.0 days ago" in cert.title and cert.severity == "high"
    assert "renew" in failure.summary


def test_a_check_that_could_not_run_is_unknown_never_ok():
    frame = conform(
        pd.DataFrame(
            [
                _row(DB, "db", 5432, "dns", "ok", "10.0.0.3", 2.0),
                _row(DB, "db", 5432, "tcp", "unknown", "not checked: the time budget was used up"),
            ]
        ),
        "dependency_checks",
    )
    (finding,) = dependency_findings(frame)
    assert finding.severity == "low" and "Unknown is not healthy" in finding.summary
    table = dependency_table(frame)
    assert table.loc[0, "tcp"] == "unknown"


def test_no_checks_at_all_is_unknown():
    (finding,) = dependency_findings(empty_frame("dependency_checks"))
    assert finding.title == "Dependencies not checked" and "unknown" in finding.summary


def _with_reason() -> pd.DataFrame:
    """The checks with the probes' ``reason`` codes (a column the contract may gain)."""
    raw = _checks()
    return conform(raw, "dependency_checks").assign(reason=raw["reason"])


def test_the_summary_table_one_row_per_target():
    table = dependency_table(_with_reason())
    assert list(table.columns) == ["target", "dns", "tcp", "tls", "http", "checked_at"]
    assert list(table["target"]) == [HEALTH, PAY, DB, GONE, SLOWDEP]
    rows = table.set_index("target")
    assert rows.loc[HEALTH, "http"] == "failed: http 503"
    assert rows.loc[HEALTH, "tls"] == "ok 5 ms, 80 d left"
    assert rows.loc[PAY, "tls"] == "failed: self signed" and rows.loc[PAY, "http"] == "unknown"
    assert rows.loc[DB, "tcp"] == "failed: refused"
    assert rows.loc[DB, "tls"] == "—" and rows.loc[DB, "http"] == "—"  # does not apply
    assert rows.loc[GONE, "tls"] == "unknown"  # applies, no row: unknown, not ok
    assert rows.loc[SLOWDEP, "http"] == "slow 1.8 s"


def test_the_table_says_a_failure_s_reason_and_without_one_its_detail():
    frame = conform(_checks(), "dependency_checks")
    rows = dependency_table(frame).set_index("target")
    assert rows.loc[DB, "tcp"] == "failed: refused"  # the reason code, in words

    frame.loc[frame["reason"] == "refused", "reason"] = ""  # a probe that gave no code
    rows = dependency_table(frame).set_index("target")
    assert rows.loc[DB, "tcp"] == "failed: connection refused"


@pytest.mark.parametrize(
    ("target", "checks"),
    [
        ("https://a.b/c", ("dns", "tcp", "tls", "http")),
        ("http://10.0.0.1:8080/", ("tcp", "http")),
        ("tcp://db:5432", ("dns", "tcp")),
        ("[::1]:53", ("tcp",)),
    ],
)
def test_applicable_checks(target, checks):
    assert applicable_checks(target) == checks


def _endpoints(*rows):
    return conform(
        pd.DataFrame(
            [
                {
                    "service": s,
                    "ready": r,
                    "not_ready": n,
                    "terminating": t,
                    "ports": "8080/TCP",
                    "captured_at": AT,
                }
                for s, r, n, t in rows
            ]
        ),
        "k8s_endpoints",
    )


def test_services_with_no_ready_or_some_not_ready_endpoints():
    frame = _endpoints(
        ("api", 2, 1, 0), ("payments", 0, 0, 1), ("orders", 0, 0, 0), ("ok", 3, 0, 1)
    )
    findings = endpoint_findings(frame)
    assert [(f.title, f.severity) for f in findings] == [
        ("Service api: 1 of 3 endpoints not ready", "medium"),
        ("Service orders has no ready endpoint", "high"),
        ("Service payments has no ready endpoint", "high"),
    ]
    assert "0 not ready and 1 terminating" in findings[2].summary
    assert "selector matches no running pod" in findings[1].summary
    assert all("What to do" in f.summary for f in findings)
    both = dependency_findings(empty_frame("dependency_checks"), frame)
    assert len(both) == 4  # "not checked" plus the three Services


def test_the_verdict_names_what_failed_and_never_counts_unknown_as_answering():
    checks = conform(_checks(), "dependency_checks")
    endpoints = _endpoints(("api", 2, 1, 0), ("payments", 0, 0, 1))

    text = dependencies_verdict(checks, endpoints, health_url=HEALTH)

    assert text.startswith(
        "4 of 5 endpoints failed: the service's own health endpoint "
        f"{HEALTH} (failed: http 503), {PAY} (failed: self signed), {DB} (failed: refused)"
    )
    assert "1 of 5 endpoints answered slowly: http://search.prod.svc/ping (slow 1.8 s)" in text
    assert text.endswith("1 Service without a ready endpoint: payments")
    assert "answered (" not in text  # no "all answered" while some failed


def test_the_verdict_when_everything_answered_and_when_nothing_was_probed():
    healthy = conform(_checks(), "dependency_checks")
    healthy = healthy[healthy["target"] == SLOWDEP].assign(status="ok")
    assert dependencies_verdict(healthy) == (
        "the one endpoint probed answered (the slowest: http://search.prod.svc/ping, HTTP 1.8 s)"
    )
    nothing = empty_frame("dependency_checks")
    assert dependencies_verdict(nothing) == "no endpoint was probed"
    unknown = healthy.assign(status="unknown")
    assert "could not be checked (unknown, not healthy)" in dependencies_verdict(unknown)


def test_an_expiring_certificate_still_answered():
    checks = conform(_checks(), "dependency_checks")
    checks = checks[checks["target"] == SLOWDEP].assign(status="ok")
    expiring = checks.iloc[:1].assign(check="tls", status="expiring", days_left=9.2)
    text = dependencies_verdict(pd.concat([checks, expiring], ignore_index=True))
    assert text.startswith("the one endpoint probed answered")
    assert text.endswith(
        "1 of 1 endpoints present a certificate expiring soon: "
        "http://search.prod.svc/ping (expires in 9.2 d)"
    )


def test_a_status_outside_the_vocabulary_is_unknown_not_a_crash():
    checks = conform(_checks(), "dependency_checks")
    checks = checks[checks["target"] == SLOWDEP].assign(status="ok <b>y</b>")
    assert dependencies_verdict(checks) == (
        "1 of 1 endpoints could not be checked (unknown, not healthy): http://search.prod.svc/ping"
    )
