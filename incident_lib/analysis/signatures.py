"""Error signatures: turn log messages into templates and group lines by template.

A *signature* is the template of a log message with its variable parts masked,
plus a short stable id (a hash of the template's canonical form). Lines that
differ only in ids, numbers, addresses, paths... share a signature, so an
incident's thousands of error lines become a short table of distinct errors.

How a message becomes a signature
---------------------------------
1. **Headline.** A multi-line message (a stack trace folded into its event) is
   reduced to its first line; for a Python traceback the final exception line
   (``KeyError: 'x'``) is appended, so different exceptions stay apart.
2. **Masking** (:func:`mask`). One combined regular expression replaces the
   variable parts, leftmost match first, with these placeholders:

   ==============  =======================================================
   ``<TS>``        timestamps, dates and times (``2026-11-26T14:02:00Z``,
                   ``14:02:00.123``, ``Nov 26 14:02:00``, ``26/11/2026``)
   ``<UUID>``      UUIDs
   ``<URL>``       URLs (``scheme://...``)
   ``<EMAIL>``     e-mail addresses
   ``<IP>``        IPv4 (with an optional ``:port``) and IPv6 addresses
   ``<PATH>``      absolute file and URL paths (``/var/lib/x``, ``C:\\x``)
   ``<HEX>``       ``0x1f`` and hex ids of 6+ characters with a digit and a
                   letter (hashes, trace ids)
   ``<DUR>``       durations (``250ms``, ``1h30m``, ``2.5 seconds``)
   ``<SIZE>``      sizes (``512MB``, ``1.5 GiB``, ``256Mi``, ``850 B``, ``2364 bytes``)
   ``<NUM>``       numbers (``42``, ``-7``, ``0.25``, ``1,024``, ``1e-5``)
   ``'<*>'``       a quoted value without spaces (``'users'``, ``"abc"``) or a quoted
                   user agent (``"Mozilla/5.0 (X11; Linux) ..."``, ``"curl/8.4.0"``);
                   a quoted JSON/YAML key (followed by ``:`` or ``=``) stays
   ``<*>``         any other word that contains a digit (``node7``, ``e02``)
                   and, after grouping, a position where the grouped lines
                   differ (see step 4)
   ==============  =======================================================

   Every digit of a message ends up inside a placeholder. Masking runs after
   each ASCII digit is replaced by ``0``, so the result depends only on *where*
   the digits are, never on their values (``5x1f`` counts as ``0x1f``).
   Comma-separated lists of one placeholder (``<IP>,<IP>``) and runs of the
   same masked token (``blk_<NUM> blk_<NUM> ...``) collapse to one.
3. **Grouping.** Within each whitespace token, every chunk between the
   delimiters ``: = , ; " ' ( ) [ ] { } < >`` that contains a placeholder
   becomes ``<*>``, so ``rdd_<NUM>_<NUM>`` and ``broadcast_<NUM>_<*>`` or
   ``host-<NUM>.example.com:<NUM>`` and ``<*>.example.com:<NUM>`` match while
   ``user_id=<*>`` keeps its key. Messages with the same result (the
   *canonical template*) form one group.
4. **Tolerance.** Canonical templates with the same number of tokens that
   differ in exactly one plain word (no placeholder) are merged when at least
   :data:`TOLERANCE_MIN_VALUES` different words occur at that position and the
   rest of the template has at least :data:`TOLERANCE_MIN_CONSTANT` plain words:
   ``Invalid user alice from <IP>``, ``... bob ...``, ... become one signature,
   while a handful of states (``VM Paused``/``VM Resumed``, ``GET``/``POST``)
   stay separate signatures.

The displayed template of a group keeps every token its members share
(``blk_<NUM>``) and shows the canonical token where they differ.

Speed: the expensive steps run once per distinct *key*: the headline with each
ASCII digit replaced by ``0``, then with each UUID and long hex id replaced by a
canonical one of the same shape (neither changes the mask). A real log with
varying numbers and request ids becomes a few thousand keys, and the per-line
work is one ``str.translate`` and one ``split`` over the whole batch plus dict
lookups: about 1.5 million lines/s on one core over the 1M-line Loghub corpus of
``benchmarks/bench_signatures.py``. A batch in which no two lines share a
template pays the masking and grouping for every line (tens of microseconds
each).

The frame-level functions (:func:`signatures`, :func:`signature_timeseries`)
work on the ``logs`` frame of :mod:`incident_lib.core.schema`; pandas is imported
inside them, the pure :func:`mask` / :func:`signature_ids` path needs no pandas.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple

from ..core.errors import InvalidInput
from ..core.findings import Finding

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NEW_RATE_RATIO",
    "POD_NAMES_CAP",
    "SIGNATURE_COLUMNS",
    "TIMESERIES_COLUMNS",
    "TOLERANCE_MIN_CONSTANT",
    "TOLERANCE_MIN_VALUES",
    "mask",
    "signature_findings",
    "signature_ids",
    "signature_timeseries",
    "signatures",
]

#: at least this many different plain words at one position merge otherwise equal templates
TOLERANCE_MIN_VALUES = 8
#: ... provided the rest of the template has at least this many plain words
TOLERANCE_MIN_CONSTANT = 2
#: a signature is new when its baseline rate is at most this fraction of its incident rate
NEW_RATE_RATIO = 0.1
#: how many pod names ``pod_names`` lists before "(+N more)"
POD_NAMES_CAP = 5

#: columns of the :func:`signatures` frame, in order
SIGNATURE_COLUMNS = (
    "signature",
    "template",
    "count",
    "level",
    "first_seen",
    "last_seen",
    "pods",
    "pod_names",
    "example",
    "baseline_count",
    "rate_change",
    "is_new",
)
#: columns of the :func:`signature_timeseries` frame, in order
TIMESERIES_COLUMNS = ("time", "signature", "template", "count")

_SIGNATURE_DTYPES = {
    "signature": "str",
    "template": "str",
    "count": "int64",
    "level": "str",
    "first_seen": "datetime64[ns, UTC]",
    "last_seen": "datetime64[ns, UTC]",
    "pods": "int64",
    "pod_names": "str",
    "example": "str",
    "baseline_count": "int64",
    "rate_change": "float64",
    "is_new": "bool",
}

# Most severe first; a level not listed ranks below all of them.
_SEVERITY = {
    name: rank
    for rank, names in enumerate(
        reversed(
            [
                ("emergency", "emerg", "panic"),
                ("alert",),
                ("fatal", "critical", "crit"),
                ("error", "err", "severe"),
                ("warning", "warn"),
                ("notice",),
                ("info", "information", "informational"),
                ("debug",),
                ("trace", "verbose"),
            ]
        )
    )
    for name in names
}

_DIGITS = str.maketrans("0123456789", "0000000000")
_TRACEBACK = "Traceback (most recent call last)"


# -- masking ------------------------------------------------------------------------

_HEXC = "[0-9a-fA-F]"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]{0,6}\.?"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
_ZONE = r"(?:\s?(?:Z|UTC|GMT)|[+-]\d{2}:?\d{2}(?![\d:]))?"
# A path segment character: anything but whitespace, "/", quotes, brackets and list separators.
_SEG = r"""[^\s/"'<>()\[\]{},;|]"""

# (placeholder, pattern) in priority order for matches starting at the same position.
# Every pattern is wrapped in alphanumeric boundaries (see _rx).
_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "TS",
        rf"\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_CLOCK}{_ZONE})?"
        rf"|\d{{4}}/\d{{1,2}}/\d{{1,2}}(?:[T ]{_CLOCK})?"
        rf"|\d{{1,2}}/\d{{1,2}}/\d{{4}}(?:[T ]{_CLOCK})?"
        rf"|{_MONTH}\s{{1,2}}\d{{1,2}}(?:,?\s\d{{4}})?(?:\s{_CLOCK}{_ZONE})?"
        rf"|\d{{1,2}}:\d{{2}}:\d{{2}}(?:[.,]\d+)?{_ZONE}",
    ),
    ("UUID", rf"{_HEXC}{{8}}-{_HEXC}{{4}}-{_HEXC}{{4}}-{_HEXC}{{4}}-{_HEXC}{{12}}"),
    ("URL", r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>()\[\]{}]*(?<![.,:;])"""),
    ("EMAIL", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    (
        "IP",
        r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?"
        rf"|(?:{_HEXC}{{1,4}}:){{7}}{_HEXC}{{1,4}}"
        rf"|(?=[0-9a-fA-F:]*\d)(?:{_HEXC}{{1,4}}:){{1,6}}:(?:{_HEXC}{{1,4}}(?::{_HEXC}{{1,4}}){{0,5}})?"
        rf"|::(?=[0-9a-fA-F:]*\d)(?:{_HEXC}{{1,4}}(?::{_HEXC}{{1,4}}){{0,6}})",
    ),
    (
        "PATH",
        # two or more segments, or one that does not start with a digit ("/10.0.0.1" is an IP)
        rf"(?:[A-Za-z]:)?(?:/{_SEG}+){{2,}}/?(?<![.:,])"
        rf"|/[A-Za-z_.~$@%+-]{_SEG}*/?(?<![.:,])"
        r"|/(?=\s|$)"
        r"|[A-Za-z]:\\[^\s\"'<>|]*",
    ),
    ("HEX", rf"0[xX]{_HEXC}+|(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d){_HEXC}{{6,}}"),
    (
        "DUR",
        r"(?:\d++(?:\.\d++)?(?:ns|us|µs|ms|s|m|h|d))+"
        r"|\d++(?:\.\d++)?\s?(?:msecs?|millis|milliseconds?|seconds?|secs?|minutes?|mins?"
        r"|hours?|hrs?|days?)",
    ),
    ("SIZE", r"\d++(?:\.\d++)?\s?(?:[KMGTPE]i?B|[KMGTPE]i|[kKMGT]b|B|bytes?)"),
    ("NUM", r"[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?"),
    # a quoted user agent: product/version tokens ("Mozilla/5.0 (...) ...", "curl/8.4.0"),
    # which varies per client in access logs and says nothing about the failure
    ("UA", r'"[A-Za-z][\w.+-]*/\d[^"]*"'),
    # a quoted value without spaces; not a quoted key ("user": ...)
    ("Q", r"""(?:'[^'\s]+'|"[^"\s]+")(?!\s*[:=])"""),
    # any other word (alphanumeric run) that contains a digit
    ("W", r"[A-Za-z]*\d[A-Za-z0-9]*"),
)
# The patterns that can start with each kind of character, in priority order. Trying only
# those (and, for a letter, only when the word can start a match at all) is what makes the
# combined expression fast: most positions of a line are in plain words.
_LETTER_CAN_START = (
    r"[A-Za-z0-9._%+-]*[0-9@:]|[0-9a-fA-F]{8}-|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
)
_BRANCHES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"(?=\d)", ("TS", "UUID", "EMAIL", "IP", "HEX", "DUR", "SIZE", "NUM", "W")),
    (
        rf"(?=[A-Za-z])(?={_LETTER_CAN_START})",
        ("TS", "UUID", "URL", "EMAIL", "IP", "PATH", "HEX", "W"),
    ),
    ("(?=/)", ("PATH",)),
    ("(?=['\"])", ("UA", "Q")),
    ("(?=:)", ("IP",)),
    ("(?=[._%+-])", ("EMAIL", "NUM")),
)


