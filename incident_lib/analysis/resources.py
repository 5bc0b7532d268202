"""Pod health and resources: restarts and terminations, limits vs usage, warning events.

Deleted pods
------------
Usage samples outlive their pods: a rollback or a scale-down deletes the pods that
hit their limits, and the pod snapshot no longer holds them. Their limit is then
*unknown*, not absent ("no limit" is said only of a pod that exists without a
limit). It is taken from their owner's pod template: a pod's name is
``<deployment>-<pod-template-hash>-<suffix>``, so pods of one ReplicaSet share the
prefix ``<deployment>-<pod-template-hash>-`` and the same container names. The
limit comes from a surviving sibling of the same ReplicaSet, else from the newest
pod of the same deployment prefix (whose template may differ: said so), else it
stays unknown. ``limit_source`` says which.

Whose warnings
--------------
A namespace's events concern every service in it. An event counts for the
incident's service when its involved object is one of the service's pods (by
name, or named ``<service>-<hash>-<suffix>``), ReplicaSets (``<service>-<hash>``),
its Deployment, HPA or Service (named like the service or one of its
deployments), or a node that runs one of its pods. Every other object is counted
separately (``scope`` ``other``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..core.findings import Finding, Role
from ..core.metrics import format_share
from ..core.text import shorten
from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NEAR_LIMIT",
    "limits_vs_usage",
    "pod_problems",
    "resource_findings",
    "service_objects",
    "warning_events",
]

#: usage at or above this share of the limit counts as "at the limit"
NEAR_LIMIT = 0.9
#: how many items a finding's summary names before "+N more"
_LISTED = 6
_TITLE_WIDTH = 120
_HASH = r"[a-z0-9]{1,10}"
_SUFFIX = r"[a-z0-9]{5}"


def _listed(items: list[str], limit: int = _LISTED) -> str:
    """``a, b, c`` or ``a, b, +3 more``: a count always lists all or says how many it left out."""
    shown = items[:limit]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f", +{more} more" if more else "")


def pod_problems(pods: pd.DataFrame) -> pd.DataFrame:
    """Containers that restarted, terminated abnormally, are not ready or not running.

    Columns: ``pod``, ``container``, ``phase``, ``ready``, ``restarts``,
    ``last_termination_reason``, ``last_termination_at``, ``problem`` (one line),
    most restarts first.
    """
    import pandas as pd

    cols = [
        "pod",
        "container",
        "phase",
        "ready",
        "restarts",
        "last_termination_reason",
        "last_termination_at",
        "problem",
    ]
    rows: list[dict[str, object]] = []
    for values in zip(*(pods[c] for c in cols[:-1]), strict=True):
        r = dict(zip(cols[:-1], values, strict=True))
        phase, restarts, reason = r["phase"], r["restarts"], r["last_termination_reason"]
        reasons = []
        if phase != "Running" and phase != "Succeeded":
            reasons.append(f"phase {phase}")
        if not r["ready"] and phase == "Running":
            reasons.append("not ready")
        if restarts:
            why = reason if isinstance(reason, str) else ""
            reasons.append(f"{restarts} restart(s)" + (f", last {why}" if why else ""))
        if reasons:
            rows.append(r | {"problem": "; ".join(reasons)})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("restarts", ascending=False, kind="stable").reset_index(drop=True)


def _replicaset_of(pod: str) -> str:
    """``api-6f9c7b5d48`` of ``api-6f9c7b5d48-pb445`` (the name without its last part)."""
    return pod.rsplit("-", 1)[0] if "-" in pod else pod


def _deployment_of(pod: str) -> str:
    """``api`` of ``api-6f9c7b5d48-pb445`` (the name without its last two parts)."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod


