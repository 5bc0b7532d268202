"""The messages of the six shared Loghub sets, for the signature tests that need real lines."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "loghub2k"
LOGFORMATS = Path(__file__).resolve().parents[1] / "data" / "logformats"


def shared_messages() -> list[str]:
    """The ``Content`` of every line of the shared sets (skips when they are absent)."""
    if not SHARED.is_dir():
        pytest.skip(f"the shared Loghub sets are not at {SHARED}")
    csv.field_size_limit(sys.maxsize)
    messages = []
    for path in sorted(SHARED.glob("*/*_2k.log_structured.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            messages += [row["Content"] for row in csv.DictReader(f)]
    assert len(messages) >= 12_000
    return messages
