"""Findings from a signature table: new error signatures, and the change they followed."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ...core.findings import Finding

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["signature_findings"]


def signature_findings(
    table: pd.DataFrame, changes: pd.DataFrame, *, after: str = "30min", ref: str = ""
) -> list[Finding]:
    """Findings for new error signatures, naming a change they appeared after.

    Parameters
    ----------
    table
        A :func:`signatures` frame (error levels only, typically).
    changes
        Change markers with ``time``, ``label`` and ``kind`` (e.g. from
        :func:`incident_lib.analysis.changes.deploy_markers`); a new signature
        whose first event falls within ``after`` of a deploy or config change
        is reported as appearing after it (high); other new ones are medium.
    """
    import pandas as pd

    out: list[Finding] = []
    causes = changes[changes["kind"].isin(["deploy", "config"])] if len(changes) else changes
    for row in table[table["is_new"]].head(5).itertuples():
        first_seen = cast("pd.Timestamp", row.first_seen)
        template = cast(str, row.template)
        preceding = causes[
            (causes["time"] <= first_seen) & (causes["time"] >= first_seen - pd.Timedelta(after))
        ]
        base = (
            f"{row.count} events on {row.pods} pod(s) from {first_seen:%H:%M} to "
            f"{row.last_seen:%H:%M} UTC, none in the baseline"
            if not row.baseline_count
            else f"{row.count} events on {row.pods} pod(s), "
            f"{row.rate_change:.0f}× the baseline rate"
        )
        if len(preceding):
            change = preceding.iloc[-1]
            minutes = (first_seen - change["time"]) / pd.Timedelta(minutes=1)
            out.append(
                Finding(
                    title=f"New error after {change['label']}: {template[:90]}",
                    severity="high",
                    summary=f"{base}; first seen {minutes:.0f} min after {change['label']} "
                    f"({change['time']:%H:%M} UTC).",
                    ref=ref,
                )
            )
        else:
            out.append(
                Finding(
                    title=f"New error signature: {template[:90]}",
                    severity="medium",
                    summary=base + ".",
                    ref=ref,
                )
            )
    return out
