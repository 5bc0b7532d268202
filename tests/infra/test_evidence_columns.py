"""Reading part of a capture: ``columns=`` and ``time_range=`` of ``read``/``read_entry``.

A partial read must return exactly the frame that filtering the whole capture
gives (rows in captured order, indexed from 0), with nanosecond-exact bounds,
across row groups, and on captures written before row groups were bounded (one
row group) or whose rows are not in time order.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from incident_lib.core.errors import InvalidInput
from incident_lib.core.time import Window
from incident_lib.infra import evidence as evidence_mod
from incident_lib.infra.evidence import ROW_GROUP_ROWS, EvidenceStore

START = pd.Timestamp("2026-11-03T13:00:00Z")


def logs_frame(rows: int, *, shuffle: bool = False) -> pd.DataFrame:
    """A ``logs`` frame of ``rows`` events 7 ms apart (plus some nanoseconds)."""
    step = pd.to_timedelta([i * 7_000_123 for i in range(rows)], unit="ns")
    frame = pd.DataFrame(
        {
            "time": START + step,
            "pod": [f"api-{i % 7}" for i in range(rows)],
            "container": "api",
            "level": ["error" if i % 5 == 0 else "info" for i in range(rows)],
            "message": [f"request {i} done" for i in range(rows)],
            "raw": [f'{{"n": {i}}}' for i in range(rows)],
        }
    )
    if shuffle:
        frame = frame.sample(frac=1, random_state=15).reset_index(drop=True)
    return frame


def captured(tmp_path, frame: pd.DataFrame, source="kubernetes", name="logs") -> EvidenceStore:
    store = EvidenceStore(tmp_path, create=True)
    store.capture(frame, source=source, name=name)
    return store


def expected(full: pd.DataFrame, start, end, columns=None) -> pd.DataFrame:
    part = full[(full["time"] >= start) & (full["time"] < end)]
    if columns is not None:
        part = part[columns]
    return part.reset_index(drop=True)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A capture of more than two row groups, and the whole frame read back."""
    store = captured(tmp_path_factory.mktemp("big"), logs_frame(2 * ROW_GROUP_ROWS + 1000))
    return store, store.read("kubernetes", "logs")


def test_large_captures_are_written_in_row_groups_with_time_statistics(big):
    store, _ = big
    meta = pq.ParquetFile(store.root / store.latest("kubernetes", "logs").file).metadata
    assert meta.num_row_groups == 3
    assert meta.row_group(0).num_rows == ROW_GROUP_ROWS
    col = meta.schema.to_arrow_schema().get_field_index("time")
    stats = [meta.row_group(i).column(col).statistics for i in range(3)]
    assert all(s is not None and s.has_min_max for s in stats)


def test_columns_are_the_requested_ones_in_order(big):
    store, full = big
    part = store.read("kubernetes", "logs", columns=["message", "time"])
    pd.testing.assert_frame_equal(part, full[["message", "time"]])


@pytest.mark.parametrize(
    "bounds",
    [
        (ROW_GROUP_ROWS - 10, ROW_GROUP_ROWS + 10),  # across a row-group boundary
        (5, 6),  # one row: nanosecond-exact bounds
        (0, 2 * ROW_GROUP_ROWS + 999),
        (ROW_GROUP_ROWS + 3, 2 * ROW_GROUP_ROWS + 500),
    ],
)
def test_time_range_is_exactly_the_filtered_frame(big, bounds):
    store, full = big
    start, end = full["time"].iloc[bounds[0]], full["time"].iloc[bounds[1]]
    part = store.read("kubernetes", "logs", time_range=(start, end))
    pd.testing.assert_frame_equal(part, expected(full, start, end))
    assert len(part) == bounds[1] - bounds[0]
    cols = store.read("kubernetes", "logs", time_range=(start, end), columns=["time", "level"])
    pd.testing.assert_frame_equal(cols, expected(full, start, end, ["time", "level"]))


