"""Kubernetes mitigation: roll back, scale, restart or set a limit of one workload,
or put a ConfigMap back to the content of its last ``kubectl apply``.

:class:`KubernetesActor` works through an injected ``kubernetes.client.ApiClient``
(:meth:`KubernetesActor.from_environment` builds one from the *write* context,
``INCIDENT_KUBE_WRITE_CONTEXT``). It does three separate things:

* :meth:`~KubernetesActor.plan` reads the object and computes what would change
  (the patch, a readable diff, the ``kubectl`` equivalent); it never writes, and
  refuses (:class:`ActionRefused`) an unknown workload, a revision that does not
  exist or is the current one, a scale to zero without ``allow_zero``...;
* :meth:`~KubernetesActor.dry_run` asks the API server to validate the patch
  without storing it (``dryRun=All``);
* :meth:`~KubernetesActor.apply` sends it, only when the caller confirms and
  names the workload, with the resourceVersion read as a precondition: an
  object changed since the plan is refused (409) and nothing changes.

:meth:`~KubernetesActor.follow` then watches the rollout until it completes or
a timeout passes. Patches are the ones ``kubectl`` sends (see
:mod:`._kube_plans`). Messages never quote a token.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..core.actions import Action, ActionPlan, ActionResult, confirmation
from ..core.errors import ActionRefused, SourceUnavailable
from ..sources.kubernetes.config import client_from_environment
from ..sources.kubernetes.errors import SOURCE, api_reason
from ._kube_answers import Rollout, answer_state, choose_revision, refusal, rollout_state
from ._kube_plans import (
    Change,
    config_revert_change,
    readable_diff,
    restart_change,
    revision_rollback_change,
    rollback_change,
    scale_change,
    set_limit_change,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["DEFAULT_TIMEOUT", "WRITE_CONTEXT", "KubernetesActor", "Rollout"]

#: (connect, read) seconds of every API call
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 15.0)
#: the environment variable naming the kubeconfig context with write rights
WRITE_CONTEXT = "INCIDENT_KUBE_WRITE_CONTEXT"
_REVISION = "deployment.kubernetes.io/revision"
#: workload kind -> (plural, API method suffix)
_KINDS = {
    "Deployment": ("deployments", "deployment"),
    "StatefulSet": ("statefulsets", "stateful_set"),
    "DaemonSet": ("daemonsets", "daemon_set"),
    "ConfigMap": ("configmaps", "config_map"),
}
#: the kinds served by the core API (CoreV1Api) rather than apps/v1
_CORE_KINDS = frozenset({"ConfigMap"})
#: what a ConfigMap revert's result adds: when its users see the content
_CONFIG_REACH = (
    "files mounted from it follow within about a minute; environment variables read from it "
    "change only when the pods of the workloads using it restart"
)


class KubernetesActor:
    """The only code that changes Kubernetes objects; every change is planned first.

    Parameters
    ----------
    api_client
        A configured ``kubernetes.client.ApiClient``.
    can_write
        Whether the client holds write credentials; without them :meth:`apply`
        refuses (plans and dry runs still work).
    request_timeout
        ``(connect, read)`` seconds of every call.
    clock
        The current time (aware), for restarts and results.
    """

    def __init__(
        self,
        *,
        api_client: ApiClient,
        can_write: bool = True,
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_client = api_client
        self.can_write = can_write
        self.request_timeout = request_timeout
        self.clock = clock
        self._owns_client = False

    @classmethod
    def from_environment(
        cls,
        *,
        environ: Mapping[str, str] = os.environ,
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> KubernetesActor:
        """The actor of the write context ``INCIDENT_KUBE_WRITE_CONTEXT``.

        Without it, the read-only context (``INCIDENT_KUBE_CONTEXT``, else the
        kubeconfig's current one) is used for plans and dry runs, and
        :meth:`apply` refuses, saying to set it.

        Raises
        ------
        SourceUnavailable
            No kubeconfig, an unknown context or an unreadable kubeconfig.
        """
        context = environ.get(WRITE_CONTEXT) or None
        api_client = client_from_environment(context=context, environ=environ)
        actor = cls(
            api_client=api_client, can_write=context is not None, request_timeout=request_timeout
        )
        actor._owns_client = True
        return actor

    def close(self) -> None:
        """Release the connection pool (only of a client this actor built)."""
        if self._owns_client:
            self.api_client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> KubernetesActor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plan ------------------------------------------------------------------------
    def plan(self, action: Action) -> ActionPlan:
        """What ``action`` would change, from the object as read now; nothing is written.

        Raises
        ------
        ActionRefused
            Not a Kubernetes workload action, no namespace, an unknown workload or
            container, a revision that does not exist or is the current one, a
            scale to zero without ``allow_zero='true'``, invalid quantities, or
            nothing that would change.
        SourceUnavailable
            The API server could not be reached.
        """
        kind = action.kind_of_workload
        config = action.kind == "config_revert"
        if action.kind == "feature_flag" or kind not in _KINDS or config != (kind == "ConfigMap"):
            raise ActionRefused(
                f"{action.describe()}: not a Kubernetes action (rollback, scale, restart and "
                "set_limit of a Deployment, StatefulSet or DaemonSet, and config_revert of a "
                "ConfigMap are)"
            )
        if not action.namespace:
            raise ActionRefused(f"{action.describe()}: name the namespace of {action.workload}")
        obj = self._read(action, "")
        change = self._change(action, obj)
        label = f"{action.workload} in {action.namespace}"
        return ActionPlan(
            action=action,
            resource_version=str(change.patch["metadata"]["resourceVersion"]),
            patch=change.body(),
            content_type=change.content_type,
            diff=readable_diff(obj, change.after, label=label),
            command=change.command,
            summary=change.summary,
        )

    def _change(self, action: Action, obj: dict[str, Any]) -> Change:
        kind, params = action.kind_of_workload, action.params
        if action.kind == "config_revert":
            return config_revert_change(obj)
        if action.kind == "scale":
            if kind == "DaemonSet":
                raise ActionRefused(
                    f"{action.workload} runs one pod per node and cannot be scaled; "
                    "restart it or set a limit instead"
                )
            scale = self._read(action, "_scale")
            allow_zero = params.get("allow_zero", "").lower() == "true"
            return scale_change(obj, scale, params.get("replicas", ""), allow_zero=allow_zero)
        if action.kind == "restart":
            return restart_change(obj, at=self.clock())
        if action.kind == "set_limit":
            return set_limit_change(obj, params)
        return self._rollback(action, obj)

    def _rollback(self, action: Action, obj: dict[str, Any]) -> Change:
        """The rollback change: the chosen revision's template (default the previous one)."""
        if action.kind_of_workload == "Deployment":
            history = {
                int(rev): rs
                for rs in self._owned(action, obj, "replica_set")
                if (rev := ((rs["metadata"].get("annotations") or {}).get(_REVISION) or ""))
                .strip()
                .isdigit()
            }
            current_text = (obj["metadata"].get("annotations") or {}).get(_REVISION) or ""
            current = int(current_text) if current_text.isdigit() else max(history, default=0)
        else:
            history = {
                int(cr.get("revision") or 0): cr
                for cr in self._owned(action, obj, "controller_revision")
            }
            current = max(history, default=0)
        revision = choose_revision(action, sorted(history), current)
        if action.kind_of_workload == "Deployment":
            return rollback_change(obj, history[revision], revision=revision, current=current)
        return revision_rollback_change(obj, history[revision], revision=revision, current=current)

    # -- dry run and apply -------------------------------------------------------------
    def dry_run(self, plan: ActionPlan) -> str:
        """The API server's verdict on the patch, validated and not stored (``dryRun=All``).

        A refusal (conflict, forbidden, invalid) or an unreachable server is said,
        not raised: the plan stays as shown.
        """
        try:
            answer = self._patch(plan, dry_run=True)
        except ActionRefused as exc:
            return f"the API server refused the dry run: {exc}"
        except SourceUnavailable as exc:
            return f"no server-side dry run: {exc.reason}"
        return "server-side dry run accepted (dryRun=All, nothing stored): " + answer_state(answer)

    def apply(
        self, plan: ActionPlan, *, confirm: bool = False, target: str = "", by: str = ""
    ) -> ActionResult:
        """Make the change, only when ``confirm`` is True and ``target`` names the workload.

        Without both nothing is sent and the result is a dry run (``planned``).
        The patch carries the resourceVersion of the plan: an object changed since
        is refused, as is a change RBAC forbids.

        Raises
        ------
        ActionRefused
            A target other than the plan's workload, no write credentials, the
            object changed since the plan (409), forbidden (403, naming the verb
            and resource), gone (404) or invalid (422); nothing changed.
        SourceUnavailable
            The API server could not be reached (the change may or may not be made).
        """
        action = plan.action
        gate = confirmation(
            plan, confirm=confirm, target=target, at=self.clock(), by=by, what=plan.summary
        )
        if gate is not None:
            return gate
        if not self.can_write:
            raise ActionRefused(
                f"no write credentials (set {WRITE_CONTEXT} to a kubeconfig context allowed to "
                f"patch {action.workload} in {action.namespace}); nothing was changed"
            )
        answer = self._patch(plan, dry_run=False)
        return ActionResult(
            action=action,
            outcome="applied",
            dry_run=False,
            at=self.clock(),
            by=by,
            message=f"{plan.summary}; " + answer_state(answer),
        )

    # -- follow ------------------------------------------------------------------------
    def follow(
        self,
        plan: ActionPlan,
        *,
        timeout_s: float = 300.0,
        poll_s: float = 2.0,
        progress: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Rollout:
        """Poll the workload until its rollout completed or ``timeout_s`` passed.

        Complete: the controller saw the change (``observedGeneration >=
        generation``) and every replica is updated and ready. ``progress`` gets one
        line per poll whose state changed (``"2/4 updated, 1 ready"``).
        """
        action = plan.action
        if action.kind_of_workload in _CORE_KINDS:
            return Rollout("applied", f"{action.workload} changed: {_CONFIG_REACH}")
        start = time.monotonic()
        last = ""
        while True:
            obj = self._read(action, "")
            done, state = rollout_state(action.kind_of_workload, obj)
            if state != last and progress is not None:
                progress(state)
            last = state
            waited = time.monotonic() - start
            if done:
                return Rollout(
                    "applied", f"rollout of {action.workload} complete: {state} ({waited:.0f}s)"
                )
            if waited + poll_s > timeout_s:
                return Rollout(
                    "timed_out",
                    f"rollout of {action.workload} not complete after {timeout_s:.0f}s: {state}; "
                    f"watch it with kubectl rollout status "
                    f"{action.kind_of_workload.lower()}/{action.name} -n {action.namespace}",
                )
            sleep(poll_s)

    # -- API calls ---------------------------------------------------------------------
    def _api(self, action: Action) -> Any:
        from kubernetes import client

        if action.kind_of_workload in _CORE_KINDS:
            return client.CoreV1Api(self.api_client)
        return client.AppsV1Api(self.api_client)

    def _call(
        self, action: Action, verb: str, resource: str, method: str, *a: Any, **k: Any
    ) -> Any:
        """Call ``<Api>.<method>`` and parse its JSON; API errors become refusals.

        The API is ``CoreV1Api`` for a ConfigMap, else ``AppsV1Api``; listing the
        ReplicaSets or ControllerRevisions of a workload is always apps/v1.
        """
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        api = self._api(action) if verb != "list" else client.AppsV1Api(self.api_client)
        try:
            response = getattr(api, method)(
                *a, _preload_content=False, _request_timeout=self.request_timeout, **k
            )
        except ApiException as exc:
            raise refusal(exc, action, verb, resource) or SourceUnavailable(
                SOURCE, self._reason(exc, action, verb, resource)
            ) from None
        except Exception as exc:
            reason = api_reason(
                exc,
                verb=verb,
                resource=resource,
                namespace=action.namespace,
                api_client=self.api_client,
                timeout=self.request_timeout,
            )
            if reason is None:
                raise
            raise SourceUnavailable(SOURCE, reason) from None
        return json.loads(response.data)

    def _reason(self, exc: Exception, action: Action, verb: str, resource: str) -> str:
        return (
            api_reason(
                exc,
                verb=verb,
                resource=resource,
                namespace=action.namespace,
                api_client=self.api_client,
                timeout=self.request_timeout,
            )
            or "unexpected answer"
        )

    def _read(self, action: Action, sub: str) -> dict[str, Any]:
        plural, suffix = _KINDS[action.kind_of_workload]
        resource = plural + ("/scale" if sub else "")
        obj = self._call(
            action, "get", resource, f"read_namespaced_{suffix}{sub}", action.name, action.namespace
        )
        obj.setdefault("kind", action.kind_of_workload)
        obj.setdefault("metadata", {}).setdefault("namespace", action.namespace)
        return dict(obj)

    def _owned(self, action: Action, obj: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """The ReplicaSets or ControllerRevisions of the workload (by its selector and owner)."""
        match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
        plural = "replicasets" if what == "replica_set" else "controllerrevisions"
        listed = self._call(
            action,
            "list",
            plural,
            f"list_namespaced_{what}",
            action.namespace,
            label_selector=selector or None,
        )
        uid = obj["metadata"].get("uid")
        return [
            item
            for item in listed.get("items") or []
            if any(
                ref.get("kind") == action.kind_of_workload
                and (
                    ref.get("uid") == uid
                    if uid and ref.get("uid")
                    else ref.get("name") == action.name
                )
                for ref in (item.get("metadata") or {}).get("ownerReferences") or []
            )
        ]

    def _patch(self, plan: ActionPlan, *, dry_run: bool) -> dict[str, Any]:
        action = plan.action
        plural, suffix = _KINDS[action.kind_of_workload]
        sub = "_scale" if action.kind == "scale" else ""
        answer: dict[str, Any] = self._call(
            action,
            "patch",
            plural + ("/scale" if sub else ""),
            f"patch_namespaced_{suffix}{sub}",
            action.name,
            action.namespace,
            json.loads(plan.patch),
            dry_run="All" if dry_run else None,
            _content_type=plan.content_type,
        )
        return answer
