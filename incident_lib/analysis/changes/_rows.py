"""The row helpers every row builder of the change timeline shares (private to the package).

A timeline row is a dict with the keys of
:data:`~incident_lib.analysis.changes.TIMELINE_COLUMNS`; keys starting with ``_``
serve de-duplication and are dropped when the frame is built.
"""

from __future__ import annotations

#: the order of kinds among changes at the same time (and in a ranking's ties)
_KIND_ORDER = {
    "deploy": 0,
    "config": 1,
    "job": 2,
    "scale": 3,
    "commit": 4,
    "rollback": 5,
    "event": 6,
}
#: how long a row's detail may grow once notes are added
_DETAIL_CHARS = 200


def _text(value: object) -> str:
    return "" if value is None or value != value else str(value)


def _row(
    time: object, kind: str, label: str, detail: str, *, service: str = ""
) -> dict[str, object]:
    """A ``kubernetes`` timeline row; ``service``: the workload it concerns ("" unknown)."""
    return {
        "time": time,
        "kind": kind,
        "source": "kubernetes",
        "label": label,
        "detail": detail,
        "service": service,
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
