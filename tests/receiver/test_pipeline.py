"""The receiver's pipeline: one incident per alert group, status recorded, bundle, message back.

The notebooks' run is injected (a recorder returning a RunResult with a story
built from the connection-leak demo, or one that fails), so these tests check
the pipeline's decisions; test_receiver_end_to_end runs real notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incident_lib.core.errors import IncidentError, InvalidInput
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import open_workspace
from incident_lib.receiver.alerts import Notice, PayloadRejected
from incident_lib.receiver.pipeline import AUTHOR, Pipeline, message_for
from incident_lib.receiver.routing import ReceiverConfig, Route, incident_for
from incident_lib.report.bundle import RunResult

STARTS = datetime(2026, 11, 3, 14, 18, tzinfo=UTC)
NOW = datetime(2026, 11, 3, 14, 30, tzinfo=UTC)


def notice(
    status: str = "firing",
    *,
    key: str = 'alertmanager:{}:{alertname="HighErrorRate"}',
    labels: dict[str, str] | None = None,
    delivery: str = "d1",
    source: str = "alertmanager",
    ends_at: datetime | None = None,
) -> Notice:
    return Notice(
        source=source,  # type: ignore[arg-type]
        key=key,
        delivery=delivery,
        status=status,  # type: ignore[arg-type]
        name="HighErrorRate",
        labels={"service": "api", "namespace": "prod", "severity": "critical"}
        if labels is None
        else labels,
        severity="critical",
        starts_at=STARTS,
        ends_at=ends_at,
        summary="5xx share above 5 %",
        url="http://prometheus/graph",
        alerts=1,
    )


@dataclass
class Runs:
    """A fake ``run_bundle``: records its calls, answers a RunResult (or raises)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    refuse: str = ""

    def __call__(self, workspace: Any, **options: Any) -> RunResult:
        self.calls.append({"workspace": workspace.path, **options})
        if self.refuse:
            raise InvalidInput(self.refuse)
        run_dir = workspace.path / "runs" / f"run{len(self.calls)}"
        run_dir.mkdir(parents=True)
        from incident_lib.report.execute import NotebookResult

        result = NotebookResult(
            name="01_triage",
            status="ok" if self.ok else "failed",  # type: ignore[arg-type]
            seconds=1.0,
            output=run_dir / "01_triage.ipynb",
        )
        return RunResult(
            run_id=run_dir.name,
            run_dir=run_dir,
            index=run_dir / "index.html",
            results=(result,),
            findings=(),
            seconds=1.0,
        )


@dataclass
class Outbox:
    sent: list[Any] = field(default_factory=list)

    def __call__(self, message: Any) -> list[Any]:
        self.sent.append(message)
        return []


def pipeline(tmp_path: Path, runs: Runs, outbox: Outbox | None = None, **config: Any) -> Pipeline:
    return Pipeline(
        ReceiverConfig(**config),
        tmp_path / "incidents",
        notify=outbox,
        run=runs,
        clock=lambda: NOW,
    )


def test_the_first_notice_opens_the_incident_and_runs_its_notebooks_live(tmp_path):
    runs, outbox = Runs(), Outbox()
    routes = (Route(alert="HighErrorRate", notebooks=("01_triage", "05_metrics")),)
    handled = pipeline(tmp_path, runs, outbox, routes=routes).handle(notice())
    assert handled.ok and handled.plan.route.startswith("alert HighErrorRate")
    ws = open_workspace(handled.workspace)
    assert handled.workspace.name == handled.plan.incident_id
    assert (ws.incident.service, ws.incident.namespace, ws.incident.severity) == (
        "api",
        "prod",
        "SEV-1",
    )
    assert ws.incident.window.start == STARTS - timedelta(minutes=15)
    assert ws.incident.times.detected == STARTS
    (call,) = runs.calls
    assert call["mode"] == "live" and call["notebooks"] == ["01_triage", "05_metrics"]
    (message,) = outbox.sent
    assert message.incident_id == handled.plan.incident_id and message.status == "firing"
    assert message.link.endswith("runs/run1/index.html")


def test_a_redelivery_or_a_later_notice_of_the_group_is_the_same_incident(tmp_path):
    runs = Runs()
    p = pipeline(tmp_path, runs)
    first = p.handle(notice())
    again = p.handle(notice(delivery="d2", labels={"service": "api", "namespace": "prod"}))
    assert first.workspace == again.workspace
    assert len(list((tmp_path / "incidents").iterdir())) == 1
    other = p.handle(notice(key='alertmanager:{}:{alertname="Other"}'))
    assert other.workspace != first.workspace


def test_no_notebook_named_runs_the_whole_set(tmp_path):
    runs = Runs()
    pipeline(tmp_path, runs).handle(notice())
    assert runs.calls[0]["notebooks"] is None


def test_acknowledged_records_the_time_and_runs_nothing(tmp_path):
    runs, outbox = Runs(), Outbox()
    p = pipeline(tmp_path, runs, outbox)
    p.handle(notice())
    handled = p.handle(notice("acknowledged", delivery="d2"))
    assert len(runs.calls) == 1 and handled.run is None and handled.ok
    ws = open_workspace(handled.workspace)
    assert ws.incident.times.acknowledged == NOW
    kinds = [(e.kind, e.author) for e in TimelineStore(ws).read() if e.source == "people"]
    assert ("acknowledged", AUTHOR) in kinds
    assert outbox.sent[-1].status == "acknowledged"


