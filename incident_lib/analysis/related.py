"""Which services are related to the incident's service: itself, its dependencies, others.

A change of another service is not evidence about this one unless that service
is one this one depends on. :func:`service_relations` gathers, from the record
and the evidence at hand, the names that are *this* service and the services it
*depends on* (each with why: named in the record, seen in the logs as an
upstream, or a client application of the same database), and
:meth:`Relations.relation` classifies any workload or service name.

This service's own names, erring on the side of recall:

* the record's ``service`` and its ``workloads``;
* ``<name>-<suffix>`` of any of those for the usual variants of one service:
  :data:`OWN_SUFFIXES` (``canary``, ``primary``, ``worker``, ``migrate``, ...),
  optionally followed by a number (``-worker-2``), and version suffixes
  (``-v2``, ``-v2.34``);
* a Pod or ReplicaSet name of any of the above (the ReplicaSet's template hash and the
  pod's random suffix are dropped: ``checkout-7d9f8c6b5-x2x7q`` is ``checkout``);
* a Kubernetes DNS name of any of the above (``checkout.prod.svc.cluster.local``).

The same variants of a dependency's name are that dependency. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..core.incident import Incident

__all__ = [
    "OWN_SUFFIXES",
    "Dependency",
    "Relation",
    "Relations",
    "dependencies_from_database",
    "dependencies_from_logs",
    "incident_relations",
    "service_relations",
]

#: how a name relates to the incident's service
Relation = Literal["this", "dependency", "other", "unknown"]

#: ``<service>-<suffix>`` names that are variants of one service (deploy strategies, roles)
OWN_SUFFIXES: frozenset[str] = frozenset(
    {"canary", "primary", "stable", "preview", "blue", "green", "baseline", "main",
     "worker", "workers", "consumer", "consumers", "scheduler", "cron", "cronjob", "job",
     "jobs", "migrate", "migration", "migrations", "web", "api", "server", "app",
     "backend", "frontend", "grpc", "http", "public", "internal", "admin", "batch",
     "queue", "sidekiq", "celery", "beat", "leader", "replica", "read", "write"}
)  # fmt: skip

#: why a dependency is one, in the words of a finding's detail
_WHY_TEXT = {
    "record": "named in the incident record",
    "logs": "seen as an upstream in the logs",
    "database": "a client of the same database",
}
_SUFFIX = re.compile(r"-(?P<word>[a-z]+)(?:-?\d+)?$")
_VERSION = re.compile(r"-v?\d+(?:[.-]\d+)*$")
#: a Deployment's pod ``<deployment>-<template hash>-<5 chars>`` and its ReplicaSet
_POD_NAME = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{6,10})-[a-z0-9]{5}$")
_RS_NAME = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{6,10})$")
#: a Job's or DaemonSet's pod ``<owner>-<5 chars>``, a StatefulSet's ``<name>-<ordinal>``
_OTHER_POD = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{5}|\d+)$")
#: private DNS zones whose first label names a service
_PRIVATE_ZONES = frozenset({"internal", "local", "lan", "intranet", "corp", "home", "localdomain"})
_IP = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$|^\[?[0-9a-f:]+\]?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_SVC = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*)\.(?P<ns>[a-z0-9-]+)\.svc(?:\.cluster\.local)?$")
#: hosts that are never a service: this machine, the API server, metadata endpoints
_NOT_SERVICES = frozenset(
    {"localhost", "kubernetes", "kubernetes.default", "metadata.google.internal",
     "host.docker.internal", "0.0.0.0"}
)  # fmt: skip

# -- upstreams in log lines -------------------------------------------------------------
_URL = re.compile(
    r"\b(?:https?|grpcs?|wss?|redis|rediss|amqps?|mongodb(?:\+srv)?|postgres(?:ql)?|mysql|"
    r"nats|kafka|memcached?)://(?:[^@/\s\"']+@)?(?P<host>[A-Za-z0-9.-]+)",
    re.IGNORECASE,
)
_SVC_TEXT = re.compile(
    r"\b(?P<host>[a-z0-9][a-z0-9-]*\.[a-z0-9-]+\.svc(?:\.cluster\.local)?)\b", re.IGNORECASE
)
#: Envoy / Istio cluster names: ``outbound|8080||payments.prod.svc.cluster.local``
_ENVOY_CLUSTER = re.compile(
    r"\b(?:outbound|inbound)\|\d*\|[^|\s\"']*\|(?P<host>[A-Za-z0-9.-]+)", re.IGNORECASE
)
#: ``upstream_cluster=payments`` / ``"upstream_cluster":"payments_8080"``
_UPSTREAM_FIELD = re.compile(
    r"\bupstream_cluster[\"']?\s*[:=]\s*[\"']?(?P<host>[A-Za-z0-9._-]+)", re.IGNORECASE
)
#: ``host:port`` after words that name a connection's far end
_HOST_PORT = re.compile(
    r"\b(?:dial tcp|connect(?:ing|ion)?(?: to)?|upstream(?:_host| host)?|host|addr(?:ess)?|"
    r"server|endpoint|backend|remote)[\s:=\"']+(?P<host>[A-Za-z][A-Za-z0-9.-]*):\d{2,5}\b",
    re.IGNORECASE,
)
_LOG_PATTERNS = (_URL, _SVC_TEXT, _ENVOY_CLUSTER, _UPSTREAM_FIELD, _HOST_PORT)
#: a cheap test before the patterns: the words and marks every pattern needs
_LOG_HINT = re.compile(
    r"://|\.svc\b|bound\||upstream|dial tcp|connect|host|addr|server|endpoint|backend|remote",
    re.IGNORECASE,
)
#: at most this many distinct log texts are scanned (the rest repeat their shapes)
_MAX_LOG_TEXTS = 50_000
#: lines turned into Arrow text at a time (a slice's copy is all the memory it takes)
_SLICE = 65_536

# -- database client applications --------------------------------------------------------
#: ``application_name`` of tools and drivers, never a service: ours, consoles, dumps
_DB_TOOLS = re.compile(
    r"^(?:incident-runbooks|psql|pgcli|pgadmin|pg_dump|pg_dumpall|pg_restore|pg_basebackup|"
    r"pgbench|pg_cron|pg_repack|pg_top|pgbouncer|walreceiver|walsender|datagrip|dbeaver|"
    r"tableplus|navicat|postico|beekeeper|metabase|grafana|datadog|postgres_exporter|"
    r"postgresql jdbc driver|npgsql|jdbc|odbc|sqlalchemy|psycopg|node-postgres|pgx|"
    r"\[unknown\]|unknown)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Dependency:
    """A service this one depends on, and why it is known to be one."""

    name: str
    why: tuple[str, ...]

    @property
    def reason(self) -> str:
        """``named in the incident record; seen as an upstream in the logs``."""
        return "; ".join(_WHY_TEXT.get(w, w) for w in self.why)


def _normal(name: str) -> str:
    """A name as written by the evidence -> a lower-case service name.

    ``Deployment/checkout`` -> ``checkout``; ``checkout.prod.svc.cluster.local``
    -> ``checkout``; ``payments_8080`` (an Envoy cluster) -> ``payments``.
    """
    text = name.strip().strip("\"'").lower().rpartition("/")[2]
    found = _SVC.match(text)
    if found:
        return found["name"]
    return re.sub(r"_\d+$", "", text)


def _variants(name: str) -> tuple[str, ...]:
    """``name`` and what it may be a variant of, most specific first."""
    out = [name]
    found = _POD_NAME.match(name) or _RS_NAME.match(name)
    if found and re.search(r"\d", found["hash"]):
        out.append(found["base"])
    found = _OTHER_POD.match(name)
    if found and re.search(r"\d", found["hash"]):
        out.append(found["base"])
    for base in list(out):
        version = _VERSION.sub("", base)
        if version != base:
            out.append(version)
        found = _SUFFIX.search(base)
        while found and found["word"] in OWN_SUFFIXES:
            base = base[: found.start()]
            out.append(base)
            found = _SUFFIX.search(base)
    return tuple(dict.fromkeys(n for n in out if n))


def _stems(names: Iterable[str]) -> set[str]:
    return {v for name in names for v in _variants(_normal(name))}


@dataclass(frozen=True, slots=True)
class Relations:
    """This service's own names and the services it depends on.

    Build one with :func:`service_relations`.

    Attributes
    ----------
    service
        The incident's service.
    own
        Names that are this service (the service, the record's workloads).
    dependencies
        The services this one depends on, each with why.
    """

    service: str
    own: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()

    def _one(self, name: str) -> Relation:
        text = _normal(name)
        if not text:
            return "unknown"
        variants = _variants(text)
        if any(v in _stems((self.service, *self.own)) for v in variants):
            return "this"
        if any(v in _stems(d.name for d in self.dependencies) for v in variants):
            return "dependency"
        return "other"

    def relation(self, name: str) -> Relation:
        """How ``name`` (a workload, service, pod or host name) relates to this service.

        ``"this"``, ``"dependency"``, ``"other"`` (a service not known to be a
        dependency) or ``"unknown"`` (an empty name: the evidence does not say).
        A comma-separated list (a ConfigMap used by several workloads) takes
        the closest relation of its names.
        """
        found = {self._one(part) for part in str(name).split(",") if part.strip()}
        if "this" in found:
            return "this"
        if "dependency" in found:
            return "dependency"
        return "other" if "other" in found else "unknown"

    def dependency(self, name: str) -> Dependency | None:
        """The dependency ``name`` is (or a variant of), or ``None``."""
        for part in str(name).split(","):
            variants = set(_variants(_normal(part)))
            for dep in self.dependencies:
                if variants & _stems([dep.name]):
                    return dep
        return None

    def describe(self, name: str) -> str:
        """Words for a finding: ``"this service"``, ``"a dependency (seen as an upstream
        in the logs)"``, ``"another service (not a known dependency)"`` or ``""``."""
        relation = self.relation(name)
        if relation == "this":
            return "this service"
        if relation == "dependency":
            dep = self.dependency(name)
            return f"a dependency ({dep.reason})" if dep else "a dependency"
        if relation == "other":
            return "another service (not a known dependency)"
        return ""

    def names(self) -> tuple[str, ...]:
        """This service's own names (the service first)."""
        return tuple(dict.fromkeys(_normal(n) for n in (self.service, *self.own) if n))


