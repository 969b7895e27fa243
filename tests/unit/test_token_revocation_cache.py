"""The per-user revocation cache (kstream/adapters/auth_revocation.py) and how verification uses it: a read trusts a
user record at most the bound old, a write looks it up now, the cache is bounded and thread-safe. No processes: the
user record comes from a stand-in ``fetch``; tests/emulator/test_token_revocation.py proves it on the Auth emulator.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
from kstream import auth
from kstream.adapters import firebase_auth
from kstream.adapters.auth_revocation import RevocationCache, UserStatus
from kstream.errors import InvalidToken
from kstream.registry import function_list
from kstream.settings import Settings

ALIVE = UserStatus(exists=True, valid_after_ms=1_000_000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Records:
    """A stand-in user store: the status of each uid, and how often it was looked up."""

    def __init__(self, status: UserStatus = ALIVE) -> None:
        self.status = status
        self.calls = 0

    def __call__(self, uid: str) -> UserStatus:
        self.calls += 1
        return self.status


def test_a_record_is_trusted_until_the_bound_then_looked_up_again() -> None:
    clock, records = Clock(), Records()
    cache = RevocationCache(records, clock=clock)
    assert cache.status("u1", 60) == ALIVE and records.calls == 1
    records.status = UserStatus(exists=True, valid_after_ms=9_000_000)  # revoked at t=9000 s
    clock.now += 60
    assert cache.status("u1", 60) == ALIVE and records.calls == 1  # still within the bound: the old record
    clock.now += 0.001
    assert cache.status("u1", 60).refusal(issued_at=5000) == "revoked" and records.calls == 2


def test_a_fresh_lookup_always_asks_and_refreshes_what_reads_see() -> None:
    clock, records = Clock(), Records()
    cache = RevocationCache(records, clock=clock)
    cache.status("u1", 60)
    records.status = UserStatus(exists=True, disabled=True)
    assert cache.status("u1", 0).refusal(issued_at=5000) == "disabled" and records.calls == 2
    assert cache.status("u1", 60).refusal(issued_at=5000) == "disabled" and records.calls == 2


def test_the_cache_holds_at_most_max_entries_least_recently_used_out_first() -> None:
    records = Records()
    cache = RevocationCache(records, max_entries=3, clock=Clock())
    for uid in ("a", "b", "c"):
        cache.status(uid, 60)
    cache.status("a", 60)  # a is now the most recent
    cache.status("d", 60)  # b goes
    assert len(cache) == 3 and records.calls == 4
    cache.status("a", 60)
    assert records.calls == 4
    cache.status("b", 60)
    assert records.calls == 5


def test_concurrent_requests_of_one_user_make_one_lookup() -> None:
    release = threading.Event()
    calls: list[str] = []

    def slow(uid: str) -> UserStatus:
        calls.append(uid)
        release.wait(10)
        return ALIVE

    cache = RevocationCache(slow)
    answers: list[UserStatus] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.status("u1", 60))) for _ in range(32)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    assert calls == ["u1"] and answers == [ALIVE] * 32


def test_a_failed_lookup_is_not_kept() -> None:
    attempts = {"n": 0}

    def flaky(uid: str) -> UserStatus:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise OSError("auth unreachable")
        return ALIVE

    cache = RevocationCache(flaky, clock=Clock())
    with pytest.raises(OSError):
        cache.status("u1", 60)
    assert cache.status("u1", 60) == ALIVE and attempts["n"] == 2


@pytest.mark.parametrize(("status", "issued_at", "refusal"), [
    (UserStatus(exists=False), 10, "not found"),
    (UserStatus(exists=True, disabled=True), 10, "disabled"),
    (UserStatus(exists=True, valid_after_ms=10_000), 9, "revoked"),
    (UserStatus(exists=True, valid_after_ms=10_000), 10, None),  # firebase-admin's rule: iat * 1000 < validSince
    (UserStatus(exists=True), 10, None),
])
def test_the_refusal_rule_is_firebase_admins(status: UserStatus, issued_at: int, refusal: str | None) -> None:
    assert status.refusal(issued_at) == refusal


def test_writes_and_only_writes_look_revocation_up_on_every_request() -> None:
    checked = {spec.name for spec in function_list().functions if auth.checks_revocation(spec)}
    assert {"upload-start", "upload-complete", "metadata-upsert", "subtitle-put", "subtitle-delete"} <= checked
    for spec in function_list().functions:
        if spec.name in checked:
            assert spec.http is not None and spec.http.method != "GET", spec.name
    assert not {"video-get", "video-search", "stream", "auth-validate", "series-get"} & checked


# -- through verify_id_token, on the emulator path (claims checked here, no signature, no process) -----------------
def _token(uid: str, project: str, iat: int) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "sub": uid, "user_id": uid,
              "iat": iat, "auth_time": iat, "exp": iat + 3600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_read_trusts_the_cache_within_the_bound_and_a_write_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens: lookups are the stand-in's
    records = Records(UserStatus(exists=True, valid_after_ms=0))
    monkeypatch.setattr(firebase_auth, "user_status", lambda uid, settings: records(uid))
    settings = Settings(project_id="demo-revocation-unit", revocation_cache_seconds=60,
                        firebase_certs_url="http://127.0.0.1:9/unit")
    issued = int(time.time()) - 10
    header = f"Bearer {_token('viewer-1', settings.project_id, issued)}"

    assert auth.authenticate_user(header, settings).id == "viewer-1" and records.calls == 1
    records.status = UserStatus(exists=True, valid_after_ms=(issued + 1) * 1000)  # sessions revoked
    assert auth.authenticate_user(header, settings).id == "viewer-1" and records.calls == 1  # read: cached
    with pytest.raises(InvalidToken, match="revoked"):
        auth.authenticate_user(header, settings, check_revoked=True)  # write: looked up now
    with pytest.raises(InvalidToken, match="revoked"):
        auth.authenticate_user(header, settings)  # and the reads of this process see it from then on
    assert records.calls == 2
