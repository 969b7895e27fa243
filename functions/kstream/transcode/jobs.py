"""Firestore state of transcoding: the only module that reads or writes ``transcodeJobs`` and ``transcodeVideos``.

    transcodeJobs/{jobId}
        videoId, origin (upload | api), provider (google_cloud | local), priority
        source {bucket, object, generation, size}, sourceKey "bucket/object#generation"
        state: creating -> queued -> processing -> completed | failed      (only ever moves forward)
        lease {id, until} while creating (the claim of one function instance, renewed by its heartbeat; released
              on a transient failure; a lease not renewed for leases.LEASE_SECONDS is taken over)
        recreated    how many times the sweep created the Transcoder job again after the API lost it
        transcoderJobName, transcoderState, progress (0-100)
        plan {renditions, qualities, formats, segmentSeconds, outputPrefix, durationSeconds, width, height,
              hasAudio, estimatedMinutes}
        outputs {hlsPlaylist, dashManifest, segments [names], poster, storyboard [names], progressive, bytes}
        parts [{index, start, end, preroll, state, transcoderJobName, attempts, error}], partConfig (JSON),
              playableAt    a premiere's time-range parts (transcode/premiere.py); [] for a one-job video
        error, completedAt, createdAt, updatedAt
        deadlineAt   only while not final: the stuck-job sweep queries ``deadlineAt < now`` (single-field index)
        callbackUrl, callbackState (none | sending | delivered | failed), callbackAttempts, callbackError,
        callbackDueAt   only while sending: when the sweep may try again (the sender crashed)
        metadata     the source object's custom metadata (title, series, ... for the catalog)
    transcodeVideos/{videoId}
        jobId, bucket, object, generation, updatedAt    the video's current job (the latest claimed)

Rules kept here, each in ONE transaction:
* :meth:`JobRepository.claim` -- a job for (bucket, object, generation) exists once: a duplicate event sees the
  claim; an event for a generation older than (or equal to) the one the video's current job was claimed for is
  stale. A claim whose holder failed (lease released or expired) is taken over.
* :meth:`JobRepository.finish` -- the first terminal state wins; only that caller sends the callback, so it is
  sent once however many duplicate events arrive.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ..errors import ErrorCode, Unavailable

__all__ = [
    "ACTIVE",
    "FINAL",
    "JOBS",
    "VIDEOS",
    "Claim",
    "Finish",
    "Job",
    "JobRepository",
    "Plan",
    "Source",
]

JOBS = "transcodeJobs"
VIDEOS = "transcodeVideos"
TIMEOUT_SECONDS = 15.0
_ATTEMPTS = 10

State = Literal["creating", "queued", "processing", "completed", "failed"]
RANK: dict[str, int] = {"creating": 0, "queued": 1, "processing": 2, "completed": 3, "failed": 3}
FINAL = frozenset({"completed", "failed"})
ACTIVE = frozenset({"creating", "queued", "processing"})

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    bucket: str
    object: str
    generation: int
    size: int = 0

    @property
    def key(self) -> str:
        return f"{self.bucket}/{self.object}#{self.generation}"

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.object}"


@dataclass(frozen=True)
class Plan:
    """What the job was built for (from the probe and the ladder)."""

    renditions: list[str]
    qualities: list[str]
    formats: list[str]
    segment_seconds: float
    output_prefix: str
    duration_seconds: float | None
    width: int
    height: int
    has_audio: bool
    estimated_minutes: int
    subtitles: dict[str, str] = field(default_factory=dict)  # language -> track version carried as caption input

    def to_doc(self) -> dict[str, Any]:
        return {
            "renditions": self.renditions, "qualities": self.qualities, "formats": self.formats,
            "segmentSeconds": self.segment_seconds, "outputPrefix": self.output_prefix,
            "durationSeconds": self.duration_seconds, "width": self.width, "height": self.height,
            "hasAudio": self.has_audio, "estimatedMinutes": self.estimated_minutes, "subtitles": self.subtitles,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Plan:
        return cls(
            renditions=list(doc.get("renditions") or []), qualities=list(doc.get("qualities") or []),
            formats=list(doc.get("formats") or []), segment_seconds=float(doc.get("segmentSeconds") or 6.0),
            output_prefix=str(doc.get("outputPrefix") or ""), duration_seconds=doc.get("durationSeconds"),
            width=int(doc.get("width") or 0), height=int(doc.get("height") or 0),
            has_audio=bool(doc.get("hasAudio")), estimated_minutes=int(doc.get("estimatedMinutes") or 0),
            subtitles=dict(doc.get("subtitles") or {}),
        )


@dataclass(frozen=True)
class Job:
    id: str
    video_id: str
    origin: str
    provider: str
    source: Source
    state: str = "creating"
    priority: str = "normal"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime | None = None
    deadline_at: datetime | None = None
    lease: Mapping[str, Any] | None = None
    transcoder_job_name: str | None = None
    transcoder_state: str | None = None
    progress: int = 0
    plan: Plan | None = None
    outputs: Mapping[str, Any] | None = None
    error: str | None = None
    completed_at: datetime | None = None
    callback_url: str | None = None
    callback_state: str = "none"
    callback_attempts: int = 0
    callback_error: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    recreated: int = 0
    parts: list[dict[str, Any]] = field(default_factory=list)  # premiere parts (transcode/premiere.py), else []
    part_config: str | None = None  # the whole video's JobConfig (JSON) the parts are cut from

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def to_doc(self) -> dict[str, Any]:
        return {
            "videoId": self.video_id, "origin": self.origin, "provider": self.provider, "priority": self.priority,
            "source": {"bucket": self.source.bucket, "object": self.source.object,
                       "generation": str(self.source.generation), "size": self.source.size},
            "sourceKey": self.source.key, "state": self.state, "lease": dict(self.lease) if self.lease else None,
            "transcoderJobName": self.transcoder_job_name, "transcoderState": self.transcoder_state,
            "progress": self.progress, "plan": self.plan.to_doc() if self.plan else None,
            "outputs": dict(self.outputs) if self.outputs else None, "error": self.error,
            "completedAt": self.completed_at, "createdAt": self.created_at, "updatedAt": self.updated_at,
            "deadlineAt": self.deadline_at, "callbackUrl": self.callback_url, "callbackState": self.callback_state,
            "callbackAttempts": self.callback_attempts, "callbackError": self.callback_error,
            "metadata": dict(self.metadata), "recreated": self.recreated,
            "parts": [dict(p) for p in self.parts], "partConfig": self.part_config,
        }

    @classmethod
    def from_doc(cls, job_id: str, doc: Mapping[str, Any]) -> Job:
        source = doc.get("source") or {}
        return cls(
            id=job_id, video_id=str(doc.get("videoId", "")), origin=str(doc.get("origin", "")),
            provider=str(doc.get("provider", "")), priority=str(doc.get("priority") or "normal"),
            source=Source(str(source.get("bucket", "")), str(source.get("object", "")),
                          int(source.get("generation") or 0), int(source.get("size") or 0)),
            state=str(doc.get("state", "creating")), lease=doc.get("lease"),
            transcoder_job_name=doc.get("transcoderJobName"), transcoder_state=doc.get("transcoderState"),
            progress=int(doc.get("progress") or 0),
            plan=Plan.from_doc(doc["plan"]) if doc.get("plan") else None, outputs=doc.get("outputs"),
            error=doc.get("error"), completed_at=_utc(doc.get("completedAt")),
            created_at=_utc(doc.get("createdAt")) or datetime.now(UTC), updated_at=_utc(doc.get("updatedAt")),
            deadline_at=_utc(doc.get("deadlineAt")), callback_url=doc.get("callbackUrl"),
            callback_state=str(doc.get("callbackState") or "none"),
            callback_attempts=int(doc.get("callbackAttempts") or 0), callback_error=doc.get("callbackError"),
            metadata=dict(doc.get("metadata") or {}), recreated=int(doc.get("recreated") or 0),
            parts=[dict(p) for p in doc.get("parts") or []], part_config=doc.get("partConfig"),
        )


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


ClaimKind = Literal["claimed", "takeover", "duplicate", "busy", "stale", "conflict"]


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim. ``claimed``/``takeover``: the caller holds ``lease_id`` and must create the job;
    ``duplicate``: this source generation has its job already; ``busy``: another instance is creating it right now;
    ``stale``: the video's current job is for a newer generation; ``conflict``: the job id belongs to another source.
    """

    kind: ClaimKind
    job: Job | None = None
    lease_id: str | None = None
    previous: Mapping[str, Any] | None = None  # the video pointer before this claim (to restore on abandon)
    current: Mapping[str, Any] | None = None  # the video pointer that made this claim stale or a duplicate


