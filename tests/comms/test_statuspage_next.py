"""open_or_update: the first status-page draft opens the incident, later ones update it."""

from __future__ import annotations

from records import INCIDENT

from incident_lib.comms.statuspage import REF, open_or_update

COMPONENTS = {"api": ("8kbf7d35c070",)}


def test_without_a_known_incident_it_opens_one():
    draft = open_or_update(INCIDENT, "We are investigating.", refs={}, components=COMPONENTS)
    assert (draft.action, draft.target) == ("open incident", "")
    assert draft.payload["incident"]["components"] == {"8kbf7d35c070": "partial_outage"}


def test_with_a_known_incident_it_updates_or_resolves_that_one():
    refs = {REF: "p31zjtct2jer", "slack_ts": "1.2"}
    update = open_or_update(INCIDENT, "A fix is out.", refs=refs, components=COMPONENTS)
    assert (update.action, update.target) == ("status update", "p31zjtct2jer")
    done = open_or_update(INCIDENT, "Resolved.", refs=refs, components=COMPONENTS, resolve=True)
    assert (done.action, done.target) == ("resolve", "p31zjtct2jer")
    assert done.payload["incident"]["status"] == "resolved"
    assert done.payload["incident"]["components"] == {"8kbf7d35c070": "operational"}


def test_resolving_before_it_was_ever_posted_opens_it_resolved():
    draft = open_or_update(INCIDENT, "Resolved.", refs={}, components=COMPONENTS, resolve=True)
    assert draft.action == "open incident"
    assert draft.payload["incident"]["status"] == "resolved"
    assert draft.payload["incident"]["components"] == {"8kbf7d35c070": "operational"}


def test_a_monitoring_update_says_monitoring_whatever_the_record_says():
    refs = {REF: "p31zjtct2jer"}
    draft = open_or_update(
        INCIDENT, "Fix out.", refs=refs, components=COMPONENTS, status="monitoring"
    )
    assert draft.payload["incident"]["status"] == "monitoring"
    assert draft.payload["incident"]["components"] == {"8kbf7d35c070": "degraded_performance"}