class _Regexes(NamedTuple):
    mask: re.Pattern[str]
    ids: re.Pattern[str]
    lists: re.Pattern[str]
    repeats: re.Pattern[str]
    chunk: re.Pattern[str]
    placeholder: re.Pattern[str]


@functools.cache
def _rx() -> _Regexes:
    """Compile the patterns once, on first use (keeps ``import incident_lib`` fast)."""
    edge, end = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
    patterns = dict(_PATTERNS)
    branches = []
    for i, (first, names) in enumerate(_BRANCHES):
        alternatives = "|".join(f"(?P<{name}_{i}>(?:{patterns[name]}){end})" for name in names)
        branches.append(f"{first}(?:{alternatives})")
    ph = r"<(?:[A-Z]+|\*)>"
    delim = r"""\s:=,;"'()\[\]{}<>"""
    ids = (
        rf"{edge}(?:{patterns['UUID']}"
        rf"|(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d){_HEXC}{{8,}}){end}"
    )
    return _Regexes(
        mask=re.compile(f"{edge}(?:{'|'.join(branches)})"),
        ids=re.compile(ids),
        lists=re.compile(rf"({ph})(?:\s*,\s*\1)+"),
        repeats=re.compile(r"(?<!\S)(\S*<(?:[A-Z]+|\*)>\S*)(?:\s+\1)+(?!\S)"),
        chunk=re.compile(rf"(?<![^{delim}])(?:[^{delim}]|{ph})*{ph}(?:[^{delim}]|{ph})*"),
        placeholder=re.compile(ph),
    )