@dataclass(frozen=True)
class Finish:
    """The outcome of a terminal transition. ``applied`` only for the one caller that moved the job to its final
    state; ``send_callback`` only for that caller and only when the job has a callback URL."""

    applied: bool
    job: Job
    current: bool  # the job is its video's current job (so the video follows it)
    send_callback: bool


def _unavailable(exc: BaseException) -> Unavailable:
    return Unavailable("The job database did not answer; try again shortly", code=ErrorCode.SYSTEM_UNAVAILABLE,
                       details={"reason": exc.__class__.__name__})


def _guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.Aborted, gexc.InternalServerError,
            gexc.TooManyRequests, gexc.RetryError, gexc.Unknown) as exc:
        raise _unavailable(exc) from exc
    except ValueError as exc:  # "Failed to commit transaction in N attempts."
        if "attempts" in str(exc):
            raise _unavailable(exc) from exc
        raise


_LOST_RACE = (gexc.AlreadyExists, gexc.FailedPrecondition)


class _Txn:
    """One transaction's reads and writes, each write conditional on what the transaction read: ``create`` for a
    document read as missing, ``last_update_time`` for one read as present. Production Firestore already
    serialises transactions; the emulator does not (two transactions may both read a document as missing and both
    write it), and the preconditions make the same rules hold on both."""

    def __init__(self, db: firestore.Client, txn: firestore.Transaction) -> None:
        self.db = db
        self.txn = txn
        self.seen: dict[str, Any] = {}  # document path -> update_time, None when read as missing

    def get(self, ref: firestore.DocumentReference) -> dict[str, Any] | None:
        snapshot = ref.get(transaction=self.txn, timeout=TIMEOUT_SECONDS)
        self.seen[ref.path] = snapshot.update_time if snapshot.exists else None
        return snapshot.to_dict() if snapshot.exists else None

    def _option(self, ref: firestore.DocumentReference) -> Any:
        if ref.path not in self.seen:
            raise RuntimeError(f"write to {ref.path} without reading it in the transaction")
        seen = self.seen[ref.path]
        return self.db.write_option(last_update_time=seen) if seen is not None else None

    def write(self, ref: firestore.DocumentReference, data: Mapping[str, Any]) -> None:
        """The whole document: created if it was missing, else every field replaced (the caller gives them all)."""
        option = self._option(ref)
        if option is None:
            self.txn.create(ref, dict(data))
        else:
            self.txn.update(ref, dict(data), option=option)

    def update(self, ref: firestore.DocumentReference, changes: Mapping[str, Any]) -> None:
        option = self._option(ref)
        if option is None:
            raise RuntimeError(f"update of {ref.path}, which the transaction read as missing")
        self.txn.update(ref, dict(changes), option=option)

    def delete(self, ref: firestore.DocumentReference) -> None:
        option = self._option(ref)
        if option is not None:
            self.txn.delete(ref, option=option)


