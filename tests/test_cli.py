"""The `incident` command: one-line errors, exit codes, nothing half-written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from incident_lib.cli import main

NEW = [
    "new",
    "--id",
    "INC-2026-0042",
    "--title",
    "Checkout 500s",
    "--service",
    "checkout",
    "--namespace",
    "prod",
    "--start",
    "2026-11-03T14:00:00Z",
    "--end",
    "2026-11-03T15:00:00Z",
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, fragment: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("incident: error:") and fragment in lines[0]
    assert "Traceback" not in err


def test_new_creates_a_workspace(tmp_path, capsys):
    ws = tmp_path / "INC"
    code, out, _ = run(capsys, *NEW, "--severity", "SEV-2", "--workspace", str(ws))
    assert code == 0 and out.strip() == str(ws.resolve())
    assert (ws / "incident.yaml").exists() and (ws / "evidence").is_dir()


def test_new_classifies_severity_from_impact(tmp_path, capsys):
    ws = tmp_path / "INC"
    assert run(capsys, *NEW, "--impact", "complete-outage", "--workspace", str(ws))[0] == 0
    assert "severity: SEV-1" in (ws / "incident.yaml").read_text()


@pytest.mark.parametrize(
    ("replace", "fragment"),
    [
        (("--id", "bad id"), "id 'bad id' is invalid"),
        (("--end", "2026-11-03T13:00:00Z"), "is not before"),
        (("--start", "2026-11-03T14:00:00"), "has no timezone"),
        (("--namespace", "Prod"), "not a Kubernetes name"),
    ],
)
def test_new_refuses_bad_input_and_writes_nothing(tmp_path, capsys, replace, fragment):
    argv = list(NEW)
    argv[argv.index(replace[0]) + 1] = replace[1]
    ws = tmp_path / "INC"
    code, _, err = run(capsys, *argv, "--workspace", str(ws))
    assert code == 2
    assert_one_line_error(err, fragment)
    assert not ws.exists()


def test_new_refuses_to_overwrite(tmp_path, capsys):
    ws = tmp_path / "INC"
    run(capsys, *NEW, "--workspace", str(ws))
    before = (ws / "incident.yaml").read_text()
    code, _, err = run(capsys, *NEW, "--severity", "SEV-1", "--workspace", str(ws))
    assert code == 2 and "refusing to overwrite" in err
    assert (ws / "incident.yaml").read_text() == before


def test_run_on_missing_workspace(tmp_path, capsys):
    code, _, err = run(capsys, "run", str(tmp_path / "nope"))
    assert code == 2
    assert_one_line_error(err, "does not exist")


def test_run_on_invalid_record(tmp_path, capsys):
    (tmp_path / "incident.yaml").write_text("id: INC-1-1\nseverity: SEV-9\n")
    code, _, err = run(capsys, "run", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "SEV-9")
    assert not (tmp_path / "runs").exists()


def test_unknown_scenario(tmp_path, capsys):
    code, _, err = run(capsys, "demo", "--scenario", "meteor", "--workspace", str(tmp_path / "d"))
    assert code == 2
    assert_one_line_error(err, "unknown scenario 'meteor'")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("param", "fragment"),
    [
        ("db_password=hunter2", "refused"),
        ("target=postgresql://app:hunter2@db/orders", "refused"),
        ("nonsense=1", "unknown parameter(s) ['nonsense']"),
        ("workspace=/tmp", "set by the runner"),
        ("top_errors=many", "expects int"),
        ("no-equals-sign", "must look like name=value"),
        ("metrics_source=graphite", "use one of datadog, prometheus"),
        ("verify_at=2026-11-03T15:00", "has no timezone"),
        ("verify_at=banana", "not an ISO 8601 timestamp"),
        ("impact=bogus", "unknown impact ['bogus']"),
        ("stability_minutes=0", "must be greater than 0"),
        ("lookback_hours=-1", "must be greater than 0"),
        ("levels=warn", "unknown level(s) ['warn']"),
        ("repo=/nonexistent/repo", "is not a folder"),
        ("success_rate=150", "percentage between 0 and 100"),
    ],
)
def test_run_refuses_bad_parameters_before_running(demo_copy, capsys, param, fragment):
    ws = demo_copy("connection-leak")
    code, _, err = run(capsys, "run", str(ws), "-p", param)
    assert code == 2
    assert_one_line_error(err, fragment)
    assert "hunter2" not in err
    assert not any((ws / "runs").iterdir())


def test_run_refuses_unknown_notebook_and_bad_options(demo_copy, capsys):
    ws = demo_copy("connection-leak")
    assert_one_line_error(run(capsys, "run", str(ws), "--notebooks", "99_nope")[2], "not found")
    assert_one_line_error(run(capsys, "run", str(ws), "--parallel", "0")[2], "parallel")
    assert_one_line_error(run(capsys, "run", str(ws), "--timeout", "-1")[2], "timeout")


def test_verify_good_and_tampered(demo_copy, capsys):
    ws = demo_copy("connection-leak")
    code, out, _ = run(capsys, "evidence", "verify", str(ws))
    assert code == 0 and "evidence ok" in out
    victim = sorted((ws / "evidence").glob("*.parquet"))[1]
    victim.write_bytes(victim.read_bytes()[:-10])
    code, _, err = run(capsys, "evidence", "verify", str(ws))
    assert code == 1 and victim.name in err and "Traceback" not in err


def test_run_on_tampered_evidence_is_refused_before_running(demo_copy, capsys):
    """A post-mortem over changed evidence would mislead: refuse, name the file."""
    ws = demo_copy("connection-leak")
    victim = next((ws / "evidence").glob("*-kubernetes-rollouts.parquet"))
    victim.write_bytes(victim.read_bytes() + b"x")
    code, out, err = run(capsys, "run", str(ws), "--notebooks", "02_assess")
    assert code == 1 and out == ""
    assert_one_line_error(err, victim.name)
    assert not any((ws / "runs").iterdir())


def test_verify_refuses_a_folder_that_is_not_a_workspace(tmp_path, capsys):
    code, _, err = run(capsys, "evidence", "verify", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "not an incident workspace")


def test_notebook_reading_tampered_evidence_degrades_its_section(demo_copy):
    """Interactive use reads lazily: the section that reads a changed file says so."""
    from incident_lib import start_runbook

    ws = demo_copy("connection-leak")
    victim = next((ws / "evidence").glob("*-kubernetes-rollouts.parquet"))
    victim.write_bytes(victim.read_bytes() + b"x")
    rb = start_runbook("02_assess", workspace=str(ws))
    assert rb.evidence("kubernetes", "rollouts").empty
    assert "does not match its manifest hash" in rb.unavailable["kubernetes/rollouts"]
    assert len(rb.evidence("kubernetes", "logs")) > 0


def test_no_traceback_from_the_real_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "incident_lib.cli", "run", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "does not exist" in proc.stderr


def test_new_refuses_a_file_as_workspace_and_mixed_severity(tmp_path, capsys):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    code, _, err = run(capsys, *NEW, "--workspace", str(afile))
    assert code == 2
    assert_one_line_error(err, "exists and is not a folder")
    code, _, err = run(
        capsys, *NEW, "--severity", "SEV-1", "--impact", "minor", "--workspace", str(tmp_path / "w")
    )
    assert code == 2
    assert_one_line_error(err, "not both")
    code, _, err = run(
        capsys, *NEW, "--detected", "2026-11-03T13:00:00Z", "--workspace", str(tmp_path / "w")
    )
    assert code == 2
    assert_one_line_error(err, "is before window.start")
    assert not (tmp_path / "w").exists()


def test_new_prints_the_next_command(tmp_path, capsys):
    ws = tmp_path / "INC"
    code, out, err = run(capsys, *NEW, "--severity", "SEV-2", "--workspace", str(ws))
    assert code == 0 and out.strip() == str(ws.resolve())
    assert f"incident run {ws.resolve()} --mode live" in err


def test_offline_run_without_evidence_is_refused_before_running(tmp_path, capsys):
    """An offline run over nothing would build an all-empty bundle: say how to capture."""
    ws = tmp_path / "INC"
    run(capsys, *NEW, "--workspace", str(ws))
    code, out, err = run(capsys, "run", str(ws))
    assert code == 2 and out == ""
    assert_one_line_error(err, "has no evidence captured")
    assert f"incident run {ws.resolve()} --mode live" in err and "KUBECONFIG" in err
    assert not (ws / "runs").exists() or not any((ws / "runs").iterdir())


def test_require_names_known_sources_only(demo_copy, capsys):
    ws = demo_copy("connection-leak")
    code, _, err = run(capsys, "run", str(ws), "--require", "kubernets")
    assert code == 2
    assert_one_line_error(err, "--require 'kubernets' is not a source")
    assert not any((ws / "runs").iterdir())


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        ((), ["exit codes:", "KUBECONFIG", "DD_API_KEY", "PROMETHEUS_URL", "--mode live"]),
        (
            ("new",),
            ["exit codes:", "SEV-1, SEV-2", "complete-outage", "default: incidents/<ID>"],
        ),
        (
            ("run",),
            [
                "{live,offline}",
                "(default: offline)",
                "(default: 2)",
                "(default: 600",
                "--require",
                "exit codes:",
                "  2 ",
                "KUBECONFIG",
                "DD_APP_KEY",
                "PROMETHEUS_TOKEN",
                "INCIDENT_GIT_REPO",
            ],
        ),
        (
            ("demo",),
            ["connection-leak, traffic-surge", "(default: connection-leak)", "exit codes:"],
        ),
        (("evidence", "verify"), ["exit codes:"]),
        (("evidence", "list"), ["exit codes:"]),
    ],
)
def test_help_shows_defaults_choices_credentials_and_exit_codes(capsys, argv, fragments):
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for fragment in fragments:
        assert " ".join(fragment.split()) in text, fragment


def test_a_reader_that_stops_early_is_not_an_internal_error(demo_root):
    """`incident evidence list WS | head -1`: the pipe closes; exit quietly, no error line."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "incident_lib.cli",
            "evidence",
            "list",
            str(demo_root / "connection-leak"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.parametrize("ok", [True, False])
def test_the_console_command_keeps_exit_code_output_and_exit_handlers(tmp_path, ok):
    """`incident` skips the interpreter's module teardown, nothing else: exit handlers run,
    buffered output is written, and the exit code is main's."""
    marker = tmp_path / "handler-ran"
    ws = tmp_path / "INC"
    argv = [*NEW, "--severity", "SEV-2", "--workspace", str(ws)] if ok else ["run", str(ws)]
    script = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n"
        "print('buffered before the command')\n"
        f"sys.argv = ['incident', *{argv!r}]\n"
        "from incident_lib.cli import command\n"
        "command()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == (0 if ok else 2), proc.stderr
    assert proc.stdout.startswith("buffered before the command\n")
    if ok:
        assert proc.stdout.splitlines()[1] == str(ws.resolve())
    else:
        assert proc.stderr.startswith("incident: error:") and "does not exist" in proc.stderr
    assert marker.read_text() == "yes"
