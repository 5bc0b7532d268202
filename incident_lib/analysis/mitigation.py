"""Mitigation: the actions the evidence points to, and whether an action helped.

:func:`propose_actions` turns the diagnosis into :class:`~incident_lib.core.actions.Action`
values, best first, each saying why:

* a likely (or possible) trigger that is a rollout of this service -> roll back to
  the revision before it (the highest lower revision of that workload, as
  ``kubectl rollout undo`` does): ``"deploy v2.34 (api rev 42) is the likely
  trigger ...; revision 41 ran v2.33"``; none when the trigger is no longer the live revision or no
  earlier one is known; the workload is a Deployment unless its pods are a
  StatefulSet's (``<name>-<ordinal>``);
* a ConfigMap change as trigger -> revert it to the content of its last ``kubectl
  apply``, only when the evidence holds that content (``k8s_config``'s ``applied_hash``
  differs from its ``data_hash``: the data changed since); otherwise its previous
  content is unknown here and nothing is proposed; a Secret is never proposed (its
  values are never read);
* a feature flag a Datadog event says was turned on (off) as trigger -> turn it off (on);
* a crash loop (``BackOff``, liveness kills, errors; :data:`CRASH_MIN` crashes or
  more) of a workload since its current revision was deployed -> roll back;
* OOM kills of a container (``k8s_terminations`` or the ``pods`` frame's last
  termination) -> raise its memory limit to :data:`MEMORY_FACTOR` x the current
  one, rounded up to a whole Mi (none when the ``pods`` frame does not give the
  current limit);
* an autoscaler at its maximum and saturated (a metric at or above its target, or
  ``ScalingLimited`` ``TooManyReplicas``) -> scale its target to what the metric
  asks for (``ceil(max x current / target)``, the autoscaler's own rule), at least
  max + 1 and at most :data:`MAX_SCALE_FACTOR` x max (max x 1.5 when no metric says).

Order: likely triggers (by score), then crash loops, OOM kills, saturated
autoscalers, then possible triggers. One action per kind and workload: a second
reason for the same action is added to its ``why``. Never an action on another
service or a dependency (``relations``, or the ranking's ``relation`` column).

:func:`action_effect` compares a metric before and after an action (medians over
two windows) and gives a verdict with the thresholds documented there.

Pure functions over contract frames: no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ..core.actions import Action
from ..core.errors import InvalidInput
from ..core.metrics import metric_info
from ..core.time import parse_time
from .metrics import series
from .terminations import CRASH_REASONS

if TYPE_CHECKING:
    import pandas as pd

    from .related import Relations

__all__ = [
    "CHANGE_SHARE",
    "CRASH_MIN",
    "MAX_SCALE_FACTOR",
    "MEMORY_FACTOR",
    "MIN_SAMPLES",
    "NOISE_FLOORS",
    "ActionEffect",
    "Verdict",
    "action_effect",
    "propose_actions",
]

#: a memory limit is raised to this multiple of the current one
MEMORY_FACTOR = 1.5
#: a workload crash-loops when it crashed at least this often since its deploy
CRASH_MIN = 3
#: a scale-up goes at most to this multiple of the autoscaler's maximum
MAX_SCALE_FACTOR = 2.0
#: a proposed trigger action needs at least this ranking score (a possible trigger)
_MIN_SCORE = 0.2
_LIKELY = 0.5
_MI = 2**20

_ROLLOUT_LABEL = re.compile(r"\((?P<workload>[^\s();]+) rev (?P<revision>\d+)[;)]")
_CONFIG_LABEL = re.compile(
    r"^(?P<kind>ConfigMap|Secret) (?P<name>[a-z0-9][a-z0-9.-]*) (?P<how>changed|created|updated)\b"
)
_FLAG_LABEL = re.compile(
    r"feature[ _-]?flag[\s:]+[`'\"]?(?P<flag>[A-Za-z0-9][\w.:-]*)[`'\"]?\s+"
    r"(?:was\s+)?(?P<state>turned on|turned off|enabled|disabled)\b",
    re.IGNORECASE,
)
_HPA_METRIC = re.compile(
    r"(?P<name>[^\s,]+) (?P<now>\d+(?:\.\d+)?)(?P<u1>%|m|k|Ki|Mi|Gi)?/"
    r"(?P<target>\d+(?:\.\d+)?)(?P<u2>%|m|k|Ki|Mi|Gi)?"
)


# -- proposing actions ---------------------------------------------------------------------
@dataclass
class _Proposal:
    """An action being assembled: its sort rank and every reason found for it."""

    rank: tuple[int, float]
    kind: Literal["rollback", "config_revert", "scale", "set_limit", "feature_flag"]
    workload: str
    params: dict[str, str]
    why: list[str]


def _text(value: object) -> str:
    return "" if value is None or value != value else str(value)


def _ours(name: str, relations: Relations | None, relation: str = "") -> bool:
    """Whether ``name`` is this service's (never another service's or a dependency's).

    With ``relations`` a name must be this service's; an empty one (the evidence
    does not say whose) and every name without ``relations`` go by the ranking's
    ``relation`` (``unknown`` counts as this service's, as in the ranking).
    """
    if relations is not None and name:
        return relations.relation(name) == "this"
    return relation in ("", "this", "unknown")


def _before_onset(lead: object) -> str:
    import pandas as pd

    if not isinstance(lead, timedelta):  # NaT (no onset) or absent
        return ""
    minutes = pd.Timedelta(lead) / pd.Timedelta(minutes=1)
    if minutes >= 1:
        return f", {minutes:.0f} min before the error onset"
    return ", at the error onset"


def _previous(rollouts: pd.DataFrame, workload: str, revision: int) -> tuple[int, str] | None:
    """The revision of ``workload`` before ``revision`` (the highest lower one) and its tag."""
    from .changes import image_tag

    rows = rollouts[rollouts["deployment"] == workload]
    earlier = rows[rows["revision"] < revision]
    if earlier.empty:
        return None
    row = earlier.sort_values("revision").iloc[-1]
    return int(row["revision"]), image_tag(_text(row["images"]))


def _is_live(rollouts: pd.DataFrame, workload: str, revision: int) -> bool:
    rows = rollouts[(rollouts["deployment"] == workload) & rollouts["current"].astype(bool)]
    return rows.empty or int(rows["revision"].max()) == revision


def _workload_kind(name: str, pods: pd.DataFrame | None) -> str:
    """``StatefulSet`` when ``name``'s pods are ``<name>-<ordinal>``, else ``Deployment``."""
    if pods is not None and not pods.empty:
        ordinal = re.compile(rf"^{re.escape(name)}-\d+$")
        if any(ordinal.match(_text(p)) for p in pods["pod"]):
            return "StatefulSet"
    return "Deployment"


def _rollback(
    workload: str,
    revision: int,
    rollouts: pd.DataFrame | None,
    pods: pd.DataFrame | None,
    reason: str,
    rank: tuple[int, float],
) -> _Proposal | None:
    """A rollback of ``workload`` away from ``revision``, or None (not live, nothing before)."""
    target = f"{_workload_kind(workload, pods)}/{workload}"
    if rollouts is None or rollouts.empty:
        why = f"{reason}; the rollouts were not captured: roll back to the previous revision"
        return _Proposal(rank, "rollback", target, {}, [why])
    if not _is_live(rollouts, workload, revision):
        return None  # already replaced: rolling back would undo the later revision instead
    previous = _previous(rollouts, workload, revision)
    if previous is None:
        return None
    number, tag = previous
    why = f"{reason}; revision {number} ran {tag}"
    return _Proposal(rank, "rollback", target, {"revision": str(number)}, [why])


def _revertible(config: pd.DataFrame | None, name: str) -> bool:
    """Whether the evidence holds ConfigMap ``name``'s previous content (see the module notes)."""
    if config is None or config.empty or "applied_hash" not in config:
        return False
    rows = config[(config["kind"] == "ConfigMap") & (config["name"] == name)]
    applied, live = rows["applied_hash"], rows["data_hash"]
    return bool((applied.notna() & (applied != live)).any())


def _trigger_proposals(
    ranked: pd.DataFrame,
    rollouts: pd.DataFrame | None,
    pods: pd.DataFrame | None,
    relations: Relations | None,
    config: pd.DataFrame | None,
) -> list[_Proposal]:
    import pandas as pd

    out: list[_Proposal] = []
    if ranked.empty or "candidate" not in ranked:
        return out
    top = ranked[ranked["candidate"].astype(bool) & (ranked["score"] >= _MIN_SCORE)]
    blank = pd.Series("", index=top.index)
    for kind, source, label, service, score, lead, relation in zip(
        top["kind"],
        top.get("source", blank),
        top["label"],
        top.get("service", blank),
        top["score"],
        top.get("lead", blank),
        top.get("relation", blank),
        strict=True,
    ):
        text, strength = _text(label), "likely" if score >= _LIKELY else "possible"
        rank = (0 if score >= _LIKELY else 4, -float(score))
        reason = f"{text} is the {strength} trigger{_before_onset(lead)}"
        if not _ours(_text(service), relations, _text(relation)):
            continue
        if kind == "deploy" and (found := _ROLLOUT_LABEL.search(text)):
            name, revision = found["workload"], int(found["revision"])
            if not _ours(name, relations, _text(relation)):
                continue
            proposal = _rollback(name, revision, rollouts, pods, reason, rank)
            if proposal is not None:
                out.append(proposal)
        elif kind == "config" and (found := _CONFIG_LABEL.match(text)):
            if found["kind"] != "ConfigMap" or found["how"] == "created":
                continue  # a Secret's values are never read; a new object has no previous
            if not _revertible(config, found["name"]):
                continue  # its previous content is unknown here
            why = (
                f"{reason}; its data differs from its last kubectl apply, whose content "
                "the revert restores"
            )
            out.append(_Proposal(rank, "config_revert", f"ConfigMap/{found['name']}", {}, [why]))
        elif (
            kind == "config" and _text(source) == "datadog" and (found := _FLAG_LABEL.search(text))
        ):
            was_on = found["state"].lower() in ("turned on", "enabled")
            state = "false" if was_on else "true"
            why = f"{reason}; turn it {'off' if was_on else 'on'} again"
            flag = f"FeatureFlag/{found['flag']}"
            out.append(_Proposal(rank, "feature_flag", flag, {"enabled": state}, [why]))
    return out


def _crash_proposals(
    rollouts: pd.DataFrame | None,
    terminations: pd.DataFrame | None,
    pods: pd.DataFrame | None,
    relations: Relations | None,
) -> list[_Proposal]:
    """Rollbacks of workloads crash-looping since their current revision was deployed."""
    import pandas as pd

    from .changes import image_tag

    if rollouts is None or rollouts.empty:
        return []
    out: list[_Proposal] = []
    live = rollouts[rollouts["current"].astype(bool)].sort_values("deployment")
    for name, revision, images, deployed_at in zip(
        live["deployment"], live["revision"], live["images"], live["deployed_at"], strict=True
    ):
        workload = _text(name)
        if pd.isna(deployed_at) or not _ours(workload, relations):
            continue
        rows = rollouts[rollouts["deployment"] == workload]
        if (rows[rows["revision"] < revision]["images"] == images).any():
            continue  # the live revision is itself a rollback
        crashes = 0
        reasons: dict[str, int] = {}
        if terminations is not None and not terminations.empty:
            hit = terminations[
                (terminations["workload"] == workload)
                & terminations["reason"].isin(CRASH_REASONS)
                & (terminations["finished_at"] >= deployed_at)
            ]
            for reason, n in hit["reason"].value_counts().items():
                reasons[str(reason)] = int(n)
            crashes += len(hit)
        if pods is not None and not pods.empty:
            own = pods["pod"].astype(str).str.match(rf"^{re.escape(workload)}-[a-z0-9]{{6,10}}-")
            hit = pods[
                own
                & (pods["restarts"] > 0)
                & (pods["last_termination_reason"] != "OOMKilled")
                & (pods["last_termination_at"] >= deployed_at)
            ]
            restarts = int(hit["restarts"].sum())
            if restarts:
                reasons["restarts"] = restarts
            crashes += restarts
        if crashes < CRASH_MIN:
            continue
        seen = ", ".join(f"{r} x{n}" for r, n in reasons.items())
        reason = (
            f"{workload} crash-looping since deploy {image_tag(_text(images))} "
            f"(rev {int(revision)}) at {deployed_at:%H:%M} UTC ({seen})"
        )
        proposal = _rollback(workload, int(revision), rollouts, pods, reason, (1, 0.0))
        if proposal is not None:
            out.append(proposal)
    return out


def _mebibytes(size: float) -> str:
    return f"{math.ceil(size / _MI - 1e-9)}Mi"


def _oom_proposals(
    terminations: pd.DataFrame | None, pods: pd.DataFrame | None, relations: Relations | None
) -> list[_Proposal]:
    """Raise the memory limit of each container OOM-killed, when its current limit is known."""
    import pandas as pd

    if pods is None or pods.empty:
        return []  # the current limit is only in the pods frame
    kills: dict[tuple[str, str], list[pd.Timestamp]] = {}
    if terminations is not None and not terminations.empty:
        ooms = terminations[terminations["reason"] == "OOMKilled"]
        for workload, container, at in zip(
            ooms["workload"], ooms["container"], ooms["finished_at"], strict=True
        ):
            if _text(workload) and _text(container):
                kills.setdefault((_text(workload), _text(container)), []).append(pd.Timestamp(at))
    ooms = pods[pods["last_termination_reason"] == "OOMKilled"]
    for pod, container, at in zip(
        ooms["pod"], ooms["container"], ooms["last_termination_at"], strict=True
    ):
        key = (_pod_workload(_text(pod)), _text(container))
        if key[0] and key[1] and key not in kills:
            kills[key] = [pd.Timestamp(at)]
    owners = pods["pod"].astype(str).map(_pod_workload)
    out: list[_Proposal] = []
    for (workload, container), times in sorted(kills.items()):
        if not _ours(workload, relations):
            continue
        own = pods[(owners == workload) & (pods["container"] == container)]
        limit = float(own["memory_limit"].max()) if len(own) else float("nan")
        if math.isnan(limit) or limit <= 0:
            continue
        new = _mebibytes(limit * MEMORY_FACTOR)
        known = [t for t in times if not pd.isna(t)]
        last = f", last {max(known):%H:%M} UTC" if known else ""
        n = len(times)
        why = (
            f"{workload} container {container} OOMKilled {'once' if n == 1 else f'{n} times'}"
            f"{last} at its {_mebibytes(limit)} memory limit: raise it "
            f"x{MEMORY_FACTOR:g} to {new}"
        )
        target = f"{_workload_kind(workload, pods)}/{workload}"
        params = {"container": container, "memory": new}
        out.append(_Proposal((2, -float(n)), "set_limit", target, params, [why]))
    return out


_DEPLOYMENT_POD = re.compile(r"^(?P<base>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_ORDINAL_POD = re.compile(r"^(?P<base>.+)-\d+$")


def _pod_workload(pod: str) -> str:
    """``api`` of ``api-7d9f8c6b5-x2x7q`` (a Deployment's pod) or ``db-0`` (a StatefulSet's)."""
    found = _DEPLOYMENT_POD.match(pod) or _ORDINAL_POD.match(pod)
    return found["base"] if found else ""


def _unit_value(number: str, unit: str | None) -> float:
    scale = {"m": 1e-3, "k": 1e3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return float(number) * scale.get(unit or "", 1.0)


def _saturation(metrics: str) -> tuple[float, str] | None:
    """The most saturated metric of an autoscaler (current / target >= 1) and its text."""
    worst: tuple[float, str] | None = None
    for found in _HPA_METRIC.finditer(metrics):
        now = _unit_value(found["now"], found["u1"])
        goal = _unit_value(found["target"], found["u2"])
        if goal > 0 and now >= goal and (worst is None or now / goal > worst[0]):
            worst = (now / goal, found.group(0))
    return worst


def _hpa_proposals(hpa: pd.DataFrame | None, relations: Relations | None) -> list[_Proposal]:
    """Scale the target of each saturated autoscaler at its maximum."""
    if hpa is None or hpa.empty:
        return []
    out: list[_Proposal] = []
    for name in sorted({_text(n) for n in hpa["hpa"] if _text(n)}):
        rows = hpa[hpa["hpa"] == name]
        first = rows.iloc[0]
        target, maximum = _text(first["target"]), int(first["max_replicas"])
        kind, _, workload = target.partition("/")
        if maximum <= 0 or kind not in ("Deployment", "StatefulSet") or not workload:
            continue
        if not _ours(workload, relations):
            continue
        limited = not rows[
            (rows["condition"] == "ScalingLimited")
            & (rows["status"] == "True")
            & (rows["reason"] == "TooManyReplicas")
        ].empty
        worst = _saturation(_text(first["metrics"]))
        at_max = int(first["current_replicas"]) >= maximum or limited
        if not at_max or (worst is None and not limited):
            continue
        if worst is not None:
            wanted = math.ceil(maximum * worst[0] - 1e-9)
            said = f"{worst[1]} asks for {wanted}"
        else:
            wanted = math.ceil(maximum * 1.5)
            said = "ScalingLimited TooManyReplicas: it wants more than its maximum"
        replicas = max(maximum + 1, min(wanted, math.floor(maximum * MAX_SCALE_FACTOR)))
        why = (
            f"HPA {name} is at its maximum ({maximum} replicas) and saturated ({said}); "
            f"scaling to {replicas} lasts only until the autoscaler's next sync unless its "
            f"maxReplicas is raised too: kubectl patch hpa {name} -p "
            f'\'{{"spec":{{"maxReplicas":{replicas}}}}}\''
        )
        out.append(
            _Proposal(
                (3, -worst[0] if worst else 0.0),
                "scale",
                target,
                {"replicas": str(replicas)},
                [why],
            )
        )
    return out


def propose_actions(
    ranked: pd.DataFrame,
    *,
    rollouts: pd.DataFrame | None = None,
    hpa: pd.DataFrame | None = None,
    terminations: pd.DataFrame | None = None,
    pods: pd.DataFrame | None = None,
    config: pd.DataFrame | None = None,
    relations: Relations | None = None,
    namespace: str = "",
) -> list[Action]:
    """The actions the evidence points to, best first, each with why (see the module notes).

    Parameters
    ----------
    ranked
        The changes ranked against the onset
        (:func:`~incident_lib.analysis.changes.rank_changes`); may be empty.
    rollouts
        ``rollouts`` contract frame: the revision to roll back to and its image.
    hpa
        ``hpa`` contract frame: autoscalers at their maximum.
    terminations
        ``k8s_terminations`` contract frame: OOM kills and crash loops.
    pods
        ``pods`` contract frame: current memory limits, restarts, OOM kills.
    config
        ``k8s_config`` contract frame: whether a changed ConfigMap's previous
        content is known (without it no revert is proposed).
    relations
        Which names are this service (:func:`~incident_lib.analysis.related.service_relations`):
        nothing is proposed for another service or a dependency. Without it the
        ranking's ``relation`` column decides for triggers.
    namespace
        The namespace the actions act in.

    Returns
    -------
    list of Action
        Likely triggers' remedies first, then rollbacks of crash loops, memory
        limits of OOM-killed containers, scale-ups of saturated autoscalers, and
        possible triggers' remedies; one action per kind and workload.
    """
    proposals = [
        *_trigger_proposals(ranked, rollouts, pods, relations, config),
        *_crash_proposals(rollouts, terminations, pods, relations),
        *_oom_proposals(terminations, pods, relations),
        *_hpa_proposals(hpa, relations),
    ]
    merged: dict[tuple[str, str], _Proposal] = {}
    for proposal in sorted(proposals, key=lambda p: p.rank):
        key = (proposal.kind, proposal.workload)
        if key not in merged:
            merged[key] = proposal
        else:
            merged[key].why.extend(w for w in proposal.why if w not in merged[key].why)
    return [
        Action(
            kind=p.kind,
            workload=p.workload,
            namespace=namespace if p.kind != "feature_flag" else "",
            params=p.params,
            why="; also ".join(p.why),
        )
        for p in merged.values()
    ]


# -- whether an action helped --------------------------------------------------------------
#: the verdict on an action: the metric moved the good way, did not move, moved the bad
#: way, the ``after`` period has not passed yet, or too little data to say
Verdict = Literal["helped", "no change", "worse", "too early", "unknown"]
#: a change counts when it is at least this share of the value before ...
CHANGE_SHARE = 0.25
#: ... and at least this much in the metric's own unit (percentage points, errors/s, ms):
#: 0.02 % -> 0.01 % of 5xx is a halving but no news
NOISE_FLOORS: dict[str, float] = {"error_ratio": 0.1, "error_rate": 0.05, "latency_p95": 10.0}
#: fewer samples than this in either period and the verdict is ``unknown``
MIN_SAMPLES = 3


@dataclass(frozen=True, slots=True)
class ActionEffect:
    """A metric before and after an action, and the verdict (see :func:`action_effect`).

    Attributes
    ----------
    metric
        The metric key (``error_ratio``).
    at
        When the action was taken.
    before, after
        Medians over the period before and the period after (``None``: no sample).
    change
        ``after / before - 1`` (``-0.9``: down 90 %); ``None`` when not computable.
    verdict
        ``helped``, ``no change``, ``worse``, ``too early`` or ``unknown``.
    before_samples, after_samples
        How many samples each median rests on.
    until
        The end of the period after (``at`` + its length): when the verdict is final.
    """

    metric: str
    at: datetime
    before: float | None
    after: float | None
    change: float | None
    verdict: Verdict
    before_samples: int = 0
    after_samples: int = 0
    until: datetime | None = None

    @property
    def final(self) -> bool:
        """Whether the verdict is one of the measured ones: helped, no change or worse."""
        return self.verdict in ("helped", "no change", "worse")

    @property
    def before_text(self) -> str:
        """The value before, for :class:`~incident_lib.core.actions.ActionResult` (``""``: none)."""
        return self._text(self.before)

    @property
    def after_text(self) -> str:
        """The value after, for :class:`~incident_lib.core.actions.ActionResult` (``""``: none)."""
        return self._text(self.after)

    def _text(self, value: float | None) -> str:
        info = metric_info(self.metric)
        return "" if value is None else f"{info.name} {info.format(value)}"

    def describe(self) -> str:
        """``"5xx share of requests 11.80 % -> 0.40 % (-97%): helped"``."""
        info = metric_info(self.metric)
        change = f" ({self.change:+.0%})" if self.change is not None else ""
        return (
            f"{info.name} {info.format(self.before)} -> {info.format(self.after)}"
            f"{change}: {self.verdict}"
        )


def _period(value: str | timedelta, name: str) -> pd.Timedelta:
    import pandas as pd

    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: {value!r} is not a duration; write it like '10min'") from None
    if pd.isna(delta) or delta <= pd.Timedelta(0):
        raise InvalidInput(f"{name} must be a positive duration, got {value!r}")
    return delta


def action_effect(
    metrics: pd.DataFrame,
    *,
    at: datetime | str,
    before: str | timedelta = "10min",
    after: str | timedelta = "10min",
    metric: str = "error_ratio",
    now: datetime | str | None = None,
) -> ActionEffect:
    """Whether an action helped: ``metric``'s median before it against after it.

    The periods are ``[at - before, at)`` and ``[at, at + after)``; the medians
    resist the odd spike and the few samples of the rollout itself. The verdict:

    * ``too early``: ``now`` (default: the last sample of the metric) is before
      ``at + after``: the medians are of what there is so far;
    * ``unknown``: fewer than :data:`MIN_SAMPLES` samples in either period;
    * otherwise the change ``after - before`` counts when it is at least
      :data:`CHANGE_SHARE` (25 %) of the value before and at least the metric's
      :data:`NOISE_FLOORS` entry (0.1 percentage point of 5xx share, 0.05
      errors/s, 10 ms of p95 latency; 0 for other metrics): ``helped`` when it
      went the good way, ``worse`` the bad way, else ``no change``. The good way
      is down for a metric whose rise is bad (:mod:`incident_lib.core.metrics`;
      also for one bad both ways, or unknown), up for one whose drop is bad.

    Parameters
    ----------
    metrics
        ``metrics`` contract frame (``error_ratio`` is derived from
        ``error_rate`` and ``request_rate``, :func:`~incident_lib.analysis.metrics.series`).
    at
        When the action was applied (aware).
    before, after
        The lengths of the two periods (``"10min"``).
    metric
        The metric key.
    now
        When the verdict is given (aware); default the metric's last sample.

    Returns
    -------
    ActionEffect

    Raises
    ------
    InvalidInput
        A time without a timezone, or a period that is not a positive duration.
    """
    import pandas as pd

    moment = pd.Timestamp(parse_time(at, field="action time"))
    lead, lag = _period(before, "before"), _period(after, "after")
    values = series(metrics, metric).dropna()
    if now is not None:
        until = pd.Timestamp(parse_time(now, field="now"))
    elif len(values):
        until = pd.Timestamp(values.index.max())
    else:
        until = None
    earlier = values[(values.index >= moment - lead) & (values.index < moment)]
    later = values[(values.index >= moment) & (values.index < moment + lag)]
    first = float(earlier.median()) if len(earlier) else None
    second = float(later.median()) if len(later) else None
    change = second / first - 1 if first and second is not None else None
    verdict: Verdict
    if until is not None and until < moment + lag:
        verdict = "too early"
    elif first is None or second is None or min(len(earlier), len(later)) < MIN_SAMPLES:
        verdict = "unknown"
    else:
        delta = second - first
        better = delta > 0 if metric_info(metric).bad == "down" else delta < 0
        needed = max(CHANGE_SHARE * abs(first), NOISE_FLOORS.get(metric, 0.0))
        if abs(delta) < needed or delta == 0:
            verdict = "no change"
        else:
            verdict = "helped" if better else "worse"
    return ActionEffect(
        metric=metric,
        at=moment.to_pydatetime(),
        before=first,
        after=second,
        change=change,
        verdict=verdict,
        before_samples=len(earlier),
        after_samples=len(later),
        until=(moment + lag).to_pydatetime(),
    )
