"""Timeline events from the captured evidence: one :class:`~incident_lib.core.timeline.Event`
per thing that happened, each pointing at the row of the frame it was read from.

:func:`timeline_events` reads every captured frame through the analysis that
already interprets it, and turns what that analysis found into events:

- **changes** (``03_changes``): :func:`~incident_lib.analysis.changes.changes_timeline`
  over rollouts, Kubernetes events (config changes, scaling), Datadog events and
  git commits, in the view ``[min(baseline.start, window.start), window.end)``;
  its kinds are kept (deploy, rollback, config, scale, commit, event). A change
  of a dependency or of another service
  (:func:`~incident_lib.analysis.related.incident_relations`, from the record,
  the logs and the database's sessions) says so first: ``[another service]
  deploy v2 (search rev 7)``.
- **kubernetes** (``07_resources``): the service's Warning events
  (:func:`~incident_lib.analysis.resources.warning_events`, objects of other
  services left out), one event per reason at its first occurrence in the
  window: ``oomkill`` (OOMKilling), ``crashloop`` (BackOff), ``probe``
  (Unhealthy), ``scheduling`` (FailedScheduling), ``eviction`` (Evicted),
  ``warning`` (any other reason). Containers whose last termination in the
  window was an OOMKill (:func:`~incident_lib.analysis.resources.pod_problems`)
  are one ``oomkill`` event at the first of them; it stands for the node's
  OOMKilling event when that came within a minute of it (one fact, one event).
- **monitors** (``02_assess``): every state change of every monitor in the
  window (``alert``, ``warn``, ``ok``, ``no_data``); consecutive rows with the
  same state are one state, so a re-notification is not a change.
- **metrics** (``05_metrics``, ``07_resources``): each metric's onset
  (:func:`~incident_lib.analysis.onset.onset_table`; ``error_rate`` is left
  out when ``error_ratio`` moved, the same story twice) and its recovery (see
  below); saturation: ``db_connections`` reaching the connections a client can
  get (``max_connections`` less ``superuser_reserved_connections`` of
  ``postgres/settings``) when the database's own sessions were not sampled, and
  containers reaching their CPU or memory limit
  (:func:`~incident_lib.analysis.resources.limits_vs_usage`: one event per
  resource, at the first pod, counting the pods that got there).
- **database** (``06_database``), from ``pg_stat_activity`` samples in the window
  (:mod:`~incident_lib.analysis.database`): an application or client beginning to
  leak connections (``leak``), client connections taking every slot ordinary roles
  get (``saturation``: it stands for the ``db_connections`` metric's, one fact, one
  event), and each root blocker from the first sample it blocks anyone
  (``blocking``).
- **dependencies** (``08_dependencies``): each probed endpoint that failed
  (``dependency_failed``), has a certificate expiring (``certificate_expiring``) or
  answered slowly (``dependency_slow``), at the time it was probed (its worst check;
  a check that could not run makes no event: unknown is not a fact), and each Service
  of the namespace without a ready endpoint (``no_ready_endpoint``); only what was
  probed inside the window (a probe after it says nothing of the incident).
- **logs** (``04_logs``): the first appearance of each new failure signature
  (:func:`~incident_lib.analysis.signatures.signatures` ranked by
  :func:`~incident_lib.analysis.signatures.rank_signatures`): new in the window,
  level warning or worse, not the same failure logged again (``same_as`` 0), the
  :data:`MAX_SIGNATURES` best ranked.
- **people**: the status changes recorded in the incident
  (:func:`~incident_lib.core.timeline.record_events`).

Recovery of a metric
--------------------
A metric that had an onset has recovered at the first sample after its last
*sustained* departure (a run of samples outside the onset band lasting at least
``sustain``, 2 min, as :func:`~incident_lib.analysis.onset.detect_onset` counts
it), provided at least ``sustain`` of data follows: from there on the onset
detection would find nothing, i.e. the metric is back within its baseline band
and stays there. The band is the onset's: ``baseline ± max(4 × robust scale,
20 % of the baseline)``, in the direction checked. Lone samples outside it
afterwards (one failed request in 15 s) do not undo a recovery.

Every event names the frame (``evidence``, ``"kubernetes/rollouts"``) and its
``row`` (the position in the captured file; for a derived event such as an
onset, the row of the sample at that time) and a ``key`` that names its subject
(``"api rev 42"``, ``"onset:error_ratio"``, a signature id,
``"<monitor_id>@<time>"``), so a rebuild from a newer capture gives the same ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, cast

from ..core.metrics import metric_info
from ..core.text import shorten
from ..core.time import Window, format_duration
from ..core.timeline import LANES, Event, record_events
from .changes import CHANGE_EVIDENCE, changes_from_evidence
from .database import blocking_samples, blocking_tree, find_leaks, saturation
from .metrics import series as metric_values
from .onset import onset_table
from .related import Relations, incident_relations
from .resources import NEAR_LIMIT, limits_vs_usage, pod_problems, service_objects, warning_events
from .signatures import SignatureLines, rank_signatures, signatures_with_lines

if TYPE_CHECKING:
    import pandas as pd

    from ..core.incident import Incident

__all__ = ["FAILURE_LEVELS", "MAX_SIGNATURES", "WARNING_KINDS", "timeline_events"]

#: at most this many new log signatures on the timeline (the best ranked)
MAX_SIGNATURES = 10
#: log levels of a failure signature (lower case)
FAILURE_LEVELS = frozenset(
    {"warning", "warn", "error", "err", "severe", "critical", "crit", "fatal", "alert",
     "emergency", "emerg", "panic"}
)  # fmt: skip
#: Kubernetes Warning reason -> event kind (any other reason: ``warning``)
WARNING_KINDS: Mapping[str, str] = {
    "OOMKilling": "oomkill",
    "BackOff": "crashloop",
    "CrashLoopBackOff": "crashloop",
    "Unhealthy": "probe",
    "FailedScheduling": "scheduling",
    "Evicted": "eviction",
}

_CHANGES, _ASSESS, _LOGS, _METRICS, _DATABASE, _RESOURCES, _DEPENDENCIES = (
    "03_changes",
    "02_assess",
    "04_logs",
    "05_metrics",
    "06_database",
    "07_resources",
    "08_dependencies",
)
_SUSTAIN = "2min"
_MAX_GAP = "5min"
#: the onset band of :func:`~incident_lib.analysis.onset.detect_onset` (its defaults)
_BAND_SDS, _BAND_FLOOR = 4.0, 0.2
#: an OOMKilled termination this close to the node's OOMKilling event is that event
_SAME_OOM_S = 60
_MONITOR_STATES = {
    "alert": "alert",
    "error": "alert",
    "critical": "alert",
    "firing": "alert",
    "warn": "warn",
    "warning": "warn",
    "pending": "warn",
    "ok": "ok",
    "resolved": "ok",
    "no_data": "no_data",
    "nodata": "no_data",
}
_SUMMARY = 240
_LANE_ORDER = {lane: i for i, lane in enumerate(LANES)}


def _frame(frames: Mapping[str, pd.DataFrame], *names: str) -> tuple[str, pd.DataFrame | None]:
    """The first of ``names`` captured with rows, and its frame (``("", None)``: none)."""
    for name in names:
        frame = frames.get(name)
        if frame is not None and len(frame) and len(frame.columns):
            return name, frame
    return "", None


def _iso(moment: pd.Timestamp | datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(mask: pd.Series) -> int | None:
    """The first row (index label) where ``mask`` holds, or None."""
    hits = mask[mask.fillna(False).astype(bool)].index
    return int(hits[0]) if len(hits) else None


def _ts(value: object) -> pd.Timestamp:
    import pandas as pd

    return pd.Timestamp(cast("datetime", value))


# --- changes -----------------------------------------------------------------------------


def _text(value: object) -> str:
    return "" if value is None or value != value else str(value)


def _change(
    time: datetime, kind: str, summary: str, *, key: str, evidence: str, row: int | None
) -> Event:
    """A ``changes`` lane event, shown in 03_changes."""
    return Event(
        time=time,
        source="changes",
        kind=kind,
        summary=shorten(summary, _SUMMARY),
        key=key,
        evidence=evidence,
        row=row,
        section=_CHANGES,
    )


def _rollout_event(change: dict[str, object], rollouts: pd.DataFrame | None) -> Event:
    label, detail = str(change["label"]), _text(change["detail"])
    deployment, _, revision = label.rpartition(" (")[2].rstrip(")").rpartition(" rev ")
    row = None
    if rollouts is not None and revision.isdigit():
        row = _row((rollouts["deployment"] == deployment) & (rollouts["revision"] == int(revision)))
    return _change(
        _ts(change["time"]),
        str(change["kind"]),
        f"{label}: {detail}" if detail else label,
        key=f"{deployment} rev {revision}",
        evidence="kubernetes/rollouts",
        row=row,
    )


def _k8s_change_event(change: dict[str, object], events: pd.DataFrame | None) -> Event:
    """A config change or a scaling step: the Normal event it was read from."""
    moment, label, detail = _ts(change["time"]), str(change["label"]), _text(change["detail"])
    row = None
    key = f"{label}@{_iso(moment)}"
    if events is not None:
        same = events[(events["first_seen"] == moment) & (events["type"] != "Warning")]
        for index, reason, obj, message in zip(
            same.index, same["reason"], same["object"], same["message"], strict=True
        ):
            reason, obj, message = _text(reason), _text(obj), _text(message)
            if detail in (message, f"{reason}: {message}") or detail.startswith(
                f"{reason} on {obj} "
            ):
                row, key = int(index), f"{obj} {reason}@{_iso(moment)}"
                break
    return _change(
        moment,
        str(change["kind"]),
        label,
        key=key,
        evidence="kubernetes/events",
        row=row,
    )


#: a field manager's change of a ConfigMap or Secret, as :func:`changes_timeline` labels it
_CONFIG_CHANGE = re.compile(
    r"^(?P<kind>ConfigMap|Secret) (?P<name>\S+) (?:changed|created) by (?P<manager>\S.*)$"
)


def _config_change_event(change: dict[str, object], config: pd.DataFrame | None) -> Event | None:
    """A ConfigMap or Secret change read from its managedFields (None: not one)."""
    label = str(change["label"])
    found = _CONFIG_CHANGE.match(label)
    if found is None or config is None:
        return None
    moment, detail = _ts(change["time"]), _text(change["detail"])
    row = _row(
        (config["kind"] == found["kind"])
        & (config["name"] == found["name"])
        & (config["manager"] == found["manager"])
        & (config["changed_at"] == moment)
    )
    return _change(
        moment,
        "config",
        f"{label}: {detail}" if detail else label,
        key=f"{found['kind']}/{found['name']} {found['manager']}@{_iso(moment)}",
        evidence="kubernetes/config",
        row=row,
    )


def _datadog_change_event(change: dict[str, object], events: pd.DataFrame | None) -> Event:
    moment, label, detail = _ts(change["time"]), str(change["label"]), _text(change["detail"])
    row, title = None, label
    if events is not None:
        for index, value in zip(
            events.index[events["time"] == moment],
            events.loc[events["time"] == moment, "title"],
            strict=True,
        ):
            text = _text(value).strip()
            if text == label or (label.endswith("…") and text.startswith(label[:-1])):
                row, title = int(index), text
                break
    return _change(
        moment,
        str(change["kind"]),
        f"{label} ({detail})" if detail else label,
        key=f"{title}@{_iso(moment)}",
        evidence="datadog/events",
        row=row,
    )


#: the ``source`` of a release's change row (Helm, Argo CD, Flux)
_RELEASE_TOOLS = frozenset({"helm", "argocd", "flux"})


def _release_event(change: dict[str, object], releases: pd.DataFrame | None) -> Event:
    """A Helm revision, Argo CD sync or Flux apply: the ``releases`` row it was read from."""
    moment, label, detail = _ts(change["time"]), str(change["label"]), _text(change["detail"])
    tool, name = str(change["source"]), _text(change["service"])
    row, revision = None, ""
    if releases is not None:
        row = _row(
            (releases["tool"] == tool)
            & (releases["name"] == name)
            & (releases["deployed_at"] == moment)
        )
        revision = _text(releases.loc[row, "revision"]) if row is not None else ""
    return _change(
        moment,
        str(change["kind"]),
        f"{label}: {detail}" if detail else label,
        key=f"{tool} {name} {revision or _iso(moment)}",
        evidence="kubernetes/releases",
        row=row,
    )


def _job_event(change: dict[str, object], jobs: pd.DataFrame | None) -> Event:
    """A Job or CronJob run starting: the ``k8s_jobs`` row it was read from."""
    moment, label, detail = _ts(change["time"]), str(change["label"]), _text(change["detail"])
    row, job = None, ""
    if jobs is not None:
        for index, name in zip(
            jobs.index[jobs["started_at"] == moment],
            jobs.loc[jobs["started_at"] == moment, "job"],
            strict=True,
        ):
            if f"job {name})" in label or label == f"Job {name} started" or name in label:
                row, job = int(index), _text(name)
                break
    return _change(
        moment,
        "job",
        f"{label}: {detail}" if detail else label,
        key=f"job {job or label}@{_iso(moment)}",
        evidence="kubernetes/jobs",
        row=row,
    )


def _commit_event(change: dict[str, object], commits: pd.DataFrame | None) -> Event:
    label = str(change["label"])
    short_sha = label.split(" ")[1] if label.count(" ") else ""
    row, sha = None, short_sha
    if commits is not None:
        row = _row(commits["short_sha"] == short_sha)
        if row is not None:
            sha = _text(commits.loc[row, "sha"]) or short_sha
    return _change(
        _ts(change["time"]),
        "commit",
        label,
        key=f"commit {sha}",
        evidence="git/commits",
        row=row,
    )


#: how a change event of a dependency or another service starts
_WHOSE = {"dependency": "[a dependency] ", "other": "[another service] "}


def _change_events(
    frames: Mapping[str, pd.DataFrame], view: Window, relations: Relations | None = None
) -> list[Event]:
    given = {key: _frame(frames, key)[1] for key in CHANGE_EVIDENCE}
    if all(f is None for f in given.values()):
        return []
    rollouts, commits = given["kubernetes/rollouts"], given["git/commits"]
    k8s, config, datadog = (
        given["kubernetes/events"],
        given["kubernetes/config"],
        given["datadog/events"],
    )
    timeline = changes_from_evidence(given, within=view)
    out = []
    for change in cast("list[dict[str, object]]", timeline.to_dict("records")):
        source, kind = change["source"], change["kind"]
        if source == "git":
            out.append(_commit_event(change, commits))
        elif source == "datadog":
            out.append(_datadog_change_event(change, datadog))
        elif source in _RELEASE_TOOLS:
            out.append(_release_event(change, given["kubernetes/releases"]))
        elif kind == "job":
            out.append(_job_event(change, given["kubernetes/jobs"]))
        elif kind in ("deploy", "rollback"):
            out.append(_rollout_event(change, rollouts))
        else:
            out.append(_config_change_event(change, config) or _k8s_change_event(change, k8s))
        whose = _WHOSE.get(relations.relation(str(change["service"]))) if relations else None
        if whose:
            out[-1] = replace(out[-1], summary=shorten(whose + out[-1].summary, _SUMMARY))
    return out


# --- kubernetes --------------------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _oom_events(pods: pd.DataFrame, window: Window) -> tuple[list[Event], list[pd.Timestamp]]:
    """One ``oomkill`` event for the containers OOMKilled in the window, and their times."""
    import pandas as pd

    problems = pod_problems(pods)
    oom = problems[
        (problems["last_termination_reason"] == "OOMKilled")
        & (problems["last_termination_at"] >= pd.Timestamp(window.start))
        & (problems["last_termination_at"] < pd.Timestamp(window.end))
    ].sort_values(["last_termination_at", "pod", "container"], kind="stable")
    if oom.empty:
        return [], []
    first = oom.iloc[0]
    moment = _ts(first["last_termination_at"])
    restarts = int(first["restarts"])
    if len(oom) == 1:
        summary = (
            f"{first['pod']}/{first['container']} OOMKilled ({_plural(restarts, 'restart')} in all)"
        )
    else:
        named = [
            f"{p}/{c} at {cast('pd.Timestamp', t):%H:%M:%S}"
            for p, c, t in zip(
                oom["pod"], oom["container"], oom["last_termination_at"], strict=True
            )
        ]
        more = f", +{len(named) - 3} more" if len(named) > 3 else ""
        summary = f"{len(oom)} containers OOMKilled: {', '.join(named[:3])}{more}"
    event = Event(
        time=moment,
        source="kubernetes",
        kind="oomkill",
        summary=shorten(summary, _SUMMARY),
        key=f"oomkill:{first['pod']}/{first['container']}@{_iso(moment)}",
        evidence="kubernetes/pods",
        row=_row((pods["pod"] == first["pod"]) & (pods["container"] == first["container"])),
        section=_RESOURCES,
    )
    times = [cast("pd.Timestamp", t) for t in oom["last_termination_at"]]
    return [event], times


def _oom_terminations(
    ended: pd.DataFrame, window: Window
) -> tuple[list[Event], list[pd.Timestamp]]:
    """One ``oomkill`` event for the OOM kills of a ``k8s_terminations`` frame in the window.

    Pods deleted since count (a scale-down or a rollback does not erase them);
    an OOM kill the kernel reported for a node is one when no pod was named.
    """
    import pandas as pd

    oom = ended[
        ended["reason"].isin(["OOMKilled", "OOMKilling"])
        & (ended["finished_at"] >= pd.Timestamp(window.start))
        & (ended["finished_at"] < pd.Timestamp(window.end))
    ].sort_values(["finished_at", "pod", "container"], kind="stable")
    if oom.empty:
        return [], []
    first = oom.iloc[0]
    moment = _ts(first["finished_at"])
    who = "/".join(p for p in (_text(first["pod"]), _text(first["container"])) if p)
    who = who or f"a process on node {_text(first['node'])}"
    deleted = int(oom["pod_deleted"].sum())
    gone = f" ({deleted} in pods deleted since)" if deleted else ""
    if len(oom) == 1:
        summary = f"{who} OOMKilled{' (pod deleted since)' if deleted else ''}"
    else:
        summary = f"{len(oom)} OOM kills{gone}, the first {who}"
    event = Event(
        time=moment,
        source="kubernetes",
        kind="oomkill",
        summary=shorten(summary, _SUMMARY),
        key=f"oomkill:{who}@{_iso(moment)}",
        evidence="kubernetes/terminations",
        row=int(cast("int", oom.index[0])),
        section=_RESOURCES,
    )
    return [event], [cast("pd.Timestamp", t) for t in oom["finished_at"]]


# --- dependencies ------------------------------------------------------------------------

#: a probed endpoint's worst check -> the event kind (ok and unknown make no event)
_PROBE_KINDS = {
    "failed": "dependency_failed",
    "expiring": "certificate_expiring",
    "slow": "dependency_slow",
}
_PROBE_NAMES = {"dns": "DNS", "tcp": "TCP connect", "tls": "TLS", "http": "HTTP"}


def _dependency_events(frames: Mapping[str, pd.DataFrame], health_url: str) -> list[Event]:
    """One event per probed endpoint that failed, answered slowly or has a certificate
    expiring; one per Service of the namespace without a ready endpoint."""
    out: list[Event] = []
    _, checks = _frame(frames, "probes/checks")
    if checks is not None:
        for target, group in checks.groupby("target", sort=False):
            for status, kind in _PROBE_KINDS.items():
                bad = group[group["status"] == status]
                if bad.empty:
                    continue
                row = bad.iloc[0]
                moment = _ts(row["checked_at"])
                whose = "the service's health endpoint " if target == health_url else ""
                check = _PROBE_NAMES.get(str(row["check"]), str(row["check"]))
                out.append(
                    Event(
                        time=moment,
                        source="dependencies",
                        kind=kind,
                        summary=shorten(
                            f"{whose}{target}: {check} {status}: {_text(row['detail'])}", _SUMMARY
                        ),
                        key=f"{kind}:{target}@{_iso(moment)}",
                        evidence="probes/checks",
                        row=int(cast("int", bad.index[0])),
                        section=_DEPENDENCIES,
                    )
                )
                break  # the worst status of the endpoint
    _, endpoints = _frame(frames, "kubernetes/endpoints")
    if endpoints is not None:
        down = endpoints[endpoints["ready"] == 0]
        for index, service, not_ready, moment in zip(
            down.index, down["service"], down["not_ready"], down["captured_at"], strict=True
        ):
            at = _ts(moment)
            out.append(
                Event(
                    time=at,
                    source="dependencies",
                    kind="no_ready_endpoint",
                    summary=shorten(
                        f"Service {service} has no ready endpoint ({int(not_ready)} not ready)",
                        _SUMMARY,
                    ),
                    key=f"no_ready_endpoint:{service}@{_iso(at)}",
                    evidence="kubernetes/endpoints",
                    row=int(index),
                    section=_DEPENDENCIES,
                )
            )
    return out


def _kubernetes_events(
    frames: Mapping[str, pd.DataFrame], service: str, window: Window
) -> list[Event]:
    import pandas as pd

    _, events = _frame(frames, "kubernetes/events")
    _, pods = _frame(frames, "kubernetes/pods")
    _, ended = _frame(frames, "kubernetes/terminations")
    if ended is not None:  # pods deleted since and kernel OOM kills too
        out, oom_times = _oom_terminations(ended, window)
    else:
        out, oom_times = _oom_events(pods, window) if pods is not None else ([], [])
    if events is None:
        return out
    grouped = warning_events(events, window=window, service=service, pods=pods)
    grouped = grouped[grouped["scope"] != "other"]
    ours = service_objects(service, pods) if service else None
    belongs = (
        events["object"].map(lambda o: bool(ours.fullmatch(str(o))))
        if ours is not None
        else pd.Series(True, index=events.index)
    )
    for reason_value, count, objects, first_seen, example in zip(
        grouped["reason"],
        grouped["count"],
        grouped["objects"],
        grouped["first_seen"],
        grouped["example"],
        strict=True,
    ):
        reason, moment = _text(reason_value), _ts(first_seen)
        kind = WARNING_KINDS.get(reason, "warning")
        if kind == "oomkill" and any(
            abs((moment - t).total_seconds()) <= _SAME_OOM_S for t in oom_times
        ):
            continue  # the node's report of the OOMKill already on the timeline
        mask = (
            (events["type"] == "Warning")
            & (events["reason"] == reason_value)
            & (events["first_seen"] == moment)
        )
        mask &= belongs
        summary = (
            f"{reason}: {_plural(int(count), 'warning event')} on "
            f"{_plural(int(objects), 'object')}, e.g. “{_text(example)}”"
        )
        out.append(
            Event(
                time=moment,
                source="kubernetes",
                kind=kind,
                summary=shorten(summary, _SUMMARY),
                key=f"warning:{reason}",
                evidence="kubernetes/events",
                row=_row(mask),
                section=_RESOURCES,
            )
        )
    return out


# --- monitors ----------------------------------------------------------------------------


def _monitor_events(frames: Mapping[str, pd.DataFrame], window: Window) -> list[Event]:
    import pandas as pd

    name, monitors = _frame(frames, "datadog/monitor_events", "prometheus/monitor_events")
    if monitors is None:
        return []
    state = monitors["state"].map(
        lambda s: _MONITOR_STATES.get("_".join(_text(s).lower().split()), "")
    )
    ordered = monitors.assign(_state=state).sort_values(["monitor_id", "time"], kind="stable")
    out = []
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    for _, group in ordered.groupby("monitor_id", sort=False):
        previous = ""
        for index, moment, kind, monitor, monitor_id, message in zip(
            group.index,
            group["time"],
            group["_state"],
            group["monitor"],
            group["monitor_id"],
            group["message"],
            strict=True,
        ):
            if not kind or kind == previous:
                continue
            previous = kind
            if not start <= moment < end:
                continue
            text = _text(message)
            summary = f"{_text(monitor) or monitor_id}: {kind.replace('_', ' ')}"
            out.append(
                Event(
                    time=_ts(moment),
                    source="monitors",
                    kind=kind,
                    summary=shorten(f"{summary} — {text}" if text else summary, _SUMMARY),
                    key=f"{monitor_id}@{_iso(_ts(moment))}",
                    evidence=name,
                    row=int(index),
                    section=_ASSESS,
                )
            )
    return out


# --- metrics -----------------------------------------------------------------------------


def _sample_row(metrics: pd.DataFrame, metric: str, moment: pd.Timestamp) -> int | None:
    """The row of ``metric``'s sample at ``moment`` (``error_ratio``: its ``error_rate``)."""
    stored = "error_rate" if metric == "error_ratio" else metric
    return _row((metrics["metric"] == stored) & (metrics["time"] == moment))


