"""The public surface: __all__ resolves, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import incident_lib


def test_every_public_name_resolves():
    for name in incident_lib.__all__:
        assert getattr(incident_lib, name) is not None, name


def test_one_exception_tree():
    from incident_lib import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, incident_lib.IncidentError)
    assert issubclass(incident_lib.InvalidIncident, ValueError)


def test_import_loads_no_heavy_dependency():
    code = (
        "import sys, incident_lib\n"
        "heavy = ['pandas', 'matplotlib', 'kubernetes', 'datadog_api_client', 'psycopg',"
        " 'papermill', 'nbconvert', 'yaml', 'numpy']\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
