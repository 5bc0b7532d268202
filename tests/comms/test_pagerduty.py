"""PagerDuty: drafts, the exact writes on confirm, retries and failures, the import of times.

Real HTTP against the local fake of the REST API v2 (``pagerduty_server.py``),
built from PagerDuty's published API reference.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pagerduty_server import (
    ACCEPT,
    TOKEN,
    Answer,
    PagerDutyApi,
    incident_json,
    log_entry,
    user,
)
from records import INCIDENT

from incident_lib.comms.pagerduty import (
    PAGERDUTY_NOTE_CHARS,
    PagerDuty,
    PagerDutyIncident,
    apply_pagerduty,
    check_pagerduty_id,
    incident_from_pagerduty,
    pagerduty_acknowledge,
    pagerduty_note,
    pagerduty_resolve,
)
from incident_lib.communicating import communicate
from incident_lib.core.errors import ActionRefused, InvalidInput, SourceUnavailable
from incident_lib.core.incident import Incident, Roles
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import DEMO_MARKER, create_workspace

SENDER = "bruno@example.com"
TRIGGERED = "2026-11-03T14:05:00Z"
ACKED = "2026-11-03T14:08:30Z"
RESOLVED = "2026-11-03T14:52:10Z"


class Sleeps(list[float]):
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def api() -> Iterator[PagerDutyApi]:
    with PagerDutyApi() as server:
        server.incidents["PT4KHLK"] = incident_json()
        yield server


@pytest.fixture
def workspace(tmp_path):
    return create_workspace(INCIDENT, tmp_path / "INC-2026-0042")


def channel(api: PagerDutyApi, sleeps: Sleeps | None = None, **options: Any) -> PagerDuty:
    return PagerDuty(
        TOKEN, SENDER, api=api.url, sleep=sleeps if sleeps is not None else Sleeps(), **options
    )


def people(workspace) -> list[Any]:
    return [e for e in TimelineStore(workspace).read() if e.source == "people"]


# -- drafts and the exact requests --------------------------------------------------


def test_drafts_carry_the_documented_bodies_and_no_credentials() -> None:
    ack = pagerduty_acknowledge("PT4KHLK", incident=INCIDENT)
    assert ack.payload == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert ack.target == "PT4KHLK" and "INC-2026-0042" in ack.text
    res = pagerduty_resolve("PT4KHLK", "rolled back to v2.33")
    assert res.payload == {
        "incident": {
            "type": "incident_reference",
            "status": "resolved",
            "resolution": "rolled back to v2.33",
        }
    }
    note = pagerduty_note(
        "PT4KHLK", "pool exhausted", link="https://b.test/INC-2026-0042/", incident=INCIDENT
    )
    content = note.payload["note"]["content"]
    assert content == note.text
    assert "pool exhausted" in content and content.endswith("Bundle: https://b.test/INC-2026-0042/")
    for draft in (ack, res, note):
        assert TOKEN not in repr(draft) and draft.channel == "pagerduty"


def test_a_note_is_cut_to_the_limit() -> None:
    draft = pagerduty_note("PT4KHLK", "x " * PAGERDUTY_NOTE_CHARS)
    assert len(draft.payload["note"]["content"]) == PAGERDUTY_NOTE_CHARS
    assert draft.text.endswith("…")
    with pytest.raises(InvalidInput, match="needs some text"):
        pagerduty_note("PT4KHLK", "  ")


@pytest.mark.parametrize(
    ("draft", "method", "path", "body"),
    [
        (
            pagerduty_acknowledge("PT4KHLK"),
            "PUT",
            "/incidents/PT4KHLK",
            {"incident": {"type": "incident_reference", "status": "acknowledged"}},
        ),
        (
            pagerduty_resolve("PT4KHLK", "fixed"),
            "PUT",
            "/incidents/PT4KHLK",
            {
                "incident": {
                    "type": "incident_reference",
                    "status": "resolved",
                    "resolution": "fixed",
                }
            },
        ),
        (
            pagerduty_note("PT4KHLK", "diagnosis"),
            "POST",
            "/incidents/PT4KHLK/notes",
            {"note": {"content": "diagnosis"}},
        ),
    ],
)
def test_confirm_makes_exactly_the_documented_request(
    api, workspace, draft, method, path, body
) -> None:
    done = communicate(workspace, draft, channel(api), live=True, confirm=True, by="bruno")

    (seen,) = api.requests
    assert (seen.method, seen.path, seen.query) == (method, path, {})
    assert seen.headers["authorization"] == f"Token token={TOKEN}"
    assert seen.headers["accept"] == ACCEPT
    assert seen.headers["from"] == SENDER
    assert seen.headers["content-type"].startswith("application/json")
    assert seen.json() == body
    assert done.sent is not None and done.sent.ok, done.sent
    assert done.sent.refs == {"pagerduty_incident": "PT4KHLK"}
    assert "Token token=***" not in done.requests and "Authorization: ***" in done.requests


def test_acknowledge_and_resolve_say_so_and_link_the_incident(api, workspace) -> None:
    pd = channel(api)
    ack = communicate(workspace, pagerduty_acknowledge("PT4KHLK"), pd, live=True, confirm=True)
    res = communicate(workspace, pagerduty_resolve("PT4KHLK"), pd, live=True, confirm=True)
    assert ack.sent is not None and ack.sent.detail == "acknowledged PT4KHLK (200)"
    assert res.sent is not None and res.sent.detail == "resolved PT4KHLK (200)"
    assert res.sent.links == ("https://subdomain.pagerduty.com/incidents/PT4KHLK",)
    assert api.incidents["PT4KHLK"]["status"] == "resolved"


def test_a_dry_run_makes_no_request_and_shows_the_masked_request(api, workspace) -> None:
    done = communicate(workspace, pagerduty_acknowledge("PT4KHLK"), channel(api), live=True)

    assert api.requests == [] and done.dry_run
    assert done.requests.splitlines()[0] == f"PUT {api.url}/incidents/PT4KHLK"
    assert "Authorization: ***" in done.requests and f"From: {SENDER}" in done.requests
    assert TOKEN not in done.requests
    assert done.kept is None and not (workspace.path / "comms").exists()  # nothing written


def test_confirm_is_refused_offline_and_on_a_demo_workspace(api, workspace) -> None:
    draft = pagerduty_resolve("PT4KHLK", "fixed")
    with pytest.raises(ActionRefused, match="offline"):
        communicate(workspace, draft, channel(api), live=False, confirm=True)
    (workspace.path / DEMO_MARKER).write_text("connection-leak\n")
    with pytest.raises(ActionRefused, match="demo workspace"):
        communicate(workspace, draft, channel(api), live=True, confirm=True)
    assert api.requests == []
    assert people(workspace) == []
    kept = list((workspace.path / "comms" / "drafts").glob("*pagerduty-resolve.md"))
    assert kept and all("Resolution: fixed" in f.read_text() for f in kept)


def test_writes_need_the_sender_email(api, workspace) -> None:
    pd = PagerDuty(TOKEN, api=api.url)
    with pytest.raises(InvalidInput, match="INCIDENT_PAGERDUTY_FROM"):
        communicate(workspace, pagerduty_acknowledge("PT4KHLK"), pd, live=True, confirm=True)
    assert api.requests == []


# -- ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["PT4/KHLK", "../users", "PT4KHLK/notes", "PT4 KHLK", "", "P?x=1"])
def test_an_id_that_is_not_a_pagerduty_id_is_refused_before_any_request(api, bad) -> None:
    pd = channel(api)
    with pytest.raises(InvalidInput, match="not a PagerDuty id"):
        check_pagerduty_id(bad)
    with pytest.raises(InvalidInput, match="not a PagerDuty id"):
        pagerduty_acknowledge(bad)
    with pytest.raises(InvalidInput, match="not a PagerDuty id"):
        pd.fetch_incident(bad)
    from incident_lib.comms import Draft

    forged = Draft("pagerduty", "note", "x", {"note": {"content": "x"}}, bad)
    with pytest.raises(InvalidInput, match="not a PagerDuty id"):
        pd.send(forged)
    assert api.requests == []


# -- failures -------------------------------------------------------------------------------


def test_429_waits_what_ratelimit_reset_says_then_sends(api, workspace) -> None:
    limited = Answer(
        429,
        {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
        (("ratelimit-limit", "960"), ("ratelimit-remaining", "0"), ("ratelimit-reset", "7")),
    )
    api.script = [limited]
    sleeps = Sleeps()
    done = communicate(
        workspace,
        pagerduty_note("PT4KHLK", "diagnosis"),
        channel(api, sleeps),
        live=True,
        confirm=True,
    )
    assert sleeps == [7.0]
    assert len(api.requests) == 2 and done.sent is not None and done.sent.ok
    assert done.sent.replies[0].attempts == 2


def test_a_rate_limit_longer_than_max_wait_is_reported_with_its_reset(api, workspace) -> None:
    api.script = [
        Answer(
            429,
            {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
            (("ratelimit-reset", "600"),),
        )
    ]
    sleeps = Sleeps()
    done = communicate(
        workspace,
        pagerduty_acknowledge("PT4KHLK"),
        channel(api, sleeps),
        live=True,
        confirm=True,
    )
    assert sleeps == [] and done.sent is not None and not done.sent.ok
    assert "resets in 600 s" in done.sent.detail
    (event,) = people(workspace)
    assert event.kind == "message_failed"


@pytest.mark.parametrize(
    ("answer", "expected", "tries"),
    [
        (
            Answer(401, {"error": {"message": "Authentication failed", "code": 2006}}),
            "401 unauthorized",
            1,
        ),
        (Answer(403, {"error": {"message": "Access Denied", "code": 2010}}), "403 forbidden", 1),
        (Answer(503, {"error": {"message": "unavailable", "code": 2000}}), "gave up after 3", 3),
    ],
)
def test_refusals_and_outages_are_reported_and_the_draft_kept(
    api, workspace, answer, expected, tries
) -> None:
    api.script = [answer] * 3
    draft = pagerduty_resolve("PT4KHLK", "rolled back to v2.33")
    done = communicate(
        workspace, draft, channel(api, attempts=3), live=True, confirm=True, by="bruno"
    )
    assert done.sent is not None and not done.sent.ok
    assert done.sent.detail.startswith("resolve PT4KHLK failed: ") and expected in done.sent.detail
    assert len(api.requests) == tries
    assert "rolled back to v2.33" in done.kept.read_text()
    (event,) = people(workspace)
    assert event.kind == "message_failed" and expected in event.summary


def test_a_note_that_timed_out_is_not_posted_twice(api, workspace) -> None:
    api.script = [Answer(hang=True)]
    done = communicate(
        workspace,
        pagerduty_note("PT4KHLK", "diagnosis"),
        channel(api, timeout=0.3),
        live=True,
        confirm=True,
    )
    assert done.sent is not None and not done.sent.ok
    assert "may or may not have been applied" in done.sent.detail
    assert len(api.requests) == 1


def test_an_acknowledge_that_timed_out_is_tried_again(api, workspace) -> None:
    api.script = [Answer(hang=True)]
    done = communicate(
        workspace,
        pagerduty_acknowledge("PT4KHLK"),
        channel(api, timeout=0.3),
        live=True,
        confirm=True,
    )
    assert done.sent is not None and done.sent.ok and len(api.requests) == 2


# -- the timeline and secrets ---------------------------------------------------------------


def test_a_confirmed_send_lands_on_the_timeline(api, workspace) -> None:
    at = datetime(2026, 11, 3, 14, 9, tzinfo=UTC)
    communicate(
        workspace,
        pagerduty_acknowledge("PT4KHLK", incident=INCIDENT),
        channel(api),
        live=True,
        confirm=True,
        by="bruno",
        section="01_triage",
        clock=lambda: at,
    )
    (event,) = people(workspace)
    assert event.kind == "message" and event.time == at and event.author == "bruno"
    assert event.section == "01_triage"
    assert event.summary.startswith("pagerduty: acknowledge PT4KHLK by bruno: acknowledged PT4KHLK")


def test_the_token_is_never_shown(api, workspace, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    pd = channel(api, attempts=2)
    api.script = [Answer(500, {"error": {"message": f"bad token {TOKEN}", "code": 2000}})] * 2
    failed = communicate(workspace, pagerduty_note("PT4KHLK", "x"), pd, live=True, confirm=True)
    api.script = [Answer(401, {"error": {"message": f"token {TOKEN} refused", "code": 2006}})]
    with pytest.raises(SourceUnavailable) as refused:
        pd.fetch_incident("PT4KHLK")
    ok = communicate(workspace, pagerduty_acknowledge("PT4KHLK"), pd, live=True, confirm=True)

    shown = [
        repr(pd),
        repr(pd.http),
        str(refused.value),
        caplog.text,
        json.dumps([e.summary for e in TimelineStore(workspace).read()]),
        (workspace.path / "comms" / "state.json").read_text(),
    ]
    for done in (failed, ok):
        assert done.sent is not None
        shown += [done.sent.detail, done.requests, done.kept.read_text(), repr(done.sent.draft)]
    assert failed.sent is not None and "***" in failed.sent.detail
    for text in shown:
        assert TOKEN not in text


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"INCIDENT_PAGERDUTY_TOKEN": "abc def"}, "spaces or control"),
        ({"INCIDENT_PAGERDUTY_TOKEN": TOKEN, "INCIDENT_PAGERDUTY_FROM": "bruno"}, "email"),
        ({"INCIDENT_PAGERDUTY_TOKEN": TOKEN, "INCIDENT_PAGERDUTY_API": "ftp://x"}, "http"),
    ],
)
def test_malformed_settings_are_refused_without_quoting_the_token(environ, problem) -> None:
    with pytest.raises(InvalidInput, match=problem) as error:
        PagerDuty.from_environment(environ)
    assert "abc def" not in str(error.value) and TOKEN not in str(error.value)


def test_from_environment() -> None:
    assert PagerDuty.from_environment({}) is None
    assert PagerDuty.from_environment({"INCIDENT_PAGERDUTY_FROM": SENDER}) is None
    pd = PagerDuty.from_environment(
        {
            "INCIDENT_PAGERDUTY_TOKEN": f" {TOKEN} ",
            "INCIDENT_PAGERDUTY_FROM": SENDER,
            "INCIDENT_PAGERDUTY_API": "https://pd.example.test/",
        }
    )
    assert pd is not None and pd.name == "pagerduty" and pd.sender == SENDER
    assert pd.api == "https://pd.example.test"
    (call,) = pd.calls(pagerduty_acknowledge("PT4KHLK"))
    assert call.url == "https://pd.example.test/incidents/PT4KHLK"
    assert ("Authorization", f"Token token={TOKEN}") in call.headers
    default = PagerDuty.from_environment({"INCIDENT_PAGERDUTY_TOKEN": TOKEN})
    assert default is not None and default.api == "https://api.pagerduty.com"


# -- import ------------------------------------------------------------------------------------


def _history(api: PagerDutyApi, entries: int = 130) -> None:
    """A history over two pages of 100: trigger, notifies, acknowledge, notes, resolve."""
    ack_by = user("PXPGF42", "Earline")
    logs = [log_entry("trigger_log_entry", TRIGGERED)]
    logs += [
        log_entry("notify_log_entry", f"2026-11-03T14:06:{n % 60:02d}Z", n=n)
        for n in range(entries - 4)
    ]
    logs.append(log_entry("acknowledge_log_entry", ACKED, agent=ack_by))
    logs.append(log_entry("acknowledge_log_entry", "2026-11-03T14:30:00Z", agent=user("P2", "X")))
    logs.append(log_entry("resolve_log_entry", RESOLVED, agent=ack_by))
    logs.reverse()  # newest first, as the web app lists them
    api.logs["PT4KHLK"] = logs
    api.incidents["PT4KHLK"]["status"] = "resolved"


def test_fetch_reads_the_incident_and_every_page_of_log_entries(api) -> None:
    _history(api)
    found = channel(api).fetch_incident("PT4KHLK")

    gets = [r for r in api.requests if r.method == "GET"]
    assert [r.path for r in gets] == ["/incidents/PT4KHLK"] + ["/incidents/PT4KHLK/log_entries"] * 2
    assert [r.query["offset"] for r in gets[1:]] == ["0", "100"]
    assert all(r.query["limit"] == "100" and r.query["is_overview"] == "false" for r in gets[1:])
    assert all(r.headers["accept"] == ACCEPT and "from" not in r.headers for r in gets)
    assert found.log_entries == 130
    assert found.triggered == datetime.fromisoformat(TRIGGERED)
    assert found.acknowledged == datetime.fromisoformat(ACKED)
    assert found.resolved == datetime.fromisoformat(RESOLVED)
    assert found.acknowledged_by == "Earline" and found.commander == "Earline"
    assert (found.title, found.status, found.urgency, found.priority) == (
        "The server is on fire.",
        "resolved",
        "high",
        "P2",
    )
    assert found.service == "My Mail Service" and found.number == 1234
    assert found.html_url == "https://subdomain.pagerduty.com/incidents/PT4KHLK"
    assert found.assignees == ("Earline",) and found.responders == ("Lee Turner",)


def test_times_offsets_are_read_as_utc(api) -> None:
    api.logs["PT4KHLK"] = [log_entry("trigger_log_entry", "2026-11-03T09:05:00-05:00")]
    found = channel(api).fetch_incident("PT4KHLK")
    assert found.triggered == datetime(2026, 11, 3, 14, 5, tzinfo=UTC)
    assert found.acknowledged is None and found.resolved is None


def test_a_reopened_incident_has_no_resolution_time(api) -> None:
    _history(api, entries=10)
    api.incidents["PT4KHLK"]["status"] = "triggered"
    assert channel(api).fetch_incident("PT4KHLK").resolved is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(404, {"error": {"message": "Not Found", "code": 2100}}), "404 not found"),
        (Answer(401, {"error": {"message": "Authentication failed", "code": 2006}}), "401"),
        (Answer(200, {"incidents": []}), "has no incident"),
    ],
)
def test_fetch_failures_raise_source_unavailable_with_the_reason(api, answer, reason) -> None:
    api.script = [answer]
    with pytest.raises(SourceUnavailable, match=reason) as error:
        channel(api).fetch_incident("PT4KHLK")
    assert error.value.source == "pagerduty" and "PT4KHLK" in str(error.value)


def test_fetch_of_an_unknown_incident_is_reported(api) -> None:
    with pytest.raises(SourceUnavailable, match="incident PNOPE: refused: 404"):
        channel(api).fetch_incident("PNOPE")


def test_the_imported_times_are_the_log_entries_and_the_record_validates(api) -> None:
    _history(api)
    found = channel(api).fetch_incident("PT4KHLK")
    record = apply_pagerduty(INCIDENT, found)

    assert record.times.detected == datetime.fromisoformat(TRIGGERED)
    assert record.times.acknowledged == datetime.fromisoformat(ACKED)
    assert record.times.resolved == datetime.fromisoformat(RESOLVED)
    assert record.status == "resolved" and record.end == datetime.fromisoformat(RESOLVED)
    assert record.roles.incident_commander == "Earline"
    assert Incident.from_yaml(record.to_yaml()) == record


def test_a_role_already_held_is_kept(api) -> None:
    _history(api)
    found = channel(api).fetch_incident("PT4KHLK")
    held = INCIDENT.with_changes(roles=Roles(incident_commander="alice", scribe="carol"))
    record = apply_pagerduty(held, found)
    assert record.roles == Roles(incident_commander="alice", scribe="carol")
    assert record.times.acknowledged == datetime.fromisoformat(ACKED)


def test_without_an_acknowledger_the_first_assignee_leads() -> None:
    found = _found(acknowledged_by="", assignees=("Earline", "Lee"))
    assert apply_pagerduty(INCIDENT, found).roles.incident_commander == "Earline"


def test_times_that_contradict_the_record_are_refused_and_say_why() -> None:
    early = _found(triggered=datetime(2026, 11, 3, 13, 0, tzinfo=UTC))
    with pytest.raises(InvalidInput, match=r"cannot import PagerDuty incident PT4KHLK.*window"):
        apply_pagerduty(INCIDENT, early)


def test_a_new_record_starts_at_the_trigger_with_severity_from_priority() -> None:
    found = _found()
    record = incident_from_pagerduty(found, id="INC-2026-0043", service="mail", namespace="prod")
    assert record.severity == "SEV-2" and record.start == found.triggered
    assert record.title == "The server is on fire." and record.status == "investigating"
    assert record.times.acknowledged == found.acknowledged
    with pytest.raises(InvalidInput, match="give the severity"):
        incident_from_pagerduty(
            _found(priority=""), id="INC-2026-0043", service="mail", namespace="prod"
        )
    assert incident_from_pagerduty(found, id="X", service="x", namespace="y", base=INCIDENT) == (
        apply_pagerduty(INCIDENT, found)
    )


def _found(**changes: Any) -> PagerDutyIncident:
    base = PagerDutyIncident(
        id="PT4KHLK",
        number=1234,
        title="The server is on fire.",
        status="acknowledged",
        urgency="high",
        priority="P2",
        service="My Mail Service",
        html_url="https://subdomain.pagerduty.com/incidents/PT4KHLK",
        created_at=datetime(2026, 11, 3, 14, 5, tzinfo=UTC),
        triggered=datetime(2026, 11, 3, 14, 5, tzinfo=UTC),
        acknowledged=datetime(2026, 11, 3, 14, 8, 30, tzinfo=UTC),
        resolved=None,
        acknowledged_by="Earline",
        assignees=("Earline",),
    )
    from dataclasses import replace

    return replace(base, **changes)
