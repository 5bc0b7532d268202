"""The diagnosis: what happened, as clauses that each name the evidence they rest on.

A :class:`Diagnosis` is built by :func:`diagnose` from the timeline and the
analyses (ranked changes, onsets, signatures, impact, recovery). Every clause
carries ``refs``: where a reader checks it. A reference is one of

* ``"source/name"`` or ``"source/name#row=N"``: captured evidence (and a row);
* a notebook name (``"03_changes"``): the page that shows it;
* ``"timeline"``: the incident timeline.

The text is plain text for people; renderers quote it (HTML escaping,
:func:`~incident_lib.core.text.md_text`), since it quotes object names and log
templates from the systems under investigation.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core.actions import EFFECT_KIND, action_taken
from ..core.metrics import format_percent, metric_info
from .changes import relation_label

if TYPE_CHECKING:
    import pandas as pd

    from ..core.incident import Incident
    from .impact import Impact
    from .recovery import RecoveryVerdict

__all__ = ["Clause", "Diagnosis", "diagnose"]


@dataclass(frozen=True, slots=True)
class Clause:
    """One statement of the story and the evidence it rests on.

    Parameters
    ----------
    text
        Plain text, one or two sentences.
    refs
        Where to check it (see the module docstring).
    """

    text: str
    refs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "refs", tuple(dict.fromkeys(self.refs)))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"text": self.text, "refs": list(self.refs)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnosis:
    """What happened, in the order a responder reads it.

    Attributes
    ----------
    headline
        One line: the trigger, the mechanism and the state, e.g. ``"deploy v2.34
        (api rev 42) exhausted the database connections; rolled back at 14:33,
        recovered"``.
    trigger
        The most likely trigger and why (how it lines up with the onset, what
        else changed and why it ranks lower), or ``None`` when nothing preceded
        the onset.
    alternatives
        Competing hypotheses when the evidence does not single one out (empty
        otherwise).
    tell_apart
        What would tell the competing hypotheses apart, or ``None``.
    mechanism
        What the evidence shows between the trigger and the symptoms: the first
        metric to move, new log signatures, saturation, OOMKills.
    symptoms
        What users and monitors saw (errors, latency, alerts).
    impact
        Failed requests, share of requests, duration.
    actions
        What was done and when (rollbacks, scaling, status changes), in order.
    verdict
        The current state: recovered and verified, recovering, or still failing.
    next_step
        For an open incident, the mitigation the evidence points to; for a
        resolved one, the post-mortem.
    unknown
        Evidence that could not be read (``"source/name"``): the story may be
        missing what it would have shown.
    """

    headline: str
    trigger: Clause | None
    alternatives: tuple[Clause, ...] = ()
    tell_apart: Clause | None = None
    mechanism: tuple[Clause, ...] = ()
    symptoms: Clause | None = None
    impact: Clause | None = None
    actions: tuple[Clause, ...] = ()
    verdict: Clause = field(default_factory=lambda: Clause("Verdict unknown."))
    next_step: Clause = field(default_factory=lambda: Clause("Keep investigating."))
    unknown: tuple[str, ...] = ()

    def sections(self) -> list[tuple[str, tuple[Clause, ...]]]:
        """``(heading, clauses)`` in reading order, leaving out empty parts."""
        parts: list[tuple[str, tuple[Clause, ...]]] = [
            ("Trigger", (self.trigger,) if self.trigger else ()),
            ("Competing hypotheses", self.alternatives),
            ("What tells them apart", (self.tell_apart,) if self.tell_apart else ()),
            ("Mechanism", self.mechanism),
            ("Symptoms", (self.symptoms,) if self.symptoms else ()),
            ("Impact", (self.impact,) if self.impact else ()),
            ("What was done", self.actions),
            ("Verdict", (self.verdict,)),
            ("Next step", (self.next_step,)),
        ]
        return [(heading, clauses) for heading, clauses in parts if clauses]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``findings.json``."""

        def one(clause: Clause | None) -> dict[str, Any] | None:
            return None if clause is None else clause.to_dict()

        return {
            "headline": self.headline,
            "trigger": one(self.trigger),
            "alternatives": [c.to_dict() for c in self.alternatives],
            "tell_apart": one(self.tell_apart),
            "mechanism": [c.to_dict() for c in self.mechanism],
            "symptoms": one(self.symptoms),
            "impact": one(self.impact),
            "actions": [c.to_dict() for c in self.actions],
            "verdict": one(self.verdict),
            "next_step": one(self.next_step),
            "unknown": list(self.unknown),
        }


