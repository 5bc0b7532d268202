"""Tampering with the evidence store: each is detected against the head a bundle recorded.

Every manifest line is protected by the next line's ``prev``; the last line and
the number of lines only by the head (count + hash of the last line) that a
bundle records in ``run.json``. Each tampering below is detected by
``verify(head)`` and by ``incident evidence verify WS --head COUNT:HASH`` (exit 1,
never a traceback, never exit 70); those marked *also without a head* are
detected by a plain ``verify()`` too. The others (marked *head only*) are the
tail attacks that issue 10 found undetected: without a head, ``verify`` says
the tail is unanchored instead of "ok".

1.  edit a middle file (one byte)                         also without a head
2.  edit the last file and update its sha256              head only
3.  edit the last line's fetched_at                       head only
4.  delete the last N captures with their files           head only
5.  delete the manifest and every file ("0 captures")     head only
6.  delete the whole evidence/ folder                     head only
7.  rebuild the chain after editing a middle file         head only
8.  replace a file by a symlink out of the workspace      also without a head
9.  add a file (a Parquet file, a folder, any name)       also without a head
10. truncate the manifest in the middle of a line         also without a head
11. reorder two lines                                     also without a head
12. duplicate a line                                      also without a head
13. change a line's prev                                  also without a head
14. change a line's seq                                   also without a head
15. swap two files                                        also without a head
16. empty a file                                          also without a head
17. chmod tricks: a file, the manifest or evidence/ unreadable (permission
    denied is a clear problem, not a crash)               also without a head
18. the manifest as a directory, a symlink, a FIFO; evidence/ as a symlink
                                                          also without a head
19. garbage bytes, not JSON, wrong fields, an oversized line or manifest, a file
    name pointing out of evidence/                        also without a head
20. edit a middle line (rows), or the last line's layout  also without a head
21. delete a middle capture (line and file)               also without a head
22. a symlinked capture lock                              also without a head

Beyond the head: captures appended after a bundle was made do not fail
verification (a later run captures more), but the report counts them as not
anchored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from incident_lib import EvidenceIntegrityError, EvidenceStore
from incident_lib.cli import main
from incident_lib.infra import evidence as evidence_mod
from incident_lib.infra.evidence import GENESIS, EvidenceHead


def _frame(n: int, tag: str = "x") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.date_range("2026-11-03", periods=n, freq="1s", tz="UTC"),
            "message": [f"{tag} {i}" for i in range(n)],
        }
    )


@pytest.fixture
def store(tmp_path) -> EvidenceStore:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "incident.yaml").write_text("id: INC-1\n")
    s = EvidenceStore(ws, create=True)
    for i, name in enumerate(("logs", "events", "rollouts", "pods")):
        s.capture(_frame(3 + i, name), source="kubernetes", name=name, query={"n": i})
    return s


def _read(store: EvidenceStore) -> list[dict]:
    return [json.loads(line) for line in store.manifest_path.read_text().splitlines()]


def _write(store: EvidenceStore, entries: list[dict], *, rechain: bool = False) -> None:
    """Write manifest lines in the store's canonical form, optionally re-chaining them."""
    prev, out = GENESIS, []
    for entry in entries:
        if rechain:
            entry["prev"] = prev
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        prev = hashlib.sha256(line.encode()).hexdigest()
        out.append(line)
    store.manifest_path.write_text("".join(line + "\n" for line in out))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(store: EvidenceStore) -> list[Path]:
    return [store.root / e["file"] for e in _read(store)]


# -- the tamperings: each takes the store, a folder outside it, and monkeypatch ------------------
Tamper = Callable[[EvidenceStore, Path, pytest.MonkeyPatch], None]


def edit_middle_file(store, outside, mp):
    path = _files(store)[1]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_last_file_and_its_sha(store, outside, mp):
    entries = _read(store)
    last = store.root / entries[-1]["file"]
    other = EvidenceStore(outside, create=True)
    forged = other.capture(_frame(9, "forged"), source="kubernetes", name="pods")
    shutil.copyfile(other.root / forged.file, last)
    entries[-1]["sha256"] = _sha(last)
    _write(store, entries)


