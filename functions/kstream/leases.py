"""Short leases kept alive by a heartbeat, so a holder that dies is replaced within seconds.

A lease (an id and an ``until`` time in Firestore) marks the one function instance doing a piece of work: completing
an upload, creating a transcoding job. The holder renews it every :data:`HEARTBEAT_SECONDS` while it works; a
holder killed mid-work stops renewing, its lease runs out after at most :data:`LEASE_SECONDS`, and the next attempt
(the client's retry, the event's redelivery, the sweep) takes the work over. A long lease would hold a crashed
holder's work for its whole length (it was 300 s); a short one without a heartbeat would be taken from a live,
slow holder.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

LEASE_SECONDS = 15.0  # a lease not renewed this long is free to take over
HEARTBEAT_SECONDS = 4.0  # how often a live holder renews it (several renewals fit in one lease)


def until(now: datetime, seconds: float = LEASE_SECONDS) -> datetime:
    return now + timedelta(seconds=seconds)


def retry_after(lease_until: datetime | None, now: datetime) -> int:
    """Seconds until a lease either is renewed by its live holder or runs out: the honest ``Retry-After`` for a
    caller refused because someone holds it (at least 1)."""
    if lease_until is None:
        return 1
    return max(1, math.ceil((lease_until - now).total_seconds()))


class Heartbeat:
    """``with Heartbeat(renew):`` calls ``renew(new_until) -> bool`` every ``every`` seconds in a daemon thread until
    the block ends, or until ``renew`` answers False (the lease was lost: :attr:`lost` is then set)."""

    def __init__(self, renew: Callable[[datetime], bool], *, every: float = HEARTBEAT_SECONDS,
                 lease_seconds: float = LEASE_SECONDS, now: Callable[[], datetime] = lambda: datetime.now(UTC)
                 ) -> None:
        self._renew = renew
        self._every = every
        self._lease_seconds = lease_seconds
        self._now = now
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if not self._renew(until(self._now(), self._lease_seconds)):
                    self.lost.set()
                    return
            except Exception:  # noqa: S112 (a missed beat: the lease still holds until the next one)
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every + 1)
