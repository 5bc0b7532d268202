"""``signatures()`` without copying every column: the same table as the copying version.

``signatures()`` used to copy the whole frame (raw text included) through each
boolean mask; it now filters positions on the narrow columns and takes
``message`` for the kept lines and ``raw`` for one example per signature only.
:func:`reference` below is that earlier version, kept verbatim in what it
computes; the two must give identical frames on both demos, with every
argument, and on frames with holes, shuffled rows and a non-unique index.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from incident_lib.analysis.access_logs import is_access_log
from incident_lib.analysis.signatures import frames
from incident_lib.analysis.signatures.grouping import _group
from incident_lib.infra.evidence import EvidenceStore
from incident_lib.infra.workspace import open_workspace


def reference(logs, *, window=None, baseline=None, levels=None, access_logs=False):
    """The copying implementation of ``signatures()`` (before issue 15)."""
    frames._check_logs(logs)
    if "raw" not in logs.columns:  # (the copying version needed raw; an empty one is the same)
        logs = logs.assign(raw="")
    frame = logs[["time", "pod", "level", "message", "raw"]].reset_index(drop=True)
    frame["time"] = frame["time"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    win = frames._window(window, "window")
    base = frames._window(baseline, "baseline")
    if isinstance(levels, str):
        levels = (levels,)
    if levels is not None:
        wanted = {str(level).lower() for level in levels}
        frame = frame[frame["level"].str.lower().isin(wanted)]
    if not access_logs and not frame.empty:
        frame = frame[~is_access_log(frame["message"]).to_numpy()]
    if frame.empty:
        return frames._empty_signatures()
    if win is None:
        times = frame["time"]
        if base is not None:
            times = times[(times < base[0]) | (times >= base[1])]
        if times.empty:
            return frames._empty_signatures()
        start = times.min()
        win = (start, max(times.max() + pd.Timedelta(1, "ns"), start + pd.Timedelta(1, "min")))
    elif base is None:
        base = (win[0] - (win[1] - win[0]), win[0])
    time = frame["time"]
    in_win = ((time >= win[0]) & (time < win[1])).to_numpy()
    in_base = (
        ((time >= base[0]) & (time < base[1])).to_numpy()
        if base is not None
        else np.zeros(len(frame), dtype=bool)
    )
    rows = frame[in_win | in_base].sort_values("time", kind="stable")
    if not in_win.any():
        return frames._empty_signatures()
    grouping = _group(rows["message"].tolist())
    rows = rows.assign(signature=grouping.ids)
    current = rows[((rows["time"] >= win[0]) & (rows["time"] < win[1])).to_numpy()]
    by_sig = current.groupby("signature", sort=False)
    out = by_sig.agg(
        count=("time", "size"),
        first_seen=("time", "min"),
        last_seen=("time", "max"),
        pods=("pod", "nunique"),
    )
    out["pod_names"] = by_sig["pod"].agg(frames._pod_names)
    rank = current["level"].str.lower().map(frames._SEVERITY).fillna(-1)
    most_severe = rank.groupby(current["signature"]).idxmax()
    out["level"] = pd.Series(current["level"].loc[most_severe].to_numpy(), most_severe.index)
    first = current.drop_duplicates("signature").set_index("signature")
    example = first["raw"].where(first["raw"].fillna("") != "", first["message"]).fillna("")
    out["example"] = example.map(str)
    out["template"] = out.index.map(grouping.templates)
    if base is not None:
        in_base_rows = ((rows["time"] >= base[0]) & (rows["time"] < base[1])).to_numpy()
        base_counts = rows[in_base_rows].groupby("signature").size()
        out["baseline_count"] = base_counts.reindex(out.index, fill_value=0).astype("int64")
        rate = out["count"] / frames._minutes(win)
        base_rate = out["baseline_count"] / frames._minutes(base)
        with np.errstate(divide="ignore"):
            out["rate_change"] = np.where(base_rate > 0, rate / base_rate, np.inf)
        out["is_new"] = base_rate <= frames.NEW_RATE_RATIO * rate
    else:
        out["baseline_count"] = 0
        out["rate_change"] = np.nan
        out["is_new"] = False
    out = out.reset_index().sort_values(
        ["is_new", "count", "first_seen", "signature"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    out = out[list(frames.SIGNATURE_COLUMNS)].reset_index(drop=True)
    return out.astype(frames._SIGNATURE_DTYPES)


def variants(logs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The demo's logs as captured, shuffled with a repeating index, and with holes."""
    shuffled = logs.sample(frac=1, random_state=3)
    shuffled.index = np.random.default_rng(1).integers(0, 50, len(logs))
    holes = logs.copy()
    holes.loc[holes.sample(frac=0.1, random_state=4).index, "pod"] = None
    holes.loc[holes.sample(frac=0.05, random_state=5).index, "raw"] = ""
    holes.loc[holes.sample(frac=0.05, random_state=6).index, "level"] = "ERROR"
    holes.loc[holes.sample(frac=0.02, random_state=7).index, "level"] = None
    # the text as Python objects instead of Arrow-backed strings, and without raw text
    objects = logs.astype({c: object for c in ("pod", "level", "message", "raw")})
    return {
        "captured": logs,
        "shuffled": shuffled,
        "holes": holes,
        "objects": objects,
        "no raw": logs.drop(columns=["raw"]),
    }


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_same_table_as_the_copying_version_on_the_demos(demo_root, scenario):
    ws = demo_root / scenario
    incident = open_workspace(ws).incident
    win = incident.window_at(incident.end or incident.times.resolved)
    base = incident.baseline or win.preceding()
    logs = EvidenceStore(ws).read("kubernetes", "logs")
    notebooks = ("warning", "error", "critical")  # what 02/04 ask for
    cases = (
        [  # every argument, on the frame as captured
            (name, window, baseline, levels, access)
            for window, baseline, levels, access in itertools.product(
                [(win.start, win.end), None],
                [(base.start, base.end), None],
                [notebooks, "ERROR", ("nothing",)],
                [False, True],
            )
            for name in ["captured"]
        ]
        + [  # every level (the slowest: all lines are grouped)
            ("captured", (win.start, win.end), None, None, False),
            ("captured", None, None, None, True),
        ]
        + [  # the other frames, with the notebooks' arguments and the inferred window
            (name, window, (base.start, base.end), levels, False)
            for name in ["shuffled", "holes", "objects", "no raw"]
            for window in [(win.start, win.end), None]
            for levels in [notebooks]
        ]
    )
    frames_by_name = variants(logs)
    checked = 0
    for name, window, baseline, levels, access in cases:
        frame = frames_by_name[name]
        args = {"window": window, "baseline": baseline, "levels": levels, "access_logs": access}
        want = reference(frame, **args)
        got = frames.signatures(frame, **args)
        try:
            pd.testing.assert_frame_equal(got, want)
        except AssertionError as exc:
            raise AssertionError(f"{scenario} {name} {args}: {exc}") from None
        checked += len(want)
    assert checked > 100  # the demos give real tables, not only empty ones


