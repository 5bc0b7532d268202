"""Grouping: the miner that groups masked templates into signatures.

The second half of turning messages into signatures (see
:mod:`incident_lib.analysis.signatures`), after :mod:`.masking`:

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

Speed: the expensive steps run once per distinct *key* (see :mod:`.masking`). A
real log with varying numbers and request ids becomes a few thousand keys, and
the per-line work is one ``str.translate`` and one ``split`` over the whole batch
plus dict lookups: about 1.5 million lines/s on one core over the 1M-line Loghub
corpus of ``benchmarks/bench_signatures.py``. A batch in which no two lines share
a template pays the masking and grouping for every line (tens of microseconds
each). Each
step is linear in the length of a line, which is bounded by
:data:`~.masking.MAX_CHARS`: the tolerance step hashes every (position, token)
pair once and keys its buckets on XORs of those hashes.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from .masking import _keys, _masked, _rx

__all__ = ["TOLERANCE_MIN_CONSTANT", "TOLERANCE_MIN_VALUES", "signature_ids"]

#: at least this many different plain words at one position merge otherwise equal templates
TOLERANCE_MIN_VALUES = 8
#: ... provided the rest of the template has at least this many plain words
TOLERANCE_MIN_CONSTANT = 2


def _skeleton(masked: str) -> str:
    """Canonical form used for grouping: every chunk holding a placeholder becomes ``<*>``."""
    return _rx().chunk.sub("<*>", masked) if "<" in masked else masked


def _signature_id(canonical: str) -> str:
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=5).hexdigest()


def _tolerate(skeletons: Iterable[str]) -> dict[str, str]:
    """Map each canonical template to its merged form (itself when nothing merges)."""
    # Bucket key: (length, position, hash of every other token with its position), so a
    # bucket holds the templates that are equal except at that position. The hash is the
    # XOR of the hashes of the (position, token) pairs: the whole template's, with the
    # token's own taken out again, so a template costs time linear in its length.
    buckets: defaultdict[tuple[int, int, int], list[str]] = defaultdict(list)
    tokens: dict[str, list[str]] = {}
    for skel in skeletons:
        toks = skel.split(" ")
        plain = [i for i, t in enumerate(toks) if "<*>" not in t]  # only <*> is left
        if len(plain) - 1 < TOLERANCE_MIN_CONSTANT:
            continue
        tokens[skel] = toks
        n = len(toks)
        hashes = list(map(hash, enumerate(toks)))
        whole = functools.reduce(operator.xor, hashes)
        for p in plain:
            buckets[(n, p, whole ^ hashes[p])].append(skel)

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
