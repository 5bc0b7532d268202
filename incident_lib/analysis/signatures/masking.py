"""Masking: replace the variable parts of a log message by placeholders.

This is the first half of turning a message into a signature (see
:mod:`incident_lib.analysis.signatures`); :mod:`.grouping` groups the masked
templates.

1. **Headline.** A multi-line message (a stack trace folded into its event) is
   reduced to its first line; for a Python traceback the final exception line
   (``KeyError: 'x'``) is appended, so different exceptions stay apart.
2. **Masking** (:func:`mask`). One combined regular expression replaces the
   variable parts, leftmost match first, with these placeholders:

   ==============  =======================================================
   ``<TS>``        timestamps, dates and times (``2026-11-26T14:02:00Z``,
                   ``14:02:00.123``, ``Nov 26 14:02:00``, ``Sun Jul 10 03:55:21 2005``,
                   ``26/11/2026``)
   ``<UUID>``      UUIDs
   ``<URL>``       URLs (``scheme://...``)
   ``<EMAIL>``     e-mail addresses
   ``<IP>``        IPv4 (with an optional ``:port``) and IPv6 addresses
   ``<HOST>``      host names (``api.github.com:443``, ``mail.cs.uni.pl``): dotted
                   labels ending in a common top-level domain (``.com``, ``.org``,
                   ``.io``, ...) or, after two dots or more, a two-letter one; an
                   optional ``:port``. Cluster-internal names (``db.svc.cluster.local``)
                   stay
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
                   differ (see :mod:`.grouping`)
   ==============  =======================================================

   Every digit of a message ends up inside a placeholder. Masking runs after
   each ASCII digit is replaced by ``0``, so the result depends only on *where*
   the digits are, never on their values (``5x1f`` counts as ``0x1f``).
   Comma-separated lists of one placeholder (``<IP>,<IP>``) and runs of the
   same masked token (``blk_<NUM> blk_<NUM> ...``) collapse to one.

   Only the first :data:`MAX_CHARS` characters of a headline are looked at
   (cut at the last space within them, if any): two lines that differ only
   beyond that share a signature, and the cost per line stays linear in its
   length whatever it logs (request bodies, dumps).

Speed: a batch is masked once per distinct *key*: the headline (bounded as
above) with each ASCII digit replaced by ``0`` (:func:`_keys`, one
``str.translate`` and one ``split`` over the whole batch), then with each UUID,
long hex id and ``0x`` number replaced by a canonical one of the same shape
(:func:`_masked`; neither changes the mask). In a batch of :data:`_VECTOR_MIN` lines or more whose
lines rarely repeat (an id on every line), the ids are canonicalised over the
whole batch at once, before the lines are deduplicated
(:func:`~._vector.canonical_ids`, a few numpy passes over the bytes instead of a
regular expression per line), so a request id or a trace id per line no longer
defeats the per-key cache. Such a batch (single-line messages) is keyed in one UTF-8
buffer (:func:`_batch_codes`): digits and ids are replaced in its bytes, Arrow
deduplicates the lines (``dictionary_encode``), only the distinct keys become Python
strings, and each line keeps the index of its key (the signature ids are mapped back
with one numpy ``take``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

from ._vector import PAD as _PAD

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from numpy.typing import NDArray

__all__ = ["MAX_CHARS", "mask"]

#: a headline is cut to at most this many characters (at its last space within them)
MAX_CHARS = 1024
# a batch whose lines average more than this many characters is bounded line by line first
_LONG_BATCH = 256
# from this many lines on, ids are canonicalised over the whole batch at once (numpy)
_VECTOR_MIN = 1024

_DIGITS = str.maketrans("0123456789", "0000000000")
_DIGIT_BYTES = bytes.maketrans(b"0123456789", b"0000000000")
_TRACEBACK = "Traceback (most recent call last)"


_HEXC = "[0-9a-fA-F]"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]{0,6}\.?"
# an optional weekday before a month ("Sun Jul 10 03:55:21 2005", C's ctime() format)
_WEEKDAY = r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]{0,6},?\s{1,2})?"
# a host name: dot-separated labels ending in a common top-level domain (or a two-letter
# country code after at least two dots), with an optional ":port"; Java/Python dotted names
# ("org.apache.Foo", "urllib3.connectionpool") do not end in one
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# (not cluster-internal suffixes such as ".svc.cluster.local": the few backends a
# service calls stay visible and apart)
_TLD = r"(?:com|net|org|edu|gov|mil|int|io|info|biz)"
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
        rf"|{_WEEKDAY}{_MONTH}\s{{1,2}}\d{{1,2}}(?:,?\s\d{{4}})?(?:\s{_CLOCK}{_ZONE})?"
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
        "HOST",
        rf"(?:(?:{_LABEL}\.)+{_TLD}|(?:{_LABEL}\.){{2,}}[a-z]{{2}})(?![.-]?[A-Za-z0-9])(?::\d{{1,5}})?",
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
    r"|Mon|Tue|Wed|Thu|Fri|Sat|Sun|[A-Za-z0-9-]+\.[A-Za-z0-9]"
)
_BRANCHES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"(?=\d)", ("TS", "UUID", "EMAIL", "IP", "HOST", "HEX", "DUR", "SIZE", "NUM", "W")),
    (
        rf"(?=[A-Za-z])(?={_LETTER_CAN_START})",
        ("TS", "UUID", "URL", "EMAIL", "IP", "HOST", "PATH", "HEX", "W"),
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
    # a UUID, a run of 8+ hex characters with a letter and a digit, or a 0x number; it
    # starts with a character class (and checks what precedes it after), so the engine
    # skips most positions quickly
    ids = (
        rf"{_HEXC}(?<![A-Za-z0-9].)(?:{_HEXC}{{7}}-{_HEXC}{{4}}-{_HEXC}{{4}}-{_HEXC}{{4}}-{_HEXC}{{12}}"
        rf"|(?:(?<=[a-fA-F])(?=[0-9a-fA-F]*\d)|(?<=\d)(?=[0-9a-fA-F]*[a-fA-F])){_HEXC}{{7,}}"
        rf"|(?<=0)[xX]{_HEXC}+){end}"
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
# The same holds for the hex digits of a 0x number (``0x1f``: each one becomes ``0``, so
# ``0x00``): it is matched as a whole by <HEX>, or swallowed by an earlier mask whose
# character classes treat hex letters and digits alike (no mask can start after the x).
_CANONICAL_UUID = "00000000-0000-0000-0000-000000000000"


def _canonical_id(match: re.Match[str]) -> str:
    text = match.group()
    if "-" in text:
        return _CANONICAL_UUID
    if text[1] in "xX":  # a 0x number: its hex digits as 0
        return text[:2] + "0" * (len(text) - 2)
    return "0" * (len(text) - 1) + "a"


def _bounded(headline: str) -> str:
    """The first :data:`MAX_CHARS` characters of a headline, cut at a space when possible."""
    if len(headline) <= MAX_CHARS:
        return headline
    cut = headline.rfind(" ", 0, MAX_CHARS + 1)
    return headline[: cut if cut > 0 else MAX_CHARS]


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
    return _mask_key(_bounded(_headline(message)).translate(_DIGITS))


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None or value != value:  # None, NaN, NA
        return ""
    return str(value)


def _keys(messages: Sequence[object]) -> list[str]:
    """Headline of each message with its ASCII digits replaced by ``0``."""
    return _batch_keys(messages)[0]


class _Batch(NamedTuple):
    """The keys of a batch: ``keys`` per line, or distinct with a code per line."""

    keys: list[str]
    # per line, the index of its key in ``keys`` (distinct keys, in order of first
    # occurrence); None when ``keys`` has one key per line
    codes: NDArray[np.int32] | None
    canonical: bool  # whether the ids of the keys are canonical already


def _batch_keys(messages: Sequence[object]) -> tuple[list[str], bool]:
    """:func:`_keys`, and whether their ids are canonical already.

    In a batch of at least :data:`_VECTOR_MIN` lines whose first lines rarely
    repeat (an id on every line), the ids of every line are canonicalised at once
    (:func:`~._vector.canonical_ids`), so lines that differ only in ids share a key.
    """
    keys, codes, canonical = _batch(messages)
    if codes is not None:
        import numpy as np

        keys = np.array(keys, dtype=object)[codes].tolist()
    return keys, canonical


def _batch(messages: Sequence[object] | pa.Array) -> _Batch:
    """The keys of :func:`_batch_keys`; distinct, with a code per line, in a big batch.

    A batch of at least :data:`_VECTOR_MIN` single-line messages of moderate length
    is keyed in one UTF-8 buffer (:func:`_batch_codes`); others line by line.
    ``messages`` may be an Arrow text array (a column read from a capture): its
    own UTF-8 bytes are that buffer, without a Python string per line.
    """
    if not isinstance(messages, Sequence):
        batch = _arrow_batch(messages)
        if batch is not None:
            return batch
        messages = messages.to_pylist()
    n = len(messages)
    if n == 0:
        return _Batch([], None, False)
    if n >= _VECTOR_MIN:
        # a newline before the first line and _PAD after the last (see _batch_codes)
        try:
            padded = "\n".join(chain(("",), messages, ("",) * _PAD))  # type: ignore[arg-type]
        except TypeError:
            messages = [_as_text(m) for m in messages]
            padded = "\n".join(chain(("",), messages, ("",) * _PAD))  # type: ignore[arg-type]
        if len(padded) <= _LONG_BATCH * n:
            batch = _batch_codes(padded, n)
            if batch is not None:
                return batch
        text = padded[1:-_PAD]
    else:
        try:
            text = "\n".join(messages)  # type: ignore[arg-type]
        except TypeError:
            messages = [_as_text(m) for m in messages]
            text = "\n".join(messages)  # type: ignore[arg-type]
    if text.count("\n") == n - 1:  # no multi-line message: one translate over the batch
        if len(text) > _LONG_BATCH * n:  # long lines: bound them before copying them twice
            text = "\n".join(map(_bounded, messages))
        text = text.translate(_DIGITS)  # (rebinding frees the joined text before the split)
        if n < _VECTOR_MIN or not _distinct_head(text):
            return _Batch(text.split("\n"), None, False)
        keys = _canonical_text(text).split("\n")
        if max(map(len, keys)) > MAX_CHARS:  # ids are canonicalised after bounding a line
            translated = text.split("\n")
            for i, key in enumerate(keys):
                if len(key) > MAX_CHARS:
                    keys[i] = _canonical_keys([_bounded(translated[i])])[0]
        return _Batch(keys, None, True)
    keys = [_bounded(_headline(m)).translate(_DIGITS) for m in messages]  # type: ignore[arg-type]
    if n < _VECTOR_MIN or not _distinct_head("\n".join(keys[:_VECTOR_MIN])):
        return _Batch(keys, None, False)
    return _Batch(_canonical_text("\n".join(keys)).split("\n"), None, True)


def _arrow_batch(array: pa.Array | pa.ChunkedArray) -> _Batch | None:
    """:func:`_batch_codes` over the UTF-8 bytes of an Arrow text array.

    The same keys as the ``str`` path for the same lines; None when that path
    would not take them in one buffer (fewer than :data:`_VECTOR_MIN` lines, a
    missing value, long lines, a message spanning lines).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(array)
    text = array.type
    if not (pa.types.is_string(text) or pa.types.is_large_string(text)):
        return None
    if n < _VECTOR_MIN or array.null_count:
        return None
    chars = pc.sum(pc.utf8_length(array)).as_py() or 0
    if chars + n + _PAD > _LONG_BATCH * n:  # (the length of the str path's padded text)
        return None
    # each line followed by its newline, after an empty first line and before _PAD - 1
    # empty ones: the padded text of the str path, in one buffer (see _batch_codes);
    # 64-bit offsets, whatever the batch's size (the data is not copied for that)
    wide = pa.large_string()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    lines = pc.binary_join_element_wise(
        pa.concat_arrays(
            [pa.array([""], wide), array.cast(wide), pa.array([""] * (_PAD - 1), wide)]
        ),
        pa.scalar("", wide),
        pa.scalar("\n", wide),
    )
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    buf = bytes(memoryview(lines.buffers()[2])[first:last]).translate(_DIGIT_BYTES)
    del lines
    return _batch_codes_of(buf, n)


