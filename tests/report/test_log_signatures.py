"""Log signatures grouped once per run (report/log_signatures.py, ``Runbook.log_signatures``).

02_assess, 04_logs and the story group the failures of the same log capture: the
first to ask groups them, the others read its result. Whoever groups, the result
is that of grouping the capture's lines there: the same table, each line and
each example labelled by its row in the capture. A result grouped from lines
that could not be read is never shared, and a notebook that reads a shared
result still judges the capture (unavailable or outside the windows: unknown).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

import incident_lib as il
from incident_lib.analysis.signatures import signatures_with_lines
from incident_lib.analysis.timeline import FAILURE_LEVELS
from incident_lib.report.log_signatures import LOG_COLUMNS, captured_signatures

LEVELS = ("warning", "error", "critical")


def runbook(workspace: Path, run_dir: Path | None, notebook: str = "04_logs") -> il.Runbook:
    return il.start_runbook(notebook, workspace=workspace, mode="offline", run_dir=run_dir or "")


def grouped(rb: il.Runbook, levels, memo: Path):
    """captured_signatures of the runbook's logs capture over its windows, as the story asks."""
    return captured_signatures(
        rb.workspace.evidence,
        "kubernetes",
        "logs",
        window=rb.window,
        baseline=rb.baseline,
        levels=levels,
        memo=memo,
    )


def assert_same(got, want) -> None:
    pd.testing.assert_frame_equal(got.table, want.table)
    pd.testing.assert_series_equal(got.lines, want.lines, check_index_type=False)
    pd.testing.assert_series_equal(got.examples, want.examples, check_index_type=False)


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_the_grouping_is_that_of_the_capture_labelled_by_row(demo_root, scenario, tmp_path):
    rb = runbook(demo_root / scenario, None)
    store = rb.workspace.evidence
    full = store.read("kubernetes", "logs")  # indexed by row in the capture
    want = signatures_with_lines(
        full, window=rb.window, baseline=rb.baseline, levels=LEVELS
    )  # the whole capture, every column: the reference
    got = grouped(rb, LEVELS, tmp_path / "memo")
    assert len(got.table) > 0
    # examples: raw lines in the reference, messages from the narrow read (raw is read later)
    pd.testing.assert_frame_equal(
        got.table.drop(columns="example"), want.table.drop(columns="example")
    )
    pd.testing.assert_series_equal(got.lines, want.lines, check_index_type=False)
    pd.testing.assert_series_equal(got.examples, want.examples, check_index_type=False)
    rows = full.loc[got.examples.loc[got.table["signature"]].to_numpy()]
    assert list(rows["time"]) == list(got.table["first_seen"])
    assert list(rows["message"]) == list(got.table["example"])


def test_levels_asked_for_differently_share_one_grouping(demo_root, tmp_path):
    """The story's longer list of level names and 02's three: one grouping per run."""
    rb = runbook(demo_root / "connection-leak", None)
    store, memo = rb.workspace.evidence, tmp_path / "memo"
    reads: list[list[str]] = []

    def read(values):
        reads.append(sorted(values))
        return store.read(
            "kubernetes",
            "logs",
            columns=list(LOG_COLUMNS),
            time_range=rb.fetch_window,
            where={"level": values},
        )

    common = {"window": rb.window, "baseline": rb.baseline, "memo": memo, "read": read}
    first = captured_signatures(store, "kubernetes", "logs", levels=FAILURE_LEVELS, **common)
    again = captured_signatures(store, "kubernetes", "logs", levels=["ERROR", *LEVELS], **common)
    assert reads == [["critical", "error", "warning"]]  # the levels the capture holds
    assert_same(again, first)
    only_errors = captured_signatures(store, "kubernetes", "logs", levels=["error"], **common)
    assert reads[-1] == ["error"] and len(reads) == 2  # other levels: grouped for them
    assert set(only_errors.table["level"]) == {"error"}


def test_lines_that_could_not_be_read_are_not_shared(demo_root, tmp_path):
    rb = runbook(demo_root / "connection-leak", None)
    store, memo = rb.workspace.evidence, tmp_path / "memo"
    calls: list[int] = []

    def unreadable(values):
        calls.append(1)
        return None

    common = {"window": rb.window, "baseline": rb.baseline, "levels": LEVELS, "memo": memo}
    nothing = captured_signatures(store, "kubernetes", "logs", read=unreadable, **common)
    assert nothing.table.empty and nothing.lines.empty
    found = captured_signatures(store, "kubernetes", "logs", **common)  # read: grouped now
    assert len(found.table) > 0


def test_notebooks_of_a_run_share_the_grouping_and_still_judge_the_capture(demo_copy, tmp_path):
    workspace = demo_copy("connection-leak")
    run = tmp_path / "run"
    run.mkdir()
    first = runbook(workspace, run, "02_assess")
    found = first.log_signatures(LEVELS)
    assert (run / ".memo").is_dir()
    second = runbook(workspace, run, "04_logs")
    shared = second.log_signatures(LEVELS)
    assert_same(shared, found)
    assert "kubernetes/logs" in second.asked and "kubernetes/logs" not in second.missing
    alone = runbook(workspace, None).log_signatures(LEVELS)  # no run: grouped here
    assert_same(alone, found)
    # each example is the raw line of the capture's row the event points at
    capture = first.workspace.evidence.read("kubernetes", "logs")
    rows = capture.loc[found.examples.loc[found.table["signature"]].to_numpy()]
    assert list(found.table["example"]) == list(rows["raw"])

    # a capture outside the windows, grouped (to nothing) by the story of the run: the
    # notebook reading that result says unknown, not "no failures"
    store = first.workspace.evidence
    logs = store.read("kubernetes", "logs")
    store.capture(
        logs.assign(time=logs["time"] - pd.Timedelta(30, "D")), source="kubernetes", name="logs"
    )
    later = tmp_path / "later"
    later.mkdir()
    story_side = grouped(first, FAILURE_LEVELS, later / ".memo")  # (as the story asks)
    assert story_side.table.empty
    reader = runbook(workspace, later, "02_assess")
    assert reader.log_signatures(LEVELS).table.empty
    assert "outside" in reader.missing["kubernetes/logs"]


def test_a_missing_log_capture_is_unknown(demo_copy, tmp_path):
    workspace = demo_copy("connection-leak")
    for path in (workspace / "evidence").glob("*kubernetes-logs*"):
        path.unlink()  # the file the manifest names is gone
    run = tmp_path / "run"
    run.mkdir()
    rb = runbook(workspace, run, "02_assess")
    found = rb.log_signatures(LEVELS)
    assert found.table.empty and found.lines.empty
    assert "kubernetes/logs" in rb.missing
    assert not list((run / ".memo").glob("signatures-*/table.parquet"))


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own priority is Linux's")
def test_the_upstream_search_beside_the_grouping_runs_at_a_lower_priority():
    """The story's upstream search yields the CPU to the grouping the notebooks wait for."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from incident_lib.report.story import _niced

    def nice_here() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, 0)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(_niced, nice_here).result() == min(before + 10, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # this thread: unchanged