def edit_last_fetched_at(store, outside, mp):
    entries = _read(store)
    entries[-1]["fetched_at"] = "2020-01-01T00:00:00Z"
    _write(store, entries)


def delete_last_two_with_files(store, outside, mp):
    entries = _read(store)
    for entry in entries[-2:]:
        (store.root / entry["file"]).unlink()
    _write(store, entries[:-2])


def delete_everything(store, outside, mp):
    for path in _files(store):
        path.unlink()
    store.manifest_path.unlink()


def delete_evidence_folder(store, outside, mp):
    shutil.rmtree(store.root)


def rebuild_the_chain(store, outside, mp):
    entries = _read(store)
    path = store.root / entries[1]["file"]
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    entries[1]["sha256"] = _sha(path)
    _write(store, entries, rechain=True)


def symlink_a_file_out(store, outside, mp):
    path = _files(store)[2]
    copy = outside / path.name
    shutil.copyfile(path, copy)  # same bytes: only the link gives it away
    path.unlink()
    path.symlink_to(copy)


def add_a_parquet_file(store, outside, mp):
    shutil.copyfile(_files(store)[0], store.root / "0099-kubernetes-logs.parquet")


def add_a_folder(store, outside, mp):
    (store.root / "extra").mkdir()


def add_a_text_file(store, outside, mp):
    (store.root / "notes.txt").write_text("planted")


def truncate_manifest_mid_line(store, outside, mp):
    data = store.manifest_path.read_bytes()
    store.manifest_path.write_bytes(data[:-40])


def reorder_lines(store, outside, mp):
    lines = store.manifest_path.read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    store.manifest_path.write_text("\n".join(lines) + "\n")


def duplicate_a_line(store, outside, mp):
    lines = store.manifest_path.read_text().splitlines()
    store.manifest_path.write_text("\n".join([*lines[:2], lines[1], *lines[2:]]) + "\n")


def duplicate_the_last_line(store, outside, mp):
    lines = store.manifest_path.read_text().splitlines()
    store.manifest_path.write_text("\n".join([*lines, lines[-1]]) + "\n")


def change_prev(store, outside, mp):
    entries = _read(store)
    entries[-1]["prev"] = "f" * 64
    _write(store, entries)


def change_seq(store, outside, mp):
    entries = _read(store)
    entries[-1]["seq"] = 7
    entries[-1]["file"] = "0007-kubernetes-pods.parquet"
    os.rename(store.root / "0004-kubernetes-pods.parquet", store.root / entries[-1]["file"])
    _write(store, entries)


