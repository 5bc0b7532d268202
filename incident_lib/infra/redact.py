"""The one redaction step every output goes through.

Notebooks, HTML pages, findings, post-mortem drafts and evidence captures pass
through :func:`redact` (or one of its wrappers) before they are written. A
secret value becomes ``[REDACTED]`` and the key or prefix around it stays, so
the line remains readable::

    Authorization: Bearer [REDACTED]
    postgresql://app:[REDACTED]@db:5432/orders
    password=[REDACTED]            "api_key": "[REDACTED]"
    AKIA[REDACTED]                 sk_live_[REDACTED]

Three kinds of detectors run, in this order:

* our structural rules (:mod:`~incident_lib.infra.secret_rules`): private key
  blocks, Authorization headers and bearer credentials first; after the vendor
  tokens, ``key=value`` / JSON / YAML pairs whose key ends with a credential
  word (ours plus detect-secrets' keyword list), SQL passwords, DSN passwords,
  command-line flags, ``curl -u``, ``mysql -pPASSWORD``;
* detect-secrets' vendor patterns merged into one regex
  (:mod:`~incident_lib.infra.secret_detectors`): AWS, Azure, GitHub, GitLab,
  JWT, npm, OpenAI, PyPI, SendGrid, Slack, Stripe, Square, Twilio;
* bare high-entropy tokens (detect-secrets' entropy measure on candidate
  tokens only): an AWS secret key without its name, an opaque API token.

:func:`redact` is built for millions of log lines: every detector has hint
words (``"pass"``, ``"://"``, ``"akia"``...) and a line whose lower case holds
none of them and no whitespace-free chunk of 32 characters or more is returned
after a few substring checks; otherwise only the detectors it may concern run.
:func:`redact_frame` makes that test vectorised (RE2 in pyarrow), and redacts a
private key or a service-account JSON key logged over several rows of one
container whole (:mod:`~incident_lib.infra.secret_blocks`). Redacting is
idempotent.

Not recognised: a password given as a separate short option (``mysql -p x``:
mysql reads ``x`` as the database), cookies, HTTP Digest responses, hex
secrets without a key name (trace ids and SHAs are hex too).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from .secret_detectors import EntropyDetector, build_vendor_detector, long_chunk
from .secret_rules import REDACTED, Span, build_rules, credential_word, lower_same_length

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


class _Detector(Protocol):
    @property
    def hints(self) -> tuple[str, ...]: ...

    def spans(self, text: str, lower: str) -> Iterator[Span]: ...


@dataclass(frozen=True)
class _Step:
    detector: _Detector
    long_tokens: bool  # also runs on text with a long whitespace-free chunk


@dataclass(frozen=True)
class _Engine:
    steps: tuple[_Step, ...]
    hints: tuple[str, ...]  # the hint words of the steps, lower case
    all_hints: tuple[str, ...]  # and those of the vendor tokens of 32 characters or more
    by_hint: dict[str, frozenset[int]]  # hint -> the steps it concerns
    for_long: frozenset[int]  # the steps for text with a long whitespace-free chunk
    any_hint: re.Pattern[str]  # matches where any of ``hints`` occurs

    def hints_in(self, lower: str) -> list[str]:
        """The hints that occur in ``lower``: one regex search rules most texts out, then
        substring checks name the hints of the few that remain."""
        if self.any_hint.search(lower) is None:
            return []
        return list(filter(lower.__contains__, self.hints))

    def wanted(self, found: list[str], long: bool) -> list[_Step]:
        """The steps to run, in order, for a text holding ``found`` (and a long chunk)."""
        chosen = set(self.for_long) if long else set()
        for hint in found:
            chosen |= self.by_hint[hint]
        return [self.steps[i] for i in sorted(chosen)]


@cache
def _engine() -> _Engine:
    """The detectors, built on first use (detect-secrets is imported then, not before)."""
    before, after = build_rules()
    vendor = build_vendor_detector()
    steps = (
        *(_Step(rule, False) for rule in before),
        _Step(vendor, True),
        *(_Step(rule, False) for rule in after),
        _Step(EntropyDetector(), True),
    )
    hints = tuple(dict.fromkeys(h for step in steps for h in step.detector.hints))
    by_hint = {
        h: frozenset(i for i, step in enumerate(steps) if h in step.detector.hints) for h in hints
    }
    for_long = frozenset(i for i, step in enumerate(steps) if step.long_tokens)
    every = tuple(dict.fromkeys((*hints, *vendor.all_hints)))
    any_hint = re.compile("|".join(re.escape(h) for h in sorted(hints, key=len, reverse=True)))
    return _Engine(steps, hints, every, by_hint, for_long, any_hint)


def _apply(spans: Iterator[Span], text: str) -> str:
    """``text`` with every span replaced by [REDACTED] (spans in order, not overlapping)."""
    parts: list[str] = []
    last = 0
    for start, end, _ in spans:
        if start >= last:
            parts += (text[last:start], REDACTED)
            last = end
    return "".join((*parts, text[last:])) if parts else text


def redact(text: str) -> str:
    """Return ``text`` with every secret value replaced by ``[REDACTED]``.

    Keys and prefixes stay (``password=[REDACTED]``, ``Bearer [REDACTED]``,
    ``postgresql://app:[REDACTED]@db/orders``, ``sk_live_[REDACTED]``). Text
    holding none of the detectors' hint words and no long whitespace-free chunk
    is returned unchanged after a few substring checks; otherwise only the
    detectors it may concern run. ``redact(redact(x)) == redact(x)``.

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
    engine = _engine()
    lower = lower_same_length(text)
    found = engine.hints_in(lower)
    long = long_chunk(text)
    if not found and not long:
        return text
    if "\x1b[" in text:
        # Terminal colours (IPython tracebacks) split "password" from "=" and the
        # value; judge the plain text, and give it up coloured only when clean.
        plain = _ANSI.sub("", text)
        cleaned = _redact_plain(plain)
        return text if cleaned == plain else cleaned
    return _redact_plain(text, (lower, found, long))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _redact_plain(text: str, known: tuple[str, list[str], bool] | None = None) -> str:
    """``text`` redacted; ``known``: its lower case, hints and long-chunk test if known."""
    engine = _engine()
    if known is None:
        lower = lower_same_length(text)
        known = lower, engine.hints_in(lower), long_chunk(text)
    lower, found, long = known
    for step in engine.wanted(found, long):
        redacted = _apply(step.detector.spans(text, lower), text)
        if redacted != text:
            text, lower = redacted, lower_same_length(redacted)
    return text


def _first_secret(text: str) -> str | None:
    """The label of the first detector that finds a secret in ``text``, or None."""
    engine = _engine()
    lower = lower_same_length(text)
    for step in engine.wanted(engine.hints_in(lower), long_chunk(text)):
        for _, _, label in step.detector.spans(text, lower):
            return label
    return None


# -- credential-looking names --------------------------------------------------------


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
      ``encryption``, ``master``, ``client`` or ``ssh``, or one of
      detect-secrets' keyword list (``auth``, ``service``, ``db``,
      ``database``, ``priv``); ``dbpass``, ``keypass`` and ``contraseña`` count.

    So ``db_password``, ``apiKey``, ``DD_APP_KEY``, ``pg_dsn``,
    ``token_bucket_size`` and ``credentials_file`` are refused; ``max_tokens``,
    ``keyword``, ``monkey``, ``author``, ``passes`` and ``window_start`` are not.
    The value is refused when any detector flags it (what :func:`redact`, or
    :func:`redact_obj` for lists and dicts, would change): a DSN with a
    password, a bearer token, a JWT, a Stripe or AWS key, a high-entropy token...

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
        or ``"its value looks like a credential (a Stripe key)"``; the value
        itself is never quoted.
    """
    word = credential_word(str(name))
    if word:
        return f"its name looks like a credential ({word!r})"
    label = _first_secret(str(name))
    if label is not None:
        return f"its name looks like a credential ({label})"
    if isinstance(value, str):
        label = _first_secret(value)
        if label is None and "\x1b[" in value:
            label = _first_secret(_ANSI.sub("", value))
        if label is not None:
            return f"its value looks like a credential ({label})"
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
    return isinstance(key, str) and not empty and credential_word(key) is not None


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


# An RE2 (pyarrow) pattern for the vectorised prefilter of redact_frame: a high-entropy
# token or a Twilio id has a run of base64 characters (without _ or -) that mixes upper
# case, lower case and digits.
_B64 = "[A-Za-z0-9+/]*"
_MIXED_RUN = "|".join(
    f"{a}{_B64}{b}{_B64}{c}" for a, b, c in itertools.permutations(("[A-Z]", "[a-z]", "[0-9]"))
)


@cache
def _hints_pattern() -> str:
    return "|".join(map(re.escape, _engine().all_hints))


def _candidates(col: pd.Series) -> Any:
    """Which cells of a ``str`` column may hold a secret (vectorised; a superset).

    A hint word (case-insensitive), or a run of base64 characters that mixes
    upper case, lower case and digits (:func:`redact` itself then looks for the
    32 characters). In pyarrow (RE2) when the column is stored there.
    """
    if getattr(col.dtype, "storage", None) == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(col.array)  # zero-copy
        hinted = pc.match_substring_regex(arr, _hints_pattern(), ignore_case=True)
        mixed = pc.match_substring_regex(arr, _MIXED_RUN)
        either = pc.fill_null(pc.or_(hinted, mixed), False)
        return either.to_numpy(zero_copy_only=False)
    hinted = col.str.contains(_hints_pattern(), case=False, regex=True, na=False)
    mixed = col.str.contains(_MIXED_RUN, regex=True, na=False)
    return (hinted | mixed).to_numpy(dtype=bool, copy=True)


def _may_hold_secret(value: str) -> bool:
    return bool(_engine().hints_in(lower_same_length(value))) or long_chunk(value)


def redact_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with every text column redacted.

    Text columns have ``object`` or ``str`` (any ``StringDtype``) dtype. Only
    the cells that may hold a secret (a hint word, or a long base64 run with an
    upper-case letter and a digit) run through :func:`redact`; for ``str``
    columns that test is vectorised (in pyarrow where available). In ``object``
    columns dicts, lists and tuples go through :func:`redact_obj`. A text column
    whose *name* is a credential name (``password``, ``api_key``...) has every
    non-missing value replaced by ``"[REDACTED]"``. Dtypes are kept exactly,
    missing values stay missing, other columns and the index are untouched.

    A frame with the logs contract (``pod``, ``container``, ``message`` and
    ``raw`` columns) also has its multi-row secrets redacted whole: a private
    key block or a JSON service-account key printed over consecutive rows of
    one (pod, container), in frame order (every row of the block, in
    ``message`` and ``raw``).

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
    message_candidates = None
    for i, name in enumerate(df.columns):
        col = df.iloc[:, i]
        is_str = isinstance(col.dtype, pd.StringDtype)
        if not is_str and col.dtype != object:
            continue
        if credential_word(str(name)):
            out.isetitem(i, col.where(col.isna(), REDACTED).array)
        elif is_str:
            mask = _candidates(col)
            if name == "message":
                message_candidates = mask
            if mask.any():
                new = col.copy()
                new[mask] = [redact(v) for v in col[mask]]
                out.isetitem(i, new.array)
        else:
            values = col.to_numpy(copy=True)
            changed = False
            for j, value in enumerate(values):
                if isinstance(value, str):
                    if _may_hold_secret(value):
                        values[j] = redact(value)
                        changed = True
                elif isinstance(value, Mapping | list | tuple):
                    values[j] = redact_obj(value)
                    changed = True
            if changed:
                # a Series of object dtype: an array would be inferred as str
                out.isetitem(i, cast(Any, pd.Series(values, index=df.index, dtype=object)))
    if {"pod", "container", "message", "raw"} <= set(df.columns) and df.columns.is_unique:
        _redact_blocks(df, out, message_candidates)
    return out


def _redact_blocks(df: pd.DataFrame, out: pd.DataFrame, candidates: Any) -> None:
    """Redact multi-row secrets of a logs frame in ``out`` (see :func:`redact_frame`).

    ``candidates``: the prefilter's mask of the message column, if known. Every
    block has a row it flags: a private key's BEGIN row, a JSON key's
    ``"private_key"`` row (the hint ``key``).
    """
    import numpy as np
    import pandas as pd

    from .secret_blocks import TRIGGER, block_redactions

    message = df["message"]
    if not len(df):
        return
    values = message.to_numpy(dtype=object)
    rows = range(len(values)) if candidates is None else np.flatnonzero(candidates)
    trigger = re.compile(TRIGGER)
    triggers = [r for r in rows if isinstance(values[r], str) and trigger.search(values[r])]
    if not triggers:
        return
    pods = df["pod"].astype(object).to_numpy()
    containers = df["container"].astype(object).to_numpy()
    messages = [v if isinstance(v, str) else "" for v in values]
    raws = df["raw"].to_numpy(dtype=object)
    new_messages = out["message"].to_numpy(dtype=object, copy=True)
    new_raws = out["raw"].to_numpy(dtype=object, copy=True)
    changed = False
    done: set[tuple[object, object]] = set()
    for row in triggers:
        key = (pods[row], containers[row])
        if key in done:
            continue
        done.add(key)
        same = (pd.Series(pods).eq(key[0]) | (pd.isna(pods) & pd.isna(key[0]))) & (
            pd.Series(containers).eq(key[1]) | (pd.isna(containers) & pd.isna(key[1]))
        )
        positions = np.flatnonzero(same.to_numpy(dtype=bool))
        found = block_redactions([messages[p] for p in positions], redact)
        for local, clean in found.items():
            p = positions[local]
            original = messages[p]
            if new_messages[p] == clean:
                continue
            changed = True
            new_messages[p] = clean
            raw = raws[p]
            if isinstance(raw, str):
                new_raws[p] = (
                    redact(raw.replace(original, clean))
                    if original and original in raw
                    else REDACTED
                )
    if changed:
        for name, values in (("message", new_messages), ("raw", new_raws)):
            dtype = df[name].dtype
            column = pd.Series(values, index=df.index, dtype=dtype)
            out.isetitem(list(out.columns).index(name), cast(Any, column))


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
