"""Statuspage: the documented requests on confirm only, the incident id kept, failures clear.

Against :mod:`statuspage_server` (a fake of the Statuspage REST API v1, page
``gytm4qzbx9t6`` with components ``8kbf7d35c070`` API and ``vtnh60py4yd7`` Website).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from incident_records import sample_incident
from statuspage_server import API_KEY, PAGE_ID, Answer, StatuspageServer

from incident_lib.comms import Draft
from incident_lib.comms.statuspage import (
    ENV_API,
    ENV_COMPONENTS,
    ENV_KEY,
    ENV_PAGE,
    REF,
    Statuspage,
    cadence_text,
    component_map,
    component_status,
    next_update_due,
    open_incident,
    parse_components,
    resolve_incident,
    status_update,
)
from incident_lib.communicating import communicate, sent_refs
from incident_lib.core.errors import ActionRefused, InvalidInput
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import DEMO_MARKER, create_workspace

INCIDENT = sample_incident(
    end=None, title="Checkout requests failing", start=datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
)
BODY = "**Investigating** — Checkout requests failing\n\nSome checkout requests fail."
MAPPING = "api=8kbf7d35c070,web=vtnh60py4yd7"
AT = datetime(2026, 11, 3, 14, 22, tzinfo=UTC)


class Sleeps(list[float]):
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with StatuspageServer() as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path):
    return create_workspace(INCIDENT, tmp_path / "INC-2026-0042")


@pytest.fixture
def sleeps():
    return Sleeps()


def environ(server: StatuspageServer, **extra: str) -> dict[str, str]:
    env = {ENV_KEY: API_KEY, ENV_PAGE: PAGE_ID, ENV_API: server.api, ENV_COMPONENTS: MAPPING}
    return {**env, **extra}


def channel(server: StatuspageServer, sleeps: Sleeps, **extra: str) -> Statuspage:
    made = Statuspage.from_environment(
        environ(server, **extra), sleep=sleeps, timeout=0.5, max_wait=10.0
    )
    assert made is not None
    return made


def send(
    workspace,
    draft: Draft,
    sp: Statuspage,
    *,
    confirm: bool = True,
    live: bool = True,
    at: datetime = AT,
):
    return communicate(
        workspace,
        draft,
        sp,
        live=live,
        confirm=confirm,
        by="carol",
        section="02_assess",
        clock=lambda: at,
    )


def opening() -> Draft:
    return open_incident(INCIDENT, BODY, components=parse_components(MAPPING))


# -- configuration ------------------------------------------------------------------
def test_not_configured_without_both_key_and_page():
    assert Statuspage.from_environment({}) is None
    assert Statuspage.from_environment({ENV_KEY: API_KEY}) is None
    assert Statuspage.from_environment({ENV_PAGE: PAGE_ID}) is None
    made = Statuspage.from_environment({ENV_KEY: API_KEY, ENV_PAGE: PAGE_ID})
    assert made is not None and made.api == "https://api.statuspage.io/v1"
    assert made.name == "statuspage" and made.components == {}


def test_malformed_values_are_refused_and_the_key_never_quoted():
    bad_key = "not a key\nsecret-part-0123"
    with pytest.raises(InvalidInput, match=ENV_KEY) as caught:
        Statuspage.from_environment({ENV_KEY: bad_key, ENV_PAGE: PAGE_ID})
    assert "secret-part" not in str(caught.value)
    with pytest.raises(InvalidInput, match=ENV_PAGE):
        Statuspage.from_environment({ENV_KEY: API_KEY, ENV_PAGE: "../pages"})
    with pytest.raises(InvalidInput, match=ENV_API):
        Statuspage.from_environment({ENV_KEY: API_KEY, ENV_PAGE: PAGE_ID, ENV_API: "ftp://x"})


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("api", "is not service=component_id"),
        ("api=", "is not service=component_id"),
        ("=8kbf7d35c070", "is not service=component_id"),
        ("API=8kbf7d35c070", "is not a service name"),
        ("api=8kbf/../x", "is not a Statuspage component id"),
    ],
)
def test_a_malformed_component_mapping_is_refused_with_the_shape_expected(value, says):
    with pytest.raises(InvalidInput, match=says) as caught:
        component_map({ENV_COMPONENTS: value})
    assert ENV_COMPONENTS in str(caught.value)
    with pytest.raises(InvalidInput, match=says):
        Statuspage.from_environment({ENV_KEY: API_KEY, ENV_PAGE: PAGE_ID, ENV_COMPONENTS: value})


def test_component_mapping_shape():
    assert parse_components("") == {}
    assert parse_components(" api=a1b2c3d4e5f6 , api=b1 ,web=c1,api=b1") == {
        "api": ("a1b2c3d4e5f6", "b1"),
        "web": ("c1",),
    }


# -- what the record means on the page ----------------------------------------------------
@pytest.mark.parametrize(
    ("severity", "status", "shown"),
    [
        ("SEV-1", "investigating", "major_outage"),
        ("SEV-2", "identified", "partial_outage"),
        ("SEV-3", "investigating", "degraded_performance"),
        ("SEV-4", "identified", "degraded_performance"),
        ("SEV-1", "monitoring", "degraded_performance"),
        ("SEV-1", "resolved", "operational"),
    ],
)
def test_component_status_follows_severity_and_status(severity, status, shown):
    assert component_status(severity, status) == shown


def test_the_open_draft_is_the_documented_body():
    draft = opening()
    assert draft.channel == "statuspage" and draft.action == "open incident"
    assert draft.target == ""
    assert draft.payload == {
        "incident": {
            "name": "Checkout requests failing",
            "status": "investigating",
            "body": BODY,
            "component_ids": ["8kbf7d35c070"],
            "components": {"8kbf7d35c070": "partial_outage"},
            "deliver_notifications": True,
        }
    }
    first = draft.text.splitlines()[0]
    assert first == "Status page (open incident): Checkout requests failing — investigating"
    assert "api (8kbf7d35c070) -> partial_outage" in draft.text
    assert BODY in draft.text


def test_a_service_without_a_component_affects_none_and_says_so():
    draft = open_incident(INCIDENT, BODY, components=parse_components("web=vtnh60py4yd7"))
    assert draft.payload["incident"]["component_ids"] == []
    assert draft.payload["incident"]["components"] == {}
    assert "No status-page component is mapped to service 'api'" in draft.text
    assert "changes no component" in draft.text
    # no mapping at all: the same
    assert open_incident(INCIDENT, BODY).payload["incident"]["component_ids"] == []


def test_a_named_service_without_a_component_is_refused_clearly():
    with pytest.raises(InvalidInput) as caught:
        open_incident(INCIDENT, BODY, components=parse_components(MAPPING), services=["db"])
    message = str(caught.value)
    assert "'db'" in message and ENV_COMPONENTS in message and "api, web" in message
    both = open_incident(INCIDENT, BODY, components=parse_components(MAPPING), services=["web"])
    assert both.payload["incident"]["component_ids"] == ["8kbf7d35c070", "vtnh60py4yd7"]


def test_unknown_statuses_and_empty_drafts_are_refused():
    components = parse_components(MAPPING)
    with pytest.raises(InvalidInput, match="component status 'down'"):
        open_incident(INCIDENT, BODY, components=components, component="down")
    with pytest.raises(InvalidInput, match="status 'fixed'"):
        open_incident(INCIDENT, BODY, status="fixed")
    with pytest.raises(InvalidInput, match="needs a body"):
        open_incident(INCIDENT, "  ")
    with pytest.raises(InvalidInput, match="open one first"):
        status_update(INCIDENT, BODY, incident_id="")
    with pytest.raises(InvalidInput, match="not a Statuspage incident id"):
        status_update(INCIDENT, BODY, incident_id="../../pages")


# -- sending ----------------------------------------------------------------------------
def test_dry_run_shows_the_request_and_sends_nothing(server, workspace, sleeps):
    done = send(workspace, opening(), channel(server, sleeps), confirm=False)
    assert done.dry_run and server.requests == []
    assert done.requests.splitlines()[:4] == [
        f"POST {server.api}/pages/{PAGE_ID}/incidents",
        "Authorization: ***",
        "Accept: application/json",
        "Content-Type: application/json",
    ]
    assert API_KEY not in done.requests
    assert done.kept is None and not (workspace.path / "comms").exists()  # nothing written
    assert TimelineStore(workspace).read() == []


def test_confirmed_open_makes_exactly_the_documented_request(server, workspace, sleeps):
    done = send(workspace, opening(), channel(server, sleeps))

    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == f"/v1/pages/{PAGE_ID}/incidents"
    assert request.headers["authorization"] == f"OAuth {API_KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == opening().payload
    sent = done.sent
    assert sent is not None and sent.ok
    assert sent.refs == {REF: "p31zjtct0001"}
    assert sent.links == ("https://stspg.io/t0001",)
    assert sent.detail == "opened status page incident p31zjtct0001 (201, investigating)"
    assert sent_refs(workspace) == {REF: "p31zjtct0001"}
    on_page = server.incidents["p31zjtct0001"]
    assert on_page["impact"] == "major"
    assert [c["status"] for c in on_page["components"]] == ["partial_outage"]


def test_create_then_update_and_resolve_use_the_created_id(server, workspace, sleeps):
    sp = channel(server, sleeps)
    components = component_map(environ(server))
    send(workspace, opening(), sp)

    record = INCIDENT
    update = status_update(
        record,
        "A fix has been applied and we are monitoring the results.",
        incident_id=sent_refs(workspace)[REF],
        components=components,
        status="monitoring",
    )
    assert update.target == "p31zjtct0001"
    done = send(workspace, update, sp)
    resolved = resolve_incident(
        record,
        "The issue is resolved.",
        incident_id=sent_refs(workspace)[REF],
        components=components,
    )
    final = send(workspace, resolved, sp)

    _, second, third = server.requests
    assert (second.method, second.path) == ("PATCH", f"/v1/pages/{PAGE_ID}/incidents/p31zjtct0001")
    assert second.json()["incident"]["status"] == "monitoring"
    assert second.json()["incident"]["components"] == {"8kbf7d35c070": "degraded_performance"}
    assert (third.method, third.path) == ("PATCH", f"/v1/pages/{PAGE_ID}/incidents/p31zjtct0001")
    assert third.json()["incident"]["status"] == "resolved"
    assert third.json()["incident"]["components"] == {"8kbf7d35c070": "operational"}
    assert done.sent is not None and done.sent.ok
    assert final.sent is not None and final.sent.ok
    assert final.sent.detail == "resolved status page incident p31zjtct0001 (200, resolved)"
    on_page = server.incidents["p31zjtct0001"]
    assert on_page["status"] == "resolved" and on_page["impact"] == "none"
    assert len(on_page["incident_updates"]) == 3
    assert len(server.incidents) == 1


def test_refused_offline_and_on_a_demo_workspace(server, workspace, sleeps):
    sp = channel(server, sleeps)
    with pytest.raises(ActionRefused, match="offline") as caught:
        send(workspace, opening(), sp, live=False)
    assert "comms/drafts/" in str(caught.value)
    (workspace.path / DEMO_MARKER).write_text("connection-leak\n")
    with pytest.raises(ActionRefused, match="demo workspace"):
        send(workspace, opening(), sp, at=AT + timedelta(seconds=1))
    assert server.requests == []
    kept = sorted((workspace.path / "comms" / "drafts").iterdir())
    assert len(kept) == 2 and all(BODY.splitlines()[-1] in k.read_text() for k in kept)
    assert TimelineStore(workspace).read() == []


def test_429_is_retried_after_the_wait_the_page_asks(server, workspace, sleeps):
    server.script = [Answer(429, {"message": "Rate limit exceeded"}, (("Retry-After", "2"),))]
    done = send(workspace, opening(), channel(server, sleeps))
    assert sleeps == [2.0]
    assert len(server.requests) == 2
    assert done.sent is not None and done.sent.ok and done.sent.refs == {REF: "p31zjtct0001"}
    assert len(server.incidents) == 1


def test_a_rate_limit_longer_than_max_wait_is_reported_with_its_reset(server, workspace, sleeps):
    server.script = [Answer(429, {"message": "Rate limit exceeded"}, (("Retry-After", "60"),))]
    done = send(workspace, opening(), channel(server, sleeps))
    assert sleeps == [] and len(server.requests) == 1
    assert done.sent is not None and not done.sent.ok
    assert "429 rate limited" in done.sent.detail and "resets in 60 s" in done.sent.detail


@pytest.mark.parametrize(
    ("script", "says", "tries"),
    [
        ([Answer(403, {"message": "Forbidden"})], "403 forbidden", 1),
        ([Answer(500, {"message": "oops"})] * 4, "gave up after 4 attempts: 500", 4),
        ([Answer(hang=True)], "may or may not have been applied", 1),
    ],
)
def test_failures_are_reported_clearly_and_the_draft_kept(
    server, workspace, sleeps, script, says, tries
):
    server.script = list(script)
    done = send(workspace, opening(), channel(server, sleeps))
    assert done.sent is not None and not done.sent.ok
    assert says in done.sent.detail and done.sent.detail.startswith("not sent: ")
    assert len(server.requests) == tries
    assert done.sent.refs == {} and sent_refs(workspace) == {}
    assert BODY.splitlines()[-1] in done.kept.read_text()
    (event,) = TimelineStore(workspace).read()
    assert event.kind == "message_failed" and says in event.summary


def test_a_refused_key_is_a_clear_401(server, workspace, sleeps):
    wrong = "0" * 64
    done = send(workspace, opening(), channel(server, sleeps, **{ENV_KEY: wrong}))
    assert done.sent is not None and not done.sent.ok
    assert "401 unauthorized: the token was refused" in done.sent.detail
    assert "Could not authenticate" in done.sent.detail
    assert wrong not in done.sent.detail and wrong not in repr(done.sent)


def test_a_component_the_page_does_not_have_is_refused_by_the_page(server, workspace, sleeps):
    components = parse_components("api=zzzz00000000")
    draft = open_incident(INCIDENT, BODY, components=components)
    done = send(workspace, draft, channel(server, sleeps, **{ENV_COMPONENTS: "api=zzzz00000000"}))
    assert done.sent is not None and not done.sent.ok
    assert "422 the service refused the content" in done.sent.detail
    assert "zzzz00000000" in done.sent.detail


def test_the_confirmed_send_is_on_the_timeline(server, workspace, sleeps):
    send(workspace, opening(), channel(server, sleeps))
    (event,) = TimelineStore(workspace).read()
    assert event.source == "people" and event.kind == "message"
    assert event.author == "carol" and event.section == "02_assess"
    assert event.time == AT
    assert event.summary.startswith(
        "statuspage: open incident by carol: opened status page incident p31zjtct0001"
    )
    assert "https://stspg.io/t0001" in event.summary
    assert "Checkout requests failing — investigating" in event.summary


def test_no_secret_anywhere(server, workspace, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    sp = channel(server, sleeps)
    server.script = [Answer(500, {"message": f"echo OAuth {API_KEY}"})]
    done = send(workspace, opening(), sp)
    assert done.sent is not None and done.sent.ok
    update = status_update(INCIDENT, BODY, incident_id=sent_refs(workspace)[REF])
    dry = send(workspace, update, sp, confirm=False)

    shown = [
        repr(sp),
        repr(sp.http),
        done.sent.detail,
        repr(done.sent),
        done.requests,
        dry.requests,
        caplog.text,
    ]
    files = [p.read_text() for p in workspace.path.rglob("*") if p.is_file()]
    for text in shown + files:
        assert API_KEY not in text
    assert "***" in caplog.text  # the echoed key was masked in the retry's log line
    assert json.loads((workspace.path / "comms" / "state.json").read_text())["refs"] == {
        REF: "p31zjtct0001"
    }


def test_calls_refuse_drafts_of_other_shapes(server, sleeps):
    sp = channel(server, sleeps)
    with pytest.raises(InvalidInput, match="not a Statuspage draft"):
        sp.calls(Draft("slack", "announce", "hello"))
    with pytest.raises(InvalidInput, match="not 'announce'"):
        sp.calls(Draft("statuspage", "announce", "hello", {"incident": {}}))
    with pytest.raises(InvalidInput, match="open one first"):
        sp.calls(Draft("statuspage", "status update", "hello", {"incident": {}}))


# -- cadence ------------------------------------------------------------------------
def test_next_update_due_follows_the_severity_cadence():
    sent = datetime(2026, 11, 3, 14, 22, 40, tzinfo=UTC)
    now = sent + timedelta(minutes=3)
    assert next_update_due("SEV-1", sent, now) == datetime(2026, 11, 3, 14, 52, tzinfo=UTC)
    assert next_update_due("sev2", sent, now) == datetime(2026, 11, 3, 14, 52, tzinfo=UTC)
    assert next_update_due("SEV-3", sent, now) == datetime(2026, 11, 3, 15, 22, tzinfo=UTC)
    assert next_update_due("SEV-4", sent, now) == datetime(2026, 11, 3, 18, 22, tzinfo=UTC)
    assert next_update_due("SEV-2", None, now) == now
    with pytest.raises(InvalidInput):
        next_update_due("SEV-9", sent, now)


@pytest.mark.parametrize(
    ("severity", "now", "words"),
    [
        ("SEV-2", "14:40:00", "next update due by 14:52 UTC (in 12 min)"),
        ("SEV-2", "14:40:30", "next update due by 14:52 UTC (in 12 min)"),
        ("SEV-2", "14:51:30", "next update due now (14:52 UTC)"),
        ("SEV-2", "14:57:00", "next update overdue by 5 min (it was due by 14:52 UTC)"),
        ("SEV-2", "16:00:00", "next update overdue by 1 h 08 min (it was due by 14:52 UTC)"),
        ("SEV-4", "14:30:00", "next update due by 18:22 UTC (in 3 h 52 min)"),
    ],
)
def test_cadence_in_words(severity, now, words):
    sent = datetime(2026, 11, 3, 14, 22, 10, tzinfo=UTC)
    at = datetime.combine(sent.date(), datetime.strptime(now, "%H:%M:%S").time(), UTC)
    assert cadence_text(severity, sent, at) == words


def test_cadence_before_the_first_update():
    assert cadence_text("SEV-1", None, AT) == (
        "no status-page update sent yet: the first one is due now"
    )