def test_time_range_takes_a_window_and_iso_strings(big):
    store, full = big
    window = Window(pd.Timestamp("2026-11-03T13:05:00Z"), pd.Timestamp("2026-11-03T13:10:00Z"))
    by_window = store.read("kubernetes", "logs", time_range=window)
    by_text = store.read(
        "kubernetes", "logs", time_range=("2026-11-03T13:05:00Z", "2026-11-03T17:10:00+04:00")
    )
    want = expected(full, window.start, window.end)
    assert len(want) > 0
    pd.testing.assert_frame_equal(by_window, want)
    pd.testing.assert_frame_equal(by_text, want)


def test_a_range_outside_the_capture_is_an_empty_frame_with_its_columns(big):
    store, full = big
    part = store.read(
        "kubernetes", "logs", time_range=("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z")
    )
    assert part.empty
    assert list(part.columns) == list(full.columns)
    assert part.dtypes.equals(full.dtypes)


def test_rows_out_of_time_order_are_still_filtered_exactly(tmp_path):
    frame = logs_frame(ROW_GROUP_ROWS + 500, shuffle=True)
    store = captured(tmp_path, frame)
    full = store.read("kubernetes", "logs")
    pd.testing.assert_frame_equal(full, frame)  # captured order is kept
    start, end = START + pd.Timedelta(60, "s"), START + pd.Timedelta(200, "s")
    part = store.read("kubernetes", "logs", time_range=(start, end))
    pd.testing.assert_frame_equal(part, expected(full, start, end))


def test_old_captures_in_one_row_group_still_read(tmp_path, monkeypatch):
    # captures before row groups were bounded: pyarrow's default, one group of 1 Mi rows
    monkeypatch.setattr(evidence_mod, "ROW_GROUP_ROWS", 1024 * 1024)
    store = captured(tmp_path, logs_frame(ROW_GROUP_ROWS + 500))
    entry = store.latest("kubernetes", "logs")
    assert pq.ParquetFile(store.root / entry.file).metadata.num_row_groups == 1
    monkeypatch.undo()
    full = store.read_entry(entry)
    start, end = full["time"].iloc[100], full["time"].iloc[ROW_GROUP_ROWS + 100]
    part = store.read_entry(entry, time_range=(start, end), columns=["pod", "time"])
    pd.testing.assert_frame_equal(part, expected(full, start, end, ["pod", "time"]))
    assert store.verify().ok


def test_small_captures_are_byte_identical_to_before(tmp_path, monkeypatch):
    frame = logs_frame(1000)
    new = captured(tmp_path / "new", frame)
    monkeypatch.setattr(evidence_mod, "ROW_GROUP_ROWS", 1024 * 1024)
    old = captured(tmp_path / "old", frame)
    assert new.latest("kubernetes", "logs").sha256 == old.latest("kubernetes", "logs").sha256


def test_a_column_added_to_the_contract_comes_back_empty(tmp_path):
    config = pd.DataFrame(
        {
            "kind": ["ConfigMap"],
            "name": ["api-config"],
            "used_by": ["api"],
            "resource_version": ["1"],
            "created_at": [START],
        }
    )
    store = captured(tmp_path, config, name="config")
    whole = store.read("kubernetes", "config")
    part = store.read("kubernetes", "config", columns=["applied_hash", "name"])
    pd.testing.assert_frame_equal(part, whole[["applied_hash", "name"]])
    assert part["applied_hash"].isna().all()


