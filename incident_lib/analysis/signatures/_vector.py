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

__all__ = ["MARKER", "canonical_ids", "mark_variable_words"]

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
_UUID_HEX = [*range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)]  # (after the 8)
_CANONICAL_UUID = b"00000000-0000-0000-0000-000000000000"
_UUID_DASH = (8, 13, 18, 23)
_PAD = 72  # bytes after the text, so that every look past a run stays in the buffer
_HEX = bytes(c in b"0123456789abcdefABCDEF" for c in range(256))
_ALNUM = bytes(c < 128 and chr(c).isalnum() for c in range(256))
# 1: digit, 2: hex letter (a run of both ORs to 3)
_KIND = bytes(1 if 48 <= c <= 57 else 2 if c in b"abcdefABCDEF" else 0 for c in range(256))


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
        by ``00000000-0000-0000-0000-000000000000`` and every other run of 8+ hex
        characters with a letter and a digit, bounded the same way, by ``0`` times
        its length minus one followed by ``a``.
    """
    import numpy as np

    raw = text.encode("utf-8", "surrogatepass")
    padded = b"\n" + raw + b"\n" * _PAD  # (a byte before the first line, and after the last)
    hexc = np.frombuffer(padded.translate(_HEX), dtype=np.bool_)
    alnum = np.frombuffer(padded.translate(_ALNUM), dtype=np.bool_)
    # where a run of hex characters starts a word (hex implies alphanumeric)
    cand = np.flatnonzero(hexc[1:] > alnum[:-1]) + 1
    cand = cand[hexc[cand + 7]]  # (most words are shorter: look at the 8th character first)
    for j in range(1, 7):
        cand = cand[hexc[cand + j]]
    if cand.size == 0:
        return text
    end = cand + 8
    active = np.flatnonzero(hexc[end])
    while active.size:
        end[active] += 1
        active = active[hexc[end[active]]]
    data = np.frombuffer(padded, dtype=np.uint8)
    # a UUID (tried first): 8 hex, then -4-4-4-12 hex, then not a letter or digit
    uuid = (end - cand == 8) & (data[end] == 45)
    if uuid.any():
        at = cand[uuid]
        window = np.lib.stride_tricks.sliding_window_view(hexc, 37)[at]
        keep = window[:, _UUID_HEX].all(axis=1) & ~alnum[at + 36]
        for j in _UUID_DASH[1:]:
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
        kind = np.frombuffer(padded.translate(_KIND), dtype=np.uint8)
        both = np.bitwise_or.reduceat(kind, np.column_stack((s, e)).ravel())[::2] == 3
        s, e = s[both], e[both]
    if s.size == 0 and uuid_at.size == 0:
        return text
    data = np.frombuffer(bytearray(padded), dtype=np.uint8)
    if s.size:
        lengths = e - s
        index = np.arange(lengths.sum()) + np.repeat(s - (np.cumsum(lengths) - lengths), lengths)
        data[index] = 48
        data[e - 1] = 97
    if uuid_at.size:
        canonical = np.frombuffer(_CANONICAL_UUID, dtype=np.uint8)
        np.lib.stride_tricks.sliding_window_view(data, 36, writeable=True)[uuid_at] = canonical
    return data[1 : len(raw) + 1].tobytes().decode("utf-8", "surrogatepass")


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
    if pc.any(pc.match_substring(arr, MARKER)).as_py():
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
    code = codes[candidate]
    # distinct words per bucket: sort by (bucket, word), count the (bucket, word) changes
    order = np.lexsort((code, bucket))
    bucket, code = bucket[order], code[order]
    new_bucket = np.ones(bucket.size, dtype=bool)
    new_bucket[1:] = bucket[1:] != bucket[:-1]
    new_word = new_bucket.copy()
    new_word[1:] |= code[1:] != code[:-1]
    group = np.cumsum(new_bucket) - 1
    values = np.bincount(group, weights=new_word)
    varying = values[group] >= min_values
    if not varying.any():
        return None
    marked = np.zeros(len(codes), dtype=bool)
    marked[candidate[order[varying]]] = True
    new_flat = pc.if_else(pa.array(marked), MARKER, flat)
    rebuilt = pc.binary_join(
        pa.LargeListArray.from_arrays(lists.offsets, new_flat), pa.scalar(" ", pa.large_string())
    )
    out: list[str] = rebuilt.to_pylist()
    return out
