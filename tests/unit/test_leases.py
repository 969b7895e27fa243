"""Leases kept alive by a heartbeat: renewed while the holder works, given up when lost, and a Retry-After that
says when the lease is renewed or runs out."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from kstream import leases


def test_the_heartbeat_renews_until_the_block_ends() -> None:
    renewals: list[datetime] = []
    with leases.Heartbeat(lambda until: renewals.append(until) or True, every=0.05, lease_seconds=10):
        time.sleep(0.3)
    count = len(renewals)
    time.sleep(0.15)
    assert count >= 3 and len(renewals) == count  # nothing after the block
    assert all(timedelta(seconds=9) < until - datetime.now(UTC) < timedelta(seconds=10) for until in renewals[-1:])


def test_a_lost_lease_stops_the_heartbeat_and_says_so() -> None:
    calls = []

    def renew(until: datetime) -> bool:
        calls.append(until)
        return len(calls) < 2  # taken over after the first renewal

    with leases.Heartbeat(renew, every=0.02) as beat:
        assert beat.lost.wait(2)
        time.sleep(0.1)
    assert len(calls) == 2


def test_a_failed_renewal_is_retried_at_the_next_beat() -> None:
    calls = []
    done = threading.Event()

    def renew(until: datetime) -> bool:
        calls.append(until)
        if len(calls) == 1:
            raise ConnectionError("Firestore did not answer")
        done.set()
        return True

    with leases.Heartbeat(renew, every=0.02) as beat:
        assert done.wait(2)
    assert not beat.lost.is_set()


def test_retry_after_is_the_time_left_on_the_lease() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert leases.retry_after(now + timedelta(seconds=7.2), now) == 8
    assert leases.retry_after(now - timedelta(seconds=3), now) == 1  # run out: ask again now
    assert leases.retry_after(None, now) == 1
    assert leases.retry_after(leases.until(now), now) == leases.LEASE_SECONDS
    assert leases.HEARTBEAT_SECONDS * 3 <= leases.LEASE_SECONDS  # a live holder renews several times per lease