# group name -> replacement; None for a quoted value (the quotes stay)
_REPLACEMENT: dict[str | None, str | None] = {
    f"{name}_{i}": {"W": "<*>", "Q": None, "UA": None}.get(name, f"<{name}>")
    for i, (_, names) in enumerate(_BRANCHES)
    for name in names
}


def _replace(match: re.Match[str]) -> str:
    replacement = _REPLACEMENT[match.lastgroup]
    if replacement is None:
        quote = match.group()[0]
        return f"{quote}<*>{quote}"
    return replacement


def _headline(message: str) -> str:
    """First line of a multi-line message (+ the exception line of a Python traceback)."""
    if "\n" not in message:
        return message
    lines = [line.rstrip() for line in message.split("\n") if line.strip()]
    if not lines:
        return ""
    for i, line in enumerate(lines):
        if line.lstrip().startswith(_TRACEBACK):
            tail = [t for t in lines[i + 1 :] if not t[:1].isspace()]
            if tail:
                return f"{lines[0]} {tail[-1]}"
            break
    return lines[0]


# Keys are deduplicated once more after replacing each UUID, and each run of 8+ hex
# characters with a letter and a digit, by a canonical one of the same shape. That changes
# no mask: those runs are matched as a whole by <UUID> / <HEX> (or swallowed whole by an
# earlier <PATH>, <URL>, ... whose character classes treat letters and digits alike), and
# the canonical run keeps the length and the "has a letter / has a digit" properties the
# patterns test. It makes lines that differ only in request ids or hashes share a key.
_CANONICAL_UUID = "00000000-0000-0000-0000-000000000000"


