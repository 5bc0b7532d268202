"""``mask_query``: no literal value of a query survives, and the query stays readable."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from pglast import parser as pg_parser

from incident_lib.sources.postgres import masking
from incident_lib.sources.postgres.masking import mask_query


def server_cut(text: str, limit: int) -> str:
    """``text`` as the server keeps it: at most ``limit`` UTF-8 bytes, whole characters."""
    return text.encode()[:limit].decode(errors="ignore")


# (query, the value inside it, expected masked text)
LITERALS = [
    ("SELECT 'hunter2'", "hunter2", "SELECT $1"),
    ("SELECT 'it''s mine'", "s mine", "SELECT $1"),
    ("SELECT E'line\\nbreak\\'q'", "break", "SELECT $1"),
    ("SELECT e'tab\\tsecret'", "secret", "SELECT $1"),
    ("SELECT U&'d\\0061t\\+000061'", "0061", "SELECT $1"),
    ("SELECT U&'!0041b' UESCAPE '!'", "0041b", "SELECT $1 UESCAPE $2"),
    ("SELECT $$dollar body$$", "dollar body", "SELECT $1"),
    ("SELECT $k9$tagged $$ body$k9$", "tagged", "SELECT $1"),
    ("SELECT B'1011001'", "1011001", "SELECT $1"),
    ("SELECT X'DEADBEEF'", "DEADBEEF", "SELECT $1"),
    ("SELECT N'national'", "national", "SELECT N$1"),
    ("SELECT 4111111111111111", "4111", "SELECT $1"),
    ("SELECT 1e5, 6.02e23, 1.5e-3", "6.02", "SELECT $1, $2, $3"),
    ("SELECT -31337", "31337", "SELECT -$1"),
    ("SELECT .5, 5.", ".5", "SELECT $1, $2"),
    ("SELECT 0x1F2E, 1_000_777", "1F2E", "SELECT $1, $2"),
    ("SELECT 'a'\n'continued'", "continued", "SELECT $1"),
    ("SELECT date '2026-11-26', interval '3 days'", "2026", "SELECT date $1, interval $2"),
    ("SELECT data->>'token' FROM t", "token", "SELECT data->>$1 FROM t"),
]


@pytest.mark.parametrize(("query", "value", "expected"), LITERALS)
def test_every_literal_shape_becomes_a_placeholder(query: str, value: str, expected: str) -> None:
    masked = mask_query(query)
    assert masked == expected
    assert value not in masked


def test_placeholders_are_numbered_after_the_existing_parameters() -> None:
    masked = mask_query("UPDATE orders SET note = 'x' WHERE id = $3 AND status = $1 AND n = 7")
    assert masked == "UPDATE orders SET note = $4 WHERE id = $3 AND status = $1 AND n = $5"
    # a "$500" inside a literal is no parameter: it neither survives nor shifts the numbers
    assert mask_query("SELECT 'price $500', $2") == "SELECT $3, $2"


def test_identifiers_keywords_operators_and_parameters_survive() -> None:
    query = 'SELECT o.id, "Mixed Case", é_col FROM public.orders o WHERE o.amount >= $1::numeric'
    assert mask_query(query) == query
    assert mask_query("<insufficient privilege>") == "<insufficient privilege>"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT 1 -- password=hunter2\nFROM t", "SELECT $1 FROM t"),
        ("SELECT/* token=abc */a FROM t", "SELECT a FROM t"),
        ("SELECT a /* outer /* token=abc */ still comment */ FROM t", "SELECT a FROM t"),
        ("SELECT a -- it's\nFROM t /* 'x */", "SELECT a FROM t"),
        ("/* app=api,secret=zz9 */ SELECT a", "SELECT a"),
    ],
)
def test_comments_are_dropped(query: str, expected: str) -> None:
    masked = mask_query(query)
    assert masked == expected
    for value in ("hunter2", "abc", "zz9", "outer", "still", "it's"):
        assert value not in masked


def test_positions_are_characters_not_utf8_bytes() -> None:
    # each é/€/ω takes 2-3 bytes: byte offsets would shift every token to the right
    query = "SELECT 'é€ω', nom_ü, 'secret' FROM tâble WHERE x = 12 AND y = 'ñ'"
    assert mask_query(query) == "SELECT $1, nom_ü, $2 FROM tâble WHERE x = $3 AND y = $4"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT * FROM t WHERE a = 'card-4111-1111", "SELECT * FROM t WHERE a = $1…"),
        ("SELECT * FROM t WHERE a = E'card-4111\\'", "SELECT * FROM t WHERE a = $1…"),
        ("SELECT U&'card-41", "SELECT $1…"),
        ("SELECT $$card-4111", "SELECT $1…"),
        ("SELECT $tag$card-4111 $$ $other$", "SELECT $1…"),
        ("SELECT B'10110", "SELECT $1…"),
        ("SELECT X'4111", "SELECT $1…"),
        ("SELECT 'é', $2, 'card-41", "SELECT $3, $2, $4…"),
        ("SELECT a /* card-4111 ", "SELECT a…"),
        ("'card-4111", "$1…"),
    ],
)
def test_text_cut_inside_a_literal_ends_in_one_placeholder(query: str, expected: str) -> None:
    masked = mask_query(query)
    assert masked == expected
    assert "4111" not in masked
    assert "41" not in masked.replace("$4", "")


def test_server_truncation_at_a_byte_limit_with_multibyte_text() -> None:
    query = "INSERT INTO clients (nom, note) VALUES ('Zoë Ångström', 'prénom€secret')"
    for limit in range(len(query.encode())):
        cut = server_cut(query, limit)
        masked = mask_query(cut)
        for fragment in ("Zoë", "Ångs", "ström", "prén", "€sec", "secret"):
            assert fragment not in masked, (limit, cut, masked)
    assert mask_query(server_cut(query, 52)) == "INSERT INTO clients (nom, note) VALUES ($1…"


@pytest.mark.parametrize(
    "query",
    [
        "SELECT x FROM t WHERE a = 1abc AND b = 'hunter2'",  # trailing junk after a number
        "SELECT x FROM t WHERE a = 0x AND b = 'hunter2'",  # invalid hexadecimal integer
        "SELECT x FROM t WHERE a = 0b2 -- hunter2",
        "SELECT x FROM t WHERE b = 'hunt\x00er2'",  # a NUL ends a C string
        "SELECT x FROM t WHERE a = 12abc\x00'hunter2'",
    ],
)
def test_text_the_lexer_cannot_read_keeps_only_what_precedes_any_literal(query: str) -> None:
    masked = mask_query(query)
    assert "hunt" not in masked
    assert "er2" not in masked
    assert masked.startswith("SELECT x FROM t WHERE")


def test_unreadable_text_is_cut_before_the_first_possible_literal_or_comment() -> None:
    assert mask_query("SELECT a FROM t WHERE b = 1abc") == "SELECT a FROM t WHERE b = …"
    assert mask_query("SELECT -- note\n 1abc") == "SELECT …"
    assert mask_query("9abc 'x'") == "…"


def test_width_cuts_between_tokens() -> None:
    query = "SELECT " + ", ".join(f"col{i}" for i in range(200)) + " FROM t WHERE a = 'v'"
    masked = mask_query(query, width=60)
    assert len(masked) <= 60
    assert masked.endswith("…")
    assert masked.startswith("SELECT col0, col1,")
    # the last kept token is whole (col12, not col1…)
    assert masked[:-1].split()[-1].rstrip(",") in {f"col{i}" for i in range(200)}
    short = mask_query("SELECT a FROM t WHERE b = 'hunter2' AND c = $1", width=30)
    assert len(short) <= 30
    assert short == "SELECT a FROM t WHERE b = $2…"
    assert len(mask_query(query)) <= 300  # the default width
    with pytest.raises(ValueError, match="width"):
        mask_query("SELECT 1", width=1)


def test_empty_and_blank_text() -> None:
    assert mask_query("") == ""
    assert mask_query(" \n\t ") == ""
    assert mask_query("SELECT\n\n  a,\tb   FROM t") == "SELECT a, b FROM t"


def test_repeated_texts_are_served_from_the_cache() -> None:
    query = "SELECT cached FROM t WHERE a = 'repeated-text-7d41'"
    first = mask_query(query)
    hits = masking._mask_cached.cache_info().hits
    assert mask_query(query) == first
    assert masking._mask_cached.cache_info().hits == hits + 1


def test_token_positions_that_do_not_fit_the_text_never_reveal_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were a pglast version to report UTF-8 byte offsets, the check falls back safely."""
    real_scan = pg_parser.scan

    def byte_offsets(text: str) -> list[pg_parser.Token]:
        def to_bytes(i: int) -> int:
            return len(text[:i].encode())

        return [
            t._replace(start=to_bytes(t.start), end=to_bytes(t.end + 1) - 1)
            for t in real_scan(text)
        ]

    monkeypatch.setattr(pg_parser, "scan", byte_offsets)
    masking._mask_cached.cache_clear()
    try:
        for query in (
            "SELECT 'ééé', 'hunter2', 42424242 FROM t",
            "SELECT 'é' || 'hunter2' FROM t",
            "SELECT ñ, 'hunter2'",
        ):
            masked = mask_query(query)
            assert "hunter2" not in masked, masked
            assert "4242" not in masked, masked
    finally:
        masking._mask_cached.cache_clear()