def test_bad_requests_say_what_is_wrong(tmp_path):
    store = captured(tmp_path, logs_frame(10))
    with pytest.raises(InvalidInput, match="no column"):
        store.read("kubernetes", "logs", columns=["time", "nope"])
    with pytest.raises(InvalidInput, match="not before"):
        store.read("kubernetes", "logs", time_range=(START, START))
    with pytest.raises(InvalidInput, match="pair"):
        store.read("kubernetes", "logs", time_range=(START,))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.read("kubernetes", "logs", time_range=("2026-11-03 13:00", "2026-11-03 14:00"))
    plain = EvidenceStore(tmp_path / "other", create=True)
    plain.capture(pd.DataFrame({"name": ["a"]}), source="probes", name="notes")
    with pytest.raises(InvalidInput, match="no time column"):
        plain.read("probes", "notes", time_range=(START, START + pd.Timedelta(1, "h")))
    assert len(plain.read("probes", "notes", columns=["name"])) == 1


def test_a_null_time_in_a_group_inside_the_range_is_left_out(tmp_path):
    # a group's statistics leave nulls out: it is "inside" the range, yet a null row is not
    frame = logs_frame(ROW_GROUP_ROWS + 10)
    frame.loc[3, "time"] = pd.NaT
    store = captured(tmp_path, frame)
    full = store.read("kubernetes", "logs")
    start, end = START - pd.Timedelta(1, "s"), START + pd.Timedelta(1, "D")
    part = store.read("kubernetes", "logs", time_range=(start, end))
    pd.testing.assert_frame_equal(part, expected(full, start, end))
    assert len(part) == len(full) - 1


def test_project_selects_what_a_read_selects(big):
    store, full = big
    start, end = full["time"].iloc[ROW_GROUP_ROWS - 10], full["time"].iloc[ROW_GROUP_ROWS + 10]
    for columns, time_range in [
        (["level", "time"], None),
        (None, (start, end)),
        (["raw", "pod"], Window(start, end)),
    ]:
        read = store.read("kubernetes", "logs", columns=columns, time_range=time_range)
        held = evidence_mod.project(full, columns=columns, time_range=time_range, kind="logs")
        pd.testing.assert_frame_equal(held, read)
    assert evidence_mod.project(full) is full
    with pytest.raises(InvalidInput, match="no column"):
        evidence_mod.project(full, columns=["nope"])


# -- Runbook.evidence(columns=, time_range=): what 02_assess and 04_logs read -------------

LOG_COLUMNS = ["time", "pod", "level", "message", "raw"]


def offline_runbook(workspace):
    import incident_lib as il

    return il.start_runbook("04_logs", workspace=workspace, mode="offline", run_dir=None)


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_notebook_results_are_the_same_from_the_narrow_read(demo_root, scenario):
    from incident_lib.analysis import access_logs, changes, signatures
    from incident_lib.report import story

    rb = offline_runbook(demo_root / scenario)
    full = rb.evidence("kubernetes", "logs")
    narrow = rb.evidence("kubernetes", "logs", columns=LOG_COLUMNS, time_range=rb.fetch_window)
    span = rb.fetch_window
    pd.testing.assert_frame_equal(narrow, expected(full, span.start, span.end, LOG_COLUMNS))
    assert "kubernetes/logs" not in rb.missing

    def results(logs):
        found = signatures.signatures(
            logs, window=rb.window, baseline=rb.baseline, levels=("warning", "error", "critical")
        )
        table = signatures.rank_signatures(found)
        in_view = rb.view.select(logs[logs["level"].isin(["warning", "error", "critical"])])
        series = signatures.signature_timeseries(in_view, table, top=5, labels=True)
        access = access_logs.access_summary(logs, window=rb.window, baseline=rb.baseline)
        relations = story.captured_relations(rb.workspace, logs=logs)
        rollouts = rb.evidence("kubernetes", "rollouts")
        markers = changes.deploy_markers(rollouts, within=rb.view, relations=relations)
        findings = signatures.signature_findings(table, markers, top=5)
        return table, series, access, relations, findings

    old, new = results(full), results(narrow)
    assert len(old[0]) > 0
    for before, after in zip(old, new, strict=True):
        if isinstance(before, pd.DataFrame):
            pd.testing.assert_frame_equal(before, after)
        else:
            assert before == after


