"""Tests of incident_lib.infra.redact: the one redaction step."""

from __future__ import annotations

import base64
import random
import subprocess
import sys
from collections import namedtuple

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
)

from incident_lib.infra.redact import (
    REDACTED,
    redact,
    redact_frame,
    redact_notebook,
    redact_obj,
    secret_reason,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
DD_KEY = "0123456789abcdef0123456789abcdef"
DD_APP = "0123456789abcdef0123456789abcdef01234567"
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GOOGLE = "AIza" + "SyA1234567890abcdefghijklmnopqrstuv"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA7bq98kMEZVpYN5aDEMo\n"
    "qXoE+u0Ky3yqgP7dTvz0h8Sgm3jl0bE==\n"
    "-----END RSA PRIVATE KEY-----"
)

# (input, exact expected output): the secret is gone and the key/prefix stays.
CASES = [
    # authorization headers
    ("Authorization: Bearer abc123def456ghi", "Authorization: Bearer [REDACTED]"),
    (f"authorization: bearer {JWT}", "authorization: bearer [REDACTED]"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
    ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic [REDACTED]"),
    (
        "curl -H 'Authorization: Bearer abc123def456' https://api",
        "curl -H 'Authorization: Bearer [REDACTED]' https://api",
    ),
    (
        "{'Authorization': 'Bearer abc123def456', 'Accept': 'json'}",
        "{'Authorization': 'Bearer [REDACTED]', 'Accept': 'json'}",
    ),
    ('"authorization":"Token 9f8e7d6c5b4a"', '"authorization":"Token [REDACTED]"'),
    ("retrying with Bearer abc123def456ghi", "retrying with Bearer [REDACTED]"),
    ("sent basic dXNlcjpwYXNz upstream", "sent basic [REDACTED] upstream"),
    # passwords in DSNs and URLs
    (
        "postgresql://app:s3cr3t@db:5432/orders",
        "postgresql://app:[REDACTED]@db:5432/orders",
    ),
    (
        "connect to postgres://app:S3CR3T@db.internal/orders?sslmode=require failed",
        "connect to postgres://app:[REDACTED]@db.internal/orders?sslmode=require failed",
    ),
    ("https://user:PASS@host.example.com/x", "https://user:[REDACTED]@host.example.com/x"),
    ("redis://:hunter2@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
    ("mysql://root:p@ss@db/app", "mysql://root:[REDACTED]@db/app"),
    # cloud keys
    ("using AKIAIOSFODNN7EXAMPLE for s3", "using AKIA[REDACTED] for s3"),
    ("session ASIAY34FZKBOKMUTVV7A expired", "session ASIA[REDACTED] expired"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [REDACTED]",
    ),
    (
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY=[REDACTED]",
    ),
    (
        '{"AccessKeyId": "ASIAY34FZKBOKMUTVV7A", "SecretAccessKey": "wJalrXUtnFEMI/K7MD"}',
        '{"AccessKeyId": "ASIA[REDACTED]", "SecretAccessKey": "[REDACTED]"}',
    ),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc/def+ghi==;"
        "EndpointSuffix=core.windows.net",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[REDACTED];"
        "EndpointSuffix=core.windows.net",
    ),
    (
        f"https://maps.googleapis.com/api?key={GOOGLE}",
        "https://maps.googleapis.com/api?key=AIza[REDACTED]",
    ),
    (
        "Credential=AKIAIOSFODNN7EXAMPLE/20261126/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=fe5f80f77d5fa3beca038a248ff027",
        "Credential=[REDACTED], SignedHeaders=host, Signature=[REDACTED]",
    ),
    # Datadog keys
    (f"DD_API_KEY={DD_KEY}", "DD_API_KEY=[REDACTED]"),
    (f"DD-API-KEY: {DD_KEY}", "DD-API-KEY: [REDACTED]"),
    (f"DD-APPLICATION-KEY: {DD_APP}", "DD-APPLICATION-KEY: [REDACTED]"),
    (f"dd_app_key={DD_APP} site=datadoghq.eu", "dd_app_key=[REDACTED] site=datadoghq.eu"),
    (
        f'{{"api_key": "{DD_KEY}", "application_key": "{DD_APP}"}}',
        '{"api_key": "[REDACTED]", "application_key": "[REDACTED]"}',
    ),
    (
        f"GET /api/v1/query?api_key={DD_KEY}&application_key={DD_APP}&from=1",
        "GET /api/v1/query?api_key=[REDACTED]&application_key=[REDACTED]&from=1",
    ),
    # private key blocks (multi-line, in JSON, cut off)
    (
        f"key loaded:\n{PEM}\nnext line",
        "key loaded:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----"
        "\nnext line",
    ),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]-----END OPENSSH PRIVATE KEY-----",
    ),
    (
        '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN\\n'
        '-----END PRIVATE KEY-----\\n"',
        '"private_key": "[REDACTED]\\n"',
    ),
    (
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY",
        "-----BEGIN EC PRIVATE KEY-----[REDACTED]",
    ),
    # tokens
    (f"token {JWT} rejected", "token [REDACTED] rejected"),
    (f"GITHUB_TOKEN={GHP}", "GITHUB_TOKEN=[REDACTED]"),
    (f"cloning with {GHP}", "cloning with ghp_[REDACTED]"),
    ("pat github_pat_11ABCDEFG0123456789_abcdefghij", "pat github_pat_[REDACTED]"),
    ("slack xoxb-1234567890-0987654321-AbCdEfGhIjKl ok", "slack xoxb-[REDACTED] ok"),
    ("xoxp-1234567890-abcdefghijk", "xoxp-[REDACTED]"),
    (
        "POST https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXX 200",
        "POST https://hooks.slack.com/services/[REDACTED] 200",
    ),
    # key=value pairs in the usual spellings
    ("password=hunter2", "password=[REDACTED]"),
    ("PASSWORD=hunter2 user=app", "PASSWORD=[REDACTED] user=app"),
    ("Password: hunter2", "Password: [REDACTED]"),
    ('password: "correct horse battery"', 'password: "[REDACTED]"'),
    ("passwd=x pwd=y secret=z", "passwd=[REDACTED] pwd=[REDACTED] secret=[REDACTED]"),
    ("PGPASSWORD=hunter2 psql -h db", "PGPASSWORD=[REDACTED] psql -h db"),
    ("MYSQL_PWD=hunter2", "MYSQL_PWD=[REDACTED]"),
    ("DB_PASS=hunter2", "DB_PASS=[REDACTED]"),
    (
        "host=db user=app password=s3cr3t dbname=orders",
        "host=db user=app password=[REDACTED] dbname=orders",
    ),
    ("token=abc123", "token=[REDACTED]"),
    ("api_key=abc apikey=def", "api_key=[REDACTED] apikey=[REDACTED]"),
    ("access_token: abc.def", "access_token: [REDACTED]"),
    (
        '{"client_secret":"s3cr3t","client_id":"app"}',
        '{"client_secret":"[REDACTED]","client_id":"app"}',
    ),
    (
        "{'refresh_token': 'abc', 'expires_in': 3600}",
        "{'refresh_token': '[REDACTED]', 'expires_in': 3600}",
    ),
    ("X-Auth-Token: abc123", "X-Auth-Token: [REDACTED]"),
    ("auth=Basic dXNlcjpwYXNz", "auth=Basic [REDACTED]"),
    ("spring.datasource.password = s3cr3t", "spring.datasource.password = [REDACTED]"),
    ("if password == 'hunter2':", "if password == '[REDACTED]':"),
    (
        "https://api.example.com/cb?access_token=abc&state=xyz",
        "https://api.example.com/cb?access_token=[REDACTED]&state=xyz",
    ),
    (
        "https://acct.blob.core.windows.net/c?sv=2022&sig=abc%2Bdef",
        "https://acct.blob.core.windows.net/c?sv=2022&sig=[REDACTED]",
    ),
    # SQL
    (
        "ALTER ROLE \"app-ro\" WITH PASSWORD 'Pw-2026' VALID UNTIL '2026-11-11'",
        "ALTER ROLE \"app-ro\" WITH PASSWORD '[REDACTED]' VALID UNTIL '2026-11-11'",
    ),
    ("create user bob identified by 'it''s me';", "create user bob identified by '[REDACTED]';"),
    # escaped quotes: JSON inside JSON, HTML
    ('{"msg": "{\\"password\\": \\"x y\\"}"}', '{"msg": "{\\"password\\": \\"[REDACTED]\\"}"}'),
    ("{&quot;token&quot;: &quot;a b&quot;}", "{&quot;token&quot;: &quot;[REDACTED]&quot;}"),
    ("<td>password=abc</td>", "<td>password=[REDACTED]</td>"),
    # command lines
    ("--password hunter2 --host db", "--password [REDACTED] --host db"),
    ('run --api-key "abc def" now', 'run --api-key "[REDACTED]" now'),
    ("curl -u bob:hunter2 https://api", "curl -u bob:[REDACTED] https://api"),
]

