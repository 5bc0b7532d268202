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

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Clause", "Diagnosis"]


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