def _recovered_at(
    values: pd.Series,
    *,
    onset_at: pd.Timestamp,
    end: pd.Timestamp,
    bar: float,
    level: float,
    direction: str,
) -> pd.Timestamp | None:
    """The first sample after the last sustained departure (see the module docstring)."""
    import numpy as np
    import pandas as pd

    values = values.dropna().sort_index()
    spacing = np.diff(cast("pd.DatetimeIndex", values.index).as_unit("ns").asi8)
    spacing = spacing[spacing > 0]
    if not spacing.size:
        return None
    step = int(np.median(spacing))
    inside = values[(values.index >= onset_at) & (values.index < end)]
    if inside.empty:
        return None
    deviation = inside.to_numpy() - level
    departs = np.zeros(len(inside), dtype=bool)
    if direction in ("up", "both"):
        departs |= deviation > bar
    if direction in ("down", "both"):
        departs |= deviation < -bar
    times = cast("pd.DatetimeIndex", inside.index).as_unit("ns").asi8
    covers = np.minimum(np.append(np.diff(times), step), step)
    sustain, max_gap = pd.Timedelta(_SUSTAIN).value, pd.Timedelta(_MAX_GAP).value
    last_end: int | None = None
    start: int | None = None
    covered = 0
    for i, departing in enumerate(departs):
        if not departing:
            start = None
            continue
        if start is None or times[i] - times[i - 1] > max_gap:
            start, covered = i, 0
        covered += int(covers[i])
        if covered >= sustain:
            last_end = i
    if last_end is None or last_end + 1 >= len(inside):
        return None
    after = last_end + 1
    if int(covers[after:].sum()) < sustain:
        return None  # too little data after it to say it stays back
    return pd.Timestamp(inside.index[after])


