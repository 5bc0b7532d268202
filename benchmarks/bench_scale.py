"""Incidents ten times bigger: time and peak memory of the log path at 100k to 10M lines.

Scales the ``connection-leak`` demo's ``kubernetes/logs`` capture to each size
(copies of its lines, each copy with its own pods, digits permuted in its
messages and times jittered by up to a second, so that the grouping sees new
values and the window and baseline keep their share of lines), captures the
scaled frame through :meth:`EvidenceStore.capture` in a copy of the demo
workspace (the manifest stays valid: the bundle verifies it), then measures,
each in a fresh child process (peak RSS: ``ru_maxrss`` of the child, kernels
included):

a. ``signatures()`` over the frame read back from the store (what 02/04 call,
   levels warning/error/critical), median wall time of ``--repeat`` children,
   the peak RSS of reading the capture, and the peak RSS the call adds above
   the RSS before it (``VmHWM`` reset through ``/proc/self/clear_refs``);
b. the bundle of 02_assess and 04_logs: ``incident run WS --notebooks 02 04``
   (``--bundle-repeat`` children; optional).

With ``--old-frames FILE`` (a copy of an older ``frames.py``, e.g.
``git show HEAD:incident_lib/analysis/signatures/frames.py > /tmp/old_frames.py``)
and ``--old-tree DIR`` (an older checkout, e.g. ``git archive HEAD | tar -x -C DIR``),
the same children run the old code too, in the same run, interleaved.
The growth exponent is the slope of log(time) and log(peak) against log(lines)
between the smallest and the largest size.

Usage::

    python benchmarks/bench_scale.py --sizes 100k,1M,3M [--old-frames F] [--old-tree D]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = Path(tempfile.gettempdir()) / "incident-bench-scale"
LEVELS = ("warning", "error", "critical")

sys.path.insert(0, str(ROOT))


def parse_size(text: str) -> int:
    """``100k``, ``1M``, ``3M``, ``2500`` -> a number of lines."""
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def scaled_workspace(size: int, base_dir: Path) -> Path:
    """A copy of the connection-leak demo whose newest logs capture has ``size`` lines."""
    import numpy as np
    import pandas as pd

    from incident_lib.demo import generate
    from incident_lib.infra.evidence import EvidenceStore

    ws = base_dir / f"leak-{size}"
    if (ws / "evidence" / "manifest.jsonl").is_file():
        store = EvidenceStore(ws)
        if store.latest("kubernetes", "logs").rows == size:
            return ws
        shutil.rmtree(ws)
    demo = base_dir / "demo"
    if not demo.is_dir():
        generate("connection-leak", demo)
    shutil.copytree(demo, ws)
    store = EvidenceStore(ws)
    entry = store.latest("kubernetes", "logs")
    logs = store.read_entry(entry)
    rng = np.random.default_rng(15)
    copies, parts = -(-size // len(logs)), []
    for i in range(copies):
        part = logs.copy()
        if i:
            digits = "".join(map(str, rng.permutation(10)))
            table = str.maketrans("0123456789", digits)
            part["message"] = part["message"].str.translate(table)
            part["pod"] = part["pod"] + f"-{i}"
            jitter = rng.integers(0, 1_000_000_000, len(part))
            part["time"] = part["time"] + pd.to_timedelta(jitter, unit="ns")
        parts.append(part)
    big = pd.concat(parts, ignore_index=True).head(size)
    big = big.sort_values("time", kind="stable").reset_index(drop=True)
    store.capture(big, source="kubernetes", name="logs", query=dict(entry.query))
    return ws


CHILD_SIGNATURES = """
import importlib.util, json, resource, sys, time
ws, old = sys.argv[1], sys.argv[2]
from incident_lib.infra.evidence import EvidenceStore
from incident_lib.infra.workspace import open_workspace
if old:
    spec = importlib.util.spec_from_file_location(
        "incident_lib.analysis.signatures._bench_old_frames", old)
    frames = importlib.util.module_from_spec(spec); spec.loader.exec_module(frames)
else:
    from incident_lib.analysis.signatures import frames
inc = open_workspace(ws).incident
window = inc.window_at(inc.end or inc.times.resolved)
baseline = inc.baseline or window.preceding()
logs = EvidenceStore(ws).read("kubernetes", "logs")
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
read_peak = status("VmHWM")
try:  # reset the high-water mark (Linux), so the peak below is the call's own
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
before = status("VmRSS")
t0 = time.perf_counter()
out = frames.signatures(logs, window=window, baseline=baseline, levels=LEVELS)
took = time.perf_counter() - t0
peak = status("VmHWM")
print(json.dumps({"seconds": took, "rows": len(out), "read_peak_kib": read_peak,
                  "before_kib": before, "peak_kib": peak}))
