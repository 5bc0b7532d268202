"""The human parts of the post-mortem (``postmortem.yaml``), validated.

The post-mortem document (:mod:`incident_lib.report.postmortem`) is computed
from the evidence; what only people can say comes from ``postmortem.yaml`` in
the incident workspace::

    root_cause: >
      v2.34 released one pooled connection per aborted request ...
    went_well:
      - The rollback took 3 minutes.
    could_improve:
      - Nothing alerted on the connection pool before users saw errors.
    action_items:
      - action: Alert when orders-db connections exceed 80 % of max_connections
        owner: alice
        deadline: 2026-12-15
        priority: P2
    lessons:
      - Connection leaks show in the pool long before they show in the error rate.

Every key is optional; a part left out is drafted from the evidence in the
document. Priorities are ``P1`` (most urgent) to ``P4``. Reading the file is
the caller's job; :func:`parse_postmortem` takes its text (``None`` when the
file does not exist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .errors import InvalidInput
from .incident import _strict_loader

__all__ = ["PRIORITIES", "ActionItem", "PostmortemInput", "parse_postmortem"]

#: the priorities of an action item, most urgent first
PRIORITIES = ("P1", "P2", "P3", "P4")

_KEYS = ("root_cause", "went_well", "could_improve", "action_items", "lessons")
_ITEM_KEYS = ("action", "owner", "deadline", "priority")
_MAX_TEXT = 5000
_MAX_LINE = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionItem:
    """One follow-up of the incident.

    Parameters
    ----------
    action
        What to do, one sentence.
    priority
        One of :data:`PRIORITIES` (``P1`` most urgent).
    owner
        Who does it (a name or handle; ``""`` when not yet assigned).
    deadline
        When it is due, or ``None``.
    """

    action: str
    priority: str
    owner: str = ""
    deadline: date | None = None

    def __post_init__(self) -> None:
        problems = _item_problems(
            {
                "action": self.action,
                "priority": self.priority,
                "owner": self.owner,
                "deadline": self.deadline,
            },
            "action item",
        )
        if problems:
            raise InvalidInput("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML or JSON (the deadline as ``YYYY-MM-DD`` or ``None``)."""
        return {
            "action": self.action,
            "owner": self.owner,
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "priority": self.priority,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PostmortemInput:
    """What people wrote in ``postmortem.yaml``; a part left out is ``None``.

    ``None`` (not written) and an empty list (written: nothing to say) differ:
    only ``None`` makes the document propose a draft.
    """

    root_cause: str | None = None
    went_well: tuple[str, ...] | None = None
    could_improve: tuple[str, ...] | None = None
    action_items: tuple[ActionItem, ...] | None = None
    lessons: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "postmortem.yaml") -> PostmortemInput:
        """Validate a mapping (as read from YAML); ``None`` counts as an empty file.

        Raises
        ------
        InvalidInput
            One message listing every problem found, prefixed by ``origin``.
        """
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidInput(
                f"{origin}: expected a mapping with {', '.join(_KEYS)}, got {type(data).__name__}"
            )
        problems: list[str] = []
        unknown = sorted(str(k) for k in set(data) - set(_KEYS))
        if unknown:
            problems.append(f"unknown field(s) {unknown}; known: {list(_KEYS)}")
        root_cause = _text(data.get("root_cause"), "root_cause", _MAX_TEXT, problems)
        lists = {
            name: _lines(data.get(name), name, problems)
            for name in ("went_well", "could_improve", "lessons")
        }
        items = _items(data.get("action_items"), problems)
        if problems:
            raise InvalidInput(f"{origin}: " + "; ".join(problems))
        return cls(
            root_cause=root_cause,
            went_well=lists["went_well"],
            could_improve=lists["could_improve"],
            action_items=items,
            lessons=lists["lessons"],
        )

    @classmethod
    def from_yaml(cls, text: str, *, origin: str = "postmortem.yaml") -> PostmortemInput:
        """Parse (PyYAML safe loading) and validate the text of ``postmortem.yaml``.

        Timestamps stay text, so a deadline is checked by its own rule.

        Raises
        ------
        InvalidInput
            YAML syntax error or invalid fields, in one message prefixed by ``origin``.
        """
        import yaml

        try:  # safe loading; dates stay text, checked by the deadline rule
            data = yaml.load(text, Loader=_strict_loader())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise InvalidInput(f"{origin}: YAML syntax error{where}: {problem}") from None
        return cls.from_dict(data, origin=origin)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML, leaving out the parts not written."""
        out: dict[str, Any] = {}
        if self.root_cause is not None:
            out["root_cause"] = self.root_cause
        for name in ("went_well", "could_improve"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value)
        if self.action_items is not None:
            out["action_items"] = [item.to_dict() for item in self.action_items]
        if self.lessons is not None:
            out["lessons"] = list(self.lessons)
        return out

    def to_yaml(self) -> str:
        """The parts written, as ``postmortem.yaml`` text that loads back to the same value."""
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))


def parse_postmortem(
    text: str | None, *, origin: str = "postmortem.yaml"
) -> PostmortemInput | None:
    """``postmortem.yaml`` text -> :class:`PostmortemInput`; ``None`` (no file) -> ``None``.

    Raises
    ------
    InvalidInput
        As :meth:`PostmortemInput.from_yaml`.
    """
    if text is None:
        return None
    return PostmortemInput.from_yaml(text, origin=origin)


# -- checks ---------------------------------------------------------------------------------


def _text(value: Any, name: str, limit: int, problems: list[str]) -> str | None:
    """A non-empty text field, or ``None`` when absent; a problem otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{name} must be text, got {type(value).__name__}")
        return None
    text = value.strip()
    if not text:
        problems.append(f"{name} is empty: write it, or leave the field out for a draft")
        return None
    if len(text) > limit:
        problems.append(f"{name} is {len(text)} characters long; keep it under {limit}")
        return None
    return text