def _metric_events(
    metrics: pd.DataFrame, name: str, window: Window, baseline: Window
) -> list[Event]:
    import pandas as pd

    table = onset_table(metrics, baseline=baseline, window=window, sustain=_SUSTAIN)
    moved = table[table["moved"]]
    if {"error_rate", "error_ratio"} <= set(moved["metric"]):
        moved = moved[moved["metric"] != "error_rate"]
    out = []
    for row in cast("list[dict[str, object]]", moved.to_dict("records")):
        metric = str(row["metric"])
        info = metric_info(metric)
        onset_at = _ts(row["onset_at"])
        level = float(cast("float", row["baseline_level"]))
        scale = float(cast("float", row["baseline_scale"]))
        peak, peak_at = float(cast("float", row["peak"])), _ts(row["peak_at"])
        out.append(
            Event(
                time=onset_at,
                source="metrics",
                kind="onset",
                summary=f"{info.name} left its baseline ({info.format(level)}); peak "
                f"{info.format(peak)} at {peak_at:%H:%M} UTC",
                key=f"onset:{metric}",
                evidence=name,
                row=_sample_row(metrics, metric, onset_at),
                section=_METRICS,
            )
        )
        bar = max(_BAND_SDS * scale, _BAND_FLOOR * abs(level))
        direction = str(row["direction"])
        back = _recovered_at(
            metric_values(metrics, metric),
            onset_at=onset_at,
            end=pd.Timestamp(window.end),
            bar=bar,
            level=level,
            direction=direction,
        )
        if back is None:
            continue
        band = (
            f"≤ {info.format(level + bar)}"
            if direction == "up"
            else f"≥ {info.format(level - bar)}"
            if direction == "down"
            else f"{info.format(level - bar)} to {info.format(level + bar)}"
        )
        out.append(
            Event(
                time=back,
                source="metrics",
                kind="recovery",
                summary=f"{info.name} back within its baseline band ({band}) and staying "
                f"there, {format_duration(back - onset_at)} after its onset",
                key=f"recovery:{metric}",
                evidence=name,
                row=_sample_row(metrics, metric, back),
                section=_METRICS,
            )
        )
    return out


