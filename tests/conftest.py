"""Shared fixtures: incident records, workspaces, the demo workspaces (generated once)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

VALID = {
    "id": "INC-2026-0042",
    "title": "Checkout returns 500s",
    "service": "checkout",
    "namespace": "prod",
    "severity": "SEV-2",
    "window": {"start": "2026-11-03T14:00:00Z", "end": "2026-11-03T15:00:00Z"},
}


@pytest.fixture
def valid_record() -> dict:
    """A fresh copy of a valid incident record as plain data."""
    import copy

    return copy.deepcopy(VALID)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """Both demo scenarios generated once per session (read-only for tests)."""
    from incident_lib.demo import SCENARIOS, generate

    root = tmp_path_factory.mktemp("demo")
    for name in SCENARIOS:
        generate(name, root / name)
    return root


@pytest.fixture
def demo_copy(demo_root, tmp_path):
    """A private, writable copy of a demo workspace: ``demo_copy("connection-leak")``."""

    def make(scenario: str) -> Path:
        target = tmp_path / scenario
        shutil.copytree(demo_root / scenario, target)
        return target

    return make


def needs_server(binary: str) -> None:
    """Skip when ``binary`` is missing on a laptop; fail under CI (CI=true)."""
    if shutil.which(binary):
        return
    message = f"{binary} is not installed"
    if UNDER_CI:
        pytest.fail(f"{message}, and CI must run this test: install it in .ci/run")
    pytest.skip(message)


def pytest_configure(config) -> None:
    """Point notebooks opened without a workspace (nbval runs them so) at a private demo dir."""
    import tempfile

    os.environ.setdefault("INCIDENT_DEMO_DIR", tempfile.mkdtemp(prefix="incident-demo-"))
