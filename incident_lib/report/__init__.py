"""Run the notebook set headlessly and write the evidence bundle (papermill + nbconvert).

Start-up cost matters here: every ``incident run`` imports nbformat, whose
``jsonschema`` imports the optional ``rfc3987_syntax`` format checker when it is
installed (jupyterlab's dependencies install it), and that module builds a lark
grammar at import: about 1.9 s. Notebook validation never uses the IRI formats it
checks, so the runner tells Python it is absent. Measured in
``benchmarks/bench_bundle.py``.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