class JobRepository:
    def __init__(self, db: firestore.Client) -> None:
        self.db = db

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _job_ref(self, job_id: str) -> firestore.DocumentReference:
        return self.db.collection(JOBS).document(job_id)

    def _video_ref(self, video_id: str) -> firestore.DocumentReference:
        return self.db.collection(VIDEOS).document(video_id)

    def _transaction(self, work: Callable[[_Txn], T]) -> T:
        """Run ``work`` in a transaction whose writes carry preconditions on what it read (see :class:`_Txn`);
        a transaction that lost a race is run again on fresh reads."""
        for attempt in range(_ATTEMPTS):
            transaction = self.db.transaction(max_attempts=_ATTEMPTS)

            @firestore.transactional
            def run(txn: firestore.Transaction) -> T:
                return work(_Txn(self.db, txn))

            try:
                return _guard(lambda transaction=transaction: run(transaction))
            except _LOST_RACE as exc:
                if attempt == _ATTEMPTS - 1:
                    raise _unavailable(exc) from exc
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")

    def _read(self, txn: _Txn | None, ref: firestore.DocumentReference) -> dict[str, Any] | None:
        if txn is not None:
            return txn.get(ref)
        snapshot = ref.get(timeout=TIMEOUT_SECONDS)
        return snapshot.to_dict() if snapshot.exists else None

    # -- reads ------------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        doc = _guard(lambda: self._read(None, self._job_ref(job_id)))
        return Job.from_doc(job_id, doc) if doc is not None else None

    def find_by_transcoder_name(self, name: str) -> Job | None:
        query = self.db.collection(JOBS).where(filter=FieldFilter("transcoderJobName", "==", name)).limit(1)
        found = _guard(lambda: list(query.stream(timeout=TIMEOUT_SECONDS)))
        return Job.from_doc(found[0].id, found[0].to_dict()) if found else None

    def current_job_id(self, video_id: str) -> str | None:
        doc = _guard(lambda: self._read(None, self._video_ref(video_id)))
        return str(doc["jobId"]) if doc and doc.get("jobId") else None

    def overdue(self, now: datetime, limit: int = 100) -> list[Job]:
        """Jobs not final whose deadline has passed, oldest deadline first."""
        return self._due("deadlineAt", now, limit)

    def callbacks_due(self, now: datetime, limit: int = 100) -> list[Job]:
        """Jobs whose callback is still being sent past its lease (the sender did not record an outcome)."""
        return self._due("callbackDueAt", now, limit)

    def _due(self, name: str, now: datetime, limit: int) -> list[Job]:
        query = (self.db.collection(JOBS).where(filter=FieldFilter(name, "<", now)).order_by(name).limit(limit))
        return _guard(lambda: [Job.from_doc(s.id, s.to_dict()) for s in query.stream(timeout=TIMEOUT_SECONDS)])

    # -- claim ------------------------------------------------------------------------------------------------
    def claim(self, job: Job, *, now: datetime, lease_seconds: float, check_stale: bool) -> Claim:
        """Record ``job`` (state creating, leased to the caller) as its video's current job, unless its source
        generation is already claimed or (``check_stale``) older than the current job's."""
        lease_id = uuid.uuid4().hex
        lease = {"id": lease_id, "until": now + timedelta(seconds=lease_seconds)}

        def work(txn: _Txn) -> Claim:
            existing_doc = self._read(txn, self._job_ref(job.id))
            pointer = self._read(txn, self._video_ref(job.video_id))
            if existing_doc is not None:
                existing = Job.from_doc(job.id, existing_doc)
                if existing.source.key != job.source.key or existing.video_id != job.video_id:
                    return Claim("conflict", existing)
                if existing.state != "creating":
                    return Claim("duplicate", existing)
                held = existing.lease or {}
                until = _utc(held.get("until"))
                if held.get("id") and until is not None and until > now:
                    return Claim("busy", existing)
                txn.update(self._job_ref(job.id), {"lease": lease, "updatedAt": now})
                return Claim("takeover", replace(existing, lease=lease), lease_id, pointer)
            if check_stale and pointer and pointer.get("bucket") == job.source.bucket \
                    and pointer.get("object") == job.source.object:
                claimed = int(pointer.get("generation") or 0)
                if claimed > job.source.generation:
                    return Claim("stale", current=pointer)
                if claimed == job.source.generation:
                    return Claim("duplicate", current=pointer)
            created = replace(job, state="creating", lease=lease, created_at=now, updated_at=now)
            txn.write(self._job_ref(job.id), created.to_doc())
            txn.write(self._video_ref(job.video_id), {
                "jobId": job.id, "bucket": job.source.bucket, "object": job.source.object,
                "generation": str(job.source.generation), "updatedAt": now,
            })
            return Claim("claimed", created, lease_id, pointer)

        return self._transaction(work)

    def renew(self, job_id: str, lease_id: str, until: datetime) -> bool:
        """The creator's heartbeat: push its claim's lease to ``until``; False once the claim is not its own."""

        def work(txn: _Txn) -> bool:
            doc = self._read(txn, self._job_ref(job_id))
            if not doc or doc.get("state") != "creating" or (doc.get("lease") or {}).get("id") != lease_id:
                return False
            txn.update(self._job_ref(job_id), {"lease": {"id": lease_id, "until": until}})
            return True

        return self._transaction(work)

    def unfinished(self, limit: int = 200) -> list[Job]:
        """Jobs not final (creating, queued, processing), for the sweep to reconcile with the Transcoder API."""
        query = self.db.collection(JOBS).where(filter=FieldFilter("state", "in", sorted(ACTIVE))).limit(limit)
        return _guard(lambda: [Job.from_doc(s.id, s.to_dict()) for s in query.stream(timeout=TIMEOUT_SECONDS)])

    def restart_creation(self, job_id: str, transcoder_job_name: str | None, *, now: datetime,
                         lease_seconds: float) -> Claim | None:
        """The Transcoder API no longer knows the job's Transcoder job (deleted, or a local Transcoder restarted):
        back to ``creating`` under a fresh lease so the caller creates it again, once (the lease and the name
        check make a concurrent sweep's attempt a no-op). None when the job moved on meanwhile."""
        lease_id = uuid.uuid4().hex
        lease = {"id": lease_id, "until": now + timedelta(seconds=lease_seconds)}

        def work(txn: _Txn) -> Claim | None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is None:
                return None
            job = Job.from_doc(job_id, doc)
            if job.state not in ("queued", "processing") or job.transcoder_job_name != transcoder_job_name:
                return None
            recreated = int(doc.get("recreated") or 0) + 1
            txn.update(self._job_ref(job_id), {"state": "creating", "lease": lease, "transcoderJobName": None,
                                               "transcoderState": None, "recreated": recreated, "updatedAt": now})
            return Claim("takeover", replace(job, state="creating", lease=lease, transcoder_job_name=None,
                                             recreated=recreated), lease_id)

        return self._transaction(work)

    def release(self, job_id: str, lease_id: str) -> None:
        """Give up a claim after a transient failure: the next delivery of the event takes it over."""

        def work(txn: _Txn) -> None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc and doc.get("state") == "creating" and (doc.get("lease") or {}).get("id") == lease_id:
                txn.update(self._job_ref(job_id), {"lease": None, "updatedAt": datetime.now(UTC)})

        self._transaction(work)

    def abandon(self, job_id: str, lease_id: str, previous: Mapping[str, Any] | None) -> None:
        """Undo a claim completely (a start request that failed): the job is gone, the video pointer restored."""

        def work(txn: _Txn) -> None:
            doc = self._read(txn, self._job_ref(job_id))
            if not doc or doc.get("state") != "creating" or (doc.get("lease") or {}).get("id") != lease_id:
                return
            pointer = self._read(txn, self._video_ref(doc["videoId"]))
            txn.delete(self._job_ref(job_id))
            if pointer and pointer.get("jobId") == job_id:
                if previous:
                    txn.write(self._video_ref(doc["videoId"]), dict(previous))
                else:
                    txn.delete(self._video_ref(doc["videoId"]))

        self._transaction(work)

    def set_plan(self, job_id: str, lease_id: str, plan: Plan) -> None:
        """Record what a job is being created with, before the Transcoder job exists (its events need it)."""

        def work(txn: _Txn) -> None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc and doc.get("state") == "creating" and (doc.get("lease") or {}).get("id") == lease_id:
                txn.update(self._job_ref(job_id), {"plan": plan.to_doc(), "updatedAt": datetime.now(UTC)})

        self._transaction(work)

    def record_created(self, job_id: str, transcoder_job_name: str, *, plan: Plan | None = None,
                       lease_id: str | None = None, transcoder_state: str = "PENDING") -> Job | None:
        """The Transcoder job exists: creating -> queued with its name (a no-op for a job already past it)."""

        def work(txn: _Txn) -> Job | None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is None:
                return None
            job = Job.from_doc(job_id, doc)
            if job.state != "creating" or (lease_id is not None and (job.lease or {}).get("id") != lease_id):
                return job
            now = datetime.now(UTC)
            changes: dict[str, Any] = {"state": "queued", "transcoderJobName": transcoder_job_name,
                                       "transcoderState": transcoder_state, "lease": None, "updatedAt": now}
            if plan is not None:
                changes["plan"] = plan.to_doc()
            txn.update(self._job_ref(job_id), changes)
            return replace(job, state="queued", transcoder_job_name=transcoder_job_name, lease=None,
                           plan=plan or job.plan, transcoder_state=transcoder_state, updated_at=now)

        return self._transaction(work)

    # -- premiere parts ---------------------------------------------------------------------------------------
    def set_parts(self, job_id: str, lease_id: str, parts: list[dict[str, Any]], part_config: str) -> bool:
        """Record the parts a job is cut into (and the config they share) while its creator holds the claim."""

        def work(txn: _Txn) -> bool:
            doc = self._read(txn, self._job_ref(job_id))
            if not doc or doc.get("state") != "creating" or (doc.get("lease") or {}).get("id") != lease_id:
                return False
            if doc.get("parts"):
                return True  # a taken-over claim keeps the parts (and Transcoder jobs) already recorded
            txn.update(self._job_ref(job_id), {"parts": parts, "partConfig": part_config,
                                               "updatedAt": datetime.now(UTC)})
            return True

        return self._transaction(work)

    def update_part(self, job_id: str, index: int,
                    change: Callable[[Job, dict[str, Any]], dict[str, Any] | None]) -> tuple[Job, bool] | None:
        """Apply ``change(job, part) -> new fields of the part`` (None: leave it) in one transaction; the job
        after it and whether the part changed. None for an unknown job or part; a final job is never changed."""

        def work(txn: _Txn) -> tuple[Job, bool] | None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is None:
                return None
            job = Job.from_doc(job_id, doc)
            if not 0 <= index < len(job.parts):
                return None
            if job.final:
                return job, False
            new = change(job, dict(job.parts[index]))
            if not new:
                return job, False
            parts = [dict(p) for p in job.parts]
            parts[index] = {**parts[index], **new}
            now = datetime.now(UTC)
            changes: dict[str, Any] = {"parts": parts, "updatedAt": now}
            progress = round(99 * sum(1 for p in parts if p.get("state") == "succeeded") / len(parts))
            if progress > job.progress:
                changes["progress"] = progress
            if job.state == "queued" and any(p.get("state") in ("processing", "succeeded") for p in parts):
                changes["state"] = "processing"
            txn.update(self._job_ref(job_id), changes)
            return replace(job, parts=parts, progress=changes.get("progress", job.progress),
                           state=changes.get("state", job.state), updated_at=now), True

        return self._transaction(work)

    def note_playable(self, job_id: str, now: datetime) -> None:
        """When the job's first parts made its video playable (``playableAt``, set once; for the bench and tests)."""

        def work(txn: _Txn) -> None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is not None and not doc.get("playableAt"):
                txn.update(self._job_ref(job_id), {"playableAt": now})

        self._transaction(work)

    # -- progress ---------------------------------------------------------------------------------------------
    def advance(self, job_id: str, state: str, *, progress: int | None = None,
                transcoder_state: str | None = None) -> Job | None:
        """Move a job forward to a non-final ``state`` (queued/processing) and raise its progress; never back."""
        if state in FINAL:
            raise ValueError("use finish() for a final state")

        def work(txn: _Txn) -> Job | None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is None:
                return None
            job = Job.from_doc(job_id, doc)
            if job.final or job.state == "creating":
                return job
            changes: dict[str, Any] = {}
            if RANK[state] > RANK[job.state]:
                changes["state"] = state
                if transcoder_state:
                    changes["transcoderState"] = transcoder_state
            if progress is not None and progress > job.progress:
                changes["progress"] = progress
            if not changes:
                return job
            changes["updatedAt"] = datetime.now(UTC)
            txn.update(self._job_ref(job_id), changes)
            return replace(job, state=changes.get("state", job.state), progress=changes.get("progress", job.progress))

        return self._transaction(work)

    # -- final states -----------------------------------------------------------------------------------------
    def finish(self, job_id: str, state: Literal["completed", "failed"], *, now: datetime,
               callback_lease_seconds: float, error: str | None = None,
               outputs: Mapping[str, Any] | None = None, transcoder_state: str | None = None) -> Finish | None:
        """The job's final state, once: the first caller applies it (and alone gets ``send_callback``)."""

        def work(txn: _Txn) -> Finish | None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is None:
                return None
            job = Job.from_doc(job_id, doc)
            pointer = self._read(txn, self._video_ref(job.video_id))
            current = bool(pointer and pointer.get("jobId") == job_id)
            if job.final:
                return Finish(False, job, current, False)
            changes: dict[str, Any] = {
                "state": state, "completedAt": now, "updatedAt": now, "lease": None,
                "deadlineAt": firestore.DELETE_FIELD,
                "progress": 100 if state == "completed" else job.progress,
            }
            if transcoder_state:
                changes["transcoderState"] = transcoder_state
            if error is not None:
                changes["error"] = error[:2000]
            if outputs is not None:
                changes["outputs"] = dict(outputs)
            send = bool(job.callback_url)
            if send:
                changes["callbackState"] = "sending"
                changes["callbackDueAt"] = now + timedelta(seconds=callback_lease_seconds)
            txn.update(self._job_ref(job_id), changes)
            done = replace(job, state=state, completed_at=now, updated_at=now, lease=None, deadline_at=None,
                           progress=changes["progress"], error=changes.get("error", job.error),
                           outputs=changes.get("outputs", job.outputs),
                           callback_state="sending" if send else job.callback_state)
            return Finish(True, done, current, send)

        return self._transaction(work)

    # -- callbacks --------------------------------------------------------------------------------------------
    def retake_callback(self, job_id: str, *, now: datetime, lease_seconds: float) -> Job | None:
        """Take over a callback whose sender left it ``sending`` past its lease; None if someone else has it."""

        def work(txn: _Txn) -> Job | None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is None or doc.get("callbackState") != "sending":
                return None
            due = _utc(doc.get("callbackDueAt"))
            if due is not None and due > now:
                return None
            txn.update(self._job_ref(job_id), {"callbackDueAt": now + timedelta(seconds=lease_seconds)})
            return Job.from_doc(job_id, doc)

        return self._transaction(work)

    def callback_done(self, job_id: str, *, delivered: bool, attempts: int, error: str | None) -> None:
        def work(txn: _Txn) -> None:
            doc = self._read(txn, self._job_ref(job_id))
            if doc is None or doc.get("callbackState") != "sending":
                return
            txn.update(self._job_ref(job_id), {
                "callbackState": "delivered" if delivered else "failed",
                "callbackAttempts": int(doc.get("callbackAttempts") or 0) + attempts,
                "callbackError": None if delivered else (error or "not delivered")[:500],
                "callbackDueAt": firestore.DELETE_FIELD,
                "updatedAt": datetime.now(UTC),
            })

        self._transaction(work)
