"""Notebook parameters: a value any secret detector flags is refused, never echoed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incident_lib.core.errors import InvalidParameter
from incident_lib.report.parameters import plan_parameters

STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"


def _notebook(folder: Path) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "p",
                "metadata": {"tags": ["parameters"]},
                "outputs": [],
                "source": 'label = ""\ntop = 3\n',
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / "10_verify.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.parametrize(
    "value",
    [
        STRIPE,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "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",
        "mysql -uroot -pS3cretPw",
    ],
)
def test_a_secret_shaped_value_is_refused_without_echo(tmp_path: Path, value: str) -> None:
    nb = _notebook(tmp_path)
    with pytest.raises(InvalidParameter) as caught:
        plan_parameters({"label": value}, [nb], base={})
    message = str(caught.value)
    assert "refused" in message and "looks like a credential" in message
    assert value not in message
    assert value[8:20] not in message


def test_a_secret_shaped_name_is_refused_without_echo(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter) as caught:
        plan_parameters({STRIPE: "x"}, [_notebook(tmp_path)], base={})
    assert "refused" in str(caught.value) and STRIPE not in str(caught.value)


def test_a_credential_pair_is_refused_before_its_type_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter) as caught:
        plan_parameters({"top": "password=hunter2"}, [_notebook(tmp_path)], base={})
    assert "hunter2" not in str(caught.value) and "refused" in str(caught.value)


def test_ordinary_values_pass(tmp_path: Path) -> None:
    given = {"label": "checkout p95 regression", "top": 5}
    plan = plan_parameters(given, [_notebook(tmp_path)], base={})
    assert plan == {"10_verify": {"label": "checkout p95 regression", "top": 5}}
