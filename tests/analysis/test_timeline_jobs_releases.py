"""Jobs and releases on the incident timeline: each event points at the row it was read from."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from incident_records import sample_incident

from incident_lib.analysis.timeline import timeline_events
from incident_lib.core.schema import conform
from incident_lib.core.time import Window

WINDOW = Window(datetime(2026, 11, 3, 14, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
BASELINE = Window(datetime(2026, 11, 3, 13, 0, tzinfo=UTC), WINDOW.start)
INCIDENT = sample_incident()


def at(hh: int, mm: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(2026, 11, 3, hh, mm, tzinfo=UTC))


def _jobs() -> pd.DataFrame:
    rows = [
        {
            "job": name,
            "cronjob": cron,
            "started_at": started,
            "finished_at": None,
            "status": "running",
            "succeeded": 0,
            "failed": 0,
            "exit_codes": "",
            "reason": None,
            "message": None,
            "pods": f"{name}-abcde",
            "images": "registry/reindex:v3",
        }
        for name, cron, started in (
            ("cleanup-1", "", at(13, 20)),
            ("nightly-reindex-2989", "nightly-reindex", at(14, 6)),
        )
    ]
    return conform(pd.DataFrame(rows), "k8s_jobs")


def _releases() -> pd.DataFrame:
    rows = [
        {
            "tool": "argocd",
            "name": "api",
            "revision": "3f2a9c1d5e7b9a0c2e4f6a8b0d1c3e5f7a9b1d3f",
            "version": "",
            "status": "synced",
            "deployed_at": at(14, 4),
            "target": "main",
            "detail": "",
        }
    ]
    return conform(pd.DataFrame(rows), "releases")


def test_job_and_release_events_name_their_rows():
    frames = {"kubernetes/jobs": _jobs(), "kubernetes/releases": _releases()}

    events = timeline_events(frames, incident=INCIDENT, window=WINDOW, baseline=BASELINE)

    jobs = [e for e in events if e.evidence == "kubernetes/jobs"]
    releases = [e for e in events if e.evidence == "kubernetes/releases"]
    assert [(e.kind, e.row) for e in jobs] == [("job", 0), ("job", 1)]
    assert "nightly-reindex" in jobs[1].summary and jobs[1].source == "changes"
    assert [(e.kind, e.row) for e in releases] == [("deploy", 0)]
    assert "Argo CD" in releases[0].summary
    again = timeline_events(frames, incident=INCIDENT, window=WINDOW, baseline=BASELINE)
    assert [e.id for e in again] == [e.id for e in events]  # stable ids


def _terminations(*rows: tuple[str, str, str, pd.Timestamp, bool]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "pod": pod,
                    "container": container,
                    "node": "node-3",
                    "workload": "api",
                    "reason": reason,
                    "exit_code": 137.0,
                    "finished_at": moment,
                    "source": "event" if deleted else "status",
                    "pod_deleted": deleted,
                    "message": "",
                }
                for pod, container, reason, moment, deleted in rows
            ]
        ),
        "k8s_terminations",
    )


def test_oom_kills_of_deleted_pods_are_on_the_timeline():
    frames = {
        "kubernetes/terminations": _terminations(
            ("api-7d9f8c6b5-aaaaa", "api", "OOMKilled", at(14, 12), True),
            ("api-7d9f8c6b5-bbbbb", "api", "OOMKilled", at(14, 19), False),
            ("api-7d9f8c6b5-ccccc", "api", "Killing", at(14, 20), True),
            ("api-7d9f8c6b5-ddddd", "api", "OOMKilled", at(13, 30), True),  # before the window
        )
    }

    events = timeline_events(frames, incident=INCIDENT, window=WINDOW, baseline=BASELINE)

    oom = [e for e in events if e.kind == "oomkill"]
    assert len(oom) == 1
    assert oom[0].time == at(14, 12) and oom[0].row == 0
    assert oom[0].evidence == "kubernetes/terminations"
    assert "2 OOM kills (1 in pods deleted since)" in oom[0].summary


def test_dependency_failures_and_services_without_endpoints_are_on_the_timeline():
    def check(target: str, kind: str, status: str, detail: str) -> dict[str, object]:
        return {
            "target": target,
            "host": "h",
            "port": 443,
            "check": kind,
            "status": status,
            "reason": "",
            "latency_ms": 5.0,
            "detail": detail,
            "checked_at": at(14, 20),
            "expires_at": None,
            "days_left": float("nan"),
        }

    health = "https://api.prod.svc/healthz"
    checks = conform(
        pd.DataFrame(
            [
                check(health, "tcp", "ok", "connected"),
                check(health, "http", "failed", "answered 503"),
                check("orders-db:5432", "tcp", "ok", "connected"),
                check("https://payments.prod.svc", "tls", "unknown", "not checked"),
            ]
        ),
        "dependency_checks",
    )
    endpoints = conform(
        pd.DataFrame(
            [
                {"service": s, "ready": r, "not_ready": n, "terminating": 0,
                 "ports": "8080/TCP", "captured_at": at(14, 21)}
                for s, r, n in (("api", 3, 0), ("payments", 0, 2))
            ]
        ),
        "k8s_endpoints",
    )  # fmt: skip
    incident = INCIDENT.with_changes(health_url=health)

    events = timeline_events(
        {"probes/checks": checks, "kubernetes/endpoints": endpoints},
        incident=incident,
        window=WINDOW,
        baseline=BASELINE,
    )

    lane = [(e.kind, e.row, e.section) for e in events if e.source == "dependencies"]
    assert lane == [
        ("dependency_failed", 1, "08_dependencies"),
        ("no_ready_endpoint", 1, "08_dependencies"),
    ]  # the ok and the unknown endpoints make no event
    failed = next(e for e in events if e.kind == "dependency_failed")
    assert failed.summary.startswith("the service's health endpoint https://api.prod.svc")
