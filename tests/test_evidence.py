"""The evidence store: exact round trips, the hash chain, tamper detection, atomicity."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from incident_lib import EvidenceIntegrityError, EvidenceNotFound, EvidenceStore, InvalidInput
from incident_lib.core.schema import conform, empty_frame


def _logs(n: int = 3) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "time": pd.date_range("2026-11-03T14:00:00Z", periods=n, freq="1s"),
                "pod": [f"api-{i}" for i in range(n)],
                "container": ["api"] * n,
                "level": ["error"] * n,
                "message": [f"boom {i}" for i in range(n)],
                "raw": [None] + [f"raw {i}" for i in range(1, n)],
            }
        ),
        "logs",
    )


@pytest.fixture
def store(tmp_path) -> EvidenceStore:
    return EvidenceStore(tmp_path, create=True)


def test_capture_reads_back_exactly(store):
    frame = _logs()
    frame["extra_int"] = [1, 2, 3]
    frame["extra_cat"] = pd.Categorical(["a", "b", "a"])
    store.capture(frame, source="kubernetes", name="logs", query={"namespace": "prod"})
    back = store.read("kubernetes", "logs")
    pd.testing.assert_frame_equal(back, frame)
    assert str(back["time"].dtype) == "datetime64[ns, UTC]"


def test_empty_frame_round_trips(store):
    store.capture(empty_frame("metrics"), source="datadog", name="metrics")
    pd.testing.assert_frame_equal(store.read("datadog", "metrics"), empty_frame("metrics"))


def test_manifest_records_and_chains(store):
    a = store.capture(_logs(), source="kubernetes", name="logs", query={"since": "1h"})
    b = store.capture(_logs(5), source="kubernetes", name="logs")
    lines = store.manifest_path.read_text().splitlines()
    first = json.loads(lines[0])
    assert first["prev"] == "0" * 64 and first["rows"] == 3 and first["query"] == {"since": "1h"}
    assert json.loads(lines[1])["prev"] != first["prev"]
    assert (a.seq, b.seq) == (1, 2)
    assert len(store.read("kubernetes", "logs")) == 5  # the newest capture wins
    assert store.verify().ok


def test_query_secrets_never_reach_the_manifest(store):
    store.capture(
        _logs(),
        source="postgres",
        name="activity",
        query={"dsn": "postgresql://app:hunter2@db:5432/orders"},
    )
    assert "hunter2" not in store.manifest_path.read_text()


def test_missing_capture_names_what_exists(store):
    store.capture(_logs(), source="kubernetes", name="logs")
    with pytest.raises(EvidenceNotFound, match="captured: kubernetes/logs"):
        store.read("datadog", "metrics")


@pytest.mark.parametrize("bad", ["Logs", "a b", "../x", ""])
def test_bad_names_are_refused(store, bad):
    with pytest.raises(InvalidInput):
        store.capture(_logs(), source="kubernetes", name=bad)


def _three(store):
    for name in ("logs", "rollouts", "events"):
        store.capture(_logs(), source="kubernetes", name=name)
    return store.entries()


def test_changed_file_is_detected_and_named(store):
    entries = _three(store)
    path = store.root / entries[1].file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = store.verify()
    assert not report.ok and any(entries[1].file in p and "changed" in p for p in report.problems)
    with pytest.raises(EvidenceIntegrityError, match=entries[1].file):
        store.read("kubernetes", "rollouts")


def test_truncated_file_is_detected(store):
    entries = _three(store)
    path = store.root / entries[0].file
    path.write_bytes(path.read_bytes()[:100])
    assert any(entries[0].file in p for p in store.verify().problems)


def test_removed_file_is_detected(store):
    entries = _three(store)
    (store.root / entries[2].file).unlink()
    assert any(entries[2].file in p and "missing" in p for p in store.verify().problems)


def test_reordered_manifest_is_detected(store):
    _three(store)
    lines = store.manifest_path.read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    store.manifest_path.write_text("\n".join(lines) + "\n")
    assert any("breaks the hash chain" in p for p in store.verify().problems)


def test_removed_manifest_line_is_detected(store):
    entries = _three(store)
    lines = store.manifest_path.read_text().splitlines()
    store.manifest_path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    problems = store.verify().problems
    assert any("breaks the hash chain" in p for p in problems)
    assert any(entries[1].file in p and "not recorded" in p for p in problems)


def test_edited_manifest_line_is_detected(store):
    _three(store)
    text = store.manifest_path.read_text().replace('"rows":3', '"rows":4', 1)
    store.manifest_path.write_text(text)
    assert any("line 2" in p and "hash chain" in p for p in store.verify().problems)


def test_truncated_manifest_is_detected(store):
    _three(store)
    text = store.manifest_path.read_text()
    store.manifest_path.write_text(text[:-40])
    assert not store.verify().ok


def test_failed_capture_leaves_nothing_behind(store, monkeypatch):
    store.capture(_logs(), source="kubernetes", name="logs")
    before = sorted(p.name for p in store.root.iterdir())

    def explode(self, path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", explode)
    with pytest.raises(OSError, match="disk full"):
        store.capture(_logs(), source="kubernetes", name="rollouts")
    assert sorted(p.name for p in store.root.iterdir()) == before
    assert store.verify().ok


def test_the_store_captures_and_reads_but_never_fetches(store):
    """The mode is the runbook's decision (tests/test_runbook_sources.py), not the store's."""
    assert not hasattr(store, "fetch")


def test_read_returns_the_capture(store):
    frame = _logs()
    store.capture(frame, source="kubernetes", name="logs")

    pd.testing.assert_frame_equal(store.read("kubernetes", "logs"), frame)


def test_capture_then_read_entry_returns_the_capture(store):
    frame = _logs()
    entry = store.capture(frame, source="kubernetes", name="logs")

    pd.testing.assert_frame_equal(store.read_entry(entry), frame)
    assert store.has("kubernetes", "logs")


def test_read_entry_returns_its_own_capture_even_if_another_lands(store):
    """Parallel notebooks capture the same frame: each must get what it fetched."""
    mine, theirs = _logs(2), _logs(7)

    entry = store.capture(mine, source="kubernetes", name="logs")
    store.capture(theirs, source="kubernetes", name="logs")

    pd.testing.assert_frame_equal(store.read_entry(entry), mine)
    pd.testing.assert_frame_equal(store.read("kubernetes", "logs"), theirs)
