"""The demos' PostgreSQL evidence: seven conforming frames, true to each story.

Everything here is computed with plain pandas from the captured frames, never
with ``incident_lib.analysis``: these tests are what the database analysis is
checked against.
"""

from __future__ import annotations

import functools
import re

import pandas as pd
import pytest

from incident_lib.core.schema import EVIDENCE_KINDS, validate
from incident_lib.demo import SCENARIOS
from incident_lib.infra.workspace import open_workspace

FRAMES = ("activity", "settings", "limits", "locks", "database_stats", "statements", "replication")
SAMPLED = ("activity", "locks", "replication", "database_stats")
LEAK, SURGE = SCENARIOS["connection-leak"].truth, SCENARIOS["traffic-surge"].truth


@pytest.fixture(params=sorted(SCENARIOS))
def demo(request, demo_root):
    return request.param, open_workspace(demo_root / request.param)


@pytest.fixture
def leak(demo_root):
    return open_workspace(demo_root / "connection-leak")


@pytest.fixture
def surge(demo_root):
    return open_workspace(demo_root / "traffic-surge")


@functools.cache
def _raw(scenario: str) -> dict[str, pd.DataFrame]:
    """The postgres frames as the generator builds them, before capture redacts anything."""
    from incident_lib.demo._model import build
    from incident_lib.demo._specs import SPECS

    return {c.name: c.frame for c in build(SPECS[scenario], 7) if c.source == "postgres"}


def _client_backends(act: pd.DataFrame) -> pd.Series:
    return act[act.backend_type == "client backend"].groupby("sampled_at").size()


def _available(settings: pd.DataFrame) -> int:
    s = settings.set_index("name").setting
    reserved = int(s.get("reserved_connections", "0"))
    return int(s["max_connections"]) - int(s["superuser_reserved_connections"]) - reserved


def _metric(ws, name: str) -> pd.Series:
    df = ws.evidence.read("datadog", "metrics")
    d = df[df.metric == name]
    return pd.Series(d.value.to_numpy(), index=pd.DatetimeIndex(d.time))


# -- both scenarios ----------------------------------------------------------------------
def test_all_seven_frames_are_captured_conform_and_say_how(demo):
    scenario, ws = demo
    entries = {e.name: e for e in ws.evidence.entries() if e.source == "postgres"}
    assert set(entries) == set(FRAMES)
    for name in FRAMES:
        df = ws.evidence.read("postgres", name)
        validate(df, EVIDENCE_KINDS[("postgres", name)])
        assert (df.target == "default").all()
        query = entries[name].query
        assert {"host", "port", "dbname", "query"} <= set(query), name
        assert query["query"].lstrip().upper().startswith("SELECT"), name
        if name in SAMPLED:
            assert {"since", "until", "interval"} <= set(query), name
    empty = {"connection-leak": {"replication"}, "traffic-surge": {"locks"}}[scenario]
    for name in FRAMES:
        assert (len(ws.evidence.read("postgres", name)) == 0) == (name in empty), name


def test_settings_say_what_an_investigator_needs(demo):
    scenario, ws = demo
    s = ws.evidence.read("postgres", "settings").set_index("name").setting
    for name in (
        "max_connections", "superuser_reserved_connections", "idle_in_transaction_session_timeout",
        "statement_timeout", "lock_timeout", "idle_session_timeout", "deadlock_timeout",
        "track_activity_query_size", "server_version_num",
    ):  # fmt: skip
        assert name in s.index, name
    version = int(s["server_version_num"])
    assert ("reserved_connections" in s.index) == (version >= 160000)
    assert version == {"connection-leak": 150008, "traffic-surge": 160004}[scenario]
    truth = SCENARIOS[scenario].truth
    assert _available(ws.evidence.read("postgres", "settings")) == truth.db_available_connections


def test_limits_count_what_the_last_sample_shows(demo):
    _, ws = demo
    act = ws.evidence.read("postgres", "activity")
    last = act[act.sampled_at == act.sampled_at.max()]
    limits = ws.evidence.read("postgres", "limits")
    roles = limits[limits.kind == "role"].set_index("name")
    for user, n in last.usename.value_counts().items():
        assert roles.loc[user, "connections"] == n, user
    assert roles.connections.sum() == len(last)
    db = limits[(limits.kind == "database") & (limits.name == last.datname.iloc[0])]
    assert db.connections.tolist() == [len(last)]


