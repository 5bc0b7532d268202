"""The one redaction step every output goes through.

Notebooks, HTML pages, findings, post-mortem drafts and evidence captures pass
through :func:`redact` (or one of its wrappers) before they are written. A
secret value becomes ``[REDACTED]`` and the key or prefix around it stays, so
the line remains readable::

    Authorization: Bearer [REDACTED]
    postgresql://app:[REDACTED]@db:5432/orders
    password=[REDACTED]            "api_key": "[REDACTED]"
    AKIA[REDACTED]                 ghp_[REDACTED]

What counts as a secret is the table ``_RULES``, one pattern per row.
``key=value`` pairs (also ``key: value``, ``"key": "value"``, HTML- or
JSON-escaped quotes) are redacted when the key *ends* with a credential word
(``password``, ``PGPASSWORD``, ``access_token``, ``DD-API-KEY``,
``client_secret``...); ``max_tokens=5``, ``password_reset=true`` and a bare
word ("token bucket refilled") are left alone, as is ordinary log text
(durations, UUIDs, IPs, hex ids, URLs without a password).

:func:`redact` is built for hundreds of thousands of log lines: every rule has
hint words (``"pass"``, ``"://"``, ``"akia"``...), a line whose lower case holds
none of them is returned after a few substring checks, and otherwise only the
rules whose hints occur run. Redacting is idempotent.

Not recognised: a password given as a separate short option (``mysql -p x``),
cookies, HTTP Digest responses, and the middle lines of a private key split
across log lines.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REDACTED",
    "redact",
    "redact_frame",
    "redact_notebook",
    "redact_obj",
    "secret_reason",
]

REDACTED = "[REDACTED]"

# -- vocabulary shared by key=value pairs and credential names -----------------------

# Words a credential key or name may END with, glued to anything: pgpassword, accessToken.
# A plain "signature" is not one: "invalid signature: ..." and "error signature: ..." are
# ordinary text; the signed-URL parameter is "X-Amz-Signature".
_SECRET_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "credential", "credentials",
    "amz-signature",
)  # fmt: skip
# Short words that count only as a word of their own: db_pass, MYSQL_PWD, auth (not bypass).
_SECRET_PARTS = ("pass", "pwd", "auth", "sig")
# "<qualifier>key", "<qualifier>_key", "<qualifier>-key": api_key, DD-APP-KEY, AccountKey.
_KEY_QUALIFIERS = (
    "api", "app", "application", "access", "private", "secret", "account", "signing",
    "encryption", "master", "client", "ssh",
)  # fmt: skip

# -- the rules -----------------------------------------------------------------------
#
# Every pattern has a group ``secret``: that span of the text becomes [REDACTED],
# everything around it stays. Case-insensitive rules match the lower-cased text
# (``lowered=True``, patterns in lower case): Python's re is several times slower
# with IGNORECASE.

# A quote around a key or value: " ' or ` (Markdown), JSON-escaped \" or \', or HTML-escaped.
_QUOTE = r"""(?:\\?["'`]|&(?:quot|#0*3[49]|#x0*2[27]);)"""
# A key ending with a credential word: a flat alternation of words, each starting
# with a literal, which re tries several times faster than nested groups.
_KEY = "(?:{})".format(
    "|".join(
        [
            *_SECRET_WORDS,
            *(f"{q}[_-]?key" for q in _KEY_QUALIFIERS),
            *(f"{p}(?<![a-z0-9]{p})" for p in _SECRET_PARTS),
        ]
    )
)
# Between key and value: the key's closing quote, then = : == := or =>.
_SEP = rf"{_QUOTE}?[ \t]*(?:[:=]=?|=>)[ \t]*"
# An opening quote (captured), then an optional auth scheme that stays readable.
_OPEN = rf"(?P<open>{_QUOTE})?(?:(?:bearer|basic|token)[ \t]+)?"
# The value: a quoted value runs to its closing quote; a bare value to the next
# space , ; & < or quote. Not values: a call or subscript (getpass(), os.getenv("x"),
# os.environ["x"]) and a CSS selector (.fa-user-secret:before {). [redacted] is
# matched whole so that redacting twice changes nothing.
_VALUE = (
    r"(?P<secret>\[redacted\]|(?(open)"
    r"""(?:[^"'`\\\r\n&]|&(?!quot;|#0*3[49];|#x0*2[27];))+"""
    r"""|(?![a-z_][\w.]*(?:\([^()\s]*\)|\[["'])|[a-z-]+[ \t]*\{)[^\s"'`\\&,;<]+))"""
)


def _not_a_plain_word(value: str) -> bool:
    """``Bearer <value>``: a credential, unless a plain word ("basic authentication")."""
    return len(value) >= 8 and (
        any(c.isdigit() or c in "+/=_~" for c in value) or any(c.isupper() for c in value[1:])
    )


class _Rule(NamedTuple):
    label: str  # what secret_reason says when the rule fires
    hints: tuple[str, ...]  # the rule can only match text whose lower case holds one
    lowered: bool  # match the lower-cased text (a case-insensitive rule)
    pattern: re.Pattern[str]
    accept: Callable[[str], bool] | None = None  # a last look at the secret


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags | re.ASCII)


_RULES: tuple[_Rule, ...] = (
    # -----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY----- (multi-line);
    # of a block cut off before its END line, the base64 lines that follow go.
    _Rule(
        "a private key block",
        ("private key",),
        False,
        _rx(
            r"-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----(?P<secret>"
            r".*?(?=-----END (?P=kind)-----)|\[REDACTED\]|(?:(?:\s|\\[nr])*(?:"
            r"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9+/]+={1,2}|(?:Proc-Type|DEK-Info):[^\r\n\\]*))+)",
            re.DOTALL,
        ),
    ),
    # An AWS SigV4 signature (Signature=<64 hex> in a header or a signed URL); a
    # "signature: ..." in prose is not one.
    _Rule(
        "a request signature",
        ("signature=",),
        True,
        _rx(r"\bsignature=(?P<secret>[0-9a-f]{16,})"),
    ),
    # Authorization / Proxy-Authorization header; the scheme (Bearer, Basic) stays.
    _Rule(
        "an Authorization header",
        ("authorization",),
        True,
        _rx(
            rf"\bauthorization{_SEP}{_QUOTE}?(?:(?:bearer|basic|token|negotiate|ntlm)[ \t]+)?"
            r"""(?P<secret>[^\s"'`\\&,;<]+)"""
        ),
    ),
    # A bare "Bearer <token>" / "Basic <base64>" anywhere else.
    _Rule(
        "a bearer or basic credential",
        ("bearer", "basic"),
        True,
        _rx(r"\b(?:bearer|basic)[ \t]+(?P<secret>[a-z0-9._~+/-]+=*)"),
        _not_a_plain_word,
    ),
    # JSON Web Token: eyJ<header>.eyJ<payload>.<signature>
    _Rule(
        "a JSON Web Token",
        ("eyj",),
        False,
        _rx(r"\b(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"),
    ),
    # AWS access key id: long-term AKIA..., temporary ASIA...
    _Rule(
        "an AWS access key id",
        ("akia", "asia"),
        False,
        _rx(r"\b(?:AKIA|ASIA)(?P<secret>[A-Z0-9]{16})\b"),
    ),
    # GitHub tokens: ghp_ gho_ ghu_ ghs_ ghr_ and fine-grained github_pat_.
    _Rule(
        "a GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        False,
        _rx(r"\b(?:gh[pousr]_|github_pat_)(?P<secret>[A-Za-z0-9_]{20,})"),
    ),
    # Slack tokens: xoxb- xoxp- xoxa- xoxo- xoxs- xoxr- xoxe-.
    _Rule(
        "a Slack token",
        ("xox",),
        False,
        _rx(r"\bxox[abposre]-(?P<secret>[A-Za-z0-9-]{10,})"),
    ),
    # Slack incoming webhook: the path after /services/ is the secret.
    _Rule(
        "a Slack webhook",
        ("hooks.slack.com",),
        False,
        _rx(r"hooks\.slack\.com/services/(?P<secret>[A-Za-z0-9_/]+)"),
    ),
    # Google API key: AIza + 35 characters.
    _Rule(
        "a Google API key",
        ("aiza",),
        False,
        _rx(r"\bAIza(?P<secret>[A-Za-z0-9_-]{35})(?![A-Za-z0-9_-])"),
    ),
    # key=value, key: value, "key": "value", key == 'value' whose key ENDS with a
    # credential word: password=, PGPASSWORD=, aws_secret_access_key =, DD-API-KEY:,
    # "client_secret": "...", AccountKey=...; (Azure), Signature= (AWS SigV4), sig= (SAS).
    _Rule(
        "a credential key=value pair",
        ("pass", "pwd", "auth", "sig", "secret", "token", "credential", "key"),
        True,
        _rx(rf"{_KEY}{_SEP}{_OPEN}{_VALUE}"),
    ),
    # SQL: ALTER ROLE x WITH [ENCRYPTED] PASSWORD 'p', CREATE USER y IDENTIFIED BY 'p'.
    _Rule(
        "a password in SQL",
        ("password", "identified by"),
        True,
        _rx(r"\b(?:password|identified by)\s+'(?P<secret>(?:[^'\\]|''|\\.)+)'"),
    ),
    # scheme://user:PASSWORD@host (DSNs and URLs), up to the last @ of the authority.
    # After the pairs: their redactions may shorten what lies between : and @.
    _Rule(
        "a password in a URL",
        ("://",),
        True,
        _rx(r"""://[^\s:/?#@"'<>]*:(?P<secret>[^\s/?#"'<>]+)(?=@)"""),
    ),
    # Command-line flags: --password x, --api-key "x", --db-token x.
    _Rule(
        "a credential command-line flag",
        ("--",),
        True,
        _rx(
            r"(?<![\w-])--[\w-]*?(?:password|passwd|token|secret|api[_-]?key)[ \t]+"
            rf"(?P<open>{_QUOTE})?(?!-){_VALUE}"
        ),
    ),
    # curl -u user:password / --user user:password (the user stays).
    _Rule(
        "a curl password",
        ("curl",),
        True,
        _rx(r"""\bcurl\b[^\r\n]*?[ \t](?:-u|--user)[ \t]+["']?[^\s:"']+:(?P<secret>[^\s"']+)"""),
    ),
)

# The prefilter: text whose lower case holds none of these is returned as it is.
_HINTS = tuple(dict.fromkeys(hint for rule in _RULES for hint in rule.hints))
# The same as one pattern of literals, for pandas (run case-insensitively, in RE2).
_HINTS_PATTERN = "|".join(map(re.escape, _HINTS))
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _lower(text: str) -> str:
    """``text.lower()``, of the same length so that positions carry over to ``text``."""
    lower = text.lower()
    return lower if len(lower) == len(text) else text.translate(_ASCII_LOWER)


def _hints_in(lower: str) -> set[str]:
    """The hints that occur in ``lower`` (substring checks, no regex)."""
    return set(filter(lower.__contains__, _HINTS))


def _apply(rule: _Rule, text: str, lower: str) -> str:
    """``text`` with every ``secret`` span that ``rule`` finds replaced by [REDACTED]."""
    parts: list[str] = []
    last = 0
    for match in rule.pattern.finditer(lower if rule.lowered else text):
        start, end = match.span("secret")
        if rule.accept is None or rule.accept(text[start:end]):
            parts += (text[last:start], REDACTED)
            last = end
    return "".join((*parts, text[last:])) if parts else text


def redact(text: str) -> str:
    """Return ``text`` with every secret value replaced by ``[REDACTED]``.

    Keys and prefixes stay (``password=[REDACTED]``, ``Bearer [REDACTED]``,
    ``postgresql://app:[REDACTED]@db/orders``). Text holding none of the rules'
    hint words is returned unchanged after a few substring checks; otherwise
    only the rules whose hints occur run. ``redact(redact(x)) == redact(x)``.

    Parameters
    ----------
    text
        Any text: a log line, a notebook cell, a whole HTML page.

    Returns
    -------
    str
        The redacted text.
    """
    if not text:
        return text
    lower = _lower(text)
    found = _hints_in(lower)
    if not found:
        return text
    if "\x1b[" in text:
        # Terminal colours (IPython tracebacks) split "password" from "=" and the
        # value; judge the plain text, and give it up coloured only when clean.
        plain = _ANSI.sub("", text)
        cleaned = _redact_plain(plain, _hints_in(_lower(plain)))
        return text if cleaned == plain else cleaned
    return _redact_plain(text, found)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _redact_plain(text: str, found: set[str]) -> str:
    lower = _lower(text)
    for rule in _RULES:
        if not found.isdisjoint(rule.hints):
            redacted = _apply(rule, text, lower)
            if redacted != text:
                text, lower = redacted, _lower(redacted)
    return text


# -- credential-looking names --------------------------------------------------------

# Words of a name: snake_case, kebab-case, dotted, camelCase ("DD_API_KEY", "apiKey").
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_NAME_ENDINGS = (*_SECRET_WORDS, *(f"{q}key" for q in _KEY_QUALIFIERS))
_NAME_ALONE = frozenset({*_SECRET_PARTS, "authorization", "dsn"})


def _credential_word(name: str) -> str | None:
    """The word of ``name`` that makes it a credential name, or None."""
    words: list[str] = [w.lower() for w in _NAME_WORDS.findall(name)]
    for i, word in enumerate(words):
        if word in _NAME_ALONE or word.endswith(_NAME_ENDINGS):
            return word
        if word == "key" and i and words[i - 1] in _KEY_QUALIFIERS:
            return f"{words[i - 1]}_key"
    return None


def secret_reason(name: str, value: object) -> str | None:
    """Why a notebook parameter looks like a credential, or None when it does not.

    The name is split into words at ``_``, ``-``, ``.``, spaces, digits and
    camelCase humps; it is a credential name when a word

    * ends with ``password``, ``passwd``, ``passphrase``, ``secret``, ``token`` or
      ``credential(s)`` (so ``PGPASSWORD`` and ``accesstoken`` count), or with
      ``key`` glued to a qualifier (``apikey``, ``appkey``...); a plain
      ``signature`` is this project's word for an error template, not a secret;
    * is ``pass``, ``pwd``, ``auth``, ``sig``, ``authorization`` or ``dsn``;
    * is ``key`` right after a qualifier: ``api``, ``app``, ``application``,
      ``access``, ``private``, ``secret``, ``account``, ``signing``,
      ``encryption``, ``master``, ``client`` or ``ssh``.

    So ``db_password``, ``apiKey``, ``DD_APP_KEY``, ``pg_dsn``,
    ``token_bucket_size`` and ``credentials_file`` are refused; ``max_tokens``,
    ``keyword``, ``monkey``, ``author``, ``passes`` and ``window_start`` are not.
    The value is refused when :func:`redact` (:func:`redact_obj` for lists and
    dicts) would change it: a DSN with a password, a bearer token, a JWT...

    Parameters
    ----------
    name
        The parameter name.
    value
        The parameter value (any type).

    Returns
    -------
    str or None
        A short reason such as ``"its name looks like a credential ('password')"``
        or ``"its value looks like a credential (a password in a URL)"``; the
        value itself is never quoted.
    """
    word = _credential_word(str(name))
    if word:
        return f"its name looks like a credential ({word!r})"
    if isinstance(value, str):
        lower = _lower(value)
        found = _hints_in(lower)
        for rule in _RULES:
            if not found.isdisjoint(rule.hints) and _apply(rule, value, lower) != value:
                return f"its value looks like a credential ({rule.label})"
    elif isinstance(value, Mapping | list | tuple) and redact_obj(value) != value:
        return "its value contains a credential"
    return None


# -- containers, frames, notebooks ---------------------------------------------------


def _rebuild(original: Any, items: Any, fallback: type) -> Any:
    """A container of the type of ``original`` (a NotebookNode stays a NotebookNode)."""
    kind = type(original)
    if kind is fallback:
        return fallback(items)
    if hasattr(original, "_fields"):  # a namedtuple
        return kind(*items)
    try:
        return kind(items)
    except TypeError:
        return fallback(items)


def _hidden_by_key(key: object, value: object) -> bool:
    """Whether ``value`` goes whole: a non-empty value under a credential name."""
    empty = value is None or (isinstance(value, str) and not value)
    return isinstance(key, str) and not empty and _credential_word(key) is not None


def redact_obj(obj: Any) -> Any:
    """Return a redacted copy of ``obj``: the strings inside dicts, lists and tuples.

    A mapping value whose key is a credential name (the rule of
    :func:`secret_reason`: ``password``, ``token``, ``api_key``,
    ``authorization``, ``dsn``...) is replaced whole by ``"[REDACTED]"`` unless
    it is None or ``""``; every other string goes through :func:`redact`. Keys
    are kept, container types too where they can be rebuilt; other values are
    returned as they are.

    Parameters
    ----------
    obj
        A string, or a (nested) dict / list / tuple such as query parameters or
        JSON output.

    Returns
    -------
    Any
        A new object; ``obj`` is not modified.
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        items = {
            key: REDACTED if _hidden_by_key(key, value) else redact_obj(value)
            for key, value in obj.items()
        }
        return _rebuild(obj, items, dict)
    if isinstance(obj, list | tuple):
        fallback = tuple if isinstance(obj, tuple) else list
        return _rebuild(obj, [redact_obj(v) for v in obj], fallback)
    return obj


def redact_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with every text column redacted.

    Text columns have ``object`` or ``str`` (any ``StringDtype``) dtype. Only
    the cells that hold a hint word run through :func:`redact`; for ``str``
    columns that test is vectorised (in pyarrow where available). In ``object``
    columns dicts, lists and tuples go through :func:`redact_obj`. A text column
    whose *name* is a credential name (``password``, ``api_key``...) has every
    non-missing value replaced by ``"[REDACTED]"``. Dtypes are kept exactly,
    missing values stay missing, other columns and the index are untouched.

    Parameters
    ----------
    df
        Any frame; it may be empty or have duplicate column names.

    Returns
    -------
    pandas.DataFrame
        A new frame.
    """
    import pandas as pd

    out = df.copy()
    for i, name in enumerate(df.columns):
        col = df.iloc[:, i]
        is_str = isinstance(col.dtype, pd.StringDtype)
        if not is_str and col.dtype != object:
            continue
        if _credential_word(str(name)):
            out.isetitem(i, col.where(col.isna(), REDACTED).array)
        elif is_str:
            hinted = col.str.contains(_HINTS_PATTERN, case=False, regex=True, na=False)
            mask = hinted.to_numpy(dtype=bool)
            if mask.any():
                new = col.copy()
                new[mask] = [redact(v) for v in col[mask]]
                out.isetitem(i, new.array)
        else:
            values = col.to_numpy(copy=True)
            changed = False
            for j, value in enumerate(values):
                if isinstance(value, str):
                    if _hints_in(_lower(value)):
                        values[j] = redact(value)
                        changed = True
                elif isinstance(value, Mapping | list | tuple):
                    values[j] = redact_obj(value)
                    changed = True
            if changed:
                out.isetitem(i, values)
    return out


_NB = TypeVar("_NB", bound=MutableMapping[str, Any])


def _redact_field(node: MutableMapping[str, Any], key: str) -> None:
    """Redact ``node[key]`` if it is text: a string, or a list of lines (kept a list)."""
    value = node.get(key)
    if isinstance(value, str):
        node[key] = redact(value)
    elif isinstance(value, list) and all(isinstance(line, str) for line in value):
        joined = "".join(value)  # a private key block spans several lines
        clean = redact(joined)
        if clean != joined:
            node[key] = clean.splitlines(keepends=True)


def redact_notebook(nb: _NB) -> _NB:
    """Redact an nbformat v4 notebook in place and return it.

    Covered: cell sources and metadata, stream text, every ``text/*`` and
    ``*json`` output (``text/plain``, ``text/html``, ``text/markdown``,
    ``application/json``...), error ``ename`` / ``evalue`` / ``traceback``, and
    the notebook metadata (papermill parameters included: by key name, as in
    :func:`redact_obj`). Images (``image/png`` base64...) are left alone.

    Parameters
    ----------
    nb
        A notebook, e.g. from ``nbformat.read(path, as_version=4)``; only its
        dict structure is used.

    Returns
    -------
    NotebookNode
        ``nb`` itself.
    """
    for cell in nb.get("cells", []):
        _redact_field(cell, "source")
        if cell.get("metadata"):
            cell["metadata"] = redact_obj(cell["metadata"])
        for output in cell.get("outputs", []):
            _redact_field(output, "text")  # stream
            data = output.get("data") or {}
            for mime in list(data):
                if mime.endswith("json"):
                    data[mime] = redact_obj(data[mime])
                elif mime.startswith("text/"):
                    _redact_field(data, mime)
            if output.get("output_type") == "error":
                _redact_field(output, "ename")
                _redact_field(output, "evalue")
                if isinstance(output.get("traceback"), list):
                    output["traceback"] = [redact(str(line)) for line in output["traceback"]]
    if "metadata" in nb:
        nb["metadata"] = redact_obj(nb["metadata"])
    return nb
