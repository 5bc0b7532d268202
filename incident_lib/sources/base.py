"""What every live source is: one small protocol, and the registry that finds them.

A source (Kubernetes, Datadog, Prometheus, git...) implements :class:`Source`:
the frame names it provides (its entries in
:data:`incident_lib.core.schema.EVIDENCE_KINDS`), how it is built from the
environment (a :data:`SourceFactory`), how it fetches a frame for an incident
and a window (a :class:`Fetched`: the frame and its notes), and the query it
records in the evidence manifest (what was asked, never credentials).

A :class:`SourceRegistry` maps source names to factories and builds each source
on first use, so a notebook that never asks Datadog never needs its keys.
:func:`default_registry` holds the sources of this version of incident_lib. The
runbook context gets one (see :func:`incident_lib.start_runbook`), asks it in
live mode and captures what it returns.

Sources never redact what they return: the evidence store redacts frames and
queries when it captures them, and the runbook redacts reasons and notes. A
source only makes sure its *own* credentials (keys, tokens, header values) never
appear in a reason it raises: :func:`scrub_secrets`.

Bounded time and size
---------------------
Each source holds a :class:`Budget`, created with it (so once per notebook run:
the registry builds a source on first use): the seconds it may spend talking to
its system, shared by all its fetches. Its clock runs only while a fetch is in
progress (``with budget.spending():``), so the analysis a notebook does between two
fetches costs nothing. Every request's timeouts are clipped to what is left
(:meth:`Budget.clip`), and a fetch started or still waiting when nothing is left
raises :class:`SourceUnavailable` "time budget of N s used up": the section says
so and the notebook goes on. :class:`Limits` holds the budget's length and the
size caps, read from the environment and validated:

* ``INCIDENT_SOURCE_BUDGET``: seconds per source per run (default 60, well under
  the notebook timeout);
* ``INCIDENT_SOURCE_MAX_MB``: megabytes one reply (Prometheus, Datadog) may
  hold, and the log bytes one logs fetch (Datadog, Kubernetes) reads (default 256);
* ``INCIDENT_PROMETHEUS_MAX_POINTS``: samples one Prometheus reply may hold
  (default 500,000).

A reply over a cap is refused with "reply too large: narrow the query or the
window"; logs over the byte cap are cut (the newest kept) and a note says so.

This module imports no heavy library (pandas only for type checking).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from ..core.errors import InvalidInput, SourceUnavailable

if TYPE_CHECKING:
    import pandas as pd

    from ..core.incident import Incident
    from ..core.time import Window

__all__ = [
    "BUDGET_ENV",
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_POINTS",
    "MAX_BYTES_ENV",
    "MAX_POINTS_ENV",
    "REDACTED",
    "TOO_LARGE",
    "Budget",
    "BudgetedConnector",
    "Fetched",
    "Limits",
    "Source",
    "SourceFactory",
    "SourceRegistry",
    "check_frame",
    "default_registry",
    "format_size",
    "network_reason",
    "progress_bar",
    "scrub_secrets",
]

#: what :func:`scrub_secrets` puts in place of a secret
REDACTED = "[REDACTED]"
#: seconds each source may spend over one notebook run (see :class:`Budget`)
BUDGET_ENV = "INCIDENT_SOURCE_BUDGET"
#: megabytes one reply may hold, and log bytes one logs fetch reads
MAX_BYTES_ENV = "INCIDENT_SOURCE_MAX_MB"
#: samples one Prometheus reply may hold
MAX_POINTS_ENV = "INCIDENT_PROMETHEUS_MAX_POINTS"
DEFAULT_BUDGET = 60.0
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_POINTS = 500_000
#: how every reason for a reply over a size cap starts
TOO_LARGE = "reply too large: narrow the query or the window"


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one fetch returns: the frame, and notes on what it could not give.

    Attributes
    ----------
    frame
        The frame, meeting its contract in :mod:`incident_lib.core.schema`.
    notes
        One sentence per truncated or unreadable part (a log cut at its cap, a
        container that could not be read, a query without data). The runbook
        shows them as "incomplete" and records them as findings: never silent.
    """

    frame: pd.DataFrame
    notes: tuple[str, ...] = ()


