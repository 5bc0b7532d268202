"""Kubernetes client configuration: the kubeconfig, or the in-cluster service account.

The kubeconfig is ``KUBECONFIG`` (a path list is merged), else
``$HOME/.kube/config``; the context is the one given, else
``INCIDENT_KUBE_CONTEXT``, else the kubeconfig's current context. Without a
kubeconfig, the in-cluster service account is used when
``KUBERNETES_SERVICE_HOST`` is set. A failure becomes a
:class:`SourceUnavailable` that never quotes a token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import SourceUnavailable
from .errors import SOURCE, first_line, mask

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["NO_CONFIG", "client_from_environment", "kube_contexts", "kubeconfig_paths"]

#: the reason when neither a kubeconfig nor a service account is found
NO_CONFIG = "no kubeconfig found (set KUBECONFIG) and not running in a cluster"


def client_from_environment(*, context: str | None, environ: Mapping[str, str]) -> ApiClient:
    """A ``kubernetes.client.ApiClient`` configured from ``environ`` (see the module notes).

    The client retries a failed connection once, never a request the server did
    not answer in time (that would cost the read timeout twice).

    Raises
    ------
    SourceUnavailable
        No configuration, an unknown context or an unreadable kubeconfig.
    """
    import urllib3
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    context = context or environ.get("INCIDENT_KUBE_CONTEXT") or None
    paths = kubeconfig_paths(environ)
    configuration = client.Configuration()
    configuration.retries = urllib3.util.Retry(total=1, read=0)
    if paths:
        shown = os.pathsep.join(paths)
        names, current = kube_contexts(paths)
        if context is not None and context not in names:
            raise SourceUnavailable(
                SOURCE,
                f"context '{context}' is not in kubeconfig {shown}; available: "
                f"{', '.join(names) or 'none'}",
            )
        if context is None and not current:
            raise SourceUnavailable(
                SOURCE,
                f"kubeconfig {shown} has no current-context: set INCIDENT_KUBE_CONTEXT "
                f"(available: {', '.join(names) or 'none'})",
            )
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=shown,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except Exception as exc:  # ConfigException, exec plugins, files named in it...
            raise SourceUnavailable(
                SOURCE, f"kubeconfig {shown} could not be loaded: {mask(first_line(exc))}"
            ) from None
        return client.ApiClient(configuration)
    if environ.get("KUBERNETES_SERVICE_HOST"):
        from kubernetes.config import incluster_config as incluster

        loader = incluster.InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=incluster.SERVICE_TOKEN_FILENAME,
            cert_filename=incluster.SERVICE_CERT_FILENAME,
            environ=environ,
        )
        try:
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise SourceUnavailable(
                SOURCE,
                "running in a cluster (KUBERNETES_SERVICE_HOST is set) but the service "
                f"account is not usable: {first_line(exc)}",
            ) from None
        return client.ApiClient(configuration)
    raise SourceUnavailable(SOURCE, NO_CONFIG)


def kube_contexts(paths: list[str]) -> tuple[list[str], str | None]:
    """Context names of the kubeconfig files and the current context (the first one set).

    Read here rather than by the client's loader, which fails on a file without a
    current-context; a YAML error names its line only (the line may hold a token).
    """
    import yaml

    names: list[str] = []
    current: str | None = None
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SourceUnavailable(SOURCE, f"kubeconfig {path} is not valid YAML{where}") from None
        except OSError as exc:
            raise SourceUnavailable(
                SOURCE, f"kubeconfig {path} could not be read: {exc.strerror or exc}"
            ) from None
        if not isinstance(data, dict):
            raise SourceUnavailable(SOURCE, f"kubeconfig {path} is not a kubeconfig (no mapping)")
        names += [
            str(c["name"])
            for c in data.get("contexts") or []
            if isinstance(c, dict) and "name" in c
        ]
        current = current or data.get("current-context") or None
    return sorted(set(names)), current


def kubeconfig_paths(environ: Mapping[str, str]) -> list[str]:
    """Existing kubeconfig files: ``KUBECONFIG`` (a path list), else ``$HOME/.kube/config``."""
    if environ.get("KUBECONFIG"):
        given = [p for p in environ["KUBECONFIG"].split(os.pathsep) if p]
        found = [p for p in given if Path(p).expanduser().is_file()]
        if not found:
            raise SourceUnavailable(
                SOURCE, f"KUBECONFIG points at {', '.join(given)}, which does not exist"
            )
        return found
    home = environ.get("HOME")
    default = Path(home, ".kube", "config") if home else None
    return [str(default)] if default is not None and default.is_file() else []
