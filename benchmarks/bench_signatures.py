"""Throughput of error-signature grouping: ours vs Drain3 vs ``grep | sort | uniq -c``.

Builds (or reuses) the 1,000,000-line corpus of ``../shared/bench/make_bigfile.py``
(Loghub-2k lines with every number re-randomised) and, in one run, pinned to one
CPU core where the OS allows it, measures:

a. ``incident_lib.analysis.signatures.signature_ids`` on the message lines in memory
   (median of ``--repeat`` runs), plus once including reading and splitting the file;
a2. the same on the first ``--distinct-lines`` lines with a random UUID appended to each
   (no two lines repeat even after masking digits: the request-id case);
a3. the same with a random 8-letter word appended instead (every masked template is
   distinct: the adversarial case, where all the work runs once per line);
a4. the same lines in a plain Java layout with a random 32-hex trace id inside the
   message (``2026-11-28 10:41:00,123 INFO [main] c.e.Service - trace=<id> <line>``);
a5. the same lines with a random word and a random ``0x`` session id appended (the word
   varies among lines that differ in their ids too);
b. ``drain3.TemplateMiner`` with its default configuration (median of
   ``--drain3-repeat`` runs; ``--drain3-lines`` runs it on a prefix only), and once on
   each of the (a2) to (a5) lines (b2 to b5);
c. the shell pipeline ``grep -E "ERROR|FATAL|Exception" | sort | uniq -c | sort -rn``
   over the same file (``bash -c``);

and the peak memory of (a), measured in fresh subprocesses (peak RSS during the call
from ``/proc``, and ``tracemalloc``). With ``--baseline REF`` (default ``HEAD``; ``""``
to skip) (a) to (a5) also run on ``incident_lib/analysis/signatures/{masking,grouping}.py``
as of that git revision, in the same run.

``--worst`` measures the worst cases instead: unique long lines (request bodies) of
1 KB, 10 KB and 100 KB, lines/s and peak RSS of each in a fresh subprocess, for the
current code and, with ``--baseline REF`` (default ``HEAD``), for
``incident_lib/analysis/signatures/{masking,grouping}.py`` as of that git revision,
in the same run.

Usage::

    python benchmarks/bench_signatures.py [--lines N] [--corpus PATH]
    python benchmarks/bench_signatures.py --worst [--baseline REF] [--sizes 1000,10000]

``--corpus`` is a ``big_content.txt`` (or the directory holding it); without it the
corpus is built under ``$TMPDIR/incident-bench-signatures`` on first use.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shlex
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MAKE_BIGFILE = SHARED / "bench" / "make_bigfile.py"
DEFAULT_DIR = Path(tempfile.gettempdir()) / "incident-bench-signatures"
SHELL = 'grep -E "ERROR|FATAL|Exception" {file} | sort | uniq -c | sort -rn > /dev/null'

sys.path.insert(0, str(ROOT))


def pin_one_core() -> str:
    """Pin this process (and the subprocesses it starts) to one CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this OS)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def corpus_file(path: str | None, lines: int) -> Path:
    """The message corpus with at least ``lines`` lines, built when missing."""
    if path:
        p = Path(path)
        p = p / "big_content.txt" if p.is_dir() else p
        if not p.is_file():
            raise SystemExit(f"--corpus: {p} does not exist")
        return p
    p = DEFAULT_DIR / "big_content.txt"
    if p.is_file() and count_lines(p) >= lines:
        return p
    if not MAKE_BIGFILE.is_file():
        raise SystemExit(f"cannot build the corpus: {MAKE_BIGFILE} not found; pass --corpus")
    print(f"building the corpus in {DEFAULT_DIR} (about 30 s) ...", flush=True)
    subprocess.run(
        [
            sys.executable,
            str(MAKE_BIGFILE),
            "--data-dir",
            str(SHARED / "loghub2k"),
            "--out",
            str(DEFAULT_DIR),
            "--lines",
            str(max(lines, 1_000_000)),
        ],
        check=True,
    )
    return p


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def read_lines(path: Path, n: int) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[:n]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def drain3_run(lines: list[str]) -> int:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    miner = TemplateMiner(persistence_handler=None, config=config)
    for line in lines:
        miner.add_log_message(line)
    return len(miner.drain.clusters)


