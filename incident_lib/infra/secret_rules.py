"""Our structural secret rules: where a secret sits, whatever its shape.

A vendor token has a shape of its own (``sk_live_...``, ``AKIA...``:
:mod:`~incident_lib.infra.secret_detectors`); most secrets in logs have none and
are recognised by where they stand: after a credential key (``password=``,
``"client_secret": "..."``, ``DD-API-KEY:``), in an ``Authorization`` header, in
a DSN (``postgresql://app:PASSWORD@db``), on a command line (``--password x``,
``mysql -pPASSWORD``, ``curl -u user:PASSWORD``), in SQL, or inside a private
key block. Each :class:`PatternRule` here has a group ``secret``: that span
becomes ``[REDACTED]`` and the key or prefix around it stays.

The credential key words are ours plus the keyword list of detect-secrets'
``KeywordDetector`` (``auth_key``, ``db_pass``, ``contraseña``...), read when the
rules are first built (:func:`build_rules`), not at import.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

__all__ = [
    "REDACTED",
    "PatternRule",
    "Span",
    "build_rules",
    "credential_word",
    "lower_same_length",
]

REDACTED = "[REDACTED]"

#: (start, end, label): a secret found in a text.
Span = tuple[int, int, str]

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

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def lower_same_length(text: str) -> str:
    """``text.lower()``, of the same length so that positions carry over to ``text``."""
    lower = text.lower()
    return lower if len(lower) == len(text) else text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class _Vocabulary:
    """Credential key words: ours plus detect-secrets' ``KeywordDetector.DENYLIST``."""

    qualifiers: tuple[str, ...]  # "<q>_key": api_key, db_key
    endings: tuple[str, ...]  # a key word ending so: password, dbpass, privkey
    anywhere: tuple[str, ...]  # non-ASCII words, checked as substrings: contraseña


@cache
def _vocabulary() -> _Vocabulary:
    from detect_secrets.plugins.keyword import DENYLIST

    qualifiers = list(_KEY_QUALIFIERS)
    endings = [*_SECRET_WORDS]
    anywhere = []
    for entry in DENYLIST:  # 'api_?key', 'db_?pass', 'password', 'contraseña'...
        if not entry.isascii():
            anywhere.append(entry)
            continue
        head, _, tail = entry.partition("_?")
        if tail == "key" and head not in qualifiers:
            qualifiers.append(head)
        elif tail and f"{head}{tail}" not in endings:
            endings.append(f"{head}{tail}")  # dbpass, keypass (db_pass: "pass" alone)
        elif not tail and head not in (*endings, *_SECRET_PARTS):
            endings.append(head)
    return _Vocabulary(tuple(qualifiers), tuple(endings), tuple(anywhere))


@cache
def _name_endings() -> tuple[str, ...]:
    vocabulary = _vocabulary()
    return (*vocabulary.endings, *(f"{q}key" for q in vocabulary.qualifiers))


# -- credential-looking names --------------------------------------------------------

# Words of a name: snake_case, kebab-case, dotted, camelCase ("DD_API_KEY", "apiKey").
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_NAME_ALONE = frozenset({*_SECRET_PARTS, "authorization", "dsn"})


def credential_word(name: str) -> str | None:
    """The word of ``name`` that makes it a credential name, or None.

    Parameters
    ----------
    name
        A key, column or parameter name (``db_password``, ``apiKey``, ``DD_APP_KEY``).

    Returns
    -------
    str or None
        The credential word (``"password"``, ``"api_key"``...), or None.
    """
    vocabulary = _vocabulary()
    words: list[str] = [w.lower() for w in _NAME_WORDS.findall(name)]
    for i, word in enumerate(words):
        if word in _NAME_ALONE or word.endswith(_name_endings()):
            return word
        if word == "key" and i and words[i - 1] in vocabulary.qualifiers:
            return f"{words[i - 1]}_key"
    lowered = name.lower()
    return next((w for w in vocabulary.anywhere if w in lowered), None)


# -- the rules -----------------------------------------------------------------------
#
# Case-insensitive rules match the lower-cased text (``lowered=True``, patterns in
# lower case): Python's re is several times slower with IGNORECASE.

