"""Error signatures: turn log messages into templates and group lines by template.

A *signature* is the template of a log message with its variable parts masked,
plus a short stable id (a hash of the template's canonical form). Lines that
differ only in ids, numbers, addresses, paths... share a signature, so an
incident's thousands of error lines become a short table of distinct errors.

One module per job; every public name is re-exported here:

- :mod:`.masking`: variable parts -> placeholders (:func:`mask`; steps 1-2 of
  how a message becomes a signature: headline, masking);
- :mod:`.grouping`: the miner that groups masked templates into signatures
  (:func:`signature_ids`, :data:`TOLERANCE_MIN_VALUES`,
  :data:`TOLERANCE_MIN_CONSTANT`; steps 3-4: grouping, tolerance);
- :mod:`.frames`: the frame API over a ``logs`` frame (:func:`signatures`,
  :func:`signatures_with_lines`, :class:`SignatureLines`,
  :func:`signature_timeseries`, :data:`SIGNATURE_COLUMNS`, :data:`TIMESERIES_COLUMNS`,
  :data:`NEW_RATE_RATIO`, :data:`POD_NAMES_CAP`);
- :mod:`.ranking`: the rank score (new, growth with enough baseline events,
  level, count), the words for a change and distinct labels
  (:func:`rank_signatures`, :func:`change_text`, :data:`MIN_BASELINE_EVENTS`,
  :data:`LEVEL_SCORES`, :data:`NEW_SCORE`, :data:`RANK_COLUMNS`,
  :data:`LABEL_WIDTH`);
- :mod:`.findings`: findings from a signature table: the top new or grown
  failures (:func:`signature_findings`, :data:`GROWTH_MIN`, :data:`TITLE_WIDTH`).

The frame-level functions import pandas inside them; the pure :func:`mask` /
:func:`signature_ids` path needs no pandas.
"""

from __future__ import annotations

from .findings import GROWTH_MIN, TITLE_WIDTH, signature_findings
from .frames import (
    NEW_RATE_RATIO,
    POD_NAMES_CAP,
    SIGNATURE_COLUMNS,
    TIMESERIES_COLUMNS,
    SignatureLines,
    signature_timeseries,
    signatures,
    signatures_with_lines,
    with_raw_examples,
)
from .grouping import TOLERANCE_MIN_CONSTANT, TOLERANCE_MIN_VALUES, signature_ids
from .masking import mask
from .ranking import (
    LABEL_WIDTH,
    LEVEL_SCORES,
    MIN_BASELINE_EVENTS,
    NEW_SCORE,
    RANK_COLUMNS,
    change_text,
    rank_signatures,
)

__all__ = [
    "GROWTH_MIN",
    "LABEL_WIDTH",
    "LEVEL_SCORES",
    "MIN_BASELINE_EVENTS",
    "NEW_RATE_RATIO",
    "NEW_SCORE",
    "POD_NAMES_CAP",
    "RANK_COLUMNS",
    "SIGNATURE_COLUMNS",
    "TIMESERIES_COLUMNS",
    "TITLE_WIDTH",
    "TOLERANCE_MIN_CONSTANT",
    "TOLERANCE_MIN_VALUES",
    "SignatureLines",
    "change_text",
    "mask",
    "rank_signatures",
    "signature_findings",
    "signature_ids",
    "signature_timeseries",
    "signatures",
    "signatures_with_lines",
    "with_raw_examples",
]