@runtime_checkable
class Source(Protocol):
    """A live system that provides some evidence frames.

    ``name`` is the source's name in :data:`~incident_lib.core.schema.EVIDENCE_KINDS`
    (``"kubernetes"``) and ``frames`` the frame names it provides (``"logs"``, ...).
    """

    @property
    def name(self) -> str:
        """The source's name, e.g. ``"kubernetes"``."""
        ...

    @property
    def frames(self) -> tuple[str, ...]:
        """The frame names it provides."""
        ...

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        """What :meth:`fetch` asks the system for ``frame``: for the manifest (no credentials)."""
        ...

    def fetch(
        self, frame: str, incident: Incident, window: Window, *, progress: bool = False
    ) -> Fetched:
        """Fetch ``frame`` for ``incident`` over ``window``.

        Raises
        ------
        SourceUnavailable
            Not configured, unreachable or refused, or ``frame`` is not provided.
        """
        ...


#: builds a source from the environment (``os.environ`` or a given mapping)
SourceFactory = Callable[[Mapping[str, str]], Source]


class Budget:
    """The seconds a source may spend talking to its system, shared by all its fetches.

    The clock runs while at least one ``with budget.spending():`` block is open (in
    any thread: blocks may nest and overlap, the time is counted once), so time
    between fetches is free. Sources clip each request's timeouts to what is left
    (:meth:`clip`) and check it before each request and each wait (:meth:`check`).

    Parameters
    ----------
    seconds
        The budget; ``math.inf`` for none.
    source
        The source's name (for the reason of :class:`SourceUnavailable`).
    clock
        Monotonic seconds (tests inject one).

    Examples
    --------
    >>> budget = Budget(60, source="datadog")
    >>> budget.clip(15.0), budget.clip(120.0)
    (15.0, 60.0)
    """

    def __init__(
        self,
        seconds: float,
        *,
        source: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not seconds > 0:
            raise InvalidInput(f"a source's time budget must be above 0 s, got {seconds!r}")
        self.seconds = float(seconds)
        self.source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._spent = 0.0
        self._open = 0
        self._since = 0.0

    def __repr__(self) -> str:
        return f"Budget({self.seconds:g} s of {self.source}, {self.remaining():.3g} s left)"

    @classmethod
    def unlimited(cls, source: str) -> Budget:
        """A budget that never runs out (sources built directly, without one)."""
        return cls(math.inf, source=source)

    @property
    def spent(self) -> float:
        """Seconds spent so far."""
        with self._lock:
            running = self._clock() - self._since if self._open else 0.0
            return self._spent + running

    def remaining(self) -> float:
        """Seconds left (0 when used up)."""
        return max(0.0, self.seconds - self.spent)

    @property
    def exhausted(self) -> bool:
        """Whether nothing is left."""
        return self.remaining() <= 0.0

    @contextmanager
    def spending(self) -> Iterator[Budget]:
        """Run the clock for the block (the time a fetch or a request takes)."""
        with self._lock:
            if self._open == 0:
                self._since = self._clock()
            self._open += 1
        try:
            yield self
        finally:
            with self._lock:
                self._open -= 1
                if self._open == 0:
                    self._spent += self._clock() - self._since

    def used_up(self, detail: str = "") -> SourceUnavailable:
        """The error to raise when the budget ran out (``detail``: what was waited for)."""
        said = f" ({detail})" if detail else ""
        return SourceUnavailable(
            self.source,
            f"time budget of {self.seconds:g} s used up{said}; set {BUDGET_ENV} to allow more",
        )

    def check(self, detail: str = "") -> float:
        """The seconds left; raise :meth:`used_up` when there are none."""
        left = self.remaining()
        if left <= 0.0:
            raise self.used_up(detail)
        return left

    def clip(self, timeout: float) -> float:
        """``timeout``, or what is left of the budget when that is less.

        Raises
        ------
        SourceUnavailable
            Nothing is left.
        """
        return min(float(timeout), self.check())

    def clip_pair(self, timeout: tuple[float, float]) -> tuple[float, float]:
        """``(connect, read)`` timeouts, each at most what is left of the budget."""
        left = self.check()
        return min(float(timeout[0]), left), min(float(timeout[1]), left)


@dataclass(frozen=True, slots=True)
class Limits:
    """How long and how much a source may read over one run (see the module notes).

    Attributes
    ----------
    budget
        Seconds per source per notebook run.
    max_bytes
        Bytes one reply may hold, and log bytes one logs fetch reads.
    max_points
        Samples one Prometheus reply may hold.
    """

    budget: float = DEFAULT_BUDGET
    max_bytes: int = DEFAULT_MAX_BYTES
    max_points: int = DEFAULT_MAX_POINTS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The limits from ``INCIDENT_SOURCE_BUDGET``, ``INCIDENT_SOURCE_MAX_MB`` and
        ``INCIDENT_PROMETHEUS_MAX_POINTS`` (defaults for those not set).

        Raises
        ------
        InvalidInput
            A value is not a positive number (the message names the variable).
        """
        budget = _positive(environ, BUDGET_ENV, "seconds", DEFAULT_BUDGET)
        megabytes = _positive(environ, MAX_BYTES_ENV, "megabytes", DEFAULT_MAX_BYTES / 2**20)
        points = _positive(environ, MAX_POINTS_ENV, "samples", DEFAULT_MAX_POINTS)
        return cls(budget=budget, max_bytes=max(1, int(megabytes * 2**20)), max_points=int(points))

    def new_budget(self, source: str) -> Budget:
        """A fresh :class:`Budget` of :attr:`budget` seconds for ``source``."""
        return Budget(self.budget, source=source)


class BudgetedConnector:
    """What every connector with a time budget shares: its limits, its budget, and a
    :meth:`fetch` that checks the frame and charges the fetch to the budget.

    A connector calls :meth:`_start_budget` in ``__init__`` and implements
    :meth:`_fetch`; the budget starts when the connector is built (once per
    notebook run) and is shared by every fetch.
    """

    name: str
    frames: tuple[str, ...]
    environ: Mapping[str, str]
    limits: Limits
    budget: Budget

    def _start_budget(self, environ: Mapping[str, str], limits: Limits | None) -> None:
        """Keep ``environ``, the limits (default: from ``environ``) and a new budget.

        Raises
        ------
        InvalidInput
            A limit in the environment is not a positive number.
        """
        self.environ = environ
        self.limits = limits if limits is not None else Limits.from_environment(environ)
        self.budget = self.limits.new_budget(self.name)

    def fetch(
        self, frame: str, incident: Incident, window: Window, *, progress: bool = False
    ) -> Fetched:
        """Fetch ``frame`` for ``incident`` over ``window``, charged to the time budget.

        Truncated or unreadable parts are the notes; ``progress`` shows a progress
        bar where a fetch has many parts (log pages, containers).

        Raises
        ------
        SourceUnavailable
            Not configured, unreachable or refused, the time budget is used up, a
            reply is too large, or ``frame`` is not provided.
        """
        check_frame(cast("Source", self), frame)
        with self.budget.spending():
            self.budget.check()
            return self._fetch(frame, incident, window, progress)

    def _fetch(self, frame: str, incident: Incident, window: Window, progress: bool) -> Fetched:
        raise NotImplementedError


def format_size(size: float) -> str:
    """A byte count for reasons and notes.

    Examples
    --------
    >>> format_size(256 * 2**20), format_size(1536), format_size(10)
    ('256 MB', '1.5 KB', '10 bytes')
    """
    if size >= 2**20:
        return f"{size / 2**20:.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size:.0f} bytes"


def _positive(environ: Mapping[str, str], name: str, unit: str, default: float) -> float:
    text = (environ.get(name) or "").strip()
    if not text:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(
            f"{name} must be a number of {unit} above 0 (default {default:g}), got {text!r}"
        )
    return value


def _no_connector(name: str) -> SourceUnavailable:
    return SourceUnavailable(
        name,
        f"no live {name} connector in this version of incident_lib; "
        "run offline over captured evidence",
    )


class SourceRegistry:
    """Source name -> factory; each source is built from ``environ`` on first use.

    Parameters
    ----------
    factories
        The sources it knows, by name.
    environ
        The environment the factories read (default: ``os.environ``).

    Examples
    --------
    >>> registry = SourceRegistry({})
    >>> registry.names()
    ()
    """

    def __init__(
        self,
        factories: Mapping[str, SourceFactory] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._factories: dict[str, SourceFactory] = dict(factories or {})
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._built: dict[str, Source] = {}

    def register(self, name: str, factory: SourceFactory) -> None:
        """Add (or replace) the source ``name``, built by ``factory`` on first use."""
        self._factories[name] = factory
        self._built.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """The names of the sources it knows, sorted."""
        return tuple(sorted(self._factories))

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def get(self, name: str) -> Source:
        """The source ``name``, built from the environment on first use.

        Raises
        ------
        SourceUnavailable
            No source of that name (run offline), or its factory refuses (not configured).
        """
        if name in self._built:
            return self._built[name]
        factory = self._factories.get(name)
        if factory is None:
            raise _no_connector(name)
        source = factory(self._environ)
        self._built[name] = source
        return source

    def resolve(self, name: str, frame: str) -> Source:
        """The source ``name``, after checking that it provides ``frame``.

        Raises
        ------
        SourceUnavailable
            Unknown source, not configured, or ``frame`` is not one it provides
            (the reason lists those it does).
        """
        source = self.get(name)
        check_frame(source, frame)
        return source


def default_registry(environ: Mapping[str, str] | None = None) -> SourceRegistry:
    """The live sources of this version: kubernetes, datadog, prometheus, git, postgres, probes.

    Nothing is imported or built until a source is asked for.

    Parameters
    ----------
    environ
        The environment the sources are configured from (default: ``os.environ``).
    """

    def kubernetes(env: Mapping[str, str]) -> Source:
        from .kubernetes import KubernetesConnector

        return KubernetesConnector.from_environment(env)

    def datadog(env: Mapping[str, str]) -> Source:
        from .datadog import DatadogConnector

        return DatadogConnector.from_environment(env)

    def prometheus(env: Mapping[str, str]) -> Source:
        from .prometheus import PrometheusConnector

        return PrometheusConnector.from_environment(env)

    def git(env: Mapping[str, str]) -> Source:
        from .git import GitSource

        return GitSource.from_environment(env)

    def postgres(env: Mapping[str, str]) -> Source:
        from .postgres import PostgresConnector

        return PostgresConnector.from_environment(env)

    def probes(env: Mapping[str, str]) -> Source:
        from .probes import ProbesConnector

        return ProbesConnector.from_environment(env)

    return SourceRegistry(
        {
            "kubernetes": kubernetes,
            "datadog": datadog,
            "prometheus": prometheus,
            "git": git,
            "postgres": postgres,
            "probes": probes,
        },
        environ=environ,
    )


def check_frame(source: Source, frame: str) -> None:
    """Raise :class:`SourceUnavailable` unless ``source`` provides ``frame``."""
    if frame not in source.frames:
        raise SourceUnavailable(
            source.name, f"no live fetch named {frame!r}; known: {', '.join(source.frames)}"
        )


def scrub_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced by ``[REDACTED]``.

    A source passes its own configured credentials (API keys, a bearer token, an
    ``Authorization`` header value) so that no reason it raises can quote them,
    whatever a server echoed back. Longer secrets are replaced first.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def network_reason(
    exc: Exception, host: str, timeout: tuple[float, float], *, unresolved_hint: str = ""
) -> str:
    """Why a request to ``host`` through urllib3 got no answer, in one line.

    Parameters
    ----------
    exc
        The urllib3 error (a ``MaxRetryError`` is unwrapped to its reason).
    host
        How to name the server, e.g. ``"API server 10.0.0.1:6443"``.
    timeout
        ``(connect, read)`` seconds, quoted when one ran out.
    unresolved_hint
        What to check when the name does not resolve, e.g. ``"DD_SITE=datadoghq.eu"``.
    """
    import urllib3.exceptions as u

    inner = exc.reason if isinstance(exc, u.MaxRetryError) and exc.reason else exc
    if isinstance(inner, u.NameResolutionError):
        hint = f" ({unresolved_hint})" if unresolved_hint else ""
        return f"{host} could not be reached: its name does not resolve{hint}"
    if isinstance(inner, u.NewConnectionError):  # a ConnectTimeoutError subclass: first
        why = "connection refused" if "refused" in str(inner).lower() else "no connection"
        return f"{host} could not be reached ({why})"
    if isinstance(inner, u.ConnectTimeoutError):
        return f"{host} did not answer within {timeout[0]:g} s (connect)"
    if isinstance(inner, (u.ReadTimeoutError, u.TimeoutError)):
        return f"{host} did not answer within {timeout[1]:g} s"
    return f"{host} dropped the connection ({type(inner).__name__})"


class ProgressBar(Protocol):
    """What a fetch needs of a progress bar (``tqdm`` has both methods)."""

    def update(self, n: int = 1) -> object:
        """Advance by ``n`` steps."""

    def close(self) -> None:
        """Finish the bar."""


class _NoBar:
    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


def progress_bar(total: int, *, enabled: bool, desc: str, unit: str) -> ProgressBar:
    """A ``tqdm.auto`` bar (``update``/``close``), or a silent stand-in when disabled."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    bar: ProgressBar = tqdm(total=total, desc=desc, unit=unit)
    return bar
