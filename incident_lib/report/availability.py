"""Which evidence a run could read, and which sources did not answer (with the fix).

Every ``rb.evidence(...)`` call of a notebook is logged by an
:class:`AvailabilityLog` in ``availability/<notebook>.json`` of the run folder
(parallel notebooks never share a file). The runner merges them with
:func:`collect_availability`: each source that did not answer is listed *once*,
with its reason, the fix, the frames and the notebooks it left without evidence,
in ``run.json``, the terminal summary and the index's "sources" box. An
unavailable source is a fact about the run, not a finding about the incident.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..infra.files import atomic_write_text
from ..infra.redact import redact

__all__ = [
    "SOURCE_SETUP",
    "Availability",
    "AvailabilityLog",
    "EvidenceRead",
    "SourceProblem",
    "collect_availability",
    "fix_for",
]

#: how each source is configured (environment only; never notebook parameters)
SOURCE_SETUP: dict[str, str] = {
    "kubernetes": "set KUBECONFIG to a kubeconfig that can read the namespace "
    "(INCIDENT_KUBE_CONTEXT picks its context), or run inside the cluster",
    "datadog": "export DD_API_KEY and DD_APP_KEY (and DD_SITE when the account is not on "
    "datadoghq.com; INCIDENT_DD_ENV for the env tag)",
    "prometheus": "export PROMETHEUS_URL (and PROMETHEUS_TOKEN when it needs a bearer token), "
    "or use -p metrics_source=datadog",
    "git": "pass -p repo=PATH (a clone of the service's repository) or set INCIDENT_GIT_REPO",
    "postgres": "export INCIDENT_PG_DSN (a libpq connection string or URI; "
    "INCIDENT_PG_DSN_<NAME> for more databases) or libpq's PG* variables, for a role that "
    "can read pg_stat_activity (pg_monitor)",
}


def fix_for(source: str, mode: str, workspace: str = "WORKSPACE") -> str:
    """What to do so that ``source`` answers next time.

    Offline, the fix is a live capture (``incident run WORKSPACE --mode live``)
    with the source configured; live, the source's configuration.

    Examples
    --------
    >>> fix_for("git", "live")
    "pass -p repo=PATH (a clone of the service's repository) or set INCIDENT_GIT_REPO"
    """
    setup = SOURCE_SETUP.get(source, f"configure the {source} source")
    if mode == "offline":
        return f"capture it with `incident run {workspace} --mode live` ({setup})"
    return setup


@dataclass(frozen=True, slots=True)
class EvidenceRead:
    """One ``rb.evidence`` call of a notebook and how it went.

    Attributes
    ----------
    evidence
        ``source/name``, e.g. ``kubernetes/logs``.
    ok
        The source answered (live) or the capture was read (offline).
    reason
        Why not (redacted); empty when ``ok``.
    fix
        What to do about it; empty when ``ok``.
    fallback
        When the source was down but an earlier capture was shown: its time.
    """

    evidence: str
    ok: bool
    reason: str = ""
    fix: str = ""
    fallback: str = ""

    @property
    def source(self) -> str:
        """The source's name: ``kubernetes`` for ``kubernetes/logs``."""
        return self.evidence.split("/", 1)[0]