def test_no_literal_of_any_query_is_in_a_frame(demo):
    """Every query is masked: no order id, batch id, amount or password survives."""
    from incident_lib.demo._secrets import DBLINK_PASSWORD, VAULT_ROLE_PASSWORD

    scenario, ws = demo
    logs = ws.evidence.read("kubernetes", "logs").message
    values = set(logs.str.extractall(r"\b(5[45]\d{5})\b")[0])  # order ids in the logs
    values |= set(logs.str.extractall(r"batch (\d{5})\b")[0])  # the leak's batch ids
    for name, df in _raw(scenario).items():
        for col in df.columns:
            if not pd.api.types.is_string_dtype(df[col]):
                continue
            text = "\n".join(df[col].dropna())
            assert DBLINK_PASSWORD not in text and VAULT_ROLE_PASSWORD not in text, (name, col)
            found = set(re.findall(r"\b\d{5,7}\b", text)) & values
            assert not found, (name, col, sorted(found)[:3])
        if "query" in df.columns:
            assert not df["query"].str.contains("'", regex=False).any(), name
            assert not df["query"].str.contains(r"=\s*\d", regex=True).any(), name
    act = _raw(scenario)["activity"]
    assert act["query"].str.contains(r"\$\d", regex=True).any()


def test_database_stats_cover_the_sampling(demo):
    _, ws = demo
    act = ws.evidence.read("postgres", "activity")
    stats = ws.evidence.read("postgres", "database_stats")
    assert (stats.period_start == act.sampled_at.min()).all()
    assert (stats.period_end == act.sampled_at.max()).all()
    assert (stats.deadlocks == 0).all() and (stats.conflicts == 0).all()
    assert act.datname.iloc[0] in set(stats.datname)


# -- connection-leak ---------------------------------------------------------------------
def test_leak_client_backends_agree_with_the_db_connections_metric(leak):
    act = leak.evidence.read("postgres", "activity")
    counts = _client_backends(act)
    metric = _metric(leak, "db_connections")
    both = pd.concat([counts.rename("act"), metric.rename("metric")], axis=1, sort=True).dropna()
    assert len(both) > 200
    assert (both.act == both.metric).all(), both[both.act != both.metric].head()
    available = _available(leak.evidence.read("postgres", "settings"))
    assert available == LEAK.db_max_connections - 3 == LEAK.db_available_connections
    reached = counts[counts >= available].index.min()
    metric_reached = metric[metric >= available].index.min()
    assert LEAK.db_limit_reached_at is not None
    at = pd.Timestamp(LEAK.db_limit_reached_at)
    # each series first shows the limit at its first point at or after the moment
    assert reached == counts.index[counts.index >= at].min()
    assert metric_reached == metric.index[metric.index >= at].min()
    assert metric[metric.index < at].max() < available
    assert abs(at - pd.Timestamp(LEAK.saturated_at)) < pd.Timedelta(minutes=1)


def test_leak_truth_names_the_leaking_application_and_its_clients(leak):
    act = leak.evidence.read("postgres", "activity")
    clients = act[act.backend_type == "client backend"]
    per_app = clients.groupby(["sampled_at", "application_name"]).size().unstack(fill_value=0)
    start = per_app.loc[per_app.index >= pd.Timestamp(LEAK.cause_at)].iloc[0]
    full = per_app.loc[pd.Timestamp(LEAK.db_limit_reached_at) :].iloc[0]
    growth = (full - start).sort_values(ascending=False)
    assert growth.index[0] == LEAK.db_leaking_application
    assert growth.iloc[0] >= 60 and (growth.iloc[1:] < 10).all()
    idle = clients[clients.state == "idle in transaction"]
    assert set(idle.application_name) == {LEAK.db_leaking_application}
    assert idle.client_addr.nunique() == LEAK.db_leaking_clients
    # their age keeps growing: the oldest open transaction gets older sample after sample
    oldest = idle.groupby("sampled_at").xact_age.max()
    before = oldest[oldest.index < pd.Timestamp(LEAK.rollback_at)]
    assert before.is_monotonic_increasing and before.iloc[-1] > 15 * 60
    settings = leak.evidence.read("postgres", "settings").set_index("name").setting
    assert settings["idle_in_transaction_session_timeout"] == "0"
    assert LEAK.db_bottleneck


def test_leak_leaked_transactions_hold_an_xid_and_an_xmin_that_age(leak):
    act = leak.evidence.read("postgres", "activity")
    idle = act[act.state == "idle in transaction"]
    assert idle.backend_xid_age.notna().all() and idle.backend_xmin_age.notna().all()
    assert (idle.backend_xmin_age >= idle.backend_xid_age).all()  # xmin <= its own xid
    plain_idle = act[act.state == "idle"]
    assert plain_idle.backend_xid_age.isna().all() and plain_idle.backend_xmin_age.isna().all()
    # one write rate for all: every leaked xid ages by the same amount between two samples
    per_pid = idle.pivot_table(index="sampled_at", columns="pid", values="backend_xid_age")
    steps = per_pid.diff().dropna(how="all")
    spread = steps.max(axis=1) - steps.min(axis=1)
    assert (spread == 0).all() and (steps.stack().dropna() > 0).all()
    per_second = steps.stack().dropna().mean() / 30
    assert 0.5 <= per_second <= 10
    # the oldest xmin (vault's horizon) belongs to the leak while it lasts
    during = act[(act.sampled_at > pd.Timestamp(LEAK.onset_at)) & act.backend_xmin_age.notna()]
    top = during.loc[during.groupby("sampled_at").backend_xmin_age.idxmax()]
    assert (top.backend_xmin_age > 1000).any()


