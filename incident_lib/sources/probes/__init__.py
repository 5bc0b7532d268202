"""Dependency probes: DNS, TCP, TLS and HTTP checks of the endpoints an incident names.

One module per check (:mod:`.dns`, :mod:`.tcp`, :mod:`.tls`, :mod:`.http`), what
they share (:mod:`.target`: the target, a check's result, the settings) and the
source for the registry (:mod:`.connector`: :class:`ProbesConnector`, frame
``checks``, contract ``dependency_checks``). The client libraries (dnspython,
httpx, cryptography) are imported when a probe runs, never at import.
"""

from __future__ import annotations

from .connector import (
    FETCH_NAMES,
    SOURCE,
    TARGETS_ENV,
    ProbesConnector,
    incident_targets,
    probe_target,
    probe_targets,
)
from .dns import DNS_SERVERS_ENV, probe_dns, resolver_from_environment
from .http import probe_http
from .target import DEFAULT_SETTINGS, Check, ProbeSettings, Status, Target, parse_target
from .tcp import probe_tcp
from .tls import CA_BUNDLE_ENV, describe_certificate, probe_tls, tls_context

__all__ = [
    "CA_BUNDLE_ENV",
    "DEFAULT_SETTINGS",
    "DNS_SERVERS_ENV",
    "FETCH_NAMES",
    "SOURCE",
    "TARGETS_ENV",
    "Check",
    "ProbeSettings",
    "ProbesConnector",
    "Status",
    "Target",
    "describe_certificate",
    "incident_targets",
    "parse_target",
    "probe_dns",
    "probe_http",
    "probe_target",
    "probe_targets",
    "probe_tcp",
    "probe_tls",
    "resolver_from_environment",
    "tls_context",
]