# -- building the diagnosis --------------------------------------------------------------

#: a change scoring at least this much is a candidate worth naming (as changes.change_findings)
_POSSIBLE = 0.2
#: a change scoring at least this much lines up well with the onset on timing alone
_LIKELY = 0.5
#: a second candidate within this share of the first one's score competes with it
_COMPETES = 0.6
#: how many new log signatures the mechanism names
_SIGNATURES_NAMED = 3
#: the evidence changes are ranked from: when one is unread, a trigger may be missing
_CHANGE_EVIDENCE = ("kubernetes/rollouts", "kubernetes/events", "datadog/events", "git/commits")
#: how much of a signature's template the mechanism quotes
_SIGNATURE_WIDTH = 90
#: metrics that are symptoms, not mechanism
_SYMPTOM_METRICS = ("error_ratio", "error_rate", "latency_p95", "latency_p99", "latency")

#: for each kind of change, what would single it out among competing ones
_TELLS = {
    "deploy": "a rollout is the cause when the failing pods are the new revision's and the "
    "old revision's pods stay healthy",
    "rollback": "a rollback is the cause when errors start on the pods it brought back",
    "config": "a configuration change is the cause when old and new pods fail alike right "
    "after they pick it up",
    "commit": "a commit matters only once deployed: check which rollout carried it",
    "scale": "a scaling change is the cause when errors follow the replica count, not the traffic",
    "event": "an outside event (a campaign, a migration) is the cause when traffic or load "
    "rises before the errors and the errors follow it",
}

#: what to do next about a trigger of each kind while the incident is open
_MITIGATE = {
    "deploy": "roll back {label} to the previous revision (09_mitigate), then re-run 10_verify",
    "commit": "roll back the rollout that carried {label} (09_mitigate), then re-run 10_verify",
    "config": "revert {label} (09_mitigate), then re-run 10_verify",
    "scale": "restore the replica count before {label} (09_mitigate), then re-run 10_verify",
    "event": "add capacity or shed load while the traffic from {label} lasts (07_resources "
    "shows what saturates), then re-run 10_verify",
}


def _hm(moment: Any) -> str:
    return f"{moment:%H:%M} UTC"


def _hms(moment: Any) -> str:
    return f"{moment:%H:%M:%S} UTC" if getattr(moment, "second", 0) else _hm(moment)


def _ago(delta: Any) -> str:
    from datetime import timedelta

    from ..core.time import format_duration

    seconds = delta / timedelta(seconds=1) if isinstance(delta, timedelta) else float(delta)
    return format_duration(timedelta(seconds=round(abs(seconds))))


def _event_refs(events: pd.DataFrame, mask: pd.Series) -> tuple[str, ...]:
    """References of the events selected by ``mask``: ``file#row=N`` or ``evidence#row=N``."""
    refs: list[str] = []
    for record in events[mask].to_dict("records"):
        where = str(record["file"] or record["evidence"])
        row = int(record["row"])
        if where:
            refs.append(f"{where}#row={row}" if row >= 0 else where)
        if record["section"]:
            refs.append(str(record["section"]).split("#", 1)[0])
    return tuple(dict.fromkeys(refs))


def _lane(events: pd.DataFrame, lane: str, *kinds: str) -> pd.DataFrame:
    chosen = events["source"] == lane
    if kinds:
        chosen &= events["kind"].isin(kinds)
    return events[chosen]


def _change_refs(events: pd.DataFrame, row: Mapping[Hashable, Any]) -> tuple[str, ...]:
    """The timeline events of one ranked change (same time and kind in the changes lane)."""
    mask = (
        (events["source"] == "changes")
        & (events["kind"] == row["kind"])
        & (events["time"] == row["time"])
    )
    return _event_refs(events, mask) or ("03_changes",)


