"""Timeline events from captured frames: the demo stories, row references, literal frames."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from incident_records import sample_incident

from incident_lib.analysis.resources import NEAR_LIMIT
from incident_lib.analysis.timeline import FAILURE_LEVELS, timeline_events
from incident_lib.core.incident import Incident
from incident_lib.core.schema import EVIDENCE_KINDS, conform, empty_frame
from incident_lib.core.time import Window
from incident_lib.core.timeline import LANES, Event
from incident_lib.demo import SCENARIOS
from incident_lib.infra.workspace import open_workspace, read_incident

MINUTE = timedelta(minutes=1)
START = datetime(2026, 11, 3, 14, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))
BASELINE = WINDOW.preceding()
T = pd.Timestamp(START)


def _incident(**times: str) -> Incident:
    return sample_incident(start=WINDOW.start.isoformat(), end=WINDOW.end.isoformat(), **times)


def _events(frames: dict[str, pd.DataFrame], incident: Incident | None = None) -> list[Event]:
    return timeline_events(
        frames, incident=incident or _incident(), window=WINDOW, baseline=BASELINE
    )


# --- the demo workspaces -----------------------------------------------------------------


class Demo:
    def __init__(self, path) -> None:
        workspace = open_workspace(path)
        self.incident = read_incident(path)
        self.frames = {
            f"{e.source}/{e.name}": workspace.evidence.read(e.source, e.name)
            for e in workspace.evidence.entries()
        }
        self.truth = SCENARIOS[workspace.demo_scenario or ""].truth
        started = time.perf_counter()
        self.events = self.build()
        self.seconds = time.perf_counter() - started

    def build(self, frames: dict[str, pd.DataFrame] | None = None) -> list[Event]:
        return timeline_events(
            self.frames if frames is None else frames,
            incident=self.incident,
            window=self.incident.window,
            baseline=self.incident.baseline_window,
        )

    def one(self, source: str, kind: str, *, key: str = "", text: str = "") -> Event:
        found = [
            e
            for e in self.events
            if e.source == source and e.kind == kind and key in e.key and text in e.summary
        ]
        assert len(found) == 1, (source, kind, key, text, found)
        return found[0]


@pytest.fixture(scope="module")
def demos(demo_root) -> dict[str, Demo]:
    return {name: Demo(demo_root / name) for name in SCENARIOS}


def _near(moment: datetime, expected: datetime, tolerance: timedelta = MINUTE) -> bool:
    return abs(moment - expected) <= tolerance


def _in_order(demo: Demo, events: list[Event]) -> None:
    positions = [demo.events.index(e) for e in events]
    assert positions == sorted(positions), [(e.time, e.kind, e.key) for e in events]
    times = [e.time for e in events]
    assert times == sorted(times)


def test_connection_leak_tells_the_story_in_order(demos):
    demo = demos["connection-leak"]
    truth = demo.truth
    deploy = demo.one("changes", "deploy", key=f"api rev {truth.bad_revision}")
    assert deploy.time == truth.deploy_at and truth.bad_version in deploy.summary
    connections = demo.one("metrics", "onset", key="onset:db_connections")
    assert truth.deploy_at <= connections.time <= truth.cause_at + MINUTE
    signatures = [e for e in demo.events if e.kind == "new_signature"]
    assert "flush aborted" in signatures[0].summary  # the first new failure
    errors = demo.one("metrics", "onset", key="onset:error_ratio")
    assert _near(errors.time, truth.onset_at)
    alert = next(e for e in demo.events if e.source == "monitors" and e.kind == "alert")
    assert alert.time == truth.alert_at
    detected = demo.one("people", "detected")
    assert detected.time == truth.detected_at
    # the sessions themselves say when the slots ran out: one fact, the database lane's
    saturated = demo.one("database", "saturation", key="saturation:postgres:default")
    assert timedelta(0) <= saturated.time - truth.db_limit_reached_at <= timedelta(seconds=30)
    assert f"max_connections {truth.db_max_connections}" in saturated.summary
    assert str(truth.db_available_connections) in saturated.summary
    assert not [e for e in demo.events if e.key == "saturation:db_connections"]
    leak = demo.one("database", "leak")
    assert truth.db_leaking_application in leak.summary
    assert truth.deploy_at <= leak.time <= truth.cause_at + MINUTE
    blocking = demo.one("database", "blocking")
    assert truth.db_blocking_root in blocking.summary
    assert leak.time < blocking.time < saturated.time
    rollback = demo.one("changes", "rollback", key=f"api rev {truth.rollback_revision}")
    assert rollback.time == truth.rollback_at and truth.good_version in rollback.summary
    recovered = demo.one("metrics", "recovery", key="recovery:error_ratio")
    assert truth.rollback_at < recovered.time <= truth.recovered_at + MINUTE
    resolved = demo.one("people", "resolved")
    assert resolved.time == truth.resolved_at
    _in_order(
        demo,
        [
            deploy,
            connections,
            signatures[0],
            errors,
            alert,
            detected,
            saturated,
            rollback,
            recovered,
            resolved,
        ],
    )
    # every new signature the scenario planted that is a failure of its own is there
    for text in ("QueuePool limit", "too many clients", "database pool exhausted"):
        assert any(text in e.summary for e in signatures), text
    assert not any(e.kind == "onset" and e.key == "onset:error_rate" for e in demo.events)


def test_traffic_surge_tells_the_story_in_order(demos):
    demo = demos["traffic-surge"]
    truth = demo.truth
    campaign = demo.one("changes", "event", text=str(truth.trigger_event))
    assert campaign.time == truth.trigger_event_at
    traffic = demo.one("metrics", "onset", key="onset:request_rate")
    assert _near(traffic.time, truth.cause_at)
    cpu = demo.one("metrics", "saturation", key="limit:cpu")
    assert _near(cpu.time, truth.saturated_at)
    assert "CPU limit" in cpu.summary
    oom = demo.one("kubernetes", "oomkill")
    assert "OOMKilled" in oom.summary
    errors = demo.one("metrics", "onset", key="onset:error_ratio")
    assert _near(errors.time, truth.onset_at)
    scale_ups = [e for e in demo.events if e.kind == "scale" and "scaled up" in e.summary]
    assert len(scale_ups) >= 2
    _in_order(demo, [campaign, traffic, cpu, oom])
    _in_order(demo, [campaign, traffic, errors])
    # the autoscaler reacts to the load: after the traffic left its baseline, before paging
    assert all(traffic.time < e.time < truth.alert_at for e in scale_ups)
    assert errors.time < demo.one("people", "detected").time == truth.detected_at
    # no deploy in this story: the last rollout was days before the view
    assert not [e for e in demo.events if e.kind in ("deploy", "rollback")]
    # the node's OOMKilling report and the pod's OOMKilled termination are one event
    assert len([e for e in demo.events if e.kind == "oomkill"]) == 1


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_demo_timeline_stays_readable_and_sorted(demos, name):
    demo = demos[name]
    print(f"{name}: {len(demo.events)} events in {demo.seconds:.3f} s")
    assert 15 <= len(demo.events) < 60
    lanes = {lane: i for i, lane in enumerate(LANES)}
    keys = [(e.time, lanes[e.source]) for e in demo.events]
    assert keys == sorted(keys)
    ids = [e.id for e in demo.events]
    assert len(ids) == len(set(ids))
    window, baseline = demo.incident.window, demo.incident.baseline_window
    view = Window(min(window.start, baseline.start), window.end)
    for event in demo.events:
        if event.source == "people":
            continue
        assert event.evidence in {f"{s}/{n}" for s, n in EVIDENCE_KINDS}
        assert event.row is not None, event
        assert event.section, event
        inside = view if event.source == "changes" else window
        assert inside.start <= event.time < inside.end, event


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rebuilding_gives_the_same_ids(demos, name):
    demo = demos[name]
    again = demo.build()
    assert again == demo.events
    # a newer capture lists the same things in another order: the ids do not change
    shuffled = {
        evidence: frame.iloc[::-1].reset_index(drop=True) for evidence, frame in demo.frames.items()
    }
    assert {e.id for e in demo.build(shuffled)} == {e.id for e in demo.events}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_relations_given_are_the_ones_found_and_are_used(demos, name):
    from incident_lib.analysis.related import Relations, incident_relations

    demo = demos[name]
    logs = demo.frames.get("kubernetes/logs")
    activity = demo.frames.get("postgres/activity")
    found = incident_relations(demo.incident, logs=logs, pg_activity=activity)
    assert found.dependencies  # (the demos' logs name upstreams)
    given = timeline_events(
        demo.frames,
        incident=demo.incident,
        window=demo.incident.window,
        baseline=demo.incident.baseline_window,
        relations=found,
    )
    assert given == demo.events
    # what is given is what is used: told the service is another one, its own changes
    # become another service's
    elsewhere = timeline_events(
        demo.frames,
        incident=demo.incident,
        window=demo.incident.window,
        baseline=demo.incident.baseline_window,
        relations=Relations(service=f"not-{found.service}", own=(), dependencies=()),
    )
    before = {e.id for e in demo.events if e.summary.startswith("[another service] ")}
    after = {e.id for e in elsewhere if e.summary.startswith("[another service] ")}
    assert after > before


def _says_what_the_event_says(event: Event, row: pd.Series) -> None:
    moment = pd.Timestamp(event.time)
    evidence = event.evidence
    if evidence == "kubernetes/rollouts":
        assert row["deployed_at"] == moment
        assert event.key == f"{row['deployment']} rev {row['revision']}"
        assert str(row["images"]).rpartition(":")[2] in event.summary
    elif evidence == "kubernetes/events" and event.source == "changes":
        assert row["first_seen"] == moment and row["type"] != "Warning"
        assert event.key.startswith(f"{row['object']} {row['reason']}@")
    elif evidence == "kubernetes/events":
        assert row["type"] == "Warning" and row["first_seen"] == moment
        assert event.summary.startswith(f"{row['reason']}:")
        assert event.key == f"warning:{row['reason']}"
    elif evidence == "kubernetes/pods":
        assert row["last_termination_reason"] == "OOMKilled"
        assert row["last_termination_at"] == moment
        assert f"{row['pod']}/{row['container']}" in event.summary
    elif evidence == "kubernetes/terminations":
        assert row["reason"] == "OOMKilled" and event.kind == "oomkill"
        assert row["finished_at"] == moment
        assert f"{row['pod']}/{row['container']}" in event.summary
    elif evidence == "kubernetes/jobs":
        assert row["started_at"] == moment and event.kind == "job"
        assert str(row["job"]) in event.summary
    elif evidence == "kubernetes/releases":
        assert row["deployed_at"] == moment
        assert event.key.startswith(f"{row['tool']} {row['name']} ")
    elif evidence == "probes/checks":
        assert row["checked_at"] == moment and event.source == "dependencies"
        assert str(row["target"]) in event.summary and str(row["status"]) in event.summary
    elif evidence == "kubernetes/endpoints":
        assert row["captured_at"] == moment and row["ready"] == 0
        assert f"Service {row['service']} " in event.summary
    elif evidence == "kubernetes/pod_usage":
        assert row["time"] == moment
        assert f"{row['pod']}/{row['container']}" in event.summary
    elif evidence.endswith("/monitor_events"):
        assert row["time"] == moment and row["state"] == event.kind
        assert event.summary.startswith(str(row["monitor"]))
        assert event.key.startswith(f"{row['monitor_id']}@")
    elif evidence.endswith("/metrics"):
        assert row["time"] == moment
        metric = event.key.partition(":")[2]
        assert row["metric"] == ("error_rate" if metric == "error_ratio" else metric)
        if event.kind == "saturation":
            assert f"at {row['value']:.0f}" in event.summary
    elif evidence == "datadog/events":
        assert row["time"] == moment and str(row["title"]) in event.summary
    elif evidence.endswith("/logs"):
        assert abs(row["time"] - moment) < pd.Timedelta(1, "us")  # an event keeps microseconds
        assert f"({row['level']}," in event.summary
        assert row["level"] in FAILURE_LEVELS
    elif evidence == "kubernetes/config":
        assert row["changed_at"] == moment and event.kind == "config"
        stamp = f"{moment:%Y-%m-%dT%H:%M:%SZ}"
        assert event.key == f"{row['kind']}/{row['name']} {row['manager']}@{stamp}"
    elif evidence == "postgres/activity":
        assert row["sampled_at"] == moment and event.source == "database"
        if event.kind == "leak":
            assert str(row["application_name"]) in event.summary
        elif event.kind == "blocking":
            assert event.summary.startswith(f"pid {row['pid']} ({row['application_name']}")
        else:
            assert (
                event.kind == "saturation" and event.key == f"saturation:postgres:{row['target']}"
            )
    else:
        raise AssertionError(f"no check for {evidence}")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_row_references_point_at_the_rows_they_name(demos, name):
    demo = demos[name]
    checked = 0
    for event in demo.events:
        if not event.evidence:
            continue
        row = demo.frames[event.evidence].loc[event.row]
        _says_what_the_event_says(event, row)
        checked += 1
    assert checked >= 10


def test_the_new_signature_row_is_the_line_that_first_showed_it(demos):
    demo = demos["connection-leak"]
    event = next(e for e in demo.events if "flush aborted" in e.summary)
    line = demo.frames["kubernetes/logs"].loc[event.row]
    assert "flush aborted" in line["message"]
    logs = demo.frames["kubernetes/logs"]
    earlier = logs[(logs["time"] < line["time"]) & (logs["time"] >= demo.incident.window.start)]
    assert not earlier["message"].str.contains("flush aborted", regex=False).any()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_saturation_at_a_limit_is_reached_at_that_row(demos, name):
    demo = demos[name]
    for event in demo.events:
        if event.key.startswith("limit:"):
            resource = event.key.partition(":")[2]
            usage = demo.frames["kubernetes/pod_usage"].loc[event.row]
            pods = demo.frames["kubernetes/pods"]
            same = pods[pods["container"] == usage["container"]]
            limit = same[f"{resource}_limit"].dropna().iloc[0]
            assert usage[resource] >= NEAR_LIMIT * limit


# --- literal frames ----------------------------------------------------------------------


def _frame(kind: str, rows: list[dict[str, object]]) -> pd.DataFrame:
    return conform(pd.DataFrame(rows), kind)


def test_rollouts_become_deploy_and_rollback_events_with_their_rows():
    rollouts = _frame(
        "rollouts",
        [
            {"deployment": "api", "revision": 41, "replicaset": "api-aaa", "images": "r/api:v1",
             "created_at": T - 10 * MINUTE, "deployed_at": T - 10 * MINUTE,
             "change_cause": "v1", "replicas": 0, "current": False},
            {"deployment": "api", "revision": 43, "replicaset": "api-aaa", "images": "r/api:v1",
             "created_at": T - 10 * MINUTE, "deployed_at": T + 30 * MINUTE,
             "change_cause": "v1", "replicas": 3, "current": True},
            {"deployment": "api", "revision": 42, "replicaset": "api-bbb", "images": "r/api:v2",
             "created_at": T + 5 * MINUTE, "deployed_at": T + 5 * MINUTE,
             "change_cause": "v2: batching", "replicas": 0, "current": False},
            {"deployment": "api", "revision": 40, "replicaset": "api-ccc", "images": "r/api:v0",
             "created_at": T - 3 * 60 * MINUTE, "deployed_at": T - 3 * 60 * MINUTE,
             "change_cause": "v0", "replicas": 0, "current": False},
        ],
    )  # fmt: skip
    events = _events({"kubernetes/rollouts": rollouts})
    assert [(e.kind, e.key, e.row) for e in events] == [
        ("deploy", "api rev 41", 0),
        ("deploy", "api rev 42", 2),
        ("rollback", "api rev 43", 1),
    ]  # rev 40 is before the view (baseline start)
    assert all(e.source == "changes" and e.section == "03_changes" for e in events)
    assert "v2: batching" in events[1].summary


def test_datadog_events_and_commits_keep_their_kinds_and_stay_inside_the_view():
    datadog = _frame(
        "datadog_events",
        [
            {"time": T + 4 * MINUTE, "title": "Email campaign sent", "text": "2M customers",
             "tags": "team:growth", "source_type": "braze"},
            {"time": T - 2 * 60 * MINUTE, "title": "Old note", "text": "", "tags": "",
             "source_type": ""},
            {"time": T + 6 * MINUTE, "title": "Feature flag x turned on", "text": "",
             "tags": "", "source_type": "launchdarkly"},
        ],
    )  # fmt: skip
    commits = _frame(
        "commits",
        [
            {"time": T + MINUTE, "sha": "a" * 40, "short_sha": "aaaaaaa", "author": "Ann",
             "subject": "Batch orders", "files_changed": 3},
            {"time": WINDOW.end + MINUTE, "sha": "b" * 40, "short_sha": "bbbbbbb",
             "author": "Bob", "subject": "Later", "files_changed": 1},
        ],
    )  # fmt: skip
    events = _events({"datadog/events": datadog, "git/commits": commits})
    assert [(e.kind, e.evidence, e.row) for e in events] == [
        ("commit", "git/commits", 0),
        ("event", "datadog/events", 0),
        ("config", "datadog/events", 2),
    ]
    assert events[0].key == f"commit {'a' * 40}" and "Batch orders" in events[0].summary
    assert events[1].key.startswith("Email campaign sent@")


def _k8s(rows: list[tuple[timedelta, str, str, str, int]]) -> pd.DataFrame:
    return _frame(
        "k8s_events",
        [
            {"first_seen": T + at, "last_seen": T + at, "type": "Warning", "reason": reason,
             "object": obj, "message": message, "count": count}
            for at, reason, obj, message, count in rows
        ],
    )  # fmt: skip


def test_kubernetes_warnings_one_event_per_reason_of_the_service_only():
    events = _k8s(
        [
            (5 * MINUTE, "Unhealthy", "Pod/api-6f9c7b5d48-pb445", "Readiness probe failed", 2),
            (3 * MINUTE, "Unhealthy", "Pod/api-6f9c7b5d48-zcxn6", "Readiness probe failed", 3),
            (7 * MINUTE, "BackOff", "Pod/api-6f9c7b5d48-pb445", "Back-off restarting", 4),
            (8 * MINUTE, "FailedScheduling", "Pod/api-6f9c7b5d48-q4d9p", "0/3 nodes", 1),
            (9 * MINUTE, "Evicted", "Pod/api-6f9c7b5d48-q4d9p", "low on memory", 1),
            (10 * MINUTE, "OOMKilling", "Node/n1", "Memory cgroup out of memory", 1),
            (11 * MINUTE, "FailedMount", "Pod/api-6f9c7b5d48-pb445", "secret not found", 1),
            (1 * MINUTE, "BackOff", "Pod/billing-7d4b8c9f6-2cwdm", "Back-off restarting", 9),
            (-90 * MINUTE, "Evicted", "Pod/api-6f9c7b5d48-x6ldj", "before the window", 1),
        ]
    )
    pods = _frame(
        "pods",
        [
            {"pod": "api-6f9c7b5d48-pb445", "container": "api", "node": "n1",
             "phase": "Running", "ready": True, "restarts": 0, "last_termination_reason": None,
             "last_termination_at": pd.NaT, "started_at": T, "cpu_request": 0.5,
             "cpu_limit": 1.0, "memory_request": 2**29, "memory_limit": 2**30},
        ],
    )  # fmt: skip
    found = _events({"kubernetes/events": events, "kubernetes/pods": pods})
    assert [(e.kind, e.key, e.row) for e in found] == [
        ("probe", "warning:Unhealthy", 1),
        ("crashloop", "warning:BackOff", 2),
        ("scheduling", "warning:FailedScheduling", 3),
        ("eviction", "warning:Evicted", 4),
        ("oomkill", "warning:OOMKilling", 5),
        ("warning", "warning:FailedMount", 6),
    ]
    assert found[0].time == T + 3 * MINUTE
    assert found[0].summary.startswith("Unhealthy: 5 warning events on 2 objects")
    assert all(e.source == "kubernetes" and e.section == "07_resources" for e in found)


def test_an_oomkilled_container_and_the_nodes_report_of_it_are_one_event():
    pods = _frame(
        "pods",
        [
            {"pod": "api-6f9c7b5d48-pb445", "container": "sidecar", "node": "n1",
             "phase": "Running", "ready": True, "restarts": 0, "last_termination_reason": None,
             "last_termination_at": pd.NaT, "started_at": T, "cpu_request": 0.1,
             "cpu_limit": 1.0, "memory_request": 2**27, "memory_limit": 2**28},
            {"pod": "api-6f9c7b5d48-pb445", "container": "api", "node": "n1",
             "phase": "Running", "ready": True, "restarts": 2,
             "last_termination_reason": "OOMKilled", "last_termination_at": T + 10 * MINUTE,
             "started_at": T, "cpu_request": 0.5, "cpu_limit": 1.0, "memory_request": 2**29,
             "memory_limit": 2**30},
        ],
    )  # fmt: skip
    events = _k8s([(10 * MINUTE + timedelta(seconds=1), "OOMKilling", "Node/n1", "oom", 1)])
    found = _events({"kubernetes/events": events, "kubernetes/pods": pods})
    assert [(e.kind, e.evidence, e.row) for e in found] == [("oomkill", "kubernetes/pods", 1)]
    assert found[0].time == T + 10 * MINUTE
    assert found[0].summary == "api-6f9c7b5d48-pb445/api OOMKilled (2 restarts in all)"
    # a snapshot without the termination (the pod replaced since): the node's event stands
    alone = _events({"kubernetes/events": events, "kubernetes/pods": pods.iloc[[0]]})
    assert [(e.kind, e.evidence, e.row) for e in alone] == [("oomkill", "kubernetes/events", 0)]


def test_monitor_transitions_collapse_repeated_states():
    rows = [
        (-30 * MINUTE, "1", "db lag", "warn"),
        (-20 * MINUTE, "1", "db lag", "ok"),
        (5 * MINUTE, "2", "5xx high", "warn"),
        (6 * MINUTE, "2", "5xx high", "alert"),
        (7 * MINUTE, "2", "5xx high", "alert"),  # a re-notification, not a change
        (9 * MINUTE, "2", "5xx high", "No Data"),
        (20 * MINUTE, "2", "5xx high", "OK"),
        (2 * MINUTE, "3", "latency", "alert"),
        (-5 * MINUTE, "3", "latency", "alert"),  # already firing before the window
    ]
    monitors = _frame(
        "monitor_events",
        [
            {"time": T + at, "monitor_id": mid, "monitor": name, "state": state, "message": ""}
            for at, mid, name, state in rows
        ],
    )
    found = _events({"datadog/monitor_events": monitors})
    assert [(e.time - START, e.kind, e.row) for e in found] == [
        (5 * MINUTE, "warn", 2),
        (6 * MINUTE, "alert", 3),
        (9 * MINUTE, "no_data", 5),
        (20 * MINUTE, "ok", 6),
    ]
    assert found[1].key == "2@2026-11-03T14:06:00Z"
    assert found[1].summary == "5xx high: alert"
    assert all(e.source == "monitors" and e.section == "02_assess" for e in found)
    prometheus = _events({"prometheus/monitor_events": monitors})
    assert [e.id for e in prometheus] == [e.id for e in found]
    assert {e.evidence for e in prometheus} == {"prometheus/monitor_events"}


def _metrics(series: dict[str, Callable[[pd.Timestamp], float]], step: int = 15) -> pd.DataFrame:
    """A long metrics frame: one value per sample from the baseline start to the window end."""
    times = pd.date_range(BASELINE.start, WINDOW.end, freq=f"{step}s", inclusive="left")
    rows = []
    for metric, make in series.items():
        values = [make(t) for t in times]
        rows += [
            {"time": t, "metric": metric, "query": metric, "scope": "", "value": v}
            for t, v in zip(times, values, strict=True)
        ]
    return _frame("metrics", rows)


def _step(
    level: float, high: float, at: timedelta, until: timedelta | None = None
) -> Callable[[pd.Timestamp], float]:
    rng = np.random.default_rng(7)

    def value(t: pd.Timestamp) -> float:
        noise = float(rng.normal(0, level * 0.02)) if level else 0.0
        on = t >= T + at and (until is None or t < T + until)
        return (high if on else level) + noise

    return value


def test_metric_onsets_and_recoveries_with_the_rows_of_their_samples():
    blips = {T + 45 * MINUTE, T + 50 * MINUTE}

    def errors(t: pd.Timestamp) -> float:
        if T + 12 * MINUTE <= t < T + 30 * MINUTE or t in blips:
            return 2.0  # a lone failed request after the recovery does not undo it
        return 0.0

    metrics = _metrics(
        {
            "request_rate": _step(20.0, 20.0, 0 * MINUTE),
            "error_rate": errors,
            "latency_p95": _step(150.0, 3000.0, 10 * MINUTE, 32 * MINUTE),
            "db_connections": _step(10.0, 80.0, 8 * MINUTE),  # never comes back
        }
    )
    found = _events({"prometheus/metrics": metrics})
    summary = [(e.kind, e.key, e.time - START) for e in found]
    assert summary == [
        ("onset", "onset:db_connections", 8 * MINUTE),
        ("onset", "onset:latency_p95", 10 * MINUTE),
        ("onset", "onset:error_ratio", 12 * MINUTE),
        ("recovery", "recovery:error_ratio", 30 * MINUTE),
        ("recovery", "recovery:latency_p95", 32 * MINUTE),
    ]
    for event in found:
        row = metrics.loc[event.row]
        assert row["time"] == pd.Timestamp(event.time)
        metric = event.key.partition(":")[2]
        assert row["metric"] == ("error_rate" if metric == "error_ratio" else metric)
        assert event.evidence == "prometheus/metrics" and event.section == "05_metrics"
    assert "18 min after its onset" in found[3].summary


def test_no_recovery_without_enough_data_after_it():
    metrics = _metrics({"latency_p95": _step(150.0, 3000.0, 10 * MINUTE, 59 * MINUTE)})
    found = _events({"datadog/metrics": metrics})
    assert [e.kind for e in found] == ["onset"]


def test_db_connections_reaching_what_clients_can_get():
    metrics = _metrics({"db_connections": lambda t: min(10 + max((t - T).seconds // 15, 0), 100)})
    settings = _frame(
        "pg_settings",
        [
            {"target": "default", "name": "max_connections", "setting": "100", "unit": None},
            {
                "target": "default",
                "name": "superuser_reserved_connections",
                "setting": "3",
                "unit": None,
            },
        ],
    )
    found = _events({"datadog/metrics": metrics, "postgres/settings": settings})
    saturated = [e for e in found if e.kind == "saturation"]
    assert len(saturated) == 1
    event = saturated[0]
    assert event.time == START + 87 * timedelta(seconds=15)  # 97 connections
    assert metrics.loc[event.row, "value"] == 97
    assert "max_connections setting (100) less 3 reserved" in event.summary
    assert not [e for e in _events({"datadog/metrics": metrics}) if e.kind == "saturation"]
    lower = settings.assign(setting=["200", "3"])
    assert not [
        e
        for e in _events({"datadog/metrics": metrics, "postgres/settings": lower})
        if e.kind == "saturation"
    ]


def test_containers_at_their_limit_one_event_per_resource():
    pods = _frame(
        "pods",
        [
            {"pod": f"api-6f9c7b5d48-p{i}aaa", "container": "api", "node": "n1",
             "phase": "Running", "ready": True, "restarts": 0, "last_termination_reason": None,
             "last_termination_at": pd.NaT, "started_at": T, "cpu_request": 0.5,
             "cpu_limit": 1.0, "memory_request": 2**29, "memory_limit": 2**30}
            for i in range(3)
        ],
    )  # fmt: skip
    rows = []
    for minute in range(-5, 30):
        for i in range(3):
            hot = (i == 1 and minute >= 7) or (i == 2 and minute >= 9)
            rows.append(
                {"time": T + minute * MINUTE, "pod": f"api-6f9c7b5d48-p{i}aaa",
                 "container": "api", "cpu": 0.97 if hot else 0.3, "memory": 2**28}
            )  # fmt: skip
    usage = _frame("pod_usage", rows)
    found = _events({"kubernetes/pods": pods, "kubernetes/pod_usage": usage})
    assert [(e.kind, e.key, e.time - START) for e in found] == [
        ("saturation", "limit:cpu", 7 * MINUTE)
    ]
    assert usage.loc[found[0].row, "pod"] == "api-6f9c7b5d48-p1aaa"
    assert usage.loc[found[0].row, "time"] == T + 7 * MINUTE
    assert found[0].summary.startswith("2 of 3 pods at their CPU limit")


def _logs(rows: list[tuple[timedelta, str, str]]) -> pd.DataFrame:
    return _frame(
        "logs",
        [
            {"time": T + at, "pod": "api-1", "container": "api", "level": level,
             "message": message, "raw": message}
            for at, level, message in rows
        ],
    )  # fmt: skip


def test_new_failure_signatures_at_their_first_line():
    rows = [(-m * MINUTE, "info", f"served request {m}") for m in range(1, 50)]
    rows += [(-m * MINUTE, "error", f"payment {m} declined by bank") for m in range(1, 50, 5)]
    rows += [(m * MINUTE, "error", f"payment {m} declined by bank") for m in range(1, 50, 5)]
    rows += [(m * MINUTE + timedelta(seconds=1), "info", f"worker {m} booted") for m in (3, 4)]
    rows += [(m * MINUTE + timedelta(seconds=2), "warning", f"flush {m} aborted") for m in (6, 9)]
    rows += [(m * MINUTE + timedelta(seconds=3), "error", f"pool exhausted {m}") for m in (8, 7)]
    logs = _logs(rows)
    found = _events({"kubernetes/logs": logs})
    assert [(e.kind, e.time - START) for e in found] == [
        ("new_signature", 6 * MINUTE + timedelta(seconds=2)),
        ("new_signature", 7 * MINUTE + timedelta(seconds=3)),
    ]
    assert logs.loc[found[0].row, "message"] == "flush 6 aborted"
    assert logs.loc[found[1].row, "message"] == "pool exhausted 7"
    assert found[0].summary.startswith("New log signature (warning, 2 events from 1 pod)")
    assert all(e.section == "04_logs" and e.evidence == "kubernetes/logs" for e in found)
    assert len(found[0].key) == 10  # the signature id


def test_status_changes_are_on_the_timeline():
    incident = _incident(detected="2026-11-03T14:21:00Z", resolved="2026-11-03T14:50:00Z")
    found = _events({}, incident)
    assert [(e.source, e.kind) for e in found] == [("people", "detected"), ("people", "resolved")]


def test_absent_or_empty_frames_give_no_events():
    assert _events({}) == []
    empties = {
        f"{source}/{name}": empty_frame(kind) for (source, name), kind in EVIDENCE_KINDS.items()
    }
    assert _events(empties) == []
    assert _events({name: pd.DataFrame() for name in empties}) == []
