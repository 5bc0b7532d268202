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
   levels warning/error/critical, on the columns they read: time, pod, level and
   message; every column for ``--old-frames``), median wall time of ``--repeat`` children,
   the peak RSS of reading the capture, and the peak RSS the call adds above
   the RSS before it (``VmHWM`` reset through ``/proc/self/clear_refs``);
b. the bundle of 02_assess and 04_logs: ``incident run WS --notebooks 02 04
   --parallel N`` (``--parallel``, default 2 as ``incident run``; ``--bundle-repeat``
   children; optional): wall time, the peak RSS of the largest process and of the
   runner and its kernels together (sampled), and the bytes
   on disk of the run folder (executed notebooks, HTML, charts: they must stay
   small whatever the input), also for the demo itself (the reference of
   "times the demo's time");
c. the capture of ``--capture-rows`` log lines (default 1M) in a fresh child,
   stage by stage: redaction (``redact_frame``), Parquet (``to_parquet`` in row
   groups), sha256 of the file, and the whole ``EvidenceStore.capture`` (the
   rest is the manifest line, the lock and the fsyncs).

With ``--old-frames FILE`` (a copy of an older ``frames.py``, e.g.
``git show HEAD:incident_lib/analysis/signatures/frames.py > /tmp/old_frames.py``)
and ``--old-tree DIR`` (an older checkout, e.g. ``git archive HEAD | tar -x -C DIR``),
the same children run the old code too, in the same run, interleaved (up to
``--old-max`` lines).
The growth exponent is the slope of log(time) and log(peak) against log(lines)
between the smallest and the largest size.

Usage::

    python benchmarks/bench_scale.py --sizes 100k,1M,3M [--old-frames F] [--old-tree D]
    python benchmarks/bench_scale.py --sizes 10M --repeat 1 --bundle-max 10M --capture-rows 0
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
# what 02/04 read (older code needs every column, raw included)
columns = None if old else ["time", "pod", "level", "message"]
logs = EvidenceStore(ws).read("kubernetes", "logs", columns=columns)
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
    return _json_child("signatures", code, [str(ws), old], env)


def _json_child(
    what: str, code: str, args: list[str], env: dict[str, str], cwd: Path | None = None
) -> dict[str, float]:
    """Run ``python -c code args`` in a fresh process; the JSON object it prints last."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{what} child failed:\n{proc.stderr[-4000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def child_bundle(ws: Path, env: dict[str, str], cwd: Path, parallel: int) -> dict[str, float]:
    """``incident run WS --notebooks 02 04`` in a child; wall time and peak memory.

    ``peak_kib``: the largest RSS of any one process (``ru_maxrss``); ``total_kib``: the
    largest sum of the RSS of the runner and all its descendants (kernels running at
    the same time), sampled every 50 ms with psutil.
    """
    code = (
        "import json, resource, subprocess, sys, time, psutil\n"
        "t0 = time.perf_counter()\n"
        "p = subprocess.Popen([sys.executable, '-m', 'incident_lib.cli', 'run', sys.argv[1],\n"
        "    '--notebooks', '02', '04', '--parallel', sys.argv[2]],\n"
        "    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n"
        "root, total = psutil.Process(p.pid), 0\n"
        "while p.poll() is None:\n"
        "    try:\n"
        "        tree = [root, *root.children(recursive=True)]\n"
        "        now = 0\n"
        "        for proc in tree:\n"
        "            try:\n"
        "                now += proc.memory_info().rss\n"
        "            except psutil.Error:\n"
        "                pass\n"
        "        total = max(total, now)\n"
        "    except psutil.Error:\n"
        "        pass\n"
        "    time.sleep(0.05)\n"
        "out = p.stdout.read()\n"
        "took = time.perf_counter() - t0\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "if p.returncode: sys.exit(out[-4000:])\n"
        "print(json.dumps({'seconds': took, 'peak_kib': peak, 'total_kib': total // 1024}))\n"
    )
    result = _json_child("bundle", code, [str(ws), str(parallel)], env, cwd)
    return {**result, "bytes": float(bundle_bytes(ws))}


def bundle_bytes(ws: Path) -> int:
    """Bytes on disk of the newest run folder (executed notebooks, HTML, charts, run.json)."""
    runs = [d for d in (ws / "runs").iterdir() if d.is_dir()] if (ws / "runs").is_dir() else []
    if not runs:
        return 0
    newest = max(runs, key=lambda d: d.stat().st_mtime)
    return sum(f.stat().st_size for f in newest.rglob("*") if f.is_file())


CHILD_CAPTURE = """
import hashlib, io, json, sys, tempfile, time
from pathlib import Path
import pandas as pd
from incident_lib.infra.evidence import ROW_GROUP_ROWS, EvidenceStore
from incident_lib.infra.redact import redact_frame
ws, rows = sys.argv[1], int(sys.argv[2])
store = EvidenceStore(ws)
entry = store.latest("kubernetes", "logs")
logs = store.read_entry(entry).head(rows).copy()
out = {"rows": len(logs)}
with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    clean = redact_frame(logs)
    t1 = time.perf_counter()
    path = Path(tmp) / "x.parquet"
    clean.to_parquet(path, index=False, row_group_size=ROW_GROUP_ROWS)
    t2 = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    t3 = time.perf_counter()
    copy = EvidenceStore(Path(tmp) / "ws", create=True)
    t4 = time.perf_counter()
    copy.capture(logs, source="kubernetes", name="logs", query=dict(entry.query))
    t5 = time.perf_counter()
    out.update(redact_s=t1 - t0, parquet_s=t2 - t1, sha256_s=t3 - t2, capture_s=t5 - t4,
               parquet_bytes=path.stat().st_size)
