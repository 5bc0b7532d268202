"""Findings from a signature table: what is new or grew, and the change it followed."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...core.findings import Finding, Level, change_fact
from ...core.text import shorten
from .frames import NEW_RATE_RATIO
from .ranking import MIN_BASELINE_EVENTS, change_text, distinct_texts, rank_signatures

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GROWTH_MIN", "TITLE_WIDTH", "signature_findings"]

#: a signature with enough baseline events is reported when its rate grew at least this much
GROWTH_MIN = 2.0
#: the template in a finding's title is cut (at a word boundary) to this many characters
TITLE_WIDTH = 90


@dataclass
class _Family:
    """One failure: its best-ranked signature and the others that log the same text."""

    lead: dict[Hashable, Any]
    echoes: list[dict[Hashable, Any]] = field(default_factory=list)


def _notable(row: dict[Hashable, Any]) -> bool:
    """New, or grew: enough baseline events and ``GROWTH_MIN``×, or ten-fold from a few."""
    rate, base = float(row["rate_change"]), int(row["baseline_count"])
    if math.isnan(rate):
        return False
    if base == 0:
        return True
    if base >= MIN_BASELINE_EVENTS:
        return rate >= GROWTH_MIN
    return rate >= 1 / NEW_RATE_RATIO


def _families(rows: list[dict[Hashable, Any]], top: int) -> list[_Family]:
    """Notable rows (in rank order) grouped by the failure they log (``same_as``)."""
    families: dict[int, _Family] = {}
    notable = {int(r["rank"]) for r in rows}
    for row in rows:
        lead = int(row["same_as"])
        if lead in families:
            families[lead].echoes.append(row)
        elif lead not in notable and len(families) < top:
            # a lead of its own, or repeating a signature that did not change
            families[int(row["rank"])] = _Family(row)
    return list(families.values())


def _level_word(row: dict[Hashable, Any]) -> str:
    level = str(row["level"]).lower()
    return level if level in ("warning", "error", "critical") else "log"


def _finding(
    family: _Family, short: str, causes: pd.DataFrame, after: pd.Timedelta, ref: str
) -> Finding:
    import pandas as pd

    row = family.lead
    template = str(row["template"])
    level = _level_word(row)
    base = int(row["baseline_count"])
    first_seen: pd.Timestamp = row["first_seen"]
    facts = (
        f"{row['count']} events on {row['pods']} pod(s) from {first_seen:%H:%M} to "
        f"{row['last_seen']:%H:%M} UTC, "
        + ("none in the baseline" if base == 0 else change_text(base, float(row["rate_change"])))
    )
    severity: Level = "medium"
    fact = "logs:window"
    if base == 0:
        preceding = causes[(causes["time"] <= first_seen) & (causes["time"] >= first_seen - after)]
        if len(preceding):
            change = preceding.iloc[-1]
            minutes = (first_seen - change["time"]) / pd.Timedelta(minutes=1)
            title = f"New {level} signature after {change['label']}: {short}"
            facts += (
                f"; first seen {minutes:.0f} min after {change['label']} "
                f"({change['time']:%H:%M} UTC)"
            )
            severity = "high"
            fact = "logs:" + change_fact(
                str(change["label"]),
                deployment=str(change.get("deployment", "") or ""),
                revision=change.get("revision"),
            )
        else:
            title = f"New {level} signature: {short}"
    elif base >= MIN_BASELINE_EVENTS:
        title = (
            f"{level.capitalize()} signature at {change_text(base, row['rate_change'])}: {short}"
        )
    else:
        title = f"{level.capitalize()} signature rising ({change_text(base, 0.0)}): {short}"
        severity = "low"
    if family.echoes:
        extra = sum(int(e["count"]) for e in family.echoes)
        facts += (
            f". Also logged as {len(family.echoes)} other signature(s) with {extra} events, "
            f"e.g. {shorten(str(family.echoes[0]['template']), TITLE_WIDTH)}"
        )
    return Finding(
        title=title,
        severity=severity,
        summary=f"{facts}. Template: {template}",
        ref=ref,
        fact=fact,
        role="mechanism",
    )


def signature_findings(
    table: pd.DataFrame,
    changes: pd.DataFrame,
    *,
    after: str = "30min",
    ref: str = "",
    top: int = 5,
) -> list[Finding]:
    """Findings for the top signatures that are new or grew, naming a change they followed.

    Parameters
    ----------
    table
        A :func:`~incident_lib.analysis.signatures.signatures` frame, ranked by
        :func:`~incident_lib.analysis.signatures.rank_signatures` or not (it
        is ranked here if it has no ``same_as``), all levels at warning and above.
    changes
        Change markers with ``time``, ``label`` and ``kind`` (e.g. from
        :func:`incident_lib.analysis.changes.deploy_markers`). With a
        ``relation`` column (markers built with relations), only this
        service's changes (``this``, or ``unknown`` when the evidence does not
        say) count: another service's or a dependency's deploy is never the
        change a signature of this service's logs appeared "after".
    after
        A new signature whose first event falls within this long after a
        ``deploy`` or ``config`` change is reported as appearing after it.
    ref
        Where to look (the chart), copied into every finding.
    top
        At most this many findings.

    Returns
    -------
    list of Finding
        In rank order, one per failure among the signatures that are *new*
        (absent from the baseline) or *grew* (at least :data:`GROWTH_MIN` × the
        baseline rate with at least ``MIN_BASELINE_EVENTS`` baseline events, or
        ten-fold from fewer). A signature that repeats a better-ranked one
        (``same_as``: the same error logged again by a caller, ``flush failed:
        <error>``) joins that one's finding ("also logged as ..."). Severity: high for a new
        signature after a change, medium for other new ones and for growth,
        low for growth from fewer than ``MIN_BASELINE_EVENTS`` baseline events.
        Titles say ``New <level> signature`` only for a signature absent from
        the baseline; otherwise they say how much it grew (or how few baseline
        events there were). The title holds the template cut at a word
        boundary; the summary holds it whole.
    """
    import pandas as pd

    if table.empty or top <= 0:
        return []
    ranked = table if "same_as" in table.columns else rank_signatures(table)
    rows = [r for r in ranked.to_dict("records") if _notable(r)]
    causes = changes[changes["kind"].isin(["deploy", "config"])] if len(changes) else changes
    if len(causes) and "relation" in causes:
        causes = causes[causes["relation"].isin(["this", "unknown", ""])]
    if not len(causes):
        causes = pd.DataFrame({"time": pd.Series(dtype="datetime64[ns, UTC]"), "label": []})
    window = pd.Timedelta(after)
    families = _families(rows, top)
    shorts = distinct_texts([str(f.lead["template"]) for f in families], TITLE_WIDTH)
    return [
        _finding(f, short, causes, window, ref) for f, short in zip(families, shorts, strict=True)
    ]