def _precursor(
    since: pd.Timestamp, onset: pd.Timestamp, events: pd.DataFrame
) -> Mapping[Hashable, Any] | None:
    """The first sign of trouble before the error onset: a cause metric or a new signature.

    A metric that is not itself a symptom (DB connections, request rate) leaving its
    baseline or reaching a limit, or a new log signature, between ``since`` and the onset.
    """
    between = events[(events["time"] >= since) & (events["time"] < onset)]
    signs = between[
        (
            (between["source"] == "metrics")
            & between["kind"].isin(("onset", "saturation"))
            & ~between["key"].str.contains("|".join(_SYMPTOM_METRICS), regex=True)
        )
        | ((between["source"] == "logs") & (between["kind"] == "new_signature"))
        | ((between["source"] == "database") & (between["kind"] == "saturation"))
    ]
    return None if signs.empty else signs.iloc[0].to_dict()


def _trigger(
    ranked: pd.DataFrame, onset: pd.Timestamp | None, events: pd.DataFrame, metric: str
) -> tuple[Clause | None, tuple[Clause, ...], Clause | None, Mapping[Hashable, Any] | None]:
    """The trigger clause, competing hypotheses, what tells them apart, and the trigger's row.

    Changes close in score compete. The first sign of trouble before the onset
    (:func:`_precursor`) tells them apart when some of them came after it: a
    change cannot explain what had already begun.
    """
    import pandas as pd

    if onset is None or pd.isna(onset) or not len(ranked):
        return None, (), None, None
    candidates = ranked[ranked["candidate"] & (ranked["score"] >= _POSSIBLE)]
    lower = ranked[ranked["candidate"] & (ranked["score"] < _POSSIBLE)]
    if not len(candidates):
        return None, (), None, None
    pool = candidates[candidates["score"] >= _COMPETES * candidates["score"].iloc[0]]
    sign = _precursor(pool["time"].min(), onset, events)
    ruled_out = pool.iloc[0:0]
    if sign is not None and (pool["time"] <= sign["time"]).any():
        ruled_out = pool[pool["time"] > sign["time"]]
        pool = pool[pool["time"] <= sign["time"]]
    top = pool.iloc[0].to_dict()
    competing = pool.iloc[1:]
    lead = onset - top["time"]
    when = f"{_ago(lead)} before" if lead > pd.Timedelta(0) else f"{_ago(lead)} after"
    # another service's change (not a known dependency) is never the most likely trigger
    likely = (top["score"] >= _LIKELY or sign is not None) and top.get("relation") != "other"
    label = relation_label(
        str(top["label"]), str(top.get("service", "") or ""), str(top.get("relation", "") or "")
    )
    text = (
        f"{'Most likely' if likely else 'Possible'} trigger: {label} at "
        f"{_hm(top['time'])}, {when} the {metric} left its baseline ({_hms(onset)})"
    )
    refs = [*_change_refs(events, top)]
    if sign is not None and sign["time"] >= top["time"]:
        first_sign = str(sign["summary"]).split(";", 1)[0].rstrip(".")
        text += f"; {first_sign} {_ago(sign['time'] - top['time'])} after it."
        refs += _event_refs(events, events["id"] == sign["id"])
    else:
        text += "."
    for row in ruled_out.to_dict("records"):
        text += (
            f" {row['label']} at {_hm(row['time'])} came after that had begun, so it does "
            "not explain it."
        )
        refs += _change_refs(events, row)
    others = len(candidates) - len(pool) - len(ruled_out) + len(lower)
    if others:
        text += (
            f" {others} other change{'s' if others > 1 else ''} in the lookback "
            f"rank{'' if others > 1 else 's'} lower: further from the onset or of a kind "
            "that rarely causes failures (03_changes lists them)."
        )
    elif not len(competing) and not len(ruled_out):
        text += " No other change in the lookback is a candidate cause (03_changes lists them all)."
    trigger = Clause(text, tuple(dict.fromkeys([*refs, "03_changes"])))
    if not len(competing):
        return trigger, (), None, top
    alternatives = []
    for row in competing.to_dict("records"):
        gap = onset - row["time"]
        alternatives.append(
            Clause(
                f"{row['label']} at {_hm(row['time'])}, {_ago(gap)} "
                f"{'before' if gap > pd.Timedelta(0) else 'after'} the onset "
                f"(score {row['score']:.2f} against {top['score']:.2f}).",
                tuple(dict.fromkeys([*_change_refs(events, row), "03_changes"])),
            )
        )
    kinds = list(dict.fromkeys([str(top["kind"]), *competing["kind"].astype(str)]))
    tells = "; ".join(_TELLS.get(k, _TELLS["event"]) for k in kinds)
    tell_apart = Clause(
        f"Timing alone does not single one out. To tell them apart: {tells}. Undoing one "
        "change at a time and watching the error rate settles it.",
        ("03_changes", "04_logs", "05_metrics"),
    )
    return trigger, tuple(alternatives), tell_apart, top


