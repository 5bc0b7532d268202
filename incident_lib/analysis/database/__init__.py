"""PostgreSQL analysis: connections, leaks, idle transactions, blocking, advice, findings.

Pure functions over the ``pg_*`` contract frames of :mod:`incident_lib.core.schema`
(no I/O, no plotting); every function reads one ``target`` at a time. One module
per job; every public name is re-exported here:

- :mod:`.frames`: selecting one target, client backends and sample times;
- :mod:`.connections`: the connection limit, connections over time by state /
  application / client / user, idle-in-transaction series, saturation and time
  to exhaustion;
- :mod:`.blocking`: the tree of who blocks whom, root blockers first;
- :mod:`.leaks`: applications and clients leaking connections;
- :mod:`.sessions`: sessions idle in transaction, long queries and transactions,
  backends holding back vacuum;
- :mod:`.advice`: settings with safer values, top statements, the server's
  "too many clients" refusals;
- :mod:`.limits`: roles and databases against their own connection limits;
- :mod:`.replication`: each standby's lag, now and at worst;
- :mod:`.findings`: the findings and the verdict (bottleneck or not).
"""

from __future__ import annotations

from .advice import (
    ADVICE_COLUMNS,
    REFUSED_FULL_TEXTS,
    STATEMENT_COLUMNS,
    is_refused_full,
    refusal_findings,
    setting_text,
    settings_advice,
    statements_summary,
)
from .blocking import (
    BLOCKING_COLUMNS,
    BlockingNode,
    blocking_samples,
    blocking_table,
    blocking_tables,
    blocking_tree,
)
from .connections import (
    GROUPS,
    GROWTH_SPAN,
    ConnectionLimit,
    Saturation,
    client_counts,
    connection_limits,
    connections_over_time,
    idle_in_transaction_series,
    saturation,
)
from .findings import LOCK_WAIT_S, MANY_IDLE, NEAR, database_findings, database_verdict
from .frames import CLIENT_BACKEND, IDLE_IN_TRANSACTION
from .leaks import MIN_GROWTH, MIN_STEPS, MIN_STUCK, STUCK_S, Leak, find_leaks
from .limits import LIMIT_COLUMNS, limit_findings, own_limits
from .replication import REPLICATION_COLUMNS, replication_summary
from .sessions import (
    IDLE_COLUMNS,
    LONG_COLUMNS,
    VACUUM_COLUMNS,
    idle_in_transaction,
    idle_peak,
    long_running,
    vacuum_holders,
)

__all__ = [
    "ADVICE_COLUMNS",
    "BLOCKING_COLUMNS",
    "CLIENT_BACKEND",
    "GROUPS",
    "GROWTH_SPAN",
    "IDLE_COLUMNS",
    "IDLE_IN_TRANSACTION",
    "LIMIT_COLUMNS",
    "LOCK_WAIT_S",
    "LONG_COLUMNS",
    "MANY_IDLE",
    "MIN_GROWTH",
    "MIN_STEPS",
    "MIN_STUCK",
    "NEAR",
    "REFUSED_FULL_TEXTS",
    "REPLICATION_COLUMNS",
    "STATEMENT_COLUMNS",
    "STUCK_S",
    "VACUUM_COLUMNS",
    "BlockingNode",
    "ConnectionLimit",
    "Leak",
    "Saturation",
    "blocking_samples",
    "blocking_table",
    "blocking_tables",
    "blocking_tree",
    "client_counts",
    "connection_limits",
    "connections_over_time",
    "database_findings",
    "database_verdict",
    "find_leaks",
    "idle_in_transaction",
    "idle_in_transaction_series",
    "idle_peak",
    "is_refused_full",
    "limit_findings",
    "long_running",
    "own_limits",
    "refusal_findings",
    "replication_summary",
    "saturation",
    "setting_text",
    "settings_advice",
    "statements_summary",
    "vacuum_holders",
]