def test_without_raw_text_the_example_is_the_message(demo_root):
    """A capture read without ``raw`` (a big one) still gets an example per signature."""
    ws = demo_root / "connection-leak"
    logs = EvidenceStore(ws).read("kubernetes", "logs")
    levels = ("warning", "error", "critical")
    with_raw = frames.signatures(logs, levels=levels)
    without = frames.signatures(logs.drop(columns=["raw"]), levels=levels)
    assert len(without) > 3
    pd.testing.assert_frame_equal(
        without.drop(columns=["example"]), with_raw.drop(columns=["example"])
    )
    first = logs.sort_values("time", kind="stable").drop_duplicates("message")
    messages = set(first["message"])
    assert set(without["example"]) <= messages
    assert not set(with_raw["example"]) <= messages  # (the raw lines differ from messages)


def test_raw_examples_fall_back_to_the_message_and_check_their_input(demo_root):
    from incident_lib.core.errors import InvalidInput

    logs = EvidenceStore(demo_root / "connection-leak").read("kubernetes", "logs")
    found = frames.signatures(logs.drop(columns=["raw"]), levels=("error",))
    no_raw = logs.assign(raw="")
    pd.testing.assert_frame_equal(frames.with_raw_examples(found, no_raw), found)
    pd.testing.assert_frame_equal(frames.with_raw_examples(found, logs.iloc[:0]), found)
    later = logs.assign(time=logs["time"] + pd.Timedelta(1, "ns"))  # no line at first_seen
    pd.testing.assert_frame_equal(frames.with_raw_examples(found, later), found)
    with pytest.raises(InvalidInput, match="raw"):
        frames.with_raw_examples(found, logs.drop(columns=["raw"]))
    with pytest.raises(InvalidInput, match="first_seen"):
        frames.with_raw_examples(found.drop(columns=["first_seen"]), logs)
