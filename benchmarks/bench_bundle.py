"""Time to produce the demo bundle: `incident run` against a naive per-notebook loop.

Both start from the same generated demo workspace and produce the same thing:
every notebook executed with the incident's parameters and rendered to HTML
without code input.

* ours:  ``incident run <workspace>`` (one process, notebooks in parallel,
  HTML rendered in-process by one exporter while other notebooks run);
* naive: for each notebook, the ``papermill`` command, then
  ``jupyter nbconvert --to html --no-input`` on its output;
* floor: every notebook's code run in one warm process (a fresh interpreter
  that imports once, runs each notebook's cells in a fresh IPython namespace
  with its parameters, draws each chart once, and renders the HTML pages of
  the bundle), one notebook after the other: the work itself, without kernels;
* old (``--old DIR``): ``incident run`` with the code in DIR first on the path
  (e.g. ``git archive HEAD | tar -x -C DIR``), for a same-run comparison.

Also measured: ``import incident_lib`` (fresh interpreter each time) and the
demo generation itself. Prints medians over ``--repeat`` runs and the ratio.

    python benchmarks/bench_bundle.py [--scenario connection-leak] [--repeat 5] [--old DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode:
        sys.exit(f"{cmd[-2:]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def ours(workspace: Path, code: Path | None = None) -> float:
    """``incident run``; with ``code``, the incident_lib in that folder instead of ours."""
    if code is None:
        return timed([str(BIN / "incident"), "run", str(workspace)])
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-c", "from incident_lib.cli import main; raise SystemExit(main())"]
    return timed([*cmd, "run", str(workspace)], env=env, cwd=code)  # not ours from the cwd


#: the floor: run in a fresh interpreter as ``python -c FLOOR workspace out rendered...``
FLOOR = """
import sys, time
start = time.perf_counter()
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
import incident_lib
from incident_lib.report.render import HtmlRenderer

workspace, out, notebooks = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
shell = InteractiveShell.instance()
renderer = HtmlRenderer()
for path in map(Path, notebooks):
    nb = load_notebook_node(str(path))
    nb = parameterize_notebook(nb, {"workspace": workspace, "run_dir": str(out)})
    shell.reset(new_session=False)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        with capture_output() as captured:
            result = shell.run_cell(cell.source, store_history=False)
        result.raise_error()
        cell.outputs = [
            nbformat.v4.new_output("display_data", data=o.data, metadata=o.metadata)
            for o in captured.outputs
        ]
        for number in plt.get_fignums():  # what the inline backend would draw
            figure = plt.figure(number)
            figure.canvas.print_figure(__import__("io").BytesIO(), format="png")
        plt.close("all")
    target = out / path.name
    nbformat.write(nb, target)
    renderer.render(target, out / (path.stem + ".html"))
print(time.perf_counter() - start)
"""


def floor(workspace: Path, out: Path, notebooks: list[Path]) -> float:
    """Seconds for every notebook's code and HTML in one process (imports included)."""
    cmd = [sys.executable, "-c", FLOOR, str(workspace), str(out), *map(str, notebooks)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=out)
    return float(done.stdout.split()[-1])


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
    parser.add_argument("--old", type=Path, help="a copy of older code to time as well")
    parser.add_argument(
        "--naive-repeat", type=int, help="runs of the slow naive loop (default: --repeat)"
    )
    args = parser.parse_args()

    from incident_lib.demo import generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        ws = generate(args.scenario, root / "ws").path
        gen = time.perf_counter() - start
        old_ws = ws
        if args.old is not None:  # its own demo: older code may not read a newer store
            old_ws = root / "old-ws"
            script = "import sys; from incident_lib.demo import generate; generate(*sys.argv[1:])"
            subprocess.run(
                [sys.executable, "-c", script, args.scenario, str(old_ws)],
                check=True,
                capture_output=True,
                env={**os.environ, "PYTHONPATH": str(args.old.resolve())},
                cwd=args.old.resolve(),
            )
        naive_repeat = args.repeat if args.naive_repeat is None else args.naive_repeat
        notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        n_notebooks = len(notebooks)
        ours(ws)  # warm the OS caches for all
        ours_times, naive_times, floor_times, old_times = [], [], [], []
        for i in range(args.repeat):
            out = root / f"naive-{i}"
            out.mkdir()
            # interleave so that machine noise hits all alike
            ours_times.append(ours(ws))
            if i < naive_repeat:
                naive_times.append(naive(ws, out))
                shutil.rmtree(out)
                out.mkdir()
            floor_times.append(floor(ws, out, notebooks))
            shutil.rmtree(out)
            if args.old is not None:
                old_times.append(ours(old_ws, args.old.resolve()))
        imports = [import_time() for _ in range(max(args.repeat, 5))]

    ours_med, naive_med = statistics.median(ours_times), statistics.median(naive_times)
    floor_med = statistics.median(floor_times)
    print(
        f"scenario {args.scenario}, {n_notebooks} notebooks, {args.repeat} runs each "
        f"({len(naive_times)} of the naive loop)"
    )
    print(f"demo generation              {gen:7.2f} s")
    print(
        f"incident run (ours)   median {ours_med:7.2f} s   runs {[round(t, 2) for t in ours_times]}"
    )
    print(
        f"papermill+nbconvert   median {naive_med:7.2f} s   "
        f"runs {[round(t, 2) for t in naive_times]}"
    )
    print(
        f"in-process floor      median {floor_med:7.2f} s   "
        f"runs {[round(t, 2) for t in floor_times]}"
    )
    if old_times:
        old_med = statistics.median(old_times)
        print(
            f"incident run (--old)  median {old_med:7.2f} s   "
            f"runs {[round(t, 2) for t in old_times]}"
        )
        print(f"ratio old / floor            {old_med / floor_med:7.2f}")
        print(f"ratio old / naive            {old_med / naive_med:7.2f}")
    print(f"ratio ours / floor           {ours_med / floor_med:7.2f}  (target <= 2)")
    print(f"ratio ours / naive           {ours_med / naive_med:7.2f}  (target <= 0.10)")
    print(
        f"import incident_lib   median {statistics.median(imports) * 1000:7.1f} ms "
        "(target < 300 ms)"
    )


if __name__ == "__main__":
    main()