def _template_limits(
    pods: pd.DataFrame, pod: str, container: str
) -> tuple[float, float, str] | None:
    """CPU and memory limits of a deleted pod's template, and where they were taken from."""
    same = pods[pods["container"] == container]
    if same.empty:
        return None
    siblings = same[same["pod"].map(_replicaset_of) == _replicaset_of(pod)]
    if len(siblings):
        row = siblings.iloc[0]
        return (
            float(row["cpu_limit"]),
            float(row["memory_limit"]),
            f"pod deleted: limit of its ReplicaSet sibling {row['pod']}",
        )
    deployment = _deployment_of(pod)
    family = same[same["pod"].map(_deployment_of) == deployment]
    if family.empty:
        return None
    row = family.sort_values("started_at", kind="stable").iloc[-1]
    return (
        float(row["cpu_limit"]),
        float(row["memory_limit"]),
        f"pod deleted: limit of {row['pod']}, the newest pod of {deployment} "
        "(its template may differ)",
    )


def limits_vs_usage(
    pods: pd.DataFrame, usage: pd.DataFrame, *, window: Window | None = None
) -> pd.DataFrame:
    """Peak and 95th percentile usage per container against its limit.

    Parameters
    ----------
    pods
        ``pods`` contract frame (the snapshot: deleted pods are not in it).
    usage
        ``pod_usage`` contract frame (may hold pods deleted since).
    window
        Only usage samples inside it count.

    Returns
    -------
    pandas.DataFrame
        Columns: ``pod``, ``container``, ``cpu_p95``, ``cpu_peak``, ``cpu_limit``,
        ``cpu_of_limit`` (peak / limit), ``memory_peak``, ``memory_limit``,
        ``memory_of_limit``, ``cpu_limit_reached_at`` and ``memory_limit_reached_at``
        (the first sample at or above :data:`NEAR_LIMIT` of the limit, NaT when
        never), ``flag`` (``cpu at limit``, ``memory at limit``,
        ``no limit`` for a live pod without one, ``limit unknown`` for a deleted
        pod whose template was not found), ``limit_source`` (empty for a live
        pod; for a deleted one, whose limit it is measured against: see the
        module docstring). Ranked by the higher of the two shares of the limit,
        unknown shares last.
    """
    import pandas as pd

    cols = [
        "pod",
        "container",
        "cpu_p95",
        "cpu_peak",
        "cpu_limit",
        "cpu_of_limit",
        "memory_peak",
        "memory_limit",
        "memory_of_limit",
        "cpu_limit_reached_at",
        "memory_limit_reached_at",
        "flag",
        "limit_source",
    ]
    if window is not None:
        usage = usage[
            (usage["time"] >= pd.Timestamp(window.start))
            & (usage["time"] < pd.Timestamp(window.end))
        ]
    if usage.empty:
        return pd.DataFrame(columns=cols)
    stats = (
        usage.groupby(["pod", "container"])
        .agg(
            cpu_p95=("cpu", lambda s: s.quantile(0.95)),
            cpu_peak=("cpu", "max"),
            memory_peak=("memory", "max"),
        )
        .reset_index()
    )
    live = {(str(p), str(c)) for p, c in zip(pods["pod"], pods["container"], strict=True)}
    limits = pods[["pod", "container", "cpu_limit", "memory_limit"]].drop_duplicates(
        ["pod", "container"]
    )
    table = stats.merge(limits, on=["pod", "container"], how="left")
    sources: list[str] = []
    deleted: list[bool] = []
    for i, (pod, container) in enumerate(zip(table["pod"], table["container"], strict=True)):
        gone = (str(pod), str(container)) not in live
        deleted.append(gone)
        if not gone:
            sources.append("")
            continue
        found = _template_limits(pods, str(pod), str(container))
        if found is None:
            sources.append("pod deleted: limit unknown")
            continue
        table.loc[i, "cpu_limit"], table.loc[i, "memory_limit"], text = found
        sources.append(text)
    table["limit_source"] = sources
    table["cpu_of_limit"] = table["cpu_peak"] / table["cpu_limit"]
    table["memory_of_limit"] = table["memory_peak"] / table["memory_limit"]
    table = _limit_reached(table, usage)
    flags = []
    for cpu_share, memory_share, cpu_limit, memory_limit, gone, source in zip(
        table["cpu_of_limit"],
        table["memory_of_limit"],
        table["cpu_limit"],
        table["memory_limit"],
        deleted,
        sources,
        strict=True,
    ):
        found_flags = []
        if cpu_share >= NEAR_LIMIT:
            found_flags.append("cpu at limit")
        if memory_share >= NEAR_LIMIT:
            found_flags.append("memory at limit")
        if gone and source.endswith("limit unknown"):
            found_flags.append("limit unknown")
        elif pd.isna(cpu_limit) or pd.isna(memory_limit):
            found_flags.append("no limit")
        flags.append(", ".join(found_flags))
    table["flag"] = flags
    order = table[["cpu_of_limit", "memory_of_limit"]].max(axis=1)
    ranked = table.assign(_o=order).sort_values(
        "_o", ascending=False, na_position="last", kind="stable"
    )
    return ranked[cols].reset_index(drop=True)


