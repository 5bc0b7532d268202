"""Render executed notebooks to self-contained HTML (no code input, nothing fetched).

Pages are safe to open: text from the systems under investigation (log lines,
event messages, commit subjects, object names, parameters) reaches a page only
as text, never as markup, and a page never reads a local file.

* Markdown outputs are rendered here, not by nbconvert: raw HTML in them is
  escaped, a link keeps its target only for ``http``, ``https``, ``mailto`` and
  ``#fragment`` (anything else, ``javascript:`` included, stays plain text), and
  an image reference is never loaded or embedded: it is shown as text.
* HTML outputs (tables, finding blocks) pass an allowlist sanitiser (``bleach``):
  no script, style element, event handler, image or foreign URL scheme survives.
* Only plain text, HTML, Markdown and PNG/JPEG data outputs are kept
  (no JavaScript, widget, SVG or LaTeX output), and no output may point at a file.

The executed ``.ipynb`` keeps its outputs as they were (redacted); only the page
is sanitised.
"""

from __future__ import annotations

import copy
import html
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..infra.redact import redact, redact_notebook

if TYPE_CHECKING:
    from mistune import Markdown
    from nbconvert import HTMLExporter

__all__ = ["HtmlRenderer", "redact_page", "safe_html", "safe_markdown", "sanitize_outputs"]

TEMPLATES = Path(__file__).parent / "templates"

#: output mimetypes a page shows; every other one is dropped
SAFE_MIMETYPES = frozenset({"text/plain", "text/html", "text/markdown", "image/png", "image/jpeg"})
#: URL schemes a link in a Markdown output may keep (besides a ``#fragment``)
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "del",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
_ATTRIBUTES = {
    "*": ["class", "style", "title"],
    "a": ["href", "title"],
    "table": ["border", "class"],
    "td": ["colspan", "rowspan", "halign", "valign"],
    "th": ["colspan", "rowspan", "halign", "valign"],
}
_CSS_PROPERTIES = frozenset(
    {
        "background-color",
        "border",
        "border-left",
        "border-radius",
        "color",
        "font-size",
        "font-style",
        "font-weight",
        "margin",
        "padding",
        "text-align",
        "vertical-align",
        "white-space",
    }
)
# elements whose content is code, not text: removed with their content before sanitising
_CODE_ELEMENTS = re.compile(
    r"<(script|style|template|noscript|iframe|object|svg|math)\b.*?(?:</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")


def _link_allowed(url: str) -> bool:
    """Whether a link may keep ``url``: ``http``/``https``/``mailto`` or a ``#fragment``.

    Whitespace and control characters are ignored when reading the scheme, as
    browsers do (``java\\tscript:`` is ``javascript:``).
    """
    squeezed = _URL_NOISE.sub("", html.unescape(url))
    if squeezed.startswith("#"):
        return True
    scheme, sep, _ = squeezed.partition(":")
    return bool(sep) and scheme.lower() in LINK_SCHEMES and "/" not in scheme


def safe_html(text: str) -> str:
    """``text`` (an HTML output) with only harmless markup kept.

    Scripts, style elements, frames and SVG go with their content; other tags
    outside the allowlist go, their text stays; attributes are limited to
    layout ones (``class``, a sanitised ``style``, table spans); a link keeps its
    ``href`` only for ``http``, ``https`` and ``mailto``; no image survives.

    Parameters
    ----------
    text
        HTML from a notebook output (a table, a finding block).

    Returns
    -------
    str
        Sanitised HTML.
    """
    return str(_cleaner().clean(_CODE_ELEMENTS.sub("", text)))


# built once per thread: a bleach Cleaner is not thread-safe (the runner renders from
# its main thread and may warm up from another)
_PER_THREAD = threading.local()


def _cleaner() -> Any:
    """This thread's allowlist sanitiser (``clean`` keeps no state between calls)."""
    cleaner = getattr(_PER_THREAD, "cleaner", None)
    if cleaner is None:
        cleaner = _PER_THREAD.cleaner = _new_cleaner()
    return cleaner


def _markdown() -> Markdown:
    """This thread's Markdown renderer (rendering keeps no state between calls)."""
    markdown: Markdown | None = getattr(_PER_THREAD, "markdown", None)
    if markdown is None:
        markdown = _PER_THREAD.markdown = _new_markdown()
    return markdown