def test_an_error_index_that_does_not_point_at_a_literal_start_is_not_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def wrong_index(text: str) -> list[pg_parser.Token]:
        raise pg_parser.ParseError("unterminated quoted string", len(text) - 3)

    monkeypatch.setattr(pg_parser, "scan", wrong_index)
    masking._mask_cached.cache_clear()
    try:
        assert mask_query("SELECT a WHERE b = 'hunter2") == "SELECT a WHERE b = …"
    finally:
        masking._mask_cached.cache_clear()


# -- property: random queries built from secret-looking values never show any of them ----

SECRETS = [
    "hunter2Zq",
    "sk_live_Q9x7Wp",
    "pässwörd€Zy",
    "Ωμέγα-σκρτ",
    "alice@example.org",
    "ck'quo\"te",
    "xyzzy; DROP TABLE",
    "tok$en$9",
    "4111 1111 1111 1111",
    "line\nbreak\tinside",
]
NUMBERS = ["4111111111111111", "987654.321", "6.02e23", ".7531", "86420", "0x1F2E3D", "1_000_777"]
BITS = ["B'1011001110001'", "X'DEADBEEFCAFE'", "b'0110011101'", "x'C0FFEE0BAD'"]


def string_literal(rng: random.Random, value: str) -> str:
    shapes: list[Callable[[str], str]] = [
        lambda v: "'" + v.replace("'", "''") + "'",
        lambda v: "E'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'",
        lambda v: "e'" + v.replace("'", "''") + "\\n'",
        lambda v: "U&'" + v.replace("'", "''") + "'",
        lambda v: "$$" + v + "$$",
        lambda v: "$k9$" + v + "$k9$",
        lambda v: "N'" + v.replace("'", "''") + "'",
    ]
    if "$$" in value:
        shapes.pop(4)
    return rng.choice(shapes)(value)


