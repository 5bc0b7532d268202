"""Findings: what a notebook concluded, as values every layer can produce.

Analysis functions return :class:`Finding` objects; collecting them per notebook,
grouping them by fact, writing ``findings.json`` and rendering them belong to
:mod:`incident_lib.report.findings`.

Each finding may name the *fact* it states (``fact``: findings of several
notebooks with the same fact state one thing, e.g. ``"errors"`` for the 5xx
share peak, the error onset and the failed requests) and the *role* that fact
plays in the incident's story (``role``: the trigger, the mechanism in between,
the symptoms, the impact, the response, or context). The index lists one entry
per fact, causes first.

Fact keys in use (a key is plain text; findings without one stand alone):

* ``change:<subject>``: a change; a rollout's subject is ``"<deployment> rev
  <revision>"`` (the timeline's event key, :func:`change_fact`), another change's
  its label;
* ``logs:change:<subject>``: the new log signatures that followed that change;
  ``logs:window``: new or grown signatures without a change before them;
* ``errors``, ``latency``: the 5xx share / error rate and the latency;
* a metric key (``db_connections``, ``request_rate``, ``cpu``, ``memory``) for a
  metric that moved; ``cpu`` and ``memory`` also for containers at that limit
  (and ``memory`` for OOMKills);
* ``monitors``, ``restarts``, ``probes``, ``warning:<reason>``, ``recovery``,
  ``severity``, ``roles``, ``response-deadline``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from .errors import InvalidInput

__all__ = [
    "ROLE_ORDER",
    "SEVERITY_ORDER",
    "Finding",
    "Level",
    "Role",
    "change_fact",
]

Level = Literal["critical", "high", "medium", "low", "info"]
SEVERITY_ORDER: tuple[Level, ...] = ("critical", "high", "medium", "low", "info")

#: what a fact is to the incident, most causal first
Role = Literal["trigger", "mechanism", "symptom", "impact", "response", "context"]
ROLE_ORDER: tuple[Role, ...] = get_args(Role)

#: a rollout's label in the changes timeline ends with ``(<deployment> rev <revision>)``
_ROLLOUT = re.compile(r"\((?P<deployment>[^()\s]+) rev (?P<revision>\d+)\)\s*$")


def change_fact(label: str, *, deployment: str = "", revision: object = None) -> str:
    """The fact key of a change: ``change:<deployment> rev <revision>`` for a rollout.

    A rollout is named by its deployment and revision, given or read from a
    changes-timeline label (``"deploy v2.34 (api rev 42)"``), so that every
    notebook that reports it (02_assess's change in the window, 03_changes'
    trigger) uses the same key, also the timeline's event key. Any other change
    is keyed by its label.

    Parameters
    ----------
    label
        The change's label.
    deployment, revision
        The rollout's deployment and revision when known.

    Returns
    -------
    str
        ``"change:api rev 42"``, or ``"change:<label>"``.
    """
    if deployment and revision is not None and str(revision).strip():
        try:
            number = int(float(str(revision)))
        except (ValueError, OverflowError):
            number = None
        if number is not None:
            return f"change:{deployment} rev {number}"
    found = _ROLLOUT.search(label)
    if found:
        return f"change:{found['deployment']} rev {int(found['revision'])}"
    return f"change:{' '.join(label.split())}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One conclusion drawn by a notebook.

    Parameters
    ----------
    title
        One line, e.g. ``"New error signature after deploy v2.34"``.
    severity
        ``critical``, ``high``, ``medium``, ``low`` or ``info``.
    summary
        A sentence or two with the numbers that support it.
    ref
        Where to look: a chart file (``charts/02_assess-error-rate.png``) or a
        section of the notebook.
    notebook
        The notebook that recorded it (filled in when it is recorded).
    fact
        The fact it states (see the module docstring): findings with the same
        non-empty fact are one entry of the index. Empty: a fact of its own.
    role
        What that fact is to the incident: one of :data:`ROLE_ORDER`
        (``trigger``, ``mechanism``, ``symptom``, ``impact``, ``response``,
        ``context``).
    """

    title: str
    severity: Level
    summary: str
    ref: str = ""
    notebook: str = ""
    fact: str = ""
    role: Role = "symptom"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_ORDER:
            raise InvalidInput(
                f"finding severity {self.severity!r} is not one of {', '.join(SEVERITY_ORDER)}"
            )
        if self.role not in ROLE_ORDER:
            raise InvalidInput(f"finding role {self.role!r} is not one of {', '.join(ROLE_ORDER)}")
        if not isinstance(self.fact, str):
            raise InvalidInput(f"finding fact must be text, got {type(self.fact).__name__}")
        if not self.title.strip():
            raise InvalidInput("a finding needs a title")

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for info."""
        return SEVERITY_ORDER.index(self.severity)

    @property
    def role_rank(self) -> int:
        """0 for a trigger ... 5 for context."""
        return ROLE_ORDER.index(self.role)

    def __str__(self) -> str:
        return f"[{self.severity.upper()}] {self.title}: {self.summary}"