# Ordinary log text and code: redact must return it unchanged.
CLEAN = [
    "GET /api/v1/orders/123 200",
    "GET /api/v1/orders/123 200 took 12ms",
    "request 3f2a1c9e-8b7d-4e5f-9a0b-1c2d3e4f5a6b completed in 1.2s",
    "upstream 10.0.12.7:8080 connect timeout after 5000ms",
    "client 2001:db8::1 port 443",
    "connection pool exhausted (size=20, waiting=13)",
    "span_id=5f2b9c1a trace_id=0af7651916cd43dd8448eb211c80319c commit=9fceb02d",
    "token bucket refilled",
    "secret santa",
    "basic health check passed; Bearer token expired",
    "Basic authentication required",
    "max_tokens=4096 password_reset=true token_count=5 tokens=12",
    "key=user:1234 cache_key=orders:42 sort_key=created_at",
    "auth-service: login ok for user 42",
    "https://grafana.example.com:3000/d/abc?orgId=1&from=now-1h",
    "git@github.com:org/repo.git",
    "ssh://git@github.com/org/repo",
    "http://[::1]:8080/healthz",
    "timezone Asia/Tokyo, region ap-southeast-1",
    "passed=12 failed=0 bypass=true",
    "password = os.environ['DB_PASSWORD']",
    "token = get_token()",
    "api_key = os.getenv('DD_API_KEY')",
    ".fa-user-secret:before {",
    "the keyword monkey found a key",
    "2026-11-26T14:02:00.123Z WARN checkout p95=840ms p99=2.1s rps=1200",
    "",
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redacts_secret_and_keeps_prefix(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", CLEAN)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_clean_text_is_returned_as_is() -> None:
    line = "GET /api/v1/orders/123 200 took 12ms"
    assert redact(line) is line


@pytest.mark.parametrize("text", [c[0] for c in CASES] + [c[1] for c in CASES] + CLEAN)
def test_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_whole_document_with_many_secrets() -> None:
    doc = "\n".join(c[0] for c in CASES) + "\n" + "\n".join(CLEAN)
    out = redact(doc)
    assert out == "\n".join(c[1] for c in CASES) + "\n" + "\n".join(CLEAN)
    assert redact(out) == out
    for secret in ("hunter2", "s3cr3t", DD_KEY, DD_APP, GHP, JWT, "IOSFODNN7EXAMPLE", "MIIEow"):
        assert secret not in out


def test_idempotent_on_random_mixtures() -> None:
    rng = random.Random(7)
    pieces = [*(c[0] for c in CASES), *CLEAN, "[REDACTED]", "://", "@", "\\n", "&quot;", "`"]
    seps = ["", " ", "\n", ",", "&", '"', "'", ":", "=", "@", "/"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) + rng.choice(seps) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.2:
            text = text.upper()
        once = redact(text)
        assert redact(once) == once, text


def test_non_ascii_text() -> None:
    # "İ".lower() is two characters long; positions must still line up.
    assert redact("İstanbul password=hunter2 ü") == "İstanbul password=[REDACTED] ü"
    assert redact("Grüße, token: äöü") == "Grüße, token: [REDACTED]"


# -- redact_obj ----------------------------------------------------------------------

Point = namedtuple("Point", "label value")


def test_redact_obj_nested() -> None:
    when = pd.Timestamp("2026-11-26T14:02:00Z")
    obj = {
        "query": "service:checkout",
        "password": "hunter2",
        "db": {"dsn": "postgresql://u:p@h/db", "url": "https://u:pw@h/x", "port": 5432},
        "headers": [{"Authorization": "Bearer abc123def456"}, ("x", "token=abc")],
        "apiKey": 12345,
        "token": None,
        "secret": "",
        "max_tokens": 100,
        "ratio": 0.5,
        "when": when,
        "raw": b"password=x",
        "point": Point("p", "password=x"),
    }
    before = repr(obj)
    out = redact_obj(obj)
    assert repr(obj) == before  # not modified
    assert out == {
        "query": "service:checkout",
        "password": REDACTED,
        "db": {"dsn": REDACTED, "url": "https://u:[REDACTED]@h/x", "port": 5432},
        "headers": [{"Authorization": REDACTED}, ("x", "token=[REDACTED]")],
        "apiKey": REDACTED,
        "token": None,
        "secret": "",
        "max_tokens": 100,
        "ratio": 0.5,
        "when": when,
        "raw": b"password=x",
        "point": Point("p", "password=[REDACTED]"),
    }
    assert isinstance(out["headers"][1], tuple)
    assert isinstance(out["point"], Point)
    assert redact_obj(out) == out


def test_redact_obj_scalars() -> None:
    assert redact_obj("password=x") == "password=[REDACTED]"
    assert redact_obj(5) == 5
    assert redact_obj(None) is None


# -- redact_frame --------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "message": pd.Series(
                ["GET /x 200 took 12ms", "login password=hunter2", None, "Bearer abc123def456"],
                dtype="str",
            ),
            "payload": pd.Series(["ok", {"token": "abc", "n": 1}, None, 7], dtype=object),
            "status": [200, 401, 500, 200],
            "latency": [0.1, np.nan, 0.3, 0.4],
            "at": pd.to_datetime(
                ["2026-11-26T14:00Z", "2026-11-26T14:01Z", None, "2026-11-26T14:03Z"], utc=True
            ).astype("datetime64[ns, UTC]"),
        }
    )