_MEMORY_PROBE = """
import gc, json, sys, tracemalloc
sys.path.insert(0, {root!r})
from incident_lib.analysis.signatures import signature_ids

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

text = open({file!r}, encoding="utf-8").read()
lines = text.split("\\n")[:{n}]
del text
gc.collect()
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
if {trace}:
    tracemalloc.start()
signature_ids(lines)
traced = tracemalloc.get_traced_memory()[1] if {trace} else None
print(json.dumps({{"before_kb": before, "peak_kb": status("VmHWM"), "traced_peak": traced}}))
"""


def memory_probe(path: Path, n: int, trace: bool) -> dict[str, float] | None:
    """Peak memory of one call in a fresh interpreter (Linux /proc); None elsewhere."""
    if not Path("/proc/self/clear_refs").exists():
        return None
    code = _MEMORY_PROBE.format(root=str(ROOT), file=str(path), n=n, trace=trace)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


_WORST_PROBE = """
import json, random, string, sys, time
sys.path.insert(0, {path!r})
from {module} import signature_ids

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

rng = random.Random(11)
words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
def body(chars):
    out, n = [], 0
    while n < chars:
        w = rng.choice(words) if rng.random() < 0.8 else str(rng.randrange(10**6))
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:chars]
lines = [f"POST /api/v1/orders rejected body=" + body({size}) for _ in range({count})]
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
t0 = time.perf_counter()
signature_ids(lines)
seconds = time.perf_counter() - t0
print(json.dumps({{"seconds": seconds, "before_kb": before, "peak_kb": status("VmHWM")}}))
"""


def baseline_package(ref: str, tmp: Path) -> Path:
    """The signature core (masking, grouping) as of git revision ``ref``, as a package."""
    pkg = tmp / "sig_baseline"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("masking", "grouping", "_vector"):
        out = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:incident_lib/analysis/signatures/{name}.py"],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            if name == "_vector":  # (a later module)
                continue
            raise SystemExit(f"git show {ref}: {out.stderr.strip()}")
        (pkg / f"{name}.py").write_text(out.stdout)
    return tmp


def baseline_ids(ref: str, tmp: Path) -> Callable[[list[str]], list[str]]:
    """``signature_ids`` of the signature core as of git revision ``ref``."""
    import importlib

    sys.path.insert(0, str(baseline_package(ref, tmp)))
    module = importlib.import_module("sig_baseline.grouping")
    fn: Callable[[list[str]], list[str]] = module.signature_ids
    return fn