def test_leak_blocking_chain_in_activity_and_locks(leak):
    act = leak.evidence.read("postgres", "activity")
    locks = leak.evidence.read("postgres", "locks")
    waiting = act[act.wait_event_type == "Lock"]
    assert len(waiting) > 0 and set(waiting.application_name) == {LEAK.db_blocked}
    waiting_pids = set(zip(waiting.sampled_at, waiting.pid, strict=True))
    roots = set()
    for _, w in waiting.iterrows():
        for b in w.blocking_pids.split(","):
            if (w.sampled_at, int(b)) not in waiting_pids:
                roots.add((w.sampled_at, int(b)))
    root_rows = act.set_index(["sampled_at", "pid"]).loc[sorted(roots)]
    assert set(root_rows.application_name) == {LEAK.db_blocking_root}
    assert set(root_rows.state) == {"idle in transaction"}
    # the locks are sampled with the activity, only while the chain lasts
    assert set(locks.sampled_at) == set(waiting.sampled_at)
    ungranted = locks[~locks.granted]
    assert set(zip(ungranted.sampled_at, ungranted.pid, strict=True)) == waiting_pids
    assert ungranted.waitstart.notna().all() and locks[locks.granted].waitstart.isna().all()
    merged = ungranted.merge(waiting, on=["sampled_at", "pid"], suffixes=("", "_act"))
    assert (merged.blocking_pids == merged.blocking_pids_act).all()
    assert (merged.locktype == merged.wait_event).all()
    held = locks[locks.granted & (locks.locktype == "transactionid")]
    for _, w in ungranted[ungranted.locktype == "transactionid"].iterrows():
        owner = held[(held.sampled_at == w.sampled_at) & (held.transactionid == w.transactionid)]
        assert owner.pid.astype(str).tolist() == [w.blocking_pids]


def test_leak_statements_tell_the_story(leak):
    st = leak.evidence.read("postgres", "statements")
    assert st.queryid.is_unique and (st.calls > 0).all()
    assert ((st.mean_exec_time - st.total_exec_time / st.calls).abs() < 0.01).all()
    top = st.sort_values("max_exec_time", ascending=False).iloc[0]  # the lock waits
    assert top.usename == "orders" and top["query"].startswith("UPDATE order_batches")
    update = st[st["query"].str.startswith("UPDATE order_batches")].iloc[0]
    act = leak.evidence.read("postgres", "activity")
    waited = act[act.wait_event_type == "Lock"].query_age.max()
    assert update.max_exec_time / 1000 >= waited  # the longest wait ended after the last sample
    assert st["query"].str.contains("FOR UPDATE").any()


def test_leak_rolls_back_more_than_the_surge(leak, surge):
    def share(ws):
        s = ws.evidence.read("postgres", "database_stats").iloc[0]
        return s.xact_rollback / (s.xact_commit + s.xact_rollback)

    assert share(leak) > 0.4 > 0.01 > share(surge)


# -- traffic-surge -------------------------------------------------------------------------
def test_surge_database_never_reaches_its_limit_and_is_not_the_bottleneck(surge):
    act = surge.evidence.read("postgres", "activity")
    available = _available(surge.evidence.read("postgres", "settings"))
    assert available == SURGE.db_available_connections == 95
    assert _client_backends(act).max() < 0.25 * available
    assert SURGE.db_limit_reached_at is None and not SURGE.db_bottleneck
    assert SURGE.db_leaking_application is None and SURGE.db_blocking_root is None
    assert not (act.state == "idle in transaction").any()
    assert (act.backend_xmin_age.dropna() < 100).all()
    st = surge.evidence.read("postgres", "statements")
    assert (st[st.usename == "checkout"].mean_exec_time < 5).all()


def test_surge_commits_follow_the_traffic_and_a_standby_keeps_up(surge, leak):
    stats = surge.evidence.read("postgres", "database_stats").iloc[0]
    seconds = (stats.period_end - stats.period_start).total_seconds()
    rate = _metric(surge, "request_rate")
    rate = rate[(rate.index >= stats.period_start) & (rate.index <= stats.period_end)]
    per_request = stats.xact_commit / seconds / rate.mean()
    assert 1 <= per_request <= 5
    leak_stats = leak.evidence.read("postgres", "database_stats").iloc[0]
    assert stats.xact_commit > 50 * leak_stats.xact_commit
    rep = surge.evidence.read("postgres", "replication")
    act = surge.evidence.read("postgres", "activity")
    assert set(rep.sampled_at) == set(act.sampled_at)
    assert set(rep.state) == {"streaming"} and rep.application_name.nunique() == 1
    assert (rep.replay_lag < 1).all() and (rep.replay_lag_bytes < 1e6).all()
    busy = rep[rep.sampled_at >= pd.Timestamp(SURGE.saturated_at)].replay_lag.head(20).mean()
    calm = rep[rep.sampled_at < pd.Timestamp(SURGE.cause_at)].replay_lag.mean()
    assert busy > calm
