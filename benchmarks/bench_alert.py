"""Time from an Alertmanager webhook to the Slack message with the bundle attached.

The connection-leak demo is served through local test servers
(``benchmarks/_demo_servers.py``: the Kubernetes API from its captured evidence,
times shifted so the incident ended a minute ago). The receiver is the one
``incident serve`` builds (:func:`~incident_lib.receiver.service.build_receiver`,
served in a thread), posting to a fake Slack incoming webhook
(``tests/receiver/chat_servers.py``). Each repeat POSTs an Alertmanager v4 webhook
(the shape of ``tests/data/receiver/alertmanager_v4.json``; labels ``service=api``,
``namespace=<the demo's>``, ``startsAt`` = the demo's detection time, a new group
key each time so each repeat is a new incident) and waits for the message.

Baseline, measured in the same run: the same notebooks made offline over the
demo workspace's captured evidence (``incident run WS --notebooks ...``).

    python benchmarks/bench_alert.py [--repeat 3] [--notebooks 01_triage 02_assess]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _demo_servers import ROOT, Served, serve_demo

BIN = Path(sys.executable).parent
TOKEN = "bench-receiver-token-7c1e"
TARGET = 30.0  # seconds
WAIT = 300.0


def alert_body(served: Served, index: int) -> bytes:
    """The Alertmanager v4 webhook of one repeat."""
    base = json.loads((ROOT / "tests/data/receiver/alertmanager_v4.json").read_text())
    alert = copy.deepcopy(base["alerts"][0])
    labels = {
        "alertname": "ApiHighErrorRate",
        "service": served.service,
        "namespace": served.namespace,
        "severity": "critical",
    }
    alert.update(
        labels=labels,
        annotations={"summary": "api: 5xx share above 5 %"},
        startsAt=served.onset.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        fingerprint=f"{index:016x}",
    )
    body = base | {
        "receiver": "incident-receiver",
        "alerts": [alert],
        "groupLabels": {"alertname": labels["alertname"], "run": str(index)},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "groupKey": f'{{}}:{{alertname="ApiHighErrorRate",run="{index}"}}',
    }
    return json.dumps(body).encode()


def offline(workspace: Path, notebooks: list[str], folder: Path) -> float:
    """Seconds for ``incident run`` over a copy of the demo workspace."""
    copy_ = folder / "offline"
    shutil.rmtree(copy_, ignore_errors=True)
    shutil.copytree(workspace, copy_, ignore=shutil.ignore_patterns("runs", ".lock"))
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "incident"), "run", str(copy_), "--notebooks", *notebooks],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenario", default="connection-leak")
    parser.add_argument("--notebooks", nargs="+", default=["01_triage", "02_assess"])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)

    import httpx
    from chat_servers import SlackServer
    from serving import serving

    from incident_lib.demo import ensure_demo
    from incident_lib.receiver.service import build_receiver

    demo = ensure_demo(args.scenario)
    with tempfile.TemporaryDirectory(prefix="bench-alert-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        with serve_demo(args.scenario, folder) as served, SlackServer() as slack:
            # the notebooks run in kernels that inherit this process' environment
            for name in ("DD_API_KEY", "DD_APP_KEY", "PROMETHEUS_URL", "PROMETHEUS_TOKEN"):
                os.environ.pop(name, None)
            os.environ.update(served.environ)
            lead = served.onset - served.start
            config = folder / "receiver.yaml"
            config.write_text(
                f"lead: {int(lead.total_seconds() // 60)}m\n"
                f"default_notebooks: [{', '.join(args.notebooks)}]\n"
                "parameters: {metrics_source: prometheus}\n",
                encoding="utf-8",
            )
            environ = dict(os.environ) | {
                "INCIDENT_RECEIVER_TOKEN": TOKEN,
                "INCIDENT_SLACK_WEBHOOK_URL": slack.webhook,
            }
            receiver = build_receiver(config, folder / "incidents", port=0, environ=environ)
            with serving(receiver) as url:
                runs: list[float] = []
                message: dict[str, Any] = {}
                for index in range(args.repeat):
                    seen = len(slack.requests)
                    start = time.perf_counter()
                    answer = httpx.post(
                        f"{url}/alertmanager",
                        content=alert_body(served, index),
                        headers={
                            "Authorization": f"Bearer {TOKEN}",
                            "Content-Type": "application/json",
                        },
                    )
                    answer.raise_for_status()
                    while len(slack.requests) <= seen:
                        if time.perf_counter() - start > WAIT:
                            raise SystemExit(f"no message within {WAIT:g} s")
                        time.sleep(0.05)
                    runs.append(time.perf_counter() - start)
                    message = slack.requests[seen].json()
                    print(f"  alert {index + 1}: {runs[-1]:.1f} s", flush=True)
            baseline = offline(demo, args.notebooks, folder)

    text = json.dumps(message, ensure_ascii=False)
    headline = _headline(message)
    median = statistics.median(runs)
    print(f"scenario: {args.scenario}; notebooks: {' '.join(args.notebooks)}")
    print(
        f"alert -> message with bundle: median {median:.1f} s over {len(runs)} "
        f"({', '.join(f'{r:.1f}' for r in runs)}); target <= {TARGET:g} s: "
        f"{'met' if median <= TARGET else 'NOT met'}"
    )
    print(f"offline baseline (incident run over the captured evidence): {baseline:.1f} s")
    print(f"headline: {headline}")
    has_diagnosis = "deploy v2.34" in text and "→" in headline
    print(f"diagnosis in the message: {'yes' if has_diagnosis else 'NO'}")
    print(
        "served: kubernetes (FakeKubeServer from the demo's evidence), prometheus (real, "
        "backfilled from the demo's metrics), slack (fake webhook)"
    )
    for item in served.not_served:
        print(f"not served: {item}")
    return 0 if has_diagnosis else 1


def _headline(message: dict[str, Any]) -> str:
    """The message's diagnosis line: the first text line that is not the title."""
    for block in message.get("blocks", []):
        text = (block.get("text") or {}).get("text", "")
        for line in str(text).splitlines():
            if "→" in line or "->" in line:
                return line.strip()
    return str(message.get("text", ""))[:300]


if __name__ == "__main__":
    sys.exit(main())
