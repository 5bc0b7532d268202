"""Datadog event rows (deploys reported by CI/CD, feature flags, campaigns, notes).

Each event gets a kind (``deploy``, ``rollback``, ``config``, ``event``) and the
service its tags name; a Datadog deploy that reports a listed rollout is dropped
and noted in that rollout's detail.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from ._rows import _DETAIL_CHARS, _cut, _text

if TYPE_CHECKING:
    import pandas as pd

#: Datadog ``source_type`` names (lower case, ``_`` for spaces) of deploy tools
_DEPLOY_SOURCES = frozenset(
    {"deployment", "deployments", "jenkins", "argocd", "argo_cd", "spinnaker", "harness",
     "octopus_deploy", "flux", "fluxcd", "circleci", "azure_devops"}
)  # fmt: skip
#: source control also reports pushes and pull requests: a deploy only by its title or tags
_SCM_SOURCES = frozenset({"github", "gitlab", "bitbucket"})
#: ``source_type`` names of feature-flag and configuration services
_CONFIG_SOURCES = frozenset(
    {"launchdarkly", "split", "optimizely", "flagsmith", "configcat", "unleash", "statsig",
     "growthbook", "consul", "aws_appconfig"}
)  # fmt: skip
#: a tag (key or value) saying the event is a deployment: ``deploy``, ``event_type:deployment``
_DEPLOY_TAGS = frozenset({"deploy", "deploys", "deployment", "deployments"})
_CONFIG_TAGS = frozenset({"feature_flag", "feature-flag", "flag", "config_change"})
_DEPLOY_TITLE = re.compile(r"\b(?:deploy(?:s|ed|ing|ment)?|rolled out|rolling out)\b", re.I)
_ROLLBACK_TITLE = re.compile(r"\b(?:roll(?:ed|ing)?[ -]?back|rollback|revert(?:ed|ing)?)\b", re.I)
_CONFIG_TITLE = re.compile(
    r"\bfeature[ _-]?flag|\bflag\b.*\bturned (?:on|off)\b|\bconfig(?:uration)? (?:change|update)",
    re.I,
)
#: a Datadog deploy event this close to a rollout of the same version is that rollout
_SAME_DEPLOY_S = 5 * 60
_LABEL_CHARS = 80


def _datadog_kind(title: str, tags: list[str], source_type: str) -> str:
    """``deploy``, ``rollback``, ``config`` or ``event`` for one Datadog event."""
    source = re.sub(r"[\s-]+", "_", source_type.strip().lower())
    words = {part.lower() for tag in tags for part in tag.split(":", 1)}
    if source in _CONFIG_SOURCES:
        return "config"
    rollback = bool(_ROLLBACK_TITLE.search(title))
    if (
        source in _DEPLOY_SOURCES
        or words & _DEPLOY_TAGS
        or _DEPLOY_TITLE.search(title)
        or (rollback and source not in _SCM_SOURCES)  # a GitHub 'Revert "..."' is a commit
    ):
        return "rollback" if rollback else "deploy"
    if words & _CONFIG_TAGS or _CONFIG_TITLE.search(title):
        return "config"
    return "event"


#: tags naming the service an event concerns, most specific first
_SERVICE_TAGS = ("service", "kube_deployment", "kube_service")


def _tagged_service(tags: list[str]) -> str:
    """The service a Datadog event's tags name (``service:checkout``), "" when none does.

    ``service`` first, then ``kube_deployment`` and ``kube_service``; several
    values of the first of these keys present are kept, comma-separated.
    """
    for key in _SERVICE_TAGS:
        values = [
            value.strip()
            for name, sep, value in (tag.partition(":") for tag in tags)
            if sep and name.strip().lower() == key and value.strip()
        ]
        if values:
            return ",".join(dict.fromkeys(values))
    return ""


def _datadog_rows(events: pd.DataFrame) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    ordered = events.sort_values("time", kind="stable")
    for time, title_value, text_value, source_value, tags_value in zip(
        ordered["time"],
        ordered["title"],
        ordered["text"],
        ordered["source_type"],
        ordered["tags"],
        strict=True,
    ):
        title, text = _text(title_value).strip(), _text(text_value)
        source = _text(source_value).strip()
        tags = [t.strip() for t in _text(tags_value).split(",") if t.strip()]
        first = text.strip().splitlines()[0].strip() if text.strip() else ",".join(tags)
        rows.append(
            {
                "time": time,
                "kind": _datadog_kind(title, tags, source),
                "source": "datadog",
                "label": _cut(title or first, _LABEL_CHARS),
                "detail": _cut(f"{source}: {first}" if source else first, _DETAIL_CHARS),
                "service": _tagged_service(tags),
                "_match": f"{title},{','.join(tags)}",
            }
        )
    return rows


def _mentions(text: str, version: str) -> bool:
    """Whether ``version`` appears in ``text`` as a whole token (``v2.34`` not in ``v2.341``)."""
    return bool(version and re.search(rf"(?<![\w.-]){re.escape(version)}(?![\w-]|\.\w)", text))


def _same_rollout(
    row: dict[str, object], rollouts: list[dict[str, object]]
) -> dict[str, object] | None:
    """The rollout a Datadog deploy or rollback event reports, if it is listed."""
    if row["kind"] not in ("deploy", "rollback"):
        return None
    moment = cast("pd.Timestamp", row["time"])
    for rollout in rollouts:
        gap = abs((cast("pd.Timestamp", rollout["time"]) - moment).total_seconds())
        version = str(rollout.get("_version") or "")
        if gap <= _SAME_DEPLOY_S and _mentions(str(row["_match"]), version):
            return rollout
    return None


def _without_duplicates(
    rollouts: list[dict[str, object]], datadog: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Datadog rows less the deploys that are a listed rollout; those rollouts note the event."""
    kept = []
    for row in datadog:
        same = _same_rollout(row, rollouts)
        if same is None:
            kept.append(row)
            continue
        note = f"Datadog event: {row['label']}"
        same["detail"] = _cut(
            f"{same['detail']}; {note}" if same["detail"] else note, _DETAIL_CHARS
        )
    return kept