def test_a_narrow_read_of_a_capture_outside_the_windows_is_still_unavailable(demo_copy):
    workspace = demo_copy("connection-leak")
    rb = offline_runbook(workspace)
    logs = rb.evidence("kubernetes", "logs")
    moved = logs.assign(time=logs["time"] - pd.Timedelta(30, "D"))
    rb.workspace.evidence.capture(moved, source="kubernetes", name="logs")
    rb = offline_runbook(workspace)
    part = rb.evidence("kubernetes", "logs", columns=["time", "message"], time_range=rb.window)
    assert part.empty and list(part.columns) == ["time", "message"]
    assert "outside" in rb.missing["kubernetes/logs"]
    # without time among the columns, the times are still read to judge
    rb = offline_runbook(workspace)
    assert rb.evidence("kubernetes", "logs", columns=["message"]).empty
    assert "outside" in rb.missing["kubernetes/logs"]


def test_a_narrow_read_checks_its_columns_against_the_contract(demo_root):
    rb = offline_runbook(demo_root / "connection-leak")
    with pytest.raises(InvalidInput, match="no column"):
        rb.evidence("kubernetes", "logs", columns=["time", "nope"])
    part = rb.evidence("kubernetes", "logs", columns="message")
    assert list(part.columns) == ["message"] and len(part) > 0


# -- at=: the rows at some times (the example lines of a few signatures) ------------------


def test_at_reads_exactly_the_rows_at_those_times_across_row_groups(big, monkeypatch):
    store, full = big
    wanted = full["time"].iloc[[3, ROW_GROUP_ROWS + 7, 2 * ROW_GROUP_ROWS + 999]]
    decoded: list[int] = []
    real = pq.ParquetFile.read_row_group

    def counting(self, i, *args, **kwargs):
        decoded.append(i)
        return real(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counting)
    part = store.read("kubernetes", "logs", columns=["time", "message", "raw"], at=wanted)
    keep = full["time"].isin(wanted)
    pd.testing.assert_frame_equal(
        part, full.loc[keep, ["time", "message", "raw"]].reset_index(drop=True)
    )
    assert len(part) == 3
    # one time in the first group only: the other groups are not decoded
    decoded.clear()
    one = store.read("kubernetes", "logs", at=[full["time"].iloc[10]])
    assert decoded == [0]
    assert one["message"].tolist() == ["request 10 done"]


def test_at_takes_strings_keeps_nanoseconds_and_reads_nothing_for_no_times(big):
    store, full = big
    moment = full["time"].iloc[5]  # (has nanoseconds)
    assert store.read("kubernetes", "logs", at=[moment + pd.Timedelta(1, "ns")]).empty
    assert store.read("kubernetes", "logs", at=[moment])["message"].tolist() == ["request 5 done"]
    iso = store.read("kubernetes", "logs", at=["2026-11-03T14:00:00+01:00"])  # START
    assert iso["message"].tolist() == ["request 0 done"]
    none = store.read("kubernetes", "logs", columns=["time", "raw"], at=[])
    assert none.empty and list(none.columns) == ["time", "raw"]
    with pytest.raises(InvalidInput, match="not both"):
        store.read("kubernetes", "logs", time_range=(START, START + pd.Timedelta(1, "h")), at=[])
    with pytest.raises(InvalidInput, match="list of times"):
        store.read("kubernetes", "logs", at="2026-11-03T13:00:00Z")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.read("kubernetes", "logs", at=["2026-11-03 13:00"])  # no time zone


