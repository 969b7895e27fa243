"""The local Transcoder's queue follows the v1 job modes: interactive jobs first, then batch jobs by
batchModePriority (higher first), first in, first out within one priority."""

from __future__ import annotations

import threading

from local_emulator.transcoder.runner import JobRunner, queue_rank
from local_emulator.transcoder.store import JobRecord, Store


def test_queue_rank_of_each_mode() -> None:
    assert queue_rank({}) == (0, 0)
    assert queue_rank({"mode": "PROCESSING_MODE_INTERACTIVE"}) == (0, 0)
    assert queue_rank({"mode": "PROCESSING_MODE_BATCH"}) == (1, 0)
    assert queue_rank({"mode": "PROCESSING_MODE_BATCH", "batchModePriority": 10}) == (1, -10)


def test_waiting_jobs_run_interactive_first_then_batch_by_priority_in_arrival_order(monkeypatch) -> None:
    started: list[str] = []
    first_running = threading.Event()
    release = threading.Event()

    def execute(self: JobRunner, record: JobRecord) -> None:
        started.append(record.job["name"])
        if record.job["name"] == "busy":  # keeps the one worker occupied while the others queue up
            first_running.set()
            release.wait(10)

    monkeypatch.setattr(JobRunner, "_execute", execute)
    runner = JobRunner(Store(), workers=1)
    try:
        runner.submit(JobRecord(job={"name": "busy"}))
        assert first_running.wait(10)
        waiting = [("low-1", "PROCESSING_MODE_BATCH", 0), ("normal-1", "PROCESSING_MODE_BATCH", 10),
                   ("now-1", None, 0), ("low-2", "PROCESSING_MODE_BATCH", 0), ("now-2", None, 0),
                   ("normal-2", "PROCESSING_MODE_BATCH", 10)]
        for name, mode, priority in waiting:
            job = {"name": name, **({"mode": mode, "batchModePriority": priority} if mode else {})}
            runner.submit(JobRecord(job=job))
        last = JobRecord(job={"name": "low-3", "mode": "PROCESSING_MODE_BATCH"})  # lowest and latest: runs last
        runner.submit(last)
        release.set()
        assert last.done.wait(10)
    finally:
        runner.shutdown(wait=5)
    assert started == ["busy", "now-1", "now-2", "normal-1", "normal-2", "low-1", "low-2", "low-3"]
