"""What the chart tests share: figures closed after each test, a metric series to draw."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

__all__ = ["T0", "close_figures", "minute_series"]

#: the start of every test series (an hour before the test incidents' window)
T0 = pd.Timestamp("2026-11-03T13:00:00Z")


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    """Close every figure a test made (autouse where imported)."""
    yield
    plt.close("all")


def minute_series(scale: float, n: int = 121) -> pd.Series:
    """``n`` minutes of values around ``scale``, from :data:`T0`."""
    index = pd.date_range(T0, periods=n, freq="1min")
    return pd.Series([scale * (1 + (i % 7) / 10) for i in range(n)], index=index)
