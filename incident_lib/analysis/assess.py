"""The quick assessment's conclusions: what moved, what changed, what fired."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ..core.findings import Finding, change_fact
from ..core.metrics import metric_info

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["assessment_findings", "customer_impact"]

#: a metric "moved" when its incident peak is at least this many times its baseline
MOVED_RATIO = 2.0


def _row(health: pd.DataFrame, metric: str) -> dict[Hashable, Any] | None:
    """The health-table row of ``metric`` as a mapping, or ``None``."""
    rows = health[health["metric"] == metric].to_dict("records")
    return rows[0] if rows else None


#: how a rollout's summary says whose it is (this service's: nothing)
_WHOSE = {
    "dependency": " (a dependency of this service)",
    "other": " (another service, not a known dependency)",
}


def assessment_findings(
    health: pd.DataFrame, markers: pd.DataFrame, alerts: pd.DataFrame, *, ref: str = ""
) -> list[Finding]:
    """Findings from the health table, the changes in the window and the alerts.

    A deploy in the window is reported as a change to check, never as the cause:
    ranking changes against the onset is the changes notebook's job. Metrics are
    named and their values formatted from :mod:`incident_lib.core.metrics`.

    Parameters
    ----------
    health
        From :func:`incident_lib.analysis.metrics.health_table`.
    markers
        From :func:`incident_lib.analysis.changes.deploy_markers` (inside the window).
        With a ``relation`` column (markers built with relations), a dependency's
        rollout says so, and another service's is only ``info`` and says it is
        not a known dependency.
    alerts
        From :func:`incident_lib.analysis.alerts.alert_summary`.
    ref
        A chart the metric findings point to.

    Returns
    -------
    list of Finding
        The 5xx share and p95 latency when they moved (facts ``errors`` and
        ``latency``, symptoms), each change (fact :func:`change_fact` of the
        rollout, the same as 03_changes' finding on it: context until ranked
        there; a rollback is the response), the monitors (``monitors``, a symptom).
    """
    out: list[Finding] = []
    errors = _row(health, "error_ratio")
    if (
        errors is not None
        and errors["peak"] >= 1.0
        and (not errors["baseline"] > 0 or errors["peak"] >= MOVED_RATIO * errors["baseline"])
    ):
        share = metric_info("error_ratio")
        out.append(
            Finding(
                title=f"{share.name} peaked at {share.format(errors['peak'])}",
                severity="critical" if errors["peak"] >= 25 else "high",
                summary=f"At {errors['peak_at']:%H:%M} UTC, against a baseline average of "
                f"{share.format(errors['baseline'])}; latest {share.format(errors['latest'])}.",
                ref=ref,
                fact="errors",
                role="symptom",
            )
        )
    latency = _row(health, "latency_p95")
    if latency is not None and latency["peak_vs_baseline"] >= MOVED_RATIO:
        p95 = metric_info("latency_p95")
        out.append(
            Finding(
                title=f"{p95.name} rose {latency['peak_vs_baseline']:.1f}× to "
                f"{p95.format(latency['peak'])}",
                severity="high" if latency["peak_vs_baseline"] >= 4 else "medium",
                summary=f"Peak at {latency['peak_at']:%H:%M} UTC (baseline "
                f"{p95.format(latency['baseline'])}); latest {p95.format(latency['latest'])}.",
                ref=ref,
                fact="latency",
                role="symptom",
            )
        )
    for change in markers.to_dict("records"):
        label = str(change["label"])
        relation = str(change.get("relation", "") or "")
        whose = _WHOSE.get(relation, "")
        out.append(
            Finding(
                title=f"{label[:1].upper()}{label[1:]} at {change['time']:%H:%M} UTC "
                "inside the incident window",
                severity="medium" if change["kind"] == "deploy" and relation != "other" else "info",
                summary=f"{change['deployment']} revision {change['revision']}{whose}. Check it "
                "against the error onset in 03_changes before blaming it.",
                ref=ref,
                fact=change_fact(
                    label,
                    deployment=str(change.get("deployment", "") or ""),
                    revision=change.get("revision"),
                ),
                role="response" if change["kind"] == "rollback" else "context",
            )
        )
    if len(alerts):
        firing = alerts[alerts["firing"]]
        out.append(
            Finding(
                title=f"{len(alerts)} monitor(s) fired"
                + (f", {len(firing)} still firing" if len(firing) else ", all recovered"),
                severity="high" if len(firing) else "info",
                summary="; ".join(
                    f"{a['monitor']} (first {a['first_fired']:%H:%M}, now {a['state']})"
                    for a in alerts.to_dict("records")
                ),
                fact="monitors",
                role="symptom",
            )
        )
    return out


#: record statuses after a mitigation: the impact is told in the past tense
_PAST = ("monitoring", "resolved")


def customer_impact(health: pd.DataFrame, service: str, *, state: str = "investigating") -> str:
    """One customer-facing sentence on what users experience, from the health table.

    Parameters
    ----------
    health
        From :func:`incident_lib.analysis.metrics.health_table`.
    service
        The service's name as customers know it.
    state
        The record's status: ``monitoring`` and ``resolved`` tell the impact in
        the past tense ("requests failed"), never as still going on.

    Returns
    -------
    str
        Failing requests (5xx share peaked at 1 % or more) and slowness (p95
        latency at least :data:`MOVED_RATIO` × its baseline), or a holding line.
    """
    past = state in _PAST
    failing = _row(health, "error_ratio")
    slow = _row(health, "latency_p95")
    parts = []
    if failing is not None and failing["peak"] >= 1.0:
        parts.append("some requests failed" if past else "some requests are failing")
    if slow is not None and slow["peak_vs_baseline"] >= MOVED_RATIO:
        parts.append(
            "responses were slower than usual" if past else "responses are slower than usual"
        )
    if not parts:
        if past:
            return f"Some users of {service} may have had problems with it."
        return f"We are looking into reports of problems with {service}."
    verb = "may have noticed" if past else "may notice"
    return f"Some users of {service} {verb} that " + " and ".join(parts) + "."
