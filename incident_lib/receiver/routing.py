"""The receiver's configuration file, and what a notice becomes: the incident to open.

The configuration is a YAML file given by its path (never looked up in the working
directory)::

    service_labels: [service, app, pagerduty_service]   # the first label present wins
    namespace_labels: [namespace, kube_namespace]
    default_namespace: prod        # optional: without it a notice must carry one
    lead: 15m                      # the window starts this long before the alert
    default_severity: SEV-3        # for a severity the table does not know
    severities: {page: SEV-1}      # merged over DEFAULT_SEVERITIES (case-insensitive)
    routes:                        # the first route that matches wins
      - alert: PostgresConnectionsHigh       # the alert name, and/or
        labels: {team: database}             # labels that must all be equal
        notebooks: [01_triage, 06_database]
    default_notebooks: [01_triage, 02_assess]  # empty or missing: the whole set
    resolved_notebooks: [10_verify]            # what a resolved notice runs
    bundle_url: https://bundles.example.com/   # optional: where the workspaces folder is served
    parameters: {metrics_source: prometheus}   # notebook parameters of every run
    capture: {mode: job, namespace: incidents, image: registry/incident-runbooks:0.1.0}
                                   # optional: each bundle as a Kubernetes Job (receiver/jobs.py)

Every key is optional; an unknown key is refused with its name. Notebook names must
exist in the notebook folder (``02`` and ``02_assess`` both name ``02_assess``).
:func:`incident_for` turns a :class:`~.alerts.Notice` into an :class:`IncidentPlan`:
service and namespace from the labels, the severity mapped to ``SEV-1``..``SEV-4``,
the window start, the notebooks, and an incident id derived from the notice's key,
so that a re-delivery maps to the same incident.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..core.errors import InvalidInput
from ..core.severity import check_severity
from ..core.text import shorten
from .alerts import Notice, NoticeStatus, PayloadRejected

__all__ = [
    "DEFAULT_SEVERITIES",
    "DEFAULT_SEVERITY",
    "IncidentPlan",
    "ReceiverConfig",
    "Route",
    "incident_for",
    "load_config",
]

#: the sender's severity text (lower-cased) -> ours; ``SEV-2``/``sev2`` are understood as is
DEFAULT_SEVERITIES: Mapping[str, str] = {
    "critical": "SEV-1",
    "emergency": "SEV-1",
    "disaster": "SEV-1",
    "p1": "SEV-1",
    "high": "SEV-2",
    "error": "SEV-2",
    "major": "SEV-2",
    "page": "SEV-2",
    "p2": "SEV-2",
    "warning": "SEV-3",
    "warn": "SEV-3",
    "medium": "SEV-3",
    "p3": "SEV-3",
    "low": "SEV-4",
    "minor": "SEV-4",
    "info": "SEV-4",
    "ticket": "SEV-4",
    "p4": "SEV-4",
    "p5": "SEV-4",
}
#: the severity of a notice whose severity is empty or not in the table
DEFAULT_SEVERITY = "SEV-3"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DURATION = re.compile(r"(\d+)\s*([smh])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}


def _notebook_names(value: object) -> object:
    """YAML reads an unquoted ``06`` as the number 6: take it as the notebook ``06``."""
    if isinstance(value, list | tuple):
        return [f"{item:02d}" if isinstance(item, int) else item for item in value]
    return value


class Route(BaseModel):
    """One row of the routing table: which notices it takes, which notebooks they run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    notebooks: tuple[str, ...] = Field(min_length=1)

    _names = field_validator("notebooks", mode="before")(_notebook_names)

    def matches(self, notice: Notice) -> bool:
        """True when the alert name (if given) and every label (if given) match."""
        if self.alert is not None and notice.name != self.alert:
            return False
        return all(notice.labels.get(k) == v for k, v in self.labels.items())

    def describe(self) -> str:
        """``alert X, labels a=b`` for messages."""
        parts = [f"alert {self.alert}"] if self.alert is not None else []
        parts += [f"{k}={v}" for k, v in sorted(self.labels.items())]
        return ", ".join(parts)


