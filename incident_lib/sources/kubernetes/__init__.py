"""Kubernetes source: pods, pod logs, rollouts, events, resource usage, the ConfigMaps and
Secrets its pods use, and its autoscalers, of one service.

The service is a namespace plus a label selector (:attr:`Incident.label_selector`).
Modules, by job:

* :mod:`.source`: :class:`KubernetesSource`, the read-only façade over an
  injected ``kubernetes.client.ApiClient``;
* :mod:`.connector`: :class:`KubernetesConnector`, the
  :class:`~incident_lib.sources.base.Source` protocol the runbook uses;
* :mod:`.config`: the client from ``KUBECONFIG`` / ``~/.kube/config`` or the
  in-cluster service account;
* :mod:`.errors`: API and network failures -> :class:`SourceUnavailable`
  reasons, tokens masked;
* :mod:`.logs`, :mod:`.rollouts`, :mod:`.pods`: the frames' rows;
* :mod:`.configs`: the ConfigMaps and Secrets the service's pods use, one row per
  field manager's last change (Secret values are never kept);
* :mod:`.autoscalers`: the HorizontalPodAutoscalers of the service's workloads.

Decisions
---------
* ``pods()`` returns an empty frame when nothing matches the selector (an
  answer, not an outage); ``logs()`` raises :class:`SourceUnavailable`, since
  there is nothing to read.
* ``logs()`` keeps the *newest* lines of each container in the window and
  reports every cut and every unreadable container (see :mod:`.logs`).
* ``events()`` uses core v1 events (``list_namespaced_event``): every cluster
  serves them, ``kubectl get events`` shows the same, and they carry the
  aggregated ``count`` / first / last times (``events.k8s.io/v1`` is the same
  data under other field names). It returns *all* events of the namespace that
  touch the window (Normal and Warning, any object): relating them to the
  service is analysis' job, since node, volume, HPA and ingress events matter too.
* ``rollouts()``: ``deployed_at`` comes from ``ScalingReplicaSet`` events, else
  the ReplicaSet's creation time (see :mod:`.rollouts`).

Importing this package imports no client library and no pandas.
"""

from __future__ import annotations

from .connector import FETCH_NAMES, KubernetesConnector
from .logs import LOG_BYTES_PER_LINE, LogFetch
from .pods import parse_quantity
from .source import DEFAULT_TIMEOUT, KubernetesSource

__all__ = [
    "DEFAULT_TIMEOUT",
    "FETCH_NAMES",
    "LOG_BYTES_PER_LINE",
    "KubernetesConnector",
    "KubernetesSource",
    "LogFetch",
    "parse_quantity",
]
