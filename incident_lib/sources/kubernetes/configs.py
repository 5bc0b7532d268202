"""ConfigMaps and Secrets a service uses: who refers to them, and who changed them when.

A pod spec refers to a ConfigMap or a Secret through a volume (``configMap``,
``secret``, or a ``projected`` volume's sources), a container's ``envFrom``
or an ``env[].valueFrom`` key reference (containers, init containers and
ephemeral containers alike). :func:`config_refs` collects these from the pods
and from the pod templates of their Deployments and ReplicaSets, so an object
referred to by a new template is found before its pods exist.

:func:`config_rows` turns one object into ``k8s_config`` rows: one per entry
of ``metadata.managedFields`` (each field manager's last operation and its
time: ``kubectl-edit`` ``Update`` at 14:03), or one row without a manager when
the server keeps none. A manager that owns nothing but metadata (labels,
annotations: a controller stamping a tracking annotation) changed no data: its
operation is marked ``"Update (metadata only)"`` (:data:`METADATA_ONLY`), so
that a label edit is never taken for a config change. ``data_hash`` is a
SHA-256 of the data sorted by key (for a ConfigMap, ``data`` and
``binaryData``). A Secret's values are hashed in memory and never kept: the
row carries its key names and the hash only, so nothing of a value reaches a
frame, a note or an error. A Secret's hash is an HMAC keyed with the object's
uid, which no frame holds: it still changes when a value changes, but a weak
password cannot be guessed from the evidence by hashing candidates.

``applied_hash`` is the same hash of the content of a ConfigMap's last
``kubectl apply`` (the ``kubectl.kubernetes.io/last-applied-configuration``
annotation, :func:`last_applied`). When it differs from ``data_hash`` the data
was changed since by something other than ``kubectl apply`` (a ``kubectl
patch``, a controller, an API client), and the applied content is the previous
content a revert can restore. ``kubectl edit`` rewrites the annotation when it
is present, so an edit leaves the two equal: the previous content is then
unknown. A Secret's annotation holds its values and is never read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "CONFIG_KINDS",
    "LAST_APPLIED",
    "METADATA_ONLY",
    "config_refs",
    "config_rows",
    "data_hash",
    "last_applied",
    "workload_of",
]

#: the annotation ``kubectl apply`` keeps the applied object in (as JSON)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: the kinds of object this module reads
CONFIG_KINDS = ("ConfigMap", "Secret")
#: appended to the operation of a field manager that owns only metadata fields
METADATA_ONLY = " (metadata only)"
#: top-level fields of a ConfigMap or Secret that hold its content
_CONTENT_FIELDS = frozenset({"f:data", "f:binaryData", "f:stringData", "f:immutable", "f:type"})


def _operation(entry: Any) -> str | None:
    """The entry's operation, marked when its fields are metadata only (see the module notes)."""
    operation = entry.operation
    fields = entry.fields_v1
    if operation and isinstance(fields, dict) and fields and not (set(fields) & _CONTENT_FIELDS):
        return f"{operation}{METADATA_ONLY}"
    return str(operation) if operation else None


def _named(ref: Any, attr: str = "name") -> str | None:
    name = getattr(ref, attr, None) if ref is not None else None
    return str(name) if name else None


def _volume_refs(volume: Any) -> Iterator[tuple[str, str | None]]:
    yield "ConfigMap", _named(volume.config_map)
    yield "Secret", _named(volume.secret, "secret_name")
    projected = volume.projected
    for source in (projected.sources or []) if projected is not None else []:
        yield "ConfigMap", _named(source.config_map)
        yield "Secret", _named(source.secret)


def _container_refs(container: Any) -> Iterator[tuple[str, str | None]]:
    for env_from in container.env_from or []:
        yield "ConfigMap", _named(env_from.config_map_ref)
        yield "Secret", _named(env_from.secret_ref)
    for env in container.env or []:
        value_from = env.value_from
        if value_from is not None:
            yield "ConfigMap", _named(value_from.config_map_key_ref)
            yield "Secret", _named(value_from.secret_key_ref)


def _spec_refs(spec: Any) -> set[tuple[str, str]]:
    """``(kind, name)`` of every ConfigMap and Secret a pod spec refers to."""
    if spec is None:
        return set()
    found: list[tuple[str, str | None]] = []
    for volume in spec.volumes or []:
        found.extend(_volume_refs(volume))
    containers = [
        *(spec.init_containers or []),
        *(spec.containers or []),
        *(spec.ephemeral_containers or []),
    ]
    for container in containers:
        found.extend(_container_refs(container))
    return {(kind, name) for kind, name in found if name}


