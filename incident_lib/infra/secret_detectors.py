"""Vendor tokens and high-entropy strings, on detect-secrets' rule set.

The vendor patterns are the compiled ``denylist`` regexes of detect-secrets'
plugins (AWS, Azure storage, GitHub, GitLab, JWT, npm, OpenAI, PyPI, SendGrid,
Slack, Stripe, Square, Twilio), read once from the plugin classes and merged
into ONE alternation (a named group per plugin pattern, case-insensitive ones
as ``(?i:...)``), so a line is scanned once instead of once per plugin. A few
shapes detect-secrets lacks are added (a bare ``npm_`` token, GitHub
fine-grained ``github_pat_``, Google ``AIza`` keys). The plugins' per-line scan
machinery (``scan_line``, filters, verification) is not used: too slow for
millions of log lines.

The entropy detectors' logic (``Base64HighEntropyString.calculate_shannon_entropy``)
runs only on candidate tokens: bare runs of 32 to 100 base64 characters that
mix upper case, lower case and digits and switch between them like random text
does (an AWS secret access key without its key name, an opaque API token).
Hex strings are never candidates (trace ids, SHAs and UUIDs are hex, and
detect-secrets' hex detector would flag them all), nor image data.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from .secret_rules import Span

__all__ = ["EntropyDetector", "VendorDetector", "build_vendor_detector", "long_chunk"]


@dataclass(frozen=True)
class _Shape:
    """How to use one detect-secrets pattern (or one of ours)."""

    label: str
    group: int  # the group that holds the secret (0: the whole match)
    keep: re.Pattern[str] | None  # a readable prefix of the secret that stays
    extend: re.Pattern[str] | None  # characters after the match that belong to it
    accept: Callable[[str], bool] | None = None
    glued: bool = False  # may follow a letter or digit


_GH = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")
_GITLAB_SHORT = ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "gr1348941", "glcbt-", "glimt-")
_GITLAB = (*_GITLAB_SHORT, "glptt-", "glagent-", "gloas-")

# (plugin class, label, hints, group, kept prefix, extension characters). Hints are lower
# case and one of them occurs in every match. The plugin runs on a text that holds one of
# them and, for tokens of 32 characters or more, also a long whitespace-free chunk (see
# ``long_chunk``); Twilio's AC/SK ids have no hint and run on every such text.
_PLUGINS: tuple[tuple[str, str, tuple[str, ...], int, str | None, str | None], ...] = (
    (
        "aws.AWSKeyDetector",
        "an AWS key",
        ("akia", "asia", "a3t", "abia", "acca", "aws"),
        -1,  # the access key id whole, or group 1 (a quoted secret key near "aws")
        r"A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA",
        r"[A-Z0-9]+",
    ),
    (
        "azure_storage_key.AzureStorageKeyDetector",
        "an Azure storage key",
        ("accountkey=",),
        0,
        r"AccountKey=",
        r"[A-Za-z0-9+/=]+",
    ),
    ("github_token.GitHubTokenDetector", "a GitHub token", _GH, 0, r"gh[pousr]_", r"\w+"),
    (
        "gitlab_token.GitLabTokenDetector",
        "a GitLab token",
        _GITLAB,
        0,
        r"gl[a-z]+-|GR1348941",
        r"[\w-]+",
    ),
    ("jwt.JwtTokenDetector", "a JSON Web Token", ("eyj",), 0, None, r"[\w.+/=-]+"),
    ("npm.NpmDetector", "an npm token", ("_authtoken",), 1, r"npm_", None),
    ("openai.OpenAIDetector", "an OpenAI key", ("t3blbkfj",), 0, r"sk-", r"\w+"),
    ("pypi_token.PypiTokenDetector", "a PyPI token", ("pypi-ag",), 0, r"pypi-", r"[\w-]+"),
    ("sendgrid.SendGridDetector", "a SendGrid key", ("sg.",), 0, r"SG\.", r"[\w.-]+"),
    (
        "slack.SlackDetector",
        "a Slack token",
        ("xox", "hooks.slack.com"),
        0,
        r"xox[a-z]-|https://hooks\.slack\.com/services/",
        r"[\w/-]+",
    ),
    ("stripe.StripeDetector", "a Stripe key", ("k_live_",), 0, r"[rs]k_live_", r"\w+"),
    ("square_oauth.SquareOAuthDetector", "a Square secret", ("sq0csp-",), 0, r"sq0csp-", r"[\w-]+"),
    ("twilio.TwilioKeyDetector", "a Twilio key", (), 0, r"AC|SK", r"[a-z0-9]+"),
    ("discord.DiscordBotTokenDetector", "a Discord token", (), 0, None, r"[\w-]+"),
    ("mailchimp.MailchimpDetector", "a Mailchimp key", ("-us",), 0, None, None),
    ("telegram_token.TelegramBotTokenDetector", "a Telegram token", (), 0, None, r"[\w-]+"),
    ("softlayer.SoftlayerDetector", "a SoftLayer key", ("softlayer",), 1, None, None),
)
# Patterns whose token may follow a letter: Telegram's "bot<id>:<token>" in its API URLs.
_GLUED = frozenset({"TelegramBotTokenDetector"})
# The hints of tokens that may be shorter than 32 characters: only these make a text
# without a long chunk worth scanning (AWS key ids, Slack and GitLab tokens, JWTs).
# Hints that may stand apart from the token: "aws" ... "<secret key>".
_NEAR_HINTS = ("aws",)
_SHORT_HINTS = frozenset(
    ("akia", "asia", "a3t", "abia", "acca", "xox", "eyj", "github_pat_", *_GITLAB_SHORT)
)
# lower-case tokens: no upper-case letter makes them "long" (Mailchimp, SoftLayer)
_SHORT_HINTS |= {"-us", "softlayer"}

# Shapes detect-secrets does not know: (label, hints, pattern, kept prefix, extension).
_OURS: tuple[tuple[str, tuple[str, ...], str, str | None, str | None], ...] = (
    ("an npm token", ("npm_",), r"npm_[A-Za-z0-9]{36}", r"npm_", r"[A-Za-z0-9]+"),
    ("a GitHub token", ("github_pat_",), r"github_pat_\w{20,}", r"github_pat_", None),
    ("a Google API key", ("aiza",), r"AIza[\w-]{35}(?![\w-])", r"AIza", None),
    ("a Stripe key", ("k_test_",), r"[rs]k_test_[0-9a-zA-Z]{24}", r"[rs]k_test_", r"\w+"),
    ("a Stripe webhook secret", ("whsec_",), r"whsec_[0-9a-zA-Z]{24,}", r"whsec_", None),
    # OpenAI project / service-account keys: "sk-proj-...T3BlbkFJ..." with - and _ inside
    ("an OpenAI key", ("t3blbkfj",), r"sk-[\w-]{20,}T3BlbkFJ[\w-]{20,}", r"sk-", None),
)

_STOP = re.compile(r"""[\s"'`\\]""")  # no secret holds one of these


