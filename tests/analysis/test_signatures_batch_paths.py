"""The whole-batch paths of the signature core give the ids of the line-by-line ones.

A big batch is keyed in one UTF-8 buffer (digits, ids and deduplication over the bytes,
``masking._batch_codes``) and its varying words are counted with one sort of numbers
(``_vector.mark_variable_words``). The oracles: the signature ids the code of commit
d903bbd gave on the same generated corpora (frozen as digests below), the line-by-line
keys of ``masking._batch`` and a frozen copy of the old word marking.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
import uuid
from collections import defaultdict

import numpy as np
import pytest
from loghub_messages import LOGFORMATS, shared_messages

from incident_lib.analysis.signatures import _vector, grouping, masking, signature_ids
from incident_lib.analysis.signatures._vector import MARKER, mark_variable_words
from incident_lib.analysis.signatures.masking import MAX_CHARS, _batch, _batch_keys


def _base() -> list[str]:
    lines = shared_messages()
    for path in sorted(LOGFORMATS.glob("*.log")):
        lines += path.read_text(encoding="utf-8").splitlines()
    return lines


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=8))


def _corpus(case: str) -> list[str]:
    """The cases of ``benchmarks/bench_signatures.py`` on the shared sets and fixtures."""
    rng = random.Random(15)
    base = _base()
    if case == "a":
        return base
    if case == "a2":
        return [f"{line} req-{uuid.UUID(int=rng.getrandbits(128))}" for line in base]
    if case == "a3":
        return [f"{line} {_word(rng)}" for line in base]
    if case == "a4":
        return [
            f"2026-11-28 10:41:{i % 60:02d},{i % 1000:03d} INFO [main] c.e.Service - "
            f"trace={rng.getrandbits(128):032x} {line}"
            for i, line in enumerate(base)
        ]
    if case == "a5":
        return [f"{line} {_word(rng)} session=0x{rng.getrandbits(40):x}" for line in base]
    if case == "long":  # lines beyond MAX_CHARS, ids cut by the bound or past it
        out = []
        for i, line in enumerate(base):
            trace = f"{rng.getrandbits(128):032x}"
            if i % 29 == 0:
                pad = "x" * (MAX_CHARS - len(line) - 10 + i % 20)
                out.append(f"{line} {pad} {trace} {uuid.UUID(int=rng.getrandbits(128))}")
            elif i % 29 == 1:
                out.append(f"{line}{trace * 40}")
            else:
                out.append(f"{line} trace={trace} é")
        return out
    assert case == "mixed"  # multi-line messages, None and numbers: the line-by-line path
    out2: list[object] = []
    for i, line in enumerate(base):
        trace = f"{rng.getrandbits(128):032x}"
        out2.append(f"{line} {trace}" if i % 50 else f"Traceback (most recent call last)\n{line}")
    out2[3] = None
    out2[5] = 42
    return out2  # type: ignore[return-value]


def _digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


# signature ids of commit d903bbd on each corpus (sha256 of the ids joined by newlines)
FROZEN = {
    "a": "c13f30d2384b539d",
    "a2": "908facc781dc5998",
    "a3": "fe6941ed9c2e8398",
    "a4": "94bcf1f6a8c05ce6",
    "a5": "0d3c7bb39171ea68",
    "long": "218cf84c119ef773",
    "mixed": "ea85803967b905d2",
}


@pytest.mark.parametrize("case", sorted(FROZEN))
def test_signature_ids_equal_the_old_codes(case):
    lines = _corpus(case)
    assert _digest(signature_ids(lines)) == FROZEN[case]


@pytest.mark.parametrize("case", ["a", "a2", "a3", "a4", "a5", "long"])
def test_keys_of_the_buffer_path_equal_the_line_by_line_keys(case, monkeypatch):
    lines = _corpus(case)
    keys, codes, canonical = _batch(lines)
    assert codes is not None  # (the buffer path ran)
    assert len(set(keys)) == len(keys)
    expected = _batch_keys(lines)
    monkeypatch.setattr(masking, "_batch_codes", lambda padded, n: None)
    assert _batch_keys(lines) == expected
    assert expected == (np.array(keys, dtype=object)[codes].tolist(), canonical)
    assert list(dict.fromkeys(expected[0])) == keys  # (in order of first occurrence)


def test_a_multi_line_batch_takes_the_line_by_line_path():
    lines = _corpus("mixed")
    assert _batch(lines).codes is None


def _reference_marks(keys: list[str], min_values: int) -> list[str] | None:
    """What ``mark_variable_words`` means, word by word in plain Python (no Arrow, no hashes).

    A plain word (letters only, not a unit, month, weekday or zone) is marked when at
    least ``min_values`` different plain words stand at its position among the keys equal
    to it everywhere else.
    """
    if any(MARKER in key for key in keys):
        return None
    plain = re.compile("[A-Za-z]+")
    context = re.compile(_vector._CONTEXT_WORD.pattern)

    def candidate(token: str) -> bool:
        return plain.fullmatch(token) is not None and context.fullmatch(token) is None

    def rest(tokens: list[str], i: int) -> tuple[int, str, str]:
        return i, " ".join(tokens[:i]), " ".join(tokens[i + 1 :])

    split = [key.split(" ") for key in keys]
    words: defaultdict[tuple[int, str, str], set[str]] = defaultdict(set)
    for tokens in split:
        for i, token in enumerate(tokens):
            if candidate(token):
                words[rest(tokens, i)].add(token)
    out, any_marked = [], False
    for key, tokens in zip(keys, split, strict=True):
        marks = [
            candidate(token) and len(words[rest(tokens, i)]) >= min_values
            for i, token in enumerate(tokens)
        ]
        any_marked |= any(marks)
        out.append(
            " ".join(MARKER if m else t for m, t in zip(marks, tokens, strict=True))
            if any(marks)
            else key
        )
    return out if any_marked else None


def _marking_keys(case: str) -> list[str]:
    keys = _batch(_corpus(case)).keys
    return masking._bounded_keys(keys)


@pytest.mark.parametrize("case", ["a", "a3", "a5", "long"])
@pytest.mark.parametrize("min_values", [1, 2, 5, 40])
def test_marking_is_what_it_means_word_by_word(case, min_values):
    keys = _marking_keys(case)[:20_000]  # (the reference is quadratic in a line's words)
    marked = mark_variable_words(keys, min_values)
    assert marked == _reference_marks(keys, min_values)
    if case == "a3" and min_values <= 5:  # (a word unique to each line: marked)
        assert marked is not None and sum(MARKER in key for key in marked) > len(keys) // 2


def test_marking_small_and_edge_batches():
    rng = random.Random(16)
    batches = [
        [],
        [""],
        ["a b", "a c"],
        [f"user {_word(rng)} logged in" for _ in range(4)],
        [f"user {_word(rng)} logged in" for _ in range(5)],
        [f"user {_word(rng)} logged in {MARKER}" for _ in range(9)],
        [f"{_word(rng)} {_word(rng)} same words" for _ in range(50)] + ["x y same words"] * 3,
        [f"{w} é {_word(rng)} ünï" for w in ("Jan", "ms", "alpha", "beta")] * 20,
    ]
    for keys in batches:
        keys = list(dict.fromkeys(keys))
        for min_values in (1, 5):
            assert mark_variable_words(keys, min_values) == _reference_marks(keys, min_values), keys


def test_distinct_keys_skip_the_dictionary_in_the_batch_masking():
    keys = _marking_keys("a3")
    assert len(keys) >= grouping._MARK_MIN
    listed = grouping._masked_batch(keys, False, distinct=True)
    expected = grouping._masked_batch(keys, False)
    assert listed.listed == [expected.of[key] for key in keys]
    assert listed.wide == expected.wide
    assert listed.skeletons == expected.skeletons
