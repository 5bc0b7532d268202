"""Results computed once per run, shared by the processes of the run (infra/memo.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from incident_lib.infra.memo import memo_key, memoized


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


def test_processes_asking_at_once_compute_it_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    key = memo_key("slow", {"n": 5})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "memo"), key, str(log)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == ["5", "5", "5"]
    assert log.read_text().splitlines() == ["computed"]
