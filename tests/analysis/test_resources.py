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
    # the saturation moment: the first sample at the limit, per container and resource
    assert table.loc[0, "cpu_limit_reached_at"] == T + pd.Timedelta(minutes=31)
    assert table.loc[0, "memory_limit_reached_at"] == T
    assert pd.isna(table.loc[1, "cpu_limit_reached_at"])


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
        "1 container(s) at their cpu limit, from 14:31 UTC",
        "1 container(s) at their memory limit, from 14:00 UTC",
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


# -- issue 8: deleted pods, "+N more", whose warnings --------------------------------------


def _pod_row(pod: str, container: str = "api", memory_limit: float = 2**30, started=T) -> dict:
    return {
        "pod": pod,
        "container": container,
        "node": "n1",
        "phase": "Running",
        "ready": True,
        "restarts": 0,
        "last_termination_reason": None,
        "last_termination_at": pd.NaT,
        "started_at": started,
        "cpu_request": 0.5,
        "cpu_limit": 1.0,
        "memory_request": 2**29,
        "memory_limit": memory_limit,
    }


def _usage_of(peaks: dict[str, float]) -> pd.DataFrame:
    rows = [
        (T + pd.Timedelta(minutes=m), pod, "api", 0.1, peak)
        for pod, peak in peaks.items()
        for m in range(3)
    ]
    return conform(
        pd.DataFrame(rows, columns=["time", "pod", "container", "cpu", "memory"]), "pod_usage"
    )


def test_deleted_pods_are_compared_with_their_templates_limit_and_ranked_first():
    pods = conform(
        pd.DataFrame(
            [
                _pod_row("api-6f9c7b5d48-pb445", started=T),
                _pod_row("api-6f9c7b5d48-zcxn6", started=T + pd.Timedelta(minutes=5)),
                _pod_row("api-7d4b8c9f6-q4d9p", memory_limit=2**29),
            ]
        ),
        "pods",
    )
    usage = _usage_of(
        {
            "api-6f9c7b5d48-pb445": 0.93 * 2**30,  # a survivor at 93 %
            "api-7d4b8c9f6-2cwdm": 2**29,  # deleted; its sibling q4d9p survives: 100 %
            "api-5b8d9c7f4-x6ldj": 0.97 * 2**30,  # deleted; whole ReplicaSet gone: newest pod
            "worker-55d8c9f6b7-abcde": 2**28,  # deleted; nothing of its deployment left
        }
    )
    table = resources.limits_vs_usage(pods, usage, window=WINDOW)
    by_pod = table.set_index("pod")
    assert "no limit" not in " ".join(table["flag"])  # a deleted pod's limit is not absent
    sibling = by_pod.loc["api-7d4b8c9f6-2cwdm"]
    assert sibling["memory_limit"] == 2**29 and sibling["memory_of_limit"] == 1.0
    assert "sibling api-7d4b8c9f6-q4d9p" in sibling["limit_source"]
    newest = by_pod.loc["api-5b8d9c7f4-x6ldj"]
    assert "api-6f9c7b5d48-zcxn6, the newest pod of api" in newest["limit_source"]
    gone = by_pod.loc["worker-55d8c9f6b7-abcde"]
    assert gone["flag"] == "limit unknown" and np.isnan(gone["memory_of_limit"])
    assert by_pod.loc["api-6f9c7b5d48-pb445", "limit_source"] == ""
    # ranked by share of the limit, unknown last: the pods that hit the limit come first
    assert list(table["pod"]) == [
        "api-7d4b8c9f6-2cwdm",
        "api-5b8d9c7f4-x6ldj",
        "api-6f9c7b5d48-pb445",
        "worker-55d8c9f6b7-abcde",
    ]
    found = resources.resource_findings(
        resources.pod_problems(pods), table, resources.warning_events(empty_frame("k8s_events"))
    )
    memory = next(f for f in found if "memory limit" in f.title)
    assert memory.title == (
        "3 container(s) at their memory limit, from 14:00 UTC, 2 of them in pods deleted since"
    )
    assert memory.summary.startswith("api-7d4b8c9f6-2cwdm/api 100% (pod deleted")
    assert any(f.title == "1 deleted container(s) with an unknown limit" for f in found)


def test_every_count_lists_all_or_says_how_many_more():
    pods = conform(pd.DataFrame([_pod_row(f"api-6f9c7b5d48-p{i:04d}") for i in range(10)]), "pods")
    rows = [(T, f"api-6f9c7b5d48-p{i:04d}", "api", 0.99, 2**20) for i in range(10)]
    usage = conform(
        pd.DataFrame(rows, columns=["time", "pod", "container", "cpu", "memory"]), "pod_usage"
    )
    table = resources.limits_vs_usage(pods, usage, window=WINDOW)
    (cpu,) = [
        f
        for f in resources.resource_findings(
            resources.pod_problems(pods), table, resources.warning_events(empty_frame("k8s_events"))
        )
        if "cpu limit" in f.title
    ]
    assert cpu.title.startswith("10 container(s) at their cpu limit, from ")
    assert cpu.summary.count("/api 99%") == 6 and "+4 more" in cpu.summary


def test_warnings_of_other_services_are_counted_separately():
    rows = [
        (T, T, "Warning", "Unhealthy", "Pod/api-6f9c7b5d48-pb445", "Readiness probe failed", 5),
        (T, T, "Warning", "Unhealthy", "Pod/api-gateway-5d7f8b9c6-xk2lp", "Readiness", 40),
        (T, T, "Warning", "Unhealthy", "Pod/payments-7c9d8f6b5-abcde", "Liveness", 29),
        (T, T, "Warning", "FailedGetScale", "HorizontalPodAutoscaler/api", "no metrics", 2),
        (T, T, "Warning", "OOMKilling", "Node/n1", "Memory cgroup out of memory", 1),
        (T, T, "Warning", "OOMKilling", "Node/n9", "Memory cgroup out of memory", 1),
    ]
    cols = ["first_seen", "last_seen", "type", "reason", "object", "message", "count"]
    events = conform(pd.DataFrame(rows, columns=cols), "k8s_events")
    pods = conform(pd.DataFrame([_pod_row("api-6f9c7b5d48-pb445")]), "pods")
    grouped = resources.warning_events(events, window=WINDOW, service="api", pods=pods)
    ours = grouped[grouped["scope"] == "api"].set_index("reason")
    assert ours.loc["Unhealthy", "count"] == 5 and ours.loc["Unhealthy", "objects"] == 1
    assert ours.loc["FailedGetScale", "count"] == 2 and ours.loc["OOMKilling", "count"] == 1
    other = grouped[grouped["scope"] == "other"].set_index("reason")
    assert other.loc["Unhealthy", "count"] == 69 and other.loc["OOMKilling", "count"] == 1
    assert list(grouped["scope"])[-2:] == ["other", "other"]  # the service's first
    titles = [
        f.title
        for f in resources.resource_findings(
            resources.pod_problems(pods),
            resources.limits_vs_usage(pods, empty_frame("pod_usage")),
            grouped,
        )
    ]
    assert "5 Unhealthy warning event(s) on 1 object(s) of api" in titles
    assert "70 warning event(s) on objects of other services (not counted above)" in titles
