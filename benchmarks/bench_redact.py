"""Throughput of redaction: the detect-secrets based engine vs the old hand-written rules.

In one run, pinned to one CPU core where the OS allows it, and with both
implementations warmed up first (the new one imports detect-secrets on first use),
measures the median of ``--repeat`` runs of:

a. ``redact(line)`` over the message lines of the 1,000,000-line corpus of
   ``../shared/bench/make_bigfile.py`` (Loghub-2k lines with re-randomised numbers;
   see ``bench_signatures.py``), in lines/s;
b. ``redact(line)`` over as many JSON log lines (a structured logger's output: time,
   level, logger, message, trace and span ids, request id, user, duration);
c. ``redact_frame`` on a logs frame of the corpus (the ``logs`` contract: time, pod,
   container, level, message, raw): what evidence capture pays.

The baseline is ``incident_lib/infra/redact.py`` as it was before issue 10, read from
git (``--baseline``, default :data:`BASELINE`), not a copy kept in the tree; the ratio
new / old of (c) is the capture slow-down (target: at most 1.5).

Usage::

    python benchmarks/bench_redact.py [--lines N] [--repeat R] [--corpus PATH] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_signatures import corpus_file, pin_one_core, read_lines  # noqa: E402

from incident_lib.infra import redact as after  # noqa: E402

TARGET = 1.5
#: the last commit with the hand-written redaction rules (before issue 10)
BASELINE = "3077b37"


def baseline_module(rev: str) -> ModuleType:
    """``incident_lib/infra/redact.py`` at git revision ``rev``, as a module (stdlib-only)."""
    import subprocess
    import types

    try:
        source = subprocess.run(
            ["git", "-C", str(HERE.parent), "show", f"{rev}:incident_lib/infra/redact.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(
            f"bench_redact: cannot read the baseline at {rev} from git ({exc}); "
            "run it in a git clone, or pass --baseline REV"
        )
    module = types.ModuleType("redact_before")
    sys.modules[module.__name__] = module  # dataclasses and typing look the module up
    exec(compile(source, f"{rev}:redact.py", "exec"), module.__dict__)
    return module


def json_lines(lines: list[str], seed: int = 7) -> list[str]:
    """The corpus messages as a structured logger writes them (one JSON object a line)."""
    rng = random.Random(seed)
    out = []
    for i, message in enumerate(lines):
        out.append(
            json.dumps(
                {
                    "ts": f"2026-11-26T14:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
                    "level": rng.choice(("info", "info", "info", "warn", "error")),
                    "logger": rng.choice(("http", "db.pool", "checkout.api", "worker")),
                    "msg": message,
                    "trace_id": f"{rng.getrandbits(128):032x}",
                    "span_id": f"{rng.getrandbits(64):016x}",
                    "request_id": f"req-{rng.getrandbits(48):012x}",
                    "user_id": rng.randrange(10**6),
                    "duration_ms": round(rng.random() * 900, 1),
                }
            )
        )
    return out


def logs_frame(lines: list[str]) -> Any:
    """A frame with the logs contract over ``lines``."""
    import pandas as pd

    n = len(lines)
    pods = [f"checkout-7d9f8b6c5-{i % 7:05d}" for i in range(n)]
    return pd.DataFrame(
        {
            "time": pd.date_range("2026-11-26T14:00Z", periods=n, freq="ms"),
            "pod": pd.Series(pods, dtype="str"),
            "container": pd.Series(["app"] * n, dtype="str"),
            "level": pd.Series(["info"] * n, dtype="str"),
            "message": pd.Series(lines, dtype="str"),
            "raw": pd.Series([f"2026-11-26T14:00:00Z stdout F {m}" for m in lines], dtype="str"),
        }
    )


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def per_line(module: ModuleType, lines: list[str]) -> Callable[[], object]:
    redact = module.redact
    return lambda: [redact(line) for line in lines]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--corpus", help="big_content.txt or its directory (built when missing)")
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the old redaction")
    a = ap.parse_args()
    before = baseline_module(a.baseline)
    print(pin_one_core())
    lines = read_lines(corpus_file(a.corpus, a.lines), a.lines)
    structured = json_lines(lines)
    frame = logs_frame(lines)
    for module in (before, after):  # warm up: detect-secrets is imported on first use
        module.redact("password=x AKIAIOSFODNN7EXAMPLE")
        module.redact_frame(frame.head(1000))
    rows: list[tuple[str, float, float]] = []
    for label, old, new in (
        ("redact, corpus lines", per_line(before, lines), per_line(after, lines)),
        ("redact, JSON log lines", per_line(before, structured), per_line(after, structured)),
        (
            "redact_frame, logs frame (capture)",
            lambda: before.redact_frame(frame),
            lambda: after.redact_frame(frame),
        ),
    ):
        t_old = median_time(old, a.repeat)
        t_new = median_time(new, a.repeat)
        rows.append((label, t_old, t_new))
    n = len(lines)
    print(f"{n:,} lines, median of {a.repeat} runs")
    print(f"{'':36} {'before':>14} {'after':>14} {'after/before':>13}")
    for label, t_old, t_new in rows:
        print(
            f"{label:36} {n / t_old:>10,.0f} l/s {n / t_new:>10,.0f} l/s {t_new / t_old:>12.2f}x"
            f"   ({t_old:.2f} s -> {t_new:.2f} s)"
        )
    capture = rows[-1][2] / rows[-1][1]
    verdict = "ok" if capture <= TARGET else "OVER TARGET"
    print(f"capture slow-down {capture:.2f}x (target <= {TARGET}x): {verdict}")


if __name__ == "__main__":
    main()