class ReceiverConfig(BaseModel):
    """The receiver configuration (see the module docstring); build it with :func:`load_config`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_labels: tuple[str, ...] = Field(
        default=("service", "app", "app.kubernetes.io/name", "pagerduty_service"), min_length=1
    )
    namespace_labels: tuple[str, ...] = ("namespace", "kube_namespace")
    default_namespace: str | None = None
    lead: timedelta = timedelta(minutes=15)
    default_severity: str = DEFAULT_SEVERITY
    severities: dict[str, str] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    default_notebooks: tuple[str, ...] = ()
    resolved_notebooks: tuple[str, ...] = ("10_verify",)
    bundle_url: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    capture: dict[str, Any] | None = None

    _names = field_validator("default_notebooks", "resolved_notebooks", mode="before")(
        _notebook_names
    )

    @field_validator("lead", mode="before")
    @classmethod
    def _lead(cls, value: object) -> object:
        if isinstance(value, str):
            match = _DURATION.fullmatch(value.strip())
            if match is None:
                raise ValueError(f"{shorten(value, 30)!r}: write it like 15m, 900s or 1h")
            return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return value

    @field_validator("lead")
    @classmethod
    def _lead_range(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(days=1):
            raise ValueError("must be between 0 and 24h")
        return value

    @field_validator("default_severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        return _our_severity(value)

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: dict[str, str]) -> dict[str, str]:
        table = {}
        for key, ours in value.items():
            try:
                table[key.strip().lower()] = _our_severity(ours)
            except ValueError as exc:
                raise ValueError(f"{shorten(key, 30)!r}: {exc}") from None
        return table

    @field_validator("bundle_url")
    @classmethod
    def _bundle_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{shorten(value, 64)!r}: give an http(s) URL")
        if parts.username or parts.password or parts.query:
            raise ValueError("give the URL without credentials or a query")
        return value if value.endswith("/") else value + "/"

    @field_validator("default_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_LABEL.fullmatch(value):
            raise ValueError(f"{shorten(value, 64)!r} is not a Kubernetes namespace name")
        return value

    def severity_for(self, text: str) -> str:
        """Our severity for the sender's text: the table, ``SEV-n`` as is, else the default."""
        key = text.strip().lower()
        table = {**DEFAULT_SEVERITIES, **self.severities}
        if key in table:
            return table[key]
        try:
            return check_severity(key)
        except InvalidInput:
            return self.default_severity


def _our_severity(value: str) -> str:
    try:
        return check_severity(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _problems(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "(top)"
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown key {where!r}")
        else:
            lines.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def _resolve_notebooks(names: tuple[str, ...], folder: Path, where: str) -> tuple[str, ...]:
    from ..report.bundle import list_notebooks

    if not names:
        return ()
    try:
        return tuple(path.stem for path in list_notebooks(folder, list(names)))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def load_config(path: Path | str, *, notebook_dir: Path | None = None) -> ReceiverConfig:
    """Read and check the receiver configuration file at ``path``.

    Parameters
    ----------
    path
        The YAML file (see the module docstring); an empty file gives the defaults.
    notebook_dir
        Where the notebook set is (default: :func:`~incident_lib.report.bundle.
        default_notebook_dir`); every notebook a route names must be there.

    Returns
    -------
    ReceiverConfig
        With notebook names resolved to their stems (``02`` -> ``02_assess``).

    Raises
    ------
    InvalidInput
        The file cannot be read, is not YAML, has an unknown key or an invalid value,
        or names a notebook that does not exist; the message names the key.
    """
    import yaml

    from ..report.bundle import default_notebook_dir

    source = Path(path)
    origin = f"receiver config {source}"
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{origin}: cannot read it ({exc.strerror or exc})") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{origin}: not valid YAML{line}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{origin}: expected a mapping of keys at the top")
    try:
        config = ReceiverConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"{origin}: {_problems(exc)}") from None
    folder = notebook_dir if notebook_dir is not None else default_notebook_dir()
    routes = tuple(
        route.model_copy(
            update={
                "notebooks": _resolve_notebooks(
                    route.notebooks, folder, f"{origin}: routes.{i} ({route.describe()})"
                )
            }
        )
        for i, route in enumerate(config.routes)
    )
    for i, route in enumerate(routes):
        if route.alert is None and not route.labels:
            raise InvalidInput(
                f"{origin}: routes.{i} matches every notice; give alert or labels "
                "(or use default_notebooks)"
            )
    if config.parameters:
        from ..report.bundle import list_notebooks
        from ..report.parameters import plan_parameters

        try:  # the runner's own check: no credential, no unknown or reserved name
            plan_parameters(
                config.parameters,
                list_notebooks(folder),
                base={"workspace": "", "mode": "live", "run_dir": ""},
            )
        except InvalidInput as exc:
            raise InvalidInput(f"{origin}: parameters: {exc}") from None
    return config.model_copy(
        update={
            "routes": routes,
            "default_notebooks": _resolve_notebooks(
                config.default_notebooks, folder, f"{origin}: default_notebooks"
            ),
            "resolved_notebooks": _resolve_notebooks(
                config.resolved_notebooks, folder, f"{origin}: resolved_notebooks"
            ),
        }
    )