def test_redact_frame_redacts_text_and_keeps_dtypes() -> None:
    df = _frame()
    original = df.copy()
    out = redact_frame(df)
    pd.testing.assert_frame_equal(df, original)  # input untouched
    assert out.dtypes.to_dict() == df.dtypes.to_dict()
    assert str(out["at"].dtype) == "datetime64[ns, UTC]"
    assert out["message"].tolist()[:2] == ["GET /x 200 took 12ms", "login password=[REDACTED]"]
    assert pd.isna(out["message"][2])
    assert out["message"][3] == "Bearer [REDACTED]"
    assert out["payload"].tolist() == ["ok", {"token": REDACTED, "n": 1}, None, 7]
    for name in ("status", "latency", "at"):
        pd.testing.assert_series_equal(out[name], df[name])


def test_redact_frame_without_secrets_is_equal() -> None:
    df = _frame().iloc[[0, 2]]
    df.loc[:, "payload"] = ["ok", None]
    out = redact_frame(df)
    pd.testing.assert_frame_equal(out, df)
    assert out is not df


def test_redact_frame_other_string_dtypes_and_shapes() -> None:
    df = pd.DataFrame(
        [["token=abc", "a"], [pd.NA, "b"]], columns=["x", "x"], dtype="string[python]"
    )
    out = redact_frame(df)
    assert list(out.dtypes) == list(df.dtypes)
    assert out.iloc[0, 0] == "token=[REDACTED]"
    assert out.iloc[1, 0] is pd.NA
    empty = pd.DataFrame({"message": pd.Series([], dtype="str"), "n": pd.Series([], dtype=int)})
    pd.testing.assert_frame_equal(redact_frame(empty), empty)