def _batch_codes(padded: str, n: int) -> _Batch | None:
    """The keys of the ``n`` lines of ``padded``, distinct, and a code per line.

    ``padded``: a newline, the lines joined by newlines, then :data:`_PAD`
    newlines. The keys are those the line-by-line path of :func:`_batch` gives,
    made in one UTF-8 buffer: digits replaced by ``0`` (one ``bytes.translate``),
    ids canonicalised in place when :func:`_distinct_head` says so, the lines
    deduplicated by Arrow (``dictionary_encode``), and only the distinct keys
    decoded into Python strings. None when a message spans lines.
    """
    return _batch_codes_of(padded.encode("utf-8", "surrogatepass").translate(_DIGIT_BYTES), n)


def _batch_codes_of(buf: bytes | bytearray, n: int) -> _Batch | None:
    """:func:`_batch_codes` of ``padded`` encoded, its digits already ``0``."""
    import codecs

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from ._vector import canonicalise

    data = np.frombuffer(buf, dtype=np.uint8)
    size = len(buf) - 1 - _PAD
    # the newline before each line and the one after the last (the first of _PAD)
    ends = np.flatnonzero(data[: size + 2] == 10)
    if ends.size != n + 1:
        return None
    decode = codecs.utf_8_decode
    head: str = decode(memoryview(buf)[1 : int(ends[_VECTOR_MIN])], "surrogatepass", True)[0]
    canonical = _distinct_head(head)
    if canonical:
        long = np.flatnonzero(np.diff(ends) > MAX_CHARS + 1)  # (bytes: a superset)
        before = {int(i): bytes(buf[ends[i] + 1 : ends[i + 1]]) for i in long}
        buf = buf if isinstance(buf, bytearray) else bytearray(buf)  # (ours: changed in place)
        canonicalise(buf)
        fixed: list[tuple[int, bytes]] = []
        for i, line in before.items():
            if len(decode(buf[ends[i] + 1 : ends[i + 1]], "surrogatepass", True)[0]) > MAX_CHARS:
                # ids are canonicalised after bounding a line
                key = _canonical_keys([_bounded(decode(line, "surrogatepass", True)[0])])[0]
                fixed.append((i, key.encode("utf-8", "surrogatepass")))
        if fixed:
            out = bytearray()
            start = 0
            for i, key_bytes in fixed:
                out += buf[start : ends[i] + 1]
                out += key_bytes
                start = int(ends[i + 1])
            out += buf[start:]
            buf = out
            data = np.frombuffer(buf, dtype=np.uint8)
            ends = np.flatnonzero(data[: len(buf) - _PAD + 1] == 10)
    # each line with its newline as one value (the offsets are the starts of the lines)
    offsets = pa.py_buffer((ends + 1).astype(np.int64))
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, offsets, pa.py_buffer(buf)]
    )
    encoded = pc.dictionary_encode(lines)
    distinct = encoded.dictionary
    bounds = np.frombuffer(distinct.buffers()[1], dtype=np.int64)
    lo, hi = int(bounds[distinct.offset]), int(bounds[distinct.offset + len(distinct)])
    text: str = decode(memoryview(distinct.buffers()[2])[lo:hi], "surrogatepass", True)[0]
    keys = text.split("\n")
    keys.pop()  # (after the last newline)
    codes: NDArray[np.int32] = encoded.indices.to_numpy()
    return _Batch(keys, codes, canonical)


