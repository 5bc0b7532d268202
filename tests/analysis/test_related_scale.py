"""Upstreams found in big logs a slice at a time are the ones a line-by-line reading gives.

The oracle reads every line with Python's ``re`` (no Arrow, no RE2, no slices): the same
names in the same order on the demos and on generated logs longer than one slice, across
slice boundaries, with the cap on distinct texts and the ``message`` fallback of an empty
``raw``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pandas as pd
import pytest

from incident_lib.analysis import related
from incident_lib.analysis.related import dependencies_from_logs
from incident_lib.demo import SCENARIOS
from incident_lib.infra.evidence import EvidenceStore


def _oracle(logs: pd.DataFrame, *, namespace: str = "") -> tuple[str, ...]:
    """Line by line with Python's ``re``: the first distinct hinted texts, each pattern's
    first match in each, in order of mention (no Arrow, no RE2, no slices)."""
    columns = [c for c in ("raw", "message") if c in logs.columns]
    if logs.empty or not columns:
        return ()
    texts = logs[columns[0]].astype("str").fillna("")
    if len(columns) > 1:
        texts = texts.where(texts != "", logs[columns[1]].astype("str").fillna(""))
    hinted = [t for t in dict.fromkeys(texts) if related._LOG_HINT.search(t)]
    found: dict[str, None] = {}
    for text in hinted[: related._MAX_LOG_TEXTS]:
        for pattern in related._LOG_PATTERNS:
            match = pattern.search(text)
            if match is None:
                continue
            name = related._host_name(related._normal_upstream(match["host"]), namespace)
            if name:
                found.setdefault(name)
    return tuple(found)


def _frame(raws: list[str | None], messages: list[str | None] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {"raw": pd.Series(raws, dtype="str"), "message": pd.Series(messages or raws, dtype="str")}
    )


def test_first_mentions_keep_their_order_across_slices():
    n = 200_000  # three slices and a part
    raws = [f"request {i} served in {i % 97} ms" for i in range(n)]
    raws[150_000] = "dial tcp ledger:5432: connection refused"
    raws[70_000] = "GET http://payments:8080/charge failed"
    raws[70_001] = "upstream_cluster=inventory_8080"
    raws[199_999] = "GET http://payments:8080/charge failed"  # again: counted once
    raws[10] = "redis://cache.prod.svc:6379 timeout"
    logs = _frame(raws)
    found = dependencies_from_logs(logs, namespace="prod")
    assert found == ("cache", "payments", "inventory", "ledger")
    assert found == _oracle(logs, namespace="prod")


def test_only_the_first_distinct_texts_are_scanned_whatever_the_slices():
    cap = related._MAX_LOG_TEXTS
    # cap distinct hinted texts that name no service, repeated across slices, then a name
    raws = [f"connect attempt {i % cap} failed" for i in range(cap + 30_000)]
    raws += ["dial tcp ledger:5432: refused"]
    early = ["dial tcp orders:5432: refused", *raws]
    assert dependencies_from_logs(_frame(raws)) == _oracle(_frame(raws)) == ()
    assert dependencies_from_logs(_frame(early)) == _oracle(_frame(early)) == ("orders",)
    # repeats do not use up the cap: 50,000 lines of two texts, then a name
    twice = ["connect a failed", "connect b failed"] * (cap // 2) + ["dial tcp ledger:5432: x"]
    assert dependencies_from_logs(_frame(twice)) == _oracle(_frame(twice)) == ("ledger",)


def test_an_empty_raw_line_falls_back_to_its_message_in_every_slice():
    n = 140_000
    raws: list[str | None] = ["plain line"] * n
    messages: list[str | None] = ["plain line"] * n
    raws[100_000], messages[100_000] = "", "dial tcp billing:8080: i/o timeout"
    raws[130_000], messages[130_000] = None, "http://orders:8080/x 503"
    raws[5], messages[5] = "", None
    logs = _frame(raws, messages)
    assert dependencies_from_logs(logs) == _oracle(logs) == ("billing", "orders")
    assert dependencies_from_logs(logs[["message"]]) == _oracle(logs[["message"]])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_demo_logs_give_the_names_the_whole_column_gave(demo_root, scenario):
    store = EvidenceStore(demo_root / scenario)
    logs = store.read("kubernetes", "logs")
    namespace = "prod"
    found = dependencies_from_logs(logs, namespace=namespace)
    assert found == _oracle(logs, namespace=namespace)
    assert found  # the demos name their upstreams
    big = pd.concat([logs] * (140_000 // len(logs) + 1), ignore_index=True)
    assert dependencies_from_logs(big, namespace=namespace) == found


def test_parts_of_logs_in_order_give_what_the_whole_frame_gives():
    n = 200_000
    raws = [f"request {i} served in {i % 97} ms" for i in range(n)]
    raws[150_000] = "dial tcp ledger:5432: connection refused"
    raws[70_000] = "GET http://payments:8080/charge failed"
    raws[10] = "redis://cache.prod.svc:6379 timeout"
    logs = _frame(raws)
    whole = dependencies_from_logs(logs, namespace="prod")
    cuts = [0, 7, 70_000, 70_001, 131_072, n]  # uneven parts, across slice boundaries
    parts = [logs.iloc[a:b] for a, b in itertools.pairwise(cuts)]
    assert dependencies_from_logs(iter(parts), namespace="prod") == whole
    assert whole == ("cache", "payments", "ledger")
    assert dependencies_from_logs(iter([])) == ()


def test_narrow_logs_are_searched_in_the_raw_lines_of_their_capture(demo_copy):
    """02/04 read logs without raw: an upstream named only in a JSON field is still found."""
    from incident_lib.infra.workspace import open_workspace
    from incident_lib.report.story import captured_relations

    workspace = open_workspace(demo_copy("connection-leak"))
    store = workspace.evidence
    logs = store.read("kubernetes", "logs")
    row = logs.index[len(logs) // 2]
    logs.loc[row, "raw"] = (
        '{"level": "error", "msg": "upstream request failed", "peer": "dial tcp ledger:5432"}'
    )
    logs.loc[row, "message"] = "upstream request failed"
    store.capture(logs, source="kubernetes", name="logs")
    narrow = store.read("kubernetes", "logs", columns=["time", "pod", "level", "message"])
    in_message = dependencies_from_logs(narrow, namespace=workspace.incident.namespace)
    assert "ledger" not in in_message
    relations = captured_relations(workspace, logs=narrow)
    assert relations.relation("ledger") == "dependency"
    assert captured_relations(workspace) == relations  # nothing given: the capture
    # given with raw: that frame is searched, not the capture
    assert captured_relations(workspace, logs=logs.drop(index=row)).relation("ledger") != (
        "dependency"
    )
    # an empty frame (logs unavailable in the notebook) names nothing from the capture
    assert captured_relations(workspace, logs=narrow.iloc[:0]).relation("ledger") != "dependency"


def _streamed_captures(monkeypatch) -> list[str]:
    """The captures read a row group at a time from now on (``source/name``, in order)."""
    streamed: list[str] = []
    real = EvidenceStore.batches

    def spy(self, source, name, **kwargs):
        streamed.append(f"{source}/{name}")
        return real(self, source, name, **kwargs)

    monkeypatch.setattr(EvidenceStore, "batches", spy)
    return streamed


def test_relations_from_the_captures_are_computed_once_per_run(demo_copy, tmp_path, monkeypatch):
    """02, 04 and the story search the same raw lines: with the run's memo, only the first."""
    from incident_lib.infra.workspace import open_workspace
    from incident_lib.report.story import captured_relations

    workspace = open_workspace(demo_copy("connection-leak"))
    store = workspace.evidence
    streamed = _streamed_captures(monkeypatch)
    memo = tmp_path / "run" / ".memo"
    plain = captured_relations(workspace)
    assert streamed == ["kubernetes/logs"]
    first = captured_relations(workspace, memo=memo)
    narrow = store.read("kubernetes", "logs", columns=["time", "message"])
    again = captured_relations(workspace, logs=narrow, memo=memo)
    assert plain == first == again
    assert streamed == ["kubernetes/logs"] * 2  # the memo's first computation only
    # a frame with its raw lines is searched itself, never taken from the memo
    captured_relations(workspace, logs=store.read("kubernetes", "logs"), memo=memo)
    assert len(streamed) == 2
    # a newer capture is another key: an upstream only it names is found
    logs = store.read("kubernetes", "logs")
    logs.loc[logs.index[0], "raw"] = '{"msg": "call failed", "peer": "dial tcp ledger:5432"}'
    store.capture(logs, source="kubernetes", name="logs")
    assert captured_relations(workspace, memo=memo).relation("ledger") == "dependency"
    assert len(streamed) == 3


def test_the_postmortem_reads_the_relations_the_run_found_already(demo_copy, tmp_path, monkeypatch):
    """11_postmortem builds the story the runner builds: with the run's memo, it does not
    search the raw lines again, and writes the same document."""
    from incident_lib.infra.workspace import open_workspace
    from incident_lib.report.postmortem import write_postmortem
    from incident_lib.report.story import captured_relations

    workspace = open_workspace(demo_copy("connection-leak"))
    memo = tmp_path / "run" / ".memo"
    captured_relations(workspace, memo=memo)  # the runner (or another notebook) first
    streamed = _streamed_captures(monkeypatch)
    at = datetime(2026, 11, 28, tzinfo=UTC)
    shared = write_postmortem(workspace, memo=memo, generated_at=at).markdown
    assert streamed == []
    assert write_postmortem(workspace, generated_at=at).markdown == shared
    assert streamed == ["kubernetes/logs"]  # without the memo: searched again