def test_redact_frame_credential_named_column() -> None:
    df = pd.DataFrame({"db_password": pd.Series(["a", None], dtype="str"), "user": ["x", "y"]})
    out = redact_frame(df)
    assert out["db_password"][0] == REDACTED
    assert pd.isna(out["db_password"][1])
    assert out["db_password"].dtype == df["db_password"].dtype
    assert out["user"].tolist() == ["x", "y"]


@pytest.mark.parametrize("dtype", ["str", object])
def test_redact_frame_matches_redact(dtype: object) -> None:
    lines = [c[0] for c in CASES] + CLEAN
    out = redact_frame(pd.DataFrame({"line": pd.Series(lines, dtype=dtype)}))
    assert out["line"].tolist() == [redact(line) for line in lines]


def test_import_does_not_load_pandas() -> None:
    code = "import sys, incident_lib.infra.redact; assert 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- redact_notebook -----------------------------------------------------------------


def _notebook() -> nbformat.NotebookNode:
    png = base64.b64encode(b"\x89PNG password=abc AKIAIOSFODNN7EXAMPLE").decode()
    nb = new_notebook(
        cells=[
            new_markdown_cell("Connect with `postgresql://app:s3cr3t@db/orders`."),
            new_code_cell(
                'client = connect(token="abc123")\nclient.health()',
                outputs=[
                    new_output("stream", name="stdout", text="Authorization: Bearer abc123def\n"),
                    new_output(
                        "execute_result",
                        execution_count=1,
                        data={
                            "text/plain": "{'password': 'hunter2'}",
                            "text/html": "<td>password=hunter2</td>",
                            "text/markdown": "api_key: `abc`",
                            "application/json": {"token": "abc", "ok": True},
                        },
                    ),
                    new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
                    new_output(
                        "error",
                        ename="OperationalError",
                        evalue="password authentication failed for postgresql://app:s3cr3t@db",
                        traceback=[
                            "\x1b[0;31mOperationalError\x1b[0m: dsn=postgresql://app:s3cr3t@db"
                        ],
                    ),
                ],
            ),
        ]
    )
    nb.metadata["papermill"] = {
        "parameters": {
            "window_start": "2026-11-26T14:00:00Z",
            "db_password": "hunter2",
            "query": "https://u:pw@host/x",
            "max_tokens": 5,
        },
        "input_path": "runbooks/latency.ipynb",
    }
    return nb