def _distinct_head(text: str) -> bool:
    """Whether canonicalising ids makes many of the first lines of ``text`` equal.

    True when the first :data:`_VECTOR_MIN` lines have a quarter fewer distinct
    keys with their ids canonicalised (an id on every line); otherwise the ids are
    canonicalised per distinct key later (:func:`_masked`), which costs less.
    """
    head = text.split("\n", _VECTOR_MIN)[:_VECTOR_MIN]
    distinct = len(set(head))
    if distinct < 64:
        return False
    return len(set(_canonical_keys(head))) <= distinct * 3 // 4


def _canonical_text(text: str) -> str:
    """Ids of every line of ``text`` canonicalised at once (see :func:`_masked`)."""
    from ._vector import canonical_ids

    return canonical_ids(text)


def _canonical_keys(keys: list[str]) -> list[str]:
    """Each key with its UUIDs and hex ids canonicalised (see :func:`_masked`)."""
    if len(keys) >= _VECTOR_MIN:
        text = "\n".join(keys)
        if text.count("\n") == len(keys) - 1:
            return _canonical_text(text).split("\n")
    sub = _rx().ids.sub
    return [sub(_canonical_id, key) for key in keys]


def _bounded_keys(keys: list[str]) -> list[str]:
    """The keys bounded to :data:`MAX_CHARS` (the same list when all are short)."""
    if len(keys) < _VECTOR_MIN:
        if keys and max(map(len, keys)) > MAX_CHARS:
            return [_bounded(key) for key in keys]
        return keys
    import numpy as np

    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    long = np.flatnonzero(lengths > MAX_CHARS)
    if long.size == 0:
        return keys
    bounded = list(keys)
    for i in long.tolist():
        bounded[i] = _bounded(keys[i])
    return bounded


def _masked(keys: Iterable[str], *, canonical: bool = False) -> dict[str, str]:
    """Masked template of each distinct key, masking each distinct id-normalised key once.

    ``canonical``: the keys come from :func:`_keys` of a batch of at least
    :data:`_VECTOR_MIN` lines, so their ids are canonical already.
    """
    masked_of = dict.fromkeys(keys, "")  # each value is set below
    distinct = _bounded_keys(list(masked_of))
    id_keys = distinct if canonical else _canonical_keys(distinct)
    by_id_key: dict[str, str] = {}
    for key, id_key in zip(masked_of, id_keys, strict=True):
        masked = by_id_key.get(id_key)
        if masked is None:
            masked = by_id_key[id_key] = _mask_key(id_key)
        masked_of[key] = masked
    return masked_of
