"""Live data sources: one per system, each returning contract frames.

Every source implements one protocol, :class:`~.base.Source` (the frames it
provides, how it is built from the environment, how it fetches a frame for an
incident and a window, the query it records in the manifest), and a
:class:`~.base.SourceRegistry` finds them by name: :func:`~.base.default_registry`
holds Kubernetes (:mod:`.kubernetes`), Datadog (:mod:`.datadog`), Prometheus
(:mod:`.prometheus`) and git (:mod:`.git`). The runbook context asks the
registry in live mode and captures what it returns.

Sources import only :mod:`incident_lib.core`; client libraries and pandas are
imported when a source is used, never at import.
"""

from __future__ import annotations

from .base import Fetched, Source, SourceFactory, SourceRegistry, default_registry

__all__ = ["Fetched", "Source", "SourceFactory", "SourceRegistry", "default_registry"]