def _jwt_ok(token: str) -> bool:
    """The JWT plugin's own check (base64 JSON header and payload), or our old shape."""
    from detect_secrets.plugins.jwt import JwtTokenDetector

    if JwtTokenDetector.is_formally_valid(token):
        return True
    parts = token.split(".")
    return len(parts) >= 3 and all(len(p) >= 8 for p in parts[:2]) and parts[1][:3] == "eyJ"


@dataclass(frozen=True)
class _Plugin:
    """One plugin's patterns merged into one alternation (a named group per pattern)."""

    hints: tuple[str, ...]  # lower case; empty: look only in text with a long token
    pattern: re.Pattern[str]
    shapes: dict[str | None, tuple[int, _Shape]]  # group name -> (group index, shape)

    def spans(self, text: str) -> Iterator[Span]:
        last = 0
        for match in self.pattern.finditer(text):
            name = match.lastgroup
            if name not in self.shapes:
                continue
            index, shape = self.shapes[name]
            start, end = match.span(index + shape.group if shape.group > 0 else index)
            glued = match.start() and text[match.start() - 1].isalnum()
            if start < last or (glued and not shape.glued):
                continue  # not the tail of a longer identifier or base64 run
            stop = _STOP.search(text, start, end)  # npm's "npm_.+" runs to the line's end
            end = stop.start() if stop else end
            if shape.extend is not None:
                more = shape.extend.match(text, end)
                end = more.end() if more else end
            if shape.accept is not None and not shape.accept(text[start:end]):
                continue
            if shape.keep is not None:
                kept = shape.keep.match(text, start, end)
                start = kept.end() if kept else start
            if end > start:
                last = end
                yield start, end, shape.label


