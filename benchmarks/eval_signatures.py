"""Group accuracy of the signatures on log sets they were not built on.

Prints GA (Zhu et al., ICSE-SEIP 2019; the metric of ``../shared/bench/loghub_eval.py``)
per set for

- the ten Loghub-2k sets that are not in ``../shared/loghub2k`` (supercomputers,
  operating systems, desktop/mobile apps, a proxy, SSH), downloaded once from
  logpai/logparser at a pinned commit into ``--cache`` (about 4 MB, never committed);
- the six shared sets in ``../shared/loghub2k`` (must stay >= 0.97).

Usage::

    .venv/bin/python benchmarks/eval_signatures.py [--cache DIR] [--shared DIR] [--offline]

``--offline`` skips sets that are not in the cache yet.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
COMMIT = "db272234a0cb35422caedef30845f37db1062da9"
URL = "https://raw.githubusercontent.com/logpai/logparser/{commit}/data/loghub_2k/{name}/{name}_2k.log_structured.csv"
HELD_OUT = (
    "BGL",
    "HPC",
    "Thunderbird",
    "Windows",
    "Linux",
    "Mac",
    "Android",
    "HealthApp",
    "OpenSSH",
    "Proxifier",
)
SHARED = ("HDFS", "Hadoop", "Spark", "Zookeeper", "OpenStack", "Apache")


def metric_module(path: Path) -> ModuleType:
    """The GA metric of ``../shared/bench/loghub_eval.py`` (loaded from ``path``)."""
    spec = importlib.util.spec_from_file_location("loghub_eval", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the metric from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path: Path) -> tuple[list[str], list[str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventTemplate"] for r in rows]


def _held_out(name: str, cache: Path, offline: bool) -> Path | None:
    path = cache / name / f"{name}_2k.log_structured.csv"
    if path.exists():
        return path
    if offline:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    url = URL.format(commit=COMMIT, name=name)
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _report(
    title: str,
    sets: dict[str, Path],
    parse: Callable[[Sequence[str]], list[str]],
    metrics: Callable[..., dict[str, float]],
) -> None:
    print(f"\n{title}")
    print(f"{'set':<12} {'lines':>6} {'GA':>7} {'gt_grp':>7} {'groups':>7} {'sec':>6}")
    scores = []
    for name, path in sets.items():
        content, truth = _load(path)
        start = time.perf_counter()
        ids = parse(content)
        took = time.perf_counter() - start
        m = metrics(truth, ids)
        scores.append(m["GA"])
        print(
            f"{name:<12} {m['lines']:>6} {m['GA']:>7.4f} {m['gt_groups']:>7} "
            f"{m['pred_groups']:>7} {took:>6.2f}"
        )
    if scores:
        print(f"{'average':<12} {'':>6} {sum(scores) / len(scores):>7.4f}  ({len(scores)} sets)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "loghub2k-heldout")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "loghub2k")
    parser.add_argument(
        "--metric", type=Path, default=ROOT.parent / "shared" / "bench" / "loghub_eval.py"
    )
    parser.add_argument("--offline", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from incident_lib.analysis.signatures import signature_ids

    metrics = metric_module(args.metric).group_metrics
    held = {n: p for n in HELD_OUT if (p := _held_out(n, args.cache, args.offline)) is not None}
    _report(f"held-out Loghub-2k (logpai/logparser@{COMMIT[:8]})", held, signature_ids, metrics)
    shared = {
        n: args.shared / n / f"{n}_2k.log_structured.csv"
        for n in SHARED
        if (args.shared / n / f"{n}_2k.log_structured.csv").exists()
    }
    _report(f"shared sets ({args.shared})", shared, signature_ids, metrics)


if __name__ == "__main__":
    main()
