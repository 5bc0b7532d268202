"""Signatures that generalise: variable positions no mask anticipates still group.

Each case is a template seen in public logs (SSH, PAM, a proxy, ntpd, syslog) whose
variable part is a user name, a host name with a port, a duration or size in several
spellings, or an empty ``key=``; it must be one signature. States stay apart.
"""

from __future__ import annotations

import pytest

from incident_lib.analysis.signatures import mask, signature_ids


def _one(messages: list[str]) -> None:
    ids = signature_ids(messages)
    assert len(set(ids)) == 1, sorted(set(zip(ids, messages, strict=True)))[:6]


def test_user_name_position_is_one_signature() -> None:
    users = ["root"] * 20 + ["git", "ftp", "uucp", "admin", "oracle"]
    _one(
        [
            f"Failed password for {u} from 10.0.{i}.7 port {4000 + i} ssh2"
            for i, u in enumerate(users)
        ]
    )


def test_host_port_position_is_one_signature() -> None:
    hosts = ["api.github.com:443", "30.client-channel.google.com:443", "10.0.0.1:443"]
    hosts += ["cdn.example.org:80", "proxy.cse.cuhk.edu.hk:5070"]
    _one([f"{h} open through proxy proxy.corp.example.com:5070 HTTPS" for h in hosts * 3])


def test_host_without_port_is_masked_but_dotted_code_names_are_not() -> None:
    assert mask("rhost=zummit.com user=root") == "rhost=<HOST> user=root"
    assert mask("mail.cs.uni-x.pl refused") == "<HOST> refused"
    assert (
        mask("java.net.ConnectException at Foo.bar:12")
        == "java.net.ConnectException at Foo.bar:<NUM>"
    )
    assert mask("org.apache.hadoop.mapred.Task: done") == "org.apache.hadoop.mapred.Task: done"


@pytest.mark.parametrize(
    "values",
    [
        ["2.5s", "250ms", "1m30s", "<1 sec", "00:01:30", "3 seconds"],
        ["1.2 KB (1234 bytes)", "234 bytes", "12 MB (12582912 bytes)", "0 bytes"],
    ],
)
def test_durations_and_sizes_in_any_spelling_are_one_signature(values: list[str]) -> None:
    _one([f"connection to backend closed, lifetime {v} after keepalive" for v in values * 2])


def test_key_with_empty_value_is_one_signature() -> None:
    base = "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={}"
    _one([base.format(h) for h in ["", "zummit.com", "10.1.2.3", "massive.merukuru.org", ""]])
    _one(
        [
            f"connection from 10.0.0.{i} ({h}) at Sun Jul 10 03:55:{i:02d} 2005"
            for i, h in enumerate(["", "a.example.com", "", "b.example.net"])
        ]
    )


def test_a_shattered_template_is_one_signature() -> None:
    hosts = [f"h{i}.example.com:443" for i in range(40)] + ["wpad:80", "LOCAL(0)"]
    sizes = ["1.2 KB (1234 bytes)", "234 bytes", "5 MB (5242880 bytes)"]
    lifetimes = ["<1 sec", "00:01", "02:30"]
    messages = [
        f"{h} close, {sizes[i % 3]} sent, {sizes[(i + 1) % 3]} received, lifetime {life}"
        for i, (h, life) in enumerate(zip(hosts * 3, lifetimes * 42, strict=False))
    ]
    _one(messages)


def test_states_stay_apart() -> None:
    methods = [
        f"{m} /api/v1/items/{i} returned 200 in {i}ms" for i in range(30) for m in ("GET", "POST")
    ]
    ids = signature_ids(methods)
    assert ids[0] != ids[1]
    assert len(set(ids)) == 2
    vms = [
        f"VM {s} (Lifecycle Event) instance {i:08x}-aaaa-bbbb-cccc-{i:012x}"
        for i in range(20)
        for s in ("Paused", "Resumed")
    ]
    ids = signature_ids(vms)
    assert len(set(ids)) == 2
    words = signature_ids([f"not allocating buffer for device {d}" for d in ("lo", "sit0", "eth1")])
    assert words[0] != words[1]  # a plain word is not absorbed by one placeholder


def test_keys_with_placeholders_do_not_merge() -> None:
    ids = signature_ids(
        ["lookup failed for user_id=17 in cache", "lookup failed for order_id=17 in cache"]
    )
    assert ids[0] != ids[1]
