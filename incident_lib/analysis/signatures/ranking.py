"""Ranking: which signatures matter, by what is new or grew against the baseline.

A signature table (:func:`~incident_lib.analysis.signatures.signatures`) says,
per template, how many events the window and the baseline hold. Sorting it by
level alone hides a new warning (``flush aborted``, ``worker pool saturated``)
behind errors that were always there; sorting by count alone lets the loudest
symptom win. :func:`rank_signatures` scores every signature on what changed.

The rank score
--------------
``score = novelty + level + volume``:

- **novelty** (0 to 3): :data:`NEW_SCORE` (3) when the signature is absent
  from the baseline (*new*); otherwise ``log2`` of its rate change, clipped to
  0..3 (2× -> 1, 8× or more -> 3) when the baseline holds at least
  :data:`MIN_BASELINE_EVENTS` events, and clipped to 0..1 when it holds fewer
  (one or two baseline events say that it happened before, not how much it
  grew). A steady or shrinking signature scores 0. Without a baseline window
  novelty is 0 for all.
- **level** (-1 to 2): :data:`LEVEL_SCORES`, critical 2, error 1, warning 0,
  anything else -1.
- **volume** (0 and up): ``log10(count)``: 1 event 0, 10 events 1, 1000 events 3.

So a new warning with a hundred events (3 + 0 + 2 = 5) ranks above an error
that is as frequent as in the baseline (0 + 1 + 2.5 = 3.5), and a new critical
line seen 50 times (3 + 2 + 1.7) next to a new error seen 1,500 times
(3 + 1 + 3.2). Ties keep the larger count, then the earlier first event.

Words
-----
:func:`change_text` says how a signature compares with the baseline, the same
way everywhere (tables, findings): ``new`` (absent from the baseline),
``3.6× the baseline rate`` (at least :data:`MIN_BASELINE_EVENTS` baseline
events), ``1 event in the baseline`` (fewer: a rate from so few events means
nothing), ``no baseline``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import TYPE_CHECKING

from ...core.errors import InvalidInput
from ...core.text import shorten

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LABEL_WIDTH",
    "LEVEL_SCORES",
    "MIN_BASELINE_EVENTS",
    "NEW_SCORE",
    "RANK_COLUMNS",
    "SAME_AS_SCAN",
    "change_text",
    "distinct_texts",
    "rank_signatures",
]

#: a growth figure needs at least this many baseline events; fewer are reported as a count
MIN_BASELINE_EVENTS = 5
#: the novelty of a signature absent from the baseline (the most growth can earn)
NEW_SCORE = 3.0
#: what the level adds to the rank score; a level not listed adds -1
LEVEL_SCORES = {"critical": 2.0, "error": 1.0, "warning": 0.0}
#: labels (``#1 template…``) are at most this many characters
LABEL_WIDTH = 70
#: columns :func:`rank_signatures` adds to a signature table
RANK_COLUMNS = ("rank", "score", "change", "same_as", "label")
#: ``same_as`` is looked for among this many top-ranked signatures (the rest get 0)
SAME_AS_SCAN = 200
#: templates shorter than this never count as another one logged again
_ECHO_MIN_CHARS = 20
#: who logged a line: ``[thread] logger: `` or ``logger: `` (a JSON line's logger field)
_LOGGER = re.compile(r"(?:\[[^\]]*\] )?[\w.$-]+: ")


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def change_text(baseline_count: int, rate_change: float) -> str:
    """How a signature compares with the baseline, in words.

    Parameters
    ----------
    baseline_count
        Events in the baseline window.
    rate_change
        Window rate over baseline rate (``inf`` when the baseline has none,
        NaN without a baseline window).

    Returns
    -------
    str
        ``"new"``, ``"3.6× the baseline rate"``, ``"2 events in the baseline"``
        (fewer than :data:`MIN_BASELINE_EVENTS`) or ``"no baseline"``.

    Examples
    --------
    >>> change_text(0, float("inf")), change_text(1, 205.0), change_text(40, 3.62)
    ('new', '1 event in the baseline', '3.6× the baseline rate')
    """
    if rate_change is None or math.isnan(rate_change):
        return "no baseline"
    if baseline_count <= 0:
        return "new"
    if baseline_count < MIN_BASELINE_EVENTS:
        return f"{baseline_count} event{'s' if baseline_count != 1 else ''} in the baseline"
    return f"{_times(rate_change)} the baseline rate"


def _common_prefix(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    pairs = enumerate(zip(a, b, strict=False))
    return next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))


def distinct_texts(templates: list[str], width: int) -> list[str]:
    """Each template cut to ``width`` at word boundaries, telling apart the ones cut alike.

    Two templates that share their first ``width`` characters would read the same
    once cut; such a template keeps a short head and the words from where it
    differs from the others: ``api.errors: (<*>.OperationalError)… sorry, too many
    clients already``.

    Parameters
    ----------
    templates
        Texts to show (one line each after cutting).
    width
        Longest result, in characters (at least 8).

    Returns
    -------
    list of str
        In the order of ``templates``; equal templates stay equal.
    """
    shorts = [shorten(t, width) for t in templates]
    alike: defaultdict[str, set[str]] = defaultdict(set)
    for template, short in zip(templates, shorts, strict=True):
        alike[short].add(template)
    out = []
    for template, short in zip(templates, shorts, strict=True):
        others = alike[short] - {template}
        if not others:
            out.append(short)
            continue
        common = max(_common_prefix(template, o) for o in others)
        start = template.rfind(" ", 0, common) + 1  # the word in which they differ
        head = shorten(template[:start] or template, max(width * 2 // 5, 2))
        if not head.endswith("…"):
            head += " …"
        out.append(f"{head} {shorten(template[start:], max(width - len(head) - 1, 2))}")
    return out


def _echoes(a: str, b: str) -> bool:
    """One template holds the other's text: the same failure logged again with more context.

    ``flush of batch <NUM> failed: QueuePool limit ...`` and ``Exception on <PATH> |
    sqlalchemy.exc.TimeoutError: QueuePool limit ...`` both hold ``QueuePool limit ...``
    (also when that one was logged as ``api.errors: QueuePool limit ...``).
    """
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if (logger := _LOGGER.match(short)) and logger.end() < len(short):
        short = short[logger.end() :]  # the text, whoever logged it
    return len(short) >= _ECHO_MIN_CHARS and short.count(" ") >= 2 and short in long


def _same_as(templates: list[str]) -> list[int]:
    """For each template (in rank order): the rank of an earlier one it repeats, else 0."""
    leads: list[tuple[int, str]] = []
    out = []
    for rank, template in enumerate(templates, start=1):
        lead = 0
        if rank <= SAME_AS_SCAN:
            lead = next((r for r, t in leads if _echoes(t, template)), 0)
            if not lead:
                leads.append((rank, template))
        out.append(lead)
    return out


def _novelty(baseline_count: int, rate_change: float) -> float:
    if math.isnan(rate_change):
        return 0.0
    if baseline_count <= 0:
        return NEW_SCORE
    growth = math.log2(rate_change) if rate_change > 0 else 0.0
    cap = NEW_SCORE if baseline_count >= MIN_BASELINE_EVENTS else 1.0
    return min(max(growth, 0.0), cap)


def rank_signatures(table: pd.DataFrame, *, label_width: int = LABEL_WIDTH) -> pd.DataFrame:
    """Sort a signature table by its rank score (see the module documentation).

    Parameters
    ----------
    table
        A :func:`~incident_lib.analysis.signatures.signatures` frame (it needs
        ``template``, ``count``, ``level``, ``first_seen``, ``baseline_count``
        and ``rate_change``).
    label_width
        Longest ``label``, in characters (at least 8).

    Returns
    -------
    pandas.DataFrame
        ``table`` sorted by ``score`` (highest first), with the columns of
        :data:`RANK_COLUMNS` added: ``rank`` (1, 2, ... in the new order),
        ``score``, ``change`` (:func:`change_text`), ``same_as`` and ``label``:
        ``#<rank>`` and the template cut at a word boundary, distinct for
        every row even when templates share a long beginning (for chart
        legends). ``same_as`` is the rank of a better-ranked signature whose
        text this one's template holds (the same failure logged again by a
        caller: ``flush failed: <error>``, ``Exception on <PATH> | <error>``;
        a leading ``logger:`` does not count), else 0; ``table[table.same_as
        == 0]`` keeps one signature per failure. Only the first
        :data:`SAME_AS_SCAN` rows are compared.

    Raises
    ------
    InvalidInput
        A needed column is missing or ``label_width`` is below 8.
    """
    import pandas as pd

    needed = ("template", "count", "level", "first_seen", "baseline_count", "rate_change")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InvalidInput(f"signature table is missing columns {missing}")
    if label_width < 8:
        raise InvalidInput(f"label_width must be at least 8, got {label_width}")
    out = table.drop(columns=[c for c in RANK_COLUMNS if c in table.columns])
    base = out["baseline_count"].astype("int64").tolist()
    rate = out["rate_change"].astype("float64").tolist()
    level = [LEVEL_SCORES.get(str(v).lower(), -1.0) for v in out["level"]]
    volume = [math.log10(c) if c > 0 else 0.0 for c in out["count"].astype("int64")]
    score = [
        _novelty(b, r) + lv + vol for b, r, lv, vol in zip(base, rate, level, volume, strict=True)
    ]
    out = out.assign(
        score=pd.Series(score, index=out.index, dtype="float64").round(3),
        change=pd.Series(
            [change_text(b, r) for b, r in zip(base, rate, strict=True)],
            index=out.index,
            dtype="str",
        ),
    )
    out = out.sort_values(
        ["score", "count", "first_seen"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    out["rank"] = pd.Series(range(1, len(out) + 1), index=out.index, dtype="int64")
    out["same_as"] = pd.Series(
        _same_as([str(t) for t in out["template"]]), index=out.index, dtype="int64"
    )
    texts = distinct_texts(
        [str(t) for t in out["template"]], max(label_width - len(f"#{len(out)} "), 8)
    )
    out["label"] = pd.Series(
        [f"#{n} {text}" for n, text in zip(out["rank"], texts, strict=True)],
        index=out.index,
        dtype="str",
    )
    kept = [c for c in out.columns if c not in RANK_COLUMNS]
    return out[[*kept, *RANK_COLUMNS]]