def worst(args: argparse.Namespace) -> None:
    """Unique long lines: lines/s and peak RSS at each size, current code vs ``--baseline``."""
    if not Path("/proc/self/clear_refs").exists():
        raise SystemExit("--worst needs Linux /proc (peak RSS)")
    sizes = [int(x) for x in args.sizes.split(",")]
    counts = {1_000: 20_000, 10_000: 2_000, 100_000: 50}
    print(f"{pin_one_core()}; Python {sys.version.split()[0]}; baseline {args.baseline}\n")
    head = f"{'line size':>10} {'lines':>7} {'code':<10} {'median s':>9} {'lines/s':>10}"
    print(f"{head} {'peak RSS':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        variants = [("current", str(ROOT), "incident_lib.analysis.signatures")]
        if args.baseline:
            base = baseline_package(args.baseline, Path(tmp))
            variants.append((args.baseline, str(base), "sig_baseline.grouping"))
        for size in sizes:
            count = args.worst_lines or counts.get(size, max(10, 20_000_000 // size))
            for label, path, module in variants:
                code = _WORST_PROBE.format(path=path, module=module, size=size, count=count)
                runs = []
                for _ in range(args.worst_repeat):
                    out = subprocess.run(
                        [sys.executable, "-c", code], capture_output=True, text=True, check=True
                    )
                    runs.append(json.loads(out.stdout))
                runs.sort(key=lambda r: r["seconds"])
                mid = runs[len(runs) // 2]
                print(
                    f"{size:>10,} {count:>7,} {label:<10} {mid['seconds']:>9.3f} "
                    f"{count / mid['seconds']:>10,.0f} {mid['peak_kb'] / 1024:>7,.0f} MiB",
                    flush=True,
                )


def row(label: str, seconds: float, lines: int, note: str = "") -> None:
    print(f"{label:<60} {seconds:>9.3f} {lines / seconds:>12,.0f} lines/s  {note}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="corpus lines (default 1M)")
    ap.add_argument("--corpus", help="big_content.txt or its directory (default: build one)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of our method (default 5)")
    ap.add_argument(
        "--drain3-lines", type=int, help="run Drain3 on a prefix of this many lines (default: all)"
    )
    ap.add_argument("--drain3-repeat", type=int, default=3)
    ap.add_argument("--shell-repeat", type=int, default=3)
    ap.add_argument("--distinct-lines", type=int, default=100_000, help="size of (a2), (a3)")
    ap.add_argument("--worst", action="store_true", help="long-line worst cases (see above)")
    ap.add_argument("--baseline", default="HEAD", help="git revision to compare with")
    ap.add_argument("--sizes", default="1000,10000,100000", help="line sizes (--worst)")
    ap.add_argument("--worst-lines", type=int, help="lines per size (--worst; default by size)")
    ap.add_argument("--worst-repeat", type=int, default=3, help="runs per size (--worst)")
    args = ap.parse_args(argv)
    if args.worst:
        worst(args)
        return

    pinned = pin_one_core()
    path = corpus_file(args.corpus, args.lines)
    lines = read_lines(path, args.lines)
    n = len(lines)
    if n < args.lines:
        print(f"note: {path} has only {n:,} lines")
    print(f"corpus: {path} ({n:,} lines); {pinned}; Python {sys.version.split()[0]}\n")

    from incident_lib.analysis.signatures import signature_ids

    # (a) ours
    ours = timed(lambda: signature_ids(lines), args.repeat)
    groups = len(set(signature_ids(lines)))
    ours_file = timed(lambda: signature_ids(read_lines(path, n)), 1)[0]
    # (a2) request ids: no two lines are equal even after masking the digits
    k = min(args.distinct_lines, n)
    with_ids = [f"{line} req-{uuid.uuid4()}" for line in lines[:k]]
    ids_case = statistics.median(timed(lambda: signature_ids(with_ids), 3))
    # (a3) adversarial: a random plain word makes every masked template distinct
    rng = random.Random(7)
    with_words = [
        f"{line} {''.join(rng.choices(string.ascii_lowercase, k=8))}" for line in lines[:k]
    ]
    words_case = statistics.median(timed(lambda: signature_ids(with_words), 3))
    # (a4) a trace id inside plain Java lines
    with_trace = [
        f"2026-11-28 10:41:{i % 60:02d},{i % 1000:03d} INFO [main] c.e.Service - "
        f"trace={rng.getrandbits(128):032x} {line}"
        for i, line in enumerate(lines[:k])
    ]
    trace_case = statistics.median(timed(lambda: signature_ids(with_trace), 3))
    # (a5) a unique word and a 0x session id
    with_session = [
        f"{line} {''.join(rng.choices(string.ascii_lowercase, k=8))} "
        f"session=0x{rng.getrandbits(40):x}"
        for line in lines[:k]
    ]
    session_case = statistics.median(timed(lambda: signature_ids(with_session), 3))
    drain_ids = timed(lambda: drain3_run(with_ids), 1)[0]
    drain_words = timed(lambda: drain3_run(with_words), 1)[0]
    drain_trace = timed(lambda: drain3_run(with_trace), 1)[0]
    drain_session = timed(lambda: drain3_run(with_session), 1)[0]
    # the same four on the baseline revision
    old: dict[str, float] = {}
    tmp_base = tempfile.TemporaryDirectory()
    if args.baseline:
        base_ids = baseline_ids(args.baseline, Path(tmp_base.name))
        old["a"] = statistics.median(timed(lambda: base_ids(lines), args.repeat))
        cases_old = (("a2", with_ids), ("a3", with_words), ("a4", with_trace))
        for key, case in (*cases_old, ("a5", with_session)):
            old[key] = statistics.median(timed(functools.partial(base_ids, case), 3))

    # (b) drain3
    d = min(args.drain3_lines or n, n)
    prefix = lines[:d]
    clusters: list[int] = []
    try:
        drain = statistics.median(
            timed(lambda: clusters.append(drain3_run(prefix)), args.drain3_repeat)
        )
    except ImportError:
        raise SystemExit("drain3 is not installed: pip install -e '.[bench]'") from None

    # (c) the shell pipeline, over a file of exactly n lines
    with tempfile.TemporaryDirectory() as tmp:
        file = path
        if n < count_lines(path):
            file = Path(tmp) / "prefix.txt"
            file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cmd = SHELL.format(file=shlex.quote(str(file)))
        shell = statistics.median(
            timed(lambda: subprocess.run(["bash", "-c", cmd], check=True), args.shell_repeat)
        )

    mem = memory_probe(path, n, trace=False)
    traced = memory_probe(path, n, trace=True)

    ours_med = statistics.median(ours)
    print(f"{'method':<60} {'median s':>9} {'throughput':>21}")
    row(
        f"(a)  signature_ids, in memory, median of {args.repeat}",
        ours_med,
        n,
        f"({groups} signatures)",
    )
    print(f"       runs (s): {', '.join(f'{t:.3f}' for t in ours)}")
    row("(a1) signature_ids incl. reading + splitting the file", ours_file, n)
    row(f"(a2) {k:,} lines + a random request id (UUID) each", ids_case, k)
    row(f"(a3) {k:,} lines + a random word each (nothing repeats)", words_case, k)
    row(f"(a4) {k:,} Java lines with a 32-hex trace id", trace_case, k)
    row(f"(a5) {k:,} lines + a random word and a 0x session id", session_case, k)
    row(f"(b2) drain3 on the same {k:,} lines with a UUID", drain_ids, k)
    row(f"(b3) drain3 on the same {k:,} lines with a random word", drain_words, k)
    row(f"(b4) drain3 on the same {k:,} Java lines with a trace id", drain_trace, k)
    row(f"(b5) drain3 on the same {k:,} lines with a word and a session id", drain_session, k)
    label = "all" if d == n else f"first {d:,}"
    row(
        f"(b)  drain3 TemplateMiner defaults, {label} lines, median of {args.drain3_repeat}",
        drain,
        d,
        f"({clusters[-1]} clusters)",
    )
    row(f"(c)  {SHELL.split(' {file}')[0]} | sort | uniq -c | sort -rn", shell, n)
    ours_rate, drain_rate, shell_rate = n / ours_med, d / drain, n / shell
    print()
    print(
        f"ours vs drain3:         {ours_rate / drain_rate:7.1f}x   "
        f"(a2 vs b2: {drain_ids / ids_case:.2f}x, a3 vs b3: {drain_words / words_case:.2f}x, "
        f"a4 vs b4: {drain_trace / trace_case:.2f}x, "
        f"a5 vs b5: {drain_session / session_case:.2f}x)"
    )
    if old:
        print(f"\n{'lines/s':<30} {args.baseline:>12} {'current':>12} {'drain3':>12}")
        cases = (
            ("(a) corpus", n, old["a"], ours_med, d / drain),
            ("(a2) + a UUID per line", k, old["a2"], ids_case, k / drain_ids),
            ("(a3) + a unique word per line", k, old["a3"], words_case, k / drain_words),
            ("(a4) Java lines + trace id", k, old["a4"], trace_case, k / drain_trace),
            ("(a5) + a word and a 0x id", k, old["a5"], session_case, k / drain_session),
        )
        for label, size, then, now, drain_lps in cases:
            print(f"{label:<30} {size / then:>12,.0f} {size / now:>12,.0f} {drain_lps:>12,.0f}")
    tmp_base.cleanup()
    print(f"ours vs shell pipeline: {ours_rate / shell_rate:7.2f}x")
    if mem is None or traced is None:
        print("peak memory: not measured (needs Linux /proc/self/clear_refs)")
    else:
        before, peak = mem["before_kb"] / 1024, mem["peak_kb"] / 1024
        print(
            f"peak memory of (a) on {n:,} lines: RSS peak {peak:,.0f} MiB during the call, "
            f"{peak - before:,.0f} MiB above the {before:,.0f} MiB held before it "
            f"(interpreter + the lines as a list of str); "
            f"tracemalloc peak of the call: {traced['traced_peak'] / 2**20:,.0f} MiB"
        )


if __name__ == "__main__":
    main()
