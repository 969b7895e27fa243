"""Firestore state of uploads: the ``uploads`` collection and the per-user start limit in ``rateLimits``.

    uploads/{uploadId}
        ownerId, ownerUsername, filename, storageName, contentType, totalSize, chunkSize, totalChunks,
        metadata{title, series, episode, ...}, chunkMd5s [base64] | null, videoId, transcodingJobId,
        status: uploading -> completing -> completed   (completing -> uploading when a check fails)
        lease{id, until} while completing, createdAt, expiresAt, completedAt, finalChecksum, sourceObject
    rateLimits/upload-start:{userId}
        grants [{at: epoch seconds, id: uploadId}] within the last hour

Every state change is a transaction, so two function instances completing the same upload cannot both win,
and the start limit holds across instances.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore

from ..errors import RateLimited, Unavailable
from . import ratelimit

UPLOADS = "uploads"
RATE_LIMITS = "rateLimits"
_TRANSACTION_ATTEMPTS = 25

T = TypeVar("T")


@dataclass
class Upload:
    """One upload session as stored."""

    id: str
    owner_id: str
    owner_username: str
    filename: str
    storage_name: str
    content_type: str
    total_size: int
    chunk_size: int
    total_chunks: int
    metadata: dict[str, Any]
    chunk_md5s: list[str] | None
    video_id: str
    transcoding_job_id: str
    status: str
    created_at: datetime
    expires_at: datetime
    lease: dict[str, Any] | None = None
    completed_at: datetime | None = None
    final_checksum: str | None = None
    source_object: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def expired(self, now: datetime) -> bool:
        return self.status not in ("completed", "failed") and now >= self.expires_at

    def to_doc(self) -> dict[str, Any]:
        return {
            "ownerId": self.owner_id,
            "ownerUsername": self.owner_username,
            "filename": self.filename,
            "storageName": self.storage_name,
            "contentType": self.content_type,
            "totalSize": self.total_size,
            "chunkSize": self.chunk_size,
            "totalChunks": self.total_chunks,
            "metadata": self.metadata,
            "chunkMd5s": self.chunk_md5s,
            "videoId": self.video_id,
            "transcodingJobId": self.transcoding_job_id,
            "status": self.status,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "lease": self.lease,
            "completedAt": self.completed_at,
            "finalChecksum": self.final_checksum,
            "sourceObject": self.source_object,
        }

    @classmethod
    def from_doc(cls, upload_id: str, doc: dict[str, Any]) -> Upload:
        return cls(
            id=upload_id,
            owner_id=doc["ownerId"],
            owner_username=doc.get("ownerUsername", ""),
            filename=doc["filename"],
            storage_name=doc["storageName"],
            content_type=doc["contentType"],
            total_size=int(doc["totalSize"]),
            chunk_size=int(doc["chunkSize"]),
            total_chunks=int(doc["totalChunks"]),
            metadata=dict(doc.get("metadata") or {}),
            chunk_md5s=doc.get("chunkMd5s"),
            video_id=doc["videoId"],
            transcoding_job_id=doc["transcodingJobId"],
            status=doc["status"],
            created_at=_utc(doc["createdAt"]),
            expires_at=_utc(doc["expiresAt"]),
            lease=doc.get("lease"),
            completed_at=_utc(doc["completedAt"]) if doc.get("completedAt") else None,
            final_checksum=doc.get("finalChecksum"),
            source_object=doc.get("sourceObject"),
        )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


Begin = Literal["lease", "completed", "busy", "not-uploading"]


@dataclass(frozen=True)
class BeginOutcome:
    kind: Begin
    upload: Upload
    lease_id: str | None = None


class UploadRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    def _ref(self, upload_id: str) -> firestore.DocumentReference:
        return self._db.collection(UPLOADS).document(upload_id)

    def _run(self, work: Callable[[firestore.Transaction], T]) -> T:
        """``work`` in a transaction, retried on contention; Unavailable if Firestore keeps refusing."""
        try:
            return firestore.transactional(work)(self._db.transaction(max_attempts=_TRANSACTION_ATTEMPTS))
        except ValueError as exc:
            if not str(exc).startswith("Failed to commit transaction"):
                raise
            raise Unavailable("The upload store is busy; try again shortly",
                              headers={"Retry-After": "2"}) from None
        except (gexc.Aborted, gexc.ServiceUnavailable, gexc.DeadlineExceeded):
            raise Unavailable("The upload store is busy; try again shortly",
                              headers={"Retry-After": "2"}) from None

    # -- sessions ---------------------------------------------------------------------------------------------
    def create(self, upload: Upload) -> None:
        self._ref(upload.id).create(upload.to_doc())

    def get(self, upload_id: str) -> Upload | None:
        snapshot = self._ref(upload_id).get()
        return Upload.from_doc(upload_id, snapshot.to_dict() or {}) if snapshot.exists else None

    def begin_complete(self, upload_id: str, now: datetime, lease_seconds: float) -> BeginOutcome:
        """Move ``uploading`` to ``completing`` under a fresh lease, unless another caller holds a live one."""
        ref = self._ref(upload_id)

        def work(transaction: firestore.Transaction) -> BeginOutcome:
            snapshot = ref.get(transaction=transaction)
            upload = Upload.from_doc(upload_id, snapshot.to_dict() or {})
            if upload.status == "completed":
                return BeginOutcome("completed", upload)
            if upload.status == "completing" and upload.lease and _utc(upload.lease["until"]) > now:
                return BeginOutcome("busy", upload)
            if upload.status not in ("uploading", "completing"):
                return BeginOutcome("not-uploading", upload)
            lease = {"id": uuid.uuid4().hex, "until": now + timedelta(seconds=lease_seconds)}
            transaction.update(ref, {"status": "completing", "lease": lease})
            upload.status, upload.lease = "completing", lease
            return BeginOutcome("lease", upload, lease["id"])

        return self._run(work)

    def release(self, upload_id: str, lease_id: str) -> None:
        """A check failed: back to ``uploading`` so the client can fix chunks and complete again."""
        ref = self._ref(upload_id)

        def work(transaction: firestore.Transaction) -> None:
            doc = ref.get(transaction=transaction).to_dict() or {}
            if doc.get("status") == "completing" and (doc.get("lease") or {}).get("id") == lease_id:
                transaction.update(ref, {"status": "uploading", "lease": None})

        self._run(work)

    def finish(self, upload_id: str, now: datetime, fields: dict[str, Any]) -> Upload:
        """``completing`` -> ``completed`` once; a second finisher gets the first one's record."""
        ref = self._ref(upload_id)

        def work(transaction: firestore.Transaction) -> Upload:
            doc = ref.get(transaction=transaction).to_dict() or {}
            if doc.get("status") != "completed":
                doc.update(fields, status="completed", lease=None, completedAt=now)
                transaction.update(ref, {**fields, "status": "completed", "lease": None, "completedAt": now})
            return Upload.from_doc(upload_id, doc)

        return self._run(work)

    # -- the start limit -------------------------------------------------------------------------------------
    def take_start_slot(self, user_id: str, upload_id: str, now: float, limit: int,
                        window_seconds: float) -> ratelimit.Decision:
        """Record an upload start for ``user_id``; RateLimited (429) when the window is full."""
        ref = self._db.collection(RATE_LIMITS).document(f"upload-start:{user_id}")

        def work(transaction: firestore.Transaction) -> ratelimit.Decision:
            doc = ref.get(transaction=transaction).to_dict() or {}
            grants = [ratelimit.Grant(float(g["at"]), str(g["id"])) for g in doc.get("grants", [])]
            decision = ratelimit.decide(grants, upload_id, now, limit, window_seconds)
            if decision.allowed:
                transaction.set(ref, {"grants": [{"at": g.at, "id": g.id} for g in decision.grants],
                                      "updatedAt": datetime.fromtimestamp(now, UTC)})
            return decision

        decision = self._run(work)
        if not decision.allowed:
            refused = RateLimited(
                f"Upload limit reached: {limit} upload starts per hour; the next one is possible in "
                f"{decision.retry_after_seconds} s",
                retry_after_seconds=decision.retry_after_seconds,
                limit=limit,
                details={"limit": limit, "windowSeconds": int(window_seconds),
                         "retryAfterSeconds": decision.retry_after_seconds},
            )
            refused.headers.update(decision.headers())
            raise refused
        return decision

    def return_start_slot(self, user_id: str, upload_id: str) -> None:
        """Give back a slot taken for a start that then failed on our side."""
        ref = self._db.collection(RATE_LIMITS).document(f"upload-start:{user_id}")

        def work(transaction: firestore.Transaction) -> None:
            doc = ref.get(transaction=transaction).to_dict() or {}
            grants = [ratelimit.Grant(float(g["at"]), str(g["id"])) for g in doc.get("grants", [])]
            kept = ratelimit.without(grants, upload_id)
            if len(kept) != len(grants):
                transaction.update(ref, {"grants": [{"at": g.at, "id": g.id} for g in kept]})

        self._run(work)
