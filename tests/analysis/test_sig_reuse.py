"""Work done once in 04_logs: each line's signature reused, access-log lines found by bytes.

- :func:`signatures_with_lines` gives the :func:`signatures` table and the signature
  of every line it grouped; :func:`signature_timeseries` given those
  (``line_signatures=``) must chart exactly what it charts by keying the messages
  again (its path without them, unchanged), on the demos and on generated frames
  with shuffled rows, odd labels, access-log lines and lines outside the window
  and the baseline; and it must not key the lines it was given.
- ``access_logs._scan`` looks for the lines that may match over a slice's bytes:
  it must find what the per-line search found whatever the storage of the text
  (Arrow slices and chunks, Python strings, objects, missing values), and hand the
  regular expressions only the lines with a quote before a method.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from incident_lib.analysis import access_logs
from incident_lib.analysis.access_logs import access_summary, is_access_log
from incident_lib.analysis.signatures import (
    SignatureLines,
    frames,
    rank_signatures,
    signature_timeseries,
    signatures,
    signatures_with_lines,
)
from incident_lib.demo import SCENARIOS
from incident_lib.infra.evidence import EvidenceStore

CHOSEN = ["warning", "error", "critical"]


def _both(in_view, table, found, **kwargs):
    """The chart from each line's signature, and the one from keying the lines again."""
    with_ids = signature_timeseries(in_view, table, line_signatures=found.lines, **kwargs)
    rekeyed = signature_timeseries(in_view, table, **kwargs)
    return with_ids, rekeyed


# -- the demos ---------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("wide", [False, True])
def test_demo_chart_from_the_grouped_lines_is_the_rekeyed_chart(demo_root, scenario, wide):
    logs = EvidenceStore(demo_root / scenario).read(
        "kubernetes", "logs", columns=["time", "pod", "level", "message"]
    )
    truth = SCENARIOS[scenario].truth
    window = (truth.window.start, truth.window.end)
    span = truth.window.end - truth.window.start
    baseline = (truth.window.start - span, truth.window.start)
    found = signatures_with_lines(logs, window=window, baseline=baseline, levels=CHOSEN)
    pd.testing.assert_frame_equal(
        found.table, signatures(logs, window=window, baseline=baseline, levels=CHOSEN)
    )
    table = rank_signatures(found.table)
    leads = table[table["same_as"] == 0]
    at_levels = logs[logs["level"].isin(CHOSEN)]
    # the notebook's view is the baseline and the window; wider, lines nobody grouped
    start, end = (window[0] - 2 * span, window[1] + span) if wide else (baseline[0], window[1])
    in_view = at_levels[(at_levels["time"] >= start) & (at_levels["time"] < end)]
    for top, labels in [(5, True), (None, False)]:
        with_ids, rekeyed = _both(in_view, leads, found, top=top, labels=labels)
        pd.testing.assert_frame_equal(with_ids, rekeyed)
        assert with_ids["count"].sum() > 0


# -- generated frames --------------------------------------------------------------------

_TEMPLATES = [
    "connection to db-{n}:5432 refused after {ms} ms",
    "payment {id} declined: card expired",
    "user {word} not found in tenant {n}",
    "timeout calling inventory-service ({ms}ms) for order {id}",
    "cache miss ratio {n}% above threshold",
    "retrying job {id} attempt {n}",
    'GET /api/v1/orders/{n} HTTP/1.1" 503 UO',  # (no opening quote: not an access-log line)
]
_ACCESS = '[2026-11-03T14:02:11.000Z] "POST /api/v1/checkout HTTP/1.1" {status} UO 0 91 1'
_WORDS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def _generated_logs(seed: int, n: int = 6_000) -> pd.DataFrame:
    rng = random.Random(seed)
    start = pd.Timestamp("2026-11-03T11:00:00Z")
    rows = []
    for _ in range(n):
        if rng.random() < 0.08:
            message = _ACCESS.format(status=rng.choice([200, 500, 503]))
        else:
            template = rng.choice(_TEMPLATES[: 3 + seed % 5])
            message = template.format(
                n=rng.randrange(1, 99),
                ms=rng.randrange(1, 30_000),
                id=f"{rng.getrandbits(64):016x}",
                word=rng.choice(_WORDS),
            )
        rows.append(
            {
                "time": start + pd.Timedelta(milliseconds=rng.randrange(0, 5 * 3_600_000)),
                "pod": f"api-{rng.randrange(4)}",
                "level": rng.choice(["info", "warning", "error", "error", "critical"]),
                "message": message,
            }
        )
    logs = pd.DataFrame(rows).astype({"pod": "str", "level": "str", "message": "str"})
    labels = rng.sample(range(10 * n), n)  # unique, in no order (rows of a where= read keep
    logs.index = pd.Index(labels)  # their capture row numbers)
    return logs


