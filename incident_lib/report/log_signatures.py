"""The log signatures of a capture, grouped once per run.

Notebooks 02 and 04 and the story each group the failures of the same log
capture into signatures, over the same window and baseline: seconds each for a
capture of ten million lines. :func:`captured_signatures` groups them once per
run (:mod:`incident_lib.infra.memo`): the first process reads the lines and
groups them, holding the memo's lock; the others read its result, the table and
each line's signature, labelled by the line's row number in the capture.

The key holds the capture's sha256, the windows and the levels that occur in
the capture among those asked for (read from its dictionary pages, itself once
per run): ``warning,error,critical`` and the story's longer list of level names
share one result when the capture holds only the canonical names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.signatures import SignatureLines, signatures_with_lines
from ..core.errors import EvidenceError, InvalidInput
from ..core.schema import empty_frame
from ..core.time import Window
from ..infra.memo import memo_key, memoized, memoized_frames

if TYPE_CHECKING:
    import pandas as pd

    from ..infra.evidence import EvidenceStore

__all__ = ["LOG_COLUMNS", "captured_signatures"]

#: the columns of a log capture that grouping reads (raw text only for examples, later)
LOG_COLUMNS = ("time", "pod", "level", "message")


class _Unshared(Exception):
    """A result computed from lines that could not be read: not for the memo."""

    def __init__(self, value: SignatureLines) -> None:
        super().__init__("unshared")
        self.value = value


def captured_signatures(
    store: EvidenceStore,
    source: str,
    name: str,
    *,
    window: Window,
    baseline: Window,
    levels: Collection[str],
    memo: Path | None = None,
    read: Callable[[Collection[str]], pd.DataFrame | None] | None = None,
) -> SignatureLines:
    """:func:`~incident_lib.analysis.signatures.signatures_with_lines` of a log capture.

    Over the lines of the newest capture ``source``/``name`` at ``levels``
    (compared in lower case) in ``window`` and ``baseline``, computed once per
    run when ``memo`` is given.

    Parameters
    ----------
    store
        The workspace's evidence store.
    source, name
        A log capture (``kubernetes/logs``, ``datadog/logs``).
    window, baseline
        The incident and baseline windows.
    levels
        The levels grouped, e.g. ``("warning", "error", "critical")``.
    memo
        The run's memo folder; None: computed here, not shared.
    read
        Reads the lines, given the level values to keep (exactly as captured):
        :data:`LOG_COLUMNS` of the rows at those levels, at least over the
        windows, each labelled by its row number in the capture (a read with
        ``where=``); None when they could not be read (unknown: the result, with
        no signature, is not shared). Default: read from ``store``.

    Returns
    -------
    SignatureLines
        Lines and examples labelled by their row number in the capture.
    """
    wanted = {str(level).lower() for level in levels}
    span = Window(min(baseline.start, window.start), max(baseline.end, window.end))

    def read_lines(values: Collection[str]) -> pd.DataFrame | None:
        if read is not None:
            return read(values)
        return store.read(
            source, name, columns=list(LOG_COLUMNS), time_range=span, where={"level": values}
        )

    def group(values: Collection[str]) -> SignatureLines:
        lines = read_lines(values)
        known = lines is not None
        if lines is None:
            lines = empty_frame("logs")[list(LOG_COLUMNS)]
        found = signatures_with_lines(
            lines, window=_pair(window), baseline=_pair(baseline), levels=sorted(wanted)
        )
        if not known:
            raise _Unshared(found)
        return found

    try:
        if memo is None or not store.has(source, name):
            return group(sorted(wanted))
        try:
            entry = store.latest(source, name)
            present = _levels_present(store, source, name, memo)
        except (EvidenceError, InvalidInput):  # (the read says what is wrong, where shown)
            return group(sorted(wanted))
        values = sorted(v for v in present if v.lower() in wanted)
        key = memo_key(
            "signatures",
            {
                "capture": entry.sha256,
                "evidence": f"{source}/{name}",
                "levels": values,
                "window": [window.start.isoformat(), window.end.isoformat()],
                "baseline": [baseline.start.isoformat(), baseline.end.isoformat()],
            },
        )
        return memoized_frames(
            memo, key, lambda: group(values), encode=_to_frames, decode=_from_frames
        )
    except _Unshared as unshared:
        return unshared.value


def _levels_present(store: EvidenceStore, source: str, name: str, memo: Path) -> list[str]:
    """The distinct levels of the newest capture, read once per run."""
    entry = store.latest(source, name)
    key = memo_key("levels", {"capture": entry.sha256, "evidence": f"{source}/{name}"})

    def decode(data: Any) -> list[str]:
        if not isinstance(data, list):
            raise TypeError("levels: a list")
        return [str(v) for v in data]

    return memoized(memo, key, lambda: store.distinct(entry, "level"), encode=list, decode=decode)


def _pair(window: Window) -> tuple[pd.Timestamp, pd.Timestamp]:
    import pandas as pd

    return pd.Timestamp(window.start), pd.Timestamp(window.end)


def _to_frames(found: SignatureLines) -> Mapping[str, pd.DataFrame]:
    return {
        "table": found.table,
        "lines": found.lines.to_frame(),
        "examples": found.examples.to_frame(),
    }


def _from_frames(frames: Mapping[str, pd.DataFrame]) -> SignatureLines:
    table, lines, examples = frames["table"], frames["lines"], frames["examples"]
    return SignatureLines(table, lines["signature"], examples["row"])
