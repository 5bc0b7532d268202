"""Group accuracy of the signatures on self-labelled logs of real programs on this machine.

Runs real programs briefly on loopback, makes them log warnings and errors with
varied values, and labels every line *without our code*:

- ``prometheus``: Prometheus (logfmt) scraping dead targets, evaluating rules,
  sending alerts to a dead Alertmanager, reloading good and bad configs;
  label = ``level`` + ``msg`` (go-kit logs a constant ``msg``, variables go in
  other keys);
- ``alertmanager``: Alertmanager (``--log.format=json``) receiving alerts over
  its API and failing to notify a dead webhook, reloading a bad config;
  label = ``level`` + ``msg``;
- ``postgres``: PostgreSQL 15+ with ``log_destination=jsonlog``, driven into
  errors of known kinds with random values (syntax errors, unique and not-null
  violations, missing relations/columns/functions, bad casts, division by
  zero, statement timeouts, bad passwords and databases over TCP);
  label = the SQLSTATE + the action that caused it (one ``errmsg`` format
  per action), input = the stderr line (``time [pid] SEVERITY:  message``);
- ``python``: real exceptions of known kinds raised with random values and
  logged with ``logger.exception`` (one multi-line event per failure, cut into
  events by :func:`incident_lib.sources.logparse.parse_pod_log`);
  label = exception type + raising function (info lines: their format string;
  some failures are written as a bare traceback, as an uncaught exception is).

Each set is scored twice: ``raw`` (the whole line or event as a responder sees
it) and ``parsed`` (the ``message`` our log parsing makes of it, what the
signatures get in the notebooks). Scored: ``signature_ids`` and Drain3 with
its README masking (``make_drain3_parser`` of ``../shared/bench/loghub_eval.py``),
GA with that file's ``group_metrics``.

The data is generated into ``--cache`` (never committed); ``--regenerate``
makes it again. A missing program skips its set.

Usage::

    .venv/bin/python benchmarks/eval_selflabelled.py [--cache DIR] [--regenerate] [--show N]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_signatures import metric_module  # noqa: E402  (the same GA metric)

SETS = ("prometheus", "alertmanager", "postgres", "python")

# -- labelling (no incident_lib code) -------------------------------------------------

_LOGFMT_PAIR = re.compile(r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def logfmt_fields(line: str) -> dict[str, str]:
    """The ``key=value`` pairs of a logfmt line (quoted values unquoted).

    Parameters
    ----------
    line
        One logfmt line, e.g. ``level=warn msg="Scrape failed" err="..."``.

    Returns
    -------
    dict of str to str
        Keys to values; empty when the line has no pairs.
    """
    fields: dict[str, str] = {}
    for key, value in _LOGFMT_PAIR.findall(line):
        if value[:1] == '"':
            try:
                value = str(json.loads(value))
            except ValueError:
                value = value[1:-1]
        fields[key] = value
    return fields


def gokit_label(line: str) -> str | None:
    """Label of a go-kit line (logfmt or JSON): ``level`` + ``msg``, ``None`` without a msg.

    Parameters
    ----------
    line
        One log line of Prometheus or Alertmanager.

    Returns
    -------
    str or None
        ``"<level>|<msg>"``.
    """
    line = line.strip()
    fields: dict[str, Any]
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return None
        fields = obj if isinstance(obj, dict) else {}
    else:
        fields = logfmt_fields(line)
    msg = fields.get("msg")
    if not isinstance(msg, str) or not msg:
        return None
    return f"{fields.get('level', '')}|{msg}"


#: LOG messages labelled by the constant text before their first colon
_PG_LOG_HEADS = frozenset(
    (
        "connection received",
        "connection authorized",
        "connection authenticated",
        "disconnection",
        "checkpoint starting",
        "checkpoint complete",
    )
)


def postgres_record(line: str) -> tuple[str, str] | None:
    """Label and input of one PostgreSQL ``jsonlog`` record of an action we drove.

    The action is the ``application_name`` we connected with (``act-<action>``);
    connection failures (before the name is known) are labelled by their SQLSTATE
    alone; the LOG lines of connections, disconnections and checkpoints by the
    constant text before their first colon. Other records (the server's own,
    ``act-setup``'s) give ``None``.

    Parameters
    ----------
    line
        One line of the ``.json`` log.

    Returns
    -------
    tuple of str or None
        ``(label, input)``: label ``"<SQLSTATE>|<action>"``, input
        ``"<time> [<pid>] <SEVERITY>:  <message>"`` as the stderr log shows it
        (the default ``log_line_prefix``).
    """
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    severity = rec.get("error_severity")
    app = str(rec.get("application_name") or "")
    state = str(rec.get("state_code") or "")
    message = str(rec.get("message", ""))
    head = f"{rec.get('timestamp', '')} [{rec.get('pid', '')}] "
    if severity == "LOG":
        # the constant head of the format: "connection received: host=%s port=%s" ...
        prefix = message.split(":", 1)[0]
        if prefix not in _PG_LOG_HEADS or app == "act-setup":
            return None
        return f"{state}|{prefix}", f"{head}LOG:  {message}"
    if severity not in ("ERROR", "FATAL"):
        return None
    if app.startswith("act-"):
        action = app[4:]
        if action == "setup":
            return None
    elif rec.get("backend_type") == "client backend" or state.startswith(("28", "3D")):
        action = "connect"
    else:
        return None
    return f"{state}|{action}", f"{head}{severity}:  {message}"


# -- helpers ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _word(rng: random.Random, low: int = 3, high: int = 10) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(low, high)))


def _post(url: str, body: bytes = b"", *, content_type: str = "application/json") -> None:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
    except Exception:
        pass


def _wait_http(url: str, seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def _process(cmd: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _write_set(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for label, text in rows:
            f.write(json.dumps({"label": label, "text": text}) + "\n")


# -- Prometheus ---------------------------------------------------------------------------

_PROM_RULES = """\
groups:
- name: g{n}
  interval: 1s
  rules:
  - record: job:up:sum{n}
    expr: sum by (job) (up)
  - alert: TargetDown{n}
    expr: up == 0
    labels: {{severity: page}}
  - alert: AlwaysFiring{n}
    expr: vector(1) > 0
"""


def _prom_config(rng: random.Random, dead: list[int], am_port: int, rules: Path) -> str:
    jobs = []
    for j in range(6):
        targets = [f"127.0.0.1:{rng.choice(dead)}" for _ in range(rng.randint(1, 4))]
        targets += [f"localhost:{rng.choice(dead)}"]
        if j % 3 == 0:
            targets.append(f"{_word(rng)}.invalid:{rng.randint(1000, 9999)}")
        jobs.append(
            f"- job_name: {_word(rng)}-{j}\n  scrape_interval: 1s\n  scrape_timeout: 500ms\n"
            f"  static_configs:\n  - targets: {json.dumps(sorted(set(targets)))}\n"
        )
    return (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: [{json.dumps(str(rules))}]\n"
        "alerting:\n  alertmanagers:\n  - timeout: 500ms\n    static_configs:\n"
        f"    - targets: ['127.0.0.1:{am_port}']\n"
        "scrape_configs:\n" + "".join(jobs)
    )


def _run_labelled(
    cmd: list[str], log: Path, port: int, seconds: float, step: Callable[[str, int], None]
) -> list[tuple[str, str]]:
    """Run a Prometheus-family server until ready, then ``step(base_url, n)`` for n = 1, 2, ...
    until ``seconds`` have passed; its log lines with their labels (:func:`gokit_label`)."""
    base = f"http://127.0.0.1:{port}"
    with _process(cmd, log):
        _wait_http(base + "/-/ready")
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            step(base, n)
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        label = gokit_label(line)
        if label is not None:
            rows.append((label, line))
    return rows


def gen_prometheus(work: Path, rng: random.Random, seconds: float) -> list[tuple[str, str]]:
    """Run Prometheus for about ``seconds`` and label its log lines."""
    binary = shutil.which("prometheus")
    if binary is None:
        return []
    dead = [_free_port() for _ in range(8)]
    am_port, port = _free_port(), _free_port()
    conf, rules = work / "prometheus.yml", work / "rules.yml"
    rules.write_text(_PROM_RULES.format(n=0))
    conf.write_text(_prom_config(rng, dead, am_port, rules))
    log = work / "prometheus.log"
    cmd = [
        binary,
        f"--config.file={conf}",
        f"--storage.tsdb.path={work / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--log.level=debug",
    ]

    def step(base: str, n: int) -> None:
        time.sleep(seconds / 8)
        if n % 3 == 1:  # a broken rule file, then a broken config
            rules.write_text("groups:\n- name: x\n  rules:\n  - record: bad\n    expr: sum(\n")
            _post(base + "/-/reload")
            rules.write_text(_PROM_RULES.format(n=n))
            conf.write_text("global: [unclosed\n")
            _post(base + "/-/reload")
        conf.write_text(_prom_config(rng, dead, am_port, rules))
        _post(base + "/-/reload")
        for _ in range(3):  # bad queries over the API
            q = urllib.parse.quote(f"sum(rate({_word(rng)}[{rng.randint(1, 9)}m]) by (")
            _post(base + f"/api/v1/query?query={q}")

    return _run_labelled(cmd, log, port, seconds, step)


# -- Alertmanager ---------------------------------------------------------------------------


def _am_config(hook_port: int, receivers: int) -> str:
    recv = "".join(
        f"- name: r{i}\n  webhook_configs:\n  - url: http://127.0.0.1:{hook_port}/hook/{i}\n"
        f"    send_resolved: true\n"
        for i in range(receivers)
    )
    routes = "".join(
        f"  - receiver: r{i}\n    matchers: ['team=\"t{i}\"']\n" for i in range(1, receivers)
    )
    return (
        "route:\n  receiver: r0\n  group_by: [alertname, instance]\n  group_wait: 0s\n"
        "  group_interval: 1s\n  repeat_interval: 2s\n  routes:\n" + routes + "receivers:\n" + recv
    )


def gen_alertmanager(work: Path, rng: random.Random, seconds: float) -> list[tuple[str, str]]:
    """Run Alertmanager (JSON logs) for about ``seconds`` and label its log lines."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return []
    port, hook = _free_port(), _free_port()
    conf = work / "alertmanager.yml"
    conf.write_text(_am_config(hook, 4))
    log = work / "alertmanager.log"
    cmd = [
        binary,
        f"--config.file={conf}",
        f"--storage.path={work / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
        "--log.format=json",
    ]

    def step(base: str, n: int) -> None:
        alerts = [
            {
                "labels": {
                    "alertname": rng.choice(["HighLatency", "PodCrashLooping", "DiskFull"]),
                    "instance": f"{_word(rng)}-{rng.randint(0, 99)}:{rng.randint(1000, 9999)}",
                    "team": f"t{rng.randint(0, 3)}",
                },
                "annotations": {"summary": " ".join(_word(rng) for _ in range(4))},
            }
            for _ in range(rng.randint(1, 4))
        ]
        _post(base + "/api/v2/alerts", json.dumps(alerts).encode())
        if n % 4 == 0:
            _post(base + "/api/v2/alerts", b'[{"labels": {}}]')  # invalid alert
            _post(base + "/api/v2/silences", b'{"matchers": []}')  # invalid silence
            conf.write_text("route: {receiver: nowhere}\nreceivers: []\n")
            _post(base + "/-/reload")
            conf.write_text(_am_config(hook, rng.randint(2, 5)))
            _post(base + "/-/reload")
        time.sleep(0.5)

    return _run_labelled(cmd, log, port, seconds, step)


# -- PostgreSQL ---------------------------------------------------------------------------


def _pg_actions(rng: random.Random) -> dict[str, Callable[[Any], None]]:
    def ident() -> str:
        return _word(rng) + "_" + _word(rng, 2, 5)

    def timeout(cur: Any) -> None:
        cur.execute(f"SET statement_timeout = {rng.randint(1, 20)}")
        cur.execute("SELECT pg_sleep(0.2)")

    tables = ["accounts", "orders", "line_items", "payments"]
    # types whose bad input is SQLSTATE 22P02 (date/time types raise 22007, same wording)
    types = ["integer", "bigint", "uuid", "boolean", "numeric", "smallint"]
    return {
        "syntax": lambda c: c.execute(
            f"SELECT id FROM {rng.choice(tables)} WHERE id = 1 {_word(rng)} {_word(rng)}"
        ),
        "missing-table": lambda c: c.execute(f"SELECT * FROM {ident()}"),
        "missing-column": lambda c: c.execute(f"SELECT {ident()} FROM {rng.choice(tables)}"),
        "missing-function": lambda c: c.execute(f"SELECT {ident()}({rng.randint(1, 999)})"),
        "duplicate": lambda c: c.execute(
            f"INSERT INTO {rng.choice(tables)} (id, name) VALUES ({rng.randint(1, 50)}, 'x')"
        ),
        "not-null": lambda c: c.execute(
            f"INSERT INTO {rng.choice(tables)} (id, name) VALUES ({rng.randint(1000, 10**6)}, NULL)"
        ),
        "cast": lambda c: c.execute(f"SELECT '{_word(rng)}'::{rng.choice(types)}"),
        "divide": lambda c: c.execute(f"SELECT {rng.randint(1, 10**6)} / 0"),
        "timeout": timeout,
        "too-long": lambda c: c.execute(
            f"INSERT INTO codes (id, code) VALUES ({rng.randint(1, 10**6)}, '{_word(rng, 9, 20)}')"
        ),
        "out-of-range": lambda c: c.execute(f"SELECT {rng.randint(3, 9)}000000000::integer"),
        "foreign-key": lambda c: c.execute(
            f"INSERT INTO refs (id, account_id) VALUES ({rng.randint(1, 10**6)}, "
            f"{rng.randint(100, 10**6)})"
        ),
        "exists": lambda c: c.execute(f"CREATE TABLE {rng.choice(tables)} (id int)"),
        "checkpoint": lambda c: c.execute("CHECKPOINT"),
        "raise": lambda c: c.execute(
            "DO $$BEGIN RAISE EXCEPTION 'order % rejected: %', "
            f"{rng.randint(1, 10**6)}, '{_word(rng)}'; END$$"
        ),
    }


#: TCP passwords for every role but postgres (bad passwords must fail)
_PG_HBA = (
    "local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)


def gen_postgres(work: Path, rng: random.Random, events: int) -> list[tuple[str, str]]:
    """Run a throwaway PostgreSQL, drive ``events`` errors, label its ``jsonlog`` records.

    The cluster is the source tests' (``tests/sources/pg_server.py``), empty, logging
    connections, disconnections and checkpoints as JSON, with passwords over TCP for
    every role but ``postgres`` (so that bad passwords fail).
    """
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "sources")]
    from pg_server import find_bindir, start_postgres

    if find_bindir() is None:
        return []
    import psycopg

    settings = {
        "max_connections": "100",
        "logging_collector": "on",
        "log_destination": "'jsonlog'",
        "log_directory": "'log'",
        "log_filename": "'pg.log'",
        "log_min_messages": "warning",
        "log_connections": "on",
        "log_disconnections": "on",
        "log_checkpoints": "on",
    }
    with start_postgres(settings=settings, hba=_PG_HBA, set_up=False) as server:
        port = server.port
        dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        with psycopg.connect(dsn + " application_name=act-setup", autocommit=True) as conn:
            for t in ("accounts", "orders", "line_items", "payments"):
                conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, name text NOT NULL)")
                conn.execute(f"INSERT INTO {t} SELECT g, 'n' || g FROM generate_series(1, 50) g")
            conn.execute("CREATE ROLE app LOGIN PASSWORD 'secret'")
            conn.execute("CREATE TABLE codes (id int PRIMARY KEY, code varchar(8))")
            conn.execute(
                "CREATE TABLE refs (id int PRIMARY KEY, account_id int REFERENCES accounts)"
            )
        actions = _pg_actions(rng)
        names = sorted(actions)
        conns = {
            a: psycopg.connect(dsn + f" application_name=act-{a}", autocommit=True) for a in names
        }
        try:
            for _ in range(events):
                a = rng.choice(names)
                with suppress(psycopg.Error):
                    actions[a](conns[a].cursor())
                if rng.random() < 0.05:  # a short session: connection and disconnection LOG lines
                    app = f"{_word(rng)}-{rng.randint(1, 99)}"
                    with psycopg.connect(dsn + f" application_name={app}") as short:
                        short.execute("SELECT 1")
                if rng.random() < 0.08:  # a bad password or a missing database over TCP
                    bad = (
                        f"user={rng.choice(['app', _word(rng)])} password={_word(rng)}"
                        " dbname=postgres"
                        if rng.random() < 0.5
                        else f"user=postgres dbname={_word(rng)}"
                    )
                    with suppress(psycopg.Error):
                        psycopg.connect(
                            f"host=127.0.0.1 port={port} {bad} application_name=probe"
                        ).close()
        finally:
            for c in conns.values():
                c.close()
        time.sleep(0.5)
        text = (server.datadir / "log" / "pg.json").read_text(errors="replace")
    rows = []
    for line in text.splitlines():
        rec = postgres_record(line)
        if rec is not None:
            rows.append(rec)
    return rows