def _canonical_id(match: re.Match[str]) -> str:
    text = match.group()
    return _CANONICAL_UUID if "-" in text else "0" * (len(text) - 1) + "a"


def _id_key(key: str) -> str:
    """Replace UUIDs and long hex ids in a key by a canonical one (same mask, fewer keys)."""
    return _rx().ids.sub(_canonical_id, key)


def _mask_key(key: str) -> str:
    """Mask a headline whose digits were already replaced by ``0``."""
    rx = _rx()
    text = rx.mask.sub(_replace, key)
    if "<" in text:
        text = rx.repeats.sub(r"\1", rx.lists.sub(r"\1", text))
    return " ".join(text.split())


def mask(message: str) -> str:
    """Return the masked template of one log message.

    Parameters
    ----------
    message
        A log message; for a multi-line one only its headline is used (see the
        module documentation).

    Returns
    -------
    str
        The message with variable parts replaced by placeholders (``<NUM>``,
        ``<IP>``, ``<UUID>``, ``<HEX>``, ``<URL>``, ``<PATH>``, ``<DUR>``,
        ``<SIZE>``, ``<EMAIL>``, ``<TS>``, ``'<*>'`` for a quoted value, ``<*>``
        for another word with digits) and whitespace runs collapsed to one space.

    Examples
    --------
    >>> mask("Took 2.31 seconds to spawn 0673dd71-34c5-4fbb-86c4-40623fbe45b4 on 10.0.0.7:8080")
    'Took <DUR> to spawn <UUID> on <IP>'
    """
    return _mask_key(_headline(message).translate(_DIGITS))


def _skeleton(masked: str) -> str:
    """Canonical form used for grouping: every chunk holding a placeholder becomes ``<*>``."""
    return _rx().chunk.sub("<*>", masked) if "<" in masked else masked


# -- grouping -----------------------------------------------------------------------


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None or value != value:  # None, NaN, NA
        return ""
    return str(value)


def _keys(messages: Sequence[object]) -> list[str]:
    """Headline of each message with its ASCII digits replaced by ``0``."""
    n = len(messages)
    if n == 0:
        return []
    try:
        text = "\n".join(messages)  # type: ignore[arg-type]
    except TypeError:
        messages = [_as_text(m) for m in messages]
        text = "\n".join(messages)  # type: ignore[arg-type]
    if text.count("\n") == n - 1:  # no multi-line message: one translate over the batch
        text = text.translate(_DIGITS)  # (rebinding frees the joined text before the split)
        return text.split("\n")
    return [_headline(m).translate(_DIGITS) for m in messages]  # type: ignore[arg-type]


def _signature_id(canonical: str) -> str:
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=5).hexdigest()


