"""find_leaks (array based) against a slow per-sample reference, on varied random activity.

The reference below walks the samples one by one and the sessions of each with
plain Python (the definition in the leaks module docstring); find_leaks must
return exactly the same leaks, in the same order. Also blocking_samples,
targets and sample_index against per-row definitions.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from typing import Any

import pandas as pd
import pytest
from test_database_frames import activity, at, session

from incident_lib.analysis.database import (
    IDLE_IN_TRANSACTION,
    MIN_STUCK,
    STUCK_S,
    Leak,
    blocking_samples,
    database_findings,
    database_verdict,
    find_leaks,
)
from incident_lib.analysis.database.frames import sample_index, targets
from incident_lib.analysis.database.leaks import _idle_growth, _rise
from incident_lib.core.schema import empty_frame

_IDLE_TX = "idle in transaction"


def _random_activity(seed: int) -> pd.DataFrame:
    """Targets, applications (some unnamed) and clients whose sessions grow, stay or idle."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    samples = rng.randint(4, 24)
    pid = 100
    for target in rng.sample(["default", "orders", "billing"], rng.randint(1, 2)):
        for app in rng.sample(["api", "worker", "", "flood"], rng.randint(1, 3)):
            for client in rng.sample(["10.0.0.1", "10.0.0.2", "10.0.0.9"], rng.randint(1, 2)):
                kind = rng.choice(["grow", "steady", "stuck", "grow-busy", "noise"])
                base = rng.randint(0, 6)
                rate = rng.choice([1, 2, 3, 5])
                stuck_since: dict[int, pd.Timestamp] = {}
                for i in range(samples):
                    if i in rng.sample(range(samples), min(2, samples)) and kind == "noise":
                        continue  # a sample without this group's sessions
                    t = at(i)
                    if kind in ("grow", "grow-busy"):
                        n = base + rate * i
                    elif kind == "noise":
                        n = base + rng.randint(0, 15)
                    else:
                        n = base + rng.randint(0, 2)
                    for k in range(n):
                        p = pid + k
                        busy = kind == "grow-busy" or k < base or rng.random() < 0.2
                        state = "active" if busy else "idle"
                        query_start: Any = t - pd.Timedelta(seconds=1 if busy else 1 + 60 * i)
                        change = None
                        if (kind == "stuck" and k % 2 == 0) or rng.random() < 0.05:
                            state = rng.choice([_IDLE_TX, "idle in transaction (aborted)"])
                            change = stuck_since.setdefault(p, t - pd.Timedelta(seconds=30))
                        if rng.random() < 0.05:
                            query_start = pd.NaT
                        rows.append(
                            session(
                                t,
                                p,
                                app=app,
                                client=client,
                                state=state,
                                query_start=query_start,
                                state_change=change,
                                target=target,
                                query=rng.choice(["SELECT 1", "UPDATE t SET x = $1", "BEGIN"]),
                                backend_type=(
                                    "client backend" if rng.random() > 0.03 else "autovacuum worker"
                                ),
                            )
                        )
                pid += 1000
    rng.shuffle(rows)  # the frame's row order is not the sample order
    return activity(rows)


def _reference_check(
    target: str, app: str, client: str, rows: pd.DataFrame, times: list[datetime]
) -> Leak | None:
    """The definition, sample by sample."""
    counts: list[int] = []
    worked: list[int] = []
    stuck: list[int] = []
    seen: Counter[tuple[Any, Any]] = Counter()
    previous = None
    for t in times:
        now = rows[rows["sampled_at"] == t]
        counts.append(len(now))
        did = 0
        left_open = 0
        for pid, state, started, changed in zip(
            now["pid"].tolist(),
            now["state"].tolist(),
            now["query_start"].tolist(),
            now["state_change"].tolist(),
            strict=True,
        ):
            if previous is not None and not pd.isna(started) and started > previous:
                did += 1
            if state in IDLE_IN_TRANSACTION and not pd.isna(changed):
                seen[pid, changed] += 1
                if seen[pid, changed] >= 3 and t - changed >= pd.Timedelta(seconds=STUCK_S):
                    left_open += 1
        worked.append(did)
        stuck.append(left_open)
        previous = t
    kinds = []
    start = end = 0
    rise = _rise(counts)
    if rise is not None and _idle_growth(counts, worked, *rise) >= 0.5 * (
        counts[rise[1]] - counts[rise[0]]
    ):
        kinds.append("growth")
        start, end = rise
    if max(stuck) >= MIN_STUCK and max(stuck) > stuck[0]:
        if not kinds:
            start = max(next(i for i, n in enumerate(stuck) if n > 0) - 1, 0)
            end = stuck.index(max(stuck))
        kinds.append("idle in transaction")
    if not kinds:
        return None
    last = rows[rows["sampled_at"] == times[end]]
    idle = last[last["state"].isin(IDLE_IN_TRANSACTION)]
    ages = [(times[end] - c).total_seconds() for c in idle["state_change"] if not pd.isna(c)]
    picked = Counter(str(q) for q in (idle if len(idle) else last)["query"])
    minutes = (times[end] - times[start]).total_seconds() / 60
    return Leak(
        target=target,
        application_name=app,
        client_addr=client,
        first=counts[start],
        first_at=times[start],
        last=counts[end],
        last_at=times[end],
        per_minute=(counts[end] - counts[start]) / minutes if minutes > 0 else 0.0,
        idle_in_transaction=len(idle),
        oldest_idle_s=max(ages, default=0.0),
        queries=tuple(q for q, _ in picked.most_common(3)),
        kind=", ".join(kinds),
    )


