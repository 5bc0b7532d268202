"""What every source shares: the one-line reason for a request that got no answer."""

from __future__ import annotations

import pytest
import urllib3.exceptions as u

from incident_lib.sources.base import network_reason

HOST = "API server 10.0.0.1:6443"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            u.NameResolutionError("dd.example", None, OSError("no such name")),
            "API server 10.0.0.1:6443 could not be reached: its name does not resolve (DD_SITE=x)",
        ),
        (
            u.NewConnectionError(None, "Connection refused"),
            "API server 10.0.0.1:6443 could not be reached (connection refused)",
        ),
        (
            u.ConnectTimeoutError("timed out"),
            "API server 10.0.0.1:6443 did not answer within 3.05 s (connect)",
        ),
        (u.ReadTimeoutError(None, "/x", "read timed out"), "did not answer within 20 s"),
        (u.ProtocolError("reset"), "dropped the connection (ProtocolError)"),
    ],
)
def test_network_reason_names_what_happened(error, said):
    wrapped = u.MaxRetryError(None, "/api", reason=error)
    text = network_reason(wrapped, HOST, (3.05, 20.0), unresolved_hint="DD_SITE=x")
    assert said in text
    assert network_reason(error, HOST, (3.05, 20.0), unresolved_hint="DD_SITE=x") == text
