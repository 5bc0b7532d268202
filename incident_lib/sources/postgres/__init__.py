"""PostgreSQL source: activity, locks, settings, limits, statistics, top statements and
replication of the databases configured for an incident (psycopg 3).

* :mod:`.config` -- the targets (``INCIDENT_PG_DSN``, ``INCIDENT_PG_DSN_<NAME>``,
  libpq's ``PG*``) and the sampling (``INCIDENT_PG_SAMPLE_EVERY``/``_FOR``);
* :mod:`.session` -- read-only, bounded sessions named :data:`APPLICATION_NAME`, and
  the one-line reasons of their failures (:data:`REFUSED_FULL` when the server is full);
* :mod:`.queries` -- the SQL per server version (13 to 17) and the frames of its rows;
* :mod:`.sampling` -- one sampling run serving activity, locks, replication and
  database_stats;
* :mod:`.connector` -- :class:`PostgresConnector`, registered as ``"postgres"``;
* :mod:`.masking` -- :func:`mask_query`: query texts with every literal replaced.

Nothing heavy is imported here: psycopg and pandas are imported when a fetch runs.
"""

from __future__ import annotations

from .config import Sampling, Target, targets_from_environment
from .connector import FRAMES, NOT_INSTALLED, PostgresConnector
from .masking import mask_query
from .session import APPLICATION_NAME, REFUSED_FULL, Timeouts, open_session

__all__ = [
    "APPLICATION_NAME",
    "FRAMES",
    "NOT_INSTALLED",
    "REFUSED_FULL",
    "PostgresConnector",
    "Sampling",
    "Target",
    "Timeouts",
    "mask_query",
    "open_session",
    "targets_from_environment",
]
