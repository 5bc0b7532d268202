"""Pages are safe: text from the systems under investigation never becomes markup.

Every text column of every captured frame of a demo workspace (log lines, event
messages, monitor names, object names, commit subjects...) and the incident title
get markup planted in them; the evidence is re-captured through the store (so the
chain verifies) and a few notebooks are run into a bundle. The HTML pages must
still render and hold the planted text only as text: no script, no event handler,
no ``javascript:`` link, no image from a local path, no local file embedded.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![x](/etc/hostname)",
    "x` <b>y</b> `z",
)
PLANT = " " + " ".join(PAYLOADS)
#: the notebooks run: triage summary, changes and events, logs, database sessions, pods and k8s
#: events, dependency probes
NOTEBOOKS = ("01_triage", "03_changes", "04_logs", "06_database", "07_resources", "08_dependencies")
_LOCAL = re.compile(r"^\s*(?:file:|/|\.\.?/|[a-z]:\\)", re.IGNORECASE)


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside script elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self.bold: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script":
            self.scripts.append(data)
        if self._in and self._in[-1] == "b":
            self.bold.append(data)


def _plant(workspace: Path) -> int:
    """Append the payloads to every text value of every latest capture; re-capture."""
    import pandas as pd
    import yaml

    from incident_lib import EvidenceStore

    store = EvidenceStore(workspace)
    latest = {(e.source, e.name): e for e in store.entries()}
    planted = 0
    for entry in latest.values():
        frame = store.read_entry(entry)
        for column in frame.columns:
            if pd.api.types.is_string_dtype(frame[column]) or frame[column].dtype == object:
                text = frame[column].astype("string")
                frame[column] = (text + PLANT).where(text.notna(), None).astype(frame[column].dtype)
                planted += 1
        store.capture(
            frame,
            source=entry.source,
            name=entry.name,
            query=dict(entry.query),
            fetched_at=datetime.fromisoformat(entry.fetched_at.replace("Z", "+00:00")),
        )
    assert store.verify().ok
    record = workspace / "incident.yaml"
    data = yaml.safe_load(record.read_text())
    data["title"] = data["title"] + PLANT
    record.write_text(yaml.safe_dump(data, sort_keys=False))
    return planted


def _check_page(page: Path, hostname: bytes) -> None:
    text = page.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    for tag, attrs in parser.tags:
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, f"{page.name}: <{tag}> with {handlers}"
        for name in ("href", "src", "action", "formaction", "xlink:href"):
            value = re.sub(r"[\x00-\x20]+", "", attrs.get(name, "")).lower()
            assert not value.startswith(("javascript:", "vbscript:")), f"{page.name}: {attrs}"
        if tag == "img":
            src = attrs.get("src", "")
            assert not _LOCAL.match(src), f"{page.name}: <img src={src[:80]!r}>"
            assert src.startswith("data:"), f"{page.name}: <img src={src[:80]!r}>"
        for value in attrs.values():  # an embedded file is a chart image, nothing else
            if value.strip().lower().startswith("data:"):
                kind, _, payload = value.strip().partition(",")
                data = base64.b64decode(payload)
                assert kind in ("data:image/png;base64", "data:image/jpeg;base64"), kind
                assert data.startswith((b"\x89PNG\r\n", b"\xff\xd8\xff")), kind
                assert not hostname or data.strip() != hostname.strip()
        assert tag not in ("iframe", "object", "embed", "base"), f"{page.name}: <{tag}>"
    assert not any("alert(1)" in script for script in parser.scripts), page.name
    assert "y" not in [b.strip() for b in parser.bold], f"{page.name}: <b>y</b> became markup"
    if len(hostname.strip()) >= 12:  # long enough not to occur by chance in a chart's data
        for encoded in (base64.b64encode(hostname), base64.b64encode(hostname.strip())):
            assert encoded.decode() not in text, f"{page.name} embeds /etc/hostname"


def test_planted_markup_stays_text_on_every_page(demo_copy):
    from incident_lib import open_workspace, run_bundle

    ws = demo_copy("connection-leak")
    assert _plant(ws) > 20
    result = run_bundle(open_workspace(ws), notebooks=list(NOTEBOOKS), parallel=2, timeout=300)
    statuses = {r.name: (r.status, r.error) for r in result.results}
    failed = {name: why for name, (status, why) in statuses.items() if status != "ok"}
    assert failed == {}
    pages = sorted(result.run_dir.glob("*.html"))
    assert {p.stem for p in pages} == {*NOTEBOOKS, "index"}
    etc = Path("/etc/hostname")
    hostname = etc.read_bytes() if etc.exists() else b""
    shown = 0
    for page in pages:
        _check_page(page, hostname)
        shown += page.read_text(encoding="utf-8").count("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert shown > 0  # the planted text reached the pages, as text


# -- the pieces, one by one -----------------------------------------------------------------
NASTY = (
    *PAYLOADS,
    '"><svg onload=alert(1)>',
    "\x1b[31mred\x1b[0m and a NUL \x00 and a lone surrogate \ud800",
    "QueuePool limit of size <NUM> overflow <NUM>",
)


@pytest.mark.parametrize("text", NASTY)
def test_finding_html_is_safe_for_any_text(text):
    from incident_lib.core.findings import Finding
    from incident_lib.report.findings import finding_html

    block = finding_html(Finding(title=text, severity="high", summary=text, ref=text))
    block.encode("utf-8")  # a lone surrogate would make the page unwritable
    parser = _Tags()
    parser.feed(block)
    assert [tag for tag, _ in parser.tags] == ["div", "span", "b", "br", "code"]
    assert all(set(attrs) <= {"style"} for _, attrs in parser.tags)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", block)


@pytest.mark.parametrize("text", NASTY)
def test_markdown_outputs_render_as_text(text):
    from incident_lib.report.render import safe_markdown

    page = safe_markdown(f"**Seen:** {text} and `{text}`")
    parser = _Tags()
    parser.feed(page)
    assert {tag for tag, _ in parser.tags} <= {"p", "strong", "code"}, page
    assert all(not attrs for _, attrs in parser.tags), page


def test_html_outputs_keep_tables_and_lose_active_content():
    from incident_lib.report.render import safe_html

    table = (
        "<style scoped>.dataframe td { background: url(/etc/hostname) }</style>"
        '<table border="1" class="dataframe"><thead><tr><th>a</th></tr></thead>'
        "<tbody><tr><td>&lt;script&gt;</td></tr></tbody></table>"
        '<script>alert(1)</script><img src="/etc/hostname" onerror="alert(1)">'
        '<a href="java\tscript:alert(1)">x</a><span style="color:red;background:url(/x)">s</span>'
    )
    page = safe_html(table)
    parser = _Tags()
    parser.feed(page)
    tags = ["table", "thead", "tr", "th", "tbody", "tr", "td", "a", "span"]
    assert [tag for tag, _ in parser.tags] == tags
    assert "&lt;script&gt;" in page and "alert" not in page and "url(" not in page
    assert dict(parser.tags)["a"] == {} and dict(parser.tags)["span"] == {"style": "color:red;"}


def test_a_markdown_image_or_link_never_loads_a_local_file(tmp_path):
    import nbformat

    from incident_lib.report.render import HtmlRenderer

    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nnot-an-image-but-a-local-file")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/markdown": f"![x]({secret}) [y](file://{secret}) <img src='{secret}'>",
                "text/plain": "x",
            },
        ),
        nbformat.v4.new_output(
            "display_data",
            data={"application/javascript": "alert(1)", "text/plain": "js"},
        ),
        nbformat.v4.new_output(
            "display_data",
            data={"image/png": "iVBORw0KGgo="},
            metadata={"filenames": {"image/png": str(secret)}},
        ),
    ]
    nb.cells = [cell]
    source = tmp_path / "01_x.ipynb"
    nbformat.write(nb, source)
    page = HtmlRenderer().render(source, tmp_path / "01_x.html").read_text()
    assert base64.b64encode(secret.read_bytes()).decode() not in page
    assert "alert(1)" not in page  # the JavaScript output is dropped
    parser = _Tags()
    parser.feed(page)
    for _tag, attrs in parser.tags:  # the path is shown as text at most, never referenced
        assert not any(str(secret) in value for value in attrs.values()), attrs
    # the executed notebook keeps its outputs as they were
    kept = nbformat.read(source, as_version=4).cells[0].outputs
    assert "text/markdown" in kept[0]["data"] and "application/javascript" in kept[1]["data"]


def test_a_run_error_message_is_text(tmp_path):
    import nbformat

    from incident_lib.report.execute import _mark_error

    output = tmp_path / "out.ipynb"
    _mark_error(
        output, "failed", "ValueError: bad line\n\n![x](/etc/hostname) <script>alert(1)</script>"
    )
    (banner,) = nbformat.read(output, as_version=4).cells
    assert "<script>" not in banner.source and "\n\n" not in banner.source
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in banner.source