def swap_two_files(store, outside, mp):
    a, b = _files(store)[:2]
    tmp = a.with_suffix(".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def empty_a_file(store, outside, mp):
    _files(store)[-1].write_bytes(b"")


def _deny(mp: pytest.MonkeyPatch, victim: Path) -> None:
    """chmod 000 as the test sees it (the suite may run as root, which ignores modes)."""
    real_open, real_scandir = os.open, os.scandir

    def fake_open(path, flags, *args, **kwargs):
        if Path(path) == victim:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    def fake_scandir(path="."):
        if Path(path) == victim:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    os.chmod(victim, 0)
    mp.setattr(evidence_mod.os, "open", fake_open)
    mp.setattr(evidence_mod.os, "scandir", fake_scandir)


def chmod_a_file(store, outside, mp):
    _deny(mp, _files(store)[1])


def chmod_the_manifest(store, outside, mp):
    _deny(mp, store.manifest_path)


def chmod_the_evidence_folder(store, outside, mp):
    _deny(mp, store.root)


def manifest_as_directory(store, outside, mp):
    store.manifest_path.unlink()
    store.manifest_path.mkdir()


def manifest_as_symlink(store, outside, mp):
    copy = outside / "manifest.jsonl"
    shutil.copyfile(store.manifest_path, copy)
    store.manifest_path.unlink()
    store.manifest_path.symlink_to(copy)


def manifest_as_fifo(store, outside, mp):
    store.manifest_path.unlink()
    os.mkfifo(store.manifest_path)


def evidence_as_symlink(store, outside, mp):
    copy = outside / "evidence"
    shutil.copytree(store.root, copy)
    shutil.rmtree(store.root)
    store.root.symlink_to(copy)


def garbage_bytes(store, outside, mp):
    with store.manifest_path.open("ab") as fh:
        fh.write(b"\x00\xff\xfe binary \x80\n")


def garbage_not_json(store, outside, mp):
    lines = store.manifest_path.read_text().splitlines()
    lines[1] = "this is not json"
    store.manifest_path.write_text("\n".join(lines) + "\n")


def garbage_wrong_fields(store, outside, mp):
    entries = _read(store)
    entries[-1]["rows"] = "many"
    entries[-1]["extra"] = 1
    _write(store, entries)


def garbage_huge_line(store, outside, mp):
    with store.manifest_path.open("a") as fh:
        fh.write("x" * (evidence_mod.MAX_LINE_BYTES + 1) + "\n")


def garbage_huge_manifest(store, outside, mp):
    mp.setattr(evidence_mod, "MAX_MANIFEST_BYTES", 100)


def file_name_out_of_evidence(store, outside, mp):
    entries = _read(store)
    entries[-1]["file"] = "../../../etc/passwd"
    _write(store, entries)


def edit_middle_line(store, outside, mp):
    text = store.manifest_path.read_text().replace('"rows":4', '"rows":40', 1)
    store.manifest_path.write_text(text)


def reformat_last_line(store, outside, mp):
    lines = store.manifest_path.read_text().splitlines()
    lines[-1] = json.dumps(json.loads(lines[-1]), indent=None)  # same data, other layout
    store.manifest_path.write_text("\n".join(lines) + "\n")


def delete_a_middle_capture(store, outside, mp):
    entries = _read(store)
    (store.root / entries[1]["file"]).unlink()
    _write(store, [entries[0], *entries[2:]])


def symlink_the_lock(store, outside, mp):
    (store.root / ".lock").unlink()
    (store.root / ".lock").symlink_to(outside / "lock")


#: (tampering, detected without a head too)
TAMPERINGS: list[tuple[Tamper, bool]] = [
    (edit_middle_file, True),
    (edit_last_file_and_its_sha, False),
    (edit_last_fetched_at, False),
    (delete_last_two_with_files, False),
    (delete_everything, False),
    (delete_evidence_folder, False),
    (rebuild_the_chain, False),
    (symlink_a_file_out, True),
    (add_a_parquet_file, True),
    (add_a_folder, True),
    (add_a_text_file, True),
    (truncate_manifest_mid_line, True),
    (reorder_lines, True),
    (duplicate_a_line, True),
    (duplicate_the_last_line, True),
    (change_prev, True),
    (change_seq, True),
    (swap_two_files, True),
    (empty_a_file, True),
    (chmod_a_file, True),
    (chmod_the_manifest, True),
    (chmod_the_evidence_folder, True),
    (manifest_as_directory, True),
    (manifest_as_symlink, True),
    (manifest_as_fifo, True),
    (evidence_as_symlink, True),
    (garbage_bytes, True),
    (garbage_not_json, True),
    (garbage_wrong_fields, True),
    (garbage_huge_line, True),
    (garbage_huge_manifest, True),
    (file_name_out_of_evidence, True),
    (edit_middle_line, True),
    (reformat_last_line, True),
    (delete_a_middle_capture, True),
    (symlink_the_lock, True),
]


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("tamper", "without_head"), TAMPERINGS, ids=[t.__name__ for t, _ in TAMPERINGS]
)
def test_tampering_is_detected(store, tmp_path, monkeypatch, capsys, tamper, without_head):
    outside = tmp_path / "outside"
    outside.mkdir()
    head = store.head()
    assert store.verify(head).ok
    tamper(store, outside, monkeypatch)

    report = store.verify(head)
    assert not report.ok, report
    code, out, err = _cli(capsys, "evidence", "verify", str(store.workspace), "--head", str(head))
    assert code == 1, (out, err)
    assert "Traceback" not in err and "internal error" not in err and "FAIL" in err

    plain = store.verify()
    if without_head:
        assert not plain.ok
        assert _cli(capsys, "evidence", "verify", str(store.workspace))[0] == 1
    else:  # the tail is not anchored without a head, and the report says so
        assert not plain.ok or "pass --head or --bundle" in plain.summary()