@pytest.mark.parametrize("seed", range(6))
def test_generated_frames_chart_the_same_with_or_without_the_grouped_lines(seed):
    logs = _generated_logs(seed)
    window = (pd.Timestamp("2026-11-03T13:00:00Z"), pd.Timestamp("2026-11-03T14:00:00Z"))
    baseline = (pd.Timestamp("2026-11-03T12:00:00Z"), window[0])
    found = signatures_with_lines(logs, window=window, baseline=baseline, levels=CHOSEN)
    table = rank_signatures(found.table)
    assert len(table) >= 3
    in_view = logs[logs["level"].isin(CHOSEN)]  # 11:00-16:00: most lines were not grouped
    for freq in ("1min", "10min"):
        with_ids, rekeyed = _both(in_view, table, found, top=None, labels=True, freq=freq)
        pd.testing.assert_frame_equal(with_ids, rekeyed)
    in_span = in_view[(in_view["time"] >= baseline[0]) & (in_view["time"] < window[1])]
    with_ids, rekeyed = _both(in_span, table, found, top=3)
    pd.testing.assert_frame_equal(with_ids, rekeyed)


def test_the_grouped_lines_are_those_of_the_window_and_the_baseline():
    logs = _generated_logs(1)
    window = (pd.Timestamp("2026-11-03T13:00:00Z"), pd.Timestamp("2026-11-03T14:00:00Z"))
    baseline = (pd.Timestamp("2026-11-03T12:00:00Z"), window[0])
    found = signatures_with_lines(logs, window=window, baseline=baseline, levels=["ERROR"])
    assert isinstance(found, SignatureLines)
    table, lines, examples = found
    time = logs["time"]
    expected = logs[
        (logs["level"] == "error")
        & ((time >= baseline[0]) & (time < window[1]))
        & ~is_access_log(logs["message"])
    ]
    assert sorted(lines.index) == sorted(expected.index)
    assert lines.dtype == "str" and lines.name == "signature"
    assert list(logs.loc[lines.index, "time"]) == sorted(expected["time"])  # in time order
    in_window = lines[(logs.loc[lines.index, "time"] >= window[0]).to_numpy()]
    counts = in_window.value_counts()
    assert counts.to_dict() == dict(zip(table["signature"], table["count"], strict=True))
    base = lines[(logs.loc[lines.index, "time"] < window[0]).to_numpy()].value_counts()
    assert base.reindex(table["signature"], fill_value=0).tolist() == (
        table["baseline_count"].tolist()
    )
    # each example: the signature's first line in the window, by its label in logs
    assert examples.name == "row" and sorted(examples.index) == sorted(table["signature"])
    first = in_window.index.to_series().groupby(in_window.to_numpy()).first()
    assert examples.reindex(first.index).tolist() == first.tolist()
    rows = logs.loc[examples.reindex(table["signature"]).to_numpy()]
    assert list(rows["time"]) == list(table["first_seen"])
    assert list(rows["message"]) == list(table["example"])  # (no raw column here)


def test_lines_given_are_not_keyed_again(monkeypatch):
    logs = _generated_logs(2)
    window = (pd.Timestamp("2026-11-03T13:00:00Z"), pd.Timestamp("2026-11-03T14:00:00Z"))
    found = signatures_with_lines(logs, window=window, levels=CHOSEN)
    expected = signature_timeseries(logs.loc[found.lines.index], found.table, top=None)

    def no_keys(messages):
        raise AssertionError(f"{len(messages)} lines keyed again")

    monkeypatch.setattr(frames, "_keys", no_keys)
    got = signature_timeseries(
        logs.loc[found.lines.index], found.table, top=None, line_signatures=found.lines
    )
    pd.testing.assert_frame_equal(got, expected)
    assert got["count"].sum() == found.table["count"].sum() + found.table["baseline_count"].sum()


