"""Multi-row secrets in logs frames: a PEM key or a service-account JSON key over several rows."""

from __future__ import annotations

import pandas as pd
import pytest

from incident_lib.infra.redact import REDACTED, redact_frame

BODY = ["MIIEowIBAAKCAQEA7bq98kMEZVpYN5aDEMo", "qXoE+u0Ky3yqgP7dTvz0h8Sgm3jl0bE=="]


def _logs(rows: list[tuple[str, str, str]], dtype: str = "str") -> pd.DataFrame:
    """A frame with the logs contract; ``raw`` is the message behind a timestamp."""
    df = pd.DataFrame(
        {
            "time": pd.date_range("2026-11-26T14:00Z", periods=len(rows), freq="s"),
            "pod": [r[0] for r in rows],
            "container": [r[1] for r in rows],
            "level": "info",
            "message": [r[2] for r in rows],
            "raw": [f"2026-11-26T14:00:00Z stdout F {r[2]}" for r in rows],
        }
    )
    return df.astype({c: dtype for c in ("pod", "container", "level", "message", "raw")})


def _pem_rows() -> list[tuple[str, str, str]]:
    return [
        ("api-1", "app", "loading signing key"),
        ("api-1", "app", "-----BEGIN RSA PRIVATE KEY-----"),
        ("api-2", "app", "GET /healthz 200"),  # another pod in between
        ("api-1", "app", BODY[0]),
        ("api-1", "sidecar", "proxy ready"),  # another container in between
        ("api-1", "app", BODY[1]),
        ("api-1", "app", "-----END RSA PRIVATE KEY-----"),
        ("api-1", "app", "key loaded, serving"),
    ]


@pytest.mark.parametrize("dtype", ["str", "string[python]", "object"])
def test_pem_block_over_rows_goes_whole(dtype: str) -> None:
    df = _logs(_pem_rows(), dtype)
    out = redact_frame(df)
    assert list(out.dtypes) == list(df.dtypes)
    assert out["time"].equals(df["time"]) and list(out.index) == list(df.index)
    messages = out["message"].tolist()
    assert messages == [
        "loading signing key",
        "-----BEGIN RSA PRIVATE KEY-----" + REDACTED,
        "GET /healthz 200",
        REDACTED,
        "proxy ready",
        REDACTED,
        REDACTED + "-----END RSA PRIVATE KEY-----",
        "key loaded, serving",
    ]
    text = "\n".join(out["message"].tolist() + out["raw"].tolist())
    for line in BODY:
        assert line not in text
    assert out["raw"][3] == f"2026-11-26T14:00:00Z stdout F {REDACTED}"
    assert out["raw"][7] == df["raw"][7]


def test_pem_block_of_another_container_is_not_joined() -> None:
    rows = [
        ("api-1", "app", "-----BEGIN PRIVATE KEY-----"),
        ("api-1", "other", "GET /x 200"),
        ("api-1", "other", "plainword"),
    ]
    out = redact_frame(_logs(rows))
    assert out["message"].tolist()[1:] == ["GET /x 200", "plainword"]


def test_pem_block_stops_at_a_row_that_is_not_key_body() -> None:
    rows = [
        ("p", "c", "-----BEGIN EC PRIVATE KEY-----"),
        ("p", "c", BODY[0]),
        ("p", "c", "request served in 12 ms"),  # cut off: the block ends here
    ]
    out = redact_frame(_logs(rows))
    assert out["message"].tolist() == [
        "-----BEGIN EC PRIVATE KEY-----" + REDACTED,
        REDACTED,
        "request served in 12 ms",
    ]


SERVICE_ACCOUNT = [
    "{",
    '  "type": "service_account",',
    '  "project_id": "shop-prod",',
    '  "private_key_id": "8f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",',
    '  "private_key": "-----BEGIN PRIVATE KEY-----',
    BODY[0],
    BODY[1],
    '-----END PRIVATE KEY-----\\n",',
    '  "client_email": "deployer@shop-prod.iam.gserviceaccount.com",',
    '  "client_id": "109876543210987654321"',
    "}",
]


def test_service_account_json_over_rows_goes_whole() -> None:
    rows = [
        ("job", "init", "reading key file"),
        *(("job", "init", line) for line in SERVICE_ACCOUNT),
    ]
    rows.append(("job", "init", "authenticated"))
    out = redact_frame(_logs(rows))
    messages = out["message"].tolist()
    assert messages[0] == "reading key file"
    assert messages[-1] == "authenticated"
    assert messages[1:-1] == [REDACTED] * len(SERVICE_ACCOUNT)
    text = "\n".join(messages + out["raw"].tolist())
    for secret in ("8f3c2a1b9d8e7f6a", *BODY, "shop-prod"):
        assert secret not in text


def test_one_row_service_account_key_keeps_its_row() -> None:
    line = (
        '{"type": "service_account", "project_id": "shop", "private_key_id": "8f3c2a1b9d8e7f6a",'
        ' "client_email": "x@shop.iam.gserviceaccount.com"}'
    )
    out = redact_frame(_logs([("p", "c", line)]))
    assert out["message"][0] == line.replace("8f3c2a1b9d8e7f6a", REDACTED)


def test_frames_without_the_logs_contract_are_not_joined() -> None:
    df = pd.DataFrame({"message": ["-----BEGIN PRIVATE KEY-----", "MIIEowIBAAKC"]}, dtype="str")
    out = redact_frame(df)
    assert out["message"].tolist() == df["message"].tolist()