@dataclass(frozen=True)
class VendorDetector:
    """detect-secrets' vendor patterns (and a few of ours), one alternation per plugin.

    Only the plugins whose hint words occur in the text run (a line is rarely
    scanned by more than one); hint-less ones (Twilio) only on text with a long
    whitespace-free chunk.
    """

    plugins: tuple[_Plugin, ...]
    #: every plugin's hint words
    all_hints: tuple[str, ...]
    #: the hint words that make a text without a long chunk worth scanning
    hints: tuple[str, ...]
    #: the hint words looked for in the whole text (the others: in its long chunks)
    line_hints: tuple[str, ...]

    def spans(self, text: str, lower: str) -> Iterator[Span]:
        """The vendor tokens in ``text``; a readable vendor prefix stays outside."""
        found: list[Span] = []
        # A token of 32 characters or more lies in a long whitespace-free chunk: its
        # hint is looked for there (short strings: fast), the others in the whole text.
        chunks = " ".join(c for c in lower.split() if len(c) >= _MIN) if long_chunk(text) else ""
        present = set(filter(lower.__contains__, self.line_hints))
        if chunks:
            present.update(filter(chunks.__contains__, self.all_hints))
        for plugin in self.plugins:
            if (plugin.hints and present.isdisjoint(plugin.hints)) or not (plugin.hints or chunks):
                continue
            found += plugin.spans(text)
        last = 0
        for span in sorted(found):
            if span[0] >= last:
                last = span[1]
                yield span


def _plugin(entries: list[tuple[str, int, _Shape]], hints: tuple[str, ...]) -> _Plugin:
    """Merge patterns (source, flags, shape) into one alternation."""
    simple = all(not re.compile(src, flags).groups and not flags for src, flags, _ in entries)
    if simple and len({shape for _, _, shape in entries}) == 1:  # Twilio: (?:AC...|SK...)
        merged = "|".join(src for src, _, _ in entries)
        return _Plugin(hints, re.compile(merged), {None: (0, entries[0][2])})
    alternatives: list[str] = []
    shapes: dict[str | None, tuple[int, _Shape]] = {}
    index = 1
    for source, flags, shape in entries:
        name = f"p{len(shapes)}"
        scoped = "".join(c for f, c in ((re.I, "i"), (re.S, "s"), (re.X, "x")) if flags & f)
        alternatives.append(
            f"(?P<{name}>(?{scoped}:{source}))" if scoped else f"(?P<{name}>{source})"
        )
        shapes[name] = (index, shape)
        index += 1 + re.compile(source, flags).groups
    return _Plugin(hints, re.compile("|".join(alternatives)), shapes)


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


@cache
def build_vendor_detector() -> VendorDetector:
    """Import the detect-secrets plugins once and merge each one's regexes.

    Returns
    -------
    VendorDetector
        The detector (built on first use, then cached).
    """
    import importlib

    plugins: list[_Plugin] = []
    for path, label, hints, group, keep, extend in _PLUGINS:
        module, _, cls = path.rpartition(".")
        plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls)
        accept = _jwt_ok if cls == "JwtTokenDetector" else None
        entries = []
        for compiled in plugin.denylist:
            groups = re.compile(compiled.pattern, compiled.flags).groups
            chosen = (1 if groups else 0) if group < 0 else group
            shape = _Shape(label, chosen, _compiled(keep), _compiled(extend), accept, cls in _GLUED)
            entries.append((compiled.pattern, compiled.flags & (re.I | re.S | re.X), shape))
        plugins.append(_plugin(entries, hints))
    for label, hints, source, keep, extend in _OURS:
        shape = _Shape(label, 0, _compiled(keep), _compiled(extend))
        plugins.append(_plugin([(source, 0, shape)], hints))
    every = tuple(dict.fromkeys(h for plugin in plugins for h in plugin.hints))
    short = tuple(h for h in every if h in _SHORT_HINTS)
    return VendorDetector(tuple(plugins), every, short, (*short, *_NEAR_HINTS))