def _tolerate(skeletons: Iterable[str]) -> dict[str, str]:
    """Map each canonical template to its merged form (itself when nothing merges)."""
    # Bucket key: a hash of (length, position, text before the token, text after it), so a
    # bucket holds the templates that are equal except at that position.
    buckets: defaultdict[int, list[str]] = defaultdict(list)
    tokens: dict[str, list[str]] = {}
    for skel in skeletons:
        toks = skel.split(" ")
        plain = [i for i, t in enumerate(toks) if "<*>" not in t]  # only <*> is left
        if len(plain) - 1 < TOLERANCE_MIN_CONSTANT:
            continue
        tokens[skel] = toks
        n = len(toks)
        ends = list(accumulate(map(len, toks), initial=0))  # ends[i] + i: start of token i
        for p in plain:
            buckets[hash((n, p, skel[: ends[p] + p], skel[ends[p + 1] + p :]))].append(skel)

    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while (up := parent.get(s, s)) != s:
            parent[s] = s = parent.get(up, up)  # path halving
        return s

    for members in buckets.values():
        if len(members) >= TOLERANCE_MIN_VALUES:
            first = root(members[0])
            for other in members[1:]:
                r = root(other)
                if r != first:
                    parent[r] = first
    if not parent:
        return {}
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for skel in tokens:
        groups[root(skel)].append(skel)
    merged: dict[str, str] = {}
    for members in groups.values():
        if len(members) == 1:
            continue
        columns = zip(*(tokens[m] for m in members), strict=True)
        canonical = " ".join(col[0] if len(set(col)) == 1 else "<*>" for col in columns)
        for m in members:
            merged[m] = canonical
    return merged


def _display(canonical: str, masked: Iterable[str]) -> str:
    """Template shown for a group: shared tokens as masked, the others as canonical."""
    variants = list(masked)
    if len(variants) == 1:
        return variants[0]
    reference = canonical.split(" ")
    columns = zip(*(v.split(" ") for v in variants), strict=True)
    return " ".join(col[0] if len(set(col)) == 1 else reference[i] for i, col in enumerate(columns))


class _Grouping(NamedTuple):
    ids: list[str]
    templates: dict[str, str]  # signature id -> displayed template


def _masked(keys: Iterable[str]) -> dict[str, str]:
    """Masked template of each distinct key, masking each distinct id-normalised key once."""
    masked_of: dict[str, str] = dict.fromkeys(keys)  # type: ignore[arg-type]
    by_id_key: dict[str, str] = {}
    for key in masked_of:
        id_key = _id_key(key)
        masked = by_id_key.get(id_key)
        if masked is None:
            masked = by_id_key[id_key] = _mask_key(id_key)
        masked_of[key] = masked
    return masked_of


def _group(messages: Sequence[object]) -> _Grouping:
    keys = _keys(messages)
    masked_of = _masked(keys)
    skeleton_of: dict[str, str] = {}
    variants: defaultdict[str, list[str]] = defaultdict(list)  # skeleton -> masked variants
    for masked in masked_of.values():
        if masked not in skeleton_of:
            skel = _skeleton(masked)
            skeleton_of[masked] = skel
            variants[skel].append(masked)
    merged = _tolerate(variants)
    canonical_of = {skel: merged.get(skel, skel) for skel in variants}
    members: defaultdict[str, list[str]] = defaultdict(list)
    for skel, canonical in canonical_of.items():
        members[canonical].extend(variants[skel])
    id_of = {c: _signature_id(c) for c in members}
    templates = {id_of[c]: _display(c, m) for c, m in members.items()}
    id_of_key = {k: id_of[canonical_of[skeleton_of[m]]] for k, m in masked_of.items()}
    return _Grouping(list(map(id_of_key.__getitem__, keys)), templates)


def signature_ids(messages: Sequence[str]) -> list[str]:
    """Return one signature id per message, in order.

    Parameters
    ----------
    messages
        Log messages (the message part of each line, without timestamp and
        level prefixes). ``None``/NaN count as empty messages.

    Returns
    -------
    list of str
        A 10-character hex id per message; equal ids mean the same signature.
        The id is a hash of the canonical template, so it is the same in every
        call as long as the tolerance step (which depends on the batch) does not
        merge that template with others.

    Examples
    --------
    >>> a, b, c = signature_ids(["user 17 logged in", "user 4711 logged in", "disk full"])
    >>> a == b != c
    True
    """
    if not isinstance(messages, list | tuple):
        messages = list(messages)
    return _group(messages).ids


# -- frame API ----------------------------------------------------------------------


def _timestamp(value: object, what: str) -> pd.Timestamp:
    import pandas as pd

    from ..core.time import parse_time

    return pd.Timestamp(parse_time(value, field=what))


