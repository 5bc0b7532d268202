"""Grouping a column read from a capture keys its Arrow bytes: the same signatures as its strings.

``signatures_with_lines`` hands the grouping the messages as one Arrow text array
(no Python string per line). Whatever the array's layout (``string`` or
``large_string``, chunked, sliced) and whatever the lines (ids on every line,
digits, non-ASCII text, empty lines), the ids and templates are those of the
same messages as a list of ``str``; lines the one-buffer path does not take
(missing values, a message spanning lines, long lines) go the list's way.
"""

from __future__ import annotations

import random
import uuid

import pyarrow as pa
import pytest
from loghub_messages import shared_messages

from incident_lib.analysis.signatures.grouping import _group

_WORDS = ["alpha", "béta", "γάμμα", "日本語", "naïve", "ok", "slow", "db-7"]


def _lines(seed: int, n: int = 5_000, *, ids: bool = True) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.randrange(6)
        if kind == 0 and ids:
            out.append(f"request {uuid.UUID(int=rng.getrandbits(128))} failed after {i} ms")
        elif kind == 1:
            out.append(f"user {rng.choice(_WORDS)} logged in from 10.0.{i % 256}.{i % 7}")
        elif kind == 2:
            out.append(f"trace_id={rng.getrandbits(64):016x} span={rng.getrandbits(32):08x} done")
        elif kind == 3:
            out.append("")
        elif kind == 4:
            out.append(f"connection pool exhausted ({rng.randrange(100)}/100) for {_WORDS[i % 8]}")
        else:
            out.append(f"retrying {rng.choice(_WORDS)} in {rng.randrange(1, 60)}s, attempt {i}")
    return out


def _same(messages: list[str | None], array: pa.Array | pa.ChunkedArray) -> None:
    want = _group(messages)
    got = _group(array)
    assert got.ids == want.ids
    assert got.templates == want.templates


@pytest.mark.parametrize("ids", [True, False])
@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_an_arrow_column_groups_as_its_strings(ids, kind):
    messages = _lines(15, ids=ids)
    _same(messages, pa.array(messages, type=kind))


def test_chunked_and_sliced_arrays_group_as_their_strings():
    messages = _lines(16)
    whole = pa.array(messages)
    _same(messages, pa.chunked_array([whole.slice(0, 1_700), whole.slice(1_700)]))
    _same(messages[1_234:], whole.slice(1_234))  # an array whose offset is not 0


def test_lines_the_one_buffer_path_does_not_take_go_the_lists_way():
    messages: list[str | None] = list(_lines(17))
    with_missing = [*messages[:100], None, *messages[100:]]
    _same(with_missing, pa.array(with_missing))
    spanning = [*messages[:50], "Traceback (most recent call last):\n  File x", *messages[50:]]
    _same(spanning, pa.array(spanning))
    long = [m + " x" * 400 for m in messages]  # (lines averaging over 256 characters)
    _same(long, pa.array(long))
    _same(messages[:500], pa.array(messages[:500]))  # a small batch


def test_the_shared_loghub_lines_group_as_their_strings():
    messages = shared_messages()
    _same(messages, pa.array(messages))