def test_the_untouched_store_verifies_against_its_head(store):
    report = store.verify(store.head())
    assert report.ok and report.unanchored == 0
    assert "up to the recorded head" in report.summary()


def test_without_a_head_the_tail_is_called_unanchored(store, capsys):
    code, out, _ = _cli(capsys, "evidence", "verify", str(store.workspace))
    assert code == 0
    assert "verified 4 captures; pass --head or --bundle to check the last one" in out
    assert f"head: {store.head()}" in out


def test_captures_after_the_head_are_counted_as_unanchored(store, capsys):
    head = store.head()
    store.capture(_frame(2), source="datadog", name="metrics")
    report = store.verify(head)
    assert report.ok and report.unanchored == 1
    assert "the last 1 were captured after it" in report.summary()
    code, out, _ = _cli(capsys, "evidence", "verify", str(store.workspace), "--head", str(head))
    assert code == 0 and "not anchored" in out


def test_a_head_from_another_store_does_not_verify(store, tmp_path):
    other = EvidenceStore(tmp_path / "other", create=True)
    other.capture(_frame(4), source="kubernetes", name="logs")
    assert not store.verify(other.head()).ok


def test_a_real_unreadable_file_is_a_problem_not_a_crash(store):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    victim = _files(store)[0]
    victim.chmod(0)
    try:
        assert any("permission denied" in p for p in store.verify().problems)
    finally:
        victim.chmod(0o644)


def test_a_fifo_manifest_never_blocks_a_reader(store):
    store.manifest_path.unlink()
    os.mkfifo(store.manifest_path)
    with pytest.raises(EvidenceIntegrityError, match="not a regular file"):
        store.entries()
    with pytest.raises(EvidenceIntegrityError, match="not a regular file"):
        store.head()


@pytest.mark.parametrize(
    "tamper",
    [
        garbage_bytes,
        garbage_not_json,
        garbage_wrong_fields,
        garbage_huge_line,
        manifest_as_symlink,
        manifest_as_directory,
        evidence_as_symlink,
    ],
)
def test_a_garbage_manifest_names_file_line_and_fix(store, tmp_path, monkeypatch, capsys, tamper):
    outside = tmp_path / "outside"
    outside.mkdir()
    tamper(store, outside, monkeypatch)
    for argv in (("evidence", "list"), ("evidence", "verify")):
        code, _, err = _cli(capsys, *argv, str(store.workspace))
        assert code == 1, err
        assert "Traceback" not in err and "internal error" not in err
        assert "manifest.jsonl" in err or "evidence" in err
    if tamper in (garbage_bytes, garbage_not_json, garbage_wrong_fields, garbage_huge_line):
        with pytest.raises(EvidenceIntegrityError, match=r"manifest\.jsonl: line \d+ .*restore"):
            store.entries()


def test_reading_never_follows_a_symlinked_file(store, tmp_path):
    symlink_a_file_out(store, tmp_path, pytest.MonkeyPatch())
    entry = store.entries()[2]
    with pytest.raises(EvidenceIntegrityError, match="symbolic link"):
        store.read_entry(entry)


def test_capture_refuses_a_symlinked_evidence_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "evidence").symlink_to(outside)
    with pytest.raises(EvidenceIntegrityError, match="symbolic link"):
        EvidenceStore(ws, create=True).capture(_frame(1), source="kubernetes", name="logs")
    assert list(outside.iterdir()) == []


def test_capture_refuses_a_symlinked_lock(store, tmp_path):
    symlink_the_lock(store, tmp_path, pytest.MonkeyPatch())
    with pytest.raises(EvidenceIntegrityError, match="symbolic link"):
        store.capture(_frame(1), source="kubernetes", name="logs")
    assert not (tmp_path / "lock").exists()


def test_empty_store_head_and_verify(tmp_path):
    empty = EvidenceStore(tmp_path, create=True)
    assert empty.head() == EvidenceHead(0, GENESIS)
    report = empty.verify(empty.head())
    assert report.ok and report.entries == 0
    assert "none were deleted" in empty.verify().summary()