def random_query(rng: random.Random) -> tuple[str, list[str]]:
    """A query with literals and comments drawn from the pools, and the values it holds."""
    values: list[str] = []
    parts = [rng.choice(["SELECT id, note FROM orders WHERE", "UPDATE orders SET x = y WHERE"])]
    for i in range(rng.randint(1, 6)):
        if i:
            parts.append(rng.choice(["AND", "OR", ","]))
        column = rng.choice(["id", "note", "email", "amount", "ü_col", '"Quoted Col"'])
        kind = rng.random()
        if kind < 0.5:
            value = rng.choice(SECRETS)
            literal = string_literal(rng, value)
        elif kind < 0.75:
            value = rng.choice(NUMBERS)
            literal = rng.choice(["", "-", "+"]) + value
        elif kind < 0.85:
            literal = rng.choice(BITS)
            value = literal[2:-1]
        else:
            value, literal = "", f"${rng.randint(1, 9)}"
        parts.append(f"{column} {rng.choice(['=', '<>', '>=', '||'])} {literal}")
        if value:
            values.append(value)
        if rng.random() < 0.25:
            secret = rng.choice(SECRETS)
            values.append(secret)
            parts.append(
                rng.choice(
                    [
                        f"-- {secret}\n".replace("line\n", "line "),
                        f"/* {secret} */",
                        f"/* a /* {secret} */ b */",
                    ]
                )
            )
    if rng.random() < 0.1:  # garbage the lexer refuses, here and there
        parts.insert(rng.randint(1, len(parts)), rng.choice(["1abc", "0x", "0b2", "\x00", "9_"]))
    return " ".join(parts), values


VOCABULARY = (
    "SELECT id, note FROM orders WHERE UPDATE SET x = y AND OR email amount ü_col "
    '"Quoted Col" <> >= || N U UESCAPE …'
)


def windows(value: str, size: int = 4) -> set[str]:
    return {value[i : i + size] for i in range(len(value) - size + 1)} or {value}


def test_property_no_literal_value_ever_survives() -> None:
    all_windows = set().union(*(windows(v) for v in SECRETS + NUMBERS + BITS))
    assert not {w for w in all_windows if w in VOCABULARY}, "the pools overlap the vocabulary"
    rng = random.Random(20261126)
    masked_any = 0
    for _ in range(3000):
        query, values = random_query(rng)
        text = query
        if rng.random() < 0.4:  # cut by the server at track_activity_query_size
            text = server_cut(query, rng.randint(1, len(query.encode())))
        width = rng.choice([300, 300, 120, 40, 12])
        masked = mask_query(text, width=width)
        assert len(masked) <= width
        for value in values:
            for window in windows(value):
                assert window not in masked, (text, masked, value)
        masked_any += "$" in masked
    assert masked_any > 1000  # most queries were read, not just cut short
