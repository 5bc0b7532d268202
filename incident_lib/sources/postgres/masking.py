"""Query text with every literal replaced by a placeholder, for ``pg_stat_activity`` rows.

A query in ``pg_stat_activity.query`` carries the values it was sent with: customer
names, card numbers, tokens. Before a query text enters a frame it goes through
:func:`mask_query`, which runs PostgreSQL's own lexer (``pglast.parser.scan``, the
scanner of libpg_query) and

* replaces every literal token -- ``'...'``, ``E'...'``, ``U&'...'``, ``$$...$$``,
  ``$tag$...$tag$``, ``B'...'``, ``X'...'``, integers and numerics -- by a ``$n``
  placeholder numbered after the highest ``$k`` parameter already in the text (the
  style of ``pg_stat_statements``);
* drops comments (``--`` and ``/* */``, nested), which can hold values too;
* keeps identifiers, keywords, operators and ``$1`` parameters, with runs of white
  space as one space.

The server cuts the text at ``track_activity_query_size`` bytes, often inside a
literal: the lexer then reports an unterminated literal at an index, and everything
from there becomes one placeholder and ``…``. Any other text the lexer cannot read
is kept only up to the first character that could start a literal or a comment (a
quote, a digit, ``$``, ``--``, ``/*``), then ``…``. The result never holds text the
lexer did not classify.

``pglast`` (6 and later) reports token and error positions as *character* indices of
the Python string (it converts libpg_query's UTF-8 byte offsets itself); every
position is nevertheless checked against the text before it is used, and a mismatch
falls back to the cautious cut above rather than risk showing part of a value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from incident_lib.core.text import shorten

if TYPE_CHECKING:
    from pglast.parser import Token

__all__ = ["mask_query"]

_ELLIPSIS = "…"
#: lexer tokens whose text is a value
_LITERALS = frozenset({"SCONST", "USCONST", "ICONST", "FCONST", "BCONST", "XCONST"})
_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_NUMBERS = frozenset({"ICONST", "FCONST"})
#: the first characters a string-like literal token can have (quote, dollar, E/U/B/X prefix)
_STRING_START = frozenset("'$EeUuBbXx")
#: where the cautious cut stops: anything that could start a literal or a comment
_UNSAFE = re.compile(r"['\"$0-9]|--|/\*")
#: what may start an unterminated literal, quoted identifier or comment at an error index
_UNTERMINATED_AT = re.compile(r"(?:[EeBbXxNn]?'|[Uu]&['\"]|\$|\"|/\*)")
_CACHE_SIZE = 8192


def mask_query(text: str, *, width: int = 300) -> str:
    """``text`` with every literal replaced by ``$n`` and comments dropped, on one line.

    Parameters
    ----------
    text
        A query as ``pg_stat_activity.query`` or ``pg_stat_statements.query`` shows it,
        possibly cut by the server inside a literal.
    width
        At most this many characters; longer results are cut at a space between
        tokens and end with ``…`` (never inside a placeholder or a name).

    Returns
    -------
    str
        The masked text. No character of any literal or comment survives;
        identifiers, keywords, operators and ``$k`` parameters do.

    Raises
    ------
    ValueError
        When ``width`` is below 2.

    Examples
    --------
    >>> mask_query("SELECT * FROM users WHERE email = 'a@b.c' AND id = $1 -- hi")
    'SELECT * FROM users WHERE email = $2 AND id = $1'
    >>> mask_query("UPDATE t SET note = 'cut by the serv")
    'UPDATE t SET note = $1…'
    """
    if width < 2:
        raise ValueError("width must be at least 2")
    return _mask_cached(text, width)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _mask_cached(text: str, width: int) -> str:
    return shorten(_mask(text), width, whole_tokens=True)


def _mask(text: str) -> str:
    """The whole text masked (not shortened)."""
    # libpg_query reads a C string: text after a NUL would never be scanned (nor masked)
    text = text.replace("\x00", " ")
    from pglast.parser import ParseError, scan

    try:
        rebuilt = _rebuild(text, scan(text))
    except ParseError as exc:
        index = exc.args[1] if len(exc.args) > 1 else None
        if not (
            str(exc.args[0]).startswith("unterminated")
            and isinstance(index, int)
            and 0 <= index < len(text)
            and _UNTERMINATED_AT.match(text, index)
        ):
            return _cautious(text)
        head = text[:index]
        try:
            rebuilt = _rebuild(head, scan(head))
        except ParseError:
            return _cautious(text)
        if rebuilt is None:
            return _cautious(text)
        masked, number = rebuilt
        if text.startswith("/*", index):  # a comment: nothing to stand for
            return f"{masked}{_ELLIPSIS}"
        space = " " if masked and head[-1:].isspace() else ""
        return f"{masked}{space}${number}{_ELLIPSIS}"
    return _cautious(text) if rebuilt is None else rebuilt[0]


def _rebuild(text: str, tokens: Sequence[Token]) -> tuple[str, int] | None:
    """``text`` rebuilt from its tokens, masked, and the next placeholder number.

    ``None`` when a token position does not fit the text.
    """
    out: list[str] = []
    slots: list[int] = []  # where the literals were, in ``out``
    highest = 0  # the highest ``$k`` parameter
    previous = 0
    gap = False
    size = len(text)
    for start, end, name, _kind in tokens:
        if start != previous:
            if not previous < start <= end < size or not text[previous:start].isspace():
                return None  # characters no token covers: the positions are not ours
            gap = True
        elif end >= size or end < start:
            return None
        previous = end + 1
        if name in _COMMENTS:
            gap = True
            continue
        if gap and out:
            out.append(" ")
        gap = False
        piece = text[start:previous]
        if name in _LITERALS:
            if not _plausible_literal(name, piece):
                return None
            slots.append(len(out))
        elif name == "PARAM":
            if not piece[1:].isdigit():
                return None
            highest = max(highest, int(piece[1:]))
        out.append(piece)
    if previous < size and not text[previous:].isspace():
        return None
    number = highest + 1
    for slot in slots:
        out[slot] = f"${number}"
        number += 1
    return "".join(out), number


def _plausible_literal(name: str, piece: str) -> bool:
    """Whether ``piece`` looks like a token of kind ``name`` (guards the positions)."""
    if name in _NUMBERS:
        return piece[0].isdigit() or (piece[0] == "." and len(piece) > 1)
    return piece[0] in _STRING_START and piece[-1] in "'$" and len(piece) >= 2


def _cautious(text: str) -> str:
    """The text before anything that could start a literal or a comment, then ``…``."""
    found = _UNSAFE.search(text)
    head = " ".join(text[: found.start() if found else len(text)].split())
    return f"{head} {_ELLIPSIS}" if head else _ELLIPSIS
