"""Text for people: shortening at word boundaries and quoting untrusted text in Markdown.

Text that comes from the systems under investigation (log lines, templates such as
``size <NUM>``, event messages, object names, commit subjects) is data. Before it is
placed into Markdown that a notebook or a page renders, it goes through
:func:`md_text` (prose) or :func:`md_code` (inline code), so that it can never
become a tag, a link, an image or an escape out of a code span.
"""

from __future__ import annotations

import re

__all__ = ["count", "md_code", "md_plain", "md_text", "shorten"]

_ELLIPSIS = "…"
# Markdown and HTML punctuation that can start markup, escaped with a backslash.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&\"'$])")
_WHITESPACE = re.compile(r"\s+")
# a code span of md_code: a run of backticks not escaped, its text, the same run again
_MD_CODE_SPAN = re.compile(r"(?<!\\)(`+) ?(.+?) ?(?<!\\)\1(?!`)")
_MD_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~<>&\"'$])")


def shorten(text: str, width: int, *, whole_tokens: bool = False) -> str:
    """``text`` on one line, at most ``width`` characters, cut at a word boundary with ``…``.

    A single token longer than ``width`` is cut after a ``.``, ``/`` or ``:`` inside it,
    else inside the token (there is no boundary). With ``whole_tokens`` no token is
    ever cut: the text ends at the last space that fits, and a first token longer than
    ``width`` is dropped whole. Use it where redaction comes after the cut (a source's
    text, redacted at capture): half a key no longer matches the pattern that would
    have caught it whole.

    Examples
    --------
    >>> shorten("FATAL: remaining connection slots are reserved", 20)
    'FATAL: remaining…'
    >>> shorten("short", 20)
    'short'
    """
    if width < 2:
        raise ValueError("width must be at least 2")
    flat = _WHITESPACE.sub(" ", text).strip()
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    boundary = cut.rfind(" ")
    if whole_tokens:
        return (cut[:boundary].rstrip(" ,;:-") if boundary > 0 else "") + _ELLIPSIS
    if boundary >= width // 3:
        cut = cut[:boundary]
    else:  # one long token (a dotted name, a path): break after a separator inside it
        inside = max(cut.rfind(sep) for sep in "./:")
        if inside >= width // 3:
            cut = cut[: inside + 1]
    return cut.rstrip(" ,;:-") + _ELLIPSIS


def md_text(text: str) -> str:
    """``text`` escaped for Markdown prose: every markup character shown literally.

    ``<NUM>`` stays ``<NUM>`` on the page instead of becoming an HTML tag;
    ``[x](javascript:...)`` and ``![x](/etc/hostname)`` stay text. Newlines
    become spaces (a finding or a table cell is one line).
    """
    return _MD_SPECIAL.sub(r"\\\1", _WHITESPACE.sub(" ", text).strip())


def md_plain(markdown: str) -> str:
    """A draft written in Markdown as the plain text a status page or a pager shows.

    Undoes what the drafts use: ``**bold**``, a line in ``_italics_``, code spans
    of :func:`md_code` and the backslash escapes of :func:`md_text`; lines are kept.

    Examples
    --------
    >>> md_plain("**Investigating** — " + md_text("api-gw <5xx>"))
    'Investigating — api-gw <5xx>'
    """
    lines = []
    for line in markdown.splitlines():
        line = line.replace("**", "")
        if len(line) > 2 and line.startswith("_") and line.endswith("_"):
            line = line[1:-1]
        line = _MD_CODE_SPAN.sub(lambda m: m.group(2), line)
        lines.append(_MD_ESCAPED.sub(r"\1", line))
    return "\n".join(lines)


def md_code(text: str) -> str:
    """``text`` as a Markdown inline code span that no backtick inside can close early.

    The fence is one backtick longer than the longest run of backticks in the
    text (CommonMark), padded with spaces when the text starts or ends with one.
    """
    flat = _WHITESPACE.sub(" ", text).strip()
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def count(number: int, noun: str, plural: str = "") -> str:
    """``number`` and ``noun``, plural when it is not 1.

    Examples
    --------
    >>> count(1, "session"), count(6, "session"), count(2, "query", "queries")
    ('1 session', '6 sessions', '2 queries')
    """
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
