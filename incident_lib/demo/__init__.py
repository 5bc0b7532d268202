"""Demo incidents: realistic, seeded incidents written straight into an evidence store.

A demo workspace is exactly an offline incident: ``incident.yaml``, captured
evidence (the frames every source returns, in their contracts), an empty
``runs/`` folder, plus the marker file :data:`incident_lib.infra.workspace.DEMO_MARKER`
holding the scenario name. Everything is fixed in time (the incidents happened
in November 2026) and derived from the seed, so the same scenario and seed give
byte-identical evidence files and manifest.

Scenarios
---------
``connection-leak``
    A deploy of ``api`` v2.34 leaks database connections until orders-db is full;
    a rollback to v2.33 recovers. SEV-2.
``traffic-surge``
    A traffic surge saturates ``checkout``'s CPU until the HPA catches up; no
    deploy involved. SEV-3.

Each :class:`Scenario` carries its :class:`Truth` (deploy, onset, alert,
recovery times, the culprit log signature, ...) for tests and for checking the
runbooks' answers. :data:`PLANTED_SECRETS` lists the fake credentials planted in
the raw data on purpose (a DSN password, a bearer JWT, AWS and Datadog keys, a
URL token, passwords in SQL text): none of them may survive capture.

Examples
--------
>>> from incident_lib.demo import ensure_demo, generate
>>> ws = generate("connection-leak", "/tmp/demo-leak")      # doctest: +SKIP
>>> path = ensure_demo("traffic-surge")                      # doctest: +SKIP
"""

from __future__ import annotations

from ._build import ensure_demo, generate
from ._scenarios import SCENARIOS, Scenario, Truth
from ._secrets import PLANTED

__all__ = ["PLANTED_SECRETS", "SCENARIOS", "Scenario", "Truth", "ensure_demo", "generate"]

#: every secret value planted on purpose in the demo data (before capture redacts it)
PLANTED_SECRETS: tuple[str, ...] = PLANTED
