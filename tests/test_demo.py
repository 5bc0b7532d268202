"""The demo incidents: complete, conforming, deterministic, and true to their story."""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from incident_lib.core.errors import InvalidInput, WorkspaceError
from incident_lib.core.schema import validate
from incident_lib.demo import PLANTED_SECRETS, SCENARIOS, ensure_demo, generate
from incident_lib.demo._build import STAMP_FILE
from incident_lib.infra.evidence import EvidenceStore
from incident_lib.infra.workspace import DEMO_MARKER, open_workspace

EXPECTED = {
    ("kubernetes", "logs"): "logs",
    ("kubernetes", "rollouts"): "rollouts",
    ("kubernetes", "events"): "k8s_events",
    ("kubernetes", "pods"): "pods",
    ("kubernetes", "pod_usage"): "pod_usage",
    ("kubernetes", "hpa"): "hpa",
    ("kubernetes", "config"): "k8s_config",
    ("kubernetes", "terminations"): "k8s_terminations",
    ("kubernetes", "endpoints"): "k8s_endpoints",
    ("probes", "checks"): "dependency_checks",
    ("datadog", "metrics"): "metrics",
    ("datadog", "monitor_events"): "monitor_events",
    ("datadog", "events"): "datadog_events",
    ("postgres", "activity"): "pg_activity",
    ("postgres", "settings"): "pg_settings",
    ("postgres", "limits"): "pg_limits",
    ("postgres", "locks"): "pg_locks",
    ("postgres", "database_stats"): "pg_database_stats",
    ("postgres", "statements"): "pg_statements",
    ("postgres", "replication"): "pg_replication",
}
TIME_SERIES = {
    ("kubernetes", "logs"): "time",
    ("kubernetes", "pod_usage"): "time",
    ("datadog", "metrics"): "time",
    ("postgres", "activity"): "sampled_at",
}
METRICS = {"request_rate", "error_rate", "latency_p95", "cpu", "memory", "db_connections"}
NAME_CHARS = "[bcdfghjklmnpqrstvwxz2456789]"


@pytest.fixture(params=sorted(SCENARIOS))
def demo(request, demo_root):
    """(scenario name, workspace) of the session's demos (conftest), for read-only tests."""
    return request.param, open_workspace(demo_root / request.param)


@pytest.fixture
def leak(demo_root):
    return open_workspace(demo_root / "connection-leak")


@pytest.fixture
def surge(demo_root):
    return open_workspace(demo_root / "traffic-surge")


def _metric(ws, name: str) -> pd.Series:
    df = ws.evidence.read("datadog", "metrics")
    d = df[df.metric == name]
    return pd.Series(d.value.to_numpy(), index=pd.DatetimeIndex(d.time))


def _between(series: pd.Series, start, end) -> pd.Series:
    return series[(series.index >= start) & (series.index < end)]


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((folder / "evidence").iterdir())
        if p.suffix in (".parquet", ".jsonl")
    }


# -- both scenarios ----------------------------------------------------------------------
#: the leak's primary has no standby; nothing waits on a lock in the surge
EMPTY_BY_DESIGN = {
    ("connection-leak", "postgres", "replication"),
    ("traffic-surge", "postgres", "locks"),
}


def test_every_source_is_captured_and_conforms(demo):
    scenario, ws = demo
    entries = ws.evidence.entries()
    assert {(e.source, e.name) for e in entries} == set(EXPECTED)
    for (source, name), kind in EXPECTED.items():
        df = ws.evidence.read(source, name)
        validate(df, kind)
        if (scenario, source, name) in EMPTY_BY_DESIGN:
            assert df.empty, f"{source}/{name} should be empty in {scenario}"
        else:
            assert len(df) > 0, f"{source}/{name} is empty"