def _window(value: object, what: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """A ``(start, end)`` pair (or an object with ``start``/``end``) as UTC Timestamps."""
    if value is None:
        return None
    if hasattr(value, "start") and hasattr(value, "end"):
        value = (value.start, value.end)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidInput(f"{what}: expected a (start, end) pair of timestamps, got {value!r}")
    start, end = _timestamp(value[0], f"{what} start"), _timestamp(value[1], f"{what} end")
    if not start < end:
        raise InvalidInput(f"{what}: start {start} is not before end {end}")
    return start, end


_REQUIRED = ("time", "pod", "level", "message", "raw")


def _checked_logs(logs: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(logs, pd.DataFrame):
        raise InvalidInput(f"logs: expected a DataFrame, got {type(logs).__name__}")
    missing = [c for c in _REQUIRED if c not in logs.columns]
    if missing:
        raise InvalidInput(
            f"logs frame is missing columns {missing}; it needs {list(_REQUIRED)} "
            "(the 'logs' contract in incident_lib.core.schema)"
        )
    time = logs["time"]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise InvalidInput(
            f"logs: column 'time' must be timezone-aware datetimes (UTC), got {time.dtype}"
        )
    frame = logs[list(_REQUIRED)].reset_index(drop=True)
    frame["time"] = frame["time"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return frame


def _minutes(window: tuple[pd.Timestamp, pd.Timestamp]) -> float:
    return (window[1] - window[0]).total_seconds() / 60.0


def _empty_signatures() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {c: pd.Series(dtype=d) for c, d in _SIGNATURE_DTYPES.items()}, columns=SIGNATURE_COLUMNS
    )


def _pod_names(pods: pd.Series) -> str:
    names = sorted({p for p in pods if isinstance(p, str) and p})
    if len(names) <= POD_NAMES_CAP:
        return ", ".join(names)
    return f"{', '.join(names[:POD_NAMES_CAP])} (+{len(names) - POD_NAMES_CAP} more)"


def signatures(
    logs: pd.DataFrame,
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    baseline: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    levels: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Group log events into signatures and compare the incident window with a baseline.

    Parameters
    ----------
    logs
        A frame meeting the ``logs`` contract: ``time`` (``datetime64[ns, UTC]``),
        ``pod``, ``container``, ``level`` (lower case), ``message``, ``raw``
        (``container`` is not needed).
    window
        The incident window ``[start, end)`` (timezone-aware; an
        :class:`incident_lib.core.time.Window` works too). None: from the first to
        the last event that is not in ``baseline`` (at least one minute long).
    baseline
        The baseline window ``[start, end)``. None: the window of the same length
        just before ``window``; no baseline when ``window`` is None as well. When
        ``logs`` does not cover the baseline, every signature looks new.
    levels
        Keep only events with these levels (compared in lower case), e.g.
        ``("error", "critical")``; a single string is one level. None: all levels.

    Returns
    -------
    pandas.DataFrame
        One row per signature seen in the window, columns :data:`SIGNATURE_COLUMNS`:

        - ``signature``: stable id (hash of the canonical template),
        - ``template``: the masked template,
        - ``count``: events in the window,
        - ``level``: the most severe level seen in the window (fatal/critical >
          error > warning > notice > info > debug > trace > anything else),
        - ``first_seen``, ``last_seen``: first and last event in the window,
        - ``pods``: distinct pods in the window; ``pod_names`` the first
          :data:`POD_NAMES_CAP` of them sorted, comma-joined, ``(+N more)``,
        - ``example``: the ``raw`` line (``message`` when ``raw`` is empty) of
          the first event in the window, passed through
          :func:`incident_lib.infra.redact.redact`,
        - ``baseline_count``: events in the baseline window,
        - ``rate_change``: events per minute in the window divided by events
          per minute in the baseline; ``inf`` when the baseline has none, NaN
          without a baseline window,
        - ``is_new``: the baseline rate is at most :data:`NEW_RATE_RATIO` (10 %)
          of the window rate, which includes "absent from the baseline";
          always False without a baseline window.

        Sorted new signatures first, then by ``count`` descending (then
        ``first_seen``). No events: an empty frame with the same columns.

    Raises
    ------
    InvalidInput
        A missing column, a ``time`` column without timezone, a malformed or
        naive window.

    Notes
    -----
    Lines in the window and in the baseline are grouped together in one call of
    the grouping (see the module documentation), so their ids agree.
    """
    import numpy as np
    import pandas as pd

    from ..infra.redact import redact

    frame = _checked_logs(logs)
    win = _window(window, "window")
    base = _window(baseline, "baseline")
    if isinstance(levels, str):
        levels = (levels,)
    if levels is not None:
        wanted = {str(level).lower() for level in levels}
        frame = frame[frame["level"].str.lower().isin(wanted)]
    if frame.empty:
        return _empty_signatures()
    if win is None:
        times = frame["time"]
        if base is not None:
            times = times[(times < base[0]) | (times >= base[1])]
        if times.empty:
            return _empty_signatures()
        start = times.min()
        win = (start, max(times.max() + pd.Timedelta(1, "ns"), start + pd.Timedelta(1, "min")))
    elif base is None:
        base = (win[0] - (win[1] - win[0]), win[0])

    time = frame["time"]
    in_win = ((time >= win[0]) & (time < win[1])).to_numpy()
    in_base = (
        ((time >= base[0]) & (time < base[1])).to_numpy()
        if base is not None
        else np.zeros(len(frame), dtype=bool)
    )
    rows = frame[in_win | in_base].sort_values("time", kind="stable")
    if not in_win.any():
        return _empty_signatures()
    grouping = _group(rows["message"].tolist())
    rows = rows.assign(signature=grouping.ids)
    current = rows[((rows["time"] >= win[0]) & (rows["time"] < win[1])).to_numpy()]

    by_sig = current.groupby("signature", sort=False)
    out = by_sig.agg(
        count=("time", "size"),
        first_seen=("time", "min"),
        last_seen=("time", "max"),
        pods=("pod", "nunique"),
    )
    out["pod_names"] = by_sig["pod"].agg(_pod_names)
    rank = current["level"].str.lower().map(_SEVERITY).fillna(-1)
    most_severe = rank.groupby(current["signature"]).idxmax()  # signature -> row label
    out["level"] = pd.Series(current["level"].loc[most_severe].to_numpy(), most_severe.index)
    first = current.drop_duplicates("signature").set_index("signature")
    example = first["raw"].where(first["raw"].fillna("") != "", first["message"]).fillna("")
    out["example"] = example.map(lambda text: redact(str(text)))
    out["template"] = out.index.map(grouping.templates)

    if base is not None:
        in_base_rows = ((rows["time"] >= base[0]) & (rows["time"] < base[1])).to_numpy()
        base_counts = rows[in_base_rows].groupby("signature").size()
        out["baseline_count"] = base_counts.reindex(out.index, fill_value=0).astype("int64")
        rate = out["count"] / _minutes(win)
        base_rate = out["baseline_count"] / _minutes(base)
        with np.errstate(divide="ignore"):
            out["rate_change"] = np.where(base_rate > 0, rate / base_rate, np.inf)
        out["is_new"] = base_rate <= NEW_RATE_RATIO * rate
    else:
        out["baseline_count"] = 0
        out["rate_change"] = np.nan
        out["is_new"] = False

    out = out.reset_index().sort_values(
        ["is_new", "count", "first_seen", "signature"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    out = out[list(SIGNATURE_COLUMNS)].reset_index(drop=True)
    return out.astype(_SIGNATURE_DTYPES)


def _matcher(templates: dict[str, str]) -> Callable[[str], str | None]:
    """Map a message's canonical template to the signature (of ``templates``) it belongs to."""
    exact: dict[str, str] = {}
    patterns: defaultdict[int, list[tuple[int, list[str], str]]] = defaultdict(list)
    for sig, template in templates.items():
        canonical = _skeleton(" ".join(str(template).split()))
        exact.setdefault(canonical, sig)
        toks = canonical.split(" ")
        wild = sum(t == "<*>" for t in toks)
        patterns[len(toks)].append((wild, toks, sig))
    for candidates in patterns.values():
        candidates.sort(key=lambda c: c[0])

    @functools.cache
    def match(canonical: str) -> str | None:
        if canonical in exact:
            return exact[canonical]
        toks = canonical.split(" ")
        for _, pattern, sig in patterns.get(len(toks), ()):
            if all(p == "<*>" or p == t for p, t in zip(pattern, toks, strict=True)):
                return sig
        return None

    return match


def signature_timeseries(
    logs: pd.DataFrame,
    signature_frame: pd.DataFrame,
    *,
    freq: str = "1min",
    top: int | None = 5,
) -> pd.DataFrame:
    """Events per time bin of the top signatures, long format, for charting.

    Parameters
    ----------
    logs
        The ``logs`` frame (as for :func:`signatures`); filter it first (levels,
        time range) to chart only part of it.
    signature_frame
        A frame from :func:`signatures`; its first ``top`` rows are charted, in
        its order (new ones first, then by count): sort or filter it to choose.
    freq
        Bin width, a pandas frequency string (``"1min"``, ``"5min"``, ``"1h"``).
    top
        How many signatures; None for all rows of ``signature_frame``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIMESERIES_COLUMNS`: ``time`` (bin start, UTC),
        ``signature``, ``template``, ``count`` (``int64``). Every chosen
        signature has a row for every bin from the first to the last event of
        ``logs`` (zeros included), so lines in a chart do not skip gaps. Events
        are matched to a signature by their template, the same way
        :func:`signatures` grouped them.

    Raises
    ------
    InvalidInput
        A malformed ``logs`` frame, a ``signature_frame`` without ``signature``
        and ``template`` columns, a negative ``top`` or an unknown ``freq``.
    """
    import pandas as pd

    frame = _checked_logs(logs)
    if not {"signature", "template"} <= set(signature_frame.columns):
        raise InvalidInput("signature_frame needs 'signature' and 'template' columns")
    if top is not None and top < 0:
        raise InvalidInput(f"top must be >= 0 or None, got {top}")
    try:
        pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise InvalidInput(f"freq: {freq!r} is not a pandas frequency such as '1min'") from None
    chosen = signature_frame if top is None else signature_frame.head(top)
    templates = dict(zip(chosen["signature"], chosen["template"], strict=True))
    empty = pd.DataFrame(
        {
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "signature": pd.Series(dtype="str"),
            "template": pd.Series(dtype="str"),
            "count": pd.Series(dtype="int64"),
        }
    )
    if frame.empty or not templates:
        return empty

    match = _matcher(templates)
    keys = _keys(frame["message"].tolist())
    sig_of = {k: match(_skeleton(m)) for k, m in _masked(keys).items()}
    sig = pd.Series(list(map(sig_of.__getitem__, keys)), index=frame.index, dtype="str")
    bins = frame["time"].dt.floor(freq)
    grid = pd.date_range(bins.min(), bins.max(), freq=freq)
    hit = sig.notna()
    counts = (
        pd.DataFrame({"time": bins[hit], "signature": sig[hit]})
        .groupby(["signature", "time"])
        .size()
    )
    index = pd.MultiIndex.from_product([list(templates), grid], names=["signature", "time"])
    counts = counts.reindex(index, fill_value=0)
    out = counts.rename("count").reset_index()
    out["template"] = out["signature"].map(templates)
    out = out[list(TIMESERIES_COLUMNS)]
    return out.astype(
        {"time": "datetime64[ns, UTC]", "signature": "str", "template": "str", "count": "int64"}
    )


def signature_findings(
    table: pd.DataFrame, changes: pd.DataFrame, *, after: str = "30min", ref: str = ""
) -> list[Finding]:
    """Findings for new error signatures, naming a change they appeared after.

    Parameters
    ----------
    table
        A :func:`signatures` frame (error levels only, typically).
    changes
        Change markers with ``time``, ``label`` and ``kind`` (e.g. from
        :func:`incident_lib.analysis.changes.deploy_markers`); a new signature
        whose first event falls within ``after`` of a deploy or config change
        is reported as appearing after it (high); other new ones are medium.
    """
    import pandas as pd

    out: list[Finding] = []
    causes = changes[changes["kind"].isin(["deploy", "config"])] if len(changes) else changes
    for row in table[table["is_new"]].head(5).itertuples():
        preceding = causes[
            (causes["time"] <= row.first_seen)
            & (causes["time"] >= row.first_seen - pd.Timedelta(after))
        ]
        base = (
            f"{row.count} events on {row.pods} pod(s) from {row.first_seen:%H:%M} to "
            f"{row.last_seen:%H:%M} UTC, none in the baseline"
            if not row.baseline_count
            else f"{row.count} events on {row.pods} pod(s), "
            f"{row.rate_change:.0f}× the baseline rate"
        )
        if len(preceding):
            change = preceding.iloc[-1]
            minutes = (row.first_seen - change["time"]) / pd.Timedelta(minutes=1)
            out.append(
                Finding(
                    title=f"New error after {change['label']}: {row.template[:90]}",
                    severity="high",
                    summary=f"{base}; first seen {minutes:.0f} min after {change['label']} "
                    f"({change['time']:%H:%M} UTC).",
                    ref=ref,
                )
            )
        else:
            out.append(
                Finding(
                    title=f"New error signature: {row.template[:90]}",
                    severity="medium",
                    summary=base + ".",
                    ref=ref,
                )
            )
    return out
