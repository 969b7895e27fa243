"""A per-user sliding window as ``limit`` slots (pure; the Firestore writes live in repository.py).

A user's window is ``limit`` slot documents, each holding the time it was last taken. A slot is free when it was
never taken or was taken more than ``window_seconds`` ago; a start takes one free slot with a conditional write
(create, or update only if unchanged since read), so concurrent starts on any number of function instances can
never hold more than ``limit`` slots at once, and no transaction lock is contended. Exactly the sliding log of
the last ``limit`` starts, stored in fixed places.

``reset`` is when the oldest taken slot frees (epoch seconds): the earliest moment a refused caller can succeed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    key: str
    taken_at: float | None  # epoch seconds, None when never taken
    holder: str | None = None  # the uploadId that took it


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the oldest taken slot frees (now when none is taken)
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


def is_free(slot: Slot, now: float, window_seconds: float) -> bool:
    return slot.taken_at is None or slot.taken_at <= now - window_seconds


def free_slots(slots: Sequence[Slot], now: float, window_seconds: float) -> list[Slot]:
    return [slot for slot in slots if is_free(slot, now, window_seconds)]


def decision(slots: Sequence[Slot], now: float, limit: int, window_seconds: float, *, allowed: bool) -> Decision:
    """The answer to give, from the slots as read after taking one (or failing to)."""
    taken = sorted(s.taken_at for s in slots if not is_free(s, now, window_seconds) and s.taken_at is not None)
    remaining = max(0, limit - len(taken))
    # A concurrent start (another instance) may have stamped its slot a moment after this one's ``now``: that slot
    # was taken now, not in the future, so Retry-After never exceeds the window.
    reset_at = min(taken[0], now) + window_seconds if taken else now
    return Decision(allowed, limit, remaining, reset_at, now)
