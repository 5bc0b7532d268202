"""The ``incident`` command: open incidents, record their status and notes, run the notebooks.

Commands: ``new`` (open a workspace), ``status`` (detected, acknowledged, mitigated,
resolved: in the record and on the timeline), ``note`` (a human note on the timeline),
``run`` (the notebook set, live or offline), ``postmortem`` (the post-mortem from the
captured evidence), ``demo``, ``evidence verify`` and ``evidence list``.

Exit codes: 0 success (sources that did not answer are listed, the bundle is still
valid); 1 a notebook failed, evidence did not verify, or a source named by
``--require`` did not answer; 2 invalid input (one line saying what is wrong,
nothing written); 70 an internal error.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from .core.actions import ACTION_KINDS
from .core.errors import (
    IncidentError,
    InvalidInput,
    InvalidParameter,
    SourceUnavailable,
    WorkspaceError,
)
from .infra.redact import redact

if TYPE_CHECKING:
    from datetime import datetime

    from .comms import Channel, Draft, PagerDuty
    from .core.incident import Incident
    from .core.timeline import Event
    from .infra.workspace import Workspace
    from .report.availability import Availability
    from .report.execute import NotebookResult

__all__ = ["build_parser", "command", "main"]

EXIT_CODES = """exit codes:
  0   success; sources that did not answer are listed (the bundle is still valid)
  1   a notebook failed (the bundle is still written), the evidence does not verify,
      or a source named by --require did not answer
  2   invalid input: one line says what and how to fix it; nothing is written
  70  internal error
  130 interrupted"""

CREDENTIALS = """credentials (environment only, never parameters):
  kubernetes  KUBECONFIG (or ~/.kube/config, or the in-cluster service account),
              INCIDENT_KUBE_CONTEXT
  datadog     DD_API_KEY, DD_APP_KEY, DD_SITE (default datadoghq.com), INCIDENT_DD_ENV
  prometheus  PROMETHEUS_URL, PROMETHEUS_TOKEN (with -p metrics_source=prometheus)
  git         INCIDENT_GIT_REPO or -p repo=PATH (03_changes)
