"""Grouping: the miner that groups masked templates into signatures.

The second half of turning messages into signatures (see
:mod:`incident_lib.analysis.signatures`), after :mod:`.masking`:

3. **Grouping.** Within each whitespace token, every chunk between the
   delimiters ``: = , ; " ' ( ) [ ] { } < >`` that contains a placeholder
   becomes ``<*>``, so ``rdd_<NUM>_<NUM>`` and ``broadcast_<NUM>_<*>`` or
   ``host-<NUM>.example.com:<NUM>`` and ``<*>.example.com:<NUM>`` match while
   ``user_id=<*>`` keeps its key. An empty value (``ruser=`` followed by a
   space, ``()``, ``[]``) counts as ``<*>``, and ``<*> (<*>)`` (one value in two
   spellings, ``1.2 KB (1234 bytes)``) as ``<*>``. Messages with the same
   result (the *canonical template*) form one group.
4. **Tolerance** (decided from the lines themselves, no per-format rule).
   Canonical templates with the same number of tokens that differ at exactly
   one position are merged when at least :data:`TOLERANCE_MIN_VALUES` different
   tokens occur there, or when one of them has a pure placeholder there
   (``<*>``, ``<*>:<*>``) and the others a placeholder too (``LOCAL(<*>)``);
   the rest of the template must keep at least :data:`TOLERANCE_MIN_CONSTANT`
   plain words. ``Failed password for root|git|ftp|... from <IP>`` become one
   signature, while a handful of states (``VM Paused``/``VM Resumed``,
   ``GET``/``POST``) stay separate signatures. The step repeats (at most three
   rounds) on the merged templates, so a second varying position merges too.

The displayed template of a group keeps every token its members share
(``blk_<NUM>``) and shows the canonical token where they differ (or the placeholder
they all start with: ``<PATH>`` for ``<PATH>`` and ``<PATH>?from=<TS>``).

Speed: the expensive steps run once per distinct *key* (see :mod:`.masking`). A
real log with varying numbers and request ids becomes a few thousand keys, and
the per-line work is one ``str.translate`` and one ``split`` over the whole batch
plus dict lookups: about 1.5 million lines/s on one core over the 1M-line Loghub
corpus of ``benchmarks/bench_signatures.py``. An id on every line is
canonicalised over the whole batch first (see :mod:`.masking`). A batch of
:data:`_MARK_MIN` distinct keys or more (a word unique to each line) first looks
for the words the tolerance step would merge, over the whole batch at once
(:func:`~._vector.mark_variable_words`: Arrow tokenisation, one hash per
(position, word), distinct words per "rest of the key" bucket), and masks such
keys once per marked form, the varying word as ``<*>``; keys it cannot settle
(another position varies too) pay the masking and grouping per key. Each
step is linear in the length of a line, which is bounded by
:data:`~.masking.MAX_CHARS`: the tolerance step hashes every (position, token)
pair once and keys its buckets on XORs of those hashes.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

from ._vector import MARKER, mark_variable_words
from .masking import _batch, _bounded_keys, _canonical_keys, _mask_key, _masked, _rx

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["TOLERANCE_MIN_CONSTANT", "TOLERANCE_MIN_VALUES", "signature_ids"]

#: at least this many different words at one position merge otherwise equal templates
TOLERANCE_MIN_VALUES = 5
#: ... provided the rest of the template has at least this many plain words
TOLERANCE_MIN_CONSTANT = 2
# merging repeats on the merged templates (a second varying position) at most this often
_TOLERANCE_ROUNDS = 3
# from this many distinct keys on, words that vary among otherwise equal keys are found
# over the whole batch before masking (see _masked_batch)
_MARK_MIN = 4096

_Key = int


@functools.cache
def _empty_rx() -> re.Pattern[str]:
    # "key=" with no value ("ruser= rhost=...", "logname=,"), "()" and "[]"
    return re.compile(r"(?<=[A-Za-z0-9_]=)(?=[\s,;]|$)|(?<=\()(?=\))|(?<=\[)(?=\])")


def _skeleton(masked: str) -> str:
    """Canonical form used for grouping: every chunk holding a placeholder becomes ``<*>``.

    An empty value (``key=`` followed by a space, ``()``, ``[]``) counts as a
    placeholder: the same field is sometimes empty and sometimes not.
    """
    if "=" in masked or "()" in masked or "[]" in masked:
        masked = _empty_rx().sub("<*>", masked)
    if "<" not in masked:
        return masked
    skel = _rx().chunk.sub("<*>", masked)
    # "<*> (<*>)": the same value in a second spelling ("1.2 KB (1234 bytes)")
    return skel.replace("<*> (<*>)", "<*>") if "<*> (<*>)" in skel else skel


def _signature_id(canonical: str) -> str:
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=5).hexdigest()


def _pure_variable(token: str) -> bool:
    """A token that is placeholders and punctuation only (``<*>``, ``<*>:<*>``, ``<<*>``)."""
    return "<*>" in token and not any(c.isalnum() for c in token.replace("<*>", ""))


def _absorbs(members: list[str], tokens: dict[str, list[str]], p: int) -> bool:
    """Whether a wildcard at position ``p`` absorbs the other values of its bucket.

    A bucket of templates equal but at ``p`` merges, whatever its size, when one
    of them has a pure placeholder there (``<*>``, ``<*>:<*>``) and each of the
    others has a placeholder too (``LOCAL(<*>)``, ``wpad:<*>``): a variable
    spelled two ways. A plain word (``lo``) is not absorbed.
    """
    values = [tokens[m][p] for m in members]
    if not any(map(_pure_variable, values)):
        return False
    return all("<*>" in v for v in values)


def _position(first: list[str], second: list[str]) -> int | None:
    """The one position where two templates differ (None: not exactly one)."""
    if len(first) != len(second):
        return None
    differ = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
    return differ[0] if len(differ) == 1 else None


def _root(parent: dict[str, str], s: str) -> str:
    """Union-find root of ``s`` (with path halving)."""
    while (up := parent.get(s, s)) != s:
        parent[s] = s = parent.get(up, up)
    return s


def _tolerate(
    skeletons: Iterable[str], wide: dict[str, frozenset[int]] | None = None
) -> dict[str, str]:
    """Map each canonical template to its merged form (absent when nothing merges).

    ``wide``: positions at which a template stands for many different words already
    (marked by :func:`_masked_batch`); a bucket that differs at such a position merges
    whatever its size.
    """
    wide = wide or {}
    # Bucket key: the hash of every token but one with its position, so a bucket holds
    # the templates that are equal except at one position. The hash is the XOR of the
    # hashes of the (position, token) pairs: the whole template's, with the token's own
    # taken out again, so a template costs time linear in its length. (A bucket whose
    # members turn out to differ elsewhere, a hash collision, is left alone.) The
    # buckets persist across rounds: a later round looks only at the buckets that the
    # templates made by the round before joined.
    buckets: defaultdict[_Key, list[str]] = defaultdict(list)
    tokens: dict[str, list[str]] = {}
    seen: set[str] = set()

    def add(skel: str) -> list[_Key]:
        """Put a template in its buckets; return their keys (none when seen before)."""
        if skel in seen:
            return []
        seen.add(skel)
        toks = skel.split(" ")
        plain = ["<*>" not in t for t in toks]  # only <*> is left
        n_plain = sum(plain)
        if n_plain < TOLERANCE_MIN_CONSTANT:
            return []
        tokens[skel] = toks
        hashes = list(map(hash, enumerate(toks)))
        whole = functools.reduce(operator.xor, hashes)
        # the rest of the template keeps at least TOLERANCE_MIN_CONSTANT plain words
        if n_plain > TOLERANCE_MIN_CONSTANT:
            keys = [whole ^ h for h in hashes]
        else:
            keys = [whole ^ h for h, is_plain in zip(hashes, plain, strict=True) if not is_plain]
        for key in keys:
            buckets[key].append(skel)
        return keys

    for skel in skeletons:
        add(skel)
    touched: Iterable[_Key] = buckets  # the first round looks at every bucket
    merged_into: dict[str, str] = {}
    for _ in range(_TOLERANCE_ROUNDS):
        parent: dict[str, str] = {}
        root = functools.partial(_root, parent)
        involved: list[str] = []
        for key in touched:
            members = buckets[key]
            if len(members) < 2:  # most buckets: nothing to merge with
                continue
            if merged_into:
                members = buckets[key] = [m for m in members if m not in merged_into]
                if len(members) < 2:
                    continue
            if len(members) < TOLERANCE_MIN_VALUES:
                position = _position(tokens[members[0]], tokens[members[1]])
                if position is None or not (
                    _absorbs(members, tokens, position)
                    or any(position in wide.get(m, ()) for m in members)
                ):
                    continue
            if len({len(tokens[m]) for m in members}) == 1:  # (else a hash collision)
                involved.extend(members)
                first = root(members[0])
                for other in members[1:]:
                    r = root(other)
                    if r != first:
                        parent[r] = first
        if not parent:
            break
        groups: defaultdict[str, list[str]] = defaultdict(list)
        for skel in dict.fromkeys(involved):
            groups[root(skel)].append(skel)
        next_touched: set[_Key] = set()
        for members in groups.values():
            if len(members) == 1:
                continue
            columns = zip(*(tokens[m] for m in members), strict=True)
            canonical = " ".join(col[0] if len(set(col)) == 1 else "<*>" for col in columns)
            for m in members:
                if m != canonical:
                    merged_into[m] = canonical
            next_touched.update(add(canonical))
        touched = next_touched

    def final(skel: str) -> str:
        while skel in merged_into:
            skel = merged_into[skel]
        return skel

    return {skel: final(skel) for skel in merged_into}


def _display(canonical: str, masked: Iterable[str]) -> str:
    """Template shown for a group: shared tokens as masked, the others as canonical."""
    variants = list(masked)
    if len(variants) == 1:
        return variants[0]
    reference = canonical.split(" ")
    # variants spelled with another number of tokens ("<SIZE> (<SIZE>)") show as canonical
    split = [t for t in (v.split(" ") for v in variants) if len(t) == len(reference)]
    if not split:
        return canonical
    columns = zip(*split, strict=True)
    return " ".join(_shown(col, reference[i]) for i, col in enumerate(columns))


def _shown(column: tuple[str, ...], canonical: str) -> str:
    """One displayed token: the members' own when they agree, else their common placeholder.

    ``<PATH>`` and ``<PATH>?from=<TS>`` show as ``<PATH>``; otherwise the canonical token.
    """
    first = column[0]
    if len(set(column)) == 1:
        return first
    match = _rx().placeholder.match(first)
    if match is not None and canonical == "<*>":
        lead = match.group()
        if all(token.startswith(lead) for token in column):
            return lead
    return canonical


class _Grouping(NamedTuple):
    ids: list[str]
    templates: dict[str, str]  # signature id -> displayed template


def _masked_marked(marked: str) -> tuple[str, frozenset[int] | None]:
    """Mask a key whose varying words are marked.

    Returns the masked template and, when the tolerance step would merge the
    marked words, the token positions of the marked words (the masked template
    then shows them as ``<*>``); None instead when it would not (the masked
    template then keeps :data:`MARKER` where each key has its own word). The
    tolerance step merges a varying position only when the rest of the template
    keeps :data:`TOLERANCE_MIN_CONSTANT` plain words; a marked word is one of them.
    """
    masked = _mask_key(marked)
    if MARKER not in masked:  # (swallowed by a mask spanning words: a quoted user agent)
        return masked, frozenset()
    tokens = _skeleton(masked).split(" ")
    if sum("<*>" not in token for token in tokens) <= TOLERANCE_MIN_CONSTANT:
        return masked, None
    positions = frozenset(i for i, token in enumerate(tokens) if token == MARKER)
    return masked.replace(MARKER, "<*>"), positions


class _Masked(NamedTuple):
    of: dict[str, str]  # key -> masked template (empty when ``listed``)
    wide: dict[str, frozenset[int]]  # masked template -> token positions of marked words
    skeletons: dict[str, str]  # masked template -> canonical template, where known already
    # the masked template of each key, in order, for distinct keys (no dictionary of them)
    listed: list[str] | None = None


def _unmarked(template: str, marked: str, keys: Iterable[str]) -> list[str] | None:
    """``template`` (with :data:`MARKER` tokens) with each key's own words put back.

    ``marked`` is the marked form of every key in ``keys``; its marked tokens are
    plain words standing alone between spaces, which no mask touches, so masking a
    key gives ``template`` with its words in place of the markers (and so does
    :func:`_skeleton`). None when ``template`` lost a marker.
    """
    pieces = template.split(MARKER)
    at = [i for i, token in enumerate(marked.split(" ")) if token == MARKER]
    if len(pieces) != len(at) + 1:
        return None
    if len(at) == 1:
        head, tail = pieces
        i = at[0]
        return [f"{head}{key.split(' ')[i]}{tail}" for key in keys]
    out = []
    for key in keys:
        tokens = key.split(" ")
        parts = [pieces[0]]
        for i, piece in zip(at, pieces[1:], strict=True):
            parts.append(tokens[i])
            parts.append(piece)
        out.append("".join(parts))
    return out


def _unsettled(marks: list[str], keys: list[str]) -> bool:
    """Whether more than an eighth of the keys have no word marked."""
    same: int = sum(map(operator.eq, marks, keys))
    return same * 8 > len(keys)


def _masked_batch(keys: list[str], canonical: bool, *, distinct: bool = False) -> _Masked:
    """Masked template of each distinct key; varying words already ``<*>`` in a big batch.

    With at least :data:`_MARK_MIN` distinct keys (a word or an id unique to each line
    defeats the per-key cache), a plain word at a position where at least
    :data:`TOLERANCE_MIN_VALUES` different words occur among keys equal everywhere
    else (found for the whole batch at once, see
    :func:`~._vector.mark_variable_words`) is masked as ``<*>``, and such keys are
    masked once per marked form: what the tolerance step would merge anyway. Where
    the tolerance step would not merge them (too few plain words left), the marked
    form is still masked once and each key gets it with its own words put back.
    ``distinct``: the keys are distinct already (a big batch then gets ``listed``).
    """
    listed = distinct and len(keys) >= _MARK_MIN
    if listed:
        unique = keys
    else:
        masked_of = dict.fromkeys(keys, "")
        if len(masked_of) < _MARK_MIN:
            return _Masked(_masked(masked_of, canonical=canonical), {}, {})
        unique = list(masked_of)
    bounded = _bounded_keys(unique)
    marks = mark_variable_words(bounded, TOLERANCE_MIN_VALUES)
    if not canonical and (marks is None or _unsettled(marks, bounded)):
        # the keys may differ in ids too (a word and a session id per line): mark the
        # words among the keys with their ids canonicalised
        id_keys = _canonical_keys(bounded)
        if id_keys != bounded:
            bounded = id_keys
            marks = mark_variable_words(bounded, TOLERANCE_MIN_VALUES)
    if marks is None:
        return _Masked(_masked(unique, canonical=canonical), {}, {})
    by_mark: dict[str, str | None] = {}  # marked form -> its masked template (None: per key)
    wide: dict[str, frozenset[int]] = {}
    own: dict[str, str] = {}  # marked form -> masked template keeping MARKER (words put back)
    for marked in dict.fromkeys(marks):
        if MARKER not in marked:
            by_mark[marked] = None
            continue
        masked, positions = _masked_marked(marked)
        if positions is None:
            by_mark[marked] = None
            own[marked] = masked
        else:
            by_mark[marked] = masked
            wide[masked] = positions
    masked_list = list(map(by_mark.__getitem__, marks))
    later = [i for i, masked in enumerate(masked_list) if masked is None]
    skeletons: dict[str, str] = {}
    if later:
        rest: list[str] = []
        per_mark: defaultdict[str, list[int]] = defaultdict(list)
        for i in later:
            if marks[i] in own:
                per_mark[marks[i]].append(i)
            else:
                rest.append(unique[i])
        for marked, where in per_mark.items():
            template = own[marked]
            filled = _unmarked(template, marked, (bounded[i] for i in where))
            skeleton_filled = _unmarked(_skeleton(template), marked, (bounded[i] for i in where))
            if filled is None or skeleton_filled is None:
                rest.extend(unique[i] for i in where)
                continue
            for i, masked, skel in zip(where, filled, skeleton_filled, strict=True):
                masked_list[i] = masked
                skeletons[masked] = skel
        of_rest = _masked(rest, canonical=canonical)
        for i in later:
            if masked_list[i] is None:
                masked_list[i] = of_rest[unique[i]]
    if listed:
        return _Masked({}, wide, skeletons, cast("list[str]", masked_list))
    masked_of = dict(zip(unique, cast("list[str]", masked_list), strict=True))
    return _Masked(masked_of, wide, skeletons)


def _group(messages: Sequence[object] | pa.Array) -> _Grouping:
    keys, codes, ids_done = _batch(messages)
    masked_of, wide, skeleton_of, listed = _masked_batch(keys, ids_done, distinct=codes is not None)
    # the masked template of each key, in the order of the keys when they are distinct
    masked_keys = listed if listed is not None else masked_of.values()
    variants: defaultdict[str, list[str]] = defaultdict(list)  # skeleton -> masked variants
    for masked in dict.fromkeys(masked_keys):
        skel = skeleton_of.get(masked)
        if skel is None:
            skel = skeleton_of[masked] = _skeleton(masked)
        variants[skel].append(masked)
    merged = _tolerate(variants, {skeleton_of[m]: p for m, p in wide.items() if p})
    canonical_of = {skel: merged.get(skel, skel) for skel in variants}
    members: defaultdict[str, list[str]] = defaultdict(list)
    for skel, canonical in canonical_of.items():
        members[canonical].extend(variants[skel])
    id_of = {c: _signature_id(c) for c in members}
    templates = {id_of[c]: _display(c, m) for c, m in members.items()}
    id_of_masked = {
        m: id_of[canonical] for skel, canonical in canonical_of.items() for m in variants[skel]
    }
    if codes is not None:  # (distinct keys: masked_keys are in their order)
        import numpy as np

        per_key = np.array(list(map(id_of_masked.__getitem__, masked_keys)), dtype=object)
        return _Grouping(per_key[codes].tolist(), templates)
    id_of_key = dict(zip(masked_of, map(id_of_masked.__getitem__, masked_of.values()), strict=True))
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
