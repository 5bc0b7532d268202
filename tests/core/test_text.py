"""Text for people: word-boundary shortening and Markdown quoting of untrusted text."""

from __future__ import annotations

import markdown_it
import pytest

from incident_lib.core.text import md_code, md_plain, md_text, shorten


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("FATAL: remaining connection slots are reserved", 20, "FATAL: remaining…"),
        ("sqlalchemy.exc.TimeoutError: QueuePool limit", 24, "sqlalchemy.exc.…"),
        ("short", 20, "short"),
        ("two\nlines  here", 40, "two lines here"),
    ],
)
def test_shorten(text, width, expected):
    out = shorten(text, width)
    assert out == expected
    assert len(out) <= width


def test_shorten_never_cuts_mid_word_when_a_boundary_exists():
    out = shorten("pool exhausted waiting for connection after 30000 ms", 30)
    assert out.endswith("…")
    assert "pool exhausted waiting for connection after 30000 ms".startswith(out[:-1])
    assert out[:-1].split()[-1] in {"for", "waiting", "connection"}


PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![x](/etc/hostname)",
    "QueuePool limit of size <NUM> overflow <NUM>",
    "a ` b `` c",
]


def _render(markdown: str) -> str:
    return markdown_it.MarkdownIt("commonmark").render(markdown)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_text_renders_as_literal_text(payload):
    html = _render(f"Found: {md_text(payload)}")
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "<num>" not in html.lower().replace("&lt;num&gt;", "")
    if "<NUM>" in payload:
        assert "&lt;NUM&gt;" in html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_code_is_one_code_span_holding_the_text(payload):
    html = _render(md_code(payload))
    assert html.count("<code>") == 1
    assert "<script" not in html and "<img" not in html and "<a " not in html


def test_md_code_survives_a_backtick_escape():
    html = _render(md_code("x` <b>bold</b> `y"))
    assert "<b>" not in html


def test_shorten_with_whole_tokens_never_cuts_inside_a_token():
    key = "AKIAIOSFODNN7EXAMPLE"
    text = f"rotate the key {key} now"
    for width in range(16, len(text)):
        out = shorten(text, width, whole_tokens=True)
        assert len(out) <= width
        assert key in out or "AKIA" not in out
    assert shorten(key + " tail", 10, whole_tokens=True) == "…"


@pytest.mark.parametrize(
    "text",
    [
        "api <NUM> returned [x](javascript:alert(1)) *twice* _once_",
        r"path C:\temp\x and `code` #1 - 50% ~ok | $HOME & 'q' \"d\"",
        "plain words only",
    ],
)
def test_md_plain_undoes_md_text(text):
    assert md_plain(md_text(text)) == text


def test_md_plain_drops_the_drafts_emphasis_and_keeps_lines():
    draft = "**Resolved** — " + md_text("api_gw") + "\n\nFixed.\n\n_Posted 14:30 UTC_"
    assert md_plain(draft) == "Resolved — api_gw\n\nFixed.\n\nPosted 14:30 UTC"


@pytest.mark.parametrize("text", ["api", "a `b` c", "``x``", "tail`"])
def test_md_plain_undoes_md_code(text):
    assert md_plain(f"Service {md_code(text)} in prod") == f"Service {text} in prod"
