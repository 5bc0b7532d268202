"""Dependency probes against local servers started here: HTTP (200, 500, slow, redirects),
TLS with a self-signed certificate expiring in three days, a tiny UDP DNS server
(A, CNAME, NXDOMAIN, no answer, silence) and a port that refuses. No network needed.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from incident_lib.core.errors import InvalidInput
from incident_lib.core.incident import Incident
from incident_lib.core.schema import EVIDENCE_KINDS, validate
from incident_lib.core.time import Window
from incident_lib.sources.base import Limits, default_registry
from incident_lib.sources.probes import (
    ProbesConnector,
    ProbeSettings,
    parse_target,
    probe_dns,
    probe_http,
    probe_target,
    probe_tcp,
    resolver_from_environment,
    tls_context,
)

T0 = dt.datetime(2026, 11, 3, 14, 0, tzinfo=dt.UTC)
WINDOW = Window(T0, T0 + dt.timedelta(hours=1))
FAST = ProbeSettings(http_timeout=0.5, http_backoff=0.05, http_total=3.0, dns_timeout=0.5)


# -- servers ------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    hits: dict[str, int]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):  # the probe gave up (its timeout)
            self.close_connection = True

    def _answer(self) -> None:
        path = self.path.split("?")[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/slow":
            time.sleep(2.0)
        if path == "/fail":
            return self._send(500)
        if path == "/flaky" and self.hits[path] == 1:
            return self._send(503)
        if path == "/away":
            return self._send(302, "https://login.example.com/sso?token=s3cret")
        if path == "/here":
            return self._send(301, "/ok")
        if path == "/loop":
            return self._send(302, "/loop")
        return self._send(200)

    def _send(self, code: int, location: str | None = None) -> None:
        body = b"secret body that must never be kept"
        self.send_response(code)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(context: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, dict[str, int]]:
    hits: dict[str, int] = {}
    handler = type("H", (_Handler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return httpd, hits


@pytest.fixture
def http_server():
    httpd, hits = _serve()
    yield httpd.server_address[1], hits
    httpd.shutdown()
    httpd.server_close()


def _self_signed(tmp: Path, days: float) -> tuple[Path, Path]:
    """A self-signed certificate for api.test and 127.0.0.1, expiring in ``days``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("api.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    cert, key = _self_signed(tmp_path, days=3)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd, _ = _serve(context)
    yield httpd.server_address[1], cert
    httpd.shutdown()
    httpd.server_close()


#: name -> records; a CNAME is followed within the zone
ZONE = {
    "api.test.": {"A": ["127.0.0.1"]},
    "www.test.": {"CNAME": ["api.test."]},
    "empty.test.": {},
}


def _dns_loop(sock: socket.socket) -> None:
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    while True:
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            return
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        while True:
            if name not in ZONE:
                reply.set_rcode(dns.rcode.NXDOMAIN)
                break
            records = ZONE[name]
            if "CNAME" in records:
                target = records["CNAME"][0]
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", target))
                name = target
                continue
            if rdtype in records:
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", rdtype, *records[rdtype]))
            break
        sock.sendto(reply.to_wire(), peer)


@pytest.fixture
def dns_server():
    """``INCIDENT_DNS_SERVERS`` text of a local DNS server answering ZONE."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    threading.Thread(target=_dns_loop, args=(sock,), daemon=True).start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def resolver(dns_server):
    return resolver_from_environment({"INCIDENT_DNS_SERVERS": dns_server})


def _refused_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _by_check(checks):
    return {c.check: c for c in checks}


# -- HTTP ---------------------------------------------------------------------------------
def test_http_200_is_ok_and_keeps_no_body(http_server):
    port, hits = http_server
    target = parse_target(f"http://127.0.0.1:{port}/ok")
    checks = _by_check(probe_target(target, resolver=None, context=tls_context({})))
    assert list(checks) == ["tcp", "http"]  # an address: no DNS
    assert checks["tcp"].status == "ok" and checks["http"].status == "ok"
    assert "200 OK" in checks["http"].detail and checks["http"].latency_ms >= 0
    assert "secret body" not in repr(checks)
    assert hits == {"/ok": 1}


def test_http_500_is_tried_a_bounded_number_of_times_with_a_backoff(http_server):
    port, hits = http_server
    waits: list[float] = []
    check = probe_http(
        parse_target(f"http://127.0.0.1:{port}/fail"),
        "127.0.0.1",
        settings=ProbeSettings(http_tries=3, http_backoff=0.1),
        sleep=waits.append,
    )
    assert check.status == "failed" and check.reason == "http_500"
    assert hits["/fail"] == 3
    assert waits == [0.1, 0.2]
    assert "500 Internal Server Error on each of 3 tries" in check.detail


def test_a_retry_that_succeeds_says_what_came_before(http_server):
    port, hits = http_server
    check = probe_http(parse_target(f"http://127.0.0.1:{port}/flaky"), "127.0.0.1", settings=FAST)
    assert check.status == "ok" and hits["/flaky"] == 2
    assert "before: 503 Service Unavailable" in check.detail


def test_a_server_slower_than_the_timeout_fails_within_the_bound(http_server):
    port, hits = http_server
    settings = ProbeSettings(http_timeout=0.3, http_tries=2, http_backoff=0.05, http_total=5)
    start = time.monotonic()
    check = probe_http(
        parse_target(f"http://127.0.0.1:{port}/slow"), "127.0.0.1", settings=settings
    )
    assert time.monotonic() - start < 1.9  # two tries of 0.3 s, never the server's 2 s
    assert check.status == "failed" and check.reason == "no_answer"
    assert "no answer within 0.3 s" in check.detail and hits["/slow"] == 2


def test_the_total_bound_stops_the_tries(http_server):
    port, hits = http_server
    settings = ProbeSettings(http_timeout=0.4, http_tries=10, http_backoff=0.01, http_total=1.0)
    start = time.monotonic()
    check = probe_http(
        parse_target(f"http://127.0.0.1:{port}/slow"), "127.0.0.1", settings=settings
    )
    assert time.monotonic() - start < 1.9
    assert check.status == "failed" and hits["/slow"] <= 3


def test_redirects_on_the_same_host_are_followed_others_only_named(http_server):
    port, _ = http_server
    here = probe_http(parse_target(f"http://127.0.0.1:{port}/here"), "127.0.0.1", settings=FAST)
    assert here.status == "ok"
    away = probe_http(parse_target(f"http://127.0.0.1:{port}/away"), "127.0.0.1", settings=FAST)
    assert away.status == "unknown" and away.reason == "redirect_off_host"
    assert "https://login.example.com/sso" in away.detail
    assert "s3cret" not in away.detail  # the query (a token) is never repeated
    loop = probe_http(parse_target(f"http://127.0.0.1:{port}/loop"), "127.0.0.1", settings=FAST)
    assert loop.status == "failed" and loop.reason == "redirects"


# -- TCP ----------------------------------------------------------------------------------
def test_a_refused_port_fails_tcp_and_nothing_after_it_is_ok():
    port = _refused_port()
    check = probe_tcp("127.0.0.1", port, timeout=1, slow=0.5)
    assert check.status == "failed" and check.reason == "refused"
    checks = probe_target(
        parse_target(f"http://127.0.0.1:{port}/ok"), resolver=None, context=tls_context({})
    )
    assert [(c.check, c.status) for c in checks] == [("tcp", "failed"), ("http", "unknown")]
    assert checks[1].detail == "not checked: the TCP connection failed"


# -- DNS ----------------------------------------------------------------------------------
def test_dns_answers_cname_nxdomain_and_no_answer_are_told_apart(resolver):
    ok, addresses = probe_dns("api.test", resolver, timeout=1, slow=0.5)
    assert ok.status == "ok" and addresses == ["127.0.0.1"] and ok.latency_ms >= 0
    chained, addresses = probe_dns("www.test", resolver, timeout=1, slow=0.5)
    assert chained.status == "ok" and addresses == ["127.0.0.1"]
    assert "CNAME www.test. → api.test." in chained.detail
    missing, none = probe_dns("missing.test", resolver, timeout=1, slow=0.5)
    assert (missing.status, missing.reason, none) == ("failed", "nxdomain", [])
    empty, _ = probe_dns("empty.test", resolver, timeout=1, slow=0.5)
    assert (empty.status, empty.reason) == ("failed", "no_answer")


def test_a_dns_server_that_never_answers_is_a_timeout():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        resolver = resolver_from_environment(
            {"INCIDENT_DNS_SERVERS": f"127.0.0.1:{silent.getsockname()[1]}"}
        )
        start = time.monotonic()
        check, _ = probe_dns("api.test", resolver, timeout=0.4, slow=0.2)
        assert time.monotonic() - start < 2
    finally:
        silent.close()
    assert (check.status, check.reason) == ("failed", "timeout")


def test_a_name_that_does_not_resolve_leaves_the_other_checks_unknown(resolver):
    checks = probe_target(
        parse_target("https://missing.test/healthz"), resolver=resolver, context=tls_context({})
    )
    assert [(c.check, c.status) for c in checks] == [
        ("dns", "failed"),
        ("tcp", "unknown"),
        ("tls", "unknown"),
        ("http", "unknown"),
    ]


def test_bad_dns_servers_are_refused():
    with pytest.raises(InvalidInput, match="INCIDENT_DNS_SERVERS"):
        resolver_from_environment({"INCIDENT_DNS_SERVERS": "dns.example.com"})


# -- TLS ----------------------------------------------------------------------------------
def test_a_self_signed_certificate_expiring_in_three_days(tls_server, resolver):
    port, _ = tls_server
    target = parse_target(f"https://api.test:{port}/ok")
    checks = _by_check(probe_target(target, resolver=resolver, context=tls_context({})))
    assert checks["dns"].status == "ok" and checks["tcp"].status == "ok"
    tls = checks["tls"]
    assert tls.status == "failed" and tls.reason == "self_signed"
    assert "self-signed" in tls.detail and "subject CN=api.test" in tls.detail
    assert "names api.test, 127.0.0.1" in tls.detail
    assert 2.9 < tls.days_left < 3.01 and tls.expires_at is not None
    assert checks["http"].status == "unknown"  # a verifying client cannot connect


def test_a_trusted_certificate_expiring_soon_is_expiring_and_http_runs(tls_server, resolver):
    port, cert = tls_server
    context = tls_context({"INCIDENT_CA_BUNDLE": str(cert)})
    target = parse_target(f"https://api.test:{port}/ok")
    checks = _by_check(probe_target(target, resolver=resolver, context=context))
    assert checks["tls"].status == "expiring" and "chain of" in checks["tls"].detail
    assert checks["http"].status == "ok" and "200 OK" in checks["http"].detail


def test_a_certificate_for_another_name_is_said_plainly(tls_server, resolver):
    port, cert = tls_server
    context = tls_context({"INCIDENT_CA_BUNDLE": str(cert)})
    target = parse_target(f"https://www.test:{port}/ok")  # CNAME to api.test, same server
    checks = _by_check(probe_target(target, resolver=resolver, context=context))
    assert checks["tls"].status == "failed" and checks["tls"].reason == "hostname_mismatch"
    assert "issued for api.test, 127.0.0.1, not for www.test" in checks["tls"].detail


def test_a_missing_ca_bundle_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="INCIDENT_CA_BUNDLE"):
        tls_context({"INCIDENT_CA_BUNDLE": str(tmp_path / "none.pem")})


# -- the connector ------------------------------------------------------------------------
def test_the_connector_probes_the_record_and_extra_targets(http_server, tls_server, dns_server):
    http_port, _ = http_server
    tls_port, _ = tls_server
    refused = _refused_port()
    incident = Incident.create(
        id="INC-1",
        title="t",
        service="api",
        namespace="prod",
        severity="SEV2",
        start=T0,
        health_url=f"http://127.0.0.1:{http_port}/ok",
        endpoints=[f"https://api.test:{tls_port}/ok", f"127.0.0.1:{refused}"],
    )
    environ = {
        "INCIDENT_DNS_SERVERS": dns_server,
        "INCIDENT_PROBE_TARGETS": f"http://127.0.0.1:{http_port}/fail",
    }
    connector = ProbesConnector(environ=environ, settings=FAST)
    assert EVIDENCE_KINDS[("probes", "checks")] == "dependency_checks"
    query = connector.query("checks", incident, WINDOW)
    assert query["targets"] == [
        incident.health_url,
        *incident.endpoints,
        f"http://127.0.0.1:{http_port}/fail",
    ]
    assert query["dns_servers"] == dns_server
    fetched = connector.fetch("checks", incident, WINDOW)
    frame = validate(fetched.frame, "dependency_checks")
    status = {(r.target, r.check): r.status for r in frame.itertuples()}
    assert status[(incident.health_url, "http")] == "ok"
    assert status[(f"https://api.test:{tls_port}/ok", "tls")] == "failed"
    assert status[(f"127.0.0.1:{refused}", "tcp")] == "failed"
    assert status[(f"http://127.0.0.1:{http_port}/fail", "http")] == "failed"
    assert frame["checked_at"].notna().sum() >= 6 and fetched.notes == ()


def test_the_total_time_bound_of_the_budget(http_server):
    port, _ = http_server
    targets = [f"http://127.0.0.1:{port}/slow?n={n}" for n in range(6)]
    incident = Incident.create(
        id="INC-1",
        title="t",
        service="api",
        namespace="prod",
        severity="SEV2",
        start=T0,
        endpoints=targets,
    )
    connector = ProbesConnector(
        environ={}, settings=ProbeSettings(workers=2), limits=Limits(budget=1.0)
    )
    start = time.monotonic()
    frame = connector.fetch("checks", incident, WINDOW).frame
    assert time.monotonic() - start < 4  # a 1 s budget, never 6 targets x 3 tries x 5 s
    assert set(frame["target"]) == set(targets)
    http = frame[frame["check"] == "http"]
    assert (http["status"] != "ok").all() and len(http) == len(targets)


def test_no_target_gives_an_empty_frame_and_a_note():
    incident = Incident.create(
        id="INC-1", title="t", service="api", namespace="prod", severity="SEV2", start=T0
    )
    fetched = ProbesConnector(environ={}).fetch("checks", incident, WINDOW)
    assert fetched.frame.empty and "no endpoint to probe" in fetched.notes[0]


def test_the_registry_builds_it_and_refuses_bad_targets():
    assert isinstance(default_registry({}).get("probes"), ProbesConnector)
    with pytest.raises(InvalidInput, match="INCIDENT_PROBE_TARGETS"):
        ProbesConnector(environ={"INCIDENT_PROBE_TARGETS": "ftp://files:21"})
