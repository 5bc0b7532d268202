"""Notebook parameters: discovery, type coercion, and refusal of secrets and unknown names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InvalidInput, InvalidParameter
from ..core.params import METRICS_SOURCES, MODES
from ..core.severity import IMPACTS
from ..core.time import parse_time
from ..infra.redact import redact, secret_reason

__all__ = ["RESERVED", "coerce_value", "notebook_parameters", "plan_parameters"]

#: parameters the runner sets itself
RESERVED = ("workspace", "mode", "run_dir")


_LEVELS = ("debug", "info", "warning", "error", "critical")


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _percent(value: Any) -> str | None:
    return None if 0 <= value <= 100 else "must be a percentage between 0 and 100"


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"use one of {', '.join(allowed)}"

    return check


def _time(value: Any) -> str | None:
    if value == "":
        return None
    try:
        parse_time(value, field="value")
    except InvalidInput as exc:
        return str(exc).removeprefix("value: ")
    return None


def _impacts(value: Any) -> str | None:
    unknown = [i.strip() for i in str(value).split(",") if i.strip() and i.strip() not in IMPACTS]
    return f"unknown impact {unknown}; use {', '.join(IMPACTS)}" if unknown else None


def _levels(value: Any) -> str | None:
    unknown = [v.strip() for v in str(value).split(",") if v.strip() not in _LEVELS]
    return f"unknown level(s) {unknown}; use {', '.join(_LEVELS)}" if unknown else None


def _directory(value: Any) -> str | None:
    return None if value == "" or Path(value).is_dir() else "is not a folder"


def _new_or_folder(value: Any) -> str | None:
    is_file = value != "" and Path(value).exists() and not Path(value).is_dir()
    return "is a file, not a folder" if is_file else None


def _value_checks() -> dict[str, Callable[[Any], str | None]]:
    """What a valid value is, for the parameters the notebooks share (checked up front)."""
    return {
        "metrics_source": _one_of(METRICS_SOURCES),
        "mode": _one_of(MODES),
        "verify_at": _time,
        "impact": _impacts,
        "levels": _levels,
        "repo": _directory,
        "issues_dir": _new_or_folder,
        "stability_minutes": _positive,
        "lookback_hours": _positive,
        "top": _positive,
        "top_errors": _positive,
        "success_rate": _percent,
        "error_rate": _percent,
    }


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
    types: dict[str, type | tuple[type, ...]] = {
        "int": int,
        "float": (int, float),
        "bool": bool,
        "str": str,
    }
    expected = types.get(declared)
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
        A credential-looking name or a value any secret detector flags (a Stripe
        key, a DSN with a password, a high-entropy token...: credentials come from
        the environment), a reserved or unknown name, or a value of the wrong
        type. A message never quotes a refused value, and quotes others redacted.
    """
    for name, value in given.items():
        reason = secret_reason(name, value)
        if reason:
            raise InvalidParameter(
                f"parameter {redact(repr(name))} refused: {reason}. Credentials are never "
                "parameters (papermill writes parameters into every output notebook); set them "
                "in the environment instead (KUBECONFIG, DD_API_KEY, DD_APP_KEY, PGPASSWORD or a "
                "DSN variable)"
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
    checks = _value_checks()
    plan: dict[str, dict[str, Any]] = {}
    for stem, params in declared.items():
        chosen = {k: v for k, v in base.items() if k in params}
        for name, value in given.items():
            if name in params:
                if not _type_ok(value, params[name]):
                    raise InvalidParameter(
                        f"parameter {name!r} of {stem} expects {params[name]}, "
                        f"got {redact(repr(value))}"
                    )
                problem = checks[name](value) if name in checks else None
                if problem:
                    raise InvalidParameter(
                        f"parameter {name!r} is {redact(repr(value))}: {redact(problem)}"
                    )
                chosen[name] = value
        plan[stem] = chosen
    return plan