def _host_name(host: str, namespace: str) -> str:
    """A host as written in a log line -> a service name, or "" for none."""
    text = host.strip(".").lower()
    if not text or _IP.match(text) or text in _NOT_SERVICES or not _DNS_NAME.match(text):
        return ""
    found = _SVC.match(text)
    if found:
        return "" if found["name"] in _NOT_SERVICES else found["name"]
    labels = text.split(".")
    if len(labels) == 1:
        return text  # a Service of the namespace
    if len(labels) == 2 and namespace and labels[1] == namespace.lower():
        return labels[0]  # <service>.<namespace>
    if labels[-1] in _PRIVATE_ZONES:
        return labels[0]  # payments.internal, orders.local
    return ""  # an outside domain: a documentation link as often as a dependency


def dependencies_from_logs(
    logs: pd.DataFrame | Iterable[pd.DataFrame], *, namespace: str = ""
) -> tuple[str, ...]:
    """Upstream service names the logs mention, in order of first mention.

    ``logs``: a ``logs`` frame, or its parts in order (a big capture read a row
    group at a time, :meth:`~incident_lib.infra.evidence.EvidenceStore.batches`).

    Recognised shapes (in ``raw``, else ``message``): URLs of common schemes
    (``http://payments:8080/charge``, ``redis://cache.prod.svc:6379``),
    Kubernetes DNS names (``<name>.<ns>.svc[.cluster.local]`` -> ``<name>``),
    Envoy / Istio cluster names (``outbound|8080||payments.prod.svc.cluster.local``,
    ``upstream_cluster=inventory``), and ``host:port`` after a word naming a
    connection's far end (``dial tcp ledger:5432``, ``connection to
    redis-master:6379 refused``, ``upstream: "orders:8080"``). IP addresses,
    ``localhost`` and the API server are not services; ``<name>.<namespace>``
    in the incident's namespace is ``<name>``, and so is ``<name>.internal`` /
    ``<name>.local``. An outside domain (``api.stripe.com``, ``sqlalche.me``) is
    left out: error messages link to documentation as often as they name an
    upstream, and an outside service's changes are not in the cluster's
    evidence anyway; name such a dependency in the record. Each pattern's first
    match in a line counts (a line naming two upstreams the same way gives the first).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    # RE2 through Arrow: linear in the text, a few ms for 10^4 lines (Python's re: seconds);
    # a slice of lines at a time, never a Python string per line
    hint = _re2(_LOG_HINT)
    lines = pa.array([], type=pa.large_string())
    for part in _slices([logs] if isinstance(logs, pd.DataFrame) else logs):
        columns = [c for c in ("raw", "message") if c in part.columns]
        if not columns:
            continue
        texts = _arrow_texts(part[columns[0]])
        if len(columns) > 1:
            empty = pc.equal(texts, "")
            if pc.any(empty).as_py():  # (the message is read only where the raw line is empty)
                texts = pc.if_else(empty, _arrow_texts(part[columns[1]]), texts)
        texts = pc.unique(texts)  # first: a line logged many times is searched once
        texts = pc.filter(texts, pc.match_substring_regex(texts, hint))
        lines = pc.unique(pa.concat_arrays([lines, texts]))  # first mentions keep their order
        if len(lines) >= _MAX_LOG_TEXTS:
            break
    lines = lines.slice(0, _MAX_LOG_TEXTS)
    mentions: list[tuple[int, int, str]] = []  # (line, pattern, host): in order of mention
    for order, pattern in enumerate(_LOG_PATTERNS):
        hosts = pc.struct_field(pc.extract_regex(lines, _re2(pattern)), "host")
        where = pc.indices_nonzero(pc.is_valid(hosts))
        found_hosts = pc.take(hosts, where).to_pylist()
        mentions += (
            (i, order, host) for i, host in zip(where.to_pylist(), found_hosts, strict=True)
        )
    found: dict[str, None] = {}
    for _, _, host in sorted(mentions):
        name = _host_name(_normal_upstream(host), namespace)
        if name:
            found.setdefault(name)
    return tuple(found)


def _slices(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The rows of ``frames`` in order, :data:`_SLICE` rows at most at a time."""
    for frame in frames:
        for start in range(0, len(frame), _SLICE):
            yield frame.iloc[start : start + _SLICE]


