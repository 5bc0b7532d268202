"""One Kubernetes Job per incident: large captures run by the cluster, not the receiver.

:class:`JobRunner` stands in for :func:`~incident_lib.report.bundle.run_bundle` as
the ``run`` of :class:`~.pipeline.Pipeline`. For one workspace it:

1. creates a ``batch/v1`` Job named ``capture-<incident id>-<suffix>`` (a DNS label,
   unique per run) in the configured namespace: the receiver's image, service
   account and hardening (non-root, read-only root file system, ``/tmp`` an
   ``emptyDir``, every capability dropped), the workspaces PVC mounted at the
   path the receiver uses, ``incident run <workspace> --mode live --notebooks ...``,
   ``backoffLimit: 0``, ``activeDeadlineSeconds`` from the notebooks' timeout and
   ``ttlSecondsAfterFinished``; labels name the incident;
2. polls the Job (``get jobs``) until its ``Complete`` or ``Failed`` condition,
   never longer than its deadline and a margin;
3. answers the :class:`~incident_lib.report.bundle.RunResult` of the run the Job
   wrote into the workspace's ``runs/`` folder (:func:`load_run_result`).

A Job that exits 1 because a notebook failed still wrote a whole bundle: its
result is returned, as ``run_bundle`` returns one with failed notebooks. A Job
that fails without a whole bundle, or does not finish in time, raises
:class:`~incident_lib.core.errors.RunError` naming the Job and how to read its
logs (``kubectl logs job/<name> -n <namespace>``). The receiver's service account
needs ``create`` and ``get`` on ``jobs`` in API group ``batch`` in that namespace.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..core.errors import InvalidInput, RunError
from ..core.params import check_mode

if TYPE_CHECKING:
    from ..infra.workspace import Workspace
    from ..report.bundle import RunResult

__all__ = ["DEFAULT_RESOURCES", "JobRunner", "JobSettings", "job_name", "load_run_result"]

#: requests and limits of a capture pod (those of deploy/job-capture.yaml)
DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "512Mi"},
    "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"},
}
#: the label naming the incident (its id made a valid label value)
INCIDENT_LABEL = "incident-runbooks/incident"
_UID = 10001
#: a notebook's status in run.json (those of report.execute); another reads as failed
_STATUSES = ("ok", "failed", "timeout", "kernel-died")
_NAME_LIMIT = 63
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
_SETTING_KEYS = {
    "mode",
    "namespace",
    "image",
    "service_account",
    "pvc",
    "workspaces",
    "ttl",
    "startup",
    "poll",
    "image_pull_policy",
    "resources",
    "env",
    "env_from_config_maps",
    "env_from_secrets",
}


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Where and how the capture Jobs run (the receiver configuration's ``capture:``).

    Attributes
    ----------
    namespace
        The namespace the Jobs are created in (the receiver's).
    image
        The container image (the receiver's: ``incident-runbooks:0.1.0``).
    service_account
        The Jobs' service account (the receiver's read-only one).
    pvc
        The PersistentVolumeClaim holding the workspaces (ReadWriteMany for Jobs on any node).
    workspaces
        Where the PVC is mounted, in the receiver and in the Jobs alike.
    ttl
        Seconds a finished Job is kept (``ttlSecondsAfterFinished``).
    startup
        Seconds added to the notebooks' time for scheduling, pulling and starting.
    poll
        Seconds between two reads of the Job's status.
    image_pull_policy
        ``IfNotPresent``, ``Always`` or ``Never``.
    resources
        The container's ``requests`` and ``limits``.
    env
        Plain environment variables of the capture (``PROMETHEUS_URL``...); never credentials.
    env_from_config_maps, env_from_secrets
        ConfigMaps and Secrets whose keys become environment variables (``envFrom``): the
        sources' credentials (``DD_API_KEY``...) by reference, never by value.
    """

    namespace: str
    image: str
    service_account: str = "incident-runbooks"
    pvc: str = "incident-runbooks-workspaces"
    workspaces: Path = Path("/var/lib/incident-runbooks")
    ttl: int = 86400
    startup: float = 300.0
    poll: float = 2.0
    image_pull_policy: str = "IfNotPresent"
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_RESOURCES)
    env: Mapping[str, str] = field(default_factory=dict)
    env_from_config_maps: tuple[str, ...] = ()
    env_from_secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what in ("namespace", "service_account", "pvc"):
            value = getattr(self, what)
            if not isinstance(value, str) or not _is_dns_label(value):
                raise InvalidInput(f"capture {what} must be a Kubernetes name, got {value!r}")
        for name in (*self.env_from_config_maps, *self.env_from_secrets):
            if not isinstance(name, str) or not _is_dns_label(name):
                raise InvalidInput(f"capture env_from names Kubernetes objects, got {name!r}")
        if not isinstance(self.image, str) or not self.image.strip() or " " in self.image:
            raise InvalidInput(f"capture image must be an image reference, got {self.image!r}")
        if self.image_pull_policy not in ("IfNotPresent", "Always", "Never"):
            raise InvalidInput(
                "capture image_pull_policy is IfNotPresent, Always or Never, got "
                f"{self.image_pull_policy!r}"
            )
        if not Path(self.workspaces).is_absolute():
            raise InvalidInput(f"capture workspaces must be an absolute path: {self.workspaces}")
        for what in ("ttl", "startup", "poll"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidInput(f"capture {what} must be a number >= 0, got {value!r}")
        if self.poll <= 0:
            raise InvalidInput(f"capture poll must be > 0 seconds, got {self.poll!r}")
        for key, value in self.env.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)) or not isinstance(value, str):
                raise InvalidInput(f"capture env: {key!r} is not a variable name with a text value")

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, workspaces: Path | None = None
    ) -> JobSettings:
        """Settings from the configuration's ``capture:`` mapping (``mode: job`` allowed).

        Parameters
        ----------
        data
            ``namespace`` and ``image`` (required), and any attribute of this class.
        workspaces
            The receiver's ``--workspaces`` (used when ``data`` names none).

        Raises
        ------
        InvalidInput
            An unknown key, a missing one, or an invalid value.
        """
        if not isinstance(data, Mapping):
            raise InvalidInput("capture: must be a mapping (namespace, image, ...)")
        unknown = sorted(set(map(str, data)) - _SETTING_KEYS)
        if unknown:
            raise InvalidInput(
                f"capture: unknown key(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(_SETTING_KEYS))}"
            )
        if data.get("mode", "job") != "job":
            raise InvalidInput(f"capture mode {data.get('mode')!r} is not job")
        missing = [k for k in ("namespace", "image") if not data.get(k)]
        if missing:
            raise InvalidInput(f"capture: {' and '.join(missing)} required for Jobs")
        values: dict[str, Any] = {k: v for k, v in data.items() if k != "mode"}
        if "workspaces" in values:
            values["workspaces"] = Path(str(values["workspaces"]))
        elif workspaces is not None:
            values["workspaces"] = Path(workspaces).absolute()
        for key in ("env_from_config_maps", "env_from_secrets"):
            if key in values:
                if isinstance(values[key], str) or not isinstance(values[key], Sequence):
                    raise InvalidInput(f"capture {key} is a list of names")
                values[key] = tuple(values[key])
        for key in ("env", "resources"):
            if key in values and not isinstance(values[key], Mapping):
                raise InvalidInput(f"capture {key} is a mapping")
        return cls(**values)