def _signature_text(summary: str) -> str:
    """``"New log signature (error, 9 events from 2 pods): tmpl"`` -> ``"tmpl… (error)"``."""
    from ..core.text import shorten

    head, sep, template = summary.partition("): ")
    if not sep or "(" not in head:
        return shorten(summary, _SIGNATURE_WIDTH)
    level = head.split("(", 1)[1].split(",", 1)[0]
    return f"{shorten(template, _SIGNATURE_WIDTH)} ({level})"


def _mechanism(
    events: pd.DataFrame, start: pd.Timestamp, onset: pd.Timestamp | None
) -> tuple[Clause, ...]:
    """What the timeline shows between the trigger and the symptoms, in time order."""
    after = events[events["time"] >= start]
    clauses: list[tuple[pd.Timestamp, Clause]] = []
    moved = after[
        (after["source"] == "metrics")
        & (after["kind"] == "onset")
        & ~after["key"].str.contains("|".join(_SYMPTOM_METRICS), regex=True)
    ]
    if onset is not None:
        moved = moved[moved["time"] <= onset]
    if len(moved):
        first = moved.iloc[0]
        also = len(moved) - 1
        extra = f" ({also} other metric{'s' if also > 1 else ''} followed)" if also else ""
        clauses.append(
            (
                first["time"],
                Clause(
                    f"{_hms(first['time'])}: {first['summary'].rstrip('.')}{extra}.",
                    _event_refs(events, events["id"].isin(moved["id"])),
                ),
            )
        )
    signatures = _lane(after, "logs", "new_signature")
    if len(signatures):
        named = signatures.head(_SIGNATURES_NAMED)
        more = len(signatures) - len(named)
        listed = "; ".join(
            f"{_hm(t)} {_signature_text(s)}"
            for t, s in zip(named["time"], named["summary"], strict=True)
        )
        extra = f" (+{more} more in 04_logs)" if more else ""
        clauses.append(
            (
                named["time"].iloc[0],
                Clause(
                    f"New log signatures: {listed}{extra}.",
                    (*_event_refs(events, events["id"].isin(named["id"])), "04_logs"),
                ),
            )
        )
    saturated = _concat(
        [
            _lane(after, "database", "leak", "blocking"),
            _lane(after, "metrics", "saturation"),
            _lane(after, "database", "saturation"),
        ]
    )
    for _, group in saturated.groupby("key", sort=False):
        first = group.iloc[0]
        clauses.append(
            (
                first["time"],
                Clause(
                    f"{_hms(first['time'])}: {first['summary'].rstrip('.')}.",
                    _event_refs(events, events["id"] == first["id"]),
                ),
            )
        )
    for kind in ("oomkill", "crashloop", "eviction", "scheduling"):
        found = _lane(after, "kubernetes", kind)
        if len(found):
            first = found.iloc[0]
            clauses.append(
                (
                    first["time"],
                    Clause(
                        f"{_hms(first['time'])}: {first['summary'].rstrip('.')}.",
                        (*_event_refs(events, events["id"] == first["id"]), "07_resources"),
                    ),
                )
            )
    clauses.sort(key=lambda item: item[0])
    return tuple(clause for _, clause in clauses)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    return pd.concat(frames).sort_values("time", kind="stable")


def _onset_row(onsets: pd.DataFrame, metric: str) -> Mapping[Hashable, Any] | None:
    found = onsets[onsets["metric"] == metric]
    return None if found.empty else found.iloc[0].to_dict()