def _reference(frame: pd.DataFrame) -> list[Leak]:
    out = []
    for target in sorted(set(frame["target"])):
        rows = frame[frame["target"] == target]
        times = sorted(set(rows["sampled_at"]))
        clients = rows[rows["backend_type"] == "client backend"]
        for app in sorted(set(clients["application_name"])):
            mine = clients[clients["application_name"] == app]
            found = _reference_check(target, app, "", mine, times) if app else None
            if found is not None:
                out.append(found)
                continue
            for addr in sorted(set(mine["client_addr"])):
                one = _reference_check(target, app, addr, mine[mine["client_addr"] == addr], times)
                if one is not None:
                    out.append(one)
    return sorted(out, key=lambda k: (-(k.last - k.first), k.target, k.who))


@pytest.mark.parametrize("seed", range(16))
def test_find_leaks_matches_the_per_sample_definition(seed: int) -> None:
    frame = _random_activity(seed)
    assert find_leaks(frame) == _reference(frame)


def test_the_random_cases_cover_both_signs() -> None:
    kinds = Counter(leak.kind for s in range(16) for leak in find_leaks(_random_activity(s)))
    assert kinds["growth"] and kinds["idle in transaction"]


def test_a_session_is_left_open_only_from_its_third_sighting() -> None:
    """Three sessions keep one state_change: counted from the third sample on, not before."""
    rows = []
    for i in range(6):
        t = at(i)
        rows += [session(t, 1, app="api")]
        for pid in (10, 11, 12):
            rows.append(
                session(
                    t, pid, app="api", state=_IDLE_TX, state_change=at(0) - pd.Timedelta(1, "h")
                )
            )
        # a fourth whose transaction restarts every sample: never three sightings of one
        rows.append(
            session(t, 13, app="api", state=_IDLE_TX, state_change=t - pd.Timedelta(2, "m"))
        )
    leaks = find_leaks(activity(rows))
    assert [(lk.kind, lk.first_at, lk.last_at, lk.idle_in_transaction) for lk in leaks] == [
        ("idle in transaction", at(1), at(2), 4)
    ]


def test_blocking_samples_counts_rows_listing_a_blocker() -> None:
    rng = random.Random(7)
    texts = ["", "{}", "{12}", "{12,13}", "{ 7 }", "{-1}", "{x}", None, "{,}"]
    rows = [
        session(at(i % 5), k, blocking=rng.choice(texts))  # type: ignore[arg-type]
        for i in range(60)
        for k in range(3)
    ]
    frame = activity(rows)
    expected = Counter(
        t
        for t, raw in zip(frame["sampled_at"], frame["blocking_pids"], strict=True)
        if isinstance(raw, str)
        and any(p.strip().lstrip("-").isdigit() for p in raw.strip("{}").split(","))
    )
    got = blocking_samples(frame)
    assert dict(got.items()) == dict(expected)
    assert str(got.dtype) == "int64"


def test_targets_and_sample_index_are_the_distinct_values_sorted() -> None:
    rows = [session(at(m), 1, target=t) for m, t in [(3, "b"), (1, "a"), (3, "a"), (2, "b")]]
    frame = activity(rows)
    assert targets(frame) == ["a", "b"]
    index = sample_index(frame)
    assert list(index) == [at(1), at(2), at(3)]
    assert index.name == "sampled_at" and str(index.tz) == "UTC"
    assert targets(frame.iloc[:0]) == [] and len(sample_index(frame.iloc[:0])) == 0


def _with_blocking(seed: int) -> pd.DataFrame:
    """Random activity plus sessions waiting on each other in some samples."""
    rng = random.Random(seed)
    frame = _random_activity(seed)
    rows = []
    for i in rng.sample(range(4), rng.randint(0, 3)):
        for k in range(rng.randint(1, 4)):
            rows.append(session(at(i), 9000 + k, state="active", blocking="{8000}", app="batch"))
        rows.append(session(at(i), 8000, state="idle in transaction", app="batch"))
    if not rows:
        return frame
    return pd.concat([frame, activity(rows)], ignore_index=True)


@pytest.mark.parametrize("seed", range(8))
def test_verdict_and_findings_agree_and_blocking_is_read_at_its_peak(seed: int) -> None:
    frame = _with_blocking(seed)
    settings = empty_frame("pg_settings")
    found = database_findings(frame, settings)
    verdict = database_verdict(frame, settings)
    names = sorted(set(frame["target"]))
    quiet = {f.fact.rsplit(":", 1)[1] for f in found if f.fact.startswith("db:not-bottleneck:")}
    for name in names:
        subject = "the database" if len(names) == 1 else f"database {name}"
        bottleneck = f"{subject} was the bottleneck" in verdict
        assert bottleneck == (name not in quiet), (name, verdict)
    waiting = frame[frame["blocking_pids"].str.contains("8000", na=False)]
    blocking = [f for f in found if f.fact.startswith("db:blocking:")]
    if waiting.empty:
        assert not blocking
    else:
        per_sample = waiting.groupby("sampled_at").size()
        peak = per_sample[per_sample == per_sample.max()].index.min()
        assert [f.summary.startswith(f"at {peak:%H:%M} UTC") for f in blocking] == [True]