def _is_dns_label(text: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", text))


def job_name(incident_id: str, suffix: str) -> str:
    """``capture-<incident id>-<suffix>``, lower case, a valid DNS label (63 characters at most).

    Characters a DNS label cannot hold become ``-``; a long id is cut.
    """
    tail = re.sub(r"[^a-z0-9]+", "-", suffix.lower()).strip("-") or "0"
    middle = re.sub(r"[^a-z0-9]+", "-", incident_id.lower()).strip("-")
    room = _NAME_LIMIT - len("capture-") - len(tail) - 1
    middle = middle[: max(room, 0)].strip("-")
    return f"capture-{middle}-{tail}" if middle else f"capture-{tail}"


def _label_value(text: str) -> str:
    """``text`` as a label value: 63 characters of ``[A-Za-z0-9._-]``, alphanumeric at the ends."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:_NAME_LIMIT]
    value = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)
    return value if _LABEL_VALUE.match(value) else ""


class JobRunner:
    """Run the notebooks of an incident as a Kubernetes Job (see the module notes).

    Parameters
    ----------
    api_client
        A ``kubernetes.client.ApiClient``.
    settings
        Namespace, image, identity, volume and limits of the Jobs.
    sleep, clock
        Waiting between polls, and a monotonic clock (injected by the tests).
    suffix
        Makes the unique end of a Job's name (default: 6 random hex digits).
    """

    def __init__(
        self,
        api_client: Any,
        settings: JobSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        suffix: Callable[[], str] = lambda: secrets.token_hex(3),
    ) -> None:
        self.api_client = api_client
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.suffix = suffix

    @classmethod
    def from_environment(
        cls,
        settings: JobSettings,
        *,
        environ: Mapping[str, str],
        context: str | None = None,
    ) -> JobRunner:
        """A runner with the client of the environment: the kubeconfig, else (in a pod) the
        in-cluster service account.

        Raises
        ------
        SourceUnavailable
            No Kubernetes configuration usable.
        """
        from ..sources.kubernetes.config import client_from_environment

        return cls(client_from_environment(context=context, environ=environ), settings)

    # -- the run ---------------------------------------------------------------------
    def __call__(
        self,
        workspace: Workspace,
        *,
        notebooks: Sequence[str] | None = None,
        notebook_dir: Path | None = None,
        parallel: int = 2,
        timeout: float = 600.0,
        mode: str = "live",
        parameters: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Create the incident's capture Job, wait for it, and return its run's result.

        Parameters are those of :func:`~incident_lib.report.bundle.run_bundle`;
        ``parameters`` become ``-p name=value`` arguments of ``incident run`` (checked
        by the runner in the pod as by :func:`~incident_lib.report.bundle.run_bundle`).

        Raises
        ------
        InvalidInput
            A bad argument, an unknown notebook, or a workspace outside ``settings.workspaces``
            (before any Job is created).
        RunError
            The Job could not be created or read, failed without a whole bundle, or did not
            finish in time.
        """
        from ..report.bundle import default_notebook_dir, list_notebooks
        from ..report.runs import list_runs

        checked_mode = check_mode(mode)
        if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
            raise InvalidInput(f"parallel must be a whole number >= 1, got {parallel!r}")
        if not timeout > 0:
            raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}")
        folder = self._check_inside(workspace.path)
        paths = list_notebooks(notebook_dir or default_notebook_dir(), notebooks)
        names = [p.stem for p in paths] if notebooks else None
        deadline = math.ceil(
            timeout * math.ceil(len(paths) / parallel) + float(self.settings.startup)
        )
        args = ["run", str(folder), "--mode", checked_mode, "--parallel", str(parallel)]
        args += ["--timeout", f"{timeout:g}"]
        if notebook_dir is not None:
            args += ["--notebook-dir", str(notebook_dir)]
        if names:
            args += ["--notebooks", *names]
        for key, value in (parameters or {}).items():
            args += ["-p", f"{key}={value}"]
        before = {r.run_id for r in list_runs(workspace.runs_dir)}
        name = self._create(workspace.incident.id, args, deadline)
        finished, reason = self._wait(name, deadline + max(60.0, 3 * self.settings.poll))
        run_dir = _new_run(workspace.runs_dir, before, checked_mode)
        if run_dir is not None:  # a notebook that failed still leaves a whole bundle
            return load_run_result(workspace, run_dir)
        if finished == "Complete":
            reason = f"it completed but wrote no complete run under {workspace.runs_dir}"
        raise RunError(f"capture Job {name} failed ({reason}); {self._logs_hint(name)}")

    # -- steps -----------------------------------------------------------------------
    def _check_inside(self, path: Path) -> Path:
        """``path`` made absolute, when it is under the mounted workspaces (else refused)."""
        root = Path(self.settings.workspaces)
        folder = Path(path).absolute()
        try:
            folder.relative_to(root)
        except ValueError:
            raise InvalidInput(
                f"workspace {path} is not under {root}, where the capture Jobs mount the "
                f"workspaces volume {self.settings.pvc}"
            ) from None
        return folder

    def _logs_hint(self, name: str) -> str:
        return f"see its logs: kubectl logs job/{name} -n {self.settings.namespace}"

    def _create(self, incident_id: str, args: list[str], deadline: int) -> str:
        from kubernetes.client import BatchV1Api
        from kubernetes.client.exceptions import ApiException

        api = BatchV1Api(self.api_client)
        namespace = self.settings.namespace
        for _ in range(3):
            name = job_name(incident_id, self.suffix())
            body = self.job(name, incident_id, args, deadline)
            try:
                # plain data: the client sends a dict as it is
                api.create_namespaced_job(namespace, cast(Any, body), _request_timeout=30)
            except ApiException as exc:
                if exc.status == 409:  # the name is taken: another suffix
                    continue
                raise RunError(
                    f"could not create the capture Job {name} in namespace {namespace} "
                    f"(HTTP {exc.status}: {_api_message(exc)}); the receiver's service account "
                    f"needs create and get on jobs in API group batch in {namespace}"
                ) from None
            except Exception as exc:  # connection refused, TLS, timeouts
                raise RunError(
                    f"could not create the capture Job {name} in namespace {namespace}: "
                    f"{_short(exc)}"
                ) from None
            return name
        raise RunError(f"could not create a capture Job for {incident_id}: every name was taken")

    def job(
        self, name: str, incident_id: str, args: Sequence[str], deadline: int
    ) -> dict[str, Any]:
        """The ``batch/v1`` Job for one run (plain data, as sent to the API server).

        Parameters
        ----------
        name
            The Job's name.
        incident_id
            The incident's id (a label and an annotation).
        args
            The arguments of ``incident``.
        deadline
            ``activeDeadlineSeconds``.
        """
        s = self.settings
        labels = {
            "app.kubernetes.io/name": "incident-runbooks",
            "app.kubernetes.io/component": "capture",
        }
        value = _label_value(incident_id)
        if value:
            labels[INCIDENT_LABEL] = value
        hardened = {
            "runAsNonRoot": True,
            "runAsUser": _UID,
            "runAsGroup": _UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        container: dict[str, Any] = {
            "name": "capture",
            "image": s.image,
            "imagePullPolicy": s.image_pull_policy,
            "command": ["incident"],
            "args": list(args),
            "securityContext": {
                **hardened,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "privileged": False,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {k: dict(v) for k, v in s.resources.items()},
            "volumeMounts": [
                {"name": "workspaces", "mountPath": str(s.workspaces)},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
        if s.env:
            container["env"] = [{"name": k, "value": v} for k, v in sorted(s.env.items())]
        env_from = [{"configMapRef": {"name": n}} for n in s.env_from_config_maps]
        env_from += [{"secretRef": {"name": n}} for n in s.env_from_secrets]
        if env_from:
            container["envFrom"] = env_from
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": s.namespace,
                "labels": dict(labels),
                "annotations": {INCIDENT_LABEL: incident_id},
            },
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": deadline,
                "ttlSecondsAfterFinished": int(s.ttl),
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": s.service_account,
                        "automountServiceAccountToken": True,
                        "securityContext": {**hardened, "fsGroup": _UID},
                        "containers": [container],
                        "volumes": [
                            {
                                "name": "workspaces",
                                "persistentVolumeClaim": {"claimName": s.pvc},
                            },
                            {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
                        ],
                    },
                },
            },
        }

    def _wait(self, name: str, bound: float) -> tuple[str, str]:
        """Poll the Job until ``Complete`` or ``Failed``; return the condition and its reason."""
        from kubernetes.client import BatchV1Api
        from kubernetes.client.exceptions import ApiException

        api = BatchV1Api(self.api_client)
        namespace = self.settings.namespace
        began = self.clock()
        last = ""
        while True:
            try:
                job = api.read_namespaced_job(name, namespace, _request_timeout=30)
            except ApiException as exc:
                if exc.status in (401, 403, 404):
                    raise RunError(
                        f"could not read the capture Job {name} in namespace {namespace} "
                        f"(HTTP {exc.status}: {_api_message(exc)}); {self._logs_hint(name)}"
                    ) from None
                last = f"HTTP {exc.status}"  # the API server busy: ask again
            except Exception as exc:  # a connection lost for a moment: ask again
                last = _short(exc)
            else:
                for condition in (job.status.conditions if job.status else None) or []:
                    if condition.status == "True" and condition.type in ("Complete", "Failed"):
                        reason = ": ".join(
                            str(x) for x in (condition.reason, condition.message) if x
                        )
                        return str(condition.type), _short(reason or condition.type)
            if self.clock() - began >= bound:
                raise RunError(
                    f"capture Job {name} did not finish within {bound:.0f} s"
                    + (f" (last read: {last})" if last else "")
                    + f"; the cluster stops it at its deadline; {self._logs_hint(name)}"
                )
            self.sleep(self.settings.poll)