def _limit_reached(table: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
    """``table`` with, per container and resource, the first sample at :data:`NEAR_LIMIT`."""
    keyed = usage.merge(
        table[["pod", "container", "cpu_limit", "memory_limit"]], on=["pod", "container"]
    )
    out = table
    for resource in ("cpu", "memory"):
        hot = keyed[keyed[resource] >= NEAR_LIMIT * keyed[f"{resource}_limit"]]
        first = (
            hot.groupby(["pod", "container"])["time"].min().rename(f"{resource}_limit_reached_at")
        )
        out = out.merge(first.reset_index(), on=["pod", "container"], how="left")
    return out


def service_objects(service: str, pods: pd.DataFrame | None = None) -> re.Pattern[str]:
    """A pattern matching the ``Kind/name`` objects of events that belong to ``service``.

    Parameters
    ----------
    service
        The incident's service (its Deployment, HPA and Service are named like it).
    pods
        The service's ``pods`` frame (read through its label selector): its pod
        names, their deployments and their nodes belong to the service too.

    Returns
    -------
    re.Pattern
        Full-matches an event's ``object`` column (see the module docstring).
    """
    names = {service}
    exact_pods: set[str] = set()
    nodes: set[str] = set()
    if pods is not None and len(pods):
        exact_pods = {str(p) for p in pods["pod"]}
        names |= {_deployment_of(p) for p in exact_pods}
        nodes = {str(n) for n in pods["node"] if isinstance(n, str) and n}
    owners = "|".join(sorted(re.escape(n) for n in names if n))
    parts = [
        rf"Pod/(?:{owners})-{_HASH}-{_SUFFIX}",
        rf"Pod/(?:{owners})-\d+",  # StatefulSet ordinals
        rf"ReplicaSet/(?:{owners})-{_HASH}",
        rf"[A-Za-z]+/(?:{owners})",  # Deployment, HorizontalPodAutoscaler, Service, ...
    ]
    parts += [f"Pod/{re.escape(p)}" for p in sorted(exact_pods)]
    parts += [f"Node/{re.escape(n)}" for n in sorted(nodes)]
    return re.compile("|".join(f"(?:{p})" for p in parts))


def warning_events(
    events: pd.DataFrame,
    *,
    window: Window | None = None,
    service: str = "",
    pods: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Warning events grouped by reason (and by whose they are): count, objects, an example.

    Parameters
    ----------
    events
        ``k8s_events`` contract frame (a whole namespace's events).
    window
        An event counts when it touched the window (``last_seen >= start`` and
        ``first_seen < end``).
    service
        The incident's service: events on its objects (see :func:`service_objects`)
        get ``scope`` = the service's name, all others ``other``. Empty: no split,
        ``scope`` is empty.
    pods
        The service's pods, to recognise its pods and nodes by name.

    Returns
    -------
    pandas.DataFrame
        Columns ``reason``, ``scope``, ``count``, ``objects``, ``first_seen``,
        ``last_seen``, ``example``; the service's first, most frequent first.
    """
    import pandas as pd

    cols = ["reason", "scope", "count", "objects", "first_seen", "last_seen", "example"]
    warnings = events[events["type"] == "Warning"]
    if window is not None:
        warnings = warnings[
            (warnings["last_seen"] >= pd.Timestamp(window.start))
            & (warnings["first_seen"] < pd.Timestamp(window.end))
        ]
    if warnings.empty:
        return pd.DataFrame(columns=cols)
    if service:
        ours = service_objects(service, pods)
        belongs = warnings["object"].map(lambda o: bool(ours.fullmatch(str(o))))
        scope = belongs.map({True: service, False: "other"})
    else:
        scope = pd.Series("", index=warnings.index)
    grouped = (
        warnings.assign(scope=scope)
        .sort_values("first_seen")
        .groupby(["reason", "scope"])
        .agg(
            count=("count", "sum"),
            objects=("object", "nunique"),
            first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"),
            example=("message", "first"),
        )
        .reset_index()
    )
    grouped["_other"] = grouped["scope"] == "other"
    ranked = grouped.sort_values(["_other", "count"], ascending=[True, False], kind="stable")
    return ranked[cols].reset_index(drop=True)


def resource_findings(
    problems: pd.DataFrame,
    usage: pd.DataFrame,
    warnings: pd.DataFrame,
    *,
    ref: str = "",
    terminations: pd.DataFrame | None = None,
) -> list[Finding]:
    """One finding per problem kind: terminations, containers at a limit, warning reasons.

    With ``terminations`` (the ``k8s_terminations`` frame), OOM kills are left to
    :func:`.terminations.termination_findings`, which also sees those of deleted
    pods and of the nodes' kernel: neither the OOMKilled containers of ``problems``
    nor the ``OOMKilling`` warnings are a finding here (one kill, one finding).

    Every count names all it counts or says ``+N more``. Warnings on objects that are
    not the service's (``scope`` ``other``, see :func:`warning_events`) are one
    separate low finding. Usage of deleted pods is named as such, with whose limit
    it was compared to.

    Facts and roles: OOMKills, containers at their memory limit and
    ``OOMKilling`` warnings are the fact ``memory``, containers at their CPU
    limit ``cpu`` (saturation: the ``mechanism``, the same facts as those
    metrics' onsets); evictions and failed scheduling are a mechanism too.
    Other restarts and ``BackOff`` are the fact ``restarts``, failed probes
    (``Unhealthy``) ``probes``, other warnings ``warning:<reason>``: symptoms.
    Warnings on other services' objects and unknown limits are ``context``.
    """
    # Kubernetes warning reasons -> (fact, role); others are ``warning:<reason>`` symptoms
    warning_facts: dict[str, tuple[str, Role]] = {
        "OOMKilling": ("memory", "mechanism"),
        "Evicted": ("warning:Evicted", "mechanism"),
        "Evicting": ("warning:Evicted", "mechanism"),
        "FailedScheduling": ("warning:FailedScheduling", "mechanism"),
        "BackOff": ("restarts", "symptom"),
        "Unhealthy": ("probes", "symptom"),
        "ProbeWarning": ("probes", "symptom"),
    }
    out: list[Finding] = []
    oom = problems[problems["last_termination_reason"] == "OOMKilled"]
    if terminations is not None:
        warnings = warnings[warnings["reason"] != "OOMKilling"]
    if len(oom) and terminations is None:
        out.append(
            Finding(
                title=f"{len(oom)} container(s) OOMKilled",
                severity="high",
                summary=_listed(
                    [
                        f"{r.pod}/{r.container} ({r.restarts} restart(s), last at "
                        f"{r.last_termination_at:%H:%M} UTC)"
                        for r in oom.itertuples()
                    ]
                ),
                fact="memory",
                role="mechanism",
            )
        )
    other = problems[problems["last_termination_reason"] != "OOMKilled"]
    if len(other):
        out.append(
            Finding(
                title=f"{len(other)} container(s) restarting or not ready",
                severity="medium",
                summary=_listed(
                    [f"{r.pod}/{r.container}: {r.problem}" for r in other.itertuples()]
                ),
                fact="restarts",
                role="symptom",
            )
        )
    for resource in ("cpu", "memory"):
        hot = usage[usage["flag"].str.contains(f"{resource} at limit", regex=False)]
        if len(hot):
            named = []
            for row in hot.to_dict("records"):
                source = str(row.get("limit_source") or "")
                note = f" ({source})" if source else ""
                share = format_share(float(row[f"{resource}_of_limit"]))
                named.append(f"{row['pod']}/{row['container']} {share}{note}")
            gone = sum(
                bool(str(r or "").startswith("pod deleted")) for r in hot.get("limit_source", [])
            )
            reached = hot[f"{resource}_limit_reached_at"].dropna()
            first = f", from {reached.min():%H:%M} UTC" if len(reached) else ""
            title = f"{len(hot)} container(s) at their {resource} limit{first}" + (
                f", {gone} of them in pods deleted since" if gone else ""
            )
            out.append(
                Finding(
                    title=shorten(title, _TITLE_WIDTH),
                    severity="high" if resource == "memory" else "medium",
                    summary=_listed(named)
                    + (
                        " — CPU at its limit is throttled: latency rises"
                        if resource == "cpu"
                        else ""
                    ),
                    ref=ref,
                    fact=resource,
                    role="mechanism",
                )
            )
    unknown = usage[usage["flag"].str.contains("limit unknown", regex=False)]
    if len(unknown):
        out.append(
            Finding(
                title=f"{len(unknown)} deleted container(s) with an unknown limit",
                severity="low",
                summary="No surviving pod of the same deployment to take the limit from: "
                + _listed([f"{r.pod}/{r.container}" for r in unknown.itertuples()]),
                ref=ref,
                role="context",
            )
        )
    scope = warnings["scope"] if "scope" in warnings.columns else None
    ours = warnings if scope is None else warnings[scope != "other"]
    theirs = warnings.iloc[:0] if scope is None else warnings[scope == "other"]
    shown = ours.head(5)
    for r in shown.itertuples():
        whose = f" of {r.scope}" if getattr(r, "scope", "") else ""
        fact, role = warning_facts.get(str(r.reason), (f"warning:{r.reason}", "symptom"))
        out.append(
            Finding(
                title=shorten(
                    f"{r.count} {r.reason} warning event(s) on {r.objects} object(s){whose}",
                    _TITLE_WIDTH,
                ),
                severity="medium"
                if r.reason
                in ("OOMKilling", "BackOff", "FailedScheduling", "Evicted", "FailedMount")
                else "low",
                summary=f"{r.first_seen:%H:%M}–{r.last_seen:%H:%M} UTC, e.g. “{r.example}”",
                fact=fact,
                role=role,
            )
        )
    if len(ours) > len(shown):
        rest = ours.iloc[len(shown) :]
        out.append(
            Finding(
                title=f"+{len(rest)} more warning reason(s)",
                severity="low",
                summary=_listed([f"{r.reason} ×{r.count}" for r in rest.itertuples()], 20),
                role="symptom",
            )
        )
    if len(theirs):
        total = int(theirs["count"].sum())
        out.append(
            Finding(
                title=f"{total} warning event(s) on objects of other services (not counted above)",
                severity="info",
                summary=_listed(
                    [
                        f"{r.reason} ×{r.count} on {r.objects} object(s)"
                        for r in theirs.itertuples()
                    ],
                    20,
                ),
                role="context",
            )
        )
    return out
