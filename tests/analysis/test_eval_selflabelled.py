"""The labelling of benchmarks/eval_selflabelled.py on a few synthetic lines (no servers).

The labels must come from the programs' own fields, never from our parsing, so that
the evaluation cannot rot silently when the log formats or the script change.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "eval_selflabelled.py"


@pytest.fixture(scope="module")
def ev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_selflabelled", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_selflabelled"] = module
    spec.loader.exec_module(module)
    return module


def test_logfmt_label_is_level_and_msg(ev: ModuleType) -> None:
    line = (
        'ts=2026-11-28T13:43:16.474Z caller=scrape.go:1351 level=debug component="scrape manager" '
        'scrape_pool=a-0 target=http://127.0.0.1:1/metrics msg="Scrape failed" '
        'err="Get \\"http://127.0.0.1:1/metrics\\": connect: connection refused"'
    )
    assert ev.gokit_label(line) == "debug|Scrape failed"
    fields = ev.logfmt_fields(line)
    assert fields["component"] == "scrape manager"
    assert fields["err"] == 'Get "http://127.0.0.1:1/metrics": connect: connection refused'
    assert ev.gokit_label("ts=1 level=info") is None


def test_json_label_is_level_and_msg(ev: ModuleType) -> None:
    line = json.dumps(
        {"caller": "dispatch.go:352", "err": "context canceled", "level": "debug",
         "msg": "Notify for alerts failed", "num_alerts": 1}
    )  # fmt: skip
    assert ev.gokit_label(line) == "debug|Notify for alerts failed"
    assert ev.gokit_label("{not json") is None


def test_postgres_record_labels_sqlstate_and_action(ev: ModuleType) -> None:
    base = {"timestamp": "2026-11-28 13:44:09.057 UTC", "pid": 42}
    error = {**base, "error_severity": "ERROR", "state_code": "42P01",
             "application_name": "act-missing-table", "backend_type": "client backend",
             "message": 'relation "abc_de" does not exist'}  # fmt: skip
    assert ev.postgres_record(json.dumps(error)) == (
        "42P01|missing-table",
        '2026-11-28 13:44:09.057 UTC [42] ERROR:  relation "abc_de" does not exist',
    )
    auth = {**base, "error_severity": "FATAL", "state_code": "28P01",
            "backend_type": "not initialized",
            "message": 'password authentication failed for user "app"'}  # fmt: skip
    assert ev.postgres_record(json.dumps(auth))[0] == "28P01|connect"
    log = {**base, "error_severity": "LOG", "message": "connection received: host=127.0.0.1 port=5"}
    assert ev.postgres_record(json.dumps(log))[0] == "|connection received"
    other = {**base, "error_severity": "LOG", "message": "database system is ready"}
    assert ev.postgres_record(json.dumps(other)) is None
    setup = {**error, "application_name": "act-setup"}
    assert ev.postgres_record(json.dumps(setup)) is None


def test_python_events_are_labelled_by_exception_and_function(
    ev: ModuleType, tmp_path: Path
) -> None:
    rows = ev.python_events(random.Random(3), tmp_path, 40)
    assert len(rows) == 40
    labels = {label for label, _ in rows}
    assert "KeyError|lookup_customer" in labels or "ZeroDivisionError|split_batch" in labels
    for label, text in rows:
        if not label.startswith("info|"):
            kind = label.removeprefix("uncaught|").split("|")[0]
            assert "Traceback (most recent call last):" in text
            assert text.splitlines()[-1].split(":")[0].split(".")[-1] == kind
    # our log parsing sees one event per logged failure
    messages = ev.parsed_messages(rows)
    assert messages is not None and len(messages) == 40