def workload_of(obj: Any, kind: str, replicaset_owner: dict[str, str]) -> str:
    """The workload that runs ``obj``: ``Deployment/api`` for its ReplicaSets and pods.

    ``replicaset_owner`` maps a ReplicaSet name to its Deployment's name.
    """
    name = str(obj.metadata.name)
    if kind == "ReplicaSet":
        owner = replicaset_owner.get(name)
        return f"Deployment/{owner}" if owner else f"ReplicaSet/{name}"
    if kind == "Pod":
        for ref in obj.metadata.owner_references or []:
            if ref.kind == "ReplicaSet":
                owner = replicaset_owner.get(ref.name)
                return f"Deployment/{owner}" if owner else f"ReplicaSet/{ref.name}"
            return f"{ref.kind}/{ref.name}"
    return f"{kind}/{name}"


def config_refs(
    pods: Iterable[Any], deployments: Iterable[Any], replicasets: Iterable[Any]
) -> dict[tuple[str, str], set[str]]:
    """``(kind, name)`` of each ConfigMap / Secret used -> the workloads using it.

    Parameters
    ----------
    pods, deployments, replicasets
        ``V1Pod``, ``V1Deployment`` and ``V1ReplicaSet`` objects of the service.
    """
    replicasets = list(replicasets)
    owners = {
        str(rs.metadata.name): str(ref.name)
        for rs in replicasets
        for ref in rs.metadata.owner_references or []
        if ref.kind == "Deployment"
    }
    used: dict[tuple[str, str], set[str]] = {}
    sources = [
        *(("Deployment", d, d.spec.template if d.spec else None) for d in deployments),
        *(("ReplicaSet", r, r.spec.template if r.spec else None) for r in replicasets),
    ]
    specs = [(kind, obj, template.spec if template else None) for kind, obj, template in sources]
    specs += [("Pod", pod, pod.spec) for pod in pods]
    for kind, obj, spec in specs:
        for ref in _spec_refs(spec):
            used.setdefault(ref, set()).add(workload_of(obj, kind, owners))
    return used


def data_hash(*parts: dict[str, str] | None, key: str | None = None) -> str | None:
    """SHA-256 (hex) of the key-sorted data, or None when there is no data at all.

    With ``key``, an HMAC-SHA-256 keyed with it (a Secret's uid, see the module notes).
    """
    merged: dict[str, str] = {}
    for part in parts:
        merged.update(part or {})
    if not merged and all(part is None for part in parts):
        return None
    payload = json.dumps(sorted(merged.items()), ensure_ascii=False, separators=(",", ":"))
    if key:
        return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(payload.encode()).hexdigest()


def last_applied(annotations: Mapping[str, str] | None) -> dict[str, dict[str, str]] | None:
    """The ``data`` and ``binaryData`` of a ConfigMap's last ``kubectl apply``, or None.

    None when the annotation is absent, is not JSON, or is not a ConfigMap's
    (see the module notes). Missing maps are empty.
    """
    text = (annotations or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        applied = json.loads(text)
    except ValueError:
        return None
    if not isinstance(applied, dict) or applied.get("kind", "ConfigMap") != "ConfigMap":
        return None
    content: dict[str, dict[str, str]] = {}
    for field in ("data", "binaryData"):
        value = applied.get(field) or {}
        if not isinstance(value, dict):
            return None
        content[field] = {str(k): str(v) for k, v in value.items()}
    return content


def config_rows(obj: Any, kind: str, used_by: Iterable[str]) -> list[dict[str, Any]]:
    """The ``k8s_config`` rows of one ``V1ConfigMap`` or ``V1Secret`` (see the module notes)."""
    meta = obj.metadata
    applied_digest = None
    if kind == "Secret":
        keys = sorted(obj.data or {})
        digest = data_hash(obj.data, key=meta.uid)  # the values stay in this call
    else:
        keys = sorted({*(obj.data or {}), *(obj.binary_data or {})})
        digest = data_hash(obj.data, obj.binary_data)
        applied = last_applied(meta.annotations)
        if applied is not None:
            applied_digest = data_hash(applied["data"] or None, applied["binaryData"] or None)
    base = {
        "kind": kind,
        "name": meta.name,
        "used_by": ",".join(sorted(used_by)),
        "resource_version": meta.resource_version,
        "created_at": meta.creation_timestamp,
        "keys": ",".join(keys),
        "data_hash": digest,
        "applied_hash": applied_digest,
    }
    entries = meta.managed_fields or []
    if not entries:
        return [base | {"manager": None, "operation": None, "changed_at": None}]
    return [
        base
        | {
            "manager": entry.manager,
            "operation": _operation(entry),
            "changed_at": entry.time,
        }
        for entry in entries
    ]