print(json.dumps(out))
"""


def child_capture(ws: Path, rows: int, env: dict[str, str]) -> dict[str, float]:
    """Capture ``rows`` log lines in a fresh process: each stage's time, and the whole."""
    return _json_child("capture", CHILD_CAPTURE, [str(ws), str(rows)], env)


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
    p.add_argument(
        "--parallel", type=int, default=2, help="notebooks at once in a bundle (incident run's)"
    )
    p.add_argument("--old-frames", default="", help="an older frames.py to compare with")
    p.add_argument("--old-tree", default="", help="an older checkout to compare the bundle with")
    p.add_argument("--old-max", default="3M", help="largest size to run the old code at")
    p.add_argument("--capture-rows", default="1M", help="time the capture of this many lines")
    p.add_argument("--dir", default=str(DEFAULT_DIR), help="where the workspaces go")
    p.add_argument("--json", default="", help="also write the results here")
    args = p.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    args.capture_rows = parse_size(args.capture_rows) if args.capture_rows else 0
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
        old = ("old", variants[0][1] if args.old_frames else "", old_env, old_tree)
        if args.old_frames:  # the old frames.py inside the old checkout
            variants[0] = old
        else:  # the old checkout beside the new code (it used to replace the new code)
            variants.insert(0, old)
    rows: list[dict[str, object]] = []
    for size in sizes:
        t0 = time.perf_counter()
        ws = scaled_workspace(size, base_dir)
        print(f"{size:>10,} lines: workspace ready in {time.perf_counter() - t0:.0f} s", flush=True)
        here = [v for v in variants if v[0] == "new" or size <= parse_size(args.old_max)]
        runs: dict[str, list[dict[str, float]]] = {v[0]: [] for v in here}
        for _ in range(args.repeat):
            for label, old, venv, _cwd in here:
                runs[label].append(child_signatures(ws, old, venv))
        for label, *_ in here:
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
            for label, _old, venv, cwd in here:
                bundles = [
                    child_bundle(ws, venv, cwd, args.parallel) for _ in range(args.bundle_repeat)
                ]
                row = next(r for r in rows if r["size"] == size and r["code"] == label)
                row["bundle_s"] = statistics.median(b["seconds"] for b in bundles)
                row["bundle_peak_mib"] = statistics.median(b["peak_kib"] for b in bundles) / 1024
                row["bundle_total_mib"] = statistics.median(b["total_kib"] for b in bundles) / 1024
                row["bundle_bytes"] = statistics.median(b["bytes"] for b in bundles)
        for row in rows[-len(here) :]:
            print("   ", json.dumps(row), flush=True)
    demo: dict[str, dict[str, float]] = {}
    if args.bundle_repeat:  # the demo itself (22k lines), the reference for "3x its time"
        demo_ws = base_dir / "demo-run"
        if not demo_ws.is_dir():
            shutil.copytree(base_dir / "demo", demo_ws)
        for label, _old, venv, cwd in variants:
            bundles = [
                child_bundle(demo_ws, venv, cwd, args.parallel) for _ in range(args.bundle_repeat)
            ]
            demo[label] = {
                "bundle_s": statistics.median(b["seconds"] for b in bundles),
                "bundle_peak_mib": statistics.median(b["peak_kib"] for b in bundles) / 1024,
                "bundle_total_mib": statistics.median(b["total_kib"] for b in bundles) / 1024,
                "bundle_bytes": statistics.median(b["bytes"] for b in bundles),
            }
            print(f"    demo {label}: {json.dumps(demo[label])}", flush=True)
    capture: list[dict[str, float]] = []
    if args.capture_rows:
        big = next((s for s in sorted(sizes) if s >= args.capture_rows), 0)
        if big:
            ws = scaled_workspace(big, base_dir)
            capture = [child_capture(ws, args.capture_rows, env) for _ in range(args.repeat)]
    print()
    head = f"{'lines':>10} {'code':>4} {'read MiB':>9} {'sig s':>7} {'sig +MiB':>9}"
    print(
        head
        + f" {'bundle s':>9} {'bundle MiB':>11} {'all MiB':>8} {'x demo':>7} {'bundle KiB':>11}"
    )
    for row in rows:
        ref = demo.get(str(row["code"]), {}).get("bundle_s", 0.0)
        bundle = (
            f" {row['bundle_s']:>9.1f} {row['bundle_peak_mib']:>11.0f}"
            f" {row['bundle_total_mib']:>8.0f}"
            f" {(float(str(row['bundle_s'])) / ref if ref else float('nan')):>7.2f}"
            f" {float(str(row['bundle_bytes'])) / 1024:>11.0f}"
            if "bundle_s" in row
            else f" {'-':>9} {'-':>11} {'-':>8} {'-':>7} {'-':>11}"
        )
        print(
            f"{row['size']:>10,} {row['code']:>4} {row['read_peak_mib']:>9.0f} "
            f"{row['sig_s']:>7.2f} {row['sig_extra_mib']:>9.0f}" + bundle
        )
    for label, *_ in variants:
        mine = [r for r in rows if r["code"] == label]
        for key in ("sig_s", "sig_extra_mib", "bundle_s", "bundle_peak_mib", "bundle_total_mib"):
            points = [(int(str(r["size"])), float(str(r[key]))) for r in mine if key in r]
            if len(points) >= 2:
                print(f"growth exponent {label} {key}: {exponent(points):.2f}")
    for label, measured in demo.items():
        print(
            f"demo bundle {label}: {measured['bundle_s']:.1f} s, "
            f"{measured['bundle_peak_mib']:.0f} MiB (all processes "
            f"{measured['bundle_total_mib']:.0f} MiB), {measured['bundle_bytes'] / 1024:.0f} KiB"
        )
    if capture:
        stages = ("redact_s", "parquet_s", "sha256_s", "capture_s")
        median = {k: statistics.median(c[k] for c in capture) for k in stages}
        print(
            f"capture of {int(capture[0]['rows']):,} lines (median of {len(capture)}): "
            f"{median['capture_s']:.2f} s = redaction {median['redact_s']:.2f} + Parquet "
            f"{median['parquet_s']:.2f} + sha256 {median['sha256_s']:.2f} "
            f"(+ {median['capture_s'] - sum(median[k] for k in stages[:3]):.2f} manifest, "
            f"lock, fsync); file {capture[0]['parquet_bytes'] / 2**20:.0f} MiB"
        )
    print(
        f"(bundle MiB: the largest process, ru_maxrss; all MiB: the runner and its kernels "
        f"together, sampled; --parallel {args.parallel}; {resource.getpagesize()} B pages)"
    )
    if args.json:
        result = {"rows": rows, "demo": demo, "capture": capture}
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