other variables:
  INCIDENT_NOTEBOOKS  the notebook folder (default: notebooks/ beside the package)"""

#: sources --require accepts (the live sources of this version, plus postgres evidence)
REQUIRABLE = ("kubernetes", "datadog", "prometheus", "git", "postgres")


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


def _check_required(names: Sequence[str] | None) -> list[str]:
    """``--require`` names: a source (``kubernetes``) or one frame (``kubernetes/logs``)."""
    from .core.schema import EVIDENCE_KINDS

    checked = []
    for name in names or []:
        source, sep, frame = name.partition("/")
        known = (source, frame) in EVIDENCE_KINDS if sep else source in REQUIRABLE
        if not known:
            raise InvalidInput(
                f"--require {name!r} is not a source or source/frame; sources: "
                f"{', '.join(REQUIRABLE)} (or one frame, e.g. kubernetes/logs)"
            )
        checked.append(name)
    return checked


def _print_sources(availability: Availability) -> None:
    """The sources that did not answer, once each, with the fix (stderr)."""
    if not availability.problems:
        return
    print(
        f"{len(availability.problems)} source problem(s); what they would show is unknown, "
        "not absent:",
        file=sys.stderr,
    )
    for problem in availability.problems:
        print(f"  {problem.line()}", file=sys.stderr)


def _run(workspace_path: str, args: argparse.Namespace, *, mode: str) -> int:
    from .infra.workspace import open_workspace
    from .report.bundle import run_bundle
    from .report.runs import list_runs

    required = _check_required(getattr(args, "require", None))
    ws = open_workspace(workspace_path)
    params = dict(_parse_param(p) for p in args.param or [])
    output = Path(args.output) if getattr(args, "output", None) else None
    earlier = [r for r in list_runs(output or ws.path / "runs") if r.state != "complete"]

    def started(run_dir: Path, names: list[str]) -> None:
        for run in earlier:  # a folder that is not a whole bundle is never taken for one
            print(f"note: {redact(run.describe())}", file=sys.stderr)
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
        output=output,
        on_start=started,
        on_result=_print_result,
    )
    failed = [r.name for r in result.results if not r.ok]
    _print_sources(result.availability)
    print(
        f"bundle written in {result.seconds:.1f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else f"; {len(result.results)} notebooks ok"),
        file=sys.stderr,
    )
    missing = result.availability.failed(required)
    for name, why in missing.items():
        print(f"REQUIRED source {name} did not answer: {redact(why)}", file=sys.stderr)
    print(result.index)
    return 0 if result.ok and not missing else 1


def cmd_new(args: argparse.Namespace) -> int:
    from .core.incident import Incident
    from .core.severity import assess_severity
    from .infra.workspace import create_workspace

    if args.from_pagerduty:
        return _new_from_pagerduty(args)
    missing = [f"--{name}" for name in ("title", "start") if not getattr(args, name)]
    if missing:
        raise InvalidInput(
            f"{' and '.join(missing)} required (or --from-pagerduty ID to take them from the pager)"
        )
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
    print(
        "next: capture the evidence and build the bundle (sources come from the environment, "
        "see `incident run --help`):\n"
        f"  incident run {ws.path} --mode live",
        file=sys.stderr,
    )
    print(ws.path)
    return 0


def _new_from_pagerduty(args: argparse.Namespace) -> int:
    from .comms import check_pagerduty_id, incident_from_pagerduty
    from .communicating import sync_pagerduty
    from .core.severity import assess_severity
    from .infra.workspace import create_workspace, open_workspace

    pd_id = check_pagerduty_id(args.from_pagerduty)
    if args.end or args.detected or args.allow_long_window:
        raise InvalidInput(
            "with --from-pagerduty the times come from the pager: drop --end and --detected"
        )
    severity = args.severity or (assess_severity(args.impact).severity if args.impact else "")
    pagerduty = cast("PagerDuty", _configured("pagerduty"))
    found = pagerduty.fetch_incident(pd_id)
    incident = incident_from_pagerduty(
        found, id=args.id, service=args.service, namespace=args.namespace, severity=severity
    )
    if args.title or args.start:
        from .core.time import parse_time

        changes: dict[str, object] = {}
        if args.title:
            changes["title"] = args.title
        if args.start:
            changes["start"] = parse_time(args.start, field="start")
        incident = incident.with_changes(**changes)
    folder = Path(args.workspace) if args.workspace else Path("incidents") / incident.id
    ws = create_workspace(incident, folder)
    updated, events = sync_pagerduty(open_workspace(ws.path), pagerduty, found.id)
    print(
        f"{updated.id}: from PagerDuty incident {found.id} ({found.html_url or 'no link'})",
        file=sys.stderr,
    )
    for event in events:
        print(f"  timeline: {_event_line(event)}", file=sys.stderr)
    print(
        f"next: capture the evidence and build the bundle:\n  incident run {ws.path} --mode live",
        file=sys.stderr,
    )
    print(ws.path)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from .communicating import sync_pagerduty
    from .infra.workspace import open_workspace

    ws = open_workspace(args.workspace)
    before = ws.incident
    pagerduty = cast("PagerDuty", _configured("pagerduty"))
    updated, events = sync_pagerduty(ws, pagerduty, args.pagerduty or "")
    changes = _status_changes(before, updated)
    if before.roles != updated.roles:
        changes.append(f"roles.incident_commander: {updated.roles.incident_commander}")
    print(f"{updated.id}: synced from PagerDuty")
    for line in changes or ["nothing changed: the record already holds the pager's times"]:
        print(f"  {line}")
    for event in events:
        print(f"  timeline: {_event_line(event)}")
    return 0


#: what ``incident send`` can send: (channel, what it does, whether --text is needed)
SENDS: dict[str, tuple[str, str, bool]] = {
    "page-ack": ("pagerduty", "acknowledge the PagerDuty incident", False),
    "page-resolve": ("pagerduty", "resolve it (--text: the resolution)", False),
    "page-note": (
        "pagerduty",
        "a note: --text, else the latest bundle's diagnosis and link",
        False,
    ),
    "slack-announce": ("slack", "the announcement: severity, roles, channel, next update", False),
    "slack-update": ("slack", "a status update (--text), in the announcement's thread", True),
    "slack-resolve": ("slack", "the resolution message (--text)", True),
    "status-update": ("statuspage", "open or update the status-page incident (--text)", True),
    "status-resolve": ("statuspage", "resolve the status-page incident (--text)", True),
    "issues": ("github", "file the post-mortem's action items as issues, once each", False),
}


def _configured(name: str) -> Channel:
    """The channel ``name`` from the environment; not configured is a usage error (exit 2)."""
    from .communicating import channel_for

    try:
        return channel_for(name)
    except SourceUnavailable as exc:
        raise InvalidInput(f"{name} is {exc.reason}") from None


def _latest_diagnosis(ws: Workspace) -> tuple[str, str]:
    """The newest bundle's diagnosis (headline, trigger, mechanism, next step) and its index."""
    import json

    for found in sorted(ws.runs_dir.glob("*/findings.json"), key=lambda p: p.stat().st_mtime)[::-1]:
        try:
            diagnosis = json.loads(found.read_text(encoding="utf-8")).get("diagnosis")
        except (OSError, ValueError):
            continue
        if not isinstance(diagnosis, dict) or not diagnosis.get("headline"):
            continue
        lines = [str(diagnosis["headline"])]
        for part in ("trigger", "symptoms", "next_step"):
            clause = diagnosis.get(part)
            if isinstance(clause, dict) and clause.get("text"):
                lines.append(f"{part.replace('_', ' ').capitalize()}: {clause['text']}")
        return "\n".join(lines), str(found.parent / "index.html")
    raise InvalidInput(
        "no bundle with a diagnosis in this workspace: run `incident run WS` first, or give --text"
    )