def _api_message(exc: Any) -> str:
    """The ``message`` of the Status an ``ApiException`` carries (else its reason)."""
    try:
        data = json.loads(exc.body or "")
    except (TypeError, ValueError):
        data = None
    message = data.get("message") if isinstance(data, dict) else None
    return _short(str(message or exc.reason or "no reason given"))


def _short(what: object) -> str:
    """One line of an error or a text, tokens masked, at most 200 characters."""
    from ..core.text import shorten
    from ..sources.kubernetes.errors import first_line, mask

    if isinstance(what, BaseException):
        return mask(first_line(what))
    lines = str(what).strip().splitlines()
    return mask(shorten(lines[0], 200, whole_tokens=True)) if lines else ""


def _new_run(runs_dir: Path, before: set[str], mode: str) -> Path | None:
    """The newest run of ``mode`` that was not in ``before`` and is complete (None if none)."""
    from ..report.runs import list_runs

    for run in list_runs(runs_dir):  # newest first
        if run.run_id in before or run.data.get("mode") != mode:
            continue
        return run.folder if run.state == "complete" else None
    return None


def load_run_result(workspace: Workspace, run_dir: Path) -> RunResult:
    """The :class:`~incident_lib.report.bundle.RunResult` of a finished run folder.

    Read from ``run.json`` (the notebooks, their status and time, the evidence
    head), the run's findings and availability files and ``index.html``; the
    story is rebuilt from the workspace (without recording on its timeline).

    Parameters
    ----------
    workspace
        The incident's workspace.
    run_dir
        One of its run folders, complete.

    Raises
    ------
    RunError
        The folder is not a complete run (no ``run.json``, still running, failed) or has no
        ``index.html``.
    """
    from ..infra.evidence import EvidenceHead
    from ..report.availability import collect_availability
    from ..report.bundle import RunResult
    from ..report.execute import NotebookResult
    from ..report.findings import collect_findings
    from ..report.runs import read_run
    from ..report.story import build_story

    run_dir = Path(run_dir)
    state = read_run(run_dir)
    if state.state != "complete":
        raise RunError(f"{run_dir} is not a complete run: {state.describe()}")
    index = run_dir / "index.html"
    if not index.is_file():
        raise RunError(f"{run_dir} is not a complete run: it has no index.html")
    results: list[NotebookResult] = []
    for entry in state.notebooks:
        name = str(entry.get("name") or "")
        status = str(entry.get("status") or "")
        if not name:
            continue
        html = run_dir / f"{name}.html"
        seconds = entry.get("seconds")
        results.append(
            NotebookResult(
                name=name,
                status=cast(Any, status if status in _STATUSES else "failed"),
                seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
                output=run_dir / f"{name}.ipynb",
                error=str(entry.get("error") or ""),
                html=html if html.is_file() else None,
            )
        )
    head_data = state.data.get("evidence_head")
    head = EvidenceHead.from_dict(head_data) if isinstance(head_data, Mapping) else None
    try:
        story = build_story(workspace, record=False)
    except Exception:  # as the run itself: the bundle stands without a story
        story = None
    seconds = state.data.get("seconds")
    return RunResult(
        run_id=run_dir.name,
        run_dir=run_dir,
        index=index,
        results=tuple(sorted(results, key=lambda r: r.name)),
        findings=tuple(collect_findings(run_dir)),
        seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
        availability=collect_availability(run_dir),
        evidence_head=head,
        story=story,
    )