def test_redact_notebook() -> None:
    nb = _notebook()
    png = nb.cells[1].outputs[2].data["image/png"]
    assert redact_notebook(nb) is nb
    nbformat.validate(nb)
    md, code = nb.cells
    assert md.source == "Connect with `postgresql://app:[REDACTED]@db/orders`."
    assert code.source == 'client = connect(token="[REDACTED]")\nclient.health()'
    stream, result, image, error = code.outputs
    assert stream.text == "Authorization: Bearer [REDACTED]\n"
    assert result.data["text/plain"] == "{'password': '[REDACTED]'}"
    assert result.data["text/html"] == "<td>password=[REDACTED]</td>"
    assert result.data["text/markdown"] == "api_key: `[REDACTED]`"
    assert result.data["application/json"] == {"token": REDACTED, "ok": True}
    assert image.data["image/png"] == png
    assert error.evalue == "password authentication failed for postgresql://app:[REDACTED]@db"
    assert "s3cr3t" not in error.traceback[0]
    params = nb.metadata.papermill.parameters  # still attribute access (NotebookNode)
    assert params == {
        "window_start": "2026-11-26T14:00:00Z",
        "db_password": REDACTED,
        "query": "https://u:[REDACTED]@host/x",
        "max_tokens": 5,
    }
    assert nb.metadata.papermill.input_path == "runbooks/latency.ipynb"
    text = nbformat.writes(nb)
    for secret in ("hunter2", "s3cr3t", "abc123def"):
        assert secret not in text


def test_redact_notebook_list_sources_and_roundtrip() -> None:
    nb = _notebook()
    nb.cells[0].source = [
        "key:\n",
        "-----BEGIN PRIVATE KEY-----\n",
        "MIIE\n",
        "-----END PRIVATE KEY-----\n",
    ]
    redact_notebook(nb)
    assert nb.cells[0].source == [
        "key:\n",
        "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----\n",
    ]
    again = nbformat.reads(nbformat.writes(nb), as_version=4)
    assert nbformat.writes(redact_notebook(again)) == nbformat.writes(again)


# -- secret_reason -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "password", "db_password", "PGPASSWORD", "passwd", "pwd", "db_pass", "token",
        "access_token", "accessToken", "token_bucket_size", "secret", "client_secret",
        "api_key", "apikey", "apiKey", "DD_API_KEY", "dd_app_key", "x-api-key", "private_key",
        "SecretAccessKey", "credentials", "credentials_file", "dsn", "pg_dsn", "auth",
        "auth_header", "Authorization", "request_sig",
    ],
)  # fmt: skip
def test_secret_reason_names(name: str) -> None:
    reason = secret_reason(name, "x")
    assert reason is not None
    assert "name" in reason