def _new_cleaner() -> Any:
    import bleach  # type: ignore[import-untyped]
    from bleach.css_sanitizer import CSSSanitizer  # type: ignore[import-untyped]

    return bleach.Cleaner(
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        protocols=LINK_SCHEMES,
        strip=True,
        strip_comments=True,
        css_sanitizer=CSSSanitizer(allowed_css_properties=_CSS_PROPERTIES),
    )


def _new_markdown() -> Markdown:
    import mistune

    class PlainRenderer(mistune.HTMLRenderer):
        """HTML with raw HTML escaped, only safe links, and images as text."""

        def link(self, text: str, url: str, title: str | None = None) -> str:
            if not _link_allowed(url):
                return text
            return super().link(text, url, title)

        def image(self, text: str, url: str, title: str | None = None) -> str:
            return f"[image not shown: {text or 'no description'}]"

    return mistune.create_markdown(
        escape=True, renderer=PlainRenderer(escape=True), plugins=["strikethrough", "table"]
    )


def safe_markdown(text: str) -> str:
    """``text`` (a Markdown output) as HTML that holds no markup from the text itself.

    Raw HTML is escaped (``<NUM>`` stays ``<NUM>``), links keep a target only
    for ``http``, ``https``, ``mailto`` and ``#fragment``, images are shown as
    ``[image not shown: alt]``; the result then passes :func:`safe_html`.

    Parameters
    ----------
    text
        Markdown from a notebook output (``rb.show``, a draft, a note).

    Returns
    -------
    str
        HTML.
    """
    rendered = _markdown()(text)
    return safe_html(rendered if isinstance(rendered, str) else "")


# a ``<style>`` element's content: the lab template's CSS (with its fonts), the same on every page
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
_HOLE = "\x00"


@lru_cache(maxsize=8)
def _redact_style(css: str) -> str:
    return redact(css)


def redact_page(page: str) -> str:
    """:func:`~incident_lib.infra.redact.redact` of a whole page, the template's CSS read once.

    Every page carries the same quarter-megabyte of CSS and font data in its
    ``<style>`` elements; scanning it again for secrets is most of the cost of
    redacting a page. Each style element's content is redacted alone (and
    remembered: the template's is the same on every page), the rest of the page
    as one text with the style contents left out. A secret cannot straddle the
    ``<style>`` tags (markup of the template), and a detector's hint words are part
    of what it matches, so the result is ``redact(page)``.

    Parameters
    ----------
    page
        HTML from the exporter.

    Returns
    -------
    str
        The redacted page.
    """
    styles: list[str] = []

    def hole(match: re.Match[str]) -> str:
        styles.append(match.group(2))
        return match.group(1) + _HOLE + match.group(3)

    if _HOLE in page:
        return redact(page)
    rest = redact(_STYLE.sub(hole, page))
    pieces = rest.split(_HOLE)
    if len(pieces) != len(styles) + 1:  # a hole lost to redaction: take the slow road
        return redact(page)
    out = [pieces[0]]
    for css, after in zip(styles, pieces[1:], strict=True):
        out += (_redact_style(css), after)
    return "".join(out)


def _as_text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def sanitize_outputs(nb: Any) -> Any:
    """Make every code cell output of ``nb`` safe to render, in place; returns ``nb``.

    Keeps only :data:`SAFE_MIMETYPES`; a Markdown output becomes an HTML output
    (:func:`safe_markdown`), an HTML output is sanitised (:func:`safe_html`);
    file references in output metadata are dropped, so no output is read from disk.
    """
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = output.get("data", {})
            for mimetype in [m for m in data if m not in SAFE_MIMETYPES]:
                del data[mimetype]
            if "text/markdown" in data:
                data["text/html"] = safe_markdown(_as_text(data.pop("text/markdown")))
            elif "text/html" in data:
                data["text/html"] = safe_html(_as_text(data["text/html"]))
            metadata = output.get("metadata", {})
            metadata.pop("filenames", None)
            for value in metadata.values():
                if isinstance(value, dict):
                    value.pop("filenames", None)
    return nb


# what nbconvert's own pass over the page adds: a generic alternative text on images without one,
# and cells' inputs and outputs reachable from the keyboard
_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\balt=)", re.IGNORECASE)
_NO_ALT = '<img alt="No description has been provided for this image"'
_FOCUSABLE_DIV = re.compile(
    r'<div class="([^"]*\b(?:jp-OutputArea-output|jp-Cell-inputWrapper)\b[^"]*)"'
    r"(?![^>]*\btabindex=)"
)