def test_non_unique_labels_are_keyed_as_without_lines():
    logs = _generated_logs(3).reset_index(drop=True)
    logs.index = pd.Index(np.arange(len(logs)) // 2)  # every label twice
    window = (pd.Timestamp("2026-11-03T13:00:00Z"), pd.Timestamp("2026-11-03T14:00:00Z"))
    found = signatures_with_lines(logs, window=window, levels=CHOSEN)
    assert not found.lines.index.is_unique
    with_ids, rekeyed = _both(logs[logs["level"].isin(CHOSEN)], found.table, found, top=None)
    pd.testing.assert_frame_equal(with_ids, rekeyed)


def test_no_lines_grouped_gives_an_empty_table_and_no_lines():
    logs = _generated_logs(4)
    found = signatures_with_lines(logs, levels=["debug"])
    assert found.table.empty and tuple(found.table.columns) == frames.SIGNATURE_COLUMNS
    assert found.lines.empty and found.lines.dtype == "str"
    table = signatures(logs, levels=CHOSEN)
    ts = signature_timeseries(logs, table, line_signatures=found.lines)  # all keyed
    pd.testing.assert_frame_equal(ts, signature_timeseries(logs, table))


# -- access-log lines found over bytes ---------------------------------------------------

_VERBS = "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE"
_ORACLE = re.compile(
    rf'"(?P<m1>{_VERBS}) [^"]*" (?P<s1>[1-5]\d\d)(?![\w.])'
    rf'|(?<!\S)(?P<s2>[1-5]\d\d) (?:\d{{3}}|-) \d+ \d+ "(?P<m2>{_VERBS}) [^"]*"'
)


def _oracle(messages) -> list[bool]:
    return [isinstance(m, str) and '" ' in m and _ORACLE.search(m) is not None for m in messages]


def _lines(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    pieces = [
        '"GET / HTTP/1.1" 503 UO',
        '"POST /ü HTTP/1.1" 200 -',
        '503 - 34 366 "GET https://a:443/ HTTP/1.1" x',
        '503 - 34 366 "GET / HTTP/1.1"',  # (no quote before a space: not counted)
        'key="value" other="x"',
        '"- - -" 0 UF',
        "GET / HTTP/1.1",
        '"',
        '" ',
        "G",
        'é\u2003"GET /a b HTTP/1.1" 404\u2003',
        "",
    ]
    out: list[str | None] = []
    for _ in range(n):
        if rng.random() < 0.03:
            out.append(None)
            continue
        out.append("".join(rng.choice(pieces) for _ in range(rng.randrange(1, 4))))
    return out


@pytest.mark.parametrize(
    "storage", ["str", "string[python]", "object", "sliced", "chunked", "string32"]
)
def test_access_lines_found_over_bytes_are_the_per_line_search(storage, monkeypatch):
    monkeypatch.setattr(access_logs, "_SLICE", 1_000)  # slices end inside quotes too
    values = _lines(5_000, seed=len(storage))
    if storage == "sliced":
        messages = pd.Series(values, dtype="str").iloc[7:]
    elif storage == "chunked":
        parts = [pd.Series(values[i : i + 777], dtype="str") for i in range(0, len(values), 777)]
        messages = pd.concat(parts, ignore_index=True)
        assert messages.array.__arrow_array__().num_chunks > 1
    elif storage == "string32":
        messages = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, type=pa.string())))
    else:
        messages = pd.Series(values, dtype=storage)
    flags = is_access_log(messages)
    assert flags.tolist() == _oracle(messages)
    assert 100 < flags.sum() < len(messages) - 100


def test_lines_ending_and_starting_at_a_slice_boundary(monkeypatch):
    monkeypatch.setattr(access_logs, "_SLICE", 2)
    messages = pd.Series(
        ['x "', 'GET / HTTP/1.1" 503 UO', '"GET / HTTP/1.1"', " 503 UO", '"GET / HTTP/1.1" 503'],
        dtype="str",
    )
    expected = [False, False, False, False, True]
    assert is_access_log(messages).tolist() == _oracle(messages) == expected


def test_only_lines_with_a_quote_before_a_method_reach_the_expressions(monkeypatch):
    seen: list[int] = []
    real = pc.extract_regex

    def spy(strings, pattern, *args, **kwargs):
        seen.append(len(strings))
        return real(strings, pattern, *args, **kwargs)

    monkeypatch.setattr(pc, "extract_regex", spy)
    noise = [f'user="u{i}" action="login" result="ok"' for i in range(3_000)]
    access = ['"GET /a HTTP/1.1" 503 UO', '"PUT /b HTTP/1.1" 201 -']
    logs = pd.DataFrame(
        {
            "time": pd.Timestamp("2026-11-03T14:00:00Z")
            + pd.to_timedelta(np.arange(3_002), unit="s"),
            "message": pd.Series(noise + access, dtype="str"),
        }
    )
    window = (pd.Timestamp("2026-11-03T14:00:00Z"), pd.Timestamp("2026-11-03T16:00:00Z"))
    summary = access_summary(logs, window=window)
    assert summary[["method", "status", "requests"]].values.tolist() == [
        ["GET", "5xx", 1],
        ["PUT", "2xx", 1],
    ]
    assert sum(seen) == 2  # (the 3,000 quoted key="value" lines were never searched)
