"""The probes source: every dependency endpoint of an incident, checked from here.

Targets, in order, without repeats: the record's ``health_url`` (the service's
own health endpoint), its ``endpoints``, the connector's ``targets`` (given when
it is built) and ``INCIDENT_PROBE_TARGETS`` (comma-separated, same forms). Each
target gets, in order, the checks that apply to it (:attr:`.target.Target.checks`):
dns (a name, not an address), tcp, tls (https) and http (http and https). A check
after one that failed is not run and is ``unknown`` ("not checked: ..."), never ok.

Targets are probed by a small thread pool (:attr:`.target.ProbeSettings.workers`
at once). Every timeout is clipped to what is left of the source's time budget
(:class:`~incident_lib.sources.base.Budget`, ``INCIDENT_SOURCE_BUDGET``), and the
fetch waits for the targets at most that long: a target not finished by then gives
``unknown`` checks and a note.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from ...core.errors import InvalidInput, SourceUnavailable
from ...core.params import parse_list
from ...core.schema import conform, empty_frame
from ..base import Budget, BudgetedConnector, Fetched, Limits, check_frame
from .dns import DNS_SERVERS_ENV, parse_servers, probe_dns, resolver_from_environment
from .http import probe_http
from .target import DEFAULT_SETTINGS, Check, ProbeSettings, Target, parse_target
from .tcp import probe_tcp
from .tls import CA_BUNDLE_ENV, probe_tls, tls_context

if TYPE_CHECKING:
    import ssl

    from ...core.incident import Incident
    from ...core.time import Window

__all__ = [
    "FETCH_NAMES",
    "SOURCE",
    "TARGETS_ENV",
    "ProbesConnector",
    "incident_targets",
    "probe_target",
    "probe_targets",
]

SOURCE = "probes"
#: frames it provides (the ``probes`` entries of ``schema.EVIDENCE_KINDS``)
FETCH_NAMES = ("checks",)
#: more targets to probe, comma-separated (``https://host/healthz, db:5432``)
TARGETS_ENV = "INCIDENT_PROBE_TARGETS"


def incident_targets(incident: Incident, extra: Iterable[str] = ()) -> list[Target]:
    """The targets of ``incident``: ``health_url``, ``endpoints``, then ``extra``; no repeats.

    Raises
    ------
    InvalidInput
        An extra target is not an endpoint (see :func:`.target.parse_target`).
    """
    texts = [incident.health_url] if incident.health_url else []
    texts += list(incident.endpoints) + list(extra)
    out: list[Target] = []
    for text in texts:
        target = parse_target(text)
        if all(t.text != target.text for t in out):
            out.append(target)
    return out


def _skipped(target: Target, done: list[Check], why: str, reason: str) -> list[Check]:
    """``unknown`` checks for those of ``target`` not in ``done``."""
    ran = {c.check for c in done}
    return [
        Check(check=name, status="unknown", detail=f"not checked: {why}", reason=reason)
        for name in target.checks
        if name not in ran
    ]


def probe_target(
    target: Target,
    *,
    resolver: Any,
    context: ssl.SSLContext,
    settings: ProbeSettings = DEFAULT_SETTINGS,
    budget: Budget | None = None,
) -> list[Check]:
    """Every check of ``target``, in order; those that could not run are ``unknown``.

    Parameters
    ----------
    target
        What to probe.
    resolver
        A dnspython resolver (:func:`.dns.resolver_from_environment`), or None.
    context
        The verifying TLS context (:func:`.tls.tls_context`).
    settings
        Timeouts, tries and thresholds.
    budget
        The source's time budget: every timeout is clipped to what is left of it.
    """
    budget = budget if budget is not None else Budget.unlimited(SOURCE)
    s = settings
    done: list[Check] = []
    try:
        addresses = [target.host]
        if "dns" in target.checks:
            check, addresses = probe_dns(
                target.host, resolver, timeout=budget.clip(s.dns_timeout), slow=s.dns_slow
            )
            done.append(check)
            if not addresses:
                why = "the name was not resolved"
                return done + _skipped(target, done, why, "dns")
        address = addresses[0]
        tcp = probe_tcp(address, target.port, timeout=budget.clip(s.tcp_timeout), slow=s.tcp_slow)
        done.append(tcp)
        if tcp.status == "failed":
            return done + _skipped(target, done, "the TCP connection failed", "tcp")
        if "tls" in target.checks:
            tls = probe_tls(
                target.host,
                address,
                target.port,
                context=context,
                timeout=budget.clip(s.tls_timeout),
                slow=s.tls_slow,
                expiring_days=s.expiring_days,
            )
            done.append(tls)
            if tls.status == "failed":
                why = "TLS failed (a client that verifies certificates cannot connect)"
                return done + _skipped(target, done, why, "tls")
        if "http" in target.checks:
            deadline = time.monotonic() + budget.check()
            if math.isinf(deadline):
                deadline = time.monotonic() + s.http_total
            done.append(probe_http(target, address, settings=s, context=context, deadline=deadline))
    except SourceUnavailable:  # the budget is used up
        why = f"the time budget of {budget.seconds:g} s was used up"
        return done + _skipped(target, done, why, "budget")
    return done


def probe_targets(
    targets: Sequence[Target],
    *,
    resolver: Any,
    context: ssl.SSLContext,
    settings: ProbeSettings = DEFAULT_SETTINGS,
    budget: Budget | None = None,
) -> Fetched:
    """Probe ``targets`` concurrently; the ``dependency_checks`` frame and its notes.

    At most ``settings.workers`` targets at once; the wait ends when the budget
    does: targets not finished by then are ``unknown`` and named in a note.
    """
    import pandas as pd

    budget = budget if budget is not None else Budget.unlimited(SOURCE)
    if not targets:
        return Fetched(
            empty_frame("dependency_checks"),
            (
                "no endpoint to probe: name them in incident.yaml (health_url, endpoints) "
                f"or in {TARGETS_ENV}",
            ),
        )
    pool = ThreadPoolExecutor(max_workers=min(settings.workers, len(targets)))
    try:
        futures = [
            pool.submit(
                probe_target,
                t,
                resolver=resolver,
                context=context,
                settings=settings,
                budget=budget,
            )
            for t in targets
        ]
        left = budget.remaining()
        wait(futures, timeout=None if math.isinf(left) else left + 0.5)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    rows: list[dict[str, Any]] = []
    late: list[str] = []
    for target, future in zip(targets, futures, strict=True):
        if future.done() and not future.cancelled() and future.exception() is None:
            checks = future.result()
        else:
            late.append(target.text)
            why = f"not finished within the time budget of {budget.seconds:g} s"
            checks = _skipped(target, [], why, "budget")
        rows += [c.row(target) for c in checks]
    notes: tuple[str, ...] = ()
    if late:
        notes = (
            f"{len(late)} of {len(targets)} targets not finished within the time budget "
            f"({', '.join(late)}): their checks are unknown",
        )
    return Fetched(conform(pd.DataFrame(rows), "dependency_checks"), notes)


class ProbesConnector(BudgetedConnector):
    """DNS, TCP, TLS and HTTP checks of an incident's dependencies and health endpoint.

    Parameters
    ----------
    environ
        Where ``INCIDENT_DNS_SERVERS``, ``INCIDENT_CA_BUNDLE``, ``INCIDENT_PROBE_TARGETS``
        and the limits are read.
    targets
        More endpoints to probe, besides the incident's (``http(s)://...``,
        ``tcp://host:port``, ``host:port``).
    settings
        Timeouts, tries and thresholds (:class:`.target.ProbeSettings`).
    limits
        The time budget (default: :meth:`Limits.from_environment`).
    resolver
        A dnspython resolver (default: :func:`.dns.resolver_from_environment`).
    context
        The verifying TLS context (default: :func:`.tls.tls_context`).

    Raises
    ------
    InvalidInput
        A target, ``INCIDENT_DNS_SERVERS``, ``INCIDENT_CA_BUNDLE`` or a limit is invalid.
    """

    name: str = SOURCE
    frames: tuple[str, ...] = FETCH_NAMES

    def __init__(
        self,
        *,
        environ: Mapping[str, str] = os.environ,
        targets: Sequence[str] = (),
        settings: ProbeSettings = DEFAULT_SETTINGS,
        limits: Limits | None = None,
        resolver: Any = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self._start_budget(environ, limits)
        self.settings = settings
        try:
            extra = [parse_target(t).text for t in parse_list(environ.get(TARGETS_ENV, ""))]
        except InvalidInput as exc:
            raise InvalidInput(f"{TARGETS_ENV}: {exc}") from None
        self.targets = tuple(parse_target(t).text for t in targets) + tuple(extra)
        parse_servers(environ.get(DNS_SERVERS_ENV, ""))  # refuse a bad value now
        self._resolver = resolver
        self._context = context if context is not None else tls_context(environ)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ProbesConnector:
        """The connector configured from ``environ`` (nothing is probed until a fetch)."""
        return cls(environ=environ)

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        """The targets, the checks, the tries and timeouts, the resolver and CA store."""
        check_frame(self, frame)
        s = self.settings
        return {
            "targets": [t.text for t in incident_targets(incident, self.targets)],
            "checks": "dns (names), tcp, tls (https), http (http, https)",
            "http_tries": s.http_tries,
            "timeouts_s": {
                "dns": s.dns_timeout,
                "tcp": s.tcp_timeout,
                "tls": s.tls_timeout,
                "http": s.http_timeout,
                "http_total": s.http_total,
            },
            "dns_servers": self.environ.get(DNS_SERVERS_ENV, "").strip() or "system",
            "ca_bundle": self.environ.get(CA_BUNDLE_ENV, "").strip() or "system",
        }

    def _fetch(self, frame: str, incident: Incident, window: Window, progress: bool) -> Fetched:
        resolver = self._resolver
        if resolver is None:
            resolver = resolver_from_environment(self.environ)
        return probe_targets(
            incident_targets(incident, self.targets),
            resolver=resolver,
            context=self._context,
            settings=self.settings,
            budget=self.budget,
        )
