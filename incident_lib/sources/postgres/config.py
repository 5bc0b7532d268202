"""Which PostgreSQL databases to read, and how often: from the environment only.

Targets
-------
* ``INCIDENT_PG_DSN``: a libpq connection string or URI, target ``default``;
* ``INCIDENT_PG_DSN_<NAME>``: one more database, target ``<name>`` in lower case
  (``INCIDENT_PG_DSN_ORDERS`` -> ``orders``);
* else libpq's own variables (``PGHOST``, ``PGHOSTADDR``, ``PGPORT``, ``PGDATABASE``,
  ``PGUSER``, ``PGSERVICE``), target ``default``: the values in the environment given
  are passed to libpq, which also reads ``PGPASSWORD``, ``~/.pgpass`` and the service
  file itself.

The password (from the DSN or ``PGPASSWORD``) is kept only to connect and to scrub
it from reasons (:meth:`Target.secrets`); :meth:`Target.describe` (the manifest)
holds host, port, database and user, never the password.

Sampling
--------
``INCIDENT_PG_SAMPLE_EVERY`` (seconds between snapshots, default 5, at least 0.5)
and ``INCIDENT_PG_SAMPLE_FOR`` (seconds of sampling, default 30, 0..600; 0 is one
snapshot); at most :data:`MAX_SAMPLES` snapshots.

psycopg is imported inside the functions (``import incident_lib`` stays light).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ...core.errors import InvalidInput, SourceUnavailable

__all__ = [
    "BUDGET_RESERVE",
    "DSN_ENV",
    "EVERY_ENV",
    "FOR_ENV",
    "LIBPQ_ENV",
    "MAX_SAMPLES",
    "NOT_CONFIGURED",
    "SOURCE",
    "Sampling",
    "Target",
    "targets_from_environment",
]

SOURCE = "postgres"
#: the DSN of the target ``default``; ``INCIDENT_PG_DSN_<NAME>`` adds target ``<name>``
DSN_ENV = "INCIDENT_PG_DSN"
#: seconds between two snapshots
EVERY_ENV = "INCIDENT_PG_SAMPLE_EVERY"
#: seconds of sampling
FOR_ENV = "INCIDENT_PG_SAMPLE_FOR"
#: at most this many snapshots in one sampling run
MAX_SAMPLES = 200
#: seconds of the time budget a sampling run leaves for the other frames
BUDGET_RESERVE = 5.0
#: libpq variable -> connection parameter, read when no INCIDENT_PG_DSN* is set
LIBPQ_ENV: dict[str, str] = {
    "PGHOST": "host",
    "PGHOSTADDR": "hostaddr",
    "PGPORT": "port",
    "PGDATABASE": "dbname",
    "PGUSER": "user",
    "PGSERVICE": "service",
    "PGPASSWORD": "password",
    "PGPASSFILE": "passfile",
    "PGSERVICEFILE": "servicefile",
    "PGSSLMODE": "sslmode",
    "PGSSLROOTCERT": "sslrootcert",
    "PGSSLCERT": "sslcert",
    "PGSSLKEY": "sslkey",
    "PGOPTIONS": "options",
    "PGTARGETSESSIONATTRS": "target_session_attrs",
}
#: the libpq variables that name a database to read (others only refine one)
_LIBPQ_TARGET = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")
#: the reason when nothing is configured
NOT_CONFIGURED = (
    f"not configured: set {DSN_ENV} (a libpq connection string, e.g. "
    "postgresql://reader@db.prod:5432/orders), INCIDENT_PG_DSN_<NAME> for more databases, "
    "or libpq's PGHOST/PGSERVICE/PGDATABASE"
)
_NAME = re.compile(r"^[a-z0-9_]+$")
_SAFE_PARSE_ERROR = re.compile(
    r'^invalid (?:connection option|URI query parameter):? ?"?[A-Za-z_]+"?$'
)


@dataclass(frozen=True)
class Target:
    """One configured database.

    Attributes
    ----------
    name
        The target's name in every frame (``default``, ``orders``).
    variable
        Where it was configured (``INCIDENT_PG_DSN_ORDERS``, or ``PGHOST/PGDATABASE``).
    params
        libpq connection parameters (may hold ``password``: never shown).
    """

    name: str
    variable: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def password(self) -> str | None:
        """The password given in the configuration (None when libpq finds its own)."""
        return self.params.get("password") or None

    def secrets(self) -> tuple[str, ...]:
        """What :func:`~incident_lib.sources.base.scrub_secrets` must remove from any text."""
        password = self.password
        if not password:
            return ()
        return tuple({password, quote(password, safe=""), quote(password)})

    @property
    def where(self) -> str:
        """``host:port/dbname as user`` (what is known of it; no password)."""
        host = self.params.get("host") or self.params.get("hostaddr") or ""
        service = self.params.get("service")
        port = self.params.get("port") or ""
        place = f"{host}:{port}" if host and port else host or (f"port {port}" if port else "")
        if not place:
            place = f"service {service}" if service else "the libpq default server"
        db = self.params.get("dbname")
        user = self.params.get("user")
        text = f"{place}/{db}" if db else place
        return f"{text} as {user}" if user else text

    def describe(self) -> dict[str, Any]:
        """The target for the evidence manifest: host, port, dbname, user; no password."""
        keep = ("host", "hostaddr", "port", "dbname", "user", "service", "sslmode")
        out: dict[str, Any] = {"target": self.name, "configured_by": self.variable}
        out.update({k: self.params[k] for k in keep if self.params.get(k)})
        return out


def _parse_dsn(variable: str, dsn: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        parsed = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError
        # libpq's messages may quote a piece of the string (a password): only a bad
        # option name is safe to repeat
        first = str(exc).split("\n")[0].strip()
        why = f" ({first})" if _SAFE_PARSE_ERROR.match(first) else ""
        raise InvalidInput(
            f"{variable} is not a valid libpq connection string or URI{why}; "
            "e.g. postgresql://reader@db.prod:5432/orders"
        ) from None
    return {k: str(v) for k, v in parsed.items() if v is not None}


def targets_from_environment(
    environ: Mapping[str, str], databases: Sequence[str] | None = None
) -> list[Target]:
    """The configured targets, ``default`` first then by name.

    Parameters
    ----------
    environ
        Where ``INCIDENT_PG_DSN*`` and the libpq ``PG*`` variables are read.
    databases
        Keep only these target names (``("orders",)``).

    Raises
    ------
    SourceUnavailable
        Nothing is configured.
    InvalidInput
        A DSN cannot be parsed, or ``databases`` names an unknown target.
    """
    targets: dict[str, Target] = {}
    for variable in sorted(environ):
        if variable != DSN_ENV and not variable.startswith(DSN_ENV + "_"):
            continue
        dsn = (environ.get(variable) or "").strip()
        if not dsn:
            continue
        name = "default" if variable == DSN_ENV else variable[len(DSN_ENV) + 1 :].lower()
        if not _NAME.match(name):
            raise InvalidInput(
                f"{variable}: a database name after {DSN_ENV}_ must be letters, digits or _"
            )
        targets[name] = Target(name=name, variable=variable, params=_parse_dsn(variable, dsn))
    if not targets and any((environ.get(v) or "").strip() for v in _LIBPQ_TARGET):
        params = {
            param: value.strip()
            for variable, param in LIBPQ_ENV.items()
            if (value := environ.get(variable) or "").strip()
        }
        if "password" in params:
            params["password"] = environ.get("PGPASSWORD") or ""  # as given, spaces included
        given = "/".join(v for v in _LIBPQ_TARGET if (environ.get(v) or "").strip())
        targets["default"] = Target(name="default", variable=given, params=params)
    if not targets:
        raise SourceUnavailable(SOURCE, NOT_CONFIGURED)
    ordered = sorted(targets.values(), key=lambda t: (t.name != "default", t.name))
    if databases is None:
        return ordered
    wanted = [str(d).strip().lower() for d in databases if str(d).strip()]
    unknown = [d for d in wanted if d not in targets]
    if unknown:
        known = ", ".join(t.name for t in ordered)
        raise InvalidInput(
            f"unknown database {', '.join(map(repr, unknown))}; configured: {known} "
            f"(add {DSN_ENV}_<NAME> to the environment)"
        )
    return [t for t in ordered if t.name in wanted]


@dataclass(frozen=True)
class Sampling:
    """How often and how long activity is sampled.

    Attributes
    ----------
    every
        Seconds between two snapshots (at least 0.5).
    duration
        Seconds of sampling (0..600; 0: one snapshot).

    Examples
    --------
    >>> Sampling().samples
    7
    """

    every: float = 5.0
    duration: float = 30.0

    def __post_init__(self) -> None:
        _check(EVERY_ENV, self.every, self.every >= 0.5, "at least 0.5")
        _check(FOR_ENV, self.duration, 0 <= self.duration <= 600, "between 0 and 600")
        if self.samples > MAX_SAMPLES:
            raise InvalidInput(
                f"{FOR_ENV}={self.duration:g} s every {self.every:g} s ({EVERY_ENV}) is "
                f"{self.samples} snapshots; at most {MAX_SAMPLES}: sample less often or for less"
            )

    @property
    def samples(self) -> int:
        """The number of snapshots: one at the start, then one every :attr:`every`."""
        return math.floor(self.duration / self.every + 1e-9) + 1

    def clipped(self, seconds: float) -> Sampling:
        """The same sampling lasting at most ``seconds`` (never below one snapshot)."""
        duration = max(0.0, min(self.duration, seconds))
        return Sampling(every=self.every, duration=math.floor(duration * 10) / 10)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Sampling:
        """From ``INCIDENT_PG_SAMPLE_EVERY`` and ``INCIDENT_PG_SAMPLE_FOR`` (defaults if unset).

        Raises
        ------
        InvalidInput
            A value is not a number in range (the message names the variable).
        """
        return cls(
            every=_number(environ, EVERY_ENV, cls.every),
            duration=_number(environ, FOR_ENV, cls.duration),
        )


def _check(variable: str, value: float, ok: bool, wanted: str) -> None:
    if not (math.isfinite(value) and ok):
        raise InvalidInput(f"{variable} must be a number of seconds {wanted}, got {value!r}")


def _number(environ: Mapping[str, str], variable: str, default: float) -> float:
    text = (environ.get(variable) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(
            f"{variable} must be a number of seconds (default {default:g}), got {text!r}"
        ) from None
    if not math.isfinite(value):
        raise InvalidInput(f"{variable} must be a finite number of seconds, got {text!r}")
    return value
