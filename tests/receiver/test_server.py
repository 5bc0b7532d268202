"""The receiver's HTTP server against real HTTP on loopback (issue 14).

Fake parsers and a recording ``work`` keep these tests about the server: routes,
authentication, size cap, the bounded per-key work queue, metrics and shutdown.
No timing assertions: jobs are held and released with events.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from incident_lib.core.errors import InvalidInput
from incident_lib.receiver.server import Drained, Receiver, WebhookRoute

TOKEN = "tok-3f9a1c7e5b2d4e6f8a0b1c2d3e4f5a6b"
WAIT = 10.0  # a safety net against a hang, never an assertion about time
SECRET_MARK = "PAYLOAD-MARKER-must-not-be-logged"


@dataclass(frozen=True)
class FakeNotice:
    key: str
    delivery: str


class Rejected(InvalidInput):
    """Shaped like receiver.alerts.PayloadRejected."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class FakeParser:
    """``{"notices": [[key, delivery], ...]}``; ``reject`` / ``crash`` to fail."""

    def __init__(self) -> None:
        self.calls: list[Mapping[str, str]] = []

    def __call__(self, body: bytes, headers: Mapping[str, str]) -> list[FakeNotice]:
        self.calls.append(dict(headers))
        data = json.loads(body)
        if "reject" in data:
            raise Rejected(*data["reject"])
        if "crash" in data:
            raise RuntimeError(data["crash"])
        return [FakeNotice(key, delivery) for key, delivery in data["notices"]]