# -- Python tracebacks -------------------------------------------------------------------


def _py_failures(rng: random.Random, tmp: Path) -> list[tuple[str, Callable[[], object]]]:
    def load_config() -> object:
        return json.loads("{" + f'"{_word(rng)}": {_word(rng)}' + "}")

    def parse_quantity() -> object:
        return int(_word(rng) + str(rng.randint(0, 99)))

    def lookup_customer() -> object:
        return {"a": 1}[f"cust-{rng.randint(1, 10**6)}"]

    def read_manifest() -> object:
        return (tmp / _word(rng) / f"{_word(rng)}.yaml").read_text()

    def split_batch() -> object:
        n = rng.randint(1, 50)
        return n // (n - n)

    def pick_shard() -> object:
        return list(range(rng.randint(1, 9)))[rng.randint(10, 99)]

    def call_upstream() -> object:
        with socket.create_connection(("127.0.0.1", _free_port()), timeout=1):
            return None

    def render_row() -> object:
        return "total: " + rng.randint(1, 999)  # type: ignore[operator]

    def read_attr() -> object:
        return getattr(object(), _word(rng))

    def decode_token() -> object:
        return bytes([rng.randint(0x80, 0xBF)]).decode("utf-8")

    def settle_payment() -> object:
        try:
            return {"eur": 1}[_word(rng, 3, 3)]
        except KeyError as exc:
            raise RuntimeError(f"settlement {rng.randint(1, 10**6)} failed") from exc

    def run_hook() -> object:
        return subprocess.run(["sh", "-c", f"exit {rng.randint(1, 120)}"], check=True)

    def parse_deadline() -> object:
        return datetime.fromisoformat(f"2026-{rng.randint(13, 99)}-{_word(rng, 2, 2)}")

    def compile_filter() -> object:
        return re.compile("(" + _word(rng))

    return [
        ("settlement failed for order %s", settle_payment),
        ("hook failed for deploy %s", run_hook),
        ("bad deadline in job %s", parse_deadline),
        ("filter rejected for rule %s", compile_filter),
        ("loading config from %s", load_config),
        ("bad quantity in order %s", parse_quantity),
        ("customer lookup failed for request %s", lookup_customer),
        ("cannot read manifest for %s", read_manifest),
        ("batch split failed for job %s", split_batch),
        ("shard selection failed for key %s", pick_shard),
        ("upstream call failed for request %s", call_upstream),
        ("render failed for row %s", render_row),
        ("attribute read failed for %s", read_attr),
        ("token decode failed for session %s", decode_token),
    ]


