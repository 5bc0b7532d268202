"""Optional Ed25519 signatures of the evidence head, for teams that want non-repudiation.

A bundle records the head of the evidence it was made from (``run.json``:
``evidence_head``). When ``INCIDENT_SIGNING_KEY`` names a PEM Ed25519 private
key, :func:`sign_head` signs that head, and the bundle stores the signature as
``evidence_head_signature``; ``incident evidence verify WS --bundle RUN_DIR
--public-key PUB.pem`` checks it (:func:`verify_head_signature`).

Create a key pair with::

    openssl genpkey -algorithm ed25519 -out incident-signing.pem
    openssl pkey -in incident-signing.pem -pubout -out incident-signing.pub.pem

Signing needs the optional ``cryptography`` package
(``pip install 'incident-runbooks[signing]'``); everything else works without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import EvidenceIntegrityError, InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from .evidence import EvidenceHead

__all__ = [
    "ALGORITHM",
    "SIGNING_KEY_ENV",
    "check_signing_key",
    "head_message",
    "sign_head",
    "verify_head_signature",
]

#: the environment variable naming the PEM private key that signs evidence heads
SIGNING_KEY_ENV = "INCIDENT_SIGNING_KEY"
ALGORITHM = "ed25519"
#: a key file is a few hundred bytes; anything far larger is not one
_MAX_KEY_BYTES = 64 * 1024
_CONTEXT = b"incident-runbooks evidence head v1\n"
_INSTALL = "pip install 'incident-runbooks[signing]'"
_GENERATE = "openssl genpkey -algorithm ed25519 -out KEY.pem"


def head_message(head: EvidenceHead) -> bytes:
    """The bytes signed for ``head``: a fixed context line, then ``COUNT:HASH``."""
    return _CONTEXT + str(head).encode("ascii")


def _require_cryptography() -> None:
    try:
        import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
    except ImportError:
        raise InvalidInput(
            "signing evidence heads needs the optional 'cryptography' package: "
            f"{_INSTALL} (or unset {SIGNING_KEY_ENV} to run without signing)"
        ) from None


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"{what} {path} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{what} {path} is not a regular file")
    if st.st_size > _MAX_KEY_BYTES:
        raise InvalidInput(f"{what} {path} is too large to be a PEM key")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{what} {path} cannot be read ({exc.strerror})") from None


def _key_id(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _signing_key_path(env: Mapping[str, str] | None) -> Path | None:
    value = (os.environ if env is None else env).get(SIGNING_KEY_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    what = f"the signing key ({SIGNING_KEY_ENV})"
    data = _read_key_file(path, what)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InvalidInput(
            f"{what} {path} is encrypted; use an unencrypted key file readable only by you "
            f"(chmod 600), e.g. {_GENERATE}"
        ) from None
    except (ValueError, binascii.Error):
        raise InvalidInput(
            f"{what} {path} is not a PEM private key; create one with {_GENERATE}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{what} {path} is not an Ed25519 key; create one with {_GENERATE}")
    return key


def check_signing_key(env: Mapping[str, str] | None = None) -> bool:
    """Check the configured signing key before a run starts.

    Parameters
    ----------
    env
        The environment to read ``INCIDENT_SIGNING_KEY`` from (default: ``os.environ``).

    Returns
    -------
    bool
        Whether a signing key is configured (and loads).

    Raises
    ------
    InvalidInput
        When the key is configured but missing, unreadable, not an Ed25519 PEM
        private key, or ``cryptography`` is not installed.
    """
    path = _signing_key_path(env)
    if path is None:
        return False
    _load_private_key(path)
    return True


def sign_head(head: EvidenceHead, env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """Sign ``head`` with the key named by ``INCIDENT_SIGNING_KEY``, if any.

    Parameters
    ----------
    head
        The evidence head a bundle records.
    env
        The environment to read ``INCIDENT_SIGNING_KEY`` from (default: ``os.environ``).

    Returns
    -------
    dict or None
        ``None`` when no key is configured; otherwise the JSON-ready signature
        stored in ``run.json`` as ``evidence_head_signature``: ``algorithm``
        (``"ed25519"``), ``head`` (``COUNT:HASH``), ``key_id`` (the first 16 hex
        digits of the sha256 of the raw public key) and ``signature`` (base64).

    Raises
    ------
    InvalidInput
        When a key is configured but cannot be used (see :func:`check_signing_key`).
    """
    path = _signing_key_path(env)
    if path is None:
        return None
    key = _load_private_key(path)
    signature = key.sign(head_message(head))
    return {
        "algorithm": ALGORITHM,
        "head": str(head),
        "key_id": _key_id(key.public_key()),
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def verify_head_signature(
    head: EvidenceHead, signature: Mapping[str, Any], public_key: str | os.PathLike[str]
) -> str:
    """Check that ``signature`` signs ``head`` with the key in ``public_key``.

    Parameters
    ----------
    head
        The head the bundle recorded (``evidence_head``).
    signature
        The bundle's ``evidence_head_signature``.
    public_key
        Path of the PEM Ed25519 public key.

    Returns
    -------
    str
        The key id of the key that signed.

    Raises
    ------
    InvalidInput
        When the public key cannot be used, or ``cryptography`` is not installed.
    EvidenceIntegrityError
        When the signature is malformed or does not verify.
    """
    _require_cryptography()
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(public_key).expanduser()
    data = _read_key_file(path, "the public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, binascii.Error):
        raise InvalidInput(
            f"the public key {path} is not a PEM public key; derive it from the signing key "
            "with `openssl pkey -in KEY.pem -pubout -out PUB.pem`"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"the public key {path} is not an Ed25519 key")
    if not isinstance(signature, Mapping) or signature.get("algorithm") != ALGORITHM:
        raise EvidenceIntegrityError(f"the evidence head signature is not an {ALGORITHM} signature")
    if signature.get("head") not in (None, str(head)):
        raise EvidenceIntegrityError(
            "the evidence head signature was made for another head than the one recorded"
        )
    try:
        raw = base64.b64decode(str(signature.get("signature", "")), validate=True)
    except (ValueError, binascii.Error):
        raise EvidenceIntegrityError("the evidence head signature is not base64") from None
    try:
        key.verify(raw, head_message(head))
    except InvalidSignature:
        raise EvidenceIntegrityError(
            f"the evidence head signature does not verify with {path}: the head or the "
            "signature was changed, or another key signed it"
        ) from None
    return _key_id(key)
