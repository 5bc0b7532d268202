"""Worst cases of the signature core: very long lines, an id or a word unique to each line.

Behaviour only (never timing): a bounded look at long lines, and lines that differ only in
a request id, a hex trace id or a plain word share a signature.
"""

from __future__ import annotations

import random
import string
import uuid

import pytest
from loghub_messages import LOGFORMATS, shared_messages

from incident_lib.analysis.signatures import grouping, mask, signature_ids
from incident_lib.analysis.signatures._vector import canonical_ids
from incident_lib.analysis.signatures.grouping import _tolerate
from incident_lib.analysis.signatures.masking import (
    _VECTOR_MIN,
    MAX_CHARS,
    _batch_keys,
    _canonical_id,
    _mask_key,
    _masked,
    _rx,
)


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


# --- whole-batch paths (an id or a word unique to each line; issue 15) -------------------


def _fixture_lines() -> list[str]:
    lines = []
    for path in sorted(LOGFORMATS.glob("*.log")):
        lines += path.read_text(encoding="utf-8").splitlines()
    assert lines
    return lines


def _with_ids(lines: list[str]) -> list[str]:
    """Each line as is, then with a UUID and a hex trace id (twice or more, other ids)."""
    rng = random.Random(8)
    copies = max(2, _VECTOR_MIN // len(lines) + 1)
    out = []
    for line in lines:
        out.append(line)
        for _ in range(copies):
            trace = f"{rng.getrandbits(128):032x}"
            out.append(f"{line} req={uuid.UUID(int=rng.getrandbits(128))} trace={trace}")
    return out


def _adversarial_ids() -> list[str]:
    """Hex runs and UUID shapes next to each other, cut short, too long, at line edges."""
    rng = random.Random(9)
    lines = ["".join(rng.choices("0a-_.:/ fGé", k=rng.randint(0, 60))) for _ in range(3000)]
    lines += ["".join(rng.choices("0aF-", k=rng.randint(30, 90))) for _ in range(3000)]
    lines += ["".join(rng.choices("0xXaFg-. é", k=rng.randint(0, 40))) for _ in range(3000)]
    lines += [
        "00000000-0000-0000-0000-00000000000a-0000-0000-0000-0000-aaaaaaaa0000",
        "aaaa0000-0000-0000-0000-aaaaaaaaaaaa",
        "x aaaa0000-0000-0000-0000-aaaaaaaaaaaa0 y",
        "é0a0a0a0a0aé 0a0a0a0a",
        "0a0a0a0a",
        "a" * 70 + "0",
        "0x 0x0 0X1fA 0x0g 00x0 a0x0 -0xab- 0xaaaaaaaa0 0x0a0a0a0a-0000-0000-0000-000000000000",
        "0x",
        "0x0",
    ]
    return lines


@pytest.mark.parametrize("corpus", ["shared", "fixtures", "adversarial", "few ids"])
def test_whole_batch_id_canonicalisation_equals_the_per_line_one(corpus):
    # (an id on most lines and "few ids" take the two ways of writing the runs)
    lines = {
        "shared": lambda: _with_ids(shared_messages()),
        "few ids": lambda: shared_messages() + _fixture_lines(),
        "fixtures": lambda: _with_ids(_fixture_lines()),
        "adversarial": _adversarial_ids,
    }[corpus]()
    keys = [line.translate(str.maketrans("0123456789", "0000000000")) for line in lines]
    keys = [k.replace("\n", " ") for k in keys]
    sub = _rx().ids.sub
    assert canonical_ids("\n".join(keys)).split("\n") == [sub(_canonical_id, k) for k in keys]


@pytest.mark.parametrize("corpus", ["shared", "fixtures"])
def test_batch_masking_equals_mask_on_real_lines_with_ids(corpus):
    lines = _with_ids(shared_messages() if corpus == "shared" else _fixture_lines())
    keys, canonical = _batch_keys(lines)
    assert canonical  # (the whole-batch path ran)
    masked = _masked(keys, canonical=True)
    for line, key in zip(lines, keys, strict=True):
        assert masked[key] == mask(line), line


def test_marking_varying_words_gives_the_ids_of_the_tolerance_step(monkeypatch):
    # the shared sets, each line with and without an id, plus a unique word on some
    rng = random.Random(10)
    lines = shared_messages()
    lines += [f"{line} {''.join(rng.choices(string.ascii_lowercase, k=7))}" for line in lines[::3]]
    expected = signature_ids(lines)
    monkeypatch.setattr(grouping, "_MARK_MIN", 0)
    assert signature_ids(lines) == expected


def test_many_lines_differing_only_in_ids_share_a_signature():
    rng = random.Random(11)
    n = _VECTOR_MIN * 3
    lines = [f"Payment declined for order req-{uuid.uuid4()} by gateway" for _ in range(n)]
    lines += [
        f"INFO c.e.OrderService - trace={rng.getrandbits(128):032x} order not found"
        for _ in range(n)
    ]
    lines.append("Payment accepted for order req-00000000-0000-0000-0000-000000000001 by gateway")
    ids = signature_ids(lines)
    assert len(set(ids[:n])) == 1
    assert len(set(ids[n : 2 * n])) == 1
    assert len({ids[0], ids[n], ids[-1]}) == 3


def test_many_lines_differing_only_in_a_unique_word_share_a_signature():
    rng = random.Random(12)
    n = grouping._MARK_MIN + 100
    words = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(n)]
    lines = [f"Invalid user {w} from host gateway" for w in words]
    lines += [f"Accepted password for {w} from host gateway" for w in words[:50]]
    lines += ["Invalid user Jan from host gateway", "took 5 seconds for the job"]
    ids = signature_ids(lines)
    assert len(set(ids[:n])) == 1
    assert len(set(ids[n : n + 50])) == 1
    assert ids[0] != ids[n]
    # the same id as the tolerance step gives a small batch of those lines
    assert set(signature_ids(lines[:6])) == {ids[0]}
    # a month name is not marked (it could start a <TS>) but, as with the tolerance step
    # alone, merges with the many words at its position
    assert ids[-2] == ids[0] != ids[-1]