def test_project_selects_what_a_read_at_selects(big):
    store, full = big
    wanted = list(full["time"].iloc[[0, 1, ROW_GROUP_ROWS + 2]])
    read = store.read("kubernetes", "logs", columns=["raw", "time"], at=wanted)
    held = evidence_mod.project(full, columns=["raw", "time"], at=wanted, kind="logs")
    pd.testing.assert_frame_equal(held, read)


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_without_raw_then_raw_examples_gives_the_tables_of_the_full_read(demo_root, scenario):
    """What 02_assess and 04_logs do: no raw text for every line, then the examples' only."""
    from incident_lib.analysis import signatures

    rb = offline_runbook(demo_root / scenario)
    levels = ("warning", "error", "critical")
    full = rb.evidence("kubernetes", "logs")
    want = signatures.signatures(full, window=rb.window, baseline=rb.baseline, levels=levels)
    narrow = rb.evidence("kubernetes", "logs", columns=LOG_COLUMNS[:-1], time_range=rb.fetch_window)
    found = signatures.signatures(narrow, window=rb.window, baseline=rb.baseline, levels=levels)
    lines = rb.evidence(
        "kubernetes", "logs", columns=["time", "message", "raw"], at=found["first_seen"]
    )
    assert len(lines) < len(full) // 20  # the example lines, not the capture
    got = signatures.with_raw_examples(found, lines)
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want)
    assert "kubernetes/logs" not in rb.missing


def test_at_live_reads_the_capture_made_and_never_fetches_again(demo_copy):
    import incident_lib as il
    from incident_lib.sources.base import Fetched, SourceRegistry

    workspace = demo_copy("connection-leak")
    captured_logs = EvidenceStore(workspace).read("kubernetes", "logs")

    class Logs:
        name = "kubernetes"
        frames = ("logs",)
        fetches = 0

        def fetch(self, what, incident, span, *, progress=False):
            Logs.fetches += 1
            return Fetched(captured_logs)

        def query(self, what, incident, span):
            return {"what": what}

    registry = SourceRegistry()
    registry.register("kubernetes", lambda environ: Logs())
    rb = il.start_runbook("04_logs", workspace=workspace, mode="live", run_dir=None)
    rb.sources = registry
    logs = rb.evidence("kubernetes", "logs", columns=["time", "message"])
    assert Logs.fetches == 1 and len(logs) == len(captured_logs)
    moment = logs["time"].iloc[0]
    lines = rb.evidence("kubernetes", "logs", columns=["time", "raw"], at=[moment])
    assert Logs.fetches == 1
    assert (
        lines["raw"].tolist() == captured_logs.loc[captured_logs["time"] == moment, "raw"].tolist()
    )


def test_rows_at_times_of_a_judged_capture_read_only_those_rows(demo_copy, monkeypatch):
    """The examples' raw lines: no second read of every time to judge the capture again."""
    rb = offline_runbook(demo_copy("connection-leak"))
    store = rb.workspace.evidence
    reads: list[tuple[object, object, object]] = []
    real = EvidenceStore.read_entry

    def spy(self, entry, *, columns=None, time_range=None, at=None, where=None):
        reads.append((columns, time_range, at))
        return real(self, entry, columns=columns, time_range=time_range, at=at, where=where)

    monkeypatch.setattr(EvidenceStore, "read_entry", spy)
    logs = rb.evidence("kubernetes", "logs", columns=["time", "message"], time_range=rb.window)
    assert len(reads) == 1  # (rows inside the fetch window: judged on them)
    moments = list(logs["time"].iloc[:3])
    lines = rb.evidence("kubernetes", "logs", columns=["time", "raw"], at=moments)
    assert len(reads) == 2 and reads[-1][2] == moments
    assert len(lines) >= 3 and set(lines["time"]) == set(moments)
    # a newer capture has not been judged yet: it is judged again
    store.capture(store.read("kubernetes", "logs"), source="kubernetes", name="logs")
    rb.evidence("kubernetes", "logs", columns=["time", "raw"], at=moments)
    assert len(reads) == 5 and reads[-1] == (["time"], None, None)  # (+1: the read above)


# -- batches: a pass over every line without holding a column of all of them ---------------