def test_incident_record_loads_and_matches_the_truth(demo):
    scenario, ws = demo
    truth = SCENARIOS[scenario].truth
    opened = open_workspace(ws.path)
    inc = opened.incident
    assert (inc.id, inc.service, inc.namespace, inc.severity, inc.status) == (
        truth.incident_id,
        truth.service,
        truth.namespace,
        truth.severity,
        "resolved",
    )
    assert inc.window == truth.window
    assert inc.baseline is None and inc.baseline_window == truth.baseline
    assert (
        inc.times.detected,
        inc.times.acknowledged,
        inc.times.mitigated,
        inc.times.resolved,
    ) == (truth.detected_at, truth.acknowledged_at, truth.mitigated_at, truth.resolved_at)
    assert inc.roles.incident_commander and inc.roles.tech_lead and inc.impact
    assert opened.demo_scenario == scenario
    assert (ws.path / DEMO_MARKER).read_text().strip() == scenario
    assert ws.runs_dir.is_dir() and not any(ws.runs_dir.iterdir())


def test_truth_is_consistent(demo):
    scenario, _ = demo
    t = SCENARIOS[scenario].truth
    assert t.baseline.end == t.window.start and t.baseline.duration == t.window.duration
    assert t.alert_at == t.detected_at
    assert t.window.start <= t.cause_at <= t.onset_at <= t.alert_at <= t.recovered_at
    assert t.detected_at <= t.acknowledged_at <= t.resolved_at < t.window.end
    assert t.mitigated_at <= t.resolved_at
    assert (t.trigger_event is None) == (t.trigger_event_at is None)
    assert t.trigger_event_at is None or t.baseline.start <= t.trigger_event_at <= t.cause_at


def test_datadog_events_are_in_the_window_and_announce_the_trigger(demo):
    scenario, ws = demo
    t = SCENARIOS[scenario].truth
    ev = ws.evidence.read("datadog", "events")
    assert ev.time.is_monotonic_increasing
    assert (ev.time >= t.baseline.start).all() and (ev.time < t.window.end).all()
    assert (ev.source_type.str.len() > 0).all() and (ev.text.str.len() > 20).all()
    assert not ev.text.str.contains("%%%", regex=False).any()  # folded as the source does
    trigger = ev[ev.title == t.trigger_event]
    assert len(trigger) == 1 and trigger.time.iloc[0] == t.trigger_event_at
    assert trigger.tags.iloc[0].startswith(f"service:{t.service},env:prod")


def test_evidence_covers_baseline_and_incident_windows(demo):
    scenario, ws = demo
    truth = SCENARIOS[scenario].truth
    for (source, name), col in TIME_SERIES.items():
        times = ws.evidence.read(source, name)[col]
        assert times.min() >= truth.baseline.start, (source, name)
        assert times.min() <= truth.baseline.start + timedelta(minutes=1), (source, name)
        assert times.max() < truth.window.end, (source, name)
        assert times.max() >= truth.window.end - timedelta(minutes=1), (source, name)
    for e in ws.evidence.entries():
        assert pd.Timestamp(e.fetched_at) >= truth.window.end


def test_evidence_verifies(demo):
    _, ws = demo
    report = EvidenceStore(ws.path).verify()
    assert report.ok, report.problems
    assert report.entries == len(EXPECTED)


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(demo, tmp_path):
    scenario, ws = demo
    again = generate(scenario, tmp_path / "again")
    assert _digests(again.path) == _digests(ws.path)
    assert (again.path / "incident.yaml").read_bytes() == (ws.path / "incident.yaml").read_bytes()
    other = generate(scenario, tmp_path / "other", seed=8)
    changed = _digests(other.path)
    assert changed["manifest.jsonl"] != _digests(ws.path)["manifest.jsonl"]