def _setting(settings: pd.DataFrame, name: str) -> int | None:
    values = settings.loc[settings["name"] == name, "setting"]
    if values.empty:
        return None
    try:
        return int(str(values.iloc[0]).strip())
    except ValueError:
        return None


def _db_saturation(
    metrics: pd.DataFrame, name: str, settings: pd.DataFrame, window: Window
) -> list[Event]:
    """``db_connections`` reaching what clients can get: max_connections less the reserved."""
    import pandas as pd

    limit = _setting(settings, "max_connections")
    if limit is None or limit <= 0:
        return []
    reserved = _setting(settings, "superuser_reserved_connections") or 0
    ceiling = limit - reserved if 0 < reserved < limit else limit
    connections = metric_values(metrics, "db_connections")
    inside = connections[
        (connections.index >= pd.Timestamp(window.start))
        & (connections.index < pd.Timestamp(window.end))
    ]
    full = inside[inside >= ceiling]
    if full.empty:
        return []
    moment = _ts(full.index[0])
    less = f" less {reserved} reserved for superusers" if ceiling < limit else ""
    return [
        Event(
            time=moment,
            source="metrics",
            kind="saturation",
            summary=f"DB connections at {float(full.iloc[0]):.0f}: the max_connections "
            f"setting ({limit}){less}; new connections are refused",
            key="saturation:db_connections",
            evidence=name,
            row=_sample_row(metrics, "db_connections", moment),
            section=_METRICS,
        )
    ]