def _draft_for(what: str, ws: Workspace, text: str, pagerduty_id: str) -> Draft:
    """The draft ``incident send WHAT`` sends, from the record, the evidence or ``text``."""
    from datetime import UTC, datetime

    from .comms import (
        file_action_items,
        pagerduty_acknowledge,
        pagerduty_note,
        pagerduty_resolve,
        slack,
        statuspage,
    )
    from .communicating import sent_refs

    inc = ws.incident
    refs = sent_refs(ws)
    now = datetime.now(UTC)
    if what.startswith("page-"):
        paged = pagerduty_id or refs.get("pagerduty_incident", "")
        if not paged:
            raise InvalidInput(
                "no PagerDuty incident is known for this workspace: give --pagerduty PD_ID"
            )
        if what == "page-ack":
            return pagerduty_acknowledge(paged, incident=inc)
        if what == "page-resolve":
            return pagerduty_resolve(paged, text, incident=inc)
        link = ""
        if not text:
            text, link = _latest_diagnosis(ws)
        return pagerduty_note(paged, text, link=link, incident=inc)
    thread = refs.get("slack_ts", "")
    if what == "slack-announce":
        return slack.announcement(inc, next_update=slack.next_update_at(inc, now))
    if what == "slack-update":
        return slack.status_update(
            inc, text, next_update=slack.next_update_at(inc, now), thread_ts=thread
        )
    if what == "slack-resolve":
        return slack.resolution(inc, text, thread_ts=thread)
    if what.startswith("status-"):
        return statuspage.open_or_update(
            inc,
            text,
            refs=refs,
            components=statuspage.component_map(),
            resolve=what == "status-resolve",
        )
    from .report.postmortem import write_postmortem

    return file_action_items(inc, write_postmortem(ws).items)


def cmd_send(args: argparse.Namespace) -> int:
    from .communicating import communicate
    from .infra.workspace import open_workspace

    channel_name, _, needs_text = SENDS[args.what]
    text = (args.text or "").strip()
    if needs_text and not text:
        raise InvalidInput(f"{args.what} needs --text: what people will read")
    ws = open_workspace(args.workspace)
    draft = _draft_for(args.what, ws, text, args.pagerduty or "")
    print(f"draft ({draft.describe()}):\n{redact(draft.text)}\n")
    channel = _configured(channel_name)
    done = communicate(
        ws, draft, channel, live=True, confirm=args.confirm, by=args.by or "", section="cli"
    )
    if done.sent is None:
        print(f"dry run: nothing sent. The requests it makes (secrets masked):\n{done.requests}")
        print("next: add --confirm (and --by NAME) to send it", file=sys.stderr)
        return 0
    sent = done.sent
    print(f"{'sent' if sent.ok else 'FAILED'}: {sent.detail}")
    for link in sent.links:
        print(f"  {link}")
    if not sent.ok and done.kept is not None:
        print(f"the draft is kept in {done.kept}", file=sys.stderr)
    if sent.ok and args.what == "issues":
        from .report.postmortem import write_postmortem

        print(f"post-mortem: {write_postmortem(ws).document} (lists the issues)")
    return 0 if sent.ok else 1


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
    from .core.errors import EvidenceIntegrityError
    from .infra.evidence import EvidenceHead, EvidenceStore, load_bundle_head
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
    if args.public_key and not args.bundle:
        raise InvalidInput(
            "--public-key checks the signature a bundle recorded: pass --bundle RUN_DIR too"
        )
    head, signature = (
        load_bundle_head(args.bundle)
        if args.bundle
        else (EvidenceHead.parse(args.head) if args.head else None, None)
    )
    signed = ""
    if args.public_key:
        from .infra.signing import verify_head_signature

        if signature is None or head is None:
            raise EvidenceIntegrityError(
                f"{args.bundle} records no evidence_head_signature: the bundle was not signed "
                "(set INCIDENT_SIGNING_KEY when running to sign it)"
            )
        signed = verify_head_signature(head, signature, args.public_key)
    report = EvidenceStore(folder).verify(head)
    for problem in report.problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if not report.ok:
        print(report.summary(), file=sys.stderr)
        return 1
    print(report.summary())
    if signed:
        print(f"signature ok: the recorded head was signed by key {signed}")
    if report.head is not None:
        print(f"head: {report.head} (record it, or pass it back with --head)")
    return 0


