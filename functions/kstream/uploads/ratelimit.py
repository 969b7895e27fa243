"""Sliding-window arithmetic for per-user limits (pure; the Firestore transaction lives in repository.py).

A window is the list of recent grants as ``(epoch seconds, id)``; a new grant is allowed while fewer than
``limit`` grants fall inside the last ``window_seconds``. ``reset`` is when the oldest grant in the window leaves
it (epoch seconds): the earliest moment a refused caller can succeed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Grant:
    at: float
    id: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    grants: tuple[Grant, ...]  # the window to store (the new grant included when allowed)
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the next slot frees (now when none is taken)
    now: float

    @property
    def retry_after_seconds(self) -> int:
        return 0 if self.allowed else max(1, math.ceil(self.reset_at - self.now))

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers (Reset in epoch seconds, as GitHub and express-rate-limit's legacy form)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }


def decide(previous: list[Grant], new_id: str, now: float, limit: int, window_seconds: float) -> Decision:
    window = sorted((g for g in previous if now - window_seconds < g.at <= now + 1), key=lambda g: g.at)
    if any(g.id == new_id for g in window):  # a retried transaction: already granted
        allowed, kept = True, window
    elif len(window) < limit:
        allowed, kept = True, [*window, Grant(now, new_id)]
    else:
        allowed, kept = False, window
    remaining = max(0, limit - len(kept))
    if remaining > 0:
        reset_at = (kept[0].at + window_seconds) if kept else now
    else:
        reset_at = kept[len(kept) - limit].at + window_seconds
    return Decision(allowed, tuple(kept), limit, remaining, reset_at, now)


def without(previous: list[Grant], grant_id: str) -> list[Grant]:
    return [g for g in previous if g.id != grant_id]
