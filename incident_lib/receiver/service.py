"""``incident serve``: the receiver assembled from its configuration and the environment.

:func:`build_receiver` wires the routes, the pipeline and the notifier:

* ``POST /alertmanager`` and ``POST /datadog`` need the bearer token of
  ``INCIDENT_RECEIVER_TOKEN`` (Alertmanager's ``http_config.authorization``, a
  Datadog webhook's custom header); without the variable nothing starts;
* ``POST /pagerduty`` is served only when ``INCIDENT_PAGERDUTY_SECRET`` (the v3
  webhook subscription's signing secret) is set: the signature authenticates it;
* with a ``capture:`` section in the configuration, each bundle is made by a
  Kubernetes Job of its own (:mod:`.jobs`), so many incidents run in parallel on
  the cluster; without it, in the receiver's process;
* the message back goes to ``INCIDENT_SLACK_WEBHOOK_URL`` and, for PagerDuty
  incidents, a note through ``INCIDENT_PAGERDUTY_TOKEN`` / ``INCIDENT_PAGERDUTY_FROM``
  (see :class:`~.notify.Notifier`).

:func:`serve` runs it until SIGTERM or SIGINT, then shuts down gracefully: no new
alert is taken, running bundles get ``grace`` seconds, the rest are marked on
their incident's timeline.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import InvalidInput
from .alerts import Notice, pagerduty_parser, parse_alertmanager, parse_datadog
from .pipeline import Pipeline
from .routing import load_config
from .server import Receiver, WebhookRoute

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["PAGERDUTY_SECRET", "RECEIVER_TOKEN", "build_receiver", "serve"]

#: the shared bearer token Alertmanager and Datadog present
RECEIVER_TOKEN = "INCIDENT_RECEIVER_TOKEN"
#: the PagerDuty v3 webhook subscription's signing secret
PAGERDUTY_SECRET = "INCIDENT_PAGERDUTY_SECRET"
_log = logging.getLogger(__name__)


def build_receiver(
    config_path: Path,
    workspaces: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 2,
    max_body: int = 1024 * 1024,
    parallel: int = 2,
    timeout: float = 600.0,
    notebook_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    registry: CollectorRegistry | None = None,
) -> Receiver[Notice]:
    """The receiver of ``incident serve``, not started (see the module notes).

    Raises
    ------
    InvalidInput
        No ``INCIDENT_RECEIVER_TOKEN``, an unreadable or invalid configuration, a
        workspaces path that is a file, or an unusable number.
    """
    from .notify import Notifier

    token = environ.get(RECEIVER_TOKEN, "").strip()
    if not token:
        raise InvalidInput(
            f"set {RECEIVER_TOKEN} to the bearer token Alertmanager and Datadog will send "
            "(e.g. from a Kubernetes Secret); the receiver never runs unauthenticated"
        )
    if workspaces.exists() and not workspaces.is_dir():
        raise InvalidInput(f"--workspaces {workspaces} is a file; give a folder")
    config = load_config(config_path, notebook_dir=notebook_dir)
    notifier = Notifier.from_environment(environ)
    run = None
    if config.capture is not None:  # each bundle as a Job of its own on the cluster
        from .jobs import JobRunner, JobSettings

        settings = JobSettings.from_mapping(config.capture, workspaces=workspaces)
        run = JobRunner.from_environment(settings, environ=environ)
    pipeline = Pipeline(
        config,
        workspaces,
        notify=notifier.send if notifier.channels else None,
        run=run,
        notebook_dir=notebook_dir,
        parallel=parallel,
        timeout=timeout,
        deliver_in_background=True,
    )
    routes: dict[str, WebhookRoute[Notice]] = {
        "/alertmanager": WebhookRoute(
            "alertmanager", pipeline.parser(parse_alertmanager), token=token
        ),
        "/datadog": WebhookRoute("datadog", pipeline.parser(parse_datadog), token=token),
    }
    secret = environ.get(PAGERDUTY_SECRET, "").strip()
    if secret:
        routes["/pagerduty"] = WebhookRoute("pagerduty", pipeline.parser(pagerduty_parser(secret)))
    return Receiver(
        routes,
        pipeline,
        abandon=pipeline.abandon,
        host=host,
        port=port,
        workers=workers,
        max_body=max_body,
        registry=registry,
    )


def serve(
    receiver: Receiver[Notice],
    *,
    grace: float = 60.0,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run ``receiver`` until SIGTERM or SIGINT (or ``stop`` is set); 0 once drained.

    Parameters
    ----------
    receiver
        From :func:`build_receiver`.
    grace
        Seconds running bundles get to finish at shutdown.
    ready
        Called with the receiver's URL once it listens.
    stop
        Set to stop (default: a new event, set by the signals).

    Returns
    -------
    int
        0 when every job finished, 1 when some were abandoned (marked on their timeline).
    """
    stopping = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stopping.set())
    try:
        receiver.start()
        if ready is not None:
            ready(receiver.url)
        stopping.wait()
    finally:
        drained = receiver.shutdown(timeout=grace)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    left = len(drained.abandoned) + len(drained.unfinished)
    if left:
        _log.warning("receiver stopped; %d bundle(s) marked as not made", left)
    return 1 if left else 0
