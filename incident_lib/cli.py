"""The ``incident`` command: open incidents, run the notebook set, verify evidence, demo.

Exit codes: 0 success; 1 a notebook failed or evidence did not verify; 2 invalid
input (one line saying what is wrong, nothing written); 70 an internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import IncidentError, InvalidInput, InvalidParameter, WorkspaceError
from .infra.redact import redact

if TYPE_CHECKING:
    from .report.execute import NotebookResult

__all__ = ["main"]


def _parse_param(text: str) -> tuple[str, object]:
    from .report.parameters import coerce_value

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InvalidParameter(f"parameter {text!r} must look like name=value")
    return name.strip(), coerce_value(value)


def _print_result(result: NotebookResult) -> None:
    mark = "ok" if result.ok else result.status.upper()
    extra = f"  {result.error}" if result.error else ""
    print(f"  {result.name:<16} {mark:<11} {result.seconds:6.1f} s{extra}", file=sys.stderr)


def _run(workspace_path: str, args: argparse.Namespace, *, mode: str) -> int:
    from .infra.workspace import open_workspace
    from .report.bundle import run_bundle

    ws = open_workspace(workspace_path)
    params = dict(_parse_param(p) for p in args.param or [])

    def started(run_dir: Path, names: list[str]) -> None:
        print(
            f"running {len(names)} notebooks for {ws.incident.id} ({mode}) into {run_dir}",
            file=sys.stderr,
        )

    result = run_bundle(
        ws,
        notebooks=args.notebooks,
        notebook_dir=Path(args.notebook_dir) if args.notebook_dir else None,
        parallel=args.parallel,
        timeout=args.timeout,
        mode=mode,
        parameters=params,
        on_start=started,
        on_result=_print_result,
    )
    failed = [r.name for r in result.results if not r.ok]
    print(
        f"bundle written in {result.seconds:.1f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else f"; {len(result.results)} notebooks ok"),
        file=sys.stderr,
    )
    print(result.index)
    return 0 if result.ok else 1


def cmd_new(args: argparse.Namespace) -> int:
    from .core.incident import Incident
    from .core.severity import assess_severity
    from .infra.workspace import create_workspace

    severity = args.severity
    if severity and args.impact:
        raise InvalidInput(
            "give --severity or --impact, not both: --impact classifies the severity for you"
        )
    if severity is None and args.impact:
        severity = assess_severity(args.impact).severity
    guessed = severity is None
    incident = Incident.create(
        id=args.id,
        title=args.title,
        service=args.service,
        namespace=args.namespace,
        severity=severity or "SEV-2",
        start=args.start,
        end=args.end,
        detected=args.detected or args.start,
        allow_long_window=args.allow_long_window,
    )
    folder = Path(args.workspace) if args.workspace else Path("incidents") / incident.id
    ws = create_workspace(incident, folder)
    if guessed:
        print(
            "note: no --severity or --impact given; recorded SEV-2 (when unsure, the higher "
            "level) until 01_triage classifies it",
            file=sys.stderr,
        )
    print(ws.path)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return _run(args.workspace, args, mode=args.mode)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import SCENARIOS, generate

    if args.scenario not in SCENARIOS:
        raise InvalidInput(
            f"unknown scenario {args.scenario!r}; choose one of {', '.join(SCENARIOS)}"
        )
    folder = Path(args.workspace) if args.workspace else Path("incidents") / f"demo-{args.scenario}"
    print(f"generating the {args.scenario} demo incident in {folder} ...", file=sys.stderr)
    ws = generate(args.scenario, folder)
    return _run(str(ws.path), args, mode="offline")


def cmd_verify(args: argparse.Namespace) -> int:
    from .infra.evidence import EvidenceStore
    from .infra.workspace import INCIDENT_FILE

    folder = Path(args.workspace)
    if (
        folder.is_dir()
        and not (folder / INCIDENT_FILE).exists()
        and not (folder / "evidence").is_dir()
    ):
        raise WorkspaceError(
            f"{folder} is not an incident workspace (no {INCIDENT_FILE}, no evidence/)"
        )
    report = EvidenceStore(folder).verify()
    for problem in report.problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if report.ok:
        print(f"evidence ok: {report.entries} captures, every hash and the chain verified")
        return 0
    print(
        f"evidence NOT ok: {len(report.problems)} problem(s) in {report.entries} captures",
        file=sys.stderr,
    )
    return 1


def cmd_list(args: argparse.Namespace) -> int:
    from .infra.evidence import EvidenceStore

    for e in EvidenceStore(args.workspace).entries():
        print(
            f"{e.seq:4d}  {e.source + '/' + e.name:<28} {e.rows:8d} rows  {e.fetched_at}  {e.file}"
        )
    return 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notebooks",
        nargs="+",
        metavar="NAME",
        help="run only these notebooks (e.g. 01_triage 02)",
    )
    p.add_argument(
        "--parallel", type=int, default=2, metavar="N", help="notebooks running at once (default 2)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600,
        metavar="S",
        help="seconds allowed per notebook (default 600)",
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="notebook parameter (repeatable); never credentials",
    )
    p.add_argument("--notebook-dir", metavar="DIR", help="where the notebooks are")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``incident`` command."""
    parser = argparse.ArgumentParser(
        prog="incident", description="Incident runbooks: notebooks, evidence and bundles."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("new", help="open a new incident workspace")
    p.add_argument("--id", required=True, help="incident id, e.g. INC-2026-0042")
    p.add_argument("--title", required=True)
    p.add_argument("--service", required=True, help="Kubernetes name of the affected service")
    p.add_argument("--namespace", required=True)
    p.add_argument("--start", required=True, help="window start, ISO 8601 with timezone")
    p.add_argument("--end", help="window end (omit while ongoing)")
    p.add_argument("--severity", help="SEV-1..SEV-4")
    p.add_argument("--impact", nargs="+", help="classify severity from impact category(ies)")
    p.add_argument("--detected", help="detection time (default: the window start)")
    p.add_argument(
        "--allow-long-window", action="store_true", help="accept a window longer than 24 h"
    )
    p.add_argument("--workspace", help="incident folder (default incidents/<ID>)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("run", help="run the notebook set into runs/<run-id>/")
    p.add_argument("workspace", help="the incident folder")
    p.add_argument("--mode", default="offline", choices=("offline", "live"))
    _add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="generate a demo incident and run the notebook set over it")
    p.add_argument("--scenario", default="connection-leak")
    p.add_argument("--workspace", help="where to generate it (default incidents/demo-<scenario>)")
    _add_run_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("evidence", help="inspect the evidence store")
    esub = p.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    v = esub.add_parser("verify", help="check every file hash and the manifest chain")
    v.add_argument("workspace")
    v.set_defaults(func=cmd_verify)
    v = esub.add_parser("list", help="list the captures")
    v.add_argument("workspace")
    v.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``incident`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except IncidentError as exc:
        print(f"incident: error: {redact(str(exc))}", file=sys.stderr)
        return 2 if isinstance(exc, InvalidInput) else 1
    except KeyboardInterrupt:
        print("incident: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for the user; one line that says what
        print(
            f"incident: internal error: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