_INFO = [
    "processed batch %s in %d ms",
    "request %s completed with status %d",
    "cache refreshed for tenant %s (%d entries)",
]


def python_events(rng: random.Random, tmp: Path, events: int) -> list[tuple[str, str]]:
    """``events`` logged events (label, text) of real exceptions and info lines."""
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("selflabel.worker")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    failures = _py_failures(rng, tmp)
    out: list[tuple[str, str]] = []
    for _ in range(events):
        stream.seek(0)
        stream.truncate()
        if rng.random() < 0.3:
            fmt = rng.choice(_INFO)
            logger.info(fmt, f"{_word(rng)}-{rng.randint(1, 10**5)}", rng.randint(1, 10**4))
            out.append((f"info|{fmt}", stream.getvalue().rstrip("\n")))
            continue
        fmt, func = rng.choice(failures)
        try:
            func()
        except Exception as exc:
            label = f"{type(exc).__name__}|{func.__name__}"
            if rng.random() < 0.15:  # an uncaught exception: the bare traceback
                label = "uncaught|" + label
                traceback.print_exc(file=stream)
            else:
                logger.exception(fmt, f"{_word(rng)}-{rng.randint(1, 10**6)}")
        out.append((label, stream.getvalue().rstrip("\n")))
    return out


def gen_python(work: Path, rng: random.Random, events: int) -> list[tuple[str, str]]:
    """Python logging events with real tracebacks (one event = the line and its trace)."""
    return python_events(rng, work, events)


