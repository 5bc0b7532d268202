"""OOM kills, crash loops and evictions from the ``k8s_terminations`` frame, deleted pods too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from incident_lib.analysis import resources
from incident_lib.analysis.terminations import termination_findings, termination_table
from incident_lib.core.schema import conform, empty_frame
from incident_lib.core.time import Window

T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(hours=1))
NAN = float("nan")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def row(pod, container, reason, minutes, source="status", deleted=False, node="n1", **kw):
    return {
        "pod": pod,
        "container": container,
        "node": node,
        "workload": "api",
        "reason": reason,
        "exit_code": 137.0 if reason == "OOMKilled" else NAN,
        "finished_at": at(minutes) if minutes is not None else None,
        "source": source,
        "pod_deleted": deleted,
        "message": kw.get("message", ""),
    }


def frame(*rows):
    return conform(pd.DataFrame(list(rows)), "k8s_terminations")


OOMS = frame(
    row("api-7c9d8-aaaaa", "api", "OOMKilled", 10),
    row("api-7c9d8-aaaaa", "api", "OOMKilled", 12),
    row("api-5f6b4-bbbbb", "api", "OOMKilled", 15, "node-event", True),
    row("api-5f6b4-bbbbb", "api", "OOMKilled", 19, "node-event", True),
    row("api-5f6b4-bbbbb", "api", "Killing", 30, "event", True),
    row("api-5f6b4-bbbbb", "api", "BackOff", 18, "event", True),
    row("api-7c9d8-aaaaa", "api", "OOMKilled", 90),  # after the window
)


def test_oom_kills_per_container_include_deleted_pods():
    findings = termination_findings(OOMS, window=WINDOW)

    oom = findings[0]
    assert oom.title == "api OOMKilled 4 times (2 in pods deleted since), last 14:19 UTC"
    assert (oom.severity, oom.fact, oom.role) == ("high", "memory", "mechanism")
    assert "`api-5f6b4-bbbbb`" in oom.summary and "kernel OOM killer" in oom.summary


def test_a_kernel_kill_without_a_container_is_counted_as_unknown():
    findings = termination_findings(
        frame(
            row("api-7c9d8-aaaaa", "api", "OOMKilled", 10),
            row("", "", "OOMKilled", 11, "node-event", node="node-b"),
        )
    )

    title = findings[0].title
    assert title == (
        "2 OOM kills: api OOMKilled once, a container (unknown) OOMKilled once; last 14:11 UTC"
    )
    assert "`node-b`" in findings[0].summary


def test_crash_loops_of_deleted_pods_and_evictions():
    findings = termination_findings(
        frame(
            row("api-5f6b4-bbbbb", "api", "BackOff", 18, "event", True),
            row("api-5f6b4-bbbbb", "api", "LivenessKilled", 17, "event", True),
            row("api-7c9d8-aaaaa", "api", "Error", 17),  # a current pod: the pods frame's
            row("api-7c9d8-ccccc", "", "Evicted", 40, message="The node was low on memory."),
        ),
        window=WINDOW,
    )

    crash, evicted = findings
    assert crash.title == "api crash-looping in 1 pod deleted since, last 14:18 UTC"
    assert (crash.fact, crash.role) == ("restarts", "symptom")
    assert "BackOff ×1" in crash.summary and "LivenessKilled ×1" in crash.summary
    assert evicted.title == "1 pod evicted, last 14:40 UTC"
    assert evicted.fact == "warning:Evicted"


def test_ordinary_stops_are_no_finding_and_nothing_is_an_empty_list():
    assert termination_findings(frame(row("p-abcde", "api", "Killing", 3, "event", True))) == []
    assert termination_findings(empty_frame("k8s_terminations")) == []


def test_the_table_groups_per_container_and_reason_oom_first():
    table = termination_table(OOMS, window=WINDOW)

    assert list(table["reason"]) == ["OOMKilled", "Killing", "BackOff"]
    first = table.iloc[0]
    assert (first["count"], first["deleted"], first["pods"]) == (4, 2, 2)
    assert first["seen_in"] == "node-event, status"
    assert first["last"] == at(19)
    assert termination_table(empty_frame("k8s_terminations")).empty


def test_resource_findings_leave_oom_kills_to_the_terminations():
    problems = pd.DataFrame(
        {
            "pod": ["api-7c9d8-aaaaa"],
            "container": ["api"],
            "phase": ["Running"],
            "ready": [True],
            "restarts": [2],
            "last_termination_reason": ["OOMKilled"],
            "last_termination_at": [at(12)],
            "problem": ["2 restart(s), last OOMKilled"],
        }
    )
    usage = pd.DataFrame(columns=["flag", "limit_source"])
    warnings = pd.DataFrame(
        {
            "reason": ["OOMKilling"],
            "scope": ["api"],
            "count": [2],
            "objects": [1],
            "first_seen": [at(10)],
            "last_seen": [at(12)],
            "example": ["Memory cgroup out of memory"],
        }
    )

    before = resources.resource_findings(problems, usage, warnings)
    after = resources.resource_findings(problems, usage, warnings, terminations=OOMS)

    assert sum(f.fact == "memory" for f in before) == 2
    assert [f for f in after if f.fact == "memory"] == []
    memory = [f for f in after + termination_findings(OOMS, window=WINDOW) if f.fact == "memory"]
    assert len(memory) == 1  # one kill, one finding