def _symptoms(
    onsets: pd.DataFrame, onset: pd.Timestamp | None, events: pd.DataFrame, metrics_ref: str
) -> Clause | None:
    """Errors, latency and monitors: what users and the on-call saw."""
    parts: list[str] = []
    refs: list[str] = []
    errors = _onset_row(onsets, "error_ratio")
    if errors is not None and errors["moved"] and onset is not None:
        parts.append(
            f"the 5xx share left its baseline at {_hms(onset)} and peaked at "
            f"{format_percent(errors['peak'])} at {_hm(errors['peak_at'])}"
        )
        refs += [metrics_ref, "05_metrics"]
    latency = _onset_row(onsets, "latency_p95")
    if latency is not None and latency["moved"]:
        info = metric_info("latency_p95")
        ratio = latency["ratio"]
        growth = f", {ratio:.0f}× its baseline" if not math.isnan(ratio) and ratio >= 2 else ""
        parts.append(
            f"{info.name} peaked at {info.format(latency['peak'])}{growth} at "
            f"{_hm(latency['peak_at'])}"
        )
        refs += [metrics_ref, "05_metrics"]
    alerts = _lane(events, "monitors", "alert", "warn")
    if len(alerts):
        count = alerts["key"].str.split("@").str[0].nunique()
        parts.append(
            f"{count} monitor{'s' if count > 1 else ''} fired from {_hm(alerts['time'].iloc[0])}"
        )
        refs += [*_event_refs(events, events["id"] == alerts["id"].iloc[0]), "02_assess"]
    if not parts:
        return None
    text = "; ".join(parts)
    return Clause(text[0].upper() + text[1:] + ".", tuple(dict.fromkeys(refs)))


def _impact(impact: Impact | None, metrics_ref: str) -> Clause | None:
    if impact is None or not impact.total_requests > 0:
        return None
    return Clause(impact.summary(), (metrics_ref, "05_metrics"))


def _headword(summary: str) -> str:
    """A change event's label without its detail (``"rollback to v2.33 (api rev 43)"``)."""
    return summary.split(": ", 1)[0].rstrip(".")


def _taken(events: pd.DataFrame) -> pd.Series:
    """The ``actions`` lane events that record a change made (no dry run, refusal, effect)."""
    import pandas as pd

    taken = [
        source == "actions" and action_taken(str(kind), str(summary))
        for source, kind, summary in zip(
            events["source"], events["kind"], events["summary"], strict=True
        )
    ]
    return pd.Series(taken, index=events.index, dtype=bool)


def _actions(events: pd.DataFrame, incident: Incident) -> tuple[Clause, ...]:
    """What was done, in time order: rollbacks, actions, notes, automatic scaling, the response.

    The response times are the record's (a corrected time leaves the earlier status
    event on the append-only timeline; the record holds the right one).
    """
    import pandas as pd

    timed: list[tuple[pd.Timestamp, Clause]] = []
    done = events[
        ((events["source"] == "changes") & (events["kind"] == "rollback"))
        | _taken(events)
        | ((events["source"] == "actions") & (events["kind"] == EFFECT_KIND))
        | ((events["source"] == "people") & (events["kind"] == "note"))
    ]
    for row in done.to_dict("records"):
        what = row["summary"] if row["source"] != "changes" else _headword(row["summary"])
        by = f" ({row['author']})" if row["kind"] == "note" and row["author"] else ""
        timed.append(
            (
                row["time"],
                Clause(
                    f"{_hm(row['time'])}: {what.rstrip('.')}{by}.",
                    _event_refs(events, events["id"] == row["id"]) or ("timeline",),
                ),
            )
        )
    scaled = events[
        (events["source"] == "changes")
        & (events["kind"] == "scale")
        & events["summary"].str.contains("scaled up", regex=False)
    ]
    if len(scaled):
        last = scaled.iloc[-1]
        timed.append(
            (
                scaled["time"].iloc[0],
                Clause(
                    f"The autoscaler scaled up {len(scaled)} time{'s' if len(scaled) > 1 else ''}"
                    f" from {_hm(scaled['time'].iloc[0])}; last: {_headword(last['summary'])} "
                    f"at {_hm(last['time'])}.",
                    _event_refs(events, events["id"].isin(scaled["id"])),
                ),
            )
        )
    times = incident.times
    steps = [
        (kind, moment)
        for kind, moment in (
            ("detected", times.detected),
            ("acknowledged", times.acknowledged),
            ("mitigated", times.mitigated),
            ("resolved", times.resolved),
        )
        if moment is not None
    ]
    if steps:
        text = ", ".join(f"{kind} {_hm(moment)}" for kind, moment in steps)
        timed.append(
            (pd.Timestamp(steps[0][1]), Clause(f"Response: {text}.", ("timeline", "01_triage")))
        )
    timed.sort(key=lambda item: item[0])
    return tuple(clause for _, clause in timed)


