"""Whether a verified ID token was revoked or its user disabled: Firebase Auth's user record, looked up fresh or
through a per-user cache of bounded age and size.

firebase-admin's ``check_revoked=True`` fetches the user record (an Identity Toolkit ``accounts:lookup``, billed
and quota-bound) on every call. Here the same rule (a disabled user is refused; a token issued before the user's
``validSince``, i.e. ``tokens_valid_after_timestamp``, is revoked) runs against a :class:`UserStatus` that is either
fetched now (``max_age=0``: the functions that ``check_revoked`` in functions.yaml, writes and role changes) or
at most ``max_age`` seconds old (``KSTREAM_REVOCATION_CACHE_SECONDS``, every other request): a user revoked or
disabled is shut out by every function within that bound, and at once by the writes.

The cache is per process, thread-safe, bounded to ``max_entries`` users (least recently used out first), and
single-flight: concurrent requests of one user whose entry is stale wait for one lookup instead of each making one.
A fresh lookup (a write) also refreshes the entry, so a revocation seen by a write reaches the reads of that
instance at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_ENTRIES = 20_000  # ~100 bytes an entry: a few MB at most, far more users than 40 requests touch per minute


@dataclass(frozen=True)
class UserStatus:
    """What revocation needs of a Firebase user record."""

    exists: bool
    disabled: bool = False
    valid_after_ms: int = 0  # tokens issued before this (ms since 1970) are revoked

    def refusal(self, issued_at: float) -> str | None:
        """Why a token issued at ``issued_at`` (seconds) is refused, or None; firebase-admin's order and rule."""
        if not self.exists:
            return "not found"
        if self.disabled:
            return "disabled"
        if issued_at * 1000 < self.valid_after_ms:
            return "revoked"
        return None


class _Entry:
    __slots__ = ("fetched_at", "pending", "status")

    def __init__(self) -> None:
        self.fetched_at = float("-inf")
        self.status: UserStatus | None = None
        self.pending: threading.Event | None = None  # set while one thread looks the user up


class RevocationCache:
    """Per-user :class:`UserStatus`, looked up with ``fetch(uid)`` when missing or older than the asked age."""

    def __init__(self, fetch: Callable[[str], UserStatus], *, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._fetch = fetch
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = 0  # fetches made (for tests and benches)

    def __len__(self) -> int:
        return len(self._entries)

    def status(self, uid: str, max_age: float) -> UserStatus:
        """The user's status, fetched within the last ``max_age`` seconds (0 or less: fetched now, by this call)."""
        if max_age <= 0:
            started = self._clock()
            return self._store(uid, self._lookup(uid), started)
        while True:
            with self._lock:
                entry = self._entry(uid)
                if entry.status is not None and self._clock() - entry.fetched_at <= max_age:
                    return entry.status
                waiting = entry.pending
                if waiting is None:
                    entry.pending = mine = threading.Event()
                    break
            waiting.wait(timeout=30)  # another request of this user is looking it up: use its answer
        started = self._clock()
        try:
            status = self._lookup(uid)
        finally:
            with self._lock:
                entry.pending = None
            mine.set()
        return self._store(uid, status, started)

    def _lookup(self, uid: str) -> UserStatus:
        with self._lock:
            self.lookups += 1
        return self._fetch(uid)

    def _store(self, uid: str, status: UserStatus, started: float) -> UserStatus:
        """Keep ``status`` as of ``started`` (when its lookup began: the record may be that old), unless the entry
        already holds a later one."""
        with self._lock:
            entry = self._entry(uid)
            if started >= entry.fetched_at:
                entry.status, entry.fetched_at = status, started
        return status

    def _entry(self, uid: str) -> _Entry:
        """The entry of ``uid`` (new if missing), now the most recently used; under the lock."""
        entry = self._entries.get(uid)
        if entry is None:
            entry = self._entries[uid] = _Entry()
            self._evict()
        else:
            self._entries.move_to_end(uid)
        return entry

    def _evict(self) -> None:
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
