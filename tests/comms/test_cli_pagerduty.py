"""`incident new --from-pagerduty` and `incident sync`: the record's times from the pager's clock.

Against the fake PagerDuty API of ``pagerduty_server`` (its documented shapes),
configured through the environment as a user would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pagerduty_server import TOKEN, PagerDutyApi, incident_json, log_entry, user

from incident_lib.cli import main
from incident_lib.communicating import sent_refs
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import open_workspace


@pytest.fixture
def api(monkeypatch) -> Iterator[PagerDutyApi]:
    with PagerDutyApi() as server:
        server.incidents["PT4KHLK"] = incident_json(status="acknowledged")
        server.logs["PT4KHLK"] = [
            log_entry("trigger_log_entry", "2026-11-03T14:05:00Z"),
            log_entry(
                "acknowledge_log_entry",
                "2026-11-03T14:09:30Z",
                agent=user("PXPGF42", "Earline"),
                n=1,
            ),
        ]
        monkeypatch.setenv("INCIDENT_PAGERDUTY_TOKEN", TOKEN)
        monkeypatch.setenv("INCIDENT_PAGERDUTY_API", server.url)
        monkeypatch.delenv("INCIDENT_PAGERDUTY_FROM", raising=False)
        yield server


def test_new_from_pagerduty_takes_title_times_severity_and_commander(api, tmp_path, capsys):
    folder = tmp_path / "INC-2026-0042"
    code = main(
        [
            "new", "--id", "INC-2026-0042", "--service", "api", "--namespace", "prod",
            "--from-pagerduty", "PT4KHLK", "--workspace", str(folder),
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    ws = open_workspace(folder)
    inc = ws.incident
    assert inc.title == "The server is on fire."
    assert inc.severity == "SEV-2"  # priority P2
    assert inc.times.detected == datetime(2026, 11, 3, 14, 5, tzinfo=UTC)
    assert inc.times.acknowledged == datetime(2026, 11, 3, 14, 9, 30, tzinfo=UTC)
    assert inc.roles.incident_commander == "Earline"
    assert sent_refs(ws) == {"pagerduty_incident": "PT4KHLK"}
    people = [e for e in TimelineStore(folder).read() if e.source == "people"]
    kinds = [(e.kind, e.author) for e in people]
    assert ("acknowledged", "Earline") in kinds and ("detected", "pagerduty") in kinds
    (responders,) = [e.summary for e in people if e.kind == "responders"]
    assert responders == "PagerDuty PT4KHLK: assigned: Earline; asked to respond: Lee Turner"
    assert api.writes() == []  # an import only reads
    assert TOKEN not in capsys.readouterr().err


def test_sync_brings_a_later_resolution_and_adds_each_status_once(api, tmp_path, capsys):
    folder = tmp_path / "INC-2026-0042"
    args = ["--service", "api", "--namespace", "prod", "--workspace", str(folder)]
    assert main(["new", "--id", "INC-2026-0042", "--from-pagerduty", "PT4KHLK", *args]) == 0
    api.incidents["PT4KHLK"] = incident_json(status="resolved")
    api.logs["PT4KHLK"].append(log_entry("resolve_log_entry", "2026-11-03T14:40:00Z", n=2))
    capsys.readouterr()
    assert main(["sync", str(folder)]) == 0  # the remembered incident
    out = capsys.readouterr().out
    assert "times.resolved: unset -> 2026-11-03T14:40:00Z" in out
    inc = open_workspace(folder).incident
    assert inc.status == "resolved" and inc.end == datetime(2026, 11, 3, 14, 40, tzinfo=UTC)
    assert main(["sync", str(folder)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    statuses = [e.kind for e in TimelineStore(folder).read() if e.source == "people"]
    assert sorted(statuses) == ["acknowledged", "detected", "resolved", "responders"]


def test_new_without_title_or_start_asks_for_them_or_the_pager(tmp_path, capsys):
    code = main(["new", "--id", "INC-2026-0042", "--service", "api", "--namespace", "prod"])
    assert code == 2
    assert "--title and --start required (or --from-pagerduty ID" in capsys.readouterr().err


def test_sync_without_a_known_incident_or_token_says_what_to_do(api, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "INC-2026-0042"
    assert main(["new", "--id", "INC-2026-0042", "--title", "t", "--service", "api",
                 "--namespace", "prod", "--start", "2026-11-03T14:00:00Z",
                 "--workspace", str(folder)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["sync", str(folder)]) == 2
    assert "no PagerDuty incident is known" in capsys.readouterr().err
    assert main(["sync", str(folder), "--pagerduty", "PT4/../x"]) == 2
    monkeypatch.delenv("INCIDENT_PAGERDUTY_TOKEN")
    assert main(["sync", str(folder), "--pagerduty", "PT4KHLK"]) == 2
    err = capsys.readouterr().err
    assert "pagerduty is not configured: set INCIDENT_PAGERDUTY_TOKEN" in err
    assert api.requests == []