@pytest.mark.parametrize(
    "name",
    [
        "window_start", "max_tokens", "keyword", "monkey", "author", "service", "namespace",
        "since", "incident_id", "passes", "bypass", "key", "sort_key", "tokens", "env",
        # an error *signature* is this project's own word (04_logs), not a credential
        "signature", "top_signature",
    ],
)  # fmt: skip
def test_secret_reason_harmless_names(name: str) -> None:
    assert secret_reason(name, "checkout") is None


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("postgresql://app:s3cr3t@db/orders", "URL"),
        ("Bearer abc123def456", "bearer"),
        (JWT, "JSON Web Token"),
        ("AKIAIOSFODNN7EXAMPLE", "AWS"),
        ("password=hunter2", "pair"),
        ({"password": "hunter2"}, "contains"),
        (["x", "token=abc"], "contains"),
    ],
)
def test_secret_reason_values(value: object, word: str) -> None:
    reason = secret_reason("target", value)
    assert reason is not None
    assert word in reason
    assert "s3cr3t" not in reason and "hunter2" not in reason


@pytest.mark.parametrize(
    "value",
    ["checkout", "postgresql://app@db/orders", "2026-11-26T14:00:00Z", 5, 1.5, None, ["a"], {}],
)
def test_secret_reason_harmless_values(value: object) -> None:
    assert secret_reason("target", value) is None


@pytest.mark.parametrize(
    "coloured",
    [
        'token: \x1b[38;5;124m"abcdEFGH1234"\x1b[39m',
        'conn = connect(password\x1b[38;5;241m=\x1b[39m\x1b[33m"Hunter2Secret"\x1b[39m)',
        'dsn=\x1b[33m"postgresql://app:Hunter2Secret@db:5432/orders"\x1b[39m',
    ],
)
def test_terminal_colours_do_not_hide_a_secret(coloured: str) -> None:
    """IPython colours traceback lines; the escape codes must not split key from value."""
    out = redact(coloured)
    assert "Hunter2Secret" not in out and "abcdEFGH1234" not in out
    assert "[REDACTED]" in out


def test_clean_coloured_text_keeps_its_colours() -> None:
    line = "\x1b[31mValueError\x1b[39m: password reset link expired"
    assert redact(line) == line


# -- issue 10: shapes that survived, look-alikes that must stay ----------------------

STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# (input, a piece of the secret that must be gone, what must stay)
ISSUE10 = [
    (f"charge failed (key={STRIPE}) after 3 retries", "4eC39HqLyjWDarjtT1zdp7dc", "sk_live_"),
    (f"stripe client {STRIPE}", "4eC39HqLyjWDarjtT1zdp7dc", "sk_live_[REDACTED]"),
    ("npm publish with npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a1B2c3D4e5F6g7H8", "npm_"),
    (
        "mail via SG." + "ngeVfQFYQlKU0ufo8x5d1A" + ".TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
        "TwL2iGABf9DHoTf",
        "mail via SG.",
    ),
    (f"loaded credentials {AWS_SECRET} from cache", "K7MDENG", "loaded credentials [REDACTED]"),
    (f'aws configure set "{AWS_SECRET}"', "K7MDENG", "aws configure set"),
    ("mysql -uroot -pS3cretPw! -h db orders", "S3cretPw", "mysql -uroot -p[REDACTED] -h db"),
    ("mysqldump -u etl -p'Kw8aqV' reports", "Kw8aqV", "-p'[REDACTED]'"),
    (
        '"private_key_id": "8f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",',
        "8f3c2a1b9d8e",
        '"private_key_id": "[REDACTED]"',
    ),
    (
        f"rotate secret: aws_secret_access_key = {AWS_SECRET}",
        "K7MDENG",
        "rotate secret: aws_secret_access_key = [REDACTED]",
    ),
    ("twilio AC" + "0123456789abcdef0123456789abcdef" + " ok", "456789abcdef0123", "twilio AC"),
    ("glpat-" + "xYz12AbC34dEf56GhI78", "xYz12AbC34dEf56", "glpat-[REDACTED]"),
    ("pypi-AgEIcHlwaS5vcmc" + "A" * 70, "AAAAAAAAAAAAAAA", "pypi-[REDACTED]"),
    ("sq0csp-" + "Ab1-x_9Zq" * 4 + "Ab1-x_9", "Ab1-x_9ZqAb1", "sq0csp-[REDACTED]"),
    ("client_secret: ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a1B2c3D4e5F6", "[REDACTED]"),
    (
        "DefaultEndpointsProtocol=https;AccountKey=" + "Ab1+" * 22 + ";EndpointSuffix=x",
        "Ab1+Ab1+Ab1+",
        "AccountKey=[REDACTED];",
    ),
    ("service_key: hunter22", "hunter22", "service_key: [REDACTED]"),  # detect-secrets' word
    ("DBKEY=hunter22", "hunter22", "DBKEY=[REDACTED]"),
    ("contraseña=hunter22", "hunter22", "[REDACTED]"),
]

