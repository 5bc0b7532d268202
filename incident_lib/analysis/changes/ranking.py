"""Ranking changes against the error onset, and the trigger findings.

:func:`rank_changes` scores each change by its kind (:data:`KIND_WEIGHTS`), whose
change it is (:data:`RELATION_FACTORS`) and how closely it precedes the onset;
:func:`change_findings` names the likely or possible trigger, or that none
preceded the onset.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ...core.errors import InvalidInput
from ...core.findings import Finding, change_fact
from ._rows import _KIND_ORDER, _text

if TYPE_CHECKING:
    import pandas as pd

    from ..related import Relations

__all__ = [
    "DEPENDENCY_FACTOR",
    "KIND_WEIGHTS",
    "OTHER_FACTOR",
    "RELATION_FACTORS",
    "change_findings",
    "rank_changes",
    "relation_label",
]


#: weight of each kind of change as a possible cause (see :func:`rank_changes`)
KIND_WEIGHTS: dict[str, float] = {
    "deploy": 1.0,
    "config": 1.0,
    "job": 1.0,
    "scale": 0.5,
    "commit": 0.5,
    "rollback": 0.0,
    "event": 0.5,
}


#: a dependency's change weighs this share of the same change of this service
DEPENDENCY_FACTOR = 0.7
#: an unrelated service's change weighs this share: at most 0.45, never a likely trigger
OTHER_FACTOR = 0.45
#: what each relation multiplies a change's weight by (``unknown`` counts as this service's)
RELATION_FACTORS: dict[str, float] = {
    "this": 1.0,
    "unknown": 1.0,
    "dependency": DEPENDENCY_FACTOR,
    "other": OTHER_FACTOR,
}


def _weight(kind: str, label: str) -> float:
    if kind == "scale" and label.startswith("HPA ") and " scaled up" in label:
        return 0.0  # the autoscaler reacting to load, not a cause of it
    return KIND_WEIGHTS.get(kind, 0.5)


def _duration(value: str | pd.Timedelta, name: str, *, zero_ok: bool = False) -> pd.Timedelta:
    import pandas as pd

    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: {value!r} is not a duration; write it like '2h'") from None
    if pd.isna(delta) or delta < pd.Timedelta(0) or (delta == pd.Timedelta(0) and not zero_ok):
        raise InvalidInput(f"{name} must be a positive duration, got {value!r}")
    return delta


def _utc_timestamp(value: pd.Timestamp | datetime, name: str) -> pd.Timestamp:
    import pandas as pd

    moment = pd.Timestamp(value)
    if moment.tzinfo is None:
        raise InvalidInput(f"{name}: {value!s} has no timezone; give it in UTC")
    return moment.tz_convert("UTC")


def rank_changes(
    timeline: pd.DataFrame,
    onset: pd.Timestamp | datetime | None,
    *,
    lookback: str | pd.Timedelta = "2h",
    grace: str | pd.Timedelta = "2min",
    half_life: str | pd.Timedelta = "30min",
    relations: Relations | None = None,
) -> pd.DataFrame:
    """Rank changes by how closely they precede the error onset.

    Scoring: ``score = weight(kind) * factor(relation) * 0.5 ** (|lead| /
    half_life)`` for a candidate, 0 otherwise, where ``lead = onset - time``.

    * A change is a *candidate* cause when it happened at most ``lookback``
      before the onset and at most ``grace`` after it (onset detection can be a
      sample or two late), and its weight is above 0.
    * Weights (:data:`KIND_WEIGHTS`): deploy and config 1.0; scale and commit
      0.5 (a scale is rarely the cause; a commit only matters once deployed,
      and its deploy is usually listed too); event 0.5 (a Datadog event that
      changes nothing itself, but may drive traffic or load: a marketing
      campaign can be the trigger of an incident without a deploy); rollback 0
      (a remedy). An HPA scaling *up* weighs 0: it reacts to load rather than
      causing it.
    * With the default half-life of 30 min a deploy 5 min before the onset
      scores 0.89, 30 min before 0.5, 90 min before 0.125; a commit 90 min
      before scores 0.06; an event 3 min before 0.47.
    * With no onset (``None`` or NaT) nothing is a candidate: every score is 0,
      so a quiet incident never blames a change.
    * ``relations`` (:func:`~incident_lib.analysis.related.service_relations`)
      says whose change each is, from the timeline's ``service``
      (:data:`RELATION_FACTORS`): this service's, or unknown (the evidence does
      not say), counts in full; a dependency's at :data:`DEPENDENCY_FACTOR`
      (0.7: a dependency's deploy 5 min before the onset scores 0.62, below
      this service's 0.89); an unrelated service's at :data:`OTHER_FACTOR`
      (0.45), so it never reaches 0.5 and is never the likely trigger, at most
      a possible one. Without ``relations`` every change counts in full.

    Non-candidates stay in the frame as context.

    Parameters
    ----------
    timeline
        A frame from :func:`changes_timeline`.
    onset
        When the error rate departed from its baseline (aware), or ``None``.
    lookback, grace, half_life
        Durations as described above.

    Returns
    -------
    pandas.DataFrame
        The timeline's columns plus ``lead`` (timedelta, NaT without onset),
        ``score`` in [0, 1], ``candidate`` (bool) and, with ``relations``,
        ``relation`` (``this``, ``dependency``, ``other``, ``unknown``); sorted by
        score (highest first), then time, kind and label.
    """
    import numpy as np
    import pandas as pd

    windows = {
        "lookback": _duration(lookback, "lookback"),
        "grace": _duration(grace, "grace", zero_ok=True),
        "half_life": _duration(half_life, "half_life"),
    }
    ranked = timeline.reset_index(drop=True).copy()
    services = ranked.get("service", pd.Series("", index=ranked.index))
    ranked["relation"] = [
        "unknown" if relations is None else relations.relation(_text(n)) for n in services
    ]
    if onset is None or pd.isna(onset):
        ranked["lead"] = pd.Series(pd.NaT, index=ranked.index, dtype="timedelta64[ns]")
        ranked["candidate"] = False
        ranked["score"] = 0.0
    else:
        moment = _utc_timestamp(onset, "onset")
        lead = (moment - ranked["time"]).astype("timedelta64[ns]")
        weight = np.array(
            [
                _weight(k, str(lb)) * RELATION_FACTORS[r]
                for k, lb, r in zip(
                    ranked["kind"], ranked["label"], ranked["relation"], strict=True
                )
            ],
            dtype="float64",
        )
        near = (lead <= windows["lookback"]) & (lead >= -windows["grace"])
        ranked["lead"] = lead
        ranked["candidate"] = (near & (weight > 0)).astype(bool)
        decay = 0.5 ** (lead.abs() / windows["half_life"]).to_numpy(dtype="float64")
        ranked["score"] = np.where(ranked["candidate"], weight * decay, 0.0)
    ranked["_order"] = ranked["kind"].map(_KIND_ORDER).fillna(len(_KIND_ORDER))
    ranked = ranked.sort_values(
        ["score", "time", "_order", "label"], ascending=[False, True, True, True], kind="stable"
    )
    columns = [*timeline.columns, "lead", "score", "candidate"]
    columns += ["relation"] if relations is not None else []
    return ranked[columns].reset_index(drop=True)


#: what a finding suggests doing about a candidate of each kind
_NEXT_STEP = {
    "deploy": "compare a rollback against the evidence.",
    "commit": "compare a rollback against the evidence.",
    "config": "compare reverting the change against the evidence.",
    "scale": "check whether the new replica count can carry the load.",
    "event": "check whether it drove traffic or load (05_metrics) before the errors began.",
    "job": "check what the job did to shared resources (06_database) and whether it is still "
    "running.",
}


#: how a finding names whose change a candidate is (this service's and unknown: nothing)
_RELATION_WORDS = {"dependency": "a dependency", "other": "another service"}


def relation_label(label: str, service: str, relation: str) -> str:
    """A change's label saying whose change it is, for a dependency's or another service's.

    ``deploy v1.2 (checkout rev 3)`` -> ``deploy v1.2 (checkout rev 3; another service)``;
    ``Feature flag on`` -> ``Feature flag on of payments (a dependency)``; this
    service's or an unknown one's label is unchanged.
    """
    words = _RELATION_WORDS.get(relation)
    if not words or not service:
        return label
    if service in label and label.endswith(")"):
        return f"{label[:-1]}; {words})"
    return f"{label} of {service} ({words})"


def _relation_note(service: str, relation: str, relations: Relations | None) -> str:
    """A sentence on whose change it is, for a dependency's or another service's."""
    if relation == "dependency":
        dep = relations.dependency(service) if relations is not None else None
        why = f" ({dep.reason})" if dep is not None else ""
        return f" {service} is a dependency of this service{why}."
    if relation == "other":
        return (
            f" {service} is another service (not a known dependency): its change can "
            "explain this incident only through a dependency not yet known, so it is at "
            "most a possible trigger."
        )
    return ""


def change_findings(
    ranked: pd.DataFrame,
    onset: pd.Timestamp | None,
    *,
    metric: str = "error rate",
    ref: str = "",
    relations: Relations | None = None,
) -> list[Finding]:
    """Findings from :func:`rank_changes`: the likely trigger, or that none preceded the onset.

    A change scoring 0.5 or more (about 30 min or less before the onset for a
    deploy) is reported as the likely trigger (high), 0.2-0.5 as a possible one
    (medium): ``"Possible trigger: <label> N min before the error rate onset"``,
    whatever its kind (a deploy, a flag, a campaign), with the next step that
    fits the kind. Without a candidate, an info finding says so, so that a
    no-deploy incident sends the engineer to traffic, dependencies and
    resources instead.

    A likely or possible trigger has the role ``trigger`` and the fact
    :func:`~incident_lib.core.findings.change_fact` of its label (a rollout's
    ``change:<deployment> rev <revision>``, as 02_assess names it); a finding
    that no change lines up is ``context``.

    When ``ranked`` has a ``relation`` column (always, from :func:`rank_changes`),
    a dependency's or another service's change says so in the title
    (``"Possible trigger: deploy v1.2 (payments rev 3; another service) ..."``)
    and the summary says why it is a dependency (from ``relations``) or that
    an unrelated service's change is at most a possible trigger.
    """
    import pandas as pd

    if onset is None or pd.isna(onset):
        return [
            Finding(
                title=f"No sustained {metric} departure found",
                severity="info",
                summary="Without an onset no change can be lined up with the incident; "
                "check the window and the metrics in 05_metrics.",
                ref=ref,
                fact="no-trigger",
                role="context",
            )
        ]
    out: list[Finding] = []
    top = ranked[ranked["candidate"] & (ranked["score"] >= 0.2)].head(3)
    blank = pd.Series("", index=top.index)
    for time, kind, label, detail, lead, score, service, relation in zip(
        top["time"],
        top["kind"],
        top["label"],
        top["detail"],
        top["lead"],
        top["score"],
        top.get("service", blank),
        top.get("relation", blank),
        strict=True,
    ):
        whose = relation_label(str(label), _text(service), _text(relation))
        minutes = lead / pd.Timedelta(minutes=1)
        when = f"{minutes:.0f} min before" if minutes >= 1 else "at"
        strong = score >= 0.5
        out.append(
            Finding(
                title=f"{'Likely' if strong else 'Possible'} trigger: {whose} "
                f"{when} the {metric} onset",
                severity="high" if strong else "medium",
                summary=f"{label} at {time:%H:%M} UTC ({detail}); the {metric} left "
                f"its baseline at {onset:%H:%M} UTC."
                f"{_relation_note(_text(service), _text(relation), relations)} "
                f"Score {score:.2f}: {_NEXT_STEP.get(kind, _NEXT_STEP['deploy'])}",
                ref=ref,
                fact=change_fact(str(label)),
                role="trigger",
            )
        )
    if not out:
        out.append(
            Finding(
                title=f"No change preceded the {metric} onset",
                severity="info",
                summary=f"Nothing was rolled out, reconfigured or committed in the 2 h before "
                f"{onset:%H:%M} UTC: look at traffic, dependencies and resources.",
                ref=ref,
                fact="no-trigger",
                role="context",
            )
        )
    return out
