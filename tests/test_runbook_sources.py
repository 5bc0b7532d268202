"""The runbook in live mode against sources found in a registry (a fake source here).

The fake stands for a source of a later version (PostgreSQL): a small class
implementing :class:`incident_lib.sources.Source`, registered in a
:class:`incident_lib.sources.SourceRegistry` given to ``start_runbook``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from incident_records import sample_incident

from incident_lib import EvidenceStore, Incident, InvalidInput, create_workspace, start_runbook
from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.schema import CONTRACTS, conform
from incident_lib.core.time import Window
from incident_lib.sources import Fetched, Source, SourceRegistry, default_registry

INCIDENT = sample_incident(title="connection pool exhausted")


def _settings(*rows: tuple[str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["name", "setting", "unit"]).assign(target="default")
    return conform(frame, "pg_settings")


class FakePostgres:
    """Implements the Source protocol; records every call."""

    name = "postgres"
    frames = ("activity", "settings")

    def __init__(
        self,
        frame: pd.DataFrame | None = None,
        *,
        notes: tuple[str, ...] = (),
        down: str = "",
        during_fetch: Callable[[], None] | None = None,
    ) -> None:
        self.frame = frame if frame is not None else _settings(("max_connections", "100", ""))
        self.notes = notes
        self.down = down
        self.during_fetch = during_fetch
        self.calls: list[tuple[str, Window]] = []

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        return {"database": incident.service, "frame": frame, "window": str(window)}

    def fetch(
        self, frame: str, incident: Incident, window: Window, *, progress: bool = False
    ) -> Fetched:
        self.calls.append((frame, window))
        if self.down:
            raise SourceUnavailable(self.name, self.down)
        if self.during_fetch is not None:
            self.during_fetch()
        return Fetched(self.frame, self.notes)


def _registry(source: Source) -> SourceRegistry:
    def factory(environ: Mapping[str, str]) -> Source:
        return source

    return SourceRegistry({"postgres": factory}, environ={})


@pytest.fixture
def workspace(tmp_path) -> Path:
    return create_workspace(INCIDENT, tmp_path / "ws").path


def _live(workspace: Path, source: Source | None, tmp_path: Path, **kw: Any):
    registry = _registry(source) if source is not None else SourceRegistry({}, environ={})
    return start_runbook(
        "02_assess",
        workspace=str(workspace),
        mode="live",
        run_dir=str(tmp_path / "run"),
        sources=registry,
        **kw,
    )


def test_fake_source_satisfies_the_protocol():
    assert isinstance(FakePostgres(), Source)


def test_live_fetch_is_captured_with_the_sources_query(workspace, tmp_path):
    fake = FakePostgres(_settings(("max_connections", "100", ""), ("work_mem", "4", "MB")))
    rb = _live(workspace, fake, tmp_path)

    frame = rb.evidence("postgres", "settings")

    pd.testing.assert_frame_equal(frame, fake.frame)
    assert not rb.unavailable and not rb.findings.items
    ((asked, window),) = fake.calls
    assert asked == "settings" and window.start == rb.baseline.start  # baseline included
    assert window.end >= rb.window.end  # live: up to now
    store = EvidenceStore(workspace)
    pd.testing.assert_frame_equal(store.read("postgres", "settings"), fake.frame)
    entry = store.latest("postgres", "settings")
    assert entry.query == {
        "database": "api",
        "frame": "settings",
        "window": str(window),
    }
    assert "notes" not in frame.attrs


def test_notes_become_an_incomplete_finding(workspace, tmp_path):
    fake = FakePostgres(notes=("pg_settings: 2 rows unreadable", "password=hunter2 in a note"))
    rb = _live(workspace, fake, tmp_path)

    rb.evidence("postgres", "settings")

    (finding,) = rb.findings.items
    assert finding.title == "postgres/settings incomplete"
    assert "2 rows unreadable" in finding.summary
    assert "hunter2" not in finding.summary  # the runbook redacts notes
    assert EvidenceStore(workspace).has("postgres", "settings")  # still captured


def test_an_unavailable_source_degrades_to_an_empty_frame(workspace, tmp_path):
    rb = _live(workspace, FakePostgres(down="connection refused; password=hunter2"), tmp_path)

    frame = rb.evidence("postgres", "settings")

    assert frame.empty and list(frame.columns) == list(CONTRACTS["pg_settings"].columns)
    reason = rb.unavailable["postgres/settings"]
    assert reason.startswith("connection refused") and "hunter2" not in reason
    assert rb.missing == {"postgres/settings": reason}
    # listed once for the run (with the fix), not recorded as a finding
    assert rb.findings.items == []
    assert rb.reads is not None
    (read,) = rb.reads.items
    assert (read.evidence, read.ok, read.fallback) == ("postgres/settings", False, "")
    assert "hunter2" not in read.reason and read.fix
    assert not EvidenceStore(workspace).has("postgres", "settings")


def test_a_source_that_is_down_falls_back_to_an_earlier_capture(workspace, tmp_path):
    earlier = _settings(("max_connections", "50", ""))
    entry = EvidenceStore(workspace).capture(earlier, source="postgres", name="settings")
    rb = _live(workspace, FakePostgres(down="timed out"), tmp_path)

    frame = rb.evidence("postgres", "settings")

    pd.testing.assert_frame_equal(frame, earlier)
    assert rb.unavailable["postgres/settings"] == (
        f"timed out; showing the evidence captured at {entry.fetched_at}"
    )
    assert rb.missing == {}  # an earlier capture is shown: the section is not unknown
    assert rb.reads is not None
    (read,) = rb.reads.items
    assert (read.ok, read.reason, read.fallback) == (False, "timed out", entry.fetched_at)


def test_a_source_that_answers_later_is_no_longer_missing(workspace, tmp_path):
    fake = FakePostgres(down="timed out")
    rb = _live(workspace, fake, tmp_path)
    rb.evidence("postgres", "settings")
    assert "postgres/settings" in rb.missing
    fake.down = ""
    rb.evidence("postgres", "settings")
    assert rb.missing == {} and rb.unavailable == {}
    assert rb.reads is not None and [r.ok for r in rb.reads.items] == [False, True]


def test_an_unknown_source_says_there_is_no_live_connector(workspace, tmp_path):
    rb = _live(workspace, None, tmp_path)

    frame = rb.evidence("postgres", "activity")

    assert frame.empty and list(frame.columns) == list(CONTRACTS["pg_activity"].columns)
    reason = rb.unavailable["postgres/activity"]
    assert "no live postgres connector" in reason and "run offline" in reason


def test_a_frame_the_source_does_not_provide_lists_those_it_does(tmp_path):
    registry = _registry(FakePostgres())

    with pytest.raises(SourceUnavailable, match="no live fetch named 'locks'; known: activity"):
        registry.resolve("postgres", "locks")


def test_the_live_fetch_returns_its_own_capture_even_if_another_lands(workspace, tmp_path):
    """Parallel notebooks capture the same frame: each must get what it fetched."""
    mine = _settings(("max_connections", "100", ""))
    theirs = _settings(("max_connections", "7", ""), ("work_mem", "1", "MB"))
    store = EvidenceStore(workspace)

    def another_notebook_captures() -> None:
        store.capture(theirs, source="postgres", name="settings")

    rb = _live(workspace, FakePostgres(mine, during_fetch=another_notebook_captures), tmp_path)

    pd.testing.assert_frame_equal(rb.evidence("postgres", "settings"), mine)


def test_using_replaces_the_registrys_source_for_one_call(workspace, tmp_path):
    registered, given = FakePostgres(), FakePostgres(_settings(("work_mem", "8", "MB")))
    rb = _live(workspace, registered, tmp_path)

    frame = rb.evidence("postgres", "settings", using=given)

    pd.testing.assert_frame_equal(frame, given.frame)
    assert given.calls and not registered.calls
    with pytest.raises(InvalidInput, match="not git"):
        rb.evidence("git", "commits", using=given)


def test_offline_reads_the_capture_and_never_calls_the_source(workspace, tmp_path):
    captured = _settings(("max_connections", "100", ""))
    EvidenceStore(workspace).capture(captured, source="postgres", name="settings")
    fake = FakePostgres(down="must not be called")
    rb = start_runbook(
        "02_assess", workspace=str(workspace), mode="offline", sources=_registry(fake)
    )

    pd.testing.assert_frame_equal(rb.evidence("postgres", "settings"), captured)
    pd.testing.assert_frame_equal(rb.evidence("postgres", "settings", using=fake), captured)
    assert fake.calls == [] and not rb.unavailable


def test_the_default_registry_is_built_on_the_first_live_fetch_only(workspace):
    offline = start_runbook("02_assess", workspace=str(workspace), mode="offline")
    live = start_runbook("02_assess", workspace=str(workspace), mode="live")

    assert offline.sources is None and live.sources is None
    offline.evidence("postgres", "settings")  # nothing captured: unavailable, no registry
    assert offline.sources is None
    assert default_registry({}).names() == (
        "datadog",
        "git",
        "kubernetes",
        "postgres",
        "probes",
        "prometheus",
    )


def test_unknown_mode_is_refused_where_it_enters(workspace):
    with pytest.raises(InvalidInput, match="'live'"):
        start_runbook("02_assess", workspace=str(workspace), mode="online")


def test_the_metrics_source_is_checked_where_it_enters(workspace):
    rb = start_runbook("02_assess", workspace=str(workspace), metrics_source="prometheus")
    assert rb.metrics_source == "prometheus"
    with pytest.raises(InvalidInput, match="datadog, prometheus"):
        start_runbook("02_assess", workspace=str(workspace), metrics_source="graphite")


def test_registry_builds_each_source_once_and_lazily():
    built: list[Mapping[str, str]] = []

    def factory(environ: Mapping[str, str]) -> Source:
        built.append(environ)
        return FakePostgres()

    registry = SourceRegistry({"postgres": factory}, environ={"X": "1"})
    assert built == [] and "postgres" in registry
    assert registry.get("postgres") is registry.get("postgres")
    assert built == [{"X": "1"}]


def test_configured_says_whether_the_incident_has_a_source_at_all(workspace, tmp_path):
    def not_configured(environ: Mapping[str, str]) -> Source:
        raise SourceUnavailable("postgres", "not configured: set INCIDENT_PG_DSN")

    unconfigured = SourceRegistry({"postgres": not_configured}, environ={})
    offline = start_runbook("10_verify", workspace=str(workspace), mode="offline")
    live = start_runbook("10_verify", workspace=str(workspace), mode="live", sources=unconfigured)
    assert not offline.configured("postgres") and not live.configured("postgres")
    assert _live(workspace, FakePostgres(), tmp_path).configured("postgres")

    EvidenceStore(workspace).capture(
        _settings(("max_connections", "100", "")), source="postgres", name="settings"
    )
    offline = start_runbook("10_verify", workspace=str(workspace), mode="offline")
    assert offline.configured("postgres") and not offline.configured("prometheus")


def test_captured_says_whether_a_frame_can_be_shown(workspace):
    """Offline, a frame an earlier run never captured (an older bundle) is skipped, not missing."""
    offline = start_runbook("10_verify", workspace=str(workspace), mode="offline")
    live = start_runbook("10_verify", workspace=str(workspace), mode="live")
    assert live.captured("kubernetes", "hpa")
    assert not offline.captured("kubernetes", "hpa")
    assert not offline.captured("postgres", "settings")

    EvidenceStore(workspace).capture(
        _settings(("max_connections", "100", "")), source="postgres", name="settings"
    )
    offline = start_runbook("10_verify", workspace=str(workspace), mode="offline")
    assert offline.captured("postgres", "settings")
    assert not offline.captured("postgres", "activity")