def test_metrics_shape(demo):
    _, ws = demo
    df = ws.evidence.read("datadog", "metrics")
    assert set(df.metric) == METRICS
    assert (df["query"].str.len() > 10).all() and (df["scope"].str.len() > 3).all()
    steps = set()
    for _, d in df.groupby("metric"):
        diffs = d.time.diff().dropna().dt.total_seconds()
        assert diffs.min() == 15
        steps |= set(diffs)
    assert max(steps) > 15, "some metric should have a short gap"


def test_logs_look_like_real_pod_logs(demo):
    scenario, ws = demo
    truth = SCENARIOS[scenario].truth
    logs = ws.evidence.read("kubernetes", "logs")
    assert 10_000 <= len(logs) <= 30_000
    assert set(logs.level) <= {"debug", "info", "warning", "error", "critical"}
    assert (logs.level == "info").mean() > 0.6
    assert logs.pod.str.fullmatch(rf"{truth.service}-{NAME_CHARS}{{9,10}}-{NAME_CHARS}{{5}}").all()
    assert logs.pod.nunique() >= 6
    assert logs.raw.str.startswith("{").any() and (~logs.raw.str.startswith("{")).any()
    multi = logs[logs.raw.str.contains("\n")]
    assert len(multi) > 0 and not multi.message.str.contains("\n").any()
    assert logs.time.is_monotonic_increasing
    baseline = logs[logs.time < truth.window.start].message
    window = logs[logs.time >= truth.window.start].message
    for text in truth.new_signatures:
        assert not baseline.str.contains(text, regex=False).any(), text
        assert window.str.contains(text, regex=False).any(), text


def test_first_alert_is_the_detection(demo):
    scenario, ws = demo
    truth = SCENARIOS[scenario].truth
    mon = ws.evidence.read("datadog", "monitor_events")
    assert set(mon.state) <= {"alert", "warn", "ok", "no_data"}
    assert mon[mon.state == "alert"].time.min() == truth.alert_at


def test_error_rate_and_latency_tell_the_story(demo):
    scenario, ws = demo
    t = SCENARIOS[scenario].truth
    err, p95 = _metric(ws, "error_rate"), _metric(ws, "latency_p95")
    base_err = _between(err, t.baseline.start, t.baseline.end)
    assert base_err.median() < 0.1
    assert _between(err, t.window.start, t.onset_at - timedelta(minutes=1)).mean() < 0.2
    peak = _between(err, t.onset_at + timedelta(minutes=1), t.onset_at + timedelta(minutes=4))
    assert peak.mean() > 10 * max(base_err.mean(), 0.05)
    after = _between(err, t.recovered_at, t.window.end)
    assert after.mean() < 0.15
    assert (
        _between(p95, t.onset_at + timedelta(minutes=2), t.onset_at + timedelta(minutes=4)).mean()
        > 3000
    )
    assert _between(p95, t.recovered_at, t.window.end).median() < 300
    # the baseline has a single-point spike in each, that must not look like an onset
    for series in (err, p95):
        base = _between(series, t.baseline.start, t.baseline.end)
        high = base > 4 * max(base.quantile(0.9), 0.1)
        assert high.sum() == 1
        assert not (high & high.shift(1, fill_value=False)).any()


def test_planted_secrets_are_in_the_raw_data():
    from incident_lib.demo._model import build
    from incident_lib.demo._specs import SPECS

    blobs = {}
    for name, spec in SPECS.items():
        text = []
        for cap in build(spec, 7):
            for col in cap.frame.columns:
                if pd.api.types.is_string_dtype(cap.frame[col]):
                    text.append("\n".join(cap.frame[col].dropna()))
        blobs[name] = "\n".join(text)
        for secret in spec.planted:
            assert secret in blobs[name], (name, secret)
    blob = "\n".join(blobs.values())
    for secret in PLANTED_SECRETS:
        assert secret in blob, secret


