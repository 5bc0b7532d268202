"""Results computed once per run, shared by the processes of the run (infra/memo.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from incident_lib.infra.memo import memo_key, memoized, memoized_frames


def _same(value):
    return value


def test_a_result_is_computed_once_and_read_back(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"answer": 42}

    key = memo_key("thing", {"capture": "ab" * 32, "level": ["error"]})
    first = memoized(tmp_path / "memo", key, compute, encode=_same, decode=dict)
    again = memoized(tmp_path / "memo", key, compute, encode=_same, decode=dict)
    assert first == again == {"answer": 42}
    assert calls == [1]
    other = memo_key("thing", {"capture": "cd" * 32, "level": ["error"]})
    assert other != key and other.startswith("thing-")
    memoized(tmp_path / "memo", other, compute, encode=_same, decode=dict)
    assert calls == [1, 1]  # another capture: computed for it


def test_a_result_that_cannot_be_read_back_is_computed_again(tmp_path: Path) -> None:
    key = memo_key("thing", {"n": 1})
    folder = tmp_path / "memo"
    folder.mkdir()
    (folder / f"{key}.json").write_text('{"cut sho')  # a file cut short

    def decode(data: object) -> int:
        assert isinstance(data, dict)
        return int(data["n"])

    assert memoized(folder, key, lambda: 7, encode=lambda n: {"n": n}, decode=decode) == 7
    assert json.loads((folder / f"{key}.json").read_text()) == {"n": 7}


WORKER = """
import sys, time
from pathlib import Path
from incident_lib.infra.memo import memoized

folder, key, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def compute():
    with log.open("a") as fh:
        fh.write("computed\\n")
    time.sleep(1.0)  # long enough for the other process to ask meanwhile
    return 5

print(memoized(folder, key, compute, encode=lambda v: v, decode=int))
"""


def three_at_once(worker: str, tmp_path: Path, key: str) -> list[str]:
    """What three processes running ``worker`` at once print (memo folder, key, log)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", worker, str(tmp_path / "memo"), key, str(tmp_path / "log")],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    return [p.communicate(timeout=60)[0].strip() for p in procs]


def test_processes_asking_at_once_compute_it_once(tmp_path: Path) -> None:
    assert three_at_once(WORKER, tmp_path, memo_key("slow", {"n": 5})) == ["5", "5", "5"]
    assert (tmp_path / "log").read_text().splitlines() == ["computed"]


# --- results made of frames (memoized_frames) ----------------------------------------


def _frames(value: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return value


def _shaped() -> dict[str, pd.DataFrame]:
    table = pd.DataFrame(
        {
            "signature": pd.Series(["a1", "b2"], dtype="str"),
            "first_seen": pd.to_datetime(["2026-11-03T14:01:00.000000001Z"] * 2, utc=True),
            "rate_change": [float("inf"), 0.5],
            "is_new": [True, False],
        }
    )
    lines = pd.Series(["a1", "b2", "a1"], index=[7, 1_000_003, 12_000_000], dtype="str")
    return {"table": table, "lines": lines.rename("signature").to_frame()}


def test_frames_come_back_with_their_index_and_dtypes(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute() -> dict[str, pd.DataFrame]:
        calls.append(1)
        return _shaped()

    key = memo_key("frames", {"n": 1})
    first = memoized_frames(tmp_path / "memo", key, compute, encode=_frames, decode=dict)
    again = memoized_frames(tmp_path / "memo", key, compute, encode=_frames, decode=dict)
    assert calls == [1]
    for name, frame in _shaped().items():
        pd.testing.assert_frame_equal(again[name], frame)
        pd.testing.assert_frame_equal(first[name], frame)
    assert sorted(p.name for p in (tmp_path / "memo" / key).iterdir()) == [
        "lines.parquet",
        "table.parquet",
    ]


def test_frames_that_cannot_be_read_back_or_are_linked_are_computed_again(tmp_path: Path) -> None:
    folder = tmp_path / "memo"
    key = memo_key("frames", {"n": 2})
    memoized_frames(folder, key, _shaped, encode=_frames, decode=dict)
    (folder / key / "table.parquet").write_bytes(b"PAR1 cut short")
    calls: list[int] = []

    def compute() -> dict[str, pd.DataFrame]:
        calls.append(1)
        return _shaped()

    got = memoized_frames(folder, key, compute, encode=_frames, decode=dict)
    assert calls == [1]
    pd.testing.assert_frame_equal(got["table"], _shaped()["table"])
    # a result folder replaced by a link to frames elsewhere is not read
    elsewhere = tmp_path / "elsewhere"
    (folder / key).rename(elsewhere)
    (folder / key).symlink_to(elsewhere, target_is_directory=True)
    memoized_frames(folder, key, compute, encode=_frames, decode=dict)
    assert calls == [1, 1]
    assert not (folder / key).is_symlink()


def test_a_frame_name_that_is_not_a_plain_word_is_refused(tmp_path: Path) -> None:
    def encode(_: object) -> dict[str, pd.DataFrame]:
        return {"../table": pd.DataFrame({"a": [1]})}

    with pytest.raises(ValueError, match="letters, digits"):
        memoized_frames(tmp_path, memo_key("x", {}), lambda: 1, encode=encode, decode=len)
    assert not list(tmp_path.glob("*.parquet")) and not (tmp_path.parent / "table.parquet").exists()


FRAMES_WORKER = """
import sys, time
from pathlib import Path
import pandas as pd
from incident_lib.infra.memo import memoized_frames

folder, key, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def compute():
    with log.open("a") as fh:
        fh.write("computed\\n")
    time.sleep(1.0)  # long enough for the others to ask meanwhile
    return pd.DataFrame({"n": range(100_000)}, index=range(5, 100_005))

got = memoized_frames(folder, key, compute, encode=lambda f: {"f": f}, decode=lambda d: d["f"])
print(int(got["n"].sum()), int(got.index[0]))
"""


def test_processes_asking_for_frames_at_once_compute_them_once(tmp_path: Path) -> None:
    outs = three_at_once(FRAMES_WORKER, tmp_path, memo_key("slow-frames", {"n": 5}))
    assert outs == [f"{sum(range(100_000))} 5"] * 3
    assert (tmp_path / "log").read_text().splitlines() == ["computed"]
