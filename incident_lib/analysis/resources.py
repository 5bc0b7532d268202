"""Pod health and resources: restarts and terminations, limits vs usage, warning events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.findings import Finding
from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NEAR_LIMIT", "limits_vs_usage", "pod_problems", "resource_findings", "warning_events"]

#: usage at or above this share of the limit counts as "at the limit"
NEAR_LIMIT = 0.9


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


def limits_vs_usage(
    pods: pd.DataFrame, usage: pd.DataFrame, *, window: Window | None = None
) -> pd.DataFrame:
    """Peak and 95th percentile usage per container against its request and limit.

    Columns: ``pod``, ``container``, ``cpu_p95``, ``cpu_peak``, ``cpu_limit``,
    ``cpu_of_limit`` (peak / limit), ``memory_peak``, ``memory_limit``,
    ``memory_of_limit``, ``flag`` (``cpu at limit``, ``memory at limit``, ``no limit``).
    Sorted by the higher of the two shares.
    """
    import numpy as np
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
        "flag",
    ]
    if window is not None:
        usage = usage[
            (usage["time"] >= pd.Timestamp(window.start))
            & (usage["time"] < pd.Timestamp(window.end))
        ]
    if usage.empty or pods.empty:
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
    limits = pods[["pod", "container", "cpu_limit", "memory_limit"]].drop_duplicates(
        ["pod", "container"]
    )
    table = stats.merge(limits, on=["pod", "container"], how="left")
    table["cpu_of_limit"] = table["cpu_peak"] / table["cpu_limit"]
    table["memory_of_limit"] = table["memory_peak"] / table["memory_limit"]
    flags = []
    for cpu_share, memory_share, cpu_limit, memory_limit in zip(
        table["cpu_of_limit"],
        table["memory_of_limit"],
        table["cpu_limit"],
        table["memory_limit"],
        strict=True,
    ):
        found = []
        if cpu_share >= NEAR_LIMIT:
            found.append("cpu at limit")
        if memory_share >= NEAR_LIMIT:
            found.append("memory at limit")
        if np.isnan(cpu_limit) or np.isnan(memory_limit):
            found.append("no limit")
        flags.append(", ".join(found))
    table["flag"] = flags
    order = table[["cpu_of_limit", "memory_of_limit"]].max(axis=1).fillna(0)
    return table.assign(_o=order).sort_values("_o", ascending=False)[cols].reset_index(drop=True)


def warning_events(events: pd.DataFrame, *, window: Window | None = None) -> pd.DataFrame:
    """Warning events grouped by reason: total count, objects, first/last seen, an example.

    An event counts when it touched the window (``last_seen >= start`` and
    ``first_seen < end``). Most frequent first.
    """
    import pandas as pd

    cols = ["reason", "count", "objects", "first_seen", "last_seen", "example"]
    warnings = events[events["type"] == "Warning"]
    if window is not None:
        warnings = warnings[
            (warnings["last_seen"] >= pd.Timestamp(window.start))
            & (warnings["first_seen"] < pd.Timestamp(window.end))
        ]
    if warnings.empty:
        return pd.DataFrame(columns=cols)
    grouped = (
        warnings.sort_values("first_seen")
        .groupby("reason")
        .agg(
            count=("count", "sum"),
            objects=("object", "nunique"),
            first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"),
            example=("message", "first"),
        )
        .reset_index()
    )
    return grouped.sort_values("count", ascending=False)[cols].reset_index(drop=True)


def resource_findings(
    problems: pd.DataFrame, usage: pd.DataFrame, warnings: pd.DataFrame, *, ref: str = ""
) -> list[Finding]:
    """One finding per problem kind: terminations, containers at a limit, warning reasons."""
    out: list[Finding] = []
    oom = problems[problems["last_termination_reason"] == "OOMKilled"]
    if len(oom):
        out.append(
            Finding(
                title=f"{len(oom)} container(s) OOMKilled",
                severity="high",
                summary="; ".join(
                    f"{r.pod}/{r.container} ({r.restarts} restart(s), last at "
                    f"{r.last_termination_at:%H:%M} UTC)"
                    for r in oom.itertuples()
                ),
            )
        )
    other = problems[problems["last_termination_reason"] != "OOMKilled"]
    if len(other):
        out.append(
            Finding(
                title=f"{len(other)} container(s) restarting or not ready",
                severity="medium",
                summary="; ".join(
                    f"{r.pod}/{r.container}: {r.problem}" for r in other.head(5).itertuples()
                ),
            )
        )
    for resource in ("cpu", "memory"):
        hot = usage[usage["flag"].str.contains(f"{resource} at limit", regex=False)]
        if len(hot):
            out.append(
                Finding(
                    title=f"{len(hot)} container(s) at their {resource} limit",
                    severity="high" if resource == "memory" else "medium",
                    summary=", ".join(
                        f"{r.pod}/{r.container} {getattr(r, resource + '_of_limit'):.0%}"
                        for r in hot.head(6).itertuples()
                    )
                    + (
                        " — CPU at its limit is throttled: latency rises"
                        if resource == "cpu"
                        else ""
                    ),
                    ref=ref,
                )
            )
    for r in warnings.head(5).itertuples():
        out.append(
            Finding(
                title=f"{r.count} {r.reason} warning event(s) on {r.objects} object(s)",
                severity="medium"
                if r.reason
                in ("OOMKilling", "BackOff", "FailedScheduling", "Evicted", "FailedMount")
                else "low",
                summary=f"{r.first_seen:%H:%M}–{r.last_seen:%H:%M} UTC, e.g. “{r.example}”",
            )
        )
    return out
