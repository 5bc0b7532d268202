"""Pod problems, limits vs usage, warning events and their findings on literal frames."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from incident_lib import Window
from incident_lib.analysis import resources
from incident_lib.core.schema import conform, empty_frame

T = pd.Timestamp("2026-11-03T14:00:00Z")
WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))


def _pods() -> pd.DataFrame:
    rows = [
        ("api-1", "api", "Running", True, 0, None, None, 0.5, 1.0, 2**29, 2**30),
        (
            "api-2",
            "api",
            "Running",
            True,
            3,
            "OOMKilled",
            T + pd.Timedelta(minutes=9),
            0.5,
            1.0,
            2**29,
            2**30,
        ),
        ("api-3", "api", "Running", False, 1, "Error", T, 0.5, 1.0, 2**29, 2**30),
        ("api-4", "api", "Pending", False, 0, None, None, 0.5, np.nan, 2**29, np.nan),
    ]
    cols = [
        "pod",
        "container",
        "phase",
        "ready",
        "restarts",
        "last_termination_reason",
        "last_termination_at",
        "cpu_request",
        "cpu_limit",
        "memory_request",
        "memory_limit",
    ]
    frame = pd.DataFrame(rows, columns=cols).assign(node="n1", started_at=T)
    return conform(frame, "pods")


def test_pod_problems_names_each_problem():
    problems = resources.pod_problems(_pods())
    assert list(problems["pod"]) == ["api-2", "api-3", "api-4"]
    assert problems.loc[0, "problem"] == "3 restart(s), last OOMKilled"
    assert problems.loc[1, "problem"] == "not ready; 1 restart(s), last Error"
    assert problems.loc[2, "problem"] == "phase Pending"


def _usage() -> pd.DataFrame:
    rows = []
    for minute in range(60):
        t = T + pd.Timedelta(minutes=minute)
        rows.append((t, "api-1", "api", 0.2, 2**28))
        rows.append((t, "api-2", "api", 0.98 if minute > 30 else 0.3, 0.95 * 2**30))
        rows.append((t, "api-4", "api", 0.1, 2**27))
    rows.append((T - pd.Timedelta(minutes=5), "api-1", "api", 5.0, 2**28))  # outside the window
    return conform(
        pd.DataFrame(rows, columns=["time", "pod", "container", "cpu", "memory"]), "pod_usage"
    )


def test_limits_vs_usage_flags_and_order():
    table = resources.limits_vs_usage(_pods(), _usage(), window=WINDOW)
    assert list(table["pod"]) == ["api-2", "api-1", "api-4"]
    assert table.loc[0, "flag"] == "cpu at limit, memory at limit"
    assert table.loc[1, "cpu_peak"] == 0.2  # the 5-core sample is outside the window
    assert table.loc[2, "flag"] == "no limit"


def _events() -> pd.DataFrame:
    rows = [
        (
            T,
            T + pd.Timedelta(minutes=5),
            "Warning",
            "Unhealthy",
            "Pod/api-1",
            "Readiness probe failed",
            6,
        ),
        (T, T, "Warning", "Unhealthy", "Pod/api-2", "Readiness probe failed", 2),
        (T, T, "Warning", "OOMKilling", "Node/n1", "Memory cgroup out of memory", 1),
        (T, T, "Normal", "Pulled", "Pod/api-1", "pulled", 1),
        (
            T - pd.Timedelta(hours=3),
            T - pd.Timedelta(hours=2),
            "Warning",
            "BackOff",
            "Pod/x",
            "old",
            9,
        ),
    ]
    cols = ["first_seen", "last_seen", "type", "reason", "object", "message", "count"]
    return conform(pd.DataFrame(rows, columns=cols), "k8s_events")


def test_warning_events_grouped_in_window():
    grouped = resources.warning_events(_events(), window=WINDOW)
    assert list(grouped["reason"]) == ["Unhealthy", "OOMKilling"]
    assert list(grouped["count"]) == [8, 1] and grouped.loc[0, "objects"] == 2


def test_findings_cover_each_problem_kind():
    problems = resources.pod_problems(_pods())
    limits = resources.limits_vs_usage(_pods(), _usage(), window=WINDOW)
    warnings = resources.warning_events(_events(), window=WINDOW)
    titles = [f.title for f in resources.resource_findings(problems, limits, warnings)]
    assert titles == [
        "1 container(s) OOMKilled",
        "2 container(s) restarting or not ready",
        "1 container(s) at their cpu limit",
        "1 container(s) at their memory limit",
        "8 Unhealthy warning event(s) on 2 object(s)",
        "1 OOMKilling warning event(s) on 1 object(s)",
    ]


def test_empty_inputs():
    assert resources.pod_problems(empty_frame("pods")).empty
    assert resources.limits_vs_usage(empty_frame("pods"), empty_frame("pod_usage")).empty
    assert resources.warning_events(empty_frame("k8s_events")).empty
    assert (
        resources.resource_findings(
            resources.pod_problems(empty_frame("pods")),
            resources.limits_vs_usage(empty_frame("pods"), empty_frame("pod_usage")),
            resources.warning_events(empty_frame("k8s_events")),
        )
        == []
    )