def _verdict(
    verdict: RecoveryVerdict | None, incident: Incident, metrics_ref: str
) -> tuple[Clause, str, bool | None]:
    """The verdict clause, the state as the headline says it, and recovered (None: unknown)."""
    record = f" The record says {incident.status}."
    if verdict is None:
        return (
            Clause(f"Recovery unknown: {metrics_ref} could not be read.{record}", ("10_verify",)),
            "recovery unknown",
            None,
        )
    back = (
        f"errors back under the threshold since {_hm(verdict.recovery_began)}"
        if verdict.recovery_began is not None
        else ""
    )
    if verdict.resolved:
        applied = len(verdict.checks) - len(verdict.skipped)
        return (
            Clause(
                f"Recovered: {back + '; ' if back else ''}all {applied} recovery checks held for "
                f"{_ago(verdict.period.end - verdict.period.start)} up to {_hm(verdict.as_of)}."
                f"{record}",
                ("10_verify", metrics_ref),
            ),
            "recovered",
            True,
        )
    blocking = [*verdict.failing, *verdict.unknown]
    firing = f" (still firing: {', '.join(verdict.firing)})" if verdict.firing else ""
    if not verdict.failing and verdict.unknown:
        state, recovered = f"recovery unknown ({', '.join(verdict.unknown)})", None
    elif back:
        state, recovered = f"{back}, not verified: {', '.join(blocking)}{firing}", False
    else:
        state, recovered = "not recovered", False
    contradiction = (
        " The record says resolved, but the evidence does not confirm it: accept what still "
        "fails in 10_verify, or reopen the incident."
        if incident.status == "resolved"
        else record
    )
    lead = f"{back[0].upper()}{back[1:]}, but not verified" if back else "Not recovered"
    return (
        Clause(
            f"{lead} as of {_hm(verdict.as_of)}: {', '.join(blocking)}{firing}.{contradiction}",
            ("10_verify", metrics_ref),
        ),
        state,
        recovered,
    )


def _next_step(
    trigger: Mapping[Hashable, Any] | None,
    competing: bool,
    events: pd.DataFrame,
    recovered: bool | None,
    incident: Incident,
    unread: Sequence[str] = (),
) -> Clause:
    if recovered:
        return Clause(
            "Write the post-mortem: 11_postmortem (or incident postmortem WORKSPACE) drafts it "
            "from this evidence.",
            ("11_postmortem",),
        )
    if incident.status == "resolved":
        return Clause(
            "Check what still fails in 10_verify: accept it there (ignore_monitors) or reopen "
            "the incident; then write the post-mortem.",
            ("10_verify",),
        )
    if trigger is None and unread:
        return Clause(
            f"Get the missing evidence first: {', '.join(unread)} could not be read (the "
            "Sources box says why and how to fix it); then run the notebooks again live.",
            ("03_changes", "05_metrics"),
        )
    if trigger is None:
        return Clause(
            "No change lines up with the onset: look at traffic (05_metrics), resources "
            "(07_resources) and dependencies (08_dependencies).",
            ("05_metrics", "07_resources"),
        )
    undone = events[
        ((events["source"] == "changes") & (events["kind"] == "rollback")) | _taken(events)
    ]
    undone = undone[undone["time"] > trigger["time"]]
    if len(undone):
        last = str(undone["summary"].iloc[-1])
        if undone["source"].iloc[-1] == "actions":  # "<what> by <who>: applied; <detail>"
            last = last.split("; ", 1)[0].rsplit(": ", 1)[0]
        return Clause(
            f"{last.rstrip('.')} is in place: follow the recovery in "
            "10_verify; if errors persist, the trigger may be elsewhere.",
            ("10_verify",),
        )
    step = _MITIGATE.get(str(trigger["kind"]), _MITIGATE["deploy"]).format(label=trigger["label"])
    prefix = "The top-ranked hypothesis first: " if competing else ""
    return Clause(f"{prefix}{step[0].upper()}{step[1:]}.", ("03_changes", "09_mitigate"))


