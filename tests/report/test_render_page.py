"""The page renderer's shortcuts give the pages the slow way would: redaction and sanitisers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import nbformat
import pytest

from incident_lib.infra.redact import redact
from incident_lib.report import render
from incident_lib.report.render import HtmlRenderer, redact_page, safe_html, safe_markdown

DSN = "postgresql://app:Zq8vR2mK9xLp4Tw7@db.internal/orders"
TOKEN = (
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
_JS = "<script>y()</script>"
CSS = "body { color: #333; }\n.jp-X { font: 12px/1.4 monospace; }\n"


def _page(head: str = "", body: str = "", css: str = CSS) -> str:
    return (
        f"<!DOCTYPE html>\n<html><head><title>06_database</title>{head}\n"
        f'<style type="text/css">\n{css}</style>\n<STYLE media="x">{css}</STYLE >\n'
        f"</head>\n<body>{body}</body></html>\n"
    )


@pytest.mark.parametrize(
    "page",
    [
        _page(body=f"<p>{DSN}</p>"),
        _page(body=f"<pre>password = hunter2-{TOKEN}</pre>"),
        _page(head=f"<meta content='{TOKEN}'>"),
        _page(css=f"/* {DSN} */\n" + CSS),  # a secret in the CSS is still redacted
        _page(css=f"{CSS}/* token: {TOKEN}"),  # ... up to the closing tag
        _page(body=f"<style>{DSN}</style>password={TOKEN}<style></style>"),
        _page(body="\x00 a NUL in the text " + DSN),
        f"<p>no style at all {DSN}</p>",
        "<style>unclosed " + DSN,
        "",
    ],
)
def test_redact_page_is_redact_of_the_whole_page(page: str) -> None:
    assert redact_page(page) == redact(page)
    assert redact_page(page) == redact_page(page)  # the cached CSS gives the same again


def _notebook(path: Path) -> Path:
    v4: Any = nbformat.v4  # untyped
    nb = v4.new_notebook()
    cell = v4.new_code_cell("x = 1")
    cell.outputs = [
        v4.new_output(
            "display_data", data={"text/markdown": f"**conn** `{DSN}` [x](javascript:alert(1))"}
        ),
        v4.new_output(
            "display_data",
            data={"text/html": f"<table><tr><td onclick='x()'>{TOKEN}</td></tr></table>" + _JS},
        ),
        v4.new_output("stream", name="stdout", text=f"connecting to {DSN}\n"),
    ]
    nb.cells = [v4.new_markdown_cell("# Title"), cell]
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]
    return path


def test_a_rendered_page_is_redacted_as_a_whole_page_would_be(tmp_path: Path) -> None:
    renderer = HtmlRenderer()
    for n in range(2):  # the second page reuses the exporter, sanitiser and remembered CSS
        source = _notebook(tmp_path / f"nb{n}.ipynb")
        page = renderer.render(source, tmp_path / f"nb{n}.html", banner=f"<b>{DSN}</b>")
        text = page.read_text(encoding="utf-8")
        assert "Zq8vR2mK9xLp4Tw7" not in text and "dozjgNryP4J3jVmNHl0w5N" not in text
        assert "<script" not in text.split("</head>", 1)[1] and "onclick" not in text
        assert 'href="javascript' not in text
        assert redact(text) == text


def test_the_sanitisers_built_once_render_as_freshly_built_ones() -> None:
    texts = [
        "| a | b |\n|---|:-:|\n| <b>x</b> | y |",
        "[ok](https://example.com) [bad](javascript:alert(1)) ![img](/etc/passwd)",
        "~~gone~~ <script>alert(1)</script> `size <NUM>`",
        "[ref]\n\n[ref]: javascript:alert(1)",
        "| c |\n|---|\n| z |",
    ]
    html = ['<div style="color: red; position: fixed" onclick="x()">a</div>', "<img src=x>b"]
    cached = [safe_markdown(t) for t in texts] + [safe_html(h) for h in html]
    fresh = []
    for t in texts:
        render._PER_THREAD.__dict__.clear()
        fresh.append(safe_markdown(t))
    for h in html:
        render._PER_THREAD.__dict__.clear()
        fresh.append(safe_html(h))
    assert cached == fresh
    assert [safe_markdown(t) for t in texts] == cached[: len(texts)]  # no state carried over
    other: list[str] = []  # another thread builds its own, and renders the same
    worker = threading.Thread(target=lambda: other.extend(safe_markdown(t) for t in texts))
    worker.start()
    worker.join()
    assert other == cached[: len(texts)]


def test_a_warmed_renderer_writes_the_page_a_cold_one_does(tmp_path: Path) -> None:
    warm = HtmlRenderer()
    warm.warm()
    original = _notebook(tmp_path / "nb.ipynb").read_bytes()  # cell ids are random: one copy
    pages = []
    for name, renderer in (("warm", warm), ("cold", HtmlRenderer())):
        (tmp_path / name).mkdir()
        source = tmp_path / name / "nb.ipynb"
        source.write_bytes(original)
        pages.append(renderer.render(source, tmp_path / name / "nb.html").read_bytes())
    assert pages[0] == pages[1]


def _tree(page: str) -> list[tuple[str, dict[str, Any], str]]:
    """Every element of ``page`` with its attributes and own text, as a browser would read it."""
    from bs4 import BeautifulSoup

    return [
        (e.name, dict(e.attrs), "".join(e.find_all(string=True, recursive=False)))
        for e in BeautifulSoup(page, "html.parser").find_all(True)
    ]


def test_the_page_exporter_writes_nbconvert_s_page_without_its_second_parse(
    tmp_path: Path,
) -> None:
    """Same elements, attributes (alt text, focusable outputs) and text as HTMLExporter's."""
    from nbconvert import HTMLExporter

    v4: Any = nbformat.v4
    nb = nbformat.read(_notebook(tmp_path / "nb.ipynb"), as_version=4)  # type: ignore[no-untyped-call]
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
        "AAAABJRU5ErkJggg=="
    )
    nb.cells[1].outputs += [
        v4.new_output("display_data", data={"image/png": png}),
        v4.new_output("display_data", data={"image/png": png}, metadata={"width": 40}),
        v4.new_output("execute_result", data={"text/plain": "<img src=x> & <div>"}),
    ]
    render.sanitize_outputs(nb)
    options = {
        "template_name": "incident",
        "extra_template_basedirs": [str(render.TEMPLATES)],
        "exclude_input": True,
        "embed_images": False,
    }
    resources = {"metadata": {"name": "nb"}, "incident_banner": "<b>banner</b>"}
    ours, _ = render._page_exporter()(**options).from_notebook_node(nb, resources=dict(resources))
    theirs, _ = HTMLExporter(**options).from_notebook_node(nb, resources=dict(resources))  # type: ignore[no-untyped-call]
    assert _tree(ours) == _tree(theirs)
    assert ours.count('alt="No description has been provided for this image"') == 2
    assert ours.count('tabindex="0"') == theirs.count('tabindex="0"') > 0