def test_resolved_records_the_end_and_runs_the_verification(tmp_path):
    runs = Runs()
    p = pipeline(tmp_path, runs)
    p.handle(notice())
    ended = STARTS + timedelta(minutes=20)
    handled = p.handle(notice("resolved", delivery="d3", ends_at=ended))
    ws = open_workspace(handled.workspace)
    assert ws.incident.times.resolved == ended and ws.incident.status == "resolved"
    assert runs.calls[-1]["notebooks"] == ["10_verify"]
    # delivered again: recorded once
    p.handle(notice("resolved", delivery="d4", ends_at=ended + timedelta(minutes=5)))
    assert open_workspace(handled.workspace).incident.times.resolved == ended


def test_a_refused_run_is_said_in_the_message_and_counted_as_a_failure(tmp_path):
    runs, outbox = Runs(refuse="another live run of this workspace is in progress"), Outbox()
    p = pipeline(tmp_path, runs, outbox)
    handled = p.handle(notice())
    assert not handled.ok and "another live run" in handled.problem
    assert outbox.sent[0].headline.startswith("No bundle: another live run")
    with pytest.raises(IncidentError, match="another live run"):
        p(notice(delivery="d9"))
    failing = pipeline(tmp_path / "b", Runs(ok=False))
    with pytest.raises(IncidentError, match="notebooks failed: 01_triage"):
        failing(notice())


def test_the_parser_refuses_at_receipt_a_notice_without_a_service(tmp_path):
    p = pipeline(tmp_path, Runs())
    parse = p.parser(lambda body, headers: [notice(labels={"namespace": "prod"})])
    with pytest.raises(PayloadRejected) as refused:
        parse(b"{}", {})
    assert refused.value.status == 422 and "no service label" in refused.value.reason
    assert not (tmp_path / "incidents").exists()


def test_abandon_marks_the_incident_timeline(tmp_path):
    p = pipeline(tmp_path, Runs())
    handled = p.handle(notice())
    p.abandon(notice(delivery="d5"))
    ws = open_workspace(handled.workspace)
    (note,) = [e for e in TimelineStore(ws).read() if e.kind == "note"]
    assert "stopped before the bundle" in note.summary and "--mode live" in note.summary
    p.abandon(notice(key="alertmanager:never-seen"))  # no workspace: nothing, no error


def test_the_link_uses_the_configured_bundle_url(tmp_path):
    outbox = Outbox()
    handled = pipeline(
        tmp_path, Runs(), outbox, bundle_url="https://bundles.example.com/incidents"
    ).handle(notice())
    assert outbox.sent[0].link == (
        f"https://bundles.example.com/incidents/{handled.plan.incident_id}/runs/run1/index.html"
    )


def test_the_message_carries_the_diagnosis(tmp_path):
    from incident_lib.demo import ensure_demo
    from incident_lib.infra.workspace import open_workspace
    from incident_lib.report.story import build_story

    story = build_story(open_workspace(ensure_demo("connection-leak")), record=False)
    plan = incident_for(notice(), ReceiverConfig())
    message = message_for(plan, story, link="https://x/index.html")
    assert message.headline == story.diagnosis.headline
    headings = [h for h, _ in message.sections]
    assert headings[0] == "Trigger" and "Next step" in headings
    assert "deploy v2.34" in dict(message.sections)["Trigger"]
    assert replace(message, link="").link == ""


def test_background_delivery_never_holds_up_the_next_capture(tmp_path):
    import threading

    release = threading.Event()
    sent: list[Any] = []

    def slow_chat(message: Any) -> list[Any]:
        release.wait(30)  # a chat service that does not answer
        sent.append(message)
        return []

    runs = Runs()
    p = Pipeline(
        ReceiverConfig(),
        tmp_path / "incidents",
        notify=slow_chat,
        run=runs,
        deliver_in_background=True,
        clock=lambda: NOW,
    )
    first = p.handle(notice())
    second = p.handle(notice(key='alertmanager:{}:{alertname="Other"}'))
    assert len(runs.calls) == 2 and first.deliveries == () and second.ok
    assert sent == []  # both captures done while the first message still hangs
    release.set()
    p.close(timeout=30)
    assert {m.incident_id for m in sent} == {first.plan.incident_id, second.plan.incident_id}


def test_a_pagerduty_notice_remembers_its_incident_for_acknowledge_and_resolve(tmp_path):
    from incident_lib.communicating import sent_refs

    runs = Runs()
    handled = pipeline(tmp_path, runs).handle(
        notice(key="pagerduty:PT4KHLK", source="pagerduty", delivery="pagerduty:e1")
    )
    assert sent_refs(open_workspace(handled.workspace)) == {"pagerduty_incident": "PT4KHLK"}
    other = pipeline(tmp_path / "am", Runs()).handle(notice())
    assert sent_refs(open_workspace(other.workspace)) == {}
