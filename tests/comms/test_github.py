"""comms.github: the post-mortem's action items filed as GitHub issues, once each.

Against the fake REST API of ``github_server`` (the documented request and
response shapes, see tests/data/comms/SOURCES_github.md): the exact requests a
confirmed send makes, none in a dry run, refusals offline and on demo workspaces,
idempotent filing through the hidden markers (twice, partial, two pages, pull
requests ignored), rate limits, failures reported with the draft kept, the
timeline entry, the URLs in ``postmortem.md`` and no token anywhere.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime

import pytest
from github_server import FAKE_TOKEN, Answer, GitHubServer
from records import INCIDENT

from incident_lib.comms.github import (
    API_VERSION,
    FILE_ACTION,
    FOLLOWUP_LABEL,
    GitHub,
    file_action_items,
    item_key,
    marker,
)
from incident_lib.communicating import communicate, message_event, sent_refs
from incident_lib.core.errors import ActionRefused, InvalidInput
from incident_lib.core.postmortem import ActionItem
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import DEMO_MARKER, create_workspace
from incident_lib.report.postmortem import FollowUp, postmortem_markdown

AT = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)
ITEMS = (
    FollowUp(
        ActionItem(action="Alert when orders-db connections exceed 80 % of max", priority="P2"),
        refs=("metrics/db#row=4",),
        draft=True,
    ),
    FollowUp(
        ActionItem(
            action="Review how v2.34 reached production",
            priority="P2",
            owner="alice",
            deadline=date(2026, 12, 15),
        )
    ),
    FollowUp(ActionItem(action="Load-test the connection pool", priority="P3")),
)
LABEL = "incident:INC-2026-0042"


@pytest.fixture
def server():
    with GitHubServer() as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path):
    return create_workspace(INCIDENT, tmp_path / "INC-2026-0042")


def channel(server: GitHubServer, waits: list[float] | None = None, **options) -> GitHub:
    environ = {
        "INCIDENT_GITHUB_TOKEN": server.token,
        "INCIDENT_GITHUB_REPO": f"{server.owner}/{server.repo}",
        "INCIDENT_GITHUB_API": server.api,
    }
    sleeps = [] if waits is None else waits
    options.setdefault("timeout", 2.0)
    made = GitHub.from_environment(environ, sleep=sleeps.append, **options)
    assert made is not None
    return made


def draft(items=ITEMS, repo: str = "acme/api"):
    return file_action_items(INCIDENT, items, repo=repo)


def send(workspace, server, the_draft=None, **options):
    return communicate(
        workspace,
        the_draft or draft(),
        channel(server, **options),
        live=True,
        confirm=True,
        by="alice",
        section="11_postmortem",
        clock=lambda: AT,
    )


def filed_marker(number_of_item: int) -> str:
    return marker("INC-2026-0042", item_key(ITEMS[number_of_item].item.action))


# -- configuration --------------------------------------------------------------------------


def test_not_configured_without_token_or_repo():
    assert GitHub.from_environment({}) is None
    assert GitHub.from_environment({"INCIDENT_GITHUB_TOKEN": FAKE_TOKEN}) is None
    assert GitHub.from_environment({"INCIDENT_GITHUB_REPO": "acme/api"}) is None


def test_defaults_to_github_com_and_takes_an_enterprise_base():
    made = GitHub.from_environment(
        {"INCIDENT_GITHUB_TOKEN": FAKE_TOKEN, "INCIDENT_GITHUB_REPO": "acme/api"}
    )
    assert made is not None and made.api == "https://api.github.com"
    ghes = GitHub.from_environment(
        {
            "INCIDENT_GITHUB_TOKEN": FAKE_TOKEN,
            "INCIDENT_GITHUB_REPO": "acme/api",
            "INCIDENT_GITHUB_API": "https://ghe.example.com/api/v3/",
        }
    )
    assert ghes is not None and ghes.api == "https://ghe.example.com/api/v3"
    call = ghes.calls(draft())[0]
    assert call.url == "https://ghe.example.com/api/v3/repos/acme/api/issues"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INCIDENT_GITHUB_REPO", "acme"),
        ("INCIDENT_GITHUB_REPO", "acme/api/x"),
        ("INCIDENT_GITHUB_REPO", "-acme/api"),
        ("INCIDENT_GITHUB_REPO", "acme/.."),
        ("INCIDENT_GITHUB_API", "ftp://ghe.example.com"),
        ("INCIDENT_GITHUB_API", "http://ghe.example.com/api/v3"),
        ("INCIDENT_GITHUB_API", f"https://x:{FAKE_TOKEN}@ghe.example.com"),
    ],
)
def test_a_malformed_value_is_refused_without_quoting_the_token(name, value):
    environ = {
        "INCIDENT_GITHUB_TOKEN": FAKE_TOKEN,
        "INCIDENT_GITHUB_REPO": "acme/api",
        name: value,
    }
    with pytest.raises(InvalidInput, match=name) as caught:
        GitHub.from_environment(environ)
    assert FAKE_TOKEN not in str(caught.value)


def test_repr_and_the_client_never_show_the_token(server):
    made = channel(server)
    assert FAKE_TOKEN not in repr(made) and FAKE_TOKEN not in repr(made.http)
    assert made.name == "github"


# -- the draft --------------------------------------------------------------------------------


def test_one_issue_per_item_with_labels_and_a_hidden_marker():
    made = draft()
    assert made.channel == "github" and made.action == FILE_ACTION and made.target == "acme/api"
    issues = made.payload["issues"]
    assert [i["title"] for i in issues] == [f.item.action for f in ITEMS]
    assert issues[0]["labels"] == [FOLLOWUP_LABEL, LABEL, "P2"]
    assert issues[2]["labels"] == [FOLLOWUP_LABEL, LABEL, "P3"]
    first, second = issues[0]["body"], issues[1]["body"]
    assert first.rstrip().endswith(f"<!-- incident-runbooks:INC-2026-0042:{issues[0]['key']} -->")
    assert "`metrics/db#row=4`" in first and "Drafted from the evidence" in first
    assert "- Owner: alice" in second and "- Deadline: 2026-12-15" in second
    assert "Drafted" not in second
    assert made.text.startswith("File 3 action items of INC-2026-0042 as GitHub issues in acme/api")
    assert "- [P2] Review how v2.34 reached production (alice, due 2026-12-15)" in made.text


def test_keys_are_stable_and_distinct():
    again = file_action_items(
        "INC-2026-0042",
        [
            ActionItem(
                action="  alert when orders-db connections   exceed 80 % of MAX", priority="P1"
            )
        ],
    )
    assert again.payload["issues"][0]["key"] == draft().payload["issues"][0]["key"]
    twice = file_action_items("INC-2026-0042", [ITEMS[2], ITEMS[2]])
    keys = [i["key"] for i in twice.payload["issues"]]
    assert keys[1] == f"{keys[0]}-2"
    assert len({i["key"] for i in draft().payload["issues"]}) == 3


def test_an_id_that_cannot_be_a_label_is_refused():
    with pytest.raises(InvalidInput, match="cannot go into an issue label"):
        file_action_items("INC 1 -->", ITEMS)


# -- dry run and refusals ----------------------------------------------------------------------


def test_a_dry_run_sends_nothing_and_shows_the_posts_with_the_token_masked(server, workspace):
    done = communicate(workspace, draft(), channel(server), live=True, clock=lambda: AT)

    assert done.dry_run and server.requests == []
    assert done.requests.count("POST http://127.0.0.1") == 3
    assert "Authorization: ***" in done.requests and FAKE_TOKEN not in done.requests
    assert "Review how v2.34 reached production" in done.draft.text
    assert done.kept is None and not (workspace.path / "comms").exists()  # nothing written
    assert TimelineStore(workspace).read() == []


def test_refused_offline_and_on_a_demo_workspace(server, workspace):
    with pytest.raises(ActionRefused, match="offline"):
        communicate(workspace, draft(), channel(server), live=False, confirm=True)
    (workspace.path / DEMO_MARKER).write_text("connection-leak\n")
    with pytest.raises(ActionRefused, match="demo workspace"):
        communicate(workspace, draft(), channel(server), live=True, confirm=True)
    assert server.requests == []
    assert len(list((workspace.path / "comms" / "drafts").iterdir())) == 2


# -- filing -----------------------------------------------------------------------------------


def test_confirmed_it_lists_then_creates_each_issue_exactly(server, workspace):
    done = send(workspace, server)
    sent = done.sent
    assert sent is not None and sent.ok

    listing, *posts = server.requests
    assert listing.method == "GET" and listing.path == "/repos/acme/api/issues"
    assert listing.query == {
        "state": "all",
        "labels": LABEL,
        "sort": "created",
        "direction": "asc",
        "per_page": "100",
    }
    for request in server.requests:
        assert request.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == API_VERSION
    assert [(r.method, r.path) for r in posts] == [("POST", "/repos/acme/api/issues")] * 3
    expected = [
        {"title": i["title"], "body": i["body"], "labels": i["labels"]}
        for i in draft().payload["issues"]
    ]
    assert [r.json() for r in posts] == expected
    assert posts[0].headers["content-type"].startswith("application/json")

    assert sent.detail == "created 3 issues (#1, #2, #3)"
    urls = [f"https://github.com/acme/api/issues/{n}" for n in (1, 2, 3)]
    assert sent.links == tuple(urls)
    keys = [i["key"] for i in draft().payload["issues"]]
    assert dict(sent.refs) == {f"github_issue:{k}": u for k, u in zip(keys, urls, strict=True)}
    assert sent_refs(workspace) == dict(sent.refs)

    event, *each = TimelineStore(workspace).read()
    assert event.source == "people" and event.kind == "message" and event.author == "alice"
    assert event.summary.startswith(
        "github: file action items acme/api by alice: created 3 issues (#1, #2, #3); "
        + " ".join(urls)
    )
    assert event.section == "11_postmortem"
    # one event per issue too: a summary holds only a few URLs
    assert [e.summary for e in each] == [f"github: file action items acme/api: {u}" for u in urls]
    assert {(e.kind, e.author, e.section) for e in each} == {
        ("message_link", "alice", "11_postmortem")
    }


def test_filing_twice_creates_nothing_the_second_time(server, workspace):
    first = send(workspace, server).sent
    server.requests.clear()
    second = send(workspace, server).sent

    assert first is not None and second is not None and second.ok
    assert [r.method for r in server.requests] == ["GET"]
    assert second.detail == "3 already filed (#1, #2, #3)"
    assert second.links == first.links and dict(second.refs) == dict(first.refs)
    assert len(server.issues) == 3


def test_a_partial_earlier_filing_creates_only_the_missing_ones(server, workspace):
    server.add_issue("unrelated", "no marker here", (LABEL,))
    server.add_issue("Review how v2.34 reached production", filed_marker(1), (LABEL,))

    sent = send(workspace, server).sent

    assert sent is not None and sent.ok
    posts = server.writes()
    assert [p.json()["title"] for p in posts] == [ITEMS[0].item.action, ITEMS[2].item.action]
    assert sent.detail == "created 2 issues (#3, #4); 1 already filed (#2)"
    assert sent.links == tuple(f"https://github.com/acme/api/issues/{n}" for n in (3, 2, 4))


def test_closed_issues_count_as_filed(server, workspace):
    for i in range(3):
        server.add_issue(f"done {i}", f"text\n\n{filed_marker(i)}\n", (LABEL,), state="closed")

    sent = send(workspace, server).sent

    assert sent is not None and sent.ok and server.writes() == []
    assert sent.detail == "3 already filed (#1, #2, #3)"


def test_markers_on_the_second_page_are_found(server, workspace):
    for n in range(150):
        server.add_issue(f"older follow-up {n}", "", (LABEL,))
    server.add_issue("Load-test the connection pool", filed_marker(2), (LABEL,))

    sent = send(workspace, server).sent

    reads = server.reads()
    assert len(reads) == 2
    assert reads[1].query["page"] == "2" and reads[1].query["per_page"] == "100"
    assert reads[1].headers["authorization"] == f"Bearer {FAKE_TOKEN}"
    assert sent is not None and sent.ok
    assert [p.json()["title"] for p in server.writes()] == [
        ITEMS[0].item.action,
        ITEMS[1].item.action,
    ]
    assert "1 already filed (#151)" in sent.detail


def test_pull_requests_holding_a_marker_are_ignored(server, workspace):
    server.add_issue("a PR quoting the marker", filed_marker(0), (LABEL,), pull_request=True)

    sent = send(workspace, server).sent

    assert sent is not None and sent.ok
    assert len(server.writes()) == 3 and "already" not in sent.detail
    assert "https://github.com/acme/api/pull/1" not in sent.links


def test_a_next_page_on_another_host_is_not_followed_with_the_token(server, workspace):
    server.script = [
        Answer(
            200, [], (("Link", '<https://evil.example/repos/acme/api/issues?page=2>; rel="next"'),)
        )
    ]

    sent = send(workspace, server).sent

    assert sent is not None and not sent.ok
    assert "another host (evil.example)" in sent.detail and "nothing filed" in sent.detail
    assert len(server.requests) == 1 and server.writes() == []


def test_labels_dropped_for_lack_of_push_access_are_reported(workspace):
    with GitHubServer(push_access=False) as server:
        sent = send(workspace, server).sent
    assert sent is not None and sent.ok
    assert "labels not applied to #1, #2, #3" in sent.detail


def test_an_enterprise_server_under_api_v3(workspace):
    with GitHubServer(prefix="/api/v3", html_base="https://ghe.example.com") as server:
        sent = send(workspace, server).sent
        assert [r.path for r in server.requests] == ["/api/v3/repos/acme/api/issues"] * 4
    assert sent is not None and sent.links[0] == "https://ghe.example.com/acme/api/issues/1"


def test_a_draft_for_another_repository_is_not_filed(server, workspace):
    sent = send(workspace, server, draft(repo="acme/web")).sent
    assert sent is not None and not sent.ok and "drafted for acme/web" in sent.detail
    assert server.requests == []


def test_no_items_files_nothing(server, workspace):
    sent = send(workspace, server, draft(items=())).sent
    assert sent is not None and sent.ok and sent.detail == "nothing to file: no action items"
    assert server.requests == []


# -- rate limits and failures -----------------------------------------------------------------


def test_a_429_is_retried_after_what_retry_after_says(server, workspace):
    waits: list[float] = []
    limited = {"message": "You have exceeded a secondary rate limit."}
    server.script = [Answer(429, limited, (("Retry-After", "7"),))]

    sent = send(workspace, server, waits=waits).sent

    assert sent is not None and sent.ok and waits == [7.0]
    assert [r.method for r in server.requests] == ["GET", "GET", "POST", "POST", "POST"]


def test_a_403_with_no_requests_left_waits_for_the_reset(server, workspace):
    waits: list[float] = []
    reset = str(int(time.time()) + 20)
    headers = (("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", reset))
    server.script = [
        Answer(200, []),  # the listing
        Answer(403, {"message": "API rate limit exceeded"}, headers),
    ]

    sent = send(workspace, server, waits=waits).sent

    assert sent is not None and sent.ok and len(waits) == 1 and 15 <= waits[0] <= 21
    assert len(server.writes()) == 4  # the refused POST, then the three issues


def test_a_reset_beyond_max_wait_is_reported_not_slept(server, workspace):
    waits: list[float] = []
    reset = str(int(time.time()) + 3600)
    headers = (("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", reset))
    server.script = [Answer(403, {"message": "API rate limit exceeded"}, headers)]

    done = send(workspace, server, waits=waits)

    assert waits == []
    assert done.sent is not None and not done.sent.ok
    assert "rate limited" in done.sent.detail and "resets in" in done.sent.detail
    assert (TimelineStore(workspace).read())[0].kind == "message_failed"


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "401 unauthorized"), (403, "403 forbidden"), (404, "404 not found")],
)
def test_a_refused_listing_files_nothing_and_keeps_the_draft(server, workspace, status, words):
    server.script = [Answer(status, {"message": "Bad credentials"})]

    done = send(workspace, server)

    sent = done.sent
    assert sent is not None and not sent.ok
    assert sent.detail.startswith("nothing filed: could not list the issues of acme/api")
    assert words in sent.detail and server.writes() == []
    assert "Review how v2.34 reached production" in done.kept.read_text()
    (event,) = TimelineStore(workspace).read()
    assert event.kind == "message_failed" and words in event.summary


def test_a_failed_creation_stops_and_says_what_was_not_filed(server, workspace):
    server.script = [
        Answer(200, []),
        Answer(422, {"message": "Validation Failed", "errors": [{"code": "invalid"}]}),
    ]

    sent = send(workspace, server).sent

    assert sent is not None and not sent.ok
    assert "failed to create 'Alert when orders-db" in sent.detail
    assert "422 the service refused the content" in sent.detail
    assert sent.detail.endswith("2 not tried") and sent.links == ()


def test_a_5xx_is_retried(server, workspace):
    waits: list[float] = []
    server.script = [Answer(502, {"message": "Server Error"})]

    sent = send(workspace, server, waits=waits).sent

    assert sent is not None and sent.ok and len(waits) == 1


def test_a_create_that_times_out_is_not_sent_again_and_a_new_send_completes(server, workspace):
    # the first issue is created, but its answer never comes
    server.script = [Answer(200, []), Answer(hang=True, apply=True)]

    sent = send(workspace, server, timeout=0.5).sent

    assert sent is not None and not sent.ok
    assert "may or may not have been applied" in sent.detail
    assert len(server.writes()) == 1 and len(server.issues) == 1

    again = send(workspace, server).sent

    assert again is not None and again.ok
    assert again.detail == "created 2 issues (#2, #3); 1 already filed (#1)"
    assert len(server.issues) == 3


# -- secrets ----------------------------------------------------------------------------------


def test_the_token_is_nowhere(server, workspace, caplog):
    caplog.set_level(logging.DEBUG)
    server.script = [Answer(401, {"message": f"Bad credentials {FAKE_TOKEN}"})]

    done = send(workspace, server)
    again = send(workspace, server)

    texts = [
        done.requests,
        done.kept.read_text(),
        again.kept.read_text(),
        repr(done.sent),
        repr(again.sent),
        (workspace.path / "timeline.jsonl").read_text(),
        (workspace.path / "comms" / "state.json").read_text(),
        caplog.text,
    ]
    assert done.sent is not None and "401" in done.sent.detail
    for text in texts:
        assert FAKE_TOKEN not in text
    assert FAKE_TOKEN not in json.dumps(draft().payload)


# -- the post-mortem --------------------------------------------------------------------------


def test_postmortem_lists_the_filed_issue_urls_next_to_the_action_items(server, workspace):
    server.add_issue("Review how v2.34 reached production", filed_marker(1), (LABEL,))
    send(workspace, server)
    events = TimelineStore(workspace).read()

    text = postmortem_markdown(
        incident=INCIDENT,
        events=events,
        diagnosis=None,
        impact=None,
        times=None,
        human=None,
        generated_at=AT,
    )

    actions = text.split("## Action items", 1)[1].split("\n## ", 1)[0]
    assert "Filed as issues (from the timeline):" in actions
    for n in (2, 1, 3):  # in item order: the second item's issue was filed before
        assert f"- [acme/api\\#{n}](https://github.com/acme/api/issues/{n})" in actions
    assert actions.count("](https://github.com/acme/api/issues/") == 3
    shown = [actions.index(f"issues/{n})") for n in (2, 1, 3)]
    assert shown == sorted(shown)


def test_postmortem_ignores_other_messages_and_lists_nothing_without_a_filing():
    other = message_event(
        _sent("slack", "announce", links=("https://github.com/acme/api/issues/9",)), at=AT
    )
    text = postmortem_markdown(
        incident=INCIDENT,
        events=[other],
        diagnosis=None,
        impact=None,
        times=None,
        human=None,
        generated_at=AT,
    )
    assert "Filed as issues" not in text


def _sent(channel_name: str, action: str, links: tuple[str, ...]):
    from incident_lib.comms import Draft, Sent

    return Sent(Draft(channel_name, action, "text"), True, "posted (200)", links=links)
