"""Dependencies: findings and a summary table from the probes' checks and the Services.

Two frames (:mod:`incident_lib.core.schema`):

* ``dependency_checks``: dns, tcp, tls and http checks of each target (the
  service's health endpoint and its dependencies' endpoints), with a status
  (``ok``, ``slow``, ``failed``, ``expiring``, ``unknown``);
* ``k8s_endpoints``: each Service of the namespace with its ready, not ready and
  terminating endpoints.

Findings: the first failed check of each target (the later ones did not run),
slow answers, certificates expiring within ``expiring_days`` (default 14) or
expired, checks that could not run (``unknown``: never counted as healthy), and
Services with no ready endpoint or some not ready. Each says what failed, when it
was checked and what to do. :func:`dependency_table` gives one row per target with
a short verdict per check.

Pure functions over contract frames: no I/O, no plotting.
"""

from __future__ import annotations

import ipaddress
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..core.findings import Finding, Level, Role
from ..core.text import md_code, md_text, shorten

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHECKS",
    "EXPIRING_DAYS",
    "applicable_checks",
    "dependencies_verdict",
    "dependency_findings",
    "dependency_table",
    "endpoint_findings",
    "verdict",
]

#: the checks, in the order they run
CHECKS = ("dns", "tcp", "tls", "http")
#: a certificate expiring within this many days is a finding
EXPIRING_DAYS = 14.0
_NAMES = {"dns": "DNS", "tcp": "TCP connect", "tls": "TLS", "http": "HTTP"}
_TITLE_WIDTH = 120
_NOT_APPLICABLE = "—"


def applicable_checks(target: str) -> tuple[str, ...]:
    """The checks that apply to a target: dns for a name, tcp, tls for https, http for http(s).

    Examples
    --------
    >>> applicable_checks("https://payments.prod.svc/healthz")
    ('dns', 'tcp', 'tls', 'http')
    >>> applicable_checks("10.0.0.7:5432")
    ('tcp',)
    """
    text = str(target).strip()
    parts = urlsplit(text if "://" in text else f"tcp://{text}")
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        out: tuple[str, ...] = ()
    except ValueError:
        out = ("dns",)
    out += ("tcp",)
    if parts.scheme == "https":
        out += ("tls",)
    if parts.scheme in ("http", "https"):
        out += ("http",)
    return out


def _latency(ms: float) -> str:
    if not isinstance(ms, float | int) or math.isnan(ms):
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _latest(checks: pd.DataFrame) -> pd.DataFrame:
    """The newest row of each (target, check), in the targets' first-seen order."""
    if checks.empty:
        return checks
    ordered = checks.sort_values("checked_at", kind="stable", na_position="first")
    latest = ordered.drop_duplicates(["target", "check"], keep="last")
    order = {t: i for i, t in enumerate(dict.fromkeys(checks["target"]))}
    rank = {c: i for i, c in enumerate(CHECKS)}
    return latest.assign(
        _t=latest["target"].map(order), _c=latest["check"].map(lambda c: rank.get(c, 9))
    ).sort_values(["_t", "_c"], kind="stable")


def _failure_word(row: Any) -> str:
    """A few words for a failed check's cause (its reason code, else its detail)."""
    reason = str(row.get("reason") or "") if hasattr(row, "get") else ""
    if reason and reason != "nan":
        return reason.replace("_", " ")
    detail = str(row["detail"]) if isinstance(row["detail"], str) else ""
    return shorten(detail.split(";")[0].split("(")[0], 28) or "failed"


def verdict(row: Any) -> str:
    """A check's short verdict: ``ok 12 ms``, ``slow 1.8 s``, ``failed: refused``, ``unknown``."""
    status = str(row["status"])
    latency = _latency(row["latency_ms"])
    if status == "ok":
        days = row["days_left"]
        left = f", {days:.0f} d left" if isinstance(days, float) and not math.isnan(days) else ""
        return f"ok {latency}".strip() + left
    if status == "slow":
        return f"slow {latency}".strip()
    if status == "expiring":
        return f"expires in {row['days_left']:.1f} d"
    if status == "failed":
        return f"failed: {_failure_word(row)}"
    return "unknown"


