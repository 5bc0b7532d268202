"""Whole-batch (numpy / Arrow) steps of the signature core, for batches with an id per line.

Two steps that would otherwise cost Python ``re`` work on every line:

- :func:`canonical_ids`: in the text of a whole batch, replace each UUID by the
  canonical one and each run of 8+ hex characters with a letter and a digit by
  ``0...0a`` of the same length (what :mod:`.masking` does line by line with
  ``_rx().ids``; the mask of a line does not change), with a few numpy passes
  over the bytes;
- :func:`mark_variable_words`: in distinct keys, replace a plain word by a marker
  where at least ``min_values`` different words occur at that position among keys
  equal everywhere else (what the tolerance step of :mod:`.grouping` would merge
  after masking each key), with Arrow tokenisation and numpy hashing.

numpy and pyarrow are imported inside the functions (``import incident_lib`` stays light).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MARKER", "PAD", "canonical_ids", "canonicalise", "mark_variable_words", "padded"]

#: stands for a variable word in a marked key; masking leaves it alone (not a letter,
#: digit, space or quote)
MARKER = "\x1a"

# A word whose replacement could change how its neighbours are masked: a unit after a
# number (<DUR>, <SIZE>), a month or weekday name or a zone in a timestamp (<TS>).
_CONTEXT_WORD = re.compile(
    r"(?:msecs?|millis|milliseconds?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?"
    r"|ns|us|ms|s|m|h|d|[KMGTPE]i?B|[KMGTPE]i|[kKMGT]b|B|bytes?|Z|UTC|GMT"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]{0,6})"
)
_CANONICAL_UUID = b"00000000-0000-0000-0000-000000000000"
_EIGHT_HEX = 0x0101010101010101
_FOUR_HEX = 0x01010101
# the low bits of a bucket's hash that index the table of big buckets
_TABLE = (1 << 20) - 1
# runs of at most this many different lengths are written one length at a time
_LENGTHS = 16
PAD = 72  # bytes after the text, so that every look past a run stays in the buffer
# one class byte per character: bit 0 hex digit, bit 1 digit, bit 2 hex letter, bit 3 letter
# or digit (ASCII)
_CLASS = bytes(
    (c in b"0123456789abcdefABCDEF")
    | (48 <= c <= 57) << 1
    | (c in b"abcdefABCDEF") << 2
    | (c < 128 and chr(c).isalnum()) << 3
    for c in range(256)
)


def _run_ends(hexc: np.ndarray, eight: np.ndarray, start: np.ndarray) -> np.ndarray:
    """For each position in ``start`` (a hex character), the end of its run of hex characters.

    ``eight``: at each position, the 8 bytes of ``hexc`` from there as one number.
    """
    import numpy as np

    end = start + 1
    for step, ahead, flag in ((8, eight, _EIGHT_HEX), (1, hexc, True)):
        active = np.flatnonzero(ahead[end] == flag)
        while active.size:
            end[active] += step
            active = active[ahead[end[active]] == flag]
    return end


def canonical_ids(text: str) -> str:
    """Canonicalise UUIDs and hex ids in ``text`` exactly as ``_rx().ids.sub`` does.

    Parameters
    ----------
    text
        Lines joined by newlines (digits already replaced by ``0`` or not).

    Returns
    -------
    str
        The text with every UUID (bounded by non-alphanumeric characters) replaced
        by ``00000000-0000-0000-0000-000000000000``, every other run of 8+ hex
        characters with a letter and a digit, bounded the same way, by ``0`` times
        its length minus one followed by ``a``, and the hex digits of every ``0x``
        number (``0x1f``, bounded the same way) by ``0``.
    """
    import codecs

    # (a byte before the first line, and bytes after the last)
    buf = padded(text)
    size = len(buf) - 1 - PAD
    if not canonicalise(buf):
        return text
    out: str = codecs.utf_8_decode(memoryview(buf)[1 : size + 1], "surrogatepass", True)[0]
    return out


def padded(text: str) -> bytearray:
    """``text`` as UTF-8 between a newline before it and :data:`PAD` newlines after it."""
    return bytearray("\n" + text + "\n" * PAD, "utf-8", "surrogatepass")


def canonicalise(buf: bytearray) -> bool:
    """:func:`canonical_ids` in place, on the UTF-8 bytes of a text made by :func:`padded`.

    Parameters
    ----------
    buf
        A newline, the UTF-8 text, then :data:`PAD` newlines; changed in place
        (the canonical runs have the lengths of the runs they replace).

    Returns
    -------
    bool
        Whether anything changed.
    """
    import numpy as np

    cls = np.frombuffer(buf.translate(_CLASS), dtype=np.uint8)
    hex_byte = cls & 1
    hexc = hex_byte.view(np.bool_)
    alnum = (cls >> 3).view(np.bool_)
    data = np.frombuffer(buf, dtype=np.uint8)
    # the 8 bytes from each position as one number: 8 hex characters when it is _EIGHT_HEX
    eight = np.ndarray((hex_byte.size - 7,), dtype="<u8", buffer=hex_byte, strides=(1,))
    # "0x" numbers: a 0 starting a word, then x, then hex digits (then not a letter or digit)
    ox = np.flatnonzero((data[2:-1] | 32) == 120) + 1  # (an x is rarer than a 0)
    ox = ox[(data[ox] == 48) & ~alnum[ox - 1] & hexc[ox + 2]] + 2
    ox_end = _run_ends(hexc, eight, ox)
    keep = ~alnum[ox_end]
    ox, ox_end = ox[keep], ox_end[keep]
    # where a run of 8 or more hex characters starts a word (hex implies alphanumeric)
    starts = eight[1:] == _EIGHT_HEX
    starts &= ~alnum[: starts.size]
    cand = np.flatnonzero(starts) + 1
    end = _run_ends(hexc, eight, cand + 7)
    # a UUID (tried first): 8 hex, then -4-4-4-12 hex, then not a letter or digit
    uuid = (end - cand == 8) & (data[end] == 45)
    if uuid.any():
        at = cand[uuid]
        four = np.ndarray((hex_byte.size - 3,), dtype="<u4", buffer=hex_byte, strides=(1,))
        keep = (eight[at + 24] == _EIGHT_HEX) & (eight[at + 28] == _EIGHT_HEX) & ~alnum[at + 36]
        for j in (9, 14, 19):
            keep &= four[at + j] == _FOUR_HEX
        for j in (13, 18, 23):
            keep &= data[at + j] == 45
        uuid[uuid] = keep
    uuid_at = cand[uuid]
    # any other run of hex characters with a letter and a digit, not followed by a letter
    # or digit, and not the last group of a UUID
    run = ~uuid & ~alnum[end]
    if uuid_at.size:
        run[np.searchsorted(cand, uuid_at + 24)] = False  # (a candidate itself)
    s, e = cand[run], end[run]
    if s.size:
        kind = np.bitwise_or.reduceat(cls, np.column_stack((s, e)).ravel())[::2] & 6
        s, e = s[kind == 6], e[kind == 6]
    if s.size == 0 and uuid_at.size == 0 and ox.size == 0:
        return False
    # every character of those runs becomes 0 (the runs are apart: a start is a letter or
    # digit, an end is not)
    first, last = np.concatenate((s, ox)), np.concatenate((e, ox_end))
    lengths = last - first
    total = int(lengths.sum())
    sizes = np.unique(lengths)
    if sizes.size <= _LENGTHS:  # (ids of a few lengths: one fancy assignment per length)
        for size in sizes.tolist():
            if size:
                window = np.lib.stride_tricks.sliding_window_view(data, size, writeable=True)
                window[first[lengths == size]] = 48
    elif total * 16 > data.size:  # (many: one pass over the text)
        delta = np.zeros(data.size, dtype=np.int8)
        delta[first] = 1
        delta[last] = -1
        data[np.cumsum(delta, dtype=np.int8).view(np.bool_)] = 48
    elif total:
        offsets = np.cumsum(lengths) - lengths
        data[np.arange(total) + np.repeat(first - offsets, lengths)] = 48
    if s.size:
        data[e - 1] = 97
    if uuid_at.size:
        canonical = np.frombuffer(_CANONICAL_UUID, dtype=np.uint8)
        np.lib.stride_tricks.sliding_window_view(data, 36, writeable=True)[uuid_at] = canonical
    return True


def mark_variable_words(keys: Sequence[str], min_values: int) -> list[str] | None:
    """Replace plain words that vary among otherwise equal keys by :data:`MARKER`.

    Parameters
    ----------
    keys
        Distinct keys (headlines with digits and ids canonicalised).
    min_values
        A word is replaced when at least this many different words occur at its
        position (between single spaces) among keys that are equal everywhere else.
        Only words of letters that cannot change how their neighbours are masked
        count (not units, month or weekday names, zones).

    Returns
    -------
    list of str or None
        The keys, each with its varying words replaced (unchanged keys as given);
        None when nothing varies or a key already holds :data:`MARKER`.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(keys, type=pa.large_string())
    bounds = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    text = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[bounds[0] : bounds[-1]]
    if (text == ord(MARKER)).any():  # (a byte that UTF-8 uses for that character only)
        return None
    lists = pc.split_pattern(arr, " ")
    flat = lists.flatten()
    encoded = pc.dictionary_encode(flat)
    words = encoded.dictionary
    codes = encoded.indices.to_numpy().astype(np.uint64)
    plain = pc.and_(
        pc.match_substring_regex(words, "^[A-Za-z]+$"),
        pc.invert(pc.match_substring_regex(words, f"^(?:{_CONTEXT_WORD.pattern})$")),
    )
    candidate_word = plain.to_numpy(zero_copy_only=False)
    offsets = lists.offsets.to_numpy()
    counts = np.diff(offsets)
    line = np.repeat(np.arange(len(keys)), counts)
    position = np.arange(len(codes), dtype=np.uint64) - offsets[:-1][line].astype(np.uint64)
    with np.errstate(over="ignore"):
        h = (codes + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        h ^= (position + np.uint64(1)) * np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    whole = np.bitwise_xor.reduceat(h, offsets[:-1])
    candidate = np.flatnonzero(candidate_word[codes.astype(np.intp)])
    if candidate.size == 0:
        return None
    bucket = whole[line[candidate]] ^ h[candidate]
    # distinct words per bucket, counted among the buckets of min_values candidates or
    # more (few): each such bucket as a slot, the (slot, word) pairs sorted as one number
    ordered = np.sort(bucket)
    run_start = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    run_length = np.diff(np.append(run_start, ordered.size))
    big = ordered[run_start[run_length >= min_values]]
    if big.size == 0:
        return None
    # (a table of their low bits first: most candidates are in none of them)
    table = np.zeros(_TABLE + 1, dtype=bool)
    table[(big & np.uint64(_TABLE)).astype(np.intp)] = True
    maybe = np.flatnonzero(table[(bucket & np.uint64(_TABLE)).astype(np.intp)])
    slot = np.searchsorted(big, bucket[maybe])
    slot[slot == big.size] = 0
    hit = big[slot] == bucket[maybe]
    inside, slot = maybe[hit], slot[hit]
    pairs = np.sort((slot.astype(np.uint64) << np.uint64(32)) | codes[candidate[inside]])
    distinct = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    values = np.bincount((distinct >> np.uint64(32)).astype(np.intp), minlength=big.size)
    varying = values[slot] >= min_values
    if not varying.any():
        return None
    marked = np.zeros(len(codes), dtype=bool)
    marked[candidate[inside[varying]]] = True
    new_flat = pc.if_else(pa.array(marked), MARKER, flat)
    rebuilt = pc.binary_join(
        pa.LargeListArray.from_arrays(lists.offsets, new_flat), pa.scalar(" ", pa.large_string())
    )
    out: list[str] = rebuilt.to_pylist()
    return out
