"""Notebook parameters: discovery, type coercion, and refusal of secrets and unknown names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, InvalidParameter
from ..redact import secret_reason

__all__ = ["RESERVED", "coerce_value", "notebook_parameters", "plan_parameters"]

#: parameters the runner sets itself
RESERVED = ("workspace", "mode", "run_dir")


def _choices() -> dict[str, tuple[str, ...]]:
    """Parameters shared by several notebooks whose values are a closed set."""
    from ..sources import METRICS_SOURCES

    return {"metrics_source": METRICS_SOURCES}


def notebook_parameters(path: Path) -> dict[str, str]:
    """Parameter name -> inferred type name, read from the notebook's ``parameters`` cell."""
    import papermill

    try:
        found = papermill.inspect_notebook(str(path))
    except Exception as exc:  # unreadable JSON, no kernelspec, ...
        raise InvalidInput(f"cannot read the parameters of {path.name}: {exc}") from None
    return {name: (info.get("inferred_type_name") or "None") for name, info in found.items()}


def coerce_value(text: str) -> Any:
    """Turn a command-line value into a Python value: bool, int, float or str."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _type_ok(value: Any, declared: str) -> bool:
    expected = {"int": int, "float": (int, float), "bool": bool, "str": str}.get(declared)
    if expected is None:
        return True
    if declared in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, expected)


def plan_parameters(
    given: Mapping[str, Any],
    notebooks: Sequence[Path],
    *,
    base: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Validate user parameters and return the parameters to inject per notebook.

    Parameters
    ----------
    given
        Parameters from the user (``-p name=value``).
    notebooks
        The notebooks that will run.
    base
        What the runner injects into every notebook (workspace, mode, run_dir).

    Raises
    ------
    InvalidParameter
        A credential-looking name or value (credentials come from the
        environment), a reserved or unknown name, or a value of the wrong type.
    """
    for name, value in given.items():
        reason = secret_reason(name, value)
        if reason:
            raise InvalidParameter(
                f"parameter {name!r} refused: {reason}. Credentials are never parameters "
                "(papermill writes parameters into every output notebook); set them in the "
                "environment instead (KUBECONFIG, DD_API_KEY, DD_APP_KEY, PGPASSWORD or a DSN "
                "variable)"
            )
        if name in RESERVED:
            raise InvalidParameter(
                f"parameter {name!r} is set by the runner; use the command's own option"
            )
    declared = {path.stem: notebook_parameters(path) for path in notebooks}
    known = {name for params in declared.values() for name in params}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidParameter(
            f"unknown parameter(s) {unknown}: the selected notebooks take "
            f"{sorted(known - set(RESERVED))}"
        )
    for name, allowed in _choices().items():
        if name in given and given[name] not in allowed:
            raise InvalidParameter(
                f"parameter {name!r} is {given[name]!r}: use one of {', '.join(allowed)}"
            )
    plan: dict[str, dict[str, Any]] = {}
    for stem, params in declared.items():
        chosen = {k: v for k, v in base.items() if k in params}
        for name, value in given.items():
            if name in params:
                if not _type_ok(value, params[name]):
                    raise InvalidParameter(
                        f"parameter {name!r} of {stem} expects {params[name]}, got {value!r}"
                    )
                chosen[name] = value
        plan[stem] = chosen
    return plan
