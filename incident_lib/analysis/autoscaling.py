"""Autoscalers: when a HorizontalPodAutoscaler sat at its maximum, and what limited it.

An HPA at its maximum can add no capacity: whatever load comes next queues,
throttles or fails. The spans at max are rebuilt from what the capture holds:

* the ``k8s_events`` frame's ``SuccessfulRescale`` events of the autoscaler
  (``"New size: 10; reason: cpu resource utilization ... above target"``): each
  gives the replica count from that moment (an aggregated event at its first and
  its last time);
* the ``hpa`` frame (:mod:`incident_lib.core.schema`): the ``ScalingLimited``
  condition ``True`` with reason ``TooManyReplicas`` says it is held at the maximum
  since its last transition, and ``current_replicas`` is the count at ``captured_at``.

The points are taken in time order; a span at max starts at the first point at
or above ``max_replicas`` and ends at the next point below it, or is still open
at the capture (``end`` is ``None``). What limited it is the ``ScalingLimited``
condition's reason and message when it is ``True``.

Pure functions over contract frames: no I/O, no plotting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.findings import Finding
from ..core.text import md_code, shorten
from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AtMaxSpan",
    "at_max_spans",
    "autoscaler_findings",
    "autoscaler_line",
    "autoscaler_table",
    "limited_by",
    "replica_history",
]

_NEW_SIZE = re.compile(r"New size: (\d+)", re.IGNORECASE)
_KIND = "HorizontalPodAutoscaler/"
_TITLE_WIDTH = 120


@dataclass(frozen=True, slots=True)
class AtMaxSpan:
    """One stretch of time an autoscaler spent at its maximum replica count.

    Attributes
    ----------
    hpa
        The autoscaler's name.
    max_replicas
        Its maximum (``maxReplicas``).
    start
        When it reached the maximum (as far as the evidence goes back).
    end
        When it went below it again; ``None``: still at max at the capture.
    captured_at
        When the ``hpa`` frame was captured.
    limited_by
        What held it there (``ScalingLimited`` reason: message), or ``""``.
    """

    hpa: str
    max_replicas: int
    start: pd.Timestamp
    end: pd.Timestamp | None
    captured_at: pd.Timestamp
    limited_by: str = ""

    @property
    def ongoing(self) -> bool:
        """Whether it was still at max when captured."""
        return self.end is None

    def overlaps(self, window: Window) -> bool:
        """Whether the span touches ``window`` (an open span reaches the capture time)."""
        import pandas as pd

        until = self.end if self.end is not None else self.captured_at
        return bool(self.start < pd.Timestamp(window.end) and until >= pd.Timestamp(window.start))

    def describe(self) -> str:
        """``"at max replicas (10) from 17:07 to 17:24 UTC"`` or ``"... since 17:07 UTC ..."``."""
        if self.end is None:
            return (
                f"at max replicas ({self.max_replicas}) since {self.start:%H:%M} UTC, still "
                f"at max when captured at {self.captured_at:%H:%M} UTC"
            )
        return (
            f"at max replicas ({self.max_replicas}) from {self.start:%H:%M} to {self.end:%H:%M} UTC"
        )


def _conditions(hpa: pd.DataFrame, name: str) -> pd.DataFrame:
    return hpa[hpa["hpa"] == name]


def limited_by(hpa: pd.DataFrame, name: str) -> str:
    """What limits autoscaler ``name`` now: ``"TooManyReplicas: <message>"``, or ``""``.

    From its ``ScalingLimited`` condition when that is ``True`` (``TooManyReplicas``:
    held at the maximum; ``TooFewReplicas``: at the minimum).
    """
    rows = _conditions(hpa, name)
    limited = rows[(rows["condition"] == "ScalingLimited") & (rows["status"] == "True")]
    if limited.empty:
        return ""
    row = limited.iloc[0]
    reason = str(row["reason"]) if isinstance(row["reason"], str) else ""
    message = str(row["message"]) if isinstance(row["message"], str) else ""
    return ": ".join(part for part in (reason, message) if part)


def replica_history(hpa: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The known replica counts of every autoscaler in ``hpa``, in time order.

    Parameters
    ----------
    hpa
        ``hpa`` contract frame.
    events
        ``k8s_events`` contract frame (its ``SuccessfulRescale`` events).

    Returns
    -------
    pandas.DataFrame
        Columns ``hpa``, ``time``, ``replicas`` and ``source`` (``event``,
        ``condition`` for ScalingLimited TooManyReplicas, ``capture``).
    """
    import pandas as pd

    rows: list[tuple[str, pd.Timestamp, int, str]] = []
    names = set(hpa["hpa"].dropna().astype(str))
    rescales = events[(events["reason"] == "SuccessfulRescale")]
    for ev in rescales.to_dict("records"):
        obj = str(ev["object"] or "")
        size = _NEW_SIZE.search(str(ev["message"] or ""))
        if not obj.startswith(_KIND) or size is None or obj[len(_KIND) :] not in names:
            continue
        name, replicas = obj[len(_KIND) :], int(size.group(1))
        rows.append((name, pd.Timestamp(ev["first_seen"]), replicas, "event"))
        if int(ev["count"]) > 1 and ev["last_seen"] > ev["first_seen"]:
            rows.append((name, pd.Timestamp(ev["last_seen"]), replicas, "event"))
    for name in sorted(names):
        cond = _conditions(hpa, name)
        first = cond.iloc[0]
        maximum = int(first["max_replicas"])
        held = cond[
            (cond["condition"] == "ScalingLimited")
            & (cond["status"] == "True")
            & (cond["reason"] == "TooManyReplicas")
        ]
        for at in held["transitioned_at"].dropna():
            rows.append((name, pd.Timestamp(at), maximum, "condition"))
        if not pd.isna(first["captured_at"]):
            rows.append(
                (
                    name,
                    pd.Timestamp(first["captured_at"]),
                    int(first["current_replicas"]),
                    "capture",
                )
            )
    frame = pd.DataFrame(rows, columns=["hpa", "time", "replicas", "source"])
    order = {"event": 0, "condition": 1, "capture": 2}
    frame["_order"] = frame["source"].map(order)
    frame = frame.sort_values(["hpa", "time", "_order"], kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


def at_max_spans(hpa: pd.DataFrame, events: pd.DataFrame) -> list[AtMaxSpan]:
    """Every stretch an autoscaler of ``hpa`` spent at its maximum (see the module notes).

    Parameters
    ----------
    hpa
        ``hpa`` contract frame (no autoscaler: no span).
    events
        ``k8s_events`` contract frame of the window.

    Returns
    -------
    list of AtMaxSpan
        By autoscaler name, then start.
    """
    import pandas as pd

    history = replica_history(hpa, events)
    spans: list[AtMaxSpan] = []
    for name, points in history.groupby("hpa", sort=True):
        rows = _conditions(hpa, str(name))
        maximum = int(rows["max_replicas"].iloc[0])
        captured = pd.Timestamp(rows["captured_at"].iloc[0])
        if maximum <= 0:
            continue
        why = limited_by(hpa, str(name))
        start: pd.Timestamp | None = None
        for time, replicas in zip(points["time"], points["replicas"], strict=True):
            at_max = int(replicas) >= maximum
            if at_max and start is None:
                start = pd.Timestamp(time)
            elif not at_max and start is not None:
                spans.append(AtMaxSpan(str(name), maximum, start, pd.Timestamp(time), captured))
                start = None
        if start is not None:
            reason = why if why.startswith("TooManyReplicas") else ""
            spans.append(AtMaxSpan(str(name), maximum, start, None, captured, reason))
    return spans


def autoscaler_line(hpa: pd.DataFrame, events: pd.DataFrame) -> str:
    """One Markdown line per autoscaler for the one-page view (empty without one).

    E.g. ``"HPA `checkout`: at max replicas (10) since 17:07 UTC, ... (TooManyReplicas)"``
    or ``"HPA `api`: 4 replicas (4–12), cpu 45%/70%"``.
    """
    lines = []
    spans = at_max_spans(hpa, events)
    for name in sorted(set(hpa["hpa"].dropna().astype(str))):
        row = _conditions(hpa, name).iloc[0]
        own = [s for s in spans if s.hpa == name]
        label = f"HPA {md_code(name)}"
        if own:
            last = own[-1]
            why = limited_by(hpa, name).split(":", 1)[0] if last.ongoing else ""
            lines.append(f"{label}: {last.describe()}" + (f" ({why})" if why else ""))
            continue
        metrics = f", {md_code(str(row['metrics']))}" if row["metrics"] else ""
        lines.append(
            f"{label}: {int(row['current_replicas'])} replicas "
            f"({int(row['min_replicas'])}–{int(row['max_replicas'])}), "
            f"never at max in the evidence{metrics}"
        )
    return "; ".join(lines)


def autoscaler_table(hpa: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per autoscaler: its replicas, metrics, when it was at max and what limits it.

    Columns ``hpa``, ``target``, ``replicas`` (``"10 (4–10)"``: current, then min–max),
    ``desired``, ``metrics`` (current/target), ``at max`` (the spans, or ``"never"``)
    and ``limited by`` (the ``ScalingLimited`` reason when it is ``True``).
    """
    import pandas as pd

    spans = at_max_spans(hpa, events)
    rows = []
    for name in sorted(set(hpa["hpa"].dropna().astype(str))):
        row = _conditions(hpa, name).iloc[0]
        own = [
            s.describe().removeprefix(f"at max replicas ({s.max_replicas}) ")
            for s in spans
            if s.hpa == name
        ]
        rows.append(
            {
                "hpa": name,
                "target": row["target"],
                "replicas": f"{int(row['current_replicas'])} "
                f"({int(row['min_replicas'])}–{int(row['max_replicas'])})",
                "desired": int(row["desired_replicas"]),
                "metrics": row["metrics"],
                "at max": "; ".join(own) or "never",
                "limited by": limited_by(hpa, name).split(":", 1)[0],
            }
        )
    columns = ["hpa", "target", "replicas", "desired", "metrics", "at max", "limited by"]
    return pd.DataFrame(rows, columns=columns)


def autoscaler_findings(
    spans: list[AtMaxSpan], *, window: Window | None = None, ref: str = ""
) -> list[Finding]:
    """One finding per span at max (those touching ``window`` when given).

    The title gives the span (``"HPA checkout at max replicas (10) from 17:07 to
    17:24 UTC"``), the summary what limited it. The fact is ``autoscaler`` in the
    role ``mechanism``: no capacity could be added while it lasted.
    """
    out = []
    for span in spans:
        if window is not None and not span.overlaps(window):
            continue
        why = f" Limited by {span.limited_by}." if span.limited_by else ""
        still = (
            " It could add no more pods: more load queues, throttles or fails; raise "
            "maxReplicas or add capacity."
            if span.ongoing
            else " No capacity could be added while it lasted."
        )
        out.append(
            Finding(
                title=shorten(f"HPA {span.hpa} {span.describe()}", _TITLE_WIDTH),
                severity="high" if span.ongoing else "medium",
                summary=f"HorizontalPodAutoscaler {md_code(span.hpa)} held "
                f"{span.max_replicas} replicas, its maximum.{why}{still}",
                ref=ref,
                fact="autoscaler",
                role="mechanism",
            )
        )
    return out