# -- high-entropy tokens -------------------------------------------------------------

_MIN, _MAX = 32, 100
# A maximal run of base64 / base64url characters.
_RUN = re.compile(rf"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{{{_MIN},}}={{0,2}}")
# Image data (PNG, JPEG, GIF, WebP, PDF, gzip) in base64: not a secret.
_DATA = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "JVBERi0", "H4sI")
_SEPARATORS = re.compile(r"[_-]")
# What a public high-entropy token follows: a digest or fingerprint ("SHA256:<base64>",
# "sha384-<base64>" in integrity attributes), image data ("base64,"), a weak ETag ...
_DIGEST_BEFORE = (
    "sha1:", "sha256:", "sha384:", "sha512:", "md5:", "sha256-", "sha384-", "sha512-",
    "base64,", 'w/"',
)  # fmt: skip
# ... or a public key ("ssh-ed25519 AAAA...", "ecdsa-sha2-nistp256 AAAA...") or an ETag header.
_PUBLIC_BEFORE = ("ssh-", "ecdsa-", "etag", "if-none-match", "if-match")
# A compact ISO 8601 time (20261128T025413Z) as a path segment: run and capture folders.
_COMPACT_TIME = re.compile(r"(?:^|/)\d{8}T\d{6}Z")
_ENTROPY_FLOOR = 3.8  # bits per character, over the base64 alphabet
_SWITCH_RATE = 0.3  # random base64 switches class (upper/lower/digit) at ~2 of 3 places


def long_chunk(text: str) -> bool:
    """Whether ``text`` may hold a high-entropy or long vendor token (cheap).

    Such a token lies in a whitespace-free chunk of 32 characters or more with
    an upper-case letter (random alphanumerics of that length have one, and a
    lower-case one: a text without both cases has no such token).
    """
    if len(text) < _MIN or text.islower() or text.isupper():
        return False
    return any(len(c) >= _MIN and c.lower() != c for c in text.split())


def _class(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


@cache
def _entropy() -> Callable[[str], float]:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    return Base64HighEntropyString().calculate_shannon_entropy


def high_entropy(token: str) -> bool:
    """Whether a bare token looks random enough to be a key (detect-secrets' entropy).

    Parameters
    ----------
    token
        A run of base64 characters, ``=`` padding included.

    Returns
    -------
    bool
        True for an AWS secret access key, an opaque API token...; False for
        identifiers (``DFSClient_NONMAPREDUCE_1234567890_1``), hex (trace ids,
        SHAs), UUIDs, paths and image data.
    """
    body = token.rstrip("=")
    if not _MIN <= len(body) <= _MAX or body.lower() == body or body.upper() == body:
        return False  # no upper case (hex, paths, trace ids) or no lower case
    if not any(c.isdigit() for c in body) or body.startswith(_DATA):
        return False
    if ("_" in body or "-" in body) and any(len(p) < 8 for p in _SEPARATORS.split(body)):
        return False  # base64url: each part must look random on its own (not an identifier)
    if "/" in body and _COMPACT_TIME.search(body):
        return False  # a path through a folder named by time: runs/20261128T025413Z-3eff/...
    classes = [_class(c) for c in body]
    switches = sum(a != b for a, b in itertools.pairwise(classes))
    if switches < _SWITCH_RATE * (len(body) - 1):
        return False
    return _entropy()(body) >= _ENTROPY_FLOOR


@dataclass(frozen=True)
class EntropyDetector:
    """Bare high-entropy tokens (see :func:`high_entropy`)."""

    label: str = "a high-entropy token (a key without its name)"
    hints: tuple[str, ...] = ()

    def spans(self, text: str, lower: str) -> Iterator[Span]:
        """The high-entropy tokens of ``text`` (not digests, image data, public keys, ETags)."""
        for match in _RUN.finditer(text):
            start, end = match.span()
            before = text[max(0, start - 24) : start].lower()
            if before.endswith(_DIGEST_BEFORE) or any(w in before for w in _PUBLIC_BEFORE):
                continue
            if high_entropy(match.group()):
                yield start, end, self.label
