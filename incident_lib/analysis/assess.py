"""The quick assessment's conclusions: what moved, what changed, what fired."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.findings import Finding

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["assessment_findings", "customer_impact"]

#: a metric "moved" when its incident peak is at least this many times its baseline
MOVED_RATIO = 2.0


def _row(health: pd.DataFrame, metric: str):
    rows = health[health["metric"] == metric]
    return None if rows.empty else rows.iloc[0]


def assessment_findings(
    health: pd.DataFrame, markers: pd.DataFrame, alerts: pd.DataFrame, *, ref: str = ""
) -> list[Finding]:
    """Findings from the health table, the changes in the window and the alerts.

    A deploy in the window is reported as a change to check, never as the cause:
    ranking changes against the onset is the changes notebook's job.
    """
    out: list[Finding] = []
    errors = _row(health, "error_ratio")
    if (
        errors is not None
        and errors["peak"] >= 1.0
        and (not errors["baseline"] > 0 or errors["peak"] >= MOVED_RATIO * errors["baseline"])
    ):
        out.append(
            Finding(
                title=f"5xx share of requests peaked at {errors['peak']:.1f} %",
                severity="critical" if errors["peak"] >= 25 else "high",
                summary=f"At {errors['peak_at']:%H:%M} UTC, against a baseline of "
                f"{errors['baseline']:.2f} %; latest {errors['latest']:.2f} %.",
                ref=ref,
            )
        )
    latency = _row(health, "latency_p95")
    if latency is not None and latency["peak_vs_baseline"] >= MOVED_RATIO:
        out.append(
            Finding(
                title=f"p95 latency rose {latency['peak_vs_baseline']:.1f}× to "
                f"{latency['peak']:.0f} ms",
                severity="high" if latency["peak_vs_baseline"] >= 4 else "medium",
                summary=f"Peak at {latency['peak_at']:%H:%M} UTC (baseline "
                f"{latency['baseline']:.0f} ms); latest {latency['latest']:.0f} ms.",
                ref=ref,
            )
        )
    for row in markers.itertuples():
        out.append(
            Finding(
                title=f"{row.label[0].upper()}{row.label[1:]} at {row.time:%H:%M} UTC "
                "inside the incident window",
                severity="medium" if row.kind == "deploy" else "info",
                summary=f"{row.deployment} revision {row.revision}. Check it against the error "
                "onset in 03_changes before blaming it.",
                ref=ref,
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
                    f"{r.monitor} (first {r.first_fired:%H:%M}, now {r.state})"
                    for r in alerts.itertuples()
                ),
            )
        )
    return out


def customer_impact(health: pd.DataFrame, service: str) -> str:
    """One customer-facing sentence on what users experience, from the health table."""
    failing = _row(health, "error_ratio")
    slow = _row(health, "latency_p95")
    parts = []
    if failing is not None and failing["peak"] >= 1.0:
        parts.append("some requests are failing")
    if slow is not None and slow["peak_vs_baseline"] >= MOVED_RATIO:
        parts.append("responses are slower than usual")
    if not parts:
        return f"We are looking into reports of problems with {service}."
    return f"Some users of {service} may notice that " + " and ".join(parts) + "."
