"""postmortem.yaml: the human parts of the post-mortem, validated strictly."""

from __future__ import annotations

from datetime import date

import pytest

from incident_lib.core.errors import InvalidInput
from incident_lib.core.postmortem import (
    PRIORITIES,
    ActionItem,
    PostmortemInput,
    parse_postmortem,
)

FULL = """\
root_cause: >
  v2.34 leaves the transaction open when a batch flush is aborted.
went_well:
  - The rollback took 3 minutes.
could_improve:
  - Nothing alerted on the connection pool.
action_items:
  - action: Alert when orders-db connections exceed 80 % of max_connections
    owner: alice
    deadline: 2026-12-15
    priority: P2
  - action: Set idle_in_transaction_session_timeout
    priority: P1
lessons:
  - Leaks show in the pool long before the error rate.
"""


def test_a_full_file_parses():
    parsed = parse_postmortem(FULL)
    assert parsed is not None
    assert parsed.root_cause == "v2.34 leaves the transaction open when a batch flush is aborted."
    assert parsed.went_well == ("The rollback took 3 minutes.",)
    assert parsed.could_improve == ("Nothing alerted on the connection pool.",)
    assert parsed.lessons == ("Leaks show in the pool long before the error rate.",)
    first, second = parsed.action_items or ()
    assert first == ActionItem(
        action="Alert when orders-db connections exceed 80 % of max_connections",
        owner="alice",
        deadline=date(2026, 12, 15),
        priority="P2",
    )
    assert second.owner == "" and second.deadline is None and second.priority == "P1"


def test_an_absent_file_is_none_and_an_empty_one_drafts_everything():
    assert parse_postmortem(None) is None
    empty = parse_postmortem("")
    assert empty == PostmortemInput()
    assert empty is not None and empty.root_cause is None and empty.action_items is None


def test_an_empty_list_is_kept_apart_from_a_missing_one():
    parsed = PostmortemInput.from_yaml("went_well: []\naction_items: []\n")
    assert parsed.went_well == ()
    assert parsed.action_items == ()
    assert parsed.could_improve is None


def test_round_trip_through_yaml():
    parsed = PostmortemInput.from_yaml(FULL)
    assert PostmortemInput.from_yaml(parsed.to_yaml()) == parsed


def test_every_problem_is_reported_in_one_message():
    text = """\
root_cause: 3
went_well: The rollback was fast
foo: 1
lessons: ["", ok]
action_items:
  - {action: '', priority: high, deadline: 2026-13-15, extra: 1}
  - 7
  - {action: Fix it, priority: P2, deadline: 2026-12-01T10:00:00Z, owner: [a]}
  - {action: Fix it, priority: P5, deadline: next week}
"""
    with pytest.raises(InvalidInput) as caught:
        parse_postmortem(text)
    message = str(caught.value)
    assert message.startswith("postmortem.yaml: ")
    for expected in (
        "unknown field(s) ['foo']",
        "root_cause must be text, got int",
        "went_well must be a list of texts",
        "lessons[0] is empty",
        "action_items[0]: unknown field(s) ['extra']",
        "action_items[0]: action is required",
        "action_items[0]: priority 'high' is not one of P1, P2, P3, P4",
        "action_items[0]: deadline '2026-13-15' is not a date",
        "action_items[1] must be a mapping",
        "action_items[2]: deadline '2026-12-01T10:00:00Z' is not a date",
        "action_items[2]: owner must be text",
        "action_items[3]: priority 'P5'",
        "action_items[3]: deadline 'next week' is not a date",
    ):
        assert expected in message, expected


@pytest.mark.parametrize(
    "text",
    ["- a list\n- not a mapping\n", "just text\n", "action_items: {action: x}\n"],
)
def test_wrong_shapes_are_refused(text):
    with pytest.raises(InvalidInput, match=r"postmortem\.yaml"):
        parse_postmortem(text)


def test_yaml_syntax_errors_say_where():
    with pytest.raises(InvalidInput, match=r"YAML syntax error at line \d"):
        parse_postmortem("root_cause: [unclosed\nlessons: x\n")


def test_action_items_validate_themselves():
    assert PRIORITIES == ("P1", "P2", "P3", "P4")
    with pytest.raises(InvalidInput, match="priority 'urgent'"):
        ActionItem(action="x", priority="urgent")
    with pytest.raises(InvalidInput, match="action is required"):
        ActionItem(action=" ", priority="P1")
    item = ActionItem(action="x", priority="P4", deadline=date(2026, 1, 2))
    assert item.to_dict() == {
        "action": "x",
        "owner": "",
        "deadline": "2026-01-02",
        "priority": "P4",
    }
