"""The architecture of docs/design.md, checked: layers, private modules, the module map.

The layer rules are import-linter contracts in ``pyproject.toml`` (``[tool.importlinter]``);
these tests run them, show that they catch a planted violation, and check what a contract
cannot: no module imports another package's private module, every module of the package is
placed in ``docs/design.md`` (and only modules that exist), and every top-level part of the
package sits in a layer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "incident_lib"
DESIGN = ROOT / "docs" / "design.md"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(project / "pyproject.toml")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _modules() -> set[str]:
    """Every module of the package as a dotted name (packages by their own name)."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.add(".".join(parts))
    return out


def test_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


#: one planted import per rule: (module to create, its import, the rule it breaks)
PLANTED = [
    ("analysis/planted_up.py", "from ..report import findings", "upward: analysis -> report"),
    ("core/planted_up.py", "from ..infra import files", "upward: core -> infra"),
    ("analysis/planted_side.py", "from ..infra import files", "siblings: analysis -> infra"),
    ("infra/planted_side.py", "from ..analysis import alerts", "siblings: infra -> analysis"),
    ("sources/planted_side.py", "from .. import charts", "siblings: sources -> charts"),
    ("report/planted_side.py", "from .. import demo", "siblings: report -> demo"),
    ("sources/planted_infra.py", "from ..infra import redact", "sources import only core"),
    ("sources/planted_analysis.py", "from ..analysis import alerts", "sources import only core"),
    ("report/planted_sources.py", "from ..sources import base", "report never reaches sources"),
    ("demo/planted_analysis.py", "from ..analysis import alerts", "demo never analyses"),
    ("actions/planted_infra.py", "from ..infra import files", "actions never touch the disk"),
    ("comms/planted_infra.py", "from ..infra import files", "comms never touch the workspace"),
    ("comms/planted_side.py", "from .. import actions", "siblings: comms -> actions"),
]


def test_contracts_catch_every_kind_of_violation(tmp_path):
    """Plant one violation of each rule in a copy: each must be reported, all contracts broken."""
    shutil.copytree(
        PACKAGE, tmp_path / "incident_lib", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for path, line, _ in PLANTED:
        (tmp_path / "incident_lib" / path).write_text(f"{line}  # planted\n")
    # charts -> infra: charts never touch the disk
    charts = tmp_path / "incident_lib" / "charts" / "panels.py"
    charts.write_text(charts.read_text() + "\nfrom ..infra import files  # planted\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    report = " ".join(result.stdout.split())  # import-linter wraps long lines
    missed = [
        f"{rule} ({path})"
        for path, _, rule in PLANTED
        if f"incident_lib.{path.removesuffix('.py').replace('/', '.')} ->" not in report
    ]
    assert missed == []
    assert "incident_lib.charts.panels -> incident_lib.infra.files" in report
    assert "Contracts: 0 kept, 7 broken." in report


def test_no_module_imports_another_packages_private_module():
    graph = grimp.build_graph("incident_lib")
    offences = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            parts = imported.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_") and i > 0]
            if not private:
                continue
            owner = ".".join(parts[: private[0]])  # the package that keeps it private
            if not (importer == owner or importer.startswith(owner + ".")):
                offences.append(f"{importer} -> {imported}")
    assert offences == []


def test_every_top_level_part_sits_in_a_layer():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    placed = {name.strip() for line in layers for name in line.split("|")}
    top = {
        f"incident_lib.{p.stem if p.suffix else p.name}"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert top - placed == set(), "add these to a layer in pyproject.toml and docs/design.md"


def _design_modules() -> tuple[set[str], set[str]]:
    """Modules named in docs/design.md's module map: (existing, planned)."""
    existing, planned = set(), set()
    for line in DESIGN.read_text().splitlines():
        for match in re.finditer(r"`(incident_lib(?:/[\w]+)*(?:\.py|/))`", line):
            path = match.group(1)
            name = path.removesuffix("/").removesuffix(".py").removesuffix("/__init__")
            name = name.replace("/", ".")
            (planned if "(planned)" in line else existing).add(name)
    return existing, planned


def test_design_places_every_module_and_only_existing_ones():
    existing, planned = _design_modules()
    modules = _modules()
    assert existing, "docs/design.md has no module map"
    assert modules - existing == set(), "modules missing from docs/design.md's module map"
    assert existing - modules == set(), "docs/design.md names modules that do not exist"
    assert planned & modules == set(), "modules marked planned in docs/design.md exist"


def test_readme_links_the_design():
    assert "docs/design.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("line", ["core", "infra", "sources", "analysis", "report", "demo"])
def test_layer_folders_exist(line):
    assert (PACKAGE / line / "__init__.py").is_file()


def test_test_modules_have_unique_names():
    """tests/ has no packages: two test files of one name shadow each other in pytest."""
    names: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
