"""Column contracts for the frames that cross layer boundaries.

Every source returns frames that meet one of these contracts, checked at the
source boundary with :func:`conform`. Timestamps are ``datetime64[ns, UTC]``;
text columns have pandas' ``str`` dtype (missing values are NaN); empty results are empty frames
with the right columns and dtypes (:func:`empty_frame`).

pandas is imported inside the functions so that ``import incident_lib`` stays fast.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from .errors import IncidentError

_HAS_ZONE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONTRACTS",
    "EVIDENCE_KINDS",
    "Contract",
    "SchemaError",
    "conform",
    "empty_frame",
    "validate",
    "with_added_columns",
]

Kind = Literal["time", "str", "int", "float", "bool"]


class SchemaError(IncidentError):
    """A frame does not meet its column contract (a bug in a source, not user input)."""


@dataclass(frozen=True, slots=True)
class Contract:
    """The ordered columns (name -> kind) that a frame of one kind must have.

    ``added`` names columns added after captures were first written: a frame
    read from older evidence gets them empty (:func:`with_added_columns`), so an
    old capture still replays; sources always fill them.
    """

    name: str
    columns: Mapping[str, Kind]
    description: str = ""
    added: frozenset[str] = frozenset()


def _contract(
    name: str, description: str, /, added: tuple[str, ...] = (), **columns: Kind
) -> Contract:
    return Contract(
        name=name, columns=dict(columns), description=description, added=frozenset(added)
    )


CONTRACTS: dict[str, Contract] = {
    c.name: c
    for c in (
        _contract(
            "logs",
            "One log event per row (multi-line stack traces folded into their event).",
            time="time",
            pod="str",
            container="str",
            level="str",
            message="str",
            raw="str",
        ),
        _contract(
            "rollouts",
            "One Deployment revision (ReplicaSet) per row; `current` marks the live one.",
            deployment="str",
            revision="int",
            replicaset="str",
            images="str",
            created_at="time",
            deployed_at="time",
            change_cause="str",
            replicas="int",
            current="bool",
        ),
        _contract(
            "k8s_events",
            "Kubernetes events (Normal and Warning) that touched the window.",
            first_seen="time",
            last_seen="time",
            type="str",
            reason="str",
            object="str",
            message="str",
            count="int",
        ),
        _contract(
            "k8s_config",
            "ConfigMaps and Secrets the service's pods use (volumes, envFrom, env.valueFrom, "
            "projected): one row per field manager's last operation (metadata.managedFields: "
            "who changed it and when). data_hash hashes the data (for a Secret its values are "
            "never read into a frame: only key names and the hash); used_by lists the "
            "workloads that mount or read it. applied_hash hashes the data of a ConfigMap's "
            "last `kubectl apply` (its last-applied-configuration annotation; empty without "
            "one, never read for a Secret): when it differs from data_hash, the live data was "
            "changed since, and the applied content is what a revert restores.",
            ("applied_hash",),
            kind="str",
            name="str",
            used_by="str",
            resource_version="str",
            created_at="time",
            keys="str",
            data_hash="str",
            manager="str",
            operation="str",
            changed_at="time",
            applied_hash="str",
        ),
        _contract(
            "hpa",
            "HorizontalPodAutoscalers (autoscaling/v2) of the service's workloads: one row "
            "per condition (AbleToScale, ScalingActive, ScalingLimited) with its last "
            "transition, and the replica counts and metrics (text such as 'cpu 92%/70%') "
            "as of the capture.",
            hpa="str",
            target="str",
            min_replicas="int",
            max_replicas="int",
            current_replicas="int",
            desired_replicas="int",
            metrics="str",
            condition="str",
            status="str",
            reason="str",
            message="str",
            transitioned_at="time",
            captured_at="time",
        ),
        _contract(
            "k8s_terminations",
            "Container terminations of the service's pods over the window, including pods "
            "deleted since (recovered from events and the previous ReplicaSets) and the "
            "Node OOMKilling events of the service's nodes. source: status (a container's "
            "state or lastState), event (a Pod event) or node-event (a Node event); "
            "exit_code NaN when unknown; pod_deleted: the pod no longer exists.",
            pod="str",
            container="str",
            node="str",
            workload="str",
            reason="str",
            exit_code="float",
            finished_at="time",
            source="str",
            pod_deleted="bool",
            message="str",
        ),
        _contract(
            "k8s_jobs",
            "Jobs of the namespace (any, not only the service's: a batch job on a shared "
            "resource is a common trigger) that ran in or before the window: status running, "
            "succeeded, failed, or unknown for a CronJob run whose Job is already deleted "
            "(reason JobDeleted); cronjob names the CronJob that started it; exit_codes and "
            "pods are comma-separated.",
            job="str",
            cronjob="str",
            started_at="time",
            finished_at="time",
            status="str",
            succeeded="int",
            failed="int",
            exit_codes="str",
            reason="str",
            message="str",
            pods="str",
            images="str",
        ),
        _contract(
            "releases",
            "Release history of GitOps and package tools: Helm release revisions (from the "
            "release Secrets' metadata, never their payload), Argo CD Application syncs and "
            "Flux Kustomization / HelmRelease applies. tool: helm, argocd or flux; "
            "revision: the tool's revision (Helm number, git SHA); version: a chart or "
            "application version where known (never for Helm: it is in the payload, which is "
            "not read); target: what the tool was asked to deploy (Argo CD targetRevision, a "
            "HelmRelease's chart version range, a Kustomization's last attempted revision).",
            tool="str",
            name="str",
            revision="str",
            version="str",
            status="str",
            deployed_at="time",
            target="str",
            detail="str",
        ),
        _contract(
            "dependency_checks",
            "Probes of the service's dependencies and its own health endpoint, one check per "
            "row: dns (addresses and CNAME chain), tcp (connect), tls (certificate validity, "
            "chain, expiry) and http (status, bounded tries). status: ok, slow, failed, "
            "expiring or unknown (the probe could not say); reason: the machine-readable why "
            "(nxdomain, no_answer, timeout, refused, self_signed, hostname_mismatch, "
            "http_503...); latency_ms NaN when not measured; "
            "expires_at and days_left only for tls.",
            target="str",
            host="str",
            port="int",
            check="str",
            status="str",
            reason="str",
            latency_ms="float",
            detail="str",
            checked_at="time",
            expires_at="time",
            days_left="float",
        ),
        _contract(
            "k8s_endpoints",
            "Services of the namespace and their endpoints (EndpointSlices): ready, not ready "
            "(and terminating) addresses as of the capture, the ports served.",
            service="str",
            ready="int",
            not_ready="int",
            terminating="int",
            ports="str",
            captured_at="time",
        ),
        _contract(
            "pods",
            "One container of one pod per row, as of the capture time.",
            pod="str",
            container="str",
            node="str",
            phase="str",
            ready="bool",
            restarts="int",
            last_termination_reason="str",
            last_termination_at="time",
            started_at="time",
            cpu_request="float",
            cpu_limit="float",
            memory_request="float",
            memory_limit="float",
        ),
        _contract(
            "pod_usage",
            "Resource usage samples (metrics.k8s.io): CPU in cores, memory in bytes.",
            time="time",
            pod="str",
            container="str",
            cpu="float",
            memory="float",
        ),
        _contract(
            "metrics",
            "Long format: one sample of one metric per row.",
            time="time",
            metric="str",
            query="str",
            scope="str",
            value="float",
        ),
        _contract(
            "monitor_events",
            "Monitor / alert state changes (state: alert, warn, ok, no_data).",
            time="time",
            monitor_id="str",
            monitor="str",
            state="str",
            message="str",
        ),
        _contract(
            "pg_activity",
            "pg_stat_activity samples of every configured database (target: its name, "
            "'default' for INCIDENT_PG_DSN); ages in seconds at sampled_at (NaN: NULL); "
            "blocking_pids is a comma-separated list; query truncated, literals replaced "
            "by placeholders.",
            target="str",
            sampled_at="time",
            pid="int",
            datname="str",
            usename="str",
            application_name="str",
            client_addr="str",
            backend_type="str",
            state="str",
            wait_event_type="str",
            wait_event="str",
            backend_start="time",
            xact_start="time",
            query_start="time",
            state_change="time",
            backend_age="float",
            xact_age="float",
            query_age="float",
            backend_xid_age="float",
            backend_xmin_age="float",
            blocking_pids="str",
            query="str",
        ),
        _contract(
            "pg_settings",
            "Server settings that matter during an incident (max_connections, the reserved "
            "slots, the timeouts, server_version_num), per target.",
            target="str",
            name="str",
            setting="str",
            unit="str",
        ),
        _contract(
            "pg_limits",
            "Connection limits per role and per database (kind: role or database; "
            "connection_limit -1 = none) and the connections each had when read.",
            target="str",
            kind="str",
            name="str",
            connection_limit="int",
            connections="int",
        ),
        _contract(
            "pg_locks",
            "pg_locks samples (joined to pg_stat_activity by the source): who holds or waits "
            "for which lock; waitstart is NaT before PostgreSQL 14 and for granted locks.",
            target="str",
            sampled_at="time",
            pid="int",
            locktype="str",
            relation="str",
            transactionid="str",
            mode="str",
            granted="bool",
            waitstart="time",
            blocking_pids="str",
        ),
        _contract(
            "pg_database_stats",
            "pg_stat_database counter deltas per database over the sampling period.",
            target="str",
            datname="str",
            period_start="time",
            period_end="time",
            xact_commit="int",
            xact_rollback="int",
            deadlocks="int",
            temp_files="int",
            temp_bytes="int",
            conflicts="int",
            blks_read="int",
            blks_hit="int",
        ),
        _contract(
            "pg_statements",
            "pg_stat_statements top statements by total and by mean execution time (ms); "
            "empty with a note when the extension is not installed.",
            target="str",
            queryid="str",
            datname="str",
            usename="str",
            calls="int",
            total_exec_time="float",
            mean_exec_time="float",
            max_exec_time="float",
            rows="int",
            shared_blks_hit="int",
            shared_blks_read="int",
            temp_blks_written="int",
            query="str",
        ),
        _contract(
            "pg_replication",
            "pg_stat_replication samples on a primary: one row per standby; lags in seconds "
            "(NaN: unknown) and replay_lag_bytes behind the primary's current WAL position.",
            target="str",
            sampled_at="time",
            application_name="str",
            client_addr="str",
            state="str",
            sync_state="str",
            write_lag="float",
            flush_lag="float",
            replay_lag="float",
            replay_lag_bytes="float",
        ),
        _contract(
            "datadog_events",
            "Datadog events in the window (deploys and other changes); text redacted.",
            time="time",
            title="str",
            text="str",
            tags="str",
            source_type="str",
        ),
        _contract(
            "commits",
            "Git commits in the window (committer time); author names only, never e-mails.",
            time="time",
            sha="str",
            short_sha="str",
            author="str",
            subject="str",
            files_changed="int",
        ),
        _contract(
            "timeline",
            "Merged incident timeline (core/timeline.py): events from every source, status "
            "changes, notes and actions; row is -1 where an event has no evidence row.",
            time="time",
            source="str",
            kind="str",
            summary="str",
            key="str",
            evidence="str",
            file="str",
            row="int",
            section="str",
            author="str",
            id="str",
        ),
    )
}


#: (source, name) of each captured frame -> its contract
EVIDENCE_KINDS: dict[tuple[str, str], str] = {
    ("kubernetes", "logs"): "logs",
    ("kubernetes", "rollouts"): "rollouts",
    ("kubernetes", "events"): "k8s_events",
    ("kubernetes", "pods"): "pods",
    ("kubernetes", "pod_usage"): "pod_usage",
    ("kubernetes", "config"): "k8s_config",
    ("kubernetes", "hpa"): "hpa",
    ("kubernetes", "terminations"): "k8s_terminations",
    ("kubernetes", "jobs"): "k8s_jobs",
    ("kubernetes", "releases"): "releases",
    ("kubernetes", "endpoints"): "k8s_endpoints",
    ("probes", "checks"): "dependency_checks",
    ("datadog", "metrics"): "metrics",
    ("datadog", "monitor_events"): "monitor_events",
    ("datadog", "logs"): "logs",
    ("datadog", "events"): "datadog_events",
    ("prometheus", "metrics"): "metrics",
    ("prometheus", "monitor_events"): "monitor_events",
    ("postgres", "activity"): "pg_activity",
    ("postgres", "settings"): "pg_settings",
    ("postgres", "limits"): "pg_limits",
    ("postgres", "locks"): "pg_locks",
    ("postgres", "database_stats"): "pg_database_stats",
    ("postgres", "statements"): "pg_statements",
    ("postgres", "replication"): "pg_replication",
    ("git", "commits"): "commits",
}


def _contract_for(kind: str) -> Contract:
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise SchemaError(
            f"no column contract named {kind!r}; known: {sorted(CONTRACTS)}"
        ) from None


def _dtype(kind: Kind) -> str:
    return {
        "time": "datetime64[ns, UTC]",
        "str": "str",
        "int": "int64",
        "float": "float64",
        "bool": "bool",
    }[kind]


def empty_frame(kind: str) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of contract ``kind``."""
    import pandas as pd

    contract = _contract_for(kind)
    return pd.DataFrame({col: pd.Series(dtype=_dtype(k)) for col, k in contract.columns.items()})


