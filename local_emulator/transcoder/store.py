"""In-memory jobs and job templates. Nothing survives a restart of the emulator (by design: it is a test double)."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class JobRecord:
    job: dict  # API form, enums as names
    template_id: str = ""
    progress: dict = field(default_factory=lambda: {"analyzed": 0.0, "encoded": 0.0, "uploaded": 0.0,
                                                    "notified": 0.0})
    cancel: threading.Event = field(default_factory=threading.Event)
    process: object = None  # the running ffmpeg (subprocess.Popen) while encoding
    done: threading.Event = field(default_factory=threading.Event)


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.jobs: dict[str, JobRecord] = {}
        self.templates: dict[str, dict] = {}

    def add_job(self, record: JobRecord) -> None:
        with self.lock:
            self.jobs[record.job["name"]] = record

    def get_job(self, name: str) -> JobRecord | None:
        with self.lock:
            return self.jobs.get(name)

    def remove_job(self, name: str) -> JobRecord | None:
        with self.lock:
            return self.jobs.pop(name, None)

    def list_jobs(self, parent: str) -> list[JobRecord]:
        with self.lock:
            return [r for n, r in self.jobs.items() if n.startswith(parent + "/jobs/")]

    def update(self, record: JobRecord, **fields) -> None:
        with self.lock:
            record.job.update(fields)

    def snapshot(self, record: JobRecord) -> tuple[dict, dict]:
        with self.lock:
            return copy.deepcopy(record.job), dict(record.progress)