class Work:
    """A recording ``work``: held by gates, counts what runs at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.gates: dict[str, threading.Event] = {}
        self._started: dict[str, threading.Event] = {}
        self._done: dict[str, threading.Event] = {}
        self.fail: set[str] = set()
        self.order: list[str] = []
        self.running = 0
        self.max_running = 0
        self.per_key: Counter[str] = Counter()
        self.max_per_key = 0

    def _event(self, table: dict[str, threading.Event], delivery: str) -> threading.Event:
        with self.lock:
            return table.setdefault(delivery, threading.Event())

    def hold(self, *deliveries: str) -> None:
        for delivery in deliveries:
            self.gates[delivery] = threading.Event()

    def release(self, *deliveries: str) -> None:
        for delivery in deliveries or tuple(self.gates):
            self.gates[delivery].set()

    def started(self, delivery: str) -> threading.Event:
        return self._event(self._started, delivery)

    def done(self, delivery: str) -> threading.Event:
        return self._event(self._done, delivery)

    def __call__(self, notice: FakeNotice) -> None:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.per_key[notice.key] += 1
            self.max_per_key = max(self.max_per_key, self.per_key[notice.key])
            self.order.append(notice.delivery)
        self.started(notice.delivery).set()
        try:
            gate = self.gates.get(notice.delivery)
            if gate is not None:
                assert gate.wait(WAIT)
            if notice.delivery in self.fail:
                raise RuntimeError(f"could not capture {SECRET_MARK}")
        finally:
            with self.lock:
                self.running -= 1
                self.per_key[notice.key] -= 1
            self.done(notice.delivery).set()


@pytest.fixture
def work() -> Iterator[Work]:
    recorder = Work()
    yield recorder
    recorder.release()


@pytest.fixture
def parser() -> FakeParser:
    return FakeParser()


@pytest.fixture
def serve(work: Work, parser: FakeParser) -> Iterator[Callable[..., Receiver[FakeNotice]]]:
    started: list[Receiver[FakeNotice]] = []

    def make(**options: object) -> Receiver[FakeNotice]:
        routes = {
            "/alertmanager": WebhookRoute("alertmanager", parser, TOKEN),
            "/pagerduty": WebhookRoute("pagerduty", parser, None),
        }
        receiver: Receiver[FakeNotice] = Receiver(routes, work, **options)
        started.append(receiver.start())
        return receiver

    yield make
    work.release()
    for receiver in started:
        receiver.shutdown(timeout=WAIT)


def client(receiver: Receiver[FakeNotice]) -> httpx.Client:
    return httpx.Client(base_url=receiver.url, timeout=WAIT, trust_env=False)


def notices(*pairs: tuple[str, str]) -> dict[str, object]:
    return {"notices": [list(pair) for pair in pairs]}


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def post(http: httpx.Client, payload: object, path: str = "/alertmanager") -> httpx.Response:
    return http.post(path, json=payload, headers=AUTH)


def metrics(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def value(values: dict, name: str, **labels: str) -> float:
    return values.get((name, frozenset(labels.items())), 0.0)


def no_token_in(response: httpx.Response, *tokens: str) -> None:
    shown = response.text + "".join(f"{k}: {v}\n" for k, v in response.headers.items())
    for token in tokens:
        assert token not in shown


# ---------------------------------------------------------------------- routes


def test_healthz_url_and_unknown_routes(serve) -> None:
    receiver = serve()
    assert receiver.url.startswith("http://127.0.0.1:")
    assert not receiver.url.endswith(":0")
    with client(receiver) as http:
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert http.get("/nowhere").status_code == 404
        wrong = http.post("/healthz", json={})
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "GET"
        get_hook = http.get("/alertmanager", headers=AUTH)
        assert get_hook.status_code == 405
        assert get_hook.headers["allow"] == "POST"
        assert "queue_depth" in http.get("/metrics").text


def test_bearer_token_required_and_never_echoed(serve, work: Work, parser: FakeParser) -> None:
    receiver = serve()
    wrong = TOKEN[:-1] + ("0" if TOKEN[-1] != "0" else "1")
    with client(receiver) as http:
        attempts = [
            http.post("/alertmanager", json=notices(("k", "d"))),
            http.post("/alertmanager", json=notices(("k", "d")), headers={"Authorization": TOKEN}),
            http.post(
                "/alertmanager",
                json=notices(("k", "d")),
                headers={"Authorization": f"Bearer {wrong}"},
            ),
            http.post(
                "/alertmanager",
                json=notices(("k", "d")),
                headers={"Authorization": f"Basic {TOKEN}"},
            ),
        ]
        for response in attempts:
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json() == {"error": "missing or invalid bearer token"}
            no_token_in(response, TOKEN, wrong)
        assert parser.calls == []  # refused before the body is read
        accepted = post(http, notices(("k", "d")))
        assert accepted.status_code == 202
        no_token_in(accepted, TOKEN)
        # the parser never sees the bearer token
        assert "authorization" not in parser.calls[-1]
        assert TOKEN not in json.dumps(parser.calls)
        # a route without a token leaves authentication to its parser (a signature)
        signed = http.post("/pagerduty", json=notices(("p", "e")))
        assert signed.status_code == 202
        assert receiver.wait_idle(WAIT)
        values = metrics(http)
    assert sorted(work.order) == ["d", "e"]
    assert value(values, "notices_rejected_total", source="alertmanager", status="401") == 4


def test_content_type_length_and_size_cap(serve, parser: FakeParser) -> None:
    receiver = serve(max_body=1024)
    body = json.dumps(notices(("k", "d"))).encode()
    with client(receiver) as http:
        text = http.post(
            "/alertmanager", content=body, headers={**AUTH, "Content-Type": "text/plain"}
        )
        assert text.status_code == 415
        assert "application/json" in text.json()["error"]
        vendor = http.post(
            "/alertmanager",
            content=body,
            headers={**AUTH, "Content-Type": "application/vnd.custom+json; charset=utf-8"},
        )
        assert vendor.status_code == 202
        chunked = http.post(
            "/alertmanager",
            content=iter([body]),
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert chunked.status_code == 411
        big = {"notices": [["k", "big"]], "padding": "x" * 2048}
        too_large = post(http, big)
        assert too_large.status_code == 413
        assert "1024 bytes" in too_large.json()["error"]
        values = metrics(http)
    assert len(parser.calls) == 1  # only the vendor+json request reached the parser
    for status in ("411", "413", "415"):
        assert value(values, "notices_rejected_total", source="alertmanager", status=status) == 1


@pytest.mark.parametrize(
    ("length_headers", "status"),
    [
        ("Content-Length: lots\r\n", b"400"),
        ("Content-Length: -5\r\n", b"400"),
        # a length next to a transfer coding is ambiguous (request smuggling)
        ("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", b"411"),
    ],
)
def test_unusable_lengths_on_the_wire(serve, parser: FakeParser, length_headers, status) -> None:
    receiver = serve()
    host, port = receiver.url.removeprefix("http://").rsplit(":", 1)
    request = (
        "POST /alertmanager HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\n{length_headers}\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=WAIT) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    status_line = answer.partition(b"\r\n")[0]
    assert status_line.split()[1] == status
    assert TOKEN.encode() not in answer
    assert parser.calls == []


def test_parser_rejections_keep_their_status_and_reason(serve, work: Work) -> None:
    receiver = serve()
    with client(receiver) as http:
        shape = post(http, {"reject": [422, "alerts: Field required"]})
        assert shape.status_code == 422
        assert shape.json() == {"error": "alerts: Field required"}
        signature = post(
            http, {"reject": [401, "pagerduty: signature does not match"]}, "/pagerduty"
        )
        assert signature.status_code == 401
        assert signature.json() == {"error": "pagerduty: signature does not match"}
        crash = post(http, {"crash": f"bug near {SECRET_MARK}"})
        assert crash.status_code == 500
        assert SECRET_MARK not in crash.text
        values = metrics(http)
    assert work.order == []
    assert value(values, "notices_rejected_total", source="alertmanager", status="422") == 1
    assert value(values, "notices_rejected_total", source="pagerduty", status="401") == 1
    assert value(values, "notices_rejected_total", source="alertmanager", status="500") == 1


def test_accepted_notices_get_202_with_keys_and_duplicates_run_once(serve, work: Work) -> None:
    receiver = serve()
    with client(receiver) as http:
        first = post(http, notices(("alertmanager:g1", "d1"), ("alertmanager:g2", "d2")))
        assert first.status_code == 202
        assert first.json() == {"keys": ["alertmanager:g1", "alertmanager:g2"], "duplicates": []}
        assert receiver.wait_idle(WAIT)
        again = post(http, notices(("alertmanager:g1", "d1"), ("alertmanager:g2", "d2")))
        assert again.status_code == 202
        assert again.json()["duplicates"] == ["alertmanager:g1", "alertmanager:g2"]
        # a new delivery of a known key (the group changed) is new work
        changed = post(http, notices(("alertmanager:g1", "d3")))
        assert changed.json()["duplicates"] == []
        assert receiver.wait_idle(WAIT)
        values = metrics(http)
    assert sorted(work.order) == ["d1", "d2", "d3"]
    assert value(values, "alerts_received_total", source="alertmanager") == 5
    assert value(values, "notices_duplicate_total", source="alertmanager") == 2
    assert value(values, "bundles_total", outcome="ok") == 3


def test_real_alertmanager_parser_behind_the_server(work: Work) -> None:
    from incident_lib.receiver.alerts import parse_alertmanager

    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="ConnectionLeak"}',
        "status": "firing",
        "receiver": "incident",
        "groupLabels": {"alertname": "ConnectionLeak"},
        "commonLabels": {"alertname": "ConnectionLeak", "service": "checkout"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ConnectionLeak", "service": "checkout"},
                "startsAt": "2026-11-03T14:00:00Z",
            }
        ],
    }
    routes = {"/alertmanager": WebhookRoute("alertmanager", parse_alertmanager, TOKEN)}
    with Receiver(routes, work) as receiver, client(receiver) as http:
        accepted = post(http, payload)
        assert accepted.status_code == 202
        assert accepted.json()["keys"] == ['alertmanager:{}:{alertname="ConnectionLeak"}']
        wrong_version = post(http, {**payload, "version": "3"})
        assert wrong_version.status_code == 422
        assert "version" in wrong_version.json()["error"]
        not_json = http.post(
            "/alertmanager", content=b"{nope", headers={**AUTH, "Content-Type": "application/json"}
        )
        assert not_json.status_code == 400
        assert receiver.wait_idle(WAIT)
    assert len(work.order) == 1


# ---------------------------------------------------------------------- the queue


def test_concurrency_is_bounded_by_workers(serve, work: Work) -> None:
    receiver = serve(workers=2)
    work.hold("d1", "d2", "d3", "d4")
    with client(receiver) as http:
        response = post(http, notices(("k1", "d1"), ("k2", "d2"), ("k3", "d3"), ("k4", "d4")))
        assert response.status_code == 202
        assert work.started("d1").wait(WAIT)
        assert work.started("d2").wait(WAIT)
        # both workers are busy: the other two wait in the queue
        assert value(metrics(http), "queue_depth") == 2
        assert work.order == ["d1", "d2"]
        work.release()
        assert receiver.wait_idle(WAIT)
        assert value(metrics(http), "queue_depth") == 0
    assert sorted(work.order) == ["d1", "d2", "d3", "d4"]
    assert work.max_running == 2


def test_one_job_per_key_at_a_time(serve, work: Work) -> None:
    receiver = serve(workers=3)
    work.hold("a1")
    with client(receiver) as http:
        response = post(http, notices(("key-a", "a1"), ("key-a", "a2"), ("key-b", "b1")))
        assert response.status_code == 202
        assert work.started("a1").wait(WAIT)
        assert work.done("b1").wait(WAIT)  # workers were free, yet a2 waits for a1
        assert receiver.wait_idle(0) is False
        assert value(metrics(http), "queue_depth") == 1
        assert not work.started("a2").is_set()
        work.release("a1")
        assert receiver.wait_idle(WAIT)
    assert work.order.index("a1") < work.order.index("a2")
    assert work.max_per_key == 1


def test_full_queue_answers_503_with_retry_after(serve, work: Work) -> None:
    receiver = serve(workers=1, max_queue=1, retry_after=7)
    work.hold("d1")
    with client(receiver) as http:
        assert post(http, notices(("k1", "d1"))).status_code == 202
        assert work.started("d1").wait(WAIT)
        assert post(http, notices(("k2", "d2"))).status_code == 202
        full = post(http, notices(("k3", "d3")))
        assert full.status_code == 503
        assert full.headers["retry-after"] == "7"
        assert full.json() == {"error": "the work queue is full"}
        values = metrics(http)
        work.release()
        assert receiver.wait_idle(WAIT)
        # the refused delivery was not remembered: the sender's retry is accepted
        retry = post(http, notices(("k3", "d3")))
        assert retry.json() == {"keys": ["k3"], "duplicates": []}
        assert receiver.wait_idle(WAIT)
    assert value(values, "notices_rejected_total", source="alertmanager", status="503") == 1
    assert work.order == ["d1", "d2", "d3"]


def test_a_failing_job_is_counted_and_logged_without_payload(
    serve, work: Work, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="incident_lib.receiver")
    receiver = serve()
    work.fail.add("bad")
    with client(receiver) as http:
        payload = {**notices(("alertmanager:g1", "bad"), ("alertmanager:g2", "good"))}
        payload["summary"] = SECRET_MARK
        assert post(http, payload).status_code == 202
        assert receiver.wait_idle(WAIT)
        assert post(http, notices(("nope", "x")), "/alertmanager").status_code == 202
        assert receiver.wait_idle(WAIT)
        values = metrics(http)
        # a failed delivery is not a duplicate: the sender's retry runs again
        work.fail.clear()
        assert post(http, notices(("alertmanager:g1", "bad"))).json()["duplicates"] == []
        assert receiver.wait_idle(WAIT)
    assert value(values, "failures_total", source="alertmanager") == 1
    assert value(values, "bundles_total", outcome="failed") == 1
    assert value(values, "bundles_total", outcome="ok") == 2
    assert value(values, "alert_to_bundle_seconds_count") == 3
    assert value(values, "alert_to_bundle_seconds_sum") > 0
    assert value(values, "alerts_received_total", source="alertmanager") == 3
    assert work.order.count("bad") == 2
    assert "alertmanager:g1" in caplog.text and "RuntimeError" in caplog.text
    assert SECRET_MARK not in caplog.text
    assert TOKEN not in caplog.text


def test_metrics_use_the_registry_given(work: Work, parser: FakeParser) -> None:
    registry = CollectorRegistry()
    routes = {"/hook": WebhookRoute("datadog", parser, TOKEN)}
    with Receiver(routes, work, registry=registry) as receiver, client(receiver) as http:
        assert post(http, notices(("dd:1:host", "d1")), "/hook").status_code == 202
        assert receiver.wait_idle(WAIT)
    assert registry.get_sample_value("alerts_received_total", {"source": "datadog"}) == 1
    assert registry.get_sample_value("bundles_total", {"outcome": "ok"}) == 1
    # a second receiver in the same process does not clash with the first
    with Receiver(routes, work) as other:
        assert other.metrics.registry is not registry


# ---------------------------------------------------------------------- shutdown


def test_shutdown_finishes_running_jobs_and_abandons_queued_ones(work: Work, parser) -> None:
    abandoned: list[FakeNotice] = []
    all_abandoned = threading.Event()

    def abandon(notice: FakeNotice) -> None:
        abandoned.append(notice)
        if len(abandoned) == 2:
            all_abandoned.set()

    routes = {"/alertmanager": WebhookRoute("alertmanager", parser, TOKEN)}
    receiver = Receiver(routes, work, abandon=abandon, workers=1).start()
    work.hold("slow")
    result: list[Drained[FakeNotice]] = []
    with client(receiver) as http:
        assert post(http, notices(("k1", "slow"))).status_code == 202
        assert work.started("slow").wait(WAIT)
        assert post(http, notices(("k2", "q1"), ("k3", "q2"))).status_code == 202
        stopper = threading.Thread(target=lambda: result.append(receiver.shutdown(WAIT)))
        stopper.start()
        assert all_abandoned.wait(WAIT)
        assert receiver.draining
        # stopped accepting: webhooks and health answer 503, metrics still answer
        refused = post(http, notices(("k4", "new")))
        assert refused.status_code == 503
        assert "retry-after" in refused.headers
        assert http.get("/healthz").status_code == 503
        values = metrics(http)
        assert not work.done("slow").is_set()
        work.release("slow")
        stopper.join(WAIT)
        assert not stopper.is_alive()
    assert result == [Drained((FakeNotice("k2", "q1"), FakeNotice("k3", "q2")), ())]
    assert abandoned == [FakeNotice("k2", "q1"), FakeNotice("k3", "q2")]
    assert work.done("slow").is_set()
    assert work.order == ["slow"]  # the queued ones never started
    assert value(values, "bundles_total", outcome="abandoned") == 2
    assert value(values, "queue_depth") == 0
    with pytest.raises(httpx.TransportError), client(receiver) as http:
        http.get("/healthz")
    assert receiver.shutdown(WAIT) == Drained((), ())


def test_shutdown_marks_jobs_still_running_at_the_deadline(work: Work, parser) -> None:
    abandoned: list[FakeNotice] = []
    routes = {"/alertmanager": WebhookRoute("alertmanager", parser, TOKEN)}
    receiver = Receiver(routes, work, abandon=abandoned.append, workers=1).start()
    work.hold("stuck")
    with client(receiver) as http:
        assert post(http, notices(("k1", "stuck"))).status_code == 202
    assert work.started("stuck").wait(WAIT)
    result = receiver.shutdown(timeout=0.01)
    assert result == Drained((), (FakeNotice("k1", "stuck"),))
    assert abandoned == [FakeNotice("k1", "stuck")]
    work.release("stuck")
    assert work.done("stuck").wait(WAIT)


def test_context_manager_starts_and_stops(work: Work, parser) -> None:
    routes = {"/alertmanager": WebhookRoute("alertmanager", parser, TOKEN)}
    with Receiver(routes, work, port=0) as receiver, client(receiver) as http:
        assert http.get("/healthz").status_code == 200
    assert receiver.draining
    with pytest.raises(RuntimeError):
        receiver.start()


# ---------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("routes", "options"),
    [
        ({"alertmanager": WebhookRoute("a", FakeParser(), TOKEN)}, {}),
        ({"/metrics": WebhookRoute("a", FakeParser(), TOKEN)}, {}),
        ({"/healthz": WebhookRoute("a", FakeParser(), None)}, {}),
        ({"/a": WebhookRoute("a", FakeParser(), "  ")}, {}),
        ({"/a": WebhookRoute("a", FakeParser(), TOKEN)}, {"workers": 0}),
        ({"/a": WebhookRoute("a", FakeParser(), TOKEN)}, {"max_queue": 0}),
        ({"/a": WebhookRoute("a", FakeParser(), TOKEN)}, {"max_body": 0}),
    ],
)
def test_unusable_configuration_is_refused(routes, options) -> None:
    with pytest.raises(InvalidInput) as caught:
        Receiver(routes, Work(), **options)
    assert TOKEN not in str(caught.value)


def test_route_repr_hides_the_token() -> None:
    route = WebhookRoute("alertmanager", FakeParser(), TOKEN)
    assert TOKEN not in repr(route)
    assert "alertmanager" in repr(route)