def _surviving_secrets(ws) -> list[str]:
    """The planted secrets found anywhere in the captured workspace ``ws``."""
    texts = [(ws.path / "incident.yaml").read_text(), ws.evidence.manifest_path.read_text()]
    for e in ws.evidence.entries():
        df = ws.evidence.read(e.source, e.name)
        texts += [
            "\n".join(df[c].dropna()) for c in df.columns if pd.api.types.is_string_dtype(df[c])
        ]
    raw = b"".join(p.read_bytes() for p in (ws.path / "evidence").glob("*.parquet"))
    return [
        secret
        for secret in PLANTED_SECRETS
        if any(secret in t for t in texts) or secret.encode() in raw
    ]


def test_no_planted_secret_survives_capture(demo):
    _, ws = demo
    survived = _surviving_secrets(ws)
    assert not survived, [f"{s[:12]}... survived" for s in survived]


def test_the_survivor_check_finds_a_secret_that_escaped_redaction(demo_copy, monkeypatch):
    """Break redaction at capture: the scan above must then report every planted secret."""
    import incident_lib.infra.evidence as evidence

    path = demo_copy("traffic-surge")
    monkeypatch.setattr(evidence, "redact_frame", lambda df: df)
    monkeypatch.setattr(evidence, "redact_obj", lambda obj: obj)
    leaked = pd.DataFrame({"text": [f"leaked: {secret}" for secret in PLANTED_SECRETS]})
    EvidenceStore(path).capture(leaked, source="kubernetes", name="leaked")
    assert _surviving_secrets(open_workspace(path)) == list(PLANTED_SECRETS)


# -- connection-leak ---------------------------------------------------------------------
def test_leak_rollouts_show_the_deploy_and_the_rollback(leak):
    t = SCENARIOS["connection-leak"].truth
    ro = leak.evidence.read("kubernetes", "rollouts")
    bad = ro[ro.revision == t.bad_revision].iloc[0]
    assert t.bad_version in bad.images and bad.deployed_at == t.deploy_at and not bad.current
    assert "order batching" in bad.change_cause
    cur = ro[ro.current]
    assert len(cur) == 1
    cur = cur.iloc[0]
    assert cur.revision == t.rollback_revision and t.good_version in cur.images
    assert cur.deployed_at == t.rollback_at and cur.created_at < t.deploy_at
    assert cur.replicas > 0 and (ro[~ro.current].replicas == 0).all()
    pods = leak.evidence.read("kubernetes", "pods")
    assert pods.pod.str.startswith(cur.replicaset + "-").all()


def test_leak_connections_climb_to_max_and_drain(leak):
    t = SCENARIOS["connection-leak"].truth
    conns = _metric(leak, "db_connections")
    assert 8 <= _between(conns, t.baseline.start, t.baseline.end).median() <= 12
    assert _between(conns, t.window.start, t.cause_at).max() <= 13
    saturated = _between(conns, t.saturated_at, t.rollback_at)
    assert saturated.min() >= 0.9 * t.db_max_connections
    assert saturated.max() <= t.db_max_connections
    assert _between(conns, t.onset_at, t.saturated_at).is_monotonic_increasing
    assert _between(conns, t.recovered_at, t.window.end).max() <= 16
    assert 8 <= _between(conns, t.window.end - timedelta(minutes=10), t.window.end).median() <= 12