def _activity_row(activity: pd.DataFrame, target: str, moment: object, pid: int = 0) -> int | None:
    """The row of ``target``'s sample at ``moment`` (of ``pid`` when given)."""
    mask = (activity["target"] == target) & (activity["sampled_at"] == _ts(moment))
    if pid:
        mask &= activity["pid"] == pid
    return _row(mask)


def _database_events(
    activity: pd.DataFrame, settings: pd.DataFrame | None, window: Window
) -> list[Event]:
    """The database lane from ``pg_stat_activity`` samples in the window.

    Leaks (an application's connections growing while its work does not), the
    moment client connections took every slot ordinary roles may use, and each
    root blocker with the sessions waiting behind it at most.
    """
    inside = window.select(activity, "sampled_at")
    if inside.empty:
        return []
    out: list[Event] = []
    for leak in find_leaks(inside):
        # the first sample holding one of its sessions once the leak began
        mine = (
            (activity["target"] == leak.target)
            & (activity["application_name"] == leak.application_name)
            & (activity["sampled_at"] >= _ts(leak.first_at))
        )
        if leak.client_addr:
            mine &= activity["client_addr"] == leak.client_addr
        row = _row(mine)
        idle = (
            f"; {leak.idle_in_transaction} idle in transaction" if leak.idle_in_transaction else ""
        )
        out.append(
            Event(
                time=_ts(activity.loc[row, "sampled_at"])
                if row is not None
                else _ts(leak.first_at),
                source="database",
                kind="leak",
                summary=f"connections from {leak.who} begin to leak: {leak.first} → {leak.last} "
                f"by {leak.last_at:%H:%M} UTC while its work stays flat{idle}",
                key=f"leak:{leak.target}:{leak.who}",
                evidence="postgres/activity",
                row=row,
                section=_DATABASE,
            )
        )
    if settings is not None:
        for sat in saturation(inside, settings):
            if sat.reached_at is None or sat.limit is None:
                continue
            limit = sat.limit
            reserved = limit.superuser_reserved + limit.reserved
            out.append(
                Event(
                    time=_ts(sat.reached_at),
                    source="database",
                    kind="saturation",
                    summary=f"client connections take all {limit.available} slots ordinary "
                    f"roles get (max_connections {limit.max_connections} less {reserved} "
                    "reserved): new connections are refused",
                    key=f"saturation:postgres:{sat.target}",
                    evidence="postgres/activity",
                    row=_activity_row(activity, sat.target, sat.reached_at),
                    section=_DATABASE,
                )
            )
    for target in sorted(inside["target"].unique()):
        rows = inside[inside["target"] == target]
        waits = blocking_samples(rows, target=target)
        if waits.empty:
            continue
        peak = _ts(waits.idxmax())
        named = rows["blocking_pids"].astype(str).str.split(",")
        for root in blocking_tree(rows, target=target, at=peak):
            blocks = rows[named.map(lambda pids, pid=root.pid: str(pid) in pids)]
            first = _ts(blocks["sampled_at"].min()) if len(blocks) else peak
            state = f", {root.state}" if root.state else ""
            out.append(
                Event(
                    time=first,
                    source="database",
                    kind="blocking",
                    summary=f"pid {root.pid} ({root.application_name or 'unnamed'}{state}) "
                    f"starts blocking other sessions; {_plural(root.blocked, 'session')} "
                    f"waiting behind it at {peak:%H:%M} UTC",
                    key=f"blocking:{target}:{root.pid}",
                    evidence="postgres/activity",
                    row=_activity_row(activity, target, first, root.pid),
                    section=_DATABASE,
                )
            )
    return out


