"""Access-log lines found over whole columns give what the per-line search gave.

The oracle is the earlier implementation (Python's ``re`` on every message),
kept here verbatim: the vectorised search must recognise the same lines, the
same method and status, on the demos and on generated lines of every format
(Envoy, nginx combined/common, AWS ALB), near misses and non-ASCII text included.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pandas as pd
import pytest

from incident_lib.analysis.access_logs import access_summary, is_access_log
from incident_lib.demo import SCENARIOS
from incident_lib.infra.evidence import EvidenceStore

_VERBS = "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE"
_ORACLE = re.compile(
    rf'"(?P<m1>{_VERBS}) [^"]*" (?P<s1>[1-5]\d\d)(?![\w.])'
    rf'|(?<!\S)(?P<s2>[1-5]\d\d) (?:\d{{3}}|-) \d+ \d+ "(?P<m2>{_VERBS}) [^"]*"'
)


def _oracle_flags(messages: pd.Series) -> list[bool]:
    return [isinstance(m, str) and '" ' in m and _ORACLE.search(m) is not None for m in messages]


def _canonical(logs: pd.DataFrame) -> pd.DataFrame:
    """The access-log lines the oracle found, rewritten in one plain format (same order,
    times, methods and statuses): ``access_summary`` must count ``logs`` as this."""
    rows = []
    for time, m in zip(logs["time"], logs["message"], strict=True):
        if isinstance(m, str) and '" ' in m and (found := _ORACLE.search(m)):
            method, status = found["m1"] or found["m2"], int(found["s1"] or found["s2"])
            rows.append({"time": time, "message": f'"{method} / HTTP/1.1" {status} -'})
    return pd.DataFrame(rows, columns=["time", "message"]).astype({"message": "str"})


# -- generated lines -----------------------------------------------------------------------
_METHODS = [*_VERBS.split("|"), "BREW", "get", "-"]
_SEPARATORS = [" ", "\t", "\x0b", "\x1c", "\xa0", "\u2003", "", "x", "\n"]
_AFTER = ["", " ", ".", "0", "a", "_", "-", ",", "é", "٣", "\u2003", "\n", '"']
_STATUSES = ["200", "204", "301", "404", "499", "503", "504", "600", "099", "5٠3", "20", "2000"]


def _line(rng: random.Random) -> str:
    method = rng.choice(_METHODS)
    status = rng.choice(_STATUSES)
    after = rng.choice(_AFTER)
    sep = rng.choice(_SEPARATORS)
    path = rng.choice(["/", "/api/v1/checkout", "/ü/ñ", "/a b", "https://shop.example.com:443/"])
    kind = rng.randrange(6)
    if kind == 0:  # Envoy / istio-proxy
        return f'[2026-11-03T14:02:11.000Z] "{method} {path} HTTP/1.1" {status}{after}UO 0 91 1'
    if kind == 1:  # nginx combined
        return (
            f'10.0.0.1 - - [03/Nov/2026:14:02:11 +0000] "{method} {path} HTTP/1.1" '
            f'{status}{after}612 "-" "curl/8.0"'
        )
    if kind == 2:  # AWS ALB
        target = rng.choice(["502", "-", "200", "5x2"])
        return (
            f"http 2026-11-03T14:02:11Z app/lb 10.0.0.1:1 10.0.0.2:80 0.000 0.001 0.000"
            f'{sep}{status} {target} 34 366 "{method} {path} HTTP/1.1"{rng.choice(["", " x"])}'
        )
    if kind == 3:  # ALB at the start of the message
        return f'{status} - 34 366 "{method} {path} HTTP/2.0"'
    if kind == 4:  # TCP proxy and other near misses
        return rng.choice(
            ['"- - -" 0 UF 0 0', f'"{method} {path}" {status}', f'"{method} {path}"{status}']
        )
    return f"connection to db:5432 refused {status} {method}"


def _generated(n: int, seed: int = 7) -> pd.Series:
    rng = random.Random(seed)
    return pd.Series([_line(rng) for _ in range(n)], dtype="str")


def test_generated_lines_are_recognised_as_the_per_line_search_did():
    messages = _generated(5_000)
    flags = is_access_log(messages)
    assert flags.index.equals(messages.index)
    assert flags.tolist() == _oracle_flags(messages)
    assert 500 < flags.sum() < 4_500  # both kinds are well represented


def test_missing_values_and_objects_are_not_access_lines():
    messages = pd.Series(
        [None, float("nan"), 503, '"GET / HTTP/1.1" 503 UO', b'"GET / HTTP/1.1" 503'],
        index=[5, 4, 3, 2, 1],
        dtype=object,
    )
    assert is_access_log(messages).tolist() == [False, False, False, True, False]
    assert is_access_log(messages).index.tolist() == [5, 4, 3, 2, 1]
    assert is_access_log(pd.Series([], dtype="str")).tolist() == []


def _times(n: int, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-11-03T13:00:00Z")
    offsets = np.sort(rng.integers(0, 7_200_000, n))
    return pd.Series(start + pd.to_timedelta(offsets, unit="ms"))


def test_summary_over_more_than_one_slice_counts_what_the_per_line_search_found():
    n = 150_000  # more than two slices of 65,536 lines
    messages = _generated(n, seed=11)
    logs = pd.DataFrame({"time": _times(n), "message": messages})
    window = (pd.Timestamp("2026-11-03T14:00:00Z"), pd.Timestamp("2026-11-03T15:00:00Z"))
    baseline = (pd.Timestamp("2026-11-03T13:00:00Z"), pd.Timestamp("2026-11-03T14:00:00Z"))
    got = access_summary(logs, window=window, baseline=baseline)
    expected = access_summary(_canonical(logs), window=window, baseline=baseline)
    pd.testing.assert_frame_equal(got, expected)
    assert got["requests"].sum() > 5_000 and got["baseline_requests"].sum() > 5_000
    assert is_access_log(messages).tolist() == _oracle_flags(messages)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_demo_logs_give_the_per_line_search_results(demo_root, scenario):
    logs = EvidenceStore(demo_root / scenario).read("kubernetes", "logs")
    truth = SCENARIOS[scenario].truth
    for column in ("message", "raw"):
        assert is_access_log(logs[column]).tolist() == _oracle_flags(logs[column])
    window = (truth.window.start, truth.window.end)
    baseline = (truth.window.start - (truth.window.end - truth.window.start), truth.window.start)
    got = access_summary(logs, window=window, baseline=baseline)
    expected = access_summary(_canonical(logs), window=window, baseline=baseline)
    pd.testing.assert_frame_equal(got, expected)
