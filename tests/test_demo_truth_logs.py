"""Issue 8, signals that are missed: 04_logs finds each demo's truth among its top findings.

These tests run the code cells of ``notebooks/04_logs.ipynb`` themselves, with its
default parameters, on each demo workspace, and read what 04 recorded: a change to
the notebook's defaults or wiring is caught as well as one in the analysis.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import matplotlib
import pytest

from incident_lib.analysis.signatures import mask
from incident_lib.demo import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_logs.ipynb"


def _cells() -> list[dict]:
    return [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _defaults() -> dict[str, object]:
    """The literal defaults of 04's parameters cell."""
    cell = next(c for c in _cells() if "parameters" in c["metadata"].get("tags", []))
    out = {}
    for node in ast.parse(_source(cell)).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = ast.literal_eval(node.value)
    return out


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def ran(request, demo_root, tmp_path_factory):
    """04's code cells run on a copy of one demo: (scenario, namespace, run folder)."""
    import shutil

    matplotlib.use("Agg")
    scenario = request.param
    base = tmp_path_factory.mktemp(f"04-{scenario}")
    workspace = base / "ws"
    shutil.copytree(demo_root / scenario, workspace)
    run_dir = base / "run"
    namespace: dict[str, object] = {}
    for cell in _cells():
        code = _source(cell)
        if "parameters" in cell["metadata"].get("tags", []):
            exec(code, namespace)  # the defaults, then this run's values (as papermill does)
            namespace.update(workspace=str(workspace), run_dir=str(run_dir), mode="offline")
            continue
        exec(compile(code, f"04_logs:{cell.get('id')}", "exec"), namespace)
    yield scenario, namespace, run_dir
    import matplotlib.pyplot as plt

    plt.close("all")


def _findings(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "findings" / "04_logs.json").read_text())


def test_04_groups_warnings_by_default():
    assert set(str(_defaults()["levels"]).split(",")) == {"warning", "error", "critical"}


def test_each_truth_signature_is_among_the_top_findings(ran):
    scenario, _, run_dir = ran
    truth = SCENARIOS[scenario].truth
    findings = _findings(run_dir)
    assert 0 < len(findings) <= int(_defaults()["top"])  # type: ignore[call-overload]
    texts = [f"{f['title']}\n{f['summary']}" for f in findings]
    for wanted in (truth.signature, *truth.new_signatures):
        assert any(mask(wanted) in text for text in texts), (wanted, [f["title"] for f in findings])
    # the culprit is named in a title, not only in the small print
    assert any(mask(truth.signature) in f["summary"].split("Template: ")[1] for f in findings)


def test_access_log_lines_are_a_summary_not_findings(ran):
    scenario, namespace, run_dir = ran
    for finding in _findings(run_dir):
        assert "HTTP/" not in finding["title"], finding["title"]
    table = namespace["table"]
    assert not table["template"].str.contains('HTTP/<NUM>" <NUM>', regex=False).any()
    access = namespace["access"]
    if scenario == "traffic-surge":  # its istio-proxy sidecars log 4xx/5xx requests
        post_5xx = access[(access["method"] == "POST") & (access["status"] == "5xx")]
        assert len(post_5xx) == 1 and post_5xx["requests"].iloc[0] > 1000
        assert "503 ×" in post_5xx["codes"].iloc[0]
    else:
        assert access.empty


def test_new_is_only_said_of_signatures_absent_from_the_baseline(ran):
    _, namespace, run_dir = ran
    table = namespace["table"].set_index("template")
    for finding in _findings(run_dir):
        template = finding["summary"].split("Template: ")[1]
        if finding["title"].startswith("New"):
            assert table.loc[template, "baseline_count"] == 0, finding["title"]


def test_titles_are_cut_at_word_boundaries_and_distinct(ran):
    _, _, run_dir = ran
    titles = [f["title"] for f in _findings(run_dir)]
    assert len(set(titles)) == len(titles), titles
    for finding in _findings(run_dir):
        template = finding["summary"].split("Template: ")[1]
        if finding["title"].endswith("…"):
            assert len(template) > 60
        assert "..." not in finding["title"]


def test_the_legend_labels_are_distinct_and_numbered(ran):
    _, namespace, _ = ran
    labels = list(dict.fromkeys(namespace["series"]["template"]))
    assert labels and len(set(labels)) == len(labels)
    assert len({label[:67] for label in labels}) == len(labels)  # even cut as charts cut
    assert all(label.startswith("#") for label in labels)
    figure = namespace["fig"]
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    shown = [text for text in legend if text.startswith("#")]
    assert len(shown) == len(labels) and len(set(shown)) == len(shown)


def test_examples_quote_templates_as_inline_code():
    """Templates hold ``<NUM>`` and may hold backticks: 04 places them with md_code."""
    example = next(c for c in _cells() if "rb.show(" in _source(c) and "example" in _source(c))
    code = _source(example)
    assert "md_code(row.template)" in code
    assert "`{row.template}`" not in code and "```" not in code
