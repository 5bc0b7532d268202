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

This module imports no heavy library (pandas only for type checking).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..core.errors import SourceUnavailable

if TYPE_CHECKING:
    import pandas as pd

    from ..core.incident import Incident
    from ..core.time import Window

__all__ = [
    "REDACTED",
    "Fetched",
    "Source",
    "SourceFactory",
    "SourceRegistry",
    "check_frame",
    "default_registry",
    "network_reason",
    "progress_bar",
    "scrub_secrets",
]

#: what :func:`scrub_secrets` puts in place of a secret
REDACTED = "[REDACTED]"


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
    """The live sources of this version: kubernetes, datadog, prometheus and git.

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

    return SourceRegistry(
        {"kubernetes": kubernetes, "datadog": datadog, "prometheus": prometheus, "git": git},
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