# -- scoring ------------------------------------------------------------------------------


def parsed_messages(rows: Sequence[tuple[str, str]]) -> list[str] | None:
    """The ``message`` our log parsing makes of each row's text (``None`` if events differ)."""
    from incident_lib.sources.logparse import parse_pod_log

    text = "\n".join(t for _, t in rows)
    frame = parse_pod_log(text, pod="p", container="c", timestamps=False).frame
    if len(frame) != len(rows):
        return None
    return [str(m) for m in frame["message"]]


def _load_set(path: Path) -> list[tuple[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            rows.append((obj["label"], obj["text"]))
    return rows


def _split_groups(truth: Sequence[str], ids: Sequence[str], inputs: Sequence[str], n: int) -> None:
    """Print the worst true templates split into several groups and groups mixing labels."""
    by_label: dict[str, Counter[str]] = defaultdict(Counter)
    by_id: dict[str, Counter[str]] = defaultdict(Counter)
    example: dict[tuple[str, str], str] = {}
    for t, i, text in zip(truth, ids, inputs, strict=True):
        by_label[t][i] += 1
        by_id[i][t] += 1
        example.setdefault((t, i), text)
    split = sorted(by_label.items(), key=lambda kv: (len(kv[1]) < 2, -sum(kv[1].values())))
    for label, groups in split[:n]:
        if len(groups) < 2:
            break
        print(f"    split  {label!r}: {sum(groups.values())} lines in {len(groups)} groups, e.g.")
        for gid, _ in groups.most_common(2):
            print(f"             {example[(label, gid)][:160]!r}")
    mixed = sorted(by_id.items(), key=lambda kv: -len(kv[1]))
    for gid, labels in mixed[:n]:
        if len(labels) < 2:
            break
        print(f"    merged {len(labels)} labels into one group, e.g.")
        for label, _ in labels.most_common(3):
            print(f"             {label!r}: {example[(label, gid)][:140]!r}")


def main() -> None:
    """Generate (if needed) and score the self-labelled sets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "selflabelled-logs")
    parser.add_argument(
        "--metric", type=Path, default=ROOT.parent / "shared" / "bench" / "loghub_eval.py"
    )
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seconds", type=float, default=20.0, help="server run time per set")
    parser.add_argument("--events", type=int, default=2000, help="events for postgres/python")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--show", type=int, default=0, help="print N worst splits/merges")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from incident_lib.analysis.signatures import signature_ids

    metric = metric_module(args.metric)
    drain3 = metric.make_drain3_parser("readme-mask")
    args.cache.mkdir(parents=True, exist_ok=True)
    gens: dict[str, Callable[[Path, random.Random], list[tuple[str, str]]]] = {
        "prometheus": lambda w, r: gen_prometheus(w, r, args.seconds),
        "alertmanager": lambda w, r: gen_alertmanager(w, r, args.seconds),
        "postgres": lambda w, r: gen_postgres(w, r, args.events),
        "python": lambda w, r: gen_python(w, r, args.events),
    }
    print(f"{'set':<13} {'input':<7} {'lines':>6} {'tpl':>4} {'GA ours':>8} {'groups':>7}"
          f" {'GA drain3':>9} {'groups':>7}")  # fmt: skip
    for name in args.sets.split(","):
        path = args.cache / f"{name}.jsonl"
        if args.regenerate or not path.exists():
            work = Path(tempfile.mkdtemp(prefix=f"selflabel-{name}-"))
            try:
                rows = gens[name](work, random.Random(f"{args.seed}-{name}"))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if not rows:
                print(f"{name:<13} skipped (program not installed or no lines)")
                continue
            _write_set(path, rows)
        rows = _load_set(path)
        truth = [label for label, _ in rows]
        raw = [text for _, text in rows]
        inputs = {"raw": raw}
        parsed = parsed_messages(rows)
        if parsed is None:
            print(f"{name:<13} parsed: our log parsing cut the text into other events")
        else:
            inputs["parsed"] = parsed
        for kind, lines in inputs.items():
            ours = signature_ids(lines)
            theirs = drain3(lines)
            a = metric.group_metrics(truth, ours)
            b = metric.group_metrics(truth, theirs)
            print(
                f"{name:<13} {kind:<7} {a['lines']:>6} {a['gt_groups']:>4} {a['GA']:>8.4f}"
                f" {a['pred_groups']:>7} {b['GA']:>9.4f} {b['pred_groups']:>7}"
            )
            if args.show:
                _split_groups(truth, ours, lines, args.show)


if __name__ == "__main__":
    main()