class AvailabilityLog:
    """The evidence reads of one notebook run, kept in ``availability/<notebook>.json``.

    Parameters
    ----------
    notebook
        The notebook's name, e.g. ``"02_assess"``.
    run_dir
        The run folder; when empty (interactive use) the reads are only kept in memory.
    """

    def __init__(self, notebook: str, run_dir: str | os.PathLike[str] | None = None) -> None:
        self.notebook = notebook
        self.path = Path(run_dir) / "availability" / f"{notebook}.json" if run_dir else None
        self.items: list[EvidenceRead] = []
        if self.path is not None:
            atomic_write_text(self.path, "[]")  # a re-run starts from a clean slate

    def add(self, read: EvidenceRead) -> EvidenceRead:
        """Log ``read`` (its texts redacted), persist the log and return what was logged."""
        logged = EvidenceRead(
            evidence=read.evidence,
            ok=read.ok,
            reason=redact(read.reason),
            fix=redact(read.fix),
            fallback=read.fallback,
        )
        self.items.append(logged)
        if self.path is not None:
            atomic_write_text(self.path, json.dumps([asdict(r) for r in self.items], indent=2))
        return logged


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A source that did not answer during a run, once, whatever number of frames it had.

    Attributes
    ----------
    source
        The source's name.
    reason
        Why (as the source said it, redacted).
    fix
        What to do about it.
    evidence
        The frames left without fresh evidence (``kubernetes/logs``, ...).
    notebooks
        The notebooks that asked for them.
    fallback
        True when earlier captures were shown instead (the sections are not empty).
    """

    source: str
    reason: str
    fix: str
    evidence: tuple[str, ...]
    notebooks: tuple[str, ...]
    fallback: bool = False

    def line(self) -> str:
        """One line for the terminal: ``kubernetes: why; fix: what (frames: logs, pods)``."""
        frames = ", ".join(e.split("/", 1)[1] for e in self.evidence)
        shown = "; earlier captures shown instead" if self.fallback else ""
        return f"{self.source}: {self.reason}{shown} (frames: {frames})\n    fix: {self.fix}"

    def as_dict(self) -> dict[str, object]:
        """The problem as plain data for ``run.json``."""
        return {
            "source": self.source,
            "reason": self.reason,
            "fix": self.fix,
            "evidence": list(self.evidence),
            "notebooks": list(self.notebooks),
            "fallback": self.fallback,
        }


@dataclass(frozen=True, slots=True)
class Availability:
    """What a run could read: the sources that answered and those that did not."""

    #: every ``source`` asked by some notebook
    asked: frozenset[str]
    #: sources that answered at least one read
    answered: frozenset[str]
    #: one entry per source (and distinct reason) that did not answer
    problems: tuple[SourceProblem, ...]

    @classmethod
    def empty(cls) -> Availability:
        """Nothing asked, nothing answered."""
        return cls(frozenset(), frozenset(), ())

    def failed(self, required: Iterable[str]) -> dict[str, str]:
        """Of ``required`` sources (or ``source/name`` frames), those that did not answer.

        Returns
        -------
        dict of str to str
            Name -> why: the problem's reason, or "not asked by any notebook".
        """
        out: dict[str, str] = {}
        for name in required:
            source = name.split("/", 1)[0]
            hits = [
                p
                for p in self.problems
                if p.source == source and ("/" not in name or name in p.evidence)
            ]
            if hits:
                out[name] = "; ".join(p.reason for p in hits)
            elif source not in self.asked:
                out[name] = "not asked by any notebook run"
        return out

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``run.json``."""
        return {
            "answered": sorted(self.answered),
            "unavailable": [p.as_dict() for p in self.problems],
        }


def collect_availability(run_dir: str | os.PathLike[str]) -> Availability:
    """Merge every ``availability/<notebook>.json`` of ``run_dir``.

    Reads that failed are grouped by source and reason: seventeen frames of three
    unconfigured sources become three problems.
    """
    folder = Path(run_dir) / "availability"
    asked: set[str] = set()
    answered: set[str] = set()
    groups: dict[tuple[str, str, bool], tuple[str, list[str], list[str]]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        for item in json.loads(path.read_text() or "[]"):
            read = EvidenceRead(**item)
            asked.add(read.source)
            if read.ok:
                answered.add(read.source)
                continue
            key = (read.source, read.reason, bool(read.fallback))
            _, frames, notebooks = groups.setdefault(key, (read.fix, [], []))
            if read.evidence not in frames:
                frames.append(read.evidence)
            if path.stem not in notebooks:
                notebooks.append(path.stem)
    problems = tuple(
        SourceProblem(
            source=source,
            reason=reason,
            fix=fix,
            evidence=tuple(sorted(frames)),
            notebooks=tuple(sorted(notebooks)),
            fallback=fallback,
        )
        for (source, reason, fallback), (fix, frames, notebooks) in sorted(groups.items())
    )
    return Availability(frozenset(asked), frozenset(answered), problems)