def test_a_word_that_cannot_vary_alone_is_not_marked():
    # too few plain words besides the varying one: the tolerance step would not merge
    rng = random.Random(13)
    words = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(grouping._MARK_MIN)]
    lines = [f"FOLLOWING {w}" for w in words]
    assert len(set(signature_ids(lines))) == len(words)


def test_a_0x_number_does_not_change_the_mask():
    # canonicalising its hex digits ("0x1f" -> "0x00") keeps every mask, inside others too
    lines = [
        "session 0x1f2e3d closed",
        "at 0xdeadBEEF: fault",
        "a@0xab.example.com and 0xab.example.com:80 and 0xab@x.io",
        "/var/0xab/0xcd.log http://h/0xab?x=0xcd (0xab) [0xcd] '0xab' \"0xcd\" 0xab,0xcd",
        "fe80::0xab 1.2.3.4:0xab 5.0xab 0xab-0xcd 0x1fz 0x 0xg Dec 0xdec",
    ]
    sub = _rx().ids.sub
    for line in lines:
        key = line.translate(str.maketrans("0123456789", "0000000000"))
        canonical = sub(_canonical_id, key)
        assert canonical != key
        assert canonical_ids(key) == canonical
        assert _mask_key(canonical) == _mask_key(key), line


def test_many_lines_with_a_word_and_a_0x_session_id_are_marked():
    # a word and a 0x number unique to each line: the words are marked among the keys
    # with their ids canonicalised, giving the ids of the tolerance step
    rng = random.Random(14)
    n = grouping._MARK_MIN + 100
    lines = [
        f"Invalid user {''.join(rng.choices(string.ascii_lowercase, k=8))} from host "
        f"session=0x{rng.getrandbits(40):x} trace={rng.getrandbits(128):032x}"
        for _ in range(n)
    ]
    lines += [f"FOLLOWING {''.join(rng.choices(string.ascii_lowercase, k=8))}" for _ in range(n)]
    ids = signature_ids(lines)
    assert len(set(ids[:n])) == 1
    assert len(set(ids[n:])) == n  # (too few plain words: each its own, as without marking)
    assert set(signature_ids(lines[:6])) == {ids[0]}
    small = [signature_ids(lines[i : i + 1])[0] for i in range(n, n + 50)]
    assert small == ids[n : n + 50]