@functools.cache
def _target_dtype(kind: Kind) -> object:
    """The pandas dtype object of ``kind`` (what :func:`conform` produces).

    Resolved once per process (pandas' dtype registry lookup is slow next to the rest).
    """
    from pandas.api.types import pandas_dtype

    return pandas_dtype(_dtype(kind))


def _exact(dtype: object, kind: Kind) -> bool:
    """Whether ``dtype`` is exactly what :func:`conform` makes of a ``kind`` column.

    Such a column needs no coercion (and meets :func:`validate`): the fast path.
    """
    return bool(dtype == _target_dtype(kind))


def _kind_ok(series: pd.Series, kind: Kind) -> bool:
    from pandas.api import types as t

    if kind == "time":
        return (
            isinstance(series.dtype, __import__("pandas").DatetimeTZDtype)
            and str(series.dt.tz) == "UTC"
        )
    if kind == "str":
        return t.is_string_dtype(series)
    if kind == "int":
        return t.is_integer_dtype(series)
    if kind == "float":
        return t.is_float_dtype(series)
    return t.is_bool_dtype(series)


def validate(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Check that ``df`` meets contract ``kind`` exactly; return it unchanged.

    Raises
    ------
    SchemaError
        Naming the missing columns and the columns of the wrong dtype.
    """
    contract = _contract_for(kind)
    missing = [c for c in contract.columns if c not in df.columns]
    dtypes = df.dtypes if df.columns.is_unique else None
    wrong = [
        f"{c} ({df[c].dtype}, want {_dtype(k)})"
        for c, k in contract.columns.items()
        if c in df.columns
        and not (dtypes is not None and _exact(dtypes[c], k))
        and not _kind_ok(df[c], k)
    ]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if wrong:
            parts.append(f"wrong dtypes: {', '.join(wrong)}")
        raise SchemaError(f"{kind} frame does not meet its contract: {'; '.join(parts)}")
    return df


def _refuse_naive(series: pd.Series, kind: str, column: str) -> None:
    """A time column without a timezone is a source bug: never guess UTC silently."""
    import pandas as pd
    from pandas.api.types import is_datetime64_dtype

    if not series.notna().any():
        return  # nothing to misread: an empty or all-missing column
    naive = (
        is_datetime64_dtype(series) and not isinstance(series.dtype, pd.DatetimeTZDtype)
    ) or any(
        (isinstance(v, datetime) and v.tzinfo is None)
        or (isinstance(v, str) and not _HAS_ZONE.search(v.strip()))
        for v in series.dropna().head(50)
    )
    if naive:
        raise SchemaError(
            f"{kind} frame: column {column!r} holds times without a timezone; "
            "sources must return UTC (or offset) timestamps"
        )


def _already(df: pd.DataFrame, contract: Contract) -> bool:
    """Whether ``df`` is exactly a conformed frame: the contract's columns in order, each
    of its exact dtype, nothing else (a frame built typed, or conformed before)."""
    columns = df.columns
    return (
        columns.name is None
        and columns.dtype == _target_dtype("str")  # as pd.DataFrame(..., columns=[...])
        and list(columns) == list(contract.columns)
        and not df.attrs
        and df.flags.allows_duplicate_labels
        and all(
            _exact(dtype, k) for dtype, k in zip(df.dtypes, contract.columns.values(), strict=True)
        )
    )


def with_added_columns(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``df`` with contract ``kind``'s added columns it lacks, empty (an older capture).

    Returns ``df`` itself when nothing is missing.
    """
    import pandas as pd

    contract = _contract_for(kind)
    missing = [c for c in contract.columns if c in contract.added and c not in df.columns]
    if not missing:
        return df
    out = df.copy(deep=False)
    for column in missing:
        out[column] = pd.Series(None, index=df.index, dtype=_dtype(contract.columns[column]))
    return out[[c for c in contract.columns if c in out.columns]]


def conform(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Coerce ``df`` to contract ``kind``: column order, dtypes, UTC timestamps.

    Extra columns are dropped, missing ones are an error (a source bug) but for
    the contract's ``added`` columns, which are filled empty. Integer columns must
    have no gaps.
    """
    import pandas as pd

    contract = _contract_for(kind)
    df = with_added_columns(df, kind)
    missing = [c for c in contract.columns if c not in df.columns]
    if missing:
        raise SchemaError(f"{kind} frame is missing columns {missing}")
    fresh = df.index.equals(pd.RangeIndex(len(df))) and df.index.name is None
    if fresh and _already(df, contract):
        return df.copy(deep=False)  # what the loop below would build, without the work
    out = {}
    for col, k in contract.columns.items():
        s = df[col]
        if _exact(s.dtype, k):
            # already coerced (a frame built typed, or conformed before): nothing to do
            pass
        elif k == "time":
            _refuse_naive(s, kind, col)
            s = (
                pd.to_datetime(s, utc=True, format="ISO8601")
                if s.notna().any()
                else pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
            )
            if s.dtype != "datetime64[ns, UTC]":
                s = s.astype("datetime64[ns, UTC]")
        elif k == "str":
            s = s.astype("str")
        elif k == "int":
            s = s.astype("int64")
        elif k == "float":
            s = s.astype("float64")
        else:
            s = s.astype(bool)
        # the arrays of a 0..n-1 index: no alignment of n Series when the frame is built
        out[col] = s.array if fresh else s.reset_index(drop=True)
    result = pd.DataFrame(out, columns=list(contract.columns))
    return validate(result, kind)