def cmd_postmortem(args: argparse.Namespace) -> int:
    """Write the post-mortem of a workspace from its captured evidence (nothing is fetched)."""
    from .infra.workspace import open_workspace
    from .report.postmortem import write_postmortem

    ws = open_workspace(args.workspace)
    issues = Path(args.issues) if args.issues else None
    written = write_postmortem(ws, issues_dir=issues)
    drafted = sum(1 for item in written.items if item.draft)
    print(f"{written.story.diagnosis.headline}")
    print(f"post-mortem: {written.document}")
    print(
        f"action items: {written.action_items} ({len(written.items)}, {drafted} drafted from "
        "the evidence)"
    )
    for path in written.issues:
        print(f"issue text: {path}")
    source = ws.path / "postmortem.yaml"
    if not source.is_file():
        print(
            f"next: write the human parts (root cause, what went well, action items) in "
            f"{shlex.quote(str(source))}, then run this again",
            file=sys.stderr,
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .infra.evidence import EvidenceStore

    for e in EvidenceStore(args.workspace).entries():
        print(
            f"{e.seq:4d}  {e.source + '/' + e.name:<28} {e.rows:8d} rows  {e.fetched_at}  {e.file}"
        )
    return 0


TIMELINE_EXIT_CODES = """exit codes:
  0   recorded (or already recorded: nothing is written twice)
  1   timeline.jsonl holds a damaged line (the message names it); nothing is written
  2   invalid input: one line says what and how to fix it; nothing is written
  70  internal error"""

#: what to run after each status change (``{ws}`` is the workspace, shell-quoted)
NEXT_AFTER_STATUS = {
    "detected": "acknowledge it when someone owns it: incident status {ws} acknowledged",
    "acknowledged": "capture the evidence and investigate: incident run {ws} --mode live\n"
    "  once the impact stops: incident status {ws} mitigated --at TIME",
    "mitigated": "verify the recovery (10_verify): incident run {ws} --notebooks 10_verify\n"
    "  once it holds: incident status {ws} resolved --at TIME",
    "resolved": "write the post-mortem: incident postmortem {ws}",
}


def _at(text: str | None, name: str = "--at") -> datetime:
    """``--at`` as an aware UTC datetime; default: now (whole seconds)."""
    from datetime import UTC, datetime

    from .core.time import parse_time

    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    return parse_time(text, field=name)


def _event_line(event: Event) -> str:
    by = f"  ({event.author})" if event.author and event.kind == "note" else ""
    return f"{event.time:%Y-%m-%dT%H:%M:%SZ}  {event.kind:<12} {event.summary}{by}"


def cmd_note(args: argparse.Namespace) -> int:
    from .infra.timeline import add_note
    from .infra.workspace import open_workspace

    ws = open_workspace(args.workspace)
    at = _at(args.at)
    had = ws.timeline.ids()
    event = add_note(ws, args.text, at=at, author=args.author)
    if event.id in had:
        print("this note is already on the timeline; nothing written", file=sys.stderr)
    print(_event_line(event))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from .receiver.service import build_receiver, serve

    if not 0 <= args.port <= 65535:
        raise InvalidInput(f"--port {args.port}: give a port between 0 and 65535")
    if args.grace <= 0:
        raise InvalidInput(f"--grace {args.grace}: give a positive number of seconds")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    receiver = build_receiver(
        Path(args.config),
        Path(args.workspaces),
        host=args.host,
        port=args.port,
        workers=args.workers,
        parallel=args.parallel,
        timeout=args.timeout,
        notebook_dir=Path(args.notebook_dir) if args.notebook_dir else None,
    )
    return serve(
        receiver,
        grace=args.grace,
        ready=lambda url: print(f"receiving alerts on {url}", file=sys.stderr, flush=True),
    )


def cmd_act(args: argparse.Namespace) -> int:
    from .acting import take_action
    from .core.actions import parse_action
    from .infra.workspace import open_workspace

    ws = open_workspace(args.workspace)
    action = parse_action(
        args.action, args.workload, args.params or "", namespace=ws.incident.namespace
    )
    taken = take_action(
        ws,
        action,
        live=True,
        confirm=args.confirm,
        target=args.target or "",
        by=args.by or "",
        follow=not args.no_follow,
        timeout_s=args.timeout,
        progress=lambda line: print(f"rollout: {line}", file=sys.stderr),
    )
    if taken.plan is not None:
        print(f"plan: {action.describe()}: {taken.plan.summary}")
        print(taken.plan.diff)
        print(f"by hand: {taken.plan.command}")
    print(f"dry run: {taken.dry_run}")
    result = taken.result
    print(f"{result.outcome}: {result.message}")
    if result.outcome in ("applied", "timed_out"):
        print(
            "next: whether it helped is measured over the 10 min after it; then run "
            f"`incident run {shlex.quote(args.workspace)} --mode live --notebooks 09 10` "
            "(the effect goes on the timeline)",
            file=sys.stderr,
        )
    return 0 if result.outcome in ("planned", "applied") else 1


def _status_changes(before: Incident, after: Incident) -> list[str]:
    def iso(moment: datetime | None, unset: str) -> str:
        return unset if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"

    lines = []
    for name in ("detected", "acknowledged", "mitigated", "resolved"):
        old, new = getattr(before.times, name), getattr(after.times, name)
        if old != new:
            lines.append(f"times.{name}: {iso(old, 'unset')} -> {iso(new, 'unset')}")
    if before.status != after.status:
        lines.append(f"status: {before.status} -> {after.status}")
    if before.end != after.end:
        lines.append(f"window.end: {iso(before.end, 'open')} -> {iso(after.end, 'open')}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    from .core.timeline import status_event
    from .infra.workspace import open_workspace, write_incident

    ws = open_workspace(args.workspace)
    at = _at(args.at)
    updated = ws.incident.with_status(args.kind, at)
    event = status_event(args.kind, at, author=args.author)
    ws.timeline.read()  # a damaged timeline stops us before the record changes
    changes = _status_changes(ws.incident, updated)
    if changes:
        write_incident(updated, ws.path, overwrite=True)
    added = ws.timeline.append([event])
    if changes:
        print(f"{updated.id}: {args.kind} at {at:%Y-%m-%dT%H:%M:%SZ}")
        for line in changes:
            print(f"  {line}")
        earlier = getattr(ws.incident.times, args.kind)
        if earlier not in (None, at) and status_event(args.kind, earlier).id in ws.timeline.ids():
            print(
                f"  the timeline keeps the {args.kind} event at {earlier:%Y-%m-%dT%H:%M:%SZ} "
                "too (it is append-only); the record holds the corrected time"
            )
    else:
        print(f"{updated.id}: {args.kind} at {at:%Y-%m-%dT%H:%M:%SZ} was already recorded")
    if added:
        print(f"  timeline: {_event_line(added[0])}")
    print(
        "next: " + NEXT_AFTER_STATUS[args.kind].format(ws=shlex.quote(args.workspace)),
        file=sys.stderr,
    )
    return 0


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (unless the help says it); the epilog as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _sub(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    epilog: str = EXIT_CODES,
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help,
        description=help[:1].upper() + help[1:] + ".",
        epilog=epilog,
        formatter_class=_Formatter,
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notebooks",
        nargs="+",
        metavar="NAME",
        help="run only these notebooks (e.g. 01_triage 02); default: all",
    )
    p.add_argument("--parallel", type=int, default=2, metavar="N", help="notebooks running at once")
    p.add_argument(
        "--timeout", type=float, default=600, metavar="S", help="seconds allowed per notebook"
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="notebook parameter (repeatable), e.g. -p top_errors=10 -p "
        "metrics_source=prometheus; never credentials",
    )
    p.add_argument(
        "--notebook-dir",
        metavar="DIR",
        help="where the notebooks are (default: $INCIDENT_NOTEBOOKS, else notebooks/ beside "
        "the package)",
    )
    p.add_argument(
        "--require",
        nargs="+",
        metavar="SOURCE",
        help=f"sources that must answer ({', '.join(REQUIRABLE)}, or one frame such as "
        "kubernetes/logs): exit 1 naming each that did not; default: none (exit 0 and "
        "list them)",
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        help="write the run folder under DIR instead of WORKSPACE/runs (a read-only "
        "workspace: an offline run then leaves it untouched; --mode live still needs it "
        "writable, since it captures evidence into it)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``incident`` command."""
    from .core.incident import STATUS_CHANGES
    from .core.params import MODES
    from .core.severity import IMPACTS, SEVERITY_LEVELS
    from .demo import SCENARIOS
    from .infra.timeline import MAX_NOTE

    parser = argparse.ArgumentParser(
        prog="incident",
        description="Incident runbooks: notebooks, evidence and bundles.\n\n"
        "Start with `incident new ...`, then `incident run WORKSPACE --mode live` to capture "
        "evidence;\n`incident run WORKSPACE` (offline, the default) re-reads what was captured.\n"
        "Record the response as it happens: `incident status WORKSPACE acknowledged` (then "
        'mitigated,\nresolved) and `incident note WORKSPACE "what was done"` keep the '
        "record and the timeline.",
        epilog=f"{EXIT_CODES}\n\n{CREDENTIALS}",
        formatter_class=_Formatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(
        sub,
        "new",
        help="open a new incident workspace (then capture with `incident run WS --mode live`)",
        epilog="exit codes:\n  0   created: its path on stdout, the next command to run on stderr\n"
        "  2   invalid input: one line says what; nothing is written\n  70  internal error",
    )
    p.add_argument("--id", required=True, help="incident id, e.g. INC-2026-0042")
    p.add_argument(
        "--title", help="one line, what is broken for whom (required unless --from-pagerduty)"
    )
    p.add_argument("--service", required=True, help="Kubernetes name of the affected service")
    p.add_argument("--namespace", required=True, help="its Kubernetes namespace")
    p.add_argument(
        "--start",
        help="window start, ISO 8601 with timezone (required unless --from-pagerduty: then "
        "the trigger time)",
    )
    p.add_argument(
        "--from-pagerduty",
        metavar="PD_ID",
        help="take the title, times, status and commander from this PagerDuty incident "
        "(INCIDENT_PAGERDUTY_TOKEN); severity from its P1-P4 priority unless given",
    )
    p.add_argument("--end", help="window end, ISO 8601 with timezone (omit while ongoing)")
    p.add_argument(
        "--severity",
        help=f"one of {', '.join(SEVERITY_LEVELS)}; default: from --impact, else SEV-2 "
        "until 01_triage classifies it",
    )
    p.add_argument(
        "--impact",
        nargs="+",
        metavar="IMPACT",
        help=f"classify the severity from impact category(ies): {', '.join(IMPACTS)}",
    )
    p.add_argument("--detected", help="detection time (default: the window start)")
    p.add_argument(
        "--allow-long-window", action="store_true", help="accept a window longer than 24 h"
    )
    p.add_argument("--workspace", help="incident folder (default: incidents/<ID>)")
    p.set_defaults(func=cmd_new)

    p = _sub(
        sub,
        "send",
        help="tell people: PagerDuty, Slack, the status page, GitHub issues (a dry run unless "
        "--confirm)",
        epilog="what:\n"
        + "\n".join(f"  {name:<15} {words}" for name, (_, words, _) in SENDS.items())
        + "\n\nThe draft and the exact requests (secrets masked) are shown; only --confirm "
        "sends, never on a\ndemo workspace. Every send goes on the timeline with who, when, "
        "what and the answer; the\ndraft of a failed send is kept in comms/drafts/.\n\n"
        "credentials (environment only):\n"
        "  pagerduty   INCIDENT_PAGERDUTY_TOKEN, INCIDENT_PAGERDUTY_FROM (the user's email)\n"
        "  slack       INCIDENT_SLACK_WEBHOOK_URL, or INCIDENT_SLACK_BOT_TOKEN and "
        "INCIDENT_SLACK_CHANNEL\n"
        "  statuspage  INCIDENT_STATUSPAGE_API_KEY, INCIDENT_STATUSPAGE_PAGE_ID, "
        "INCIDENT_STATUSPAGE_COMPONENTS\n"
        "  github      INCIDENT_GITHUB_TOKEN, INCIDENT_GITHUB_REPO (owner/name)\n\n"
        "exit codes:\n  0   sent, or shown (dry run)\n  1   the service refused or did not "
        "answer (the draft is kept)\n  2   refused before sending (not configured, a demo "
        "workspace, bad input)\n  70  internal error",
    )
    p.add_argument("workspace", help="the incident folder")
    p.add_argument("what", choices=list(SENDS), help="what to send")
    p.add_argument("--text", help="what people read (updates, resolutions, notes)")
    p.add_argument("--pagerduty", metavar="PD_ID", help="the PagerDuty incident (default: known)")
    p.add_argument("--confirm", action="store_true", help="send it")
    p.add_argument("--by", metavar="WHO", help="who sends, for the timeline")
    p.set_defaults(func=cmd_send)

    p = _sub(
        sub,
        "sync",
        help="bring a PagerDuty incident's times, status and commander into incident.yaml and "
        "the timeline",
        epilog="Times come from the incident's PagerDuty log entries (the pager's clock), so MTTA "
        "and MTTR\nrest on it; a role already held is kept. Reads only "
        "(INCIDENT_PAGERDUTY_TOKEN).\n\nexit codes:\n  0   synced\n  1   PagerDuty did not "
        "answer or refused\n  2   invalid input (no or a bad id, times that contradict the "
        "record): nothing written\n  70  internal error",
    )
    p.add_argument("workspace", help="the incident folder")
    p.add_argument(
        "--pagerduty",
        metavar="PD_ID",
        help="the PagerDuty incident (default: the one the workspace was opened from)",
    )
    p.set_defaults(func=cmd_sync)

    p = _sub(
        sub,
        "run",
        help="run the notebook set into WORKSPACE/runs/<run-id>/ (offline unless --mode live)",
        epilog="One live run per workspace at a time (a second is refused, exit 2); offline "
        "runs may run\nin parallel. run.json says whether a run is running, complete, failed or "
        "interrupted;\nWORKSPACE/index.html lists every run with its state.\n\n"
        f"{EXIT_CODES}\n\n{CREDENTIALS}",
    )
    p.add_argument("workspace", help="the incident folder")
    p.add_argument(
        "--mode",
        default="offline",
        choices=MODES,
        help="offline: read only the evidence already captured (refused when there is none); "
        "live: query the sources and capture what they return",
    )
    _add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = _sub(
        sub,
        "status",
        help="record a status change (detected, acknowledged, mitigated, resolved) in "
        "incident.yaml and on the timeline",
        epilog="mitigated moves the status to monitoring; resolved sets the status to resolved "
        "and ends an open window.\nA time before the detection, resolved before mitigated or "
        "a time in the future is refused.\n\n" + TIMELINE_EXIT_CODES,
    )
    p.add_argument("workspace", help="the incident folder")
    p.add_argument("kind", choices=STATUS_CHANGES, help="the status change")
    p.add_argument(
        "--at", metavar="TIME", help="when it happened, ISO 8601 with timezone; default: now"
    )
    p.add_argument("--author", default="", metavar="NAME", help="who records it (default: nobody)")
    p.set_defaults(func=cmd_status)

    p = _sub(
        sub,
        "serve",
        help="receive alert webhooks (Alertmanager, PagerDuty, Datadog) and make each "
        "incident's bundle live, posting the diagnosis back",
        epilog="routes: POST /alertmanager and /datadog (bearer INCIDENT_RECEIVER_TOKEN), POST "
        "/pagerduty\n(signed with INCIDENT_PAGERDUTY_SECRET; served only when it is set), GET "
        "/healthz, GET /metrics.\nmessages back: INCIDENT_SLACK_WEBHOOK_URL, and "
        "INCIDENT_PAGERDUTY_TOKEN with INCIDENT_PAGERDUTY_FROM\nfor notes on PagerDuty "
        "incidents. SIGTERM stops taking alerts, lets running bundles finish\nwithin --grace "
        "and marks the others on their incident's timeline.\n\n"
        "exit codes:\n  0   stopped, every bundle finished\n  1   stopped, some bundles "
        "marked as not made\n  2   invalid input: one line says what; nothing started\n"
        f"  70  internal error\n\n{CREDENTIALS}",
    )
    p.add_argument("--config", required=True, help="the receiver configuration (YAML)")
    p.add_argument(
        "--workspaces", required=True, help="the folder of incident workspaces (one per incident)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free one)")
    p.add_argument("--workers", type=int, default=2, help="incidents captured at once")
    p.add_argument("--parallel", type=int, default=2, help="notebooks at once per incident")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per notebook")
    p.add_argument("--grace", type=float, default=60.0, help="seconds bundles get at shutdown")
    p.add_argument("--notebook-dir", help="the notebook folder (default: the package's)")
    p.set_defaults(func=cmd_serve)

    p = _sub(
        sub,
        "act",
        help="plan a mitigation, dry-run it, and make it only with --confirm --target NAME",
        epilog="Live, against the cluster (never a demo workspace): the plan, the diff, the "
        "kubectl "
        "equivalent\nand the server's dry run are shown; with --confirm and --target naming the "
        "workload the change\nis made (write credentials: INCIDENT_KUBE_WRITE_CONTEXT; feature "
        "flags: INCIDENT_FLAG_URL,\nINCIDENT_FLAG_TOKEN) and its rollout followed. Every outcome "
        "goes on the timeline.\n\nexit codes: 0 planned or applied; 1 failed or the rollout did "
        "not complete in time;\n  2 refused (nothing changed: a bad action, an unknown workload "
        "or revision, changed since\n  the plan, forbidden, no write credentials, a demo "
        "workspace); 70 internal error",
    )
    p.add_argument("workspace", help="the incident folder")
    p.add_argument(
        "--action",
        required=True,
        choices=ACTION_KINDS,
        help="what to do",
    )
    p.add_argument(
        "--workload",
        required=True,
        metavar="KIND/NAME",
        help="what to act on: Deployment/api, StatefulSet/db, FeatureFlag/new-checkout",
    )
    p.add_argument(
        "--params",
        metavar="KEY=VALUE,...",
        help="revision=41 | replicas=8 | container=api,memory=768Mi | enabled=false",
    )
    p.add_argument("--confirm", action="store_true", help="make the change (with --target)")
    p.add_argument("--target", metavar="NAME", help="the workload's name, to confirm (api)")
    p.add_argument("--by", metavar="WHO", help="who acts, for the timeline")
    p.add_argument("--no-follow", action="store_true", help="do not follow the rollout")
    p.add_argument(
        "--timeout", type=float, default=300, metavar="S", help="seconds to follow the rollout"
    )
    p.set_defaults(func=cmd_act)
    p = _sub(
        sub,
        "note",
        help="add a human note to the incident timeline (timeline.jsonl)",
        epilog="Secrets in the text are redacted before it is written; the same note (text, "
        "time, author)\nis written once.\n\n" + TIMELINE_EXIT_CODES,
    )
    p.add_argument("workspace", help="the incident folder")
    p.add_argument("text", help=f"the note, at most {MAX_NOTE} characters (quote it)")
    p.add_argument(
        "--at", metavar="TIME", help="when it happened, ISO 8601 with timezone; default: now"
    )
    p.add_argument("--author", default="", metavar="NAME", help="who writes it (default: nobody)")
    p.set_defaults(func=cmd_note)

    p = _sub(
        sub,
        "postmortem",
        help="write the post-mortem (postmortem.md, action_items.json) from the captured evidence",
        epilog="Works offline, days later: nothing is fetched. The human parts (root cause, what "
        "went well,\nwhat could improve, action items, lessons) come from postmortem.yaml in "
        "the workspace;\nwhere it is silent, drafts from the evidence are marked as drafts.\n\n"
        + EXIT_CODES,
    )
    p.add_argument("workspace", help="the incident folder")
    p.add_argument(
        "--issues",
        metavar="DIR",
        help="also write one ready-to-file issue text per action item into DIR",
    )
    p.set_defaults(func=cmd_postmortem)

    p = _sub(
        sub,
        "demo",
        help="generate a demo incident and run the notebook set over it (offline)",
    )
    p.add_argument("--scenario", default="connection-leak", help=f"one of {', '.join(SCENARIOS)}")
    p.add_argument("--workspace", help="where to generate it (default: incidents/demo-<scenario>)")
    _add_run_options(p)
    p.set_defaults(func=cmd_demo)

    p = _sub(
        sub,
        "evidence",
        help="inspect the evidence store",
        epilog="exit codes: see `incident evidence verify --help` and "
        "`incident evidence list --help`",
    )
    esub = p.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    v = _sub(
        esub,
        "verify",
        help="check every file hash and the manifest chain, up to a recorded head",
        epilog="Without --head or --bundle the last capture is not anchored: deleting or "
        "rewriting it\ncannot be detected. A bundle's run.json records the head it was made "
        "from.\n\nexit codes: 0 every hash and the chain verify (and the signature, with "
        "--public-key);\n  1 they do not (each problem is listed); 2 not an incident "
        "workspace, a bad --head,\n  a run folder without a head, an unusable key",
    )
    v.add_argument("workspace", help="the incident folder")
    anchor = v.add_mutually_exclusive_group()
    anchor.add_argument(
        "--head",
        metavar="COUNT:HASH",
        help="the head to check the chain against (printed by a previous verify)",
    )
    anchor.add_argument(
        "--bundle",
        metavar="RUN_DIR",
        help="a run folder (runs/<id>): check against the head its run.json records",
    )
    v.add_argument(
        "--public-key",
        metavar="PEM",
        help="with --bundle: check the head's Ed25519 signature with this public key "
        "(needs pip install 'incident-runbooks[signing]')",
    )
    v.set_defaults(func=cmd_verify)
    v = _sub(
        esub,
        "list",
        help="list the captures",
        epilog="exit codes: 0 listed (nothing when there are no captures); 1 the manifest "
        "cannot be read\n  (a line that is not an entry, a link, not a regular file); 2 not a "
        "workspace; 70 internal error",
    )
    v.add_argument("workspace", help="the incident folder")
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
    except BrokenPipeError:  # `incident evidence list | head`: the reader had enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    except Exception as exc:  # never a traceback for the user; one line that says what
        print(
            f"incident: internal error: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr
        )
        return 70


def command() -> None:
    """The ``incident`` console command: :func:`main`, then exit without the slow teardown.

    Python's own exit clears every module it imported, which takes about half a
    second once pandas, matplotlib and nbconvert are loaded (``incident run``):
    added to every command, after its work is done. Here the exit handlers run
    (``atexit``: logging, temporary folders), the streams are flushed, and the
    process ends. A normal exit is kept when another non-daemon thread still
    runs, or where the exit handlers cannot be run first.
    """
    import atexit
    import contextlib
    import threading

    code = main()
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if run_exit_handlers is None or others:
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    command()