def _lines(value: Any, name: str, problems: list[str]) -> tuple[str, ...] | None:
    """A list of texts, or ``None`` when absent."""
    if value is None:
        return None
    if not isinstance(value, list):
        problems.append(
            f"{name} must be a list of texts (one '- ' line each), got {type(value).__name__}"
        )
        return None
    out = []
    for i, entry in enumerate(value):
        text = _text(entry, f"{name}[{i}]", _MAX_LINE, problems)
        if text is not None:
            out.append(text)
    return tuple(out)


def _items(value: Any, problems: list[str]) -> tuple[ActionItem, ...] | None:
    """The action items, or ``None`` when absent."""
    if value is None:
        return None
    if not isinstance(value, list):
        problems.append(
            f"action_items must be a list of {{action, owner, deadline, priority}}, "
            f"got {type(value).__name__}"
        )
        return None
    out = []
    for i, entry in enumerate(value):
        where = f"action_items[{i}]"
        if not isinstance(entry, dict):
            problems.append(
                f"{where} must be a mapping with {', '.join(_ITEM_KEYS)}, "
                f"got {type(entry).__name__}"
            )
            continue
        found = _item_problems(entry, where)
        if found:
            problems.extend(found)
            continue
        out.append(
            ActionItem(
                action=entry["action"].strip(),
                priority=entry["priority"],
                owner=(entry.get("owner") or "").strip(),
                deadline=_deadline(entry.get("deadline")),
            )
        )
    return tuple(out)


def _item_problems(entry: dict[Any, Any], where: str) -> list[str]:
    """Everything wrong with one action item (as plain data)."""
    problems = []
    unknown = sorted(str(k) for k in set(entry) - set(_ITEM_KEYS))
    if unknown:
        problems.append(f"{where}: unknown field(s) {unknown}; known: {list(_ITEM_KEYS)}")
    action = entry.get("action")
    if not isinstance(action, str) or not action.strip():
        problems.append(f"{where}: action is required (one sentence: what to do)")
    elif len(action) > _MAX_LINE:
        problems.append(f"{where}: action is {len(action)} characters long; keep it under 1000")
    owner = entry.get("owner")
    if owner is not None and not isinstance(owner, str):
        problems.append(f"{where}: owner must be text (a name or handle)")
    priority = entry.get("priority")
    if priority not in PRIORITIES:
        problems.append(
            f"{where}: priority {priority!r} is not one of {', '.join(PRIORITIES)} (P1 most urgent)"
        )
    try:
        _deadline(entry.get("deadline"))
    except InvalidInput as exc:
        problems.append(f"{where}: {exc}")
    return problems


def _deadline(value: Any) -> date | None:
    """A deadline: a ``date`` or ``YYYY-MM-DD`` text; ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, datetime):
        raise InvalidInput(f"deadline {value} is a time: give a date such as 2026-12-15")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(f"deadline {value!r} is not a date: write it like 2026-12-15")
