"""Worst cases of the signature core: very long lines, an id or a word unique to each line.

Behaviour only (never timing): a bounded look at long lines, and lines that differ only in
a request id, a hex trace id or a plain word share a signature.
"""

from __future__ import annotations

import random
import string
import uuid

from incident_lib.analysis.signatures import mask, signature_ids
from incident_lib.analysis.signatures.grouping import _tolerate
from incident_lib.analysis.signatures.masking import MAX_CHARS, _mask_key, _masked


def _body(rng: random.Random, chars: int) -> str:
    words = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(chars // 4)
    ]
    return " ".join(words)[:chars]


def test_a_100kb_line_gets_a_signature():
    rng = random.Random(1)
    line = "request body " + _body(rng, 100_000)
    assert len(line) > 100_000
    [sig] = signature_ids([line])
    assert len(sig) == 10
    assert len(mask(line)) <= MAX_CHARS


def test_long_lines_differing_only_beyond_the_bound_share_a_signature():
    rng = random.Random(2)
    head = "POST /api/orders failed with body " + _body(rng, 2 * MAX_CHARS)
    a = head + " " + _body(rng, 10_000)
    b = head + " " + _body(rng, 10_000)
    other = "GET /api/users failed with body " + _body(rng, 2 * MAX_CHARS)
    ids = signature_ids([a, b, other])
    assert ids[0] == ids[1] != ids[2]


def test_long_lines_differing_within_the_bound_stay_apart():
    rng = random.Random(3)
    tail = " " + _body(rng, 20_000)
    ids = signature_ids(["disk full on volume" + tail, "connection reset by peer" + tail])
    assert ids[0] != ids[1]


def test_many_long_lines_in_one_batch():
    rng = random.Random(4)
    lines = [f"payload {i} " + _body(rng, 10_000) for i in range(50)]
    assert len(signature_ids(lines)) == 50


def test_tolerance_merges_long_templates_that_differ_in_one_word():
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
    rest = " ".join(["constant"] * 400)
    skeletons = [f"user {w} {rest}" for w in words]
    merged = _tolerate(skeletons)
    assert set(merged) == set(skeletons)
    assert len(set(merged.values())) == 1
    assert next(iter(merged.values())).startswith("user <*> constant")


def test_lines_differing_only_in_a_uuid_share_a_signature():
    lines = [f"Payment declined for order req-{uuid.uuid4()} by gateway" for _ in range(200)]
    lines.append("Payment accepted for order req-00000000-0000-0000-0000-000000000001 by gateway")
    ids = signature_ids(lines)
    assert len(set(ids[:-1])) == 1
    assert ids[-1] != ids[0]


def test_lines_differing_only_in_a_hex_trace_id_share_a_signature():
    rng = random.Random(5)
    lines = [
        f"INFO [main] c.e.OrderService - trace={rng.getrandbits(128):032x} order not found"
        for _ in range(200)
    ]
    lines.append("INFO [main] c.e.OrderService - trace=abc order not found")
    ids = signature_ids(lines)
    assert len(set(ids[:-1])) == 1


def test_lines_differing_only_in_a_unique_word_share_a_signature():
    rng = random.Random(6)
    lines = [
        f"Invalid user {''.join(rng.choices(string.ascii_lowercase, k=8))} from 10.0.0.{i % 250}"
        for i in range(2000)
    ]
    lines += [f"Accepted password for root from 10.0.0.{i}" for i in range(20)]
    ids = signature_ids(lines)
    assert len(set(ids[:2000])) == 1
    assert ids[2000] != ids[0]


def test_batch_masking_equals_masking_each_line():
    # ids canonicalised per key and cached: the masks equal one-by-one masking
    rng = random.Random(7)
    templates = [
        "took 5 seconds for {w} at Nov 26 14:02:00 UTC",
        'client "{w}" sent "curl/8.4.0 {w} agent" size 512 MB',
        "job {w} finished in 3 ms with 850 B",
        "{w} {w} {w} 'quoted' value=x",
        "Dec {w} Jan mixed with {w}",
    ]
    lines = [
        t.format(w="".join(rng.choices(string.ascii_letters, k=6))).replace("5", str(i % 9))
        for i in range(3000)
        for t in templates
    ]
    keys = [line.translate(str.maketrans("0123456789", "0000000000")) for line in lines]
    masked = _masked(keys)
    for key in dict.fromkeys(keys):
        assert masked[key] == _mask_key(key), key