def _headline(
    trigger: Mapping[Hashable, Any] | None,
    symptoms: Clause | None,
    onsets: pd.DataFrame,
    state: str,
    unread: Sequence[str],
) -> str:
    """One line: trigger → errors; state. What could not be read is "unknown", never "none"."""
    changes_unread = [m for m in unread if m in _CHANGE_EVIDENCE]
    metrics_unread = [m for m in unread if m.endswith("/metrics")]
    parts = []
    if trigger is not None:
        parts.append(f"{trigger['label']} at {_hm(trigger['time'])}")
    elif changes_unread or metrics_unread:
        parts.append("Trigger unknown")
    else:
        parts.append("No change before the onset")
    errors = _onset_row(onsets, "error_ratio")
    if errors is not None and errors["moved"]:
        parts.append(f"5xx share up to {format_percent(errors['peak'])}")
    elif metrics_unread:
        parts.append("errors unknown")
    elif symptoms is None:
        parts.append("no sustained error rise found")
    lead = " → ".join(parts)
    return f"{lead}; {state}."


def diagnose(
    *,
    incident: Incident,
    events: pd.DataFrame,
    ranked: pd.DataFrame,
    onset: pd.Timestamp | datetime | None,
    onsets: pd.DataFrame,
    impact: Impact | None = None,
    verdict: RecoveryVerdict | None = None,
    unknown: Sequence[str] = (),
    metrics_evidence: str = "datadog/metrics",
) -> Diagnosis:
    """The story of an incident from its timeline and analyses.

    Parameters
    ----------
    incident
        The record (status, times).
    events
        The timeline (:func:`incident_lib.core.timeline.events_frame`): changes,
        Kubernetes warnings, monitor transitions, metric onsets and saturation,
        new log signatures, actions, status changes.
    ranked
        Changes ranked against the error onset
        (:func:`incident_lib.analysis.changes.rank_changes`).
    onset
        When the 5xx share left its baseline, or ``None``.
    onsets
        Every metric's onset (:func:`incident_lib.analysis.onset.onset_table`).
    impact
        Failed requests over the window
        (:func:`incident_lib.analysis.impact.estimate_impact`), or ``None``.
    verdict
        The recovery checks (:func:`incident_lib.analysis.recovery.check_recovery`),
        or ``None`` when the metrics could not be read.
    unknown
        Evidence that could not be read (``"source/name"``).
    metrics_evidence
        The metrics evidence the numbers come from.

    Returns
    -------
    Diagnosis
        The trigger (most likely first, with competing hypotheses when timing
        does not single one out), the mechanism, symptoms, impact, what was done,
        the verdict and the next step; every clause with its references.
    """
    import pandas as pd

    moment = None if onset is None or pd.isna(onset) else pd.Timestamp(onset).tz_convert("UTC")
    trigger, alternatives, tell_apart, top = _trigger(ranked, moment, events, "5xx share")
    start = top["time"] if top is not None else pd.Timestamp(incident.start)
    mechanism = _mechanism(events, start, moment)
    symptoms = _symptoms(onsets, moment, events, metrics_evidence)
    verdict_clause, state, recovered = _verdict(verdict, incident, metrics_evidence)
    missing = tuple(unknown)
    unread = [m for m in missing if m in _CHANGE_EVIDENCE]
    if trigger is None and unread:
        trigger = Clause(
            f"Trigger unknown: {', '.join(unread)} could not be read, so a change may be "
            "missing from the ranking.",
            ("03_changes",),
        )
    elif trigger is not None and unread:
        trigger = Clause(
            f"{trigger.text} Note: {', '.join(unread)} could not be read, so a change may be "
            "missing from this ranking.",
            trigger.refs,
        )
    return Diagnosis(
        headline=_headline(top, symptoms, onsets, state, missing),
        trigger=trigger,
        alternatives=alternatives,
        tell_apart=tell_apart,
        mechanism=mechanism,
        symptoms=symptoms,
        impact=_impact(impact, metrics_evidence),
        actions=_actions(events, incident),
        verdict=verdict_clause,
        next_step=_next_step(top, bool(alternatives), events, recovered, incident, missing),
        unknown=missing,
    )