def test_leak_database_shows_idle_in_transaction_and_a_blocking_chain(leak):
    t = SCENARIOS["connection-leak"].truth
    act = leak.evidence.read("postgres", "activity")
    idle = act[act.state == "idle in transaction"]
    assert set(idle.application_name) == {f"api-{t.bad_version}"}
    assert idle.sampled_at.min() >= t.deploy_at and idle.sampled_at.max() < t.mitigated_at
    last = idle[idle.sampled_at == idle.sampled_at.max()]
    assert (last.sampled_at - last.xact_start).max() > timedelta(minutes=15)
    waiting = act[act.wait_event_type == "Lock"]
    assert len(waiting) > 0
    at_one = waiting[waiting.sampled_at == waiting.sampled_at.iloc[len(waiting) // 2]]
    same = act[act.sampled_at == at_one.sampled_at.iloc[0]]
    holders = {str(p) for p in same[same.state == "idle in transaction"].pid}
    blockers = {b for row in at_one.blocking_pids for b in row.split(",") if b}
    assert blockers & holders
    # each open transaction began with a batch flush the logs report as aborted (the
    # batch ids themselves are literals: the capture masks them)
    assert not idle["query"].str.contains(r"\d{4,}").any()
    logs = leak.evidence.read("kubernetes", "logs")
    aborted = logs[logs.message.str.contains(r"batch \d+ flush aborted")].time.sort_values()
    opened = idle.drop_duplicates("pid").xact_start.sort_values()
    nearest = pd.merge_asof(
        opened.to_frame("xact_start"),
        aborted.to_frame("time"),
        left_on="xact_start",
        right_on="time",
        direction="nearest",
    )
    assert len(nearest) and ((nearest.time - nearest.xact_start).abs() < timedelta(seconds=1)).all()
    settings = leak.evidence.read("postgres", "settings").set_index("name").setting
    assert settings["max_connections"] == str(t.db_max_connections)
    assert settings["idle_in_transaction_session_timeout"] == "0"


def test_leak_datadog_events_show_the_deploy_the_rollback_and_an_older_flag(leak):
    t = SCENARIOS["connection-leak"].truth
    ev = leak.evidence.read("datadog", "events").set_index("title")
    deploy = ev.loc[f"Deployed api {t.bad_version} to prod"]
    assert abs(deploy.time - t.deploy_at) < timedelta(minutes=1) and deploy.time >= t.deploy_at
    assert deploy.source_type == "github" and f"version:{t.bad_version}" in deploy.tags.split(",")
    rollback = ev.loc[f"Rolled back api to {t.good_version} in prod"]
    assert abs(rollback.time - t.rollback_at) < timedelta(minutes=1)
    assert f"version:{t.good_version}" in rollback.tags.split(",")
    flags = ev[ev.source_type == "launchdarkly"]
    assert len(flags) == 1 and len(ev) == 3
    assert timedelta(minutes=50) <= t.deploy_at - flags.time.iloc[0] <= timedelta(minutes=70)


def test_leak_culprit_signature_appears_after_the_deploy(leak):
    t = SCENARIOS["connection-leak"].truth
    logs = leak.evidence.read("kubernetes", "logs")
    hits = logs[logs.message.str.contains(t.signature, regex=False)]
    assert len(hits) > 100
    assert hits.time.min() >= t.onset_at - timedelta(minutes=1)
    assert hits.pod.str.contains("-7d4b8c9f6-").all()


# -- traffic-surge -------------------------------------------------------------------------
def test_surge_has_no_deploy_anywhere_near(surge):
    t = SCENARIOS["traffic-surge"].truth
    ro = surge.evidence.read("kubernetes", "rollouts")
    assert len(ro) >= 3 and ro.current.sum() == 1
    assert ro.deployed_at.max() == t.last_deploy_at
    assert (ro.deployed_at < t.baseline.start - timedelta(days=2)).all()
    ev = surge.evidence.read("kubernetes", "events")
    current = ro[ro.current].replicaset.iloc[0]
    scaled = ev[ev.reason == "ScalingReplicaSet"].message
    assert len(scaled) > 0 and scaled.str.contains(current + " ", regex=False).all()
    assert (ev[ev.reason == "SuccessfulRescale"].object == "HorizontalPodAutoscaler/checkout").all()
    assert {"SuccessfulRescale", "Unhealthy", "FailedScheduling", "OOMKilling"} <= set(ev.reason)


def test_surge_datadog_event_is_the_campaign_just_before_the_traffic(surge):
    t = SCENARIOS["traffic-surge"].truth
    ev = surge.evidence.read("datadog", "events")
    assert list(ev.title) == [t.trigger_event]
    campaign = ev.iloc[0]
    assert timedelta(minutes=1) <= t.cause_at - campaign.time <= timedelta(minutes=3)
    assert {"team:growth", "campaign:bf-2026"} <= set(campaign.tags.split(","))
    assert campaign.source_type == "my_apps" and "EARLY-ACCESS-NOV" in campaign.text
    text = " ".join(ev.title + " " + ev.tags + " " + ev.text + " " + ev.source_type).lower()
    assert "deploy" not in text and "version:" not in text
    logs = surge.evidence.read("kubernetes", "logs")
    activated = logs[logs.message.str.contains("Promotion EARLY-ACCESS-NOV activated")]
    assert abs(activated.time.min() - campaign.time) < timedelta(minutes=1)


def test_surge_traffic_cpu_and_oomkill(surge):
    t = SCENARIOS["traffic-surge"].truth
    rate = _metric(surge, "request_rate")
    base = _between(rate, t.baseline.start, t.baseline.end).mean()
    assert (
        _between(rate, t.cause_at + timedelta(minutes=3), t.cause_at + timedelta(minutes=10)).mean()
        >= 3 * base
    )
    usage = surge.evidence.read("kubernetes", "pod_usage")
    hot = usage[
        (usage.container == "checkout")
        & (usage.time >= t.saturated_at)
        & (usage.time < t.saturated_at + timedelta(minutes=3))
    ]
    assert (hot.cpu >= 0.95).sum() >= 3
    pods = surge.evidence.read("kubernetes", "pods")
    oom = pods[pods.last_termination_reason == "OOMKilled"]
    assert len(oom) == 1 and oom.restarts.iloc[0] == 1 and oom.container.iloc[0] == "checkout"
    assert t.saturated_at < oom.last_termination_at.iloc[0] < t.recovered_at
    assert pods.pod.nunique() == 10
    # the kill seen by the container status and by the node's kernel is one termination
    ended = surge.evidence.read("kubernetes", "terminations")
    assert len(ended) == 1 and ended.reason.iloc[0] == "OOMKilled"
    assert (ended.pod.iloc[0], ended.source.iloc[0]) == (oom.pod.iloc[0], "status")
    assert "Memory cgroup out of memory" in ended.message.iloc[0]


def test_leak_terminations_keep_the_pods_the_rollout_and_the_rollback_deleted(leak):
    ended = leak.evidence.read("kubernetes", "terminations")
    pods = leak.evidence.read("kubernetes", "pods")
    assert len(ended) == 6 and set(ended.reason) == {"Killing"}
    assert ended.pod_deleted.all() and not set(ended.pod) & set(pods.pod)
    assert set(ended.source) == {"event"} and set(ended.container) == {"api"}


def test_surge_database_stays_normal(surge):
    t = SCENARIOS["traffic-surge"].truth
    conns = _metric(surge, "db_connections")
    assert conns.min() >= 10 and conns.max() <= 20
    act = surge.evidence.read("postgres", "activity")
    assert not (act.state == "idle in transaction").any()
    assert (act.wait_event_type != "Lock").all()
    per_sample = act.groupby("sampled_at").size()
    assert per_sample.max() <= 20 and t.db_max_connections == 100


# -- generate / ensure_demo ----------------------------------------------------------------
def test_unknown_scenario_names_the_known_ones(tmp_path):
    with pytest.raises(InvalidInput) as err:
        generate("disk-full", tmp_path / "ws")
    for name in SCENARIOS:
        assert name in str(err.value)
    assert not any(tmp_path.iterdir())
    with pytest.raises(InvalidInput):
        ensure_demo("disk-full", root=tmp_path / "root")


def test_refuses_to_overwrite_a_folder_that_is_not_a_demo(tmp_path):
    real = tmp_path / "INC-2026-0042"
    real.mkdir()
    (real / "incident.yaml").write_text("id: INC-2026-0042\n")
    (real / "notes.md").write_text("keep me\n")
    before = {p.name: p.read_bytes() for p in real.iterdir()}
    with pytest.raises(WorkspaceError, match="not a demo"):
        generate("connection-leak", real)
    assert {p.name: p.read_bytes() for p in real.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["INC-2026-0042"]
    file = tmp_path / "plain-file"
    file.write_text("x")
    with pytest.raises(WorkspaceError):
        generate("connection-leak", file)


def test_replaces_an_earlier_demo_and_fills_an_empty_folder(tmp_path):
    target = tmp_path / "demo"
    target.mkdir()  # an empty folder is fine
    generate("connection-leak", target)
    (target / "runs" / "old-run").mkdir()
    ws = generate("traffic-surge", target)
    assert ws.incident.id == SCENARIOS["traffic-surge"].truth.incident_id
    assert ws.demo_scenario == "traffic-surge"
    assert not (target / "runs" / "old-run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # nothing left aside
    assert target.stat().st_mode & 0o755 == 0o755  # like mkdir, not a private temp folder


def test_ensure_demo_is_idempotent_and_refreshes_stale_demos(tmp_path, monkeypatch):
    monkeypatch.setenv("INCIDENT_DEMO_DIR", str(tmp_path / "cache"))
    path = ensure_demo("traffic-surge")
    assert path == (tmp_path / "cache" / "traffic-surge").absolute()
    assert open_workspace(path).demo_scenario == "traffic-surge"
    manifest = path / "evidence" / "manifest.jsonl"
    stamp = manifest.stat().st_mtime_ns, manifest.stat().st_ino
    assert ensure_demo("traffic-surge") == path
    assert (manifest.stat().st_mtime_ns, manifest.stat().st_ino) == stamp
    (path / STAMP_FILE).write_text("incident_lib.demo/0 seed=7\n")  # an older generator
    assert ensure_demo("traffic-surge") == path
    assert manifest.stat().st_ino != stamp[1]
    assert EvidenceStore(path).verify().ok


def test_ensure_demo_refreshes_a_demo_written_by_other_code(tmp_path, monkeypatch):
    """Same generator version, other parser or generator code: the evidence would differ."""
    from incident_lib.demo._build import GENERATOR_VERSION

    monkeypatch.setenv("INCIDENT_DEMO_DIR", str(tmp_path / "cache"))
    path = ensure_demo("traffic-surge")
    manifest = path / "evidence" / "manifest.jsonl"
    before = manifest.stat().st_ino
    (path / STAMP_FILE).write_text(f"{GENERATOR_VERSION} code=0123456789abcdef seed=7\n")
    ensure_demo("traffic-surge")
    assert manifest.stat().st_ino != before
    assert (path / STAMP_FILE).read_text() != f"{GENERATOR_VERSION} code=0123456789abcdef seed=7\n"


def test_ensure_demo_from_several_notebooks_at_once(tmp_path):
    root = tmp_path / "root"
    with ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: ensure_demo("connection-leak", root=root), range(3)))
    assert len(set(paths)) == 1
    assert EvidenceStore(paths[0]).verify().ok
    assert (root / ".demo.lock").exists()
    assert sorted(p.name for p in root.iterdir()) == [".demo.lock", "connection-leak"]


def test_manifest_query_parameters_are_plain_and_realistic(leak):
    for e in leak.evidence.entries():
        assert e.query, (e.source, e.name)
        json.dumps(dict(e.query))
    metrics = leak.evidence.read("datadog", "metrics")
    queries = dict(zip(metrics.metric, metrics["query"], strict=False))
    assert re.match(
        r"^sum:trace\.\w+\.request\.hits\{service:api,env:prod\}\.as_rate\(\)$",
        queries["request_rate"],
    )
    assert queries["db_connections"].startswith("sum:postgresql.connections{db:orders")
