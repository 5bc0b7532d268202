"""Render executed notebooks to self-contained HTML (no code input, nothing fetched)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from ..infra.redact import redact, redact_notebook

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

__all__ = ["HtmlRenderer"]

TEMPLATES = Path(__file__).parent / "templates"


class HtmlRenderer:
    """Turns executed notebooks into HTML pages; build once, render many."""

    def __init__(self) -> None:
        self._exporter: HTMLExporter | None = None

    @property
    def exporter(self) -> HTMLExporter:
        """The nbconvert exporter, created on first use (its import is slow)."""
        if self._exporter is None:
            from nbconvert import HTMLExporter

            self._exporter = HTMLExporter(  # type: ignore[no-untyped-call]
                template_name="incident",
                extra_template_basedirs=[str(TEMPLATES)],
                exclude_input=True,
                exclude_input_prompt=True,
                exclude_output_prompt=True,
                embed_images=True,
            )
        return self._exporter

    def render(self, notebook: Path, target: Path, *, banner: str = "") -> Path:
        """Redact ``notebook`` in place, then write its HTML page to ``target``.

        Parameters
        ----------
        notebook
            An executed ``.ipynb``; it is rewritten with secrets redacted.
        target
            The ``.html`` file to write.
        banner
            Plain text shown at the top of the page (e.g. the incident id and a
            link back to the index); escaped here.
        """
        import nbformat

        nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
        redact_notebook(nb)
        nbformat.write(nb, notebook)  # type: ignore[no-untyped-call]
        resources = {
            "metadata": {"name": notebook.stem},
            "incident_banner": banner,
        }
        body, _ = self.exporter.from_notebook_node(nb, resources=resources)
        target.write_text(redact(body), encoding="utf-8")
        return target

    @staticmethod
    def banner(incident_id: str, title: str, notebook: str) -> str:
        """Escaped banner HTML: incident, notebook, link back to the index."""
        return (
            f"<b>{html.escape(incident_id)}</b> · {html.escape(title)} · "
            f'<code>{html.escape(notebook)}</code> · <a href="index.html">back to the index</a>'
        )