def test_batches_are_the_read_a_row_group_at_a_time(big):
    store, full = big
    columns = ["raw", "time"]
    parts = list(store.batches("kubernetes", "logs", columns=columns))
    assert len(parts) == 3 and all(len(p) <= ROW_GROUP_ROWS for p in parts)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), full[columns])
    start, end = full["time"].iloc[ROW_GROUP_ROWS - 10], full["time"].iloc[ROW_GROUP_ROWS + 10]
    ranged = list(store.batches("kubernetes", "logs", columns=["message"], time_range=(start, end)))
    want = store.read("kubernetes", "logs", columns=["message"], time_range=(start, end))
    pd.testing.assert_frame_equal(pd.concat(ranged, ignore_index=True), want)
    assert len(ranged) == 2


def test_batches_refuse_before_the_first_part(tmp_path):
    store = captured(tmp_path, logs_frame(10))
    with pytest.raises(InvalidInput, match="no column"):
        store.batches("kubernetes", "logs", columns=["nope"])
    path = store.root / store.latest("kubernetes", "logs").file
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(evidence_mod.EvidenceIntegrityError):
        store.batches("kubernetes", "logs", columns=["raw"])


# -- where=: only the rows with some values (02_assess and the story group failures only) ---


@pytest.mark.parametrize(
    "time_range",
    [
        None,
        (ROW_GROUP_ROWS - 10, ROW_GROUP_ROWS + 10),  # across a row-group boundary
        (3, 2 * ROW_GROUP_ROWS + 999),
    ],
)
def test_where_keeps_the_rows_with_those_values_and_their_row_numbers(big, time_range):
    store, full = big
    chosen = full["level"].isin(["error", "critical"])
    bounds = None
    if time_range is not None:
        bounds = (full["time"].iloc[time_range[0]], full["time"].iloc[time_range[1]])
        chosen &= (full["time"] >= bounds[0]) & (full["time"] < bounds[1])
    want = full.loc[chosen, ["time", "pod", "message"]]  # the index: row numbers of the capture
    where = {"level": ("error", "critical")}
    read = store.read(
        "kubernetes", "logs", columns=["time", "pod", "message"], time_range=bounds, where=where
    )
    pd.testing.assert_frame_equal(read, want)
    assert len(read) and read.index[-1] > ROW_GROUP_ROWS  # rows of more than one group
    held = evidence_mod.project(
        full, columns=["time", "pod", "message"], time_range=bounds, kind="logs", where=where
    )
    pd.testing.assert_frame_equal(held, want)


def test_where_on_several_columns_on_unsorted_rows_and_matching_nothing(tmp_path):
    frame = logs_frame(ROW_GROUP_ROWS + 500, shuffle=True)
    store = captured(tmp_path, frame)
    full = store.read("kubernetes", "logs")
    where = {"level": ["error"], "pod": ["api-3", "api-4"]}
    want = full[full["level"].eq("error") & full["pod"].isin(["api-3", "api-4"])]
    pd.testing.assert_frame_equal(store.read("kubernetes", "logs", where=where), want)
    start, end = full["time"].min(), full["time"].quantile(0.5)
    inside = want[(want["time"] >= start) & (want["time"] < end)]
    pd.testing.assert_frame_equal(
        store.read("kubernetes", "logs", where=where, time_range=(start, end)), inside
    )
    none = store.read("kubernetes", "logs", columns=["time", "level"], where={"level": ["fatal"]})
    assert none.empty and list(none.columns) == ["time", "level"]


