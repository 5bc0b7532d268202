"""Secrets logged over several rows: private key blocks and service-account JSON keys.

A program that prints a PEM private key or a pretty-printed Google
service-account key writes one log event per line, so the key arrives as
consecutive rows of one (pod, container): ``-----BEGIN ... PRIVATE KEY-----``,
base64 body lines, ``-----END ... PRIVATE KEY-----``; or ``{``, ``"type":
"service_account",``, ``"private_key_id": ...``, ``}``. No single row looks like
much (a body line is just base64), so :func:`block_redactions` looks at the rows
of one container in order and redacts every row of such a block: the BEGIN row
keeps its marker, the END row its marker, body rows and the rows of the JSON
object become ``[REDACTED]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .secret_rules import REDACTED

__all__ = ["TRIGGER", "block_redactions"]

#: a row that may start (or sit inside) a multi-row secret; RE2 can run it (pandas: pyarrow)
TRIGGER = (
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY"
    r"""|["']type["'][ \t]*:[ \t]*["']service_account|["']private_key(?:_id)?["'][ \t]*:"""
)

_BEGIN = re.compile(r"-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----")
# A line of a PEM body: base64, an encryption header, or blank.
_BODY = re.compile(
    r"""\s*(?:[A-Za-z0-9+/]+={0,2}(?:\\n)?|(?:Proc-Type|DEK-Info|Comment):.*|)\s*["',]*\s*""",
    re.ASCII,
)
_SERVICE_ACCOUNT = re.compile(TRIGGER.partition("|")[2])
# A line inside a pretty-printed JSON object: a member, or a bracket.
_MEMBER = re.compile(r"""\s*(?:["'][^"']*["']\s*:|[\[\]{}]|-----END )""")
_MAX_ROWS = 300  # a 4096-bit RSA key is about 50 lines; a JSON key about 15


def _pem(messages: Sequence[str], i: int, out: dict[int, str], clean: Callable[[str], str]) -> int:
    """Redact the PEM block that begins in row ``i``; return the last row of the block."""
    text = messages[i]
    begin = _BEGIN.search(text)
    if begin is None:
        return i
    end_marker = f"-----END {begin['kind']}-----"
    if end_marker in text[begin.end() :]:
        return i  # the whole block is in this row: the single-row rule redacts it
    out[i] = clean(text[: begin.end()]) + REDACTED
    last = i
    for j in range(i + 1, min(len(messages), i + _MAX_ROWS)):
        row = messages[j]
        at = row.find(end_marker)
        if at >= 0:
            out[j] = REDACTED + clean(row[at:])
            return j
        if not _BODY.fullmatch(row):
            break
        out[j] = REDACTED
        last = j
    return last


def _json_key(messages: Sequence[str], i: int, out: dict[int, str]) -> int:
    """Redact the JSON object (a service-account key) around row ``i``; return its last row."""
    text = messages[i]
    if "{" in text and "}" in text and text.count("{") == text.count("}"):
        return i  # a one-row object: the per-row rules see its private_key and key id
    start = i
    while start > 0 and i - start < _MAX_ROWS and not messages[start].lstrip().startswith("{"):
        previous = messages[start - 1]
        if not (_MEMBER.match(previous) or _BODY.fullmatch(previous)):
            break
        start -= 1
    end = i
    while end < len(messages) - 1 and end - i < _MAX_ROWS:
        if messages[end].lstrip().startswith("}") and end > i:
            break
        following = messages[end + 1]
        if not (_MEMBER.match(following) or _BODY.fullmatch(following) or "-----END" in following):
            break
        end += 1
    for j in range(start, end + 1):
        out[j] = REDACTED
    return end


def block_redactions(messages: Sequence[str], clean: Callable[[str], str]) -> dict[int, str]:
    """The rows of one container's messages that belong to a multi-row secret.

    Parameters
    ----------
    messages
        The messages of ONE (pod, container), in log order; missing ones as ``""``.
    clean
        The single-text redaction, for what lies around a marker on its row.

    Returns
    -------
    dict
        Position in ``messages`` -> the redacted message, for every row of a
        block (BEGIN..END of a private key, or the rows of a JSON service-account
        key); rows outside blocks are absent.
    """
    out: dict[int, str] = {}
    i = 0
    while i < len(messages):
        text = messages[i]
        last = i
        if "PRIVATE KEY" in text:
            last = _pem(messages, i, out, clean)
        if last == i and _SERVICE_ACCOUNT.search(text):
            last = _json_key(messages, i, out)
        i = max(last, i) + 1
    return out
