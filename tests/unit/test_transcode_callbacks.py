"""Completion callbacks: the signature a receiver verifies, which URLs may receive them, delivery with backoff."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from kstream.errors import RequestInvalid
from kstream.settings import Settings
from kstream.transcode import callbacks

SECRET = "s3cret-for-tests"


def test_signature_verifies_and_binds_body_secret_and_time() -> None:
    body = b'{"jobId":"job-1","status":"completed"}'
    header = callbacks.sign(SECRET, body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert callbacks.verify(SECRET, body, header, now=1_700_000_100)
    assert not callbacks.verify(SECRET, body + b" ", header, now=1_700_000_100)  # tampered body
    assert not callbacks.verify("other-secret", body, header, now=1_700_000_100)  # wrong key
    assert not callbacks.verify(SECRET, body, header, now=1_700_000_000 + 301)  # replayed too late
    assert not callbacks.verify(SECRET, body, header, now=1_700_000_000 - 301)  # from the future


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=notanumber,v1=abc", "t=1700000000", "garbage"])
def test_malformed_signature_headers_do_not_verify(header: str | None) -> None:
    assert not callbacks.verify(SECRET, b"{}", header, now=1_700_000_000)


def test_a_rotated_key_can_be_accepted_during_the_rollover() -> None:
    body = b"{}"
    new = callbacks.sign(SECRET, body, 1_700_000_000)
    both = new + ",v1=" + "0" * 64
    assert callbacks.verify(SECRET, body, both, now=1_700_000_000)


@pytest.mark.parametrize(
    ("url", "local", "ok"),
    [
        ("https://hooks.example.com/transcoded?x=1", False, True),
        ("https://hooks.example.com:8443/t", True, True),
        ("http://hooks.example.com/t", False, False),
        ("http://hooks.example.com/t", True, False),  # http only to loopback, and only locally
        ("http://127.0.0.1:9000/t", True, True),
        ("http://localhost:9000/t", True, True),
        ("http://[::1]:9000/t", True, True),
        ("http://127.0.0.1:9000/t", False, False),
        ("https://user:pw@hooks.example.com/t", False, False),
        ("ftp://hooks.example.com/t", False, False),
        ("hooks.example.com/t", False, False),
        ("https://", False, False),
        ("https://host:99999/t", False, False),
        # SSRF: internal hosts are refused whatever the scheme, in any spelling of the address
        ("https://metadata.google.internal/computeMetadata/v1/", False, False),
        ("https://metadata/computeMetadata/v1/", False, False),
        ("https://169.254.169.254/computeMetadata/v1/", False, False),
        ("https://169.254.169.254/t", True, False),
        ("https://localhost/t", False, False),
        ("https://127.0.0.1/t", False, False),
        ("https://2130706433/t", False, False),  # 127.0.0.1 as one number
        ("https://0x7f.1/t", False, False),
        ("https://[::1]/t", False, False),
        ("https://[::ffff:10.0.0.1]/t", False, False),
        ("https://10.1.2.3/t", False, False),
        ("https://172.16.0.9/t", False, False),
        ("https://192.168.1.1/t", False, False),
        ("https://100.64.0.1/t", False, False),
        ("https://[fd00::1]/t", False, False),
        ("https://0.0.0.0/t", False, False),
        ("https://db.internal/t", False, False),
        ("https://intranet/t", False, False),
        ("https://8.8.8.8/t", False, True),
        ("https://localhost:9443/t", True, True),  # loopback stays allowed in local runs
    ],
)
def test_callback_urls(url: str, local: bool, ok: bool) -> None:
    if ok:
        assert callbacks.check_url(url, allow_loopback_http=local) == url
    else:
        with pytest.raises(RequestInvalid) as raised:
            callbacks.check_url(url, allow_loopback_http=local)
        assert raised.value.details == {"field": "callbackUrl"}


@pytest.mark.parametrize(
    ("addresses", "local", "sent"),
    [
        (["93.184.216.34"], False, True),
        (["93.184.216.34", "169.254.169.254"], False, False),  # any internal answer refuses the host
        (["10.0.0.7"], False, False),
        (["::ffff:127.0.0.1"], False, False),
        (["127.0.0.1"], True, True),  # local runs: loopback receivers
        (["192.168.0.2"], True, False),
    ],
)
def test_delivery_refuses_names_resolving_to_internal_addresses(addresses: list[str], local: bool,
                                                                sent: bool) -> None:
    session = _Session([204])
    outcome = callbacks.deliver("https://hooks.example.com/t", {"jobId": "job-9"}, SECRET, session=session,  # type: ignore[arg-type]
                                sleep=lambda _: None, allow_loopback=local, resolve=lambda host: addresses)
    assert outcome.delivered is sent
    assert len(session.calls) == (1 if sent else 0)
    if not sent:
        assert outcome.attempts == 0 and "internal address" in (outcome.error or "")


def test_delivery_never_posts_to_an_internal_literal_host() -> None:
    session = _Session([204])
    outcome = callbacks.deliver("https://169.254.169.254/computeMetadata/v1/", {"jobId": "j"}, SECRET,
                                session=session, resolve=lambda host: [host])  # type: ignore[arg-type]
    assert not outcome.delivered and session.calls == []


def test_signing_secret_comes_from_settings_or_the_local_development_key() -> None:
    assert callbacks.secret_for(Settings(project_id="demo-x", callback_signing_secret="abc")) == "abc"
    assert callbacks.secret_for(Settings(project_id="demo-x")) is None  # cloud without a secret: no callbacks
    local = Settings(project_id="demo-x", transcoder_endpoint="http://127.0.0.1:1")
    assert callbacks.secret_for(local) == callbacks.LOCAL_DEVELOPMENT_SECRET


class _Answer:
    def __init__(self, status: int) -> None:
        self.status_code = status


class _Session:
    """Answers each POST with the next item of ``script``: a status code or an exception to raise."""

    def __init__(self, script: list[int | Exception]) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> _Answer:
        self.calls.append({"url": url, **kwargs})
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return _Answer(step)


def _deliver(script: list[int | Exception], attempts: int = 3) -> tuple[callbacks.Delivery, _Session, list[float]]:
    session, sleeps = _Session(script), []
    outcome = callbacks.deliver("https://hooks.example.com/t", {"jobId": "job-9", "status": "completed"}, SECRET,
                                attempts=attempts, session=session,  # type: ignore[arg-type]
                                sleep=sleeps.append, clock=lambda: 1_700_000_000,
                                resolve=lambda host: ["93.184.216.34"])
    return outcome, session, sleeps


def test_delivery_signs_every_attempt_and_stops_at_the_first_2xx() -> None:
    outcome, session, sleeps = _deliver([503, requests.ConnectionError("reset"), 204])
    assert outcome == callbacks.Delivery(True, 3, 204)
    assert sleeps == [0.5, 1.0]  # exponential backoff
    for call in session.calls:
        headers = call["headers"]
        assert call["allow_redirects"] is False and call["timeout"] == callbacks.TIMEOUT_SECONDS
        assert headers["Content-Type"] == "application/json"
        assert headers[callbacks.DELIVERY_HEADER] == "job-9"
        assert callbacks.verify(SECRET, call["data"], headers[callbacks.SIGNATURE_HEADER], now=1_700_000_000)
    assert json.loads(session.calls[0]["data"]) == {"jobId": "job-9", "status": "completed"}


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_refusal_is_final(status: int) -> None:
    outcome, session, sleeps = _deliver([status, 200])
    assert not outcome.delivered and outcome.attempts == 1 and outcome.status == status
    assert len(session.calls) == 1 and sleeps == []


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_retryable_answers_are_retried_until_attempts_run_out(status: int) -> None:
    outcome, session, sleeps = _deliver([status] * 3)
    assert outcome == callbacks.Delivery(False, 3, status, f"HTTP {status}")
    assert len(session.calls) == 3 and sleeps == [0.5, 1.0]


def test_network_errors_never_escape() -> None:
    outcome, _, _ = _deliver([requests.Timeout("slow")] * 2, attempts=2)
    assert outcome == callbacks.Delivery(False, 2, None, "Timeout")