"""


def child_signatures(ws: Path, old: str, env: dict[str, str]) -> dict[str, float]:
    """Run ``signatures()`` once in a fresh process; its time and peak RSS."""
    code = f"LEVELS = {LEVELS!r}\n" + CHILD_SIGNATURES
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ws), old],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"signatures child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def child_bundle(ws: Path, env: dict[str, str], cwd: Path) -> dict[str, float]:
    """``incident run WS --notebooks 02 04`` in a child; wall time and peak RSS of any process."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "p = subprocess.run([sys.executable, '-m', 'incident_lib.cli', 'run', sys.argv[1],\n"
        "    '--notebooks', '02', '04', '--parallel', '1'], capture_output=True, text=True)\n"
        "took = time.perf_counter() - t0\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(p.returncode, took, peak)\n"
        "if p.returncode: print(p.stdout[-2000:], p.stderr[-2000:], file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ws)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    rc, took, peak = proc.stdout.split()[-3:]
    if rc != "0":
        raise SystemExit(f"bundle failed:\n{proc.stderr[-4000:]}")
    return {"seconds": float(took), "peak_kib": float(peak)}


def exponent(points: list[tuple[int, float]]) -> float:
    """Slope of log(value) against log(size) between the first and the last point."""
    (n0, v0), (n1, v1) = points[0], points[-1]
    if n1 == n0 or v0 <= 0 or v1 <= 0:
        return float("nan")
    return math.log(v1 / v0) / math.log(n1 / n0)


def main() -> None:
    """Build the scaled workspaces, measure, print the table and the growth exponents."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100k,1M,3M", help="comma-separated line counts")
    p.add_argument("--repeat", type=int, default=3, help="signatures() children per size")
    p.add_argument("--bundle-repeat", type=int, default=1, help="bundles per size (0: none)")
    p.add_argument("--bundle-max", default="3M", help="largest size to run the bundle at")
    p.add_argument("--old-frames", default="", help="an older frames.py to compare with")
    p.add_argument("--old-tree", default="", help="an older checkout to compare the bundle with")
    p.add_argument("--dir", default=str(DEFAULT_DIR), help="where the workspaces go")
    p.add_argument("--json", default="", help="also write the results here")
    args = p.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    base_dir = Path(args.dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    variants: list[tuple[str, str, dict[str, str], Path]] = [("new", "", env, ROOT)]
    if args.old_frames:
        old_env = dict(os.environ, PYTHONPATH=args.old_tree or str(ROOT))
        variants.insert(0, ("old", str(Path(args.old_frames).resolve()), old_env, ROOT))
    if args.old_tree:
        old_env = dict(os.environ, PYTHONPATH=args.old_tree)
        old_tree = Path(args.old_tree)
        variants[0] = ("old", variants[0][1] if args.old_frames else "", old_env, old_tree)
    rows: list[dict[str, object]] = []
    for size in sizes:
        t0 = time.perf_counter()
        ws = scaled_workspace(size, base_dir)
        print(f"{size:>10,} lines: workspace ready in {time.perf_counter() - t0:.0f} s", flush=True)
        runs: dict[str, list[dict[str, float]]] = {v[0]: [] for v in variants}
        for _ in range(args.repeat):
            for label, old, venv, _cwd in variants:
                runs[label].append(child_signatures(ws, old, venv))
        for label, *_ in variants:
            row: dict[str, object] = {"size": size, "code": label}
            row["sig_s"] = statistics.median(r["seconds"] for r in runs[label])
            row["sig_peak_mib"] = statistics.median(r["peak_kib"] for r in runs[label]) / 1024
            row["read_peak_mib"] = statistics.median(r["read_peak_kib"] for r in runs[label]) / 1024
            row["sig_extra_mib"] = (
                statistics.median(r["peak_kib"] - r["before_kib"] for r in runs[label]) / 1024
            )
            row["signatures"] = runs[label][0]["rows"]
            rows.append(row)
        if args.bundle_repeat and size <= parse_size(args.bundle_max):
            for label, _old, venv, cwd in variants:
                bundles = [child_bundle(ws, venv, cwd) for _ in range(args.bundle_repeat)]
                row = next(r for r in rows if r["size"] == size and r["code"] == label)
                row["bundle_s"] = statistics.median(b["seconds"] for b in bundles)
                row["bundle_peak_mib"] = statistics.median(b["peak_kib"] for b in bundles) / 1024
        for row in rows[-len(variants) :]:
            print("   ", json.dumps(row), flush=True)
    print()
    head = f"{'lines':>10} {'code':>4} {'read MiB':>9} {'sig s':>7} {'sig +MiB':>9}"
    print(head + f" {'bundle s':>9} {'bundle MiB':>11}")
    for row in rows:
        bundle = (
            f" {row['bundle_s']:>9.1f} {row['bundle_peak_mib']:>11.0f}"
            if "bundle_s" in row
            else f" {'-':>9} {'-':>11}"
        )
        print(
            f"{row['size']:>10,} {row['code']:>4} {row['read_peak_mib']:>9.0f} "
            f"{row['sig_s']:>7.2f} {row['sig_extra_mib']:>9.0f}" + bundle
        )
    for label, *_ in variants:
        mine = [r for r in rows if r["code"] == label]
        for key in ("sig_s", "sig_extra_mib", "bundle_s", "bundle_peak_mib"):
            points = [(int(str(r["size"])), float(str(r[key]))) for r in mine if key in r]
            if len(points) >= 2:
                print(f"growth exponent {label} {key}: {exponent(points):.2f}")
    print(f"(peak RSS: ru_maxrss of a fresh child; {resource.getpagesize()} B pages)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
