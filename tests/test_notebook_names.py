"""Notebooks use only public names: every library name a notebook touches is in ``__all__``.

A notebook is a user of the library like any other; if it needs a name, that name is part
of the public surface and must be declared (and so kept stable).
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

import incident_lib

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _public(module: object) -> set[str]:
    names = set(getattr(module, "__all__", ()))
    if module is incident_lib:
        names |= set(incident_lib.__dir__())  # public names and lazily loaded submodules
    return names


def _uses(tree: ast.AST) -> list[tuple[str, str]]:
    """(module, name) pairs the code takes from library modules it imported."""
    pairs: list[tuple[str, str]] = []
    aliases: dict[str, str] = {}  # local name -> dotted module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("incident_lib"):
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("incident_lib"):
            parent = importlib.import_module(node.module or "")
            for alias in node.names:
                value = _submodule(parent, alias.name) or getattr(parent, alias.name)
                if isinstance(value, ModuleType):
                    aliases[alias.asname or alias.name] = value.__name__
                else:
                    pairs.append((parent.__name__, alias.name))
    for node in ast.walk(tree):
        chain = _attribute_chain(node)
        if len(chain) < 2 or chain[0] not in aliases:
            continue
        module = aliases[chain[0]]
        for attr in chain[1:]:
            pairs.append((module, attr))
            value = _submodule(importlib.import_module(module), attr)
            if not isinstance(value, ModuleType):
                break
            module = value.__name__
    return pairs


def _is_private(module: str) -> bool:
    """A module whose dotted path has a private (``_name``) part."""
    return any(part.startswith("_") for part in module.split("."))


def _submodule(parent: ModuleType, name: str) -> ModuleType | None:
    """``parent.name`` when it is a module (imported on demand), else None."""
    value = getattr(parent, name, None)
    if isinstance(value, ModuleType):
        return value
    if not hasattr(parent, "__path__"):
        return None
    try:
        return importlib.import_module(f"{parent.__name__}.{name}")
    except ModuleNotFoundError:
        return None


def _attribute_chain(node: ast.AST) -> list[str]:
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(names)]
    return []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_uses_only_public_names(path):
    pairs = _uses(ast.parse(_code(path)))
    assert pairs, f"{path.name} uses no library name?"
    private = sorted(
        f"{module}.{attr}"
        for module, attr in set(pairs)
        if _is_private(module) or attr not in _public(importlib.import_module(module))
    )
    assert private == [], f"{path.name} uses names missing from their module's __all__"


def test_the_check_sees_a_private_module():
    code = "from incident_lib.demo._specs import SPECS\nfrom incident_lib.demo import _build\n"
    pairs = _uses(ast.parse(code))
    assert any(_is_private(module) for module, _ in pairs)


def test_the_check_sees_a_private_name():
    code = (
        "import incident_lib as il\nfrom incident_lib.analysis import changes\nchanges._private()\n"
    )
    pairs = _uses(ast.parse(code))
    assert ("incident_lib.analysis.changes", "_private") in pairs


def test_papermill_reads_every_parameter_of_every_notebook(caplog):
    """Each assignment of a parameters cell is a parameter papermill reads without a
    warning (a comment with '=' or a value spread over lines makes it warn)."""
    import ast
    import json

    import papermill

    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        (cell,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assigned = [
            node.target.id
            for node in ast.parse("".join(cell["source"])).body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        ]
        assert assigned, path.name
        caplog.clear()
        assert list(papermill.inspect_notebook(str(path))) == assigned, path.name
        assert "Unable to parse" not in caplog.text, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_a_unique_id(path: Path) -> None:
    """nbformat 4.5 requires cell ids; a cell added without one warns on every run."""
    cells = json.loads(path.read_text())["cells"]  # as stored: nbformat.read adds missing ids
    ids = [cell.get("id") for cell in cells]
    assert all(ids) and len(set(ids)) == len(ids)