def _limit_events(pods: pd.DataFrame, usage: pd.DataFrame, window: Window) -> list[Event]:
    """Containers at their CPU / memory limit: one event per resource, at the first pod."""
    table = limits_vs_usage(pods, usage, window=window)
    out = []
    for resource, word in (("cpu", "CPU"), ("memory", "memory")):
        column = f"{resource}_limit_reached_at"
        if table.empty or column not in table.columns:
            continue
        hot = table[table[column].notna()].sort_values([column, "pod", "container"])
        if hot.empty:
            continue
        first = hot.iloc[0]
        moment = _ts(first[column])
        known = table[table[f"{resource}_limit"].notna()]
        summary = (
            f"{hot['pod'].nunique()} of {_plural(int(known['pod'].nunique()), 'pod')} at their "
            f"{word} limit (≥ {NEAR_LIMIT:.0%}) from {moment:%H:%M} UTC, first "
            f"{first['pod']}/{first['container']}"
        )
        out.append(
            Event(
                time=moment,
                source="metrics",
                kind="saturation",
                summary=summary,
                key=f"limit:{resource}",
                evidence="kubernetes/pod_usage",
                row=_row(
                    (usage["time"] == moment)
                    & (usage["pod"] == first["pod"])
                    & (usage["container"] == first["container"])
                ),
                section=_RESOURCES,
            )
        )
    return out