LOOK_ALIKES = [
    "deployed commit ef7114d85ca6c7649fce10c403a3ca0167b5903a to prod",
    "request 3f2a1c9e-8b7d-4e5f-9a0b-1c2d3e4f5a6b done",
    "trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331",
    'metadata: {"resourceVersion": "184467440737", "uid": "6b1f7c1e-0d1a-4c55-9b0e-1f2d3c4b5a69"}',
    "img src=data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "image sha256:9b2c6f0c5d1e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a pulled",
    "ssh2: ED25519 SHA256:Qm1nUWx5N2ZhS2VZbXg0RDdvR2FwT2F3VmJjRjZu",
    "DFSClient_NONMAPREDUCE_1234567890_1 RetryUpToMaximumCountWithFixedSleep",
    "blk_-3544583377289625738 replicated; attempt_201512201503_0004_m_000001_0 done",
    "ULID 01ARZ3NDEKTSV4RRFFQ69G5FAV and order A1B2C3D4",
    'If-None-Match: W/"5fd06dc4-ZadfaA4UqXNTGr6VQukHt2x9d2K" -> 304',
    "AKIAMAX is not a key; aws region us-east-1; ask for ACCESS",
    "the mysql -P 3306 port and mysqladmin -p prompt",
]


@pytest.mark.parametrize(("text", "gone", "kept"), ISSUE10)
def test_issue10_shapes_are_redacted(text: str, gone: str, kept: str) -> None:
    out = redact(text)
    assert gone not in out, out
    assert kept in out, out
    assert redact(out) == out


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_stay(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", [c[0] for c in ISSUE10])
def test_issue10_shapes_redacted_in_frames_too(text: str) -> None:
    lines = [text, *LOOK_ALIKES]
    for dtype in ("str", "string[python]", object):
        out = redact_frame(pd.DataFrame({"line": pd.Series(lines, dtype=dtype)}))
        assert out["line"].tolist() == [redact(line) for line in lines]


def test_exception_message_with_a_stripe_key() -> None:
    try:
        raise RuntimeError(f"charge failed (key={STRIPE})")
    except RuntimeError as exc:
        assert "4eC39HqLyjWDarjtT1zdp7dc" not in redact(str(exc))


@pytest.mark.parametrize(
    ("value", "word"),
    [
        (STRIPE, "Stripe"),
        (AWS_SECRET, "high-entropy"),
        ("npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "npm"),
        ("mysql -pS3cretPw -h db", "mysql"),
    ],
)
def test_secret_reason_flags_detector_values(value: str, word: str) -> None:
    reason = secret_reason("target", value)
    assert reason is not None and word in reason
    assert value not in reason


def test_secret_reason_flags_a_name_shaped_like_a_key() -> None:
    reason = secret_reason(STRIPE, 1)
    assert reason is not None and "name" in reason and STRIPE not in reason


def test_import_does_not_load_detect_secrets() -> None:
    code = "import sys, incident_lib.infra.redact; assert 'detect_secrets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paths_through_folders_named_by_time_are_not_keys():
    """Run and capture folders (runs/20261128T025413Z-3eff) look random but are not secrets."""
    from incident_lib.infra.redact import redact

    for text in (
        "runs/20261128T025413Z-3eff/index.html",
        "incident evidence verify WS --bundle incidents/X/runs/20261128T025413Z-3eff",
    ):
        assert redact(text) == text
    # a key with slashes is still one
    assert "bPxRfiCY" not in redact("key wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9PLEKEY1 here")