def test_where_is_refused_with_at_and_on_a_column_the_capture_has_not(big, demo_root):
    store, full = big
    with pytest.raises(InvalidInput, match="not both"):
        store.read("kubernetes", "logs", where={"level": ["error"]}, at=[full["time"].iloc[0]])
    with pytest.raises(InvalidInput, match="no column"):
        store.read("kubernetes", "logs", where={"severity": ["error"]})
    rb = offline_runbook(demo_root / "connection-leak")
    with pytest.raises(InvalidInput, match="no column"):
        rb.evidence("kubernetes", "logs", where={"severity": ["error"]})
    with pytest.raises(InvalidInput, match="not both"):
        rb.evidence("kubernetes", "logs", where={"level": ["error"]}, at=[full["time"].iloc[0]])


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_signatures_of_the_failures_read_alone_are_those_of_the_full_read(demo_root, scenario):
    """02_assess reads the failure levels only: the same table, the same upstreams."""
    from incident_lib.analysis import signatures
    from incident_lib.report import story

    levels = ("warning", "error", "critical")
    rb = offline_runbook(demo_root / scenario)
    full = rb.evidence("kubernetes", "logs", columns=LOG_COLUMNS[:4], time_range=rb.fetch_window)
    failures = rb.evidence(
        "kubernetes",
        "logs",
        columns=LOG_COLUMNS[:4],
        time_range=rb.fetch_window,
        where={"level": levels},
    )
    assert 0 < len(failures) < len(full)
    tables = [
        signatures.rank_signatures(
            signatures.signatures(logs, window=rb.window, baseline=rb.baseline, levels=levels)
        )
        for logs in (full, failures)
    ]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert story.captured_relations(rb.workspace) == story.captured_relations(
        rb.workspace, logs=full
    )


@pytest.mark.parametrize(
    "time_range",
    [
        None,
        (ROW_GROUP_ROWS - 10, ROW_GROUP_ROWS + 10),  # across a row-group boundary
        (ROW_GROUP_ROWS + 3, 2 * ROW_GROUP_ROWS + 999),  # not from the first group
    ],
)
def test_an_empty_where_keeps_every_row_numbered_as_captured(big, time_range):
    """``where={}``: the rows of a plain read, each labelled by its row in the capture."""
    store, full = big
    bounds = None
    want = full[["time", "level", "message"]]
    if time_range is not None:
        bounds = (full["time"].iloc[time_range[0]], full["time"].iloc[time_range[1]])
        want = want[(want["time"] >= bounds[0]) & (want["time"] < bounds[1])]
    read = store.read(
        "kubernetes", "logs", columns=["time", "level", "message"], time_range=bounds, where={}
    )
    pd.testing.assert_frame_equal(read, want, check_index_type=False)
    assert list(read.index) == list(want.index)
    held = evidence_mod.project(
        full, columns=["time", "level", "message"], time_range=bounds, kind="logs", where={}
    )
    pd.testing.assert_frame_equal(held, want)


def test_an_empty_where_numbers_rows_out_of_time_order_too(tmp_path):
    frame = logs_frame(2 * ROW_GROUP_ROWS + 500, shuffle=True)
    store = captured(tmp_path, frame)
    full = store.read("kubernetes", "logs")
    start, end = full["time"].quantile(0.2), full["time"].quantile(0.7)
    want = full[(full["time"] >= start) & (full["time"] < end)]
    read = store.read("kubernetes", "logs", time_range=(start, end), where={})
    pd.testing.assert_frame_equal(read, want, check_index_type=False)
    assert list(read.index) == list(want.index)
    outside = store.read(
        "kubernetes",
        "logs",
        columns=["time"],
        time_range=("2020-01-01T00:00Z", "2020-01-02T00:00Z"),
        where={},
    )
    assert outside.empty and list(outside.columns) == ["time"]


def test_distinct_gives_the_values_of_a_text_column_across_row_groups(tmp_path):
    frame = logs_frame(2 * ROW_GROUP_ROWS + 500)
    frame.loc[2 * ROW_GROUP_ROWS + 10, "level"] = "critical"  # in the last group only
    frame.loc[5, "level"] = None
    store = captured(tmp_path, frame)
    entry = store.latest("kubernetes", "logs")
    assert store.distinct(entry, "level") == ["critical", "error", "info"]
    assert store.distinct(entry, "pod") == [f"api-{i}" for i in range(7)]
    with pytest.raises(InvalidInput, match="no column 'severity'"):
        store.distinct(entry, "severity")
    with pytest.raises(InvalidInput, match="not text"):
        store.distinct(entry, "time")