def _accessible(page: str) -> str:
    """``page`` with what :class:`nbconvert.HTMLExporter` adds through BeautifulSoup."""
    page = _IMG_WITHOUT_ALT.sub(_NO_ALT, page)
    return _FOCUSABLE_DIV.sub(r'<div class="\1" tabindex="0"', page)


@lru_cache(maxsize=1)
def _page_exporter() -> type[HTMLExporter]:
    """:class:`nbconvert.HTMLExporter` without its BeautifulSoup pass over the whole page.

    After rendering, nbconvert parses and re-serialises the entire page in pure
    Python (a third of a page's cost) only to add an image's missing ``alt`` and
    make outputs focusable; :func:`_accessible` adds the same attributes to the
    markup its template wrote. Everything before that is ``HTMLExporter``'s own.
    """
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters import highlight, widgetsdatatypefilter

    untyped: Any = (highlight.Highlight2HTML, widgetsdatatypefilter.WidgetsDataTypeFilter)
    highlighter, data_type_filter = untyped

    class PageExporter(HTMLExporter):
        def from_notebook_node(  # type: ignore[override]
            self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
        ) -> tuple[str, dict[str, Any]]:
            me: Any = self  # nbconvert's methods are untyped
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = me.filters.get(
                "highlight_code", highlighter(pygments_lexer=lexer, parent=self)
            )
            resources = me._init_resources(resources)
            filter_data_type = data_type_filter(
                notebook_metadata=me._nb_metadata, parent=self, resources=resources
            )
            me.register_filter("highlight_code", highlight_code)
            me.register_filter("filter_data_type", filter_data_type)
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _accessible(str(page)), resources

    return PageExporter


class HtmlRenderer:
    """Turns executed notebooks into HTML pages; build once, render many."""

    def __init__(self) -> None:
        self._exporter: HTMLExporter | None = None
        # nbconvert's exporter is not thread-safe: a page waits for a warm-up in progress
        self._busy = threading.Lock()

    @property
    def exporter(self) -> HTMLExporter:
        """The nbconvert exporter, created on first use (its import is slow).

        Images are never embedded from paths (``embed_images`` off): an image
        reference must not make the renderer read a local file.
        """
        if self._exporter is None:
            self._exporter = _page_exporter()(
                template_name="incident",
                extra_template_basedirs=[str(TEMPLATES)],
                exclude_input=True,
                exclude_input_prompt=True,
                exclude_output_prompt=True,
                embed_images=False,
                optimistic_validation=True,  # validate once, not after every preprocessor
            )
        return self._exporter

    def warm(self) -> None:
        """Pay now what the first page would: imports, the exporter and its template,
        the sanitisers, the redaction engine and the template's CSS (redacted once).

        Optional: pages are the same with or without it. A runner can call it while
        kernels start, so the first page does not wait on it.
        """
        import nbformat

        empty = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
        resources = {"metadata": {"name": "warm"}, "incident_banner": ""}
        with self._busy:
            body, _ = self.exporter.from_notebook_node(empty, resources=resources)
        redact_page(body)
        safe_markdown("*warm*")

    def render(self, notebook: Path, target: Path, *, banner: str = "") -> Path:
        """Redact ``notebook`` in place, then write its safe HTML page to ``target``.

        Parameters
        ----------
        notebook
            An executed ``.ipynb``; it is rewritten with secrets redacted.
        target
            The ``.html`` file to write.
        banner
            Trusted HTML shown at the top of the page (see :meth:`banner`, which
            escapes what it quotes).
        """
        import nbformat

        nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
        redact_notebook(nb)
        nbformat.write(nb, notebook)  # type: ignore[no-untyped-call]
        page = sanitize_outputs(copy.deepcopy(nb))
        resources = {
            "metadata": {"name": notebook.stem},
            "incident_banner": banner,
        }
        with self._busy:
            body, _ = self.exporter.from_notebook_node(page, resources=resources)
        target.write_text(redact_page(body), encoding="utf-8")
        return target

    @staticmethod
    def banner(incident_id: str, title: str, notebook: str) -> str:
        """Escaped banner HTML: incident, notebook, link back to the index."""
        return (
            f"<b>{html.escape(incident_id)}</b> · {html.escape(title)} · "
            f'<code>{html.escape(notebook)}</code> · <a href="index.html">back to the index</a>'
        )
