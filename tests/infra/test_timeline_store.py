"""timeline.jsonl: append-only, one line per event id, locked, torn tails repaired, redacted."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incident_lib.core.errors import EvidenceError, InvalidInput, WorkspaceError
from incident_lib.core.timeline import TIMELINE_COLUMNS, Event, note_event, status_event
from incident_lib.demo import PLANTED_SECRETS
from incident_lib.infra.timeline import MAX_NOTE, TimelineStore, add_note
from incident_lib.infra.workspace import TIMELINE_FILE, Workspace

T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def deploy(minute: int, rev: int) -> Event:
    return Event(
        time=T0 + timedelta(minutes=minute),
        source="changes",
        kind="deploy",
        summary=f"api rev {rev} rolled out",
        key=f"api rev {rev}",
        evidence="kubernetes/rollouts",
        file="evidence/kubernetes/rollouts-0001.parquet",
        row=rev,
        section="03_changes",
    )


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_append_writes_one_sorted_json_object_per_line(tmp_path):
    store = TimelineStore(tmp_path)
    events = [deploy(5, 41), deploy(19, 42), status_event("detected", T0 + timedelta(minutes=21))]
    assert store.append(events) == events
    assert store.path == tmp_path / TIMELINE_FILE
    written = lines(store.path)
    assert len(written) == 3
    for line, event in zip(written, events, strict=True):
        data = json.loads(line)
        assert list(data) == sorted(data)
        assert data["id"] == event.id
        assert Event.from_dict(data) == event


def test_round_trip_keeps_file_order_and_every_field(tmp_path):
    store = TimelineStore(tmp_path)
    events = [
        deploy(19, 42),
        deploy(5, 41),
        note_event("pool at max_connections", T0, author="alice"),
    ]
    store.append(events)
    assert store.read() == events  # file order, not time order


def test_an_event_already_in_the_file_is_not_appended_again(tmp_path):
    store = TimelineStore(tmp_path)
    store.append([deploy(5, 41)])
    again = [deploy(5, 41), deploy(19, 42), deploy(19, 42)]
    appended = store.append(again)
    assert appended == [deploy(19, 42)]
    assert store.append(again) == []
    assert len(lines(store.path)) == 2
    # same lane, kind and key but a newer capture (other file and row): the same event
    moved = Event(
        time=T0 + timedelta(minutes=5),
        source="changes",
        kind="deploy",
        summary="api rev 41 rolled out",
        key="api rev 41",
        file="evidence/kubernetes/rollouts-0002.parquet",
        row=0,
    )
    assert store.append([moved]) == []


def test_first_occurrence_of_an_id_wins_on_read(tmp_path):
    first = deploy(5, 41)
    path = tmp_path / TIMELINE_FILE
    data = first.to_dict()
    later = dict(data, summary="the same event, a later line")
    path.write_text(json.dumps(data) + "\n" + json.dumps(later) + "\n", encoding="utf-8")
    assert [e.summary for e in TimelineStore(tmp_path).read()] == [first.summary]


def test_frame_is_the_timeline_contract(tmp_path):
    store = TimelineStore(tmp_path)
    assert list(store.frame().columns) == list(TIMELINE_COLUMNS)
    assert store.frame().empty
    store.append([deploy(19, 42), deploy(5, 41)])
    frame = store.frame()
    assert list(frame["key"]) == ["api rev 41", "api rev 42"]  # time order
    assert list(frame["row"]) == [41, 42]


def test_missing_file_reads_as_empty_and_missing_workspace_is_refused(tmp_path):
    assert TimelineStore(tmp_path).read() == []
    with pytest.raises(WorkspaceError, match="does not exist"):
        TimelineStore(tmp_path / "nope").append([deploy(5, 41)])


def test_workspace_has_a_timeline(demo_copy):
    from incident_lib.infra.workspace import open_workspace

    ws = open_workspace(demo_copy("connection-leak"))
    assert isinstance(ws, Workspace)
    assert ws.timeline.path == ws.path / TIMELINE_FILE
    assert ws.timeline.read() == []


# -- crashes and damage ----------------------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    [
        b'{"author": "", "evidence": "", "fi',  # cut inside the JSON
        b"\x00\x00\x00\x00",  # the file grew but the data never arrived
    ],
)
def test_torn_last_line_is_ignored_then_cut_off_on_the_next_append(tmp_path, tail):
    store = TimelineStore(tmp_path)
    store.append([deploy(5, 41)])
    whole = store.path.read_bytes()
    store.path.write_bytes(whole + tail)
    assert store.read() == [deploy(5, 41)]
    assert store.append([deploy(19, 42)]) == [deploy(19, 42)]
    assert store.path.read_bytes().startswith(whole)
    assert store.read() == [deploy(5, 41), deploy(19, 42)]
    assert all(json.loads(line) for line in lines(store.path))


def test_a_whole_last_event_without_its_newline_is_kept(tmp_path):
    store = TimelineStore(tmp_path)
    store.append([deploy(5, 41)])
    store.path.write_bytes(store.path.read_bytes().rstrip(b"\n"))
    assert store.read() == [deploy(5, 41)]
    store.append([deploy(19, 42)])
    assert len(lines(store.path)) == 2
    assert store.read() == [deploy(5, 41), deploy(19, 42)]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("not json at all", "invalid JSON"),
        ('{"time": "2026-11-03T14:00:00Z", "source": "weather", "kind": "x", "summary": "s"}',
         "weather"),
        ("[1, 2]", "must be a mapping"),
    ],
)  # fmt: skip
def test_a_damaged_line_is_an_error_naming_file_and_line(tmp_path, bad, reason):
    store = TimelineStore(tmp_path)
    store.append([deploy(5, 41)])
    good = store.path.read_text(encoding="utf-8")
    store.path.write_text(good + bad + "\n" + _line(deploy(19, 42)), encoding="utf-8")
    before = store.path.read_bytes()
    with pytest.raises(EvidenceError) as info:
        store.read()
    message = str(info.value)
    assert f"{store.path}: line 2 is not a timeline event" in message
    assert reason in message and "restore it" in message
    with pytest.raises(EvidenceError, match="line 2"):
        store.append([deploy(30, 43)])
    assert store.path.read_bytes() == before  # nothing written, nothing cut


def test_an_edited_key_no_longer_matches_its_id(tmp_path):
    store = TimelineStore(tmp_path)
    data = deploy(5, 41).to_dict()
    data["key"] = "api rev 40"
    store.path.write_text(json.dumps(data) + "\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match=r"line 1 .*does not match its lane, kind and key"):
        store.read()


def _line(event: Event) -> str:
    return json.dumps(event.to_dict(), sort_keys=True) + "\n"


# -- parallel appends ----------------------------------------------------------------


def _append_many(folder: str, worker: int, count: int) -> None:
    store = TimelineStore(folder)
    for i in range(count):
        # every worker appends its own events and, each time, one shared by all
        mine = Event(time=T0, source="logs", kind="new_signature", summary=f"w{worker} e{i}")
        shared = Event(time=T0, source="logs", kind="new_signature", summary=f"shared {i}")
        store.append([mine, shared])


def test_parallel_appends_neither_interleave_nor_duplicate(tmp_path):
    workers, count = 4, 50
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_append_many, args=(str(tmp_path), w, count)) for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    raw = lines(tmp_path / TIMELINE_FILE)
    ids = [json.loads(line)["id"] for line in raw]  # every line is whole JSON
    assert len(ids) == len(set(ids)) == workers * count + count
    summaries = {e.summary for e in TimelineStore(tmp_path).read()}
    assert {f"w{w} e{i}" for w in range(workers) for i in range(count)} <= summaries
    assert {f"shared {i}" for i in range(count)} <= summaries


# -- redaction and notes -------------------------------------------------------------


@pytest.mark.parametrize("secret", PLANTED_SECRETS)
def test_a_planted_secret_never_reaches_the_file(tmp_path, secret):
    text = f"restarted the pool; PGPASSWORD={secret} was in the pod env"
    event = add_note(tmp_path, text, at=T0, author="alice", now=NOW)
    assert secret not in event.summary and secret not in event.key
    raw = (tmp_path / TIMELINE_FILE).read_text(encoding="utf-8")
    assert secret not in raw and "[REDACTED]" in raw
    # the same note again is the same (redacted) event: written once
    add_note(tmp_path, text, at=T0, author="alice", now=NOW)
    assert len(lines(tmp_path / TIMELINE_FILE)) == 1


def test_secrets_in_any_event_text_are_redacted_on_append(tmp_path):
    secret = "Api-Demo-Pw-NotReal-2026"
    event = Event(
        time=T0,
        source="changes",
        kind="config",
        summary=f"DATABASE_URL=postgresql://app:{secret}@db:5432/orders",
        key=f"config postgresql://app:{secret}@db/orders",
        author=f"password={secret}",
    )
    (written,) = TimelineStore(tmp_path).append([event])
    raw = (tmp_path / TIMELINE_FILE).read_text(encoding="utf-8")
    assert secret not in raw
    assert written.id == json.loads(raw)["id"] != event.id
    assert TimelineStore(tmp_path).append([event]) == []


def test_add_note_defaults_and_round_trip(tmp_path):
    event = add_note(tmp_path, "  rolled back   to v2.33 ", author="bob", now=NOW)
    assert (event.time, event.source, event.kind) == (NOW, "people", "note")
    assert event.summary == "rolled back to v2.33" and event.author == "bob"
    assert TimelineStore(tmp_path).read() == [event]
    unicode = add_note(tmp_path, "Größe überschritten — 100 %", at="2026-11-03T15:30:00+01:00")
    assert unicode.time == datetime(2026, 11, 3, 14, 30, tzinfo=UTC)
    assert "Größe überschritten" in (tmp_path / TIMELINE_FILE).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        ("   ", None, "a note needs text"),
        ("x" * (MAX_NOTE + 1), None, "keep it under 500"),
        ("later", NOW + timedelta(minutes=5), "is in the future"),
        ("no zone", "2026-11-03T14:00:00", "has no timezone"),
    ],
)
def test_add_note_refuses_bad_input_and_writes_nothing(tmp_path, text, at, message):
    with pytest.raises(InvalidInput, match=message):
        add_note(tmp_path, text, at=at, now=NOW)
    assert not (tmp_path / TIMELINE_FILE).exists()


def test_a_note_a_few_seconds_ahead_of_the_clock_is_accepted(tmp_path):
    assert add_note(tmp_path, "clock skew", at=NOW + timedelta(seconds=30), now=NOW)
