"""Time to produce the demo bundle: `incident run` against a naive per-notebook loop.

Both start from the same generated demo workspace and produce the same thing:
every notebook executed with the incident's parameters and rendered to HTML
without code input.

* ours:  ``incident run <workspace>`` (one process, notebooks in parallel,
  HTML rendered in-process by one exporter while other notebooks run);
* naive: for each notebook, the ``papermill`` command, then
  ``jupyter nbconvert --to html --no-input`` on its output.

Also measured: ``import incident_lib`` (fresh interpreter each time) and the
demo generation itself. Prints medians over ``--repeat`` runs and the ratio.

    python benchmarks/bench_bundle.py [--scenario connection-leak] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def ours(workspace: Path) -> float:
    return timed([str(BIN / "incident"), "run", str(workspace)])


def naive(workspace: Path, out: Path) -> float:
    start = time.perf_counter()
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        target = out / nb.name
        subprocess.run(
            [
                str(BIN / "papermill"),
                str(nb),
                str(target),
                "-k",
                "python3",
                "-p",
                "workspace",
                str(workspace),
                "-p",
                "run_dir",
                str(out),
                "--no-progress-bar",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(target)],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


def import_time() -> float:
    code = (
        "import time; t = time.perf_counter(); import incident_lib; print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="connection-leak")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from incident_lib.demo import generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        ws = generate(args.scenario, root / "ws").path
        gen = time.perf_counter() - start
        n_notebooks = len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
        ours(ws)  # warm the OS caches for both
        ours_times, naive_times = [], []
        for i in range(args.repeat):
            out = root / f"naive-{i}"
            out.mkdir()
            # interleave so that machine noise hits both alike
            ours_times.append(ours(ws))
            naive_times.append(naive(ws, out))
            shutil.rmtree(out)
        imports = [import_time() for _ in range(max(args.repeat, 5))]

    ours_med, naive_med = statistics.median(ours_times), statistics.median(naive_times)
    print(f"scenario {args.scenario}, {n_notebooks} notebooks, {args.repeat} runs each")
    print(f"demo generation              {gen:7.2f} s")
    print(
        f"incident run (ours)   median {ours_med:7.2f} s   runs {[round(t, 2) for t in ours_times]}"
    )
    print(
        f"papermill+nbconvert   median {naive_med:7.2f} s   "
        f"runs {[round(t, 2) for t in naive_times]}"
    )
    print(f"ratio ours / naive           {ours_med / naive_med:7.2f}  (target <= 0.25)")
    print(
        f"import incident_lib   median {statistics.median(imports) * 1000:7.1f} ms "
        "(target < 300 ms)"
    )


if __name__ == "__main__":
    main()