@dataclass(frozen=True, slots=True)
class IncidentPlan:
    """What the pipeline needs to open (or find) the incident for a notice.

    Attributes
    ----------
    incident_id
        ``ALERT-<hash of the key>``: the same for every delivery of one alert group,
        PagerDuty incident or Datadog monitor scope.
    key
        The notice's key.
    status
        The notice's status.
    service, namespace
        From the labels the configuration names.
    severity
        ``SEV-1``..``SEV-4``.
    title
        The alert name and summary, on one line.
    window_start
        The notice's start minus the configured lead.
    resolved_at
        When the problem ended (resolved notices), else None.
    notebooks
        What to run: the matching route's notebooks, the default (empty: the whole
        set), ``resolved_notebooks`` for a resolved notice, nothing when acknowledged.
    route
        Which route chose them (``default``, ``resolved``, ``acknowledged``, or the route).
    """

    incident_id: str
    key: str
    status: NoticeStatus
    service: str
    namespace: str
    severity: str
    title: str
    window_start: datetime
    resolved_at: datetime | None
    notebooks: tuple[str, ...]
    route: str


def _first_label(labels: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = labels.get(name, "").strip()
        if value:
            return value
    return None


def _incident_id(key: str) -> str:
    return "ALERT-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12].upper()


def incident_for(notice: Notice, config: ReceiverConfig) -> IncidentPlan:
    """The incident a notice opens or updates, and the notebooks it runs.

    Parameters
    ----------
    notice
        A parsed notification.
    config
        The receiver configuration.

    Returns
    -------
    IncidentPlan

    Raises
    ------
    PayloadRejected
        (422) No label gives the service or the namespace (the message names the labels
        looked for), or the value is not a Kubernetes name.
    """
    service = _first_label(notice.labels, config.service_labels)
    if service is None:
        raise PayloadRejected(
            422,
            f"{notice.source} notice: no service label; looked for "
            + ", ".join(config.service_labels),
        )
    namespace = _first_label(notice.labels, config.namespace_labels) or config.default_namespace
    if namespace is None:
        raise PayloadRejected(
            422,
            f"{notice.source} notice: no namespace label; looked for "
            + ", ".join(config.namespace_labels)
            + " (or set default_namespace)",
        )
    for what, value in (("service", service), ("namespace", namespace)):
        if not _DNS_LABEL.fullmatch(value):
            raise PayloadRejected(
                422,
                f"{notice.source} notice: {what} {shorten(value, 64)!r} is not a Kubernetes "
                "name (lower-case letters, digits and hyphens)",
            )
    if notice.status == "resolved":
        notebooks, route = config.resolved_notebooks, "resolved"
    elif notice.status == "acknowledged":
        notebooks, route = (), "acknowledged"
    else:
        chosen = next((r for r in config.routes if r.matches(notice)), None)
        if chosen is None:
            notebooks, route = config.default_notebooks, "default"
        else:
            notebooks, route = chosen.notebooks, chosen.describe()
    name = notice.name.strip() or notice.source + " alert"
    summary = notice.summary.strip()
    title = f"{name}: {summary}" if summary and summary != name else name
    return IncidentPlan(
        incident_id=_incident_id(notice.key),
        key=notice.key,
        status=notice.status,
        service=service,
        namespace=namespace,
        severity=config.severity_for(notice.severity),
        title=shorten(title, 120),
        window_start=notice.starts_at - config.lead,
        resolved_at=notice.ends_at if notice.status == "resolved" else None,
        notebooks=notebooks,
        route=route,
    )