def dependency_table(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per target: ``target``, ``dns``, ``tcp``, ``tls``, ``http``, ``checked_at``.

    Each check column holds :func:`verdict`; ``—`` where the check does not apply
    (no DNS for an address, no TLS for plain http, no HTTP for tcp), ``unknown``
    where it applies but there is no row. ``checked_at`` is the first check's time.
    """
    import pandas as pd

    columns = ["target", *CHECKS, "checked_at"]
    latest = _latest(checks)
    if latest.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for target, group in latest.groupby("target", sort=False):
        by_check = {str(r["check"]): r for _, r in group.iterrows()}
        applies = applicable_checks(str(target))
        row: dict[str, Any] = {"target": target}
        for name in CHECKS:
            if name in by_check:
                row[name] = verdict(by_check[name])
            else:
                row[name] = "unknown" if name in applies else _NOT_APPLICABLE
        row["checked_at"] = group["checked_at"].min()
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _when(moment: Any) -> str:
    try:
        return f"checked at {moment:%Y-%m-%d %H:%M:%S} UTC"
    except (TypeError, ValueError):
        return "check time unknown"


def _advice(check: str, status: str, detail: str, reason: str) -> str:
    text = f"{reason} {detail}".lower()
    if status == "slow":
        return (
            "compare with its usual latency (dashboards) and check its saturation; slow "
            "dependencies hold this service's workers and connections"
        )
    if check == "dns":
        if "nxdomain" in text or "does not exist" in text:
            return (
                "check the name (a typo, a Service or record deleted or renamed) and the "
                "namespace part of it"
            )
        if "timeout" in text or "servfail" in text:
            return "check the DNS servers (CoreDNS pods and their logs, the node's resolver)"
        return "check the record (A/AAAA) and the DNS servers"
    if check == "tcp":
        if "refused" in text:
            return (
                "nothing listens there: check that the dependency's pods are running and "
                "ready, and the Service's port and targetPort"
            )
        if "timeout" in text or "unreachable" in text:
            return (
                "packets are dropped or not routed: check network policies, security "
                "groups and firewalls between here and the dependency"
            )
        return "check the dependency is up and reachable from where the service runs"
    if check == "tls":
        if "expired" in text:
            return "renew the certificate now (cert-manager: the Certificate's status and events)"
        if "mismatch" in text or "issued for" in text:
            return "use the name the certificate is issued for, or reissue it with this name"
        if "self" in text or "untrusted" in text or "authority" in text:
            return (
                "serve a certificate from a trusted authority; for an internal CA, probe "
                "with INCIDENT_CA_BUNDLE set to it"
            )
        return "check the TLS configuration of the dependency (protocols, certificate)"
    if check == "http":
        if "401" in text or "403" in text:
            return "the endpoint needs credentials: probe an unauthenticated health path"
        if "http_4" in text or " 404" in text:
            return "check the path: the endpoint did not accept it"
        return (
            "the dependency is failing: check its own dashboards, logs and recent changes, "
            "and whether this service degrades gracefully without it"
        )
    return "check it by hand from where the service runs"


def _reason(row: Any) -> str:
    value = row.get("reason") if hasattr(row, "get") else None
    return value if isinstance(value, str) else ""


def _is_health(target: str, health_url: str) -> bool:
    return bool(health_url) and str(target).strip() == health_url.strip()


def dependency_findings(
    checks: pd.DataFrame,
    endpoints: pd.DataFrame | None = None,
    *,
    expiring_days: float = EXPIRING_DAYS,
    health_url: str = "",
    ref: str = "",
) -> list[Finding]:
    """Findings of the dependency checks and of the Services' endpoints.

    Parameters
    ----------
    checks
        A ``dependency_checks`` frame.
    endpoints
        A ``k8s_endpoints`` frame, or None when not captured.
    expiring_days
        Certificates expiring within this many days are a finding.
    health_url
        The service's own health endpoint: its failures are symptoms of the
        incident, a dependency's failures a possible mechanism.
    ref
        Where to look (a section or chart), set on every finding.

    Returns
    -------
    list[Finding]
        Failures first, then slow answers, certificates, checks that could not run
        and the Services' endpoints. No check at all gives one finding saying
        the dependencies are unknown.
    """
    out: list[Finding] = []
    latest = _latest(checks)
    if latest.empty:
        out.append(
            Finding(
                title="Dependencies not checked",
                severity="info",
                summary="No dependency check was captured: their health is unknown, not "
                "fine. Name the endpoints in incident.yaml (health_url, endpoints) and "
                "run 08_dependencies live.",
                ref=ref,
                fact="dependencies",
                role="context",
            )
        )
    failed, slow, certs, unknown = [], [], [], []
    for target, group in latest.groupby("target", sort=False):
        rows = [r for _, r in group.iterrows()]
        first = next((r for r in rows if r["status"] == "failed"), None)
        if first is not None:
            failed.append(_failure(str(target), first, health_url, ref))
        slow += [_slow(str(target), r, health_url, ref) for r in rows if r["status"] == "slow"]
        certs += [
            f
            for r in rows
            if r["check"] == "tls"
            and (f := _certificate(str(target), r, expiring_days, ref)) is not None
        ]
        if first is None:
            unknown += [_unknown(str(target), r, ref) for r in rows if r["status"] == "unknown"]
    out += failed + slow + certs + unknown
    if endpoints is not None:
        out += endpoint_findings(endpoints, ref=ref)
    return out


def _failure(target: str, row: Any, health_url: str, ref: str) -> Finding:
    check, detail = str(row["check"]), str(row["detail"])
    own = _is_health(target, health_url)
    what = "The service's health endpoint" if own else "Dependency"
    role: Role = "symptom" if own else "mechanism"
    return Finding(
        title=shorten(
            f"{target}: {_NAMES.get(check, check)} failed ({_failure_word(row)})", _TITLE_WIDTH
        ),
        severity="high",
        summary=f"{what} {md_code(target)}: {_NAMES.get(check, check)} failed: "
        f"{md_text(detail)} ({_when(row['checked_at'])}; the checks after it did not run). "
        f"What to do: {_advice(check, 'failed', detail, _reason(row))}.",
        ref=ref,
        fact=f"dependency:{target}",
        role=role,
    )


def _slow(target: str, row: Any, health_url: str, ref: str) -> Finding:
    check, detail = str(row["check"]), str(row["detail"])
    own = _is_health(target, health_url)
    return Finding(
        title=shorten(
            f"{target}: {_NAMES.get(check, check)} slow ({_latency(row['latency_ms'])})",
            _TITLE_WIDTH,
        ),
        severity="medium",
        summary=f"{md_code(target)}: {_NAMES.get(check, check)} took "
        f"{_latency(row['latency_ms'])}: {md_text(detail)} ({_when(row['checked_at'])}). "
        f"What to do: {_advice(check, 'slow', detail, _reason(row))}.",
        ref=ref,
        fact=f"dependency:{target}",
        role="symptom" if own else "mechanism",
    )


def _certificate(target: str, row: Any, expiring_days: float, ref: str) -> Finding | None:
    days = row["days_left"]
    if not isinstance(days, float) or math.isnan(days) or days >= expiring_days:
        return None
    expires = row["expires_at"]
    try:
        on = f"{expires:%Y-%m-%d %H:%M} UTC"
    except (TypeError, ValueError):
        on = "an unknown date"
    severity: Level
    if days < 0:
        title = f"{target}: TLS certificate expired {-days:.1f} days ago"
        severity = "high"
        todo = "renew it now: clients that verify certificates cannot connect"
    else:
        title = f"{target}: TLS certificate expires in {days:.1f} days"
        severity = "high" if days <= 3 else "medium" if days <= 7 else "low"
        todo = (
            f"renew it before {on} (cert-manager: check the Certificate's status and the "
            "issuer's events; a manual certificate: its owner)"
        )
    return Finding(
        title=shorten(title, _TITLE_WIDTH),
        severity=severity,
        summary=f"The certificate of {md_code(target)} expires on {on} "
        f"({_when(row['checked_at'])}; threshold {expiring_days:g} days). "
        f"What to do: {todo}.",
        ref=ref,
        fact=f"certificate:{target}",
        role="context",
    )


def _unknown(target: str, row: Any, ref: str) -> Finding:
    check, detail = str(row["check"]), str(row["detail"])
    return Finding(
        title=shorten(f"{target}: {_NAMES.get(check, check)} not known", _TITLE_WIDTH),
        severity="low",
        summary=f"{md_code(target)}: the {_NAMES.get(check, check)} check could not say: "
        f"{md_text(detail)} ({_when(row['checked_at'])}). Unknown is not healthy. "
        "What to do: check it by hand from where the service runs, or re-run "
        "08_dependencies live with a larger time budget (INCIDENT_SOURCE_BUDGET).",
        ref=ref,
        fact=f"dependency:{target}",
        role="context",
    )


def endpoint_findings(endpoints: pd.DataFrame, *, ref: str = "") -> list[Finding]:
    """Services with no ready endpoint (high) or some endpoints not ready (medium).

    Terminating endpoints are counted apart (a rollout in progress shows some);
    a Service whose only endpoints are terminating has none ready.
    """
    out: list[Finding] = []
    for _, row in endpoints.sort_values("service", kind="stable").iterrows():
        service = str(row["service"])
        ready, not_ready, ending = int(row["ready"]), int(row["not_ready"]), int(row["terminating"])
        when = _when(row["captured_at"])
        if ready == 0:
            total = not_ready + ending
            seen = (
                f"{not_ready} not ready and {ending} terminating"
                if total
                else "none at all (its selector matches no running pod)"
            )
            out.append(
                Finding(
                    title=shorten(f"Service {service} has no ready endpoint", _TITLE_WIDTH),
                    severity="high",
                    summary=f"Service {md_code(service)} has no ready endpoint: {seen} "
                    f"({when}). Requests to it fail (connection refused, or 503 from a proxy). "
                    "What to do: check its pods' readiness probes and events, and that its "
                    "selector matches the pods' labels.",
                    ref=ref,
                    fact=f"service:{service}",
                    role="mechanism",
                )
            )
        elif not_ready:
            out.append(
                Finding(
                    title=shorten(
                        f"Service {service}: {not_ready} of {ready + not_ready} "
                        "endpoints not ready",
                        _TITLE_WIDTH,
                    ),
                    severity="medium",
                    summary=f"Service {md_code(service)} has {ready} ready and {not_ready} not "
                    f"ready endpoints ({ending} terminating; {when}): its capacity is reduced. "
                    "What to do: look at the not-ready pods' readiness probe failures and events.",
                    ref=ref,
                    fact=f"service:{service}",
                    role="symptom",
                )
            )
    return out


def _target_state(group: pd.DataFrame) -> str:
    """The worst status of one target's checks: failed, unknown, expiring, slow or ok."""
    statuses = set(group["status"].astype(str))
    for state in ("failed", "unknown", "expiring", "slow"):
        if state in statuses:
            return state
    return "ok" if statuses == {"ok"} else "unknown"


def dependencies_verdict(
    checks: pd.DataFrame, endpoints: pd.DataFrame | None = None, *, health_url: str = ""
) -> str:
    """One sentence: which probed endpoints answered, and which Services lack endpoints.

    ``"2 of 4 endpoints failed: https://payments... (failed: refused), ...; 1
    slow"``, ``"all 3 endpoints answered (the slowest: orders-db:5432, TCP 12
    ms)"``; the service's own health endpoint is named as such. An endpoint
    whose checks could not run is "unknown", never counted as answering.
    ``endpoints`` adds the Services with no ready endpoint.

    Parameters
    ----------
    checks
        A ``dependency_checks`` frame.
    endpoints
        A ``k8s_endpoints`` frame, or None when not captured.
    health_url
        The service's own health endpoint.

    Returns
    -------
    str
        The sentence, without a final period; ``"no endpoint was probed"`` for an
        empty frame.
    """
    latest = _latest(checks)
    parts: list[str] = []
    if latest.empty:
        parts.append("no endpoint was probed")
    else:
        states: dict[str, list[str]] = {}
        for target, group in latest.groupby("target", sort=False):
            name = str(target)
            label = (
                f"the service's own health endpoint {name}"
                if _is_health(name, health_url)
                else name
            )
            worst = _target_state(group)
            matching = group[group["status"].astype(str) == worst]
            # a status outside the vocabulary counts as unknown, and has no row of its own
            bad = matching.iloc[0] if worst != "ok" and not matching.empty else None
            states.setdefault(worst, []).append(
                f"{label} ({verdict(bad)})" if bad is not None else label
            )
        total = sum(len(v) for v in states.values())
        answered = sum(len(states.get(k, [])) for k in ("ok", "slow", "expiring"))
        if answered == total:
            timed = latest[latest["latency_ms"].notna()]
            slowest = ""
            if not timed.empty:
                top = timed.sort_values("latency_ms", kind="stable").iloc[-1]
                check = _NAMES.get(str(top["check"]), str(top["check"]))
                took = _latency(float(top["latency_ms"]))
                slowest = f" (the slowest: {top['target']}, {check} {took})"
            every = f"all {total} endpoints" if total > 1 else "the one endpoint probed"
            parts.append(f"{every} answered{slowest}")
        for state, words in (
            ("failed", "failed"),
            ("unknown", "could not be checked (unknown, not healthy)"),
            ("slow", "answered slowly"),
            ("expiring", "present a certificate expiring soon"),
        ):
            found = states.get(state, [])
            if found:
                listed = ", ".join(found[:3])
                listed += f" and {len(found) - 3} more" if len(found) > 3 else ""
                parts.append(f"{len(found)} of {total} endpoints {words}: {listed}")
    if endpoints is not None and not endpoints.empty:
        empty = sorted(str(s) for s in endpoints.loc[endpoints["ready"] == 0, "service"])
        if empty:
            parts.append(
                f"{len(empty)} Service{'s' if len(empty) != 1 else ''} without a ready endpoint: "
                + ", ".join(empty[:5])
                + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
            )
        else:
            parts.append(f"every Service of the namespace has ready endpoints ({len(endpoints)})")
    return "; ".join(parts)