# A quote around a key or value: " ' or ` (Markdown), JSON-escaped \" or \', or HTML-escaped.
_QUOTE = r"""(?:\\?["'`]|&(?:quot|#0*3[49]|#x0*2[27]);)"""
# Between key and value: the key's closing quote, then = : == := or =>.
_SEP = rf"{_QUOTE}?[ \t]*(?:[:=]=?|=>)[ \t]*"
# An opening quote (captured), then an optional auth scheme that stays readable.
_OPEN = rf"(?P<open>{_QUOTE})?(?:(?:bearer|basic|token)[ \t]+)?"


def _key_pattern(vocabulary: _Vocabulary) -> str:
    """A key ending with a credential word: a flat alternation of literals (fast in re)."""
    words = [
        *vocabulary.endings,
        *(f"{q}[_-]?key" for q in vocabulary.qualifiers),
        *(f"{p}(?<![a-z0-9]{p})" for p in _SECRET_PARTS),
        "private[_-]?key[_-]?id",  # a GCP service-account key's id
        *(re.escape(w) for w in vocabulary.anywhere),
    ]
    return "(?:{})".format("|".join(words))


def _value_pattern(key: str) -> str:
    """The value after a key.

    A quoted value runs to its closing quote; a bare value to the next space , ;
    & < or quote. Not values: a call or subscript (getpass(), os.getenv("x"),
    os.environ["x"]), a CSS selector (.fa-user-secret:before {) and another
    credential key with its separator ("rotate secret: aws_secret_access_key =
    <value>": the value is the second key's). [redacted] is matched whole so that
    redacting twice changes nothing.
    """
    return (
        r"(?P<secret>\[redacted\]|(?(open)"
        r"""(?:[^"'`\\\r\n&]|&(?!quot;|#0*3[49];|#x0*2[27];))+"""
        r"""|(?![a-z_][\w.]*(?:\([^()\s]*\)|\[["'])|[a-z-]+[ \t]*\{"""
        rf"""|[\w.-]*{key}{_SEP})[^\s"'`\\&,;<]+))"""
    )


def _not_a_plain_word(value: str) -> bool:
    """``Bearer <value>``: a credential, unless a plain word ("basic authentication")."""
    return len(value) >= 8 and (
        any(c.isdigit() or c in "+/=_~" for c in value) or any(c.isupper() for c in value[1:])
    )


@dataclass(frozen=True)
class PatternRule:
    """One rule: a pattern whose group ``secret`` is the span to redact."""

    label: str  # what secret_reason says when the rule fires
    hints: tuple[str, ...]  # the rule can only match text whose lower case holds one
    lowered: bool  # match the lower-cased text (a case-insensitive rule)
    pattern: re.Pattern[str]
    accept: Callable[[str], bool] | None = None  # a last look at the secret

    def spans(self, text: str, lower: str) -> Iterator[Span]:
        """The secrets this rule finds in ``text`` (``lower`` is its lower case)."""
        for match in self.pattern.finditer(lower if self.lowered else text):
            start, end = match.span("secret")
            if self.accept is None or self.accept(text[start:end]):
                yield start, end, self.label


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags | re.ASCII)