def _arrow_texts(column: pd.Series) -> pa.Array:
    """A column as ``str`` (missing: ``""``), as one Arrow ``large_string`` array."""
    import pyarrow as pa

    texts = pa.array(column.astype("str").fillna("").array)
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    return texts.cast(pa.large_string())


def _re2(pattern: re.Pattern[str]) -> str:
    """``pattern`` for Arrow's RE2 (the same syntax here), case folded when it was."""
    return ("(?i)" if pattern.flags & re.IGNORECASE else "") + pattern.pattern


def _normal_upstream(host: str) -> str:
    """``payments_8080`` (an Envoy cluster named with its port) -> ``payments``."""
    return re.sub(r"_\d+$", "", host)


def dependencies_from_database(pg_activity: pd.DataFrame) -> tuple[str, ...]:
    """The database's client applications (``application_name``), tools left out.

    Left out: empty names, ours (``incident-runbooks``), consoles and tools
    (``psql``, pgAdmin, DBeaver, ``pg_dump``, ...), drivers' default names
    (``PostgreSQL JDBC Driver``) and replication processes.
    """
    if pg_activity.empty or "application_name" not in pg_activity.columns:
        return ()
    found: dict[str, None] = {}
    for value in pg_activity["application_name"].astype("string").fillna("").drop_duplicates():
        name = str(value).strip()
        if not name or _DB_TOOLS.match(name):
            continue
        found.setdefault(name.lower())
    return tuple(found)