# --- logs --------------------------------------------------------------------------------


def _signature_events(found: SignatureLines, name: str) -> list[Event]:
    table = rank_signatures(found.table)
    if table.empty:
        return []
    chosen = table[
        table["is_new"] & (table["same_as"] == 0) & table["level"].str.lower().isin(FAILURE_LEVELS)
    ].head(MAX_SIGNATURES)
    out = []
    for signature, template, level, count, pods, first_seen in zip(
        chosen["signature"],
        chosen["template"],
        chosen["level"],
        chosen["count"],
        chosen["pods"],
        chosen["first_seen"],
        strict=True,
    ):
        moment = _ts(first_seen)
        row = found.examples.get(signature)
        summary = (
            f"New log signature ({level}, {_plural(int(count), 'event')} from "
            f"{_plural(int(pods), 'pod')}): {template}"
        )
        out.append(
            Event(
                time=moment,
                source="logs",
                kind="new_signature",
                summary=shorten(summary, _SUMMARY),
                key=str(signature),
                evidence=name,
                row=None if row is None else int(row),
                section=_LOGS,
            )
        )
    return out


def _log_events(
    frames: Mapping[str, pd.DataFrame],
    window: Window,
    baseline: Window,
    grouped: Mapping[str, SignatureLines],
) -> list[Event]:
    """The new failure signatures of the first log capture with failures to group."""
    import pandas as pd

    for name in ("kubernetes/logs", "datadog/logs"):
        if name in grouped:
            found = grouped[name]
        else:
            _, logs = _frame(frames, name)
            if logs is None:
                continue
            found = signatures_with_lines(
                logs,
                window=(pd.Timestamp(window.start), pd.Timestamp(window.end)),
                baseline=(pd.Timestamp(baseline.start), pd.Timestamp(baseline.end)),
                levels=FAILURE_LEVELS,  # (as 04_logs: the other lines are not grouped at all)
            )
        if len(found.lines):
            return _signature_events(found, name)
    return []