def _private_key_rules() -> tuple[PatternRule, ...]:
    return (
        # -----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY----- (multi-line);
        # of a block cut off before its END line, the base64 lines that follow go.
        # detect-secrets' PrivateKeyDetector kinds (RSA, DSA, EC, OPENSSH, PGP ... BLOCK,
        # SSH2 ENCRYPTED, plain) all match "[A-Z0-9 ]*PRIVATE KEY( BLOCK)?".
        PatternRule(
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
        # PuTTY-User-Key-File-2 (detect-secrets' other private key marker): the lines
        # after "Private-Lines: N".
        PatternRule(
            "a private key block",
            ("private-lines",),
            False,
            _rx(r"Private-Lines:[ \t]*\d+(?P<secret>(?:(?:\s|\\[nr])+[A-Za-z0-9+/]+={0,2})+)"),
        ),
    )


def build_rules() -> tuple[tuple[PatternRule, ...], tuple[PatternRule, ...]]:
    """Our structural rules, in the order they run.

    Returns
    -------
    tuple
        ``(before, after)``: the rules that run before the vendor detectors
        (private keys, signatures, Authorization headers, bearer credentials) and
        those that run after them (key=value pairs, SQL, URLs, command lines...).
        After: a pair's value may hold a vendor token already redacted
        (``GITHUB_TOKEN=ghp_[REDACTED]`` becomes ``GITHUB_TOKEN=[REDACTED]``).
    """
    return _build_rules()


@cache
def _build_rules() -> tuple[tuple[PatternRule, ...], tuple[PatternRule, ...]]:
    key = _key_pattern(_vocabulary())
    value = _value_pattern(key)
    before = (
        *_private_key_rules(),
        # An AWS SigV4 signature (Signature=<64 hex> in a header or a signed URL); a
        # "signature: ..." in prose is not one.
        PatternRule(
            "a request signature",
            ("signature=",),
            True,
            _rx(r"\bsignature=(?P<secret>[0-9a-f]{16,})"),
        ),
        # Authorization / Proxy-Authorization header; the scheme (Bearer, Basic) stays.
        PatternRule(
            "an Authorization header",
            ("authorization",),
            True,
            _rx(
                rf"\bauthorization{_SEP}{_QUOTE}?(?:(?:bearer|basic|token|negotiate|ntlm)[ \t]+)?"
                r"""(?P<secret>[^\s"'`\\&,;<]+)"""
            ),
        ),
        # A bare "Bearer <token>" / "Basic <base64>" anywhere else.
        PatternRule(
            "a bearer or basic credential",
            ("bearer", "basic"),
            True,
            _rx(r"\b(?:bearer|basic)[ \t]+(?P<secret>[a-z0-9._~+/-]+=*)"),
            _not_a_plain_word,
        ),
    )
    after = (
        # key=value, key: value, "key": "value", key == 'value' whose key ENDS with a
        # credential word: password=, PGPASSWORD=, aws_secret_access_key =, DD-API-KEY:,
        # "client_secret": "...", AccountKey=...; (Azure), sig= (SAS), "private_key_id".
        PatternRule(
            "a credential key=value pair",
            # "sig" only as a key: glued to what follows it (signal, assigned, design are prose)
            (
                "pass",
                "pwd",
                "auth",
                "sig=",
                "sig:",
                'sig"',
                "sig'",
                "sig ",
                "secret",
                "token",
                "credential",
                "key",
                "contras",
            ),
            True,
            _rx(rf"{key}{_SEP}{_OPEN}{value}"),
        ),
        # SQL: ALTER ROLE x WITH [ENCRYPTED] PASSWORD 'p', CREATE USER y IDENTIFIED BY 'p'.
        PatternRule(
            "a password in SQL",
            ("password", "identified by"),
            True,
            _rx(r"\b(?:password|identified by)\s+'(?P<secret>(?:[^'\\]|''|\\.)+)'"),
        ),
        # scheme://user:PASSWORD@host (DSNs and URLs), up to the last @ of the authority.
        # After the pairs: their redactions may shorten what lies between : and @.
        PatternRule(
            "a password in a URL",
            ("://",),
            True,
            _rx(r"""://[^\s:/?#@"'<>]*:(?P<secret>[^\s/?#"'<>]+)(?=@)"""),
        ),
        # Command-line flags: --password x, --api-key "x", --db-token x.
        PatternRule(
            "a credential command-line flag",
            ("--",),
            True,
            _rx(
                r"(?<![\w-])--[\w-]*?(?:password|passwd|token|secret|api[_-]?key)[ \t]+"
                rf"(?P<open>{_QUOTE})?(?!-){value}"
            ),
        ),
        # curl -u user:password / --user user:password (the user stays).
        PatternRule(
            "a curl password",
            ("curl",),
            True,
            _rx(
                r"""\bcurl\b[^\r\n]*?[ \t](?:-u|--user)[ \t]+["']?[^\s:"']+:(?P<secret>[^\s"']+)"""
            ),
        ),
        # mysql -pPASSWORD, mysqldump -p'PASSWORD' (-P is the port: case matters).
        PatternRule(
            "a password on a mysql command line",
            ("mysql",),
            False,
            _rx(rf"""(?i:\bmysql\w*)\b[^\r\n]*?[ \t]-p{_QUOTE}?(?P<secret>[^\s"'`\\&]+)"""),
        ),
    )
    return before, after