def service_relations(
    service: str,
    *,
    workloads: Iterable[str] = (),
    dependencies: Iterable[str] = (),
    logs: pd.DataFrame | Iterable[pd.DataFrame] | None = None,
    pg_activity: pd.DataFrame | None = None,
    namespace: str = "",
) -> Relations:
    """This service's names and its dependencies, from the record and the evidence.

    Parameters
    ----------
    service
        The incident's service (``Incident.service``).
    workloads
        The record's ``workloads``: the service's own workloads not named like it.
    dependencies
        The record's ``dependencies``.
    logs
        A ``logs`` frame, or its parts in order: upstreams it mentions are
        dependencies (see :func:`dependencies_from_logs`).
    pg_activity
        A ``pg_activity`` frame: the database's other client applications are
        dependencies (they share it; see :func:`dependencies_from_database`).
    namespace
        The incident's namespace (``<name>.<namespace>`` in a log is ``<name>``).

    Returns
    -------
    Relations
        Discovered names that are this service's own (its logs mention its own
        URL; it is a client of its database) are not dependencies. Each
        dependency keeps every reason it was found for, record first.
    """
    relations = Relations(service=service, own=tuple(w for w in workloads if w))
    why: dict[str, list[str]] = {}

    def add(names: Iterable[str], reason: str) -> None:
        for name in names:
            key = _normal(name)
            if not key or relations.relation(key) == "this":
                continue
            reasons = why.setdefault(key, [])
            if reason not in reasons:
                reasons.append(reason)

    add(dependencies, "record")
    if logs is not None:
        add(dependencies_from_logs(logs, namespace=namespace), "logs")
    if pg_activity is not None:
        add(dependencies_from_database(pg_activity), "database")
    deps = tuple(Dependency(name, tuple(reasons)) for name, reasons in why.items())
    return Relations(service=service, own=relations.own, dependencies=deps)


def incident_relations(
    incident: Incident,
    *,
    logs: pd.DataFrame | Iterable[pd.DataFrame] | None = None,
    pg_activity: pd.DataFrame | None = None,
) -> Relations:
    """:func:`service_relations` of the record's service, workloads, dependencies and
    namespace, with what ``logs`` and ``pg_activity`` reveal (when given)."""
    return service_relations(
        incident.service,
        workloads=incident.workloads,
        dependencies=incident.dependencies,
        logs=logs,
        pg_activity=pg_activity,
        namespace=incident.namespace,
    )
