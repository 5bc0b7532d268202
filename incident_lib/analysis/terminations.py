"""Terminations: OOM kills, crash loops and evictions, of pods deleted since too.

Reads the ``k8s_terminations`` frame (:mod:`incident_lib.core.schema`), where a
scale-down or a rollback no longer erases what happened to the pods it deleted.

* :func:`termination_table` groups the rows per workload, container and reason (a
  capture can hold hundreds: one line per group, with how many were in pods
  deleted since, the pods, first and last time).
* :func:`termination_findings`: one finding for every OOM kill of the service,
  per container ("api OOMKilled 4 times (2 in pods deleted since), last 14:19 UTC");
  it replaces the OOMKilled finding of :func:`.resources.resource_findings` (which
  sees only the current pods), so a kill is reported once. A kernel OOM kill on a
  node that ran several of the service's pods at that moment has no container: it
  is counted as "container unknown". Crash loops (``BackOff``, liveness kills) and
  stops are reported for deleted pods only: the current pods' restarts are those
  of the ``pods`` frame. Evictions, preemptions and node shutdowns of any pod are
  one finding.

Facts and roles are those of the resource findings: OOM kills ``memory`` and
evictions ``warning:Evicted`` (``mechanism``), crash loops ``restarts`` (``symptom``).

Pure functions over contract frames: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.findings import Finding
from ..core.text import count, md_code, shorten
from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CRASH_REASONS", "EVICTION_REASONS", "termination_findings", "termination_table"]

#: reasons of a container that keeps failing (a crash loop)
CRASH_REASONS = ("BackOff", "LivenessKilled", "Error")
#: reasons of a pod pushed off its node
EVICTION_REASONS = ("Evicted", "Preempted", "NodeShutdown")
_UNKNOWN = "container unknown"
#: a row's source, in words
_SOURCES = {
    "status": "the container status",
    "event": "the Pod events",
    "node-event": "the node's kernel OOM killer (Node events)",
}
_TITLE_WIDTH = 120
_LISTED = 6


def _in_window(frame: pd.DataFrame, window: Window | None) -> pd.DataFrame:
    import pandas as pd

    if window is None:
        return frame
    at = frame["finished_at"]
    keep = at.isna() | ((at >= pd.Timestamp(window.start)) & (at < pd.Timestamp(window.end)))
    return frame[keep]


def termination_table(terminations: pd.DataFrame, *, window: Window | None = None) -> pd.DataFrame:
    """Terminations per workload, container and reason, OOM kills first, then most frequent.

    Parameters
    ----------
    terminations
        ``k8s_terminations`` contract frame.
    window
        Only terminations in it count (those at an unknown time too).

    Returns
    -------
    pandas.DataFrame
        Columns ``workload``, ``container`` (empty: unknown), ``reason``, ``count``,
        ``deleted`` (how many in pods deleted since), ``pods`` (how many pods),
        ``first``, ``last``, ``seen_in`` (the sources: status, event, node-event),
        ``example`` (a message, shortened).
    """
    import pandas as pd

    cols = [
        "workload",
        "container",
        "reason",
        "count",
        "deleted",
        "pods",
        "first",
        "last",
        "seen_in",
        "example",
    ]
    rows = _in_window(terminations, window)
    if rows.empty:
        return pd.DataFrame(columns=cols)
    grouped = (
        rows.assign(example=rows["message"].map(lambda m: shorten(str(m), 80) if m else ""))
        .groupby(["workload", "container", "reason"], sort=False)
        .agg(
            count=("reason", "size"),
            deleted=("pod_deleted", "sum"),
            pods=("pod", lambda s: s[s != ""].nunique()),
            first=("finished_at", "min"),
            last=("finished_at", "max"),
            seen_in=("source", lambda s: ", ".join(sorted(set(s)))),
            example=("example", lambda s: next((m for m in s if m), "")),
        )
        .reset_index()
    )
    grouped["deleted"] = grouped["deleted"].astype(int)
    grouped["_oom"] = grouped["reason"] != "OOMKilled"
    ranked = grouped.sort_values(["_oom", "count"], ascending=[True, False], kind="stable")
    return ranked[cols].reset_index(drop=True)


def _listed(items: list[str]) -> str:
    shown = items[:_LISTED]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f", +{more} more" if more else "")


def _last(frame: pd.DataFrame) -> str:
    import pandas as pd

    last = frame["finished_at"].max()
    return f"last {last:%H:%M} UTC" if not pd.isna(last) else "time unknown"


def _oom_finding(ooms: pd.DataFrame, ref: str) -> Finding:
    labels = ooms["container"].map(lambda c: str(c) or _UNKNOWN)
    parts: list[str] = []
    details: list[str] = []
    for label, group in ooms.groupby(labels, sort=False):
        gone = int(group["pod_deleted"].sum())
        name = str(label)
        who = "a container (unknown)" if name == _UNKNOWN else name
        times = "once" if len(group) == 1 else f"{len(group)} times"
        parts.append(
            f"{who} OOMKilled {times}" + (f" ({gone} in pods deleted since)" if gone else "")
        )
        pods = sorted({str(p) for p in group["pod"] if p})
        nodes = sorted({str(n) for n in group["node"] if n})
        where = (
            ("pod " if len(pods) == 1 else "pods ") + _listed([md_code(p) for p in pods])
            if pods
            else "nodes "
            + _listed([md_code(n) for n in nodes])
            + " (several of the service's pods ran there: the kernel names a process, "
            "not a container)"
        )
        details.append(f"{md_code(name)}: {where}")
    title = (
        f"{parts[0]}, {_last(ooms)}"
        if len(parts) == 1
        else f"{count(len(ooms), 'OOM kill')}: {', '.join(parts)}; {_last(ooms)}"
    )
    seen = [_SOURCES[s] for s in sorted(set(ooms["source"])) if s in _SOURCES]
    return Finding(
        title=shorten(title, _TITLE_WIDTH),
        severity="high",
        summary="; ".join(details)
        + f". Seen in {' and '.join(seen) or 'the capture'}: the container went over its "
        "memory limit, or its node ran out of memory.",
        ref=ref,
        fact="memory",
        role="mechanism",
    )


def termination_findings(
    terminations: pd.DataFrame, *, window: Window | None = None, ref: str = ""
) -> list[Finding]:
    """OOM kills (of every pod), crash loops of deleted pods, evictions (see the module notes).

    Parameters
    ----------
    terminations
        ``k8s_terminations`` contract frame.
    window
        Only terminations in it count (those at an unknown time too).
    ref
        Where to look (the notebook's section or a chart).

    Returns
    -------
    list of Finding
        At most three: OOM kills (fact ``memory``), crash loops of deleted pods
        (``restarts``), evictions (``warning:Evicted``).
    """
    rows = _in_window(terminations, window)
    out: list[Finding] = []
    ooms = rows[rows["reason"] == "OOMKilled"]
    if len(ooms):
        out.append(_oom_finding(ooms, ref))
    crashes = rows[rows["pod_deleted"] & rows["reason"].isin(CRASH_REASONS)]
    if len(crashes):
        pods = sorted({str(p) for p in crashes["pod"]})
        what = _listed([f"{reason} ×{n}" for reason, n in crashes["reason"].value_counts().items()])
        containers = sorted({str(c) for c in crashes["container"] if c})
        out.append(
            Finding(
                title=shorten(
                    f"{', '.join(containers) or 'containers'} crash-looping in "
                    f"{count(len(pods), 'pod')} deleted since, {_last(crashes)}",
                    _TITLE_WIDTH,
                ),
                severity="medium",
                summary=f"{what} in "
                + _listed([md_code(p) for p in pods])
                + " (from their events: the pods are gone).",
                ref=ref,
                fact="restarts",
                role="symptom",
            )
        )
    evicted = rows[rows["reason"].isin(EVICTION_REASONS)]
    if len(evicted):
        pods = sorted({str(p) for p in evicted["pod"]})
        gone = int(evicted.drop_duplicates("pod")["pod_deleted"].sum())
        reasons = ", ".join(sorted(set(evicted["reason"])))
        out.append(
            Finding(
                title=shorten(
                    f"{count(len(pods), 'pod')} {reasons.lower()}"
                    + (f" ({gone} deleted since)" if gone else "")
                    + f", {_last(evicted)}",
                    _TITLE_WIDTH,
                ),
                severity="medium",
                summary=_listed([md_code(p) for p in pods])
                + f"; e.g. “{shorten(str(evicted['message'].iloc[0]), 160)}”",
                ref=ref,
                fact="warning:Evicted",
                role="mechanism",
            )
        )
    return out
