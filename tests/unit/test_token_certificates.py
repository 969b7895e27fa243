"""ID-token signing certificates kept in memory for as long as Google's Cache-Control allows
(kstream/adapters/firebase_auth.py CertificatesInMemory): one fetch per max-age, not an HTTP request per token.
Signature checks themselves are proven in tests/emulator/test_auth_tokens.py, through the same wrapper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from kstream.adapters.firebase_auth import CertificatesInMemory, max_age


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    data: bytes = b'{"k1": "cert"}'


@dataclass
class Fetch:
    answer: Answer
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Answer:
        self.calls.append((method, url))
        return self.answer


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_certificates_are_fetched_once_per_max_age() -> None:
    fetch, clock = Fetch(Answer(200, {"Cache-Control": "public, max-age=600, must-revalidate"})), Clock()
    certificates = CertificatesInMemory(fetch, clock)
    for _ in range(50):
        assert certificates("https://certs.example/x509").data == b'{"k1": "cert"}'
    assert len(fetch.calls) == 1
    clock.now += 599
    certificates("https://certs.example/x509")
    assert len(fetch.calls) == 1
    clock.now += 1
    certificates("https://certs.example/x509")
    assert len(fetch.calls) == 2  # expired: asked again (the wrapped request revalidates)


@pytest.mark.parametrize("answer", [Answer(200, {}), Answer(200, {"Cache-Control": "no-store, max-age=600"}),
                                    Answer(503, {"Cache-Control": "max-age=600"})])
def test_an_answer_without_a_lifetime_or_an_error_is_not_kept(answer: Answer) -> None:
    fetch = Fetch(answer)
    certificates = CertificatesInMemory(fetch, Clock())
    certificates("https://certs.example/x509")
    certificates("https://certs.example/x509")
    assert len(fetch.calls) == 2


def test_other_requests_pass_through() -> None:
    fetch = Fetch(Answer(200, {"Cache-Control": "max-age=600"}))
    certificates = CertificatesInMemory(fetch, Clock())
    certificates("https://api.example/x", method="POST", body=b"{}")
    certificates("https://api.example/x", method="POST", body=b"{}")
    assert fetch.calls == [("POST", "https://api.example/x")] * 2


@pytest.mark.parametrize(("header", "seconds"), [("public, max-age=19845, must-revalidate", 19845),
                                                 ("max-age=abc", 0), ("", 0), ("no-cache", 0),
                                                 ("private,max-age=60", 60)])
def test_max_age(header: str, seconds: int) -> None:
    assert max_age(header) == seconds


def test_the_app_is_made_once_when_the_first_requests_arrive_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh instance's first requests come together; a second initialize_app of one name would raise (it did,
    as 401s, under load)."""
    import threading
    import time
    import uuid

    import firebase_admin
    from kstream.adapters import firebase_auth
    from kstream.settings import Settings

    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")  # no credentials needed, nothing contacted
    real_initialize = firebase_admin.initialize_app

    def slow_initialize(*args: object, **kwargs: object) -> object:  # as slow as a cold instance's first import
        time.sleep(0.2)
        return real_initialize(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(firebase_admin, "initialize_app", slow_initialize)
    settings = Settings(project_id="demo-app-race", firebase_certs_url=f"http://127.0.0.1:9/{uuid.uuid4().hex}")
    start, apps, errors = threading.Barrier(16), [], []

    def first_request() -> None:
        start.wait()
        try:
            apps.append(firebase_auth.app_for(settings))
        except Exception as exc:  # any exception is the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(apps) == 16 and len({id(app) for app in apps}) == 1
