"""The evidence store: exact round trips, the hash chain, tamper detection, atomicity."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from incident_lib import EvidenceIntegrityError, EvidenceNotFound, EvidenceStore, InvalidInput
from incident_lib.cli import main
from incident_lib.core.schema import conform, empty_frame
from incident_lib.infra.evidence import (
    GENESIS,
    RUN_HEAD_KEY,
    RUN_SIGNATURE_KEY,
    EvidenceHead,
    ManifestEntry,
)
from incident_lib.infra.signing import (
    SIGNING_KEY_ENV,
    check_signing_key,
    sign_head,
    verify_head_signature,
)


def _logs(n: int = 3) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "time": pd.date_range("2026-11-03T14:00:00Z", periods=n, freq="1s"),
                "pod": [f"api-{i}" for i in range(n)],
                "container": ["api"] * n,
                "level": ["error"] * n,
                "message": [f"boom {i}" for i in range(n)],
                "raw": [None] + [f"raw {i}" for i in range(1, n)],
            }
        ),
        "logs",
    )


@pytest.fixture
def store(tmp_path) -> EvidenceStore:
    return EvidenceStore(tmp_path, create=True)


def test_capture_reads_back_exactly(store):
    frame = _logs()
    frame["extra_int"] = [1, 2, 3]
    frame["extra_cat"] = pd.Categorical(["a", "b", "a"])
    store.capture(frame, source="kubernetes", name="logs", query={"namespace": "prod"})
    back = store.read("kubernetes", "logs")
    pd.testing.assert_frame_equal(back, frame)
    assert str(back["time"].dtype) == "datetime64[ns, UTC]"


def test_empty_frame_round_trips(store):
    store.capture(empty_frame("metrics"), source="datadog", name="metrics")
    pd.testing.assert_frame_equal(store.read("datadog", "metrics"), empty_frame("metrics"))


def test_manifest_records_and_chains(store):
    a = store.capture(_logs(), source="kubernetes", name="logs", query={"since": "1h"})
    b = store.capture(_logs(5), source="kubernetes", name="logs")
    lines = store.manifest_path.read_text().splitlines()
    first = json.loads(lines[0])
    assert first["prev"] == "0" * 64 and first["rows"] == 3 and first["query"] == {"since": "1h"}
    assert json.loads(lines[1])["prev"] != first["prev"]
    assert (a.seq, b.seq) == (1, 2)
    assert len(store.read("kubernetes", "logs")) == 5  # the newest capture wins
    assert store.verify().ok


def test_query_secrets_never_reach_the_manifest(store):
    store.capture(
        _logs(),
        source="postgres",
        name="activity",
        query={"dsn": "postgresql://app:hunter2@db:5432/orders"},
    )
    assert "hunter2" not in store.manifest_path.read_text()


def test_missing_capture_names_what_exists(store):
    store.capture(_logs(), source="kubernetes", name="logs")
    with pytest.raises(EvidenceNotFound, match="captured: kubernetes/logs"):
        store.read("datadog", "metrics")


@pytest.mark.parametrize("bad", ["Logs", "a b", "../x", ""])
def test_bad_names_are_refused(store, bad):
    with pytest.raises(InvalidInput):
        store.capture(_logs(), source="kubernetes", name=bad)


def _three(store):
    for name in ("logs", "rollouts", "events"):
        store.capture(_logs(), source="kubernetes", name=name)
    return store.entries()


def test_changed_file_is_detected_and_named(store):
    entries = _three(store)
    path = store.root / entries[1].file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = store.verify()
    assert not report.ok and any(entries[1].file in p and "changed" in p for p in report.problems)
    with pytest.raises(EvidenceIntegrityError, match=entries[1].file):
        store.read("kubernetes", "rollouts")


def test_truncated_file_is_detected(store):
    entries = _three(store)
    path = store.root / entries[0].file
    path.write_bytes(path.read_bytes()[:100])
    assert any(entries[0].file in p for p in store.verify().problems)


def test_removed_file_is_detected(store):
    entries = _three(store)
    (store.root / entries[2].file).unlink()
    assert any(entries[2].file in p and "missing" in p for p in store.verify().problems)


def test_reordered_manifest_is_detected(store):
    _three(store)
    lines = store.manifest_path.read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    store.manifest_path.write_text("\n".join(lines) + "\n")
    assert any("breaks the hash chain" in p for p in store.verify().problems)


def test_removed_manifest_line_is_detected(store):
    entries = _three(store)
    lines = store.manifest_path.read_text().splitlines()
    store.manifest_path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    problems = store.verify().problems
    assert any("breaks the hash chain" in p for p in problems)
    assert any(entries[1].file in p and "not recorded" in p for p in problems)


def test_edited_manifest_line_is_detected(store):
    _three(store)
    text = store.manifest_path.read_text().replace('"rows":3', '"rows":4', 1)
    store.manifest_path.write_text(text)
    assert any("line 2" in p and "hash chain" in p for p in store.verify().problems)


def test_truncated_manifest_is_detected(store):
    _three(store)
    text = store.manifest_path.read_text()
    store.manifest_path.write_text(text[:-40])
    assert not store.verify().ok


def test_failed_capture_leaves_nothing_behind(store, monkeypatch):
    store.capture(_logs(), source="kubernetes", name="logs")
    before = sorted(p.name for p in store.root.iterdir())

    def explode(self, path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", explode)
    with pytest.raises(OSError, match="disk full"):
        store.capture(_logs(), source="kubernetes", name="rollouts")
    assert sorted(p.name for p in store.root.iterdir()) == before
    assert store.verify().ok


def test_the_store_captures_and_reads_but_never_fetches(store):
    """The mode is the runbook's decision (tests/test_runbook_sources.py), not the store's."""
    assert not hasattr(store, "fetch")


def test_read_returns_the_capture(store):
    frame = _logs()
    store.capture(frame, source="kubernetes", name="logs")

    pd.testing.assert_frame_equal(store.read("kubernetes", "logs"), frame)


def test_capture_then_read_entry_returns_the_capture(store):
    frame = _logs()
    entry = store.capture(frame, source="kubernetes", name="logs")

    pd.testing.assert_frame_equal(store.read_entry(entry), frame)
    assert store.has("kubernetes", "logs")


def test_read_entry_returns_its_own_capture_even_if_another_lands(store):
    """Parallel notebooks capture the same frame: each must get what it fetched."""
    mine, theirs = _logs(2), _logs(7)

    entry = store.capture(mine, source="kubernetes", name="logs")
    store.capture(theirs, source="kubernetes", name="logs")

    pd.testing.assert_frame_equal(store.read_entry(entry), mine)
    pd.testing.assert_frame_equal(store.read("kubernetes", "logs"), theirs)


# -- the head: what a bundle records to anchor the chain -----------------------------------------
def test_head_of_an_empty_store_is_genesis(tmp_path):
    assert EvidenceStore(tmp_path).head() == EvidenceHead(0, GENESIS)
    assert EvidenceStore(tmp_path, create=True).head() == EvidenceHead(0, GENESIS)


def test_head_counts_captures_and_hashes_the_last_line(store):
    _three(store)
    last = store.manifest_path.read_bytes().splitlines()[-1]
    head = store.head()
    assert head == EvidenceHead(3, hashlib.sha256(last).hexdigest())
    assert EvidenceHead.from_dict(head.to_dict()) == head
    assert json.loads(json.dumps(head.to_dict())) == {"count": 3, "hash": head.hash}
    assert EvidenceHead.parse(str(head)) == head
    assert store.capture(_logs(), source="kubernetes", name="logs").prev == head.hash


@pytest.mark.parametrize(
    "bad",
    [
        {"count": -1, "hash": "a" * 64},
        {"count": True, "hash": "a" * 64},
        {"count": "3", "hash": "a" * 64},
        {"count": 3, "hash": "xyz"},
        {"count": 3, "hash": GENESIS},
        {"count": 0, "hash": "a" * 64},
        {"count": 3},
        {"count": 3, "hash": "a" * 64, "extra": 1},
        [3, "a" * 64],
    ],
)
def test_bad_heads_are_invalid_input(bad):
    with pytest.raises(InvalidInput):
        EvidenceHead.from_dict(bad)


@pytest.mark.parametrize("bad", ["", "3", "abc:" + "a" * 64, "3:" + "g" * 64, "²:" + "a" * 64])
def test_bad_head_text_is_invalid_input(bad):
    with pytest.raises(InvalidInput, match=r"COUNT:HASH|head"):
        EvidenceHead.parse(bad)


def test_manifest_lines_are_parsed_strictly(store):
    _three(store)
    good = store.manifest_path.read_text().splitlines()[0]
    assert ManifestEntry.from_json(good).to_json() == good
    for field, value in [
        ("seq", True),
        ("source", "Bad Name"),
        ("fetched_at", "yesterday\x1b[31m"),
        ("rows", -1),
        ("columns", [["a"]]),
        ("file", "../outside.parquet"),
        ("sha256", "0" * 63),
        ("prev", None),
        ("query", []),
    ]:
        data = json.loads(good)
        data[field] = value
        with pytest.raises(ValueError):
            ManifestEntry.from_json(json.dumps(data))


def test_capture_refuses_a_query_too_large_to_record(store):
    with pytest.raises(InvalidInput, match="too large"):
        store.capture(_logs(), source="kubernetes", name="logs", query={"q": "x" * 300_000})
    assert store.entries() == [] and not list(store.root.glob("*.parquet"))


# -- the CLI: --head, --bundle, --public-key -------------------------------------------------------
def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _bundle(tmp_path, head: EvidenceHead, signature: dict | None = None) -> str:
    run_dir = tmp_path / "runs" / "20261103-140000"
    run_dir.mkdir(parents=True)
    record: dict = {"state": "complete", RUN_HEAD_KEY: head.to_dict()}
    if signature is not None:
        record[RUN_SIGNATURE_KEY] = signature
    (run_dir / "run.json").write_text(json.dumps(record))
    return str(run_dir)


def test_cli_verify_against_a_bundle_detects_deleted_tail(store, tmp_path, capsys):
    _three(store)
    run_dir = _bundle(tmp_path, store.head())
    code, out, _ = _cli(capsys, "evidence", "verify", str(store.workspace), "--bundle", run_dir)
    assert code == 0 and "up to the recorded head 3:" in out
    lines = store.manifest_path.read_text().splitlines()
    store.manifest_path.write_text(lines[0] + "\n")
    for name in ("0002-kubernetes-rollouts.parquet", "0003-kubernetes-events.parquet"):
        (store.root / name).unlink()
    assert _cli(capsys, "evidence", "verify", str(store.workspace))[0] == 0  # unanchored
    code, _, err = _cli(capsys, "evidence", "verify", str(store.workspace), "--bundle", run_dir)
    assert code == 1 and "the last 2 were deleted" in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--head", "nope"], "COUNT:HASH"),
        (["--bundle", "{tmp}/missing"], "does not exist"),
        (["--bundle", "{tmp}/norecord"], "records no evidence_head"),
        (["--bundle", "{tmp}/garbage"], "cannot be read as a run record"),
        (["--public-key", "{tmp}/pub.pem"], "--bundle"),
    ],
)
def test_cli_verify_bad_anchors_are_exit_2(store, tmp_path, capsys, argv, fragment):
    _three(store)
    (tmp_path / "norecord").mkdir()
    (tmp_path / "norecord" / "run.json").write_text('{"state": "running"}')
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "run.json").write_bytes(b"\xff\xfe\x00")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = _cli(capsys, "evidence", "verify", str(store.workspace), *argv)
    assert code == 2, err
    assert fragment in err and len(err.strip().splitlines()) == 1


def _keys(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = tmp_path / "key.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_signed_head_verifies_and_a_forged_one_does_not(store, tmp_path, capsys, monkeypatch):
    _three(store)
    private, public = _keys(tmp_path)
    assert sign_head(store.head(), env={}) is None
    monkeypatch.setenv(SIGNING_KEY_ENV, str(private))
    assert check_signing_key() is True
    head = store.head()
    signature = sign_head(head)
    assert signature is not None and signature["algorithm"] == "ed25519"
    run_dir = _bundle(tmp_path, head, signature)
    ws = str(store.workspace)
    code, out, _ = _cli(
        capsys, "evidence", "verify", ws, "--bundle", run_dir, "--public-key", str(public)
    )
    assert code == 0 and "signature ok" in out

    # rebuild the evidence and the run.json head: the signature no longer matches
    store.capture(_logs(), source="kubernetes", name="logs")
    forged = json.loads((Path(run_dir) / "run.json").read_text())
    forged[RUN_HEAD_KEY] = store.head().to_dict()
    (Path(run_dir) / "run.json").write_text(json.dumps(forged))
    code, _, err = _cli(
        capsys, "evidence", "verify", ws, "--bundle", run_dir, "--public-key", str(public)
    )
    assert code == 1 and "another head" in err

    forged[RUN_SIGNATURE_KEY]["head"] = str(store.head())
    (Path(run_dir) / "run.json").write_text(json.dumps(forged))
    code, _, err = _cli(
        capsys, "evidence", "verify", ws, "--bundle", run_dir, "--public-key", str(public)
    )
    assert code == 1 and "does not verify" in err

    (tmp_path / "other").mkdir()
    _, other_public = _keys(tmp_path / "other")
    verify_head_signature(head, signature, public)
    with pytest.raises(EvidenceIntegrityError, match="does not verify"):
        verify_head_signature(head, signature, other_public)


def test_an_unsigned_bundle_fails_a_signature_check(store, tmp_path, capsys):
    _three(store)
    _, public = _keys(tmp_path)
    run_dir = _bundle(tmp_path, store.head())
    code, _, err = _cli(
        capsys,
        "evidence",
        "verify",
        str(store.workspace),
        "--bundle",
        run_dir,
        "--public-key",
        str(public),
    )
    assert code == 1 and "not signed" in err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"not a key", "not a PEM private key"), (None, "does not exist"), ("rsa", "not an Ed25519")],
)
def test_unusable_signing_keys_are_named(tmp_path, content, fragment):
    path = tmp_path / "key.pem"
    if content == "rsa":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        content = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInput, match=fragment):
        sign_head(EvidenceHead(0, GENESIS), env={SIGNING_KEY_ENV: str(path)})


def test_signing_without_cryptography_says_how_to_install(tmp_path, monkeypatch):
    private, public = _keys(tmp_path)
    for name in list(sys.modules):
        if name == "cryptography" or name.startswith("cryptography."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(InvalidInput, match=r"incident-runbooks\[signing\]"):
        sign_head(EvidenceHead(0, GENESIS), env={SIGNING_KEY_ENV: str(private)})
    with pytest.raises(InvalidInput, match=r"incident-runbooks\[signing\]"):
        verify_head_signature(EvidenceHead(0, GENESIS), {}, public)


def test_workspace_that_is_a_file_is_named(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    code, _, err = _cli(capsys, "evidence", "list", str(path))
    assert code == 2 and "is a file, not a folder" in err