# --- all together ------------------------------------------------------------------------


def _order(event: Event) -> tuple[datetime, int, str, str]:
    return event.time, _LANE_ORDER[event.source], event.kind, event.id


def timeline_events(
    frames: Mapping[str, pd.DataFrame],
    *,
    incident: Incident,
    window: Window,
    baseline: Window,
    relations: Relations | None = None,
    log_signatures: Mapping[str, SignatureLines] | None = None,
) -> list[Event]:
    """The events of the incident found in the captured frames, in time order.

    See the module docstring for what each lane holds and how.

    Parameters
    ----------
    frames
        Captured frames by evidence name (``"kubernetes/rollouts"``,
        ``"kubernetes/events"``, ``"kubernetes/pods"``, ``"kubernetes/pod_usage"``,
        ``"kubernetes/logs"`` (else ``"datadog/logs"``), ``"datadog/metrics"`` (else
        ``"prometheus/metrics"``), ``"datadog/monitor_events"`` (else
        ``"prometheus/monitor_events"``), ``"datadog/events"``, ``"git/commits"``,
        ``"postgres/settings"``), as read from the evidence store: the index is
        the row in the captured file. A name that is absent or a frame without
        rows was not captured: its events are simply missing.
    incident
        The incident: its service (whose Kubernetes objects count) and its
        recorded status changes (the ``people`` lane).
    window
        The incident window: symptoms (warnings, monitors, onsets, saturation,
        new signatures) are looked for in it.
    baseline
        What normal looks like (onsets, new signatures). Changes are looked for
        from ``min(baseline.start, window.start)`` to ``window.end``.
    relations
        The incident's related services when the caller has them already
        (:func:`~incident_lib.analysis.related.incident_relations` of these
        frames); None: found here.
    log_signatures
        The signatures of the failures (:data:`FAILURE_LEVELS`) of a log capture
        in ``window`` and ``baseline``, by evidence name, when the caller grouped
        them already (once per run: :func:`~incident_lib.report.log_signatures.\
captured_signatures`), their lines labelled by row in the capture; that log
        frame is then not needed in ``frames``. None: grouped here.

    Returns
    -------
    list of Event
        Sorted by time, then lane (:data:`~incident_lib.core.timeline.LANES`),
        kind and id; each id once.
    """
    view = Window(min(baseline.start, window.start), window.end)
    _, logs = _frame(frames, "kubernetes/logs")
    _, activity = _frame(frames, "postgres/activity")
    if relations is None:
        relations = incident_relations(incident, logs=logs, pg_activity=activity)
    events = _change_events(frames, view, relations)
    events += _kubernetes_events(frames, incident.service, window)
    events += _monitor_events(frames, window)
    metrics_name, metrics = _frame(frames, "datadog/metrics", "prometheus/metrics")
    _, settings = _frame(frames, "postgres/settings")
    _, activity = _frame(frames, "postgres/activity")
    if activity is not None:
        events += _database_events(activity, settings, window)
    if metrics is not None:
        events += _metric_events(metrics, metrics_name, window, baseline)
        if settings is not None and not any(
            e.source == "database" and e.kind == "saturation" for e in events
        ):
            # the metric says less than the sessions themselves: only without them
            events += _db_saturation(metrics, metrics_name, settings, window)
    events += [
        e for e in _dependency_events(frames, incident.health_url) if window.contains(e.time)
    ]
    _, pods = _frame(frames, "kubernetes/pods")
    _, usage = _frame(frames, "kubernetes/pod_usage")
    if pods is not None and usage is not None:
        events += _limit_events(pods, usage, window)
    events += _log_events(frames, window, baseline, log_signatures or {})
    events += record_events(incident)
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    return sorted(unique.values(), key=_order)
