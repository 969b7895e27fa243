"""Firestore state of uploads: the ``uploads`` collection and the per-user start limit in ``rateLimits``.

    uploads/{uploadId}
        ownerId, ownerUsername, filename, storageName, contentType, totalSize, chunkSize, totalChunks,
        metadata{title, series, episode, ...}, chunkMd5s [base64] | null, videoId, transcodingJobId,
        subtitleTracks [track records attached before the video exists: kstream.subtitles.tracks]
        status: uploading -> completing -> completed   (completing -> uploading when a check fails)
        lease{id, until} while completing (renewed by the holder's heartbeat: a dead holder's lease runs out within
        seconds and the next complete takes over), createdAt, expiresAt, completedAt, finalChecksum, sourceObject
    rateLimits/upload-start:{userId}/slots/{000..limit-1}
        takenAt (epoch seconds), uploadId: the user's last ``limit`` starts (see ratelimit.py)

Every state change is a conditional write: an update applies only if the document is unchanged since it was read
(``last_update_time`` precondition), a slot is created only if absent. Two function instances completing the same
upload cannot both win, and the start limit holds across instances. Conditional writes rather than transactions:
a read in a transaction locks the document, and a burst of same-user requests then aborts each other (measured on
the emulator: 12 concurrent starts, all refused after 25 attempts each); a failed precondition costs one re-read.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from .. import leases
from ..errors import RateLimited, Unavailable
from . import ratelimit

UPLOADS = "uploads"
RATE_LIMITS = "rateLimits"
_ATTEMPTS = 40

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
    subtitle_tracks: list[dict[str, Any]] = field(default_factory=list)
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
            "subtitleTracks": self.subtitle_tracks,
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
            subtitle_tracks=list(doc.get("subtitleTracks") or []),
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

    def _change(self, ref: firestore.DocumentReference,
                decide: Callable[[dict[str, Any]], tuple[T, dict[str, Any] | None]]) -> T:
        """Read, ``decide(doc) -> (result, changes | None)``, write the changes only if the document is unchanged;
        re-read and decide again when another writer got there first."""
        for attempt in range(_ATTEMPTS):
            snapshot = ref.get()
            result, changes = decide(snapshot.to_dict() or {})
            if changes is None:
                return result
            try:
                ref.update(changes, option=self._db.write_option(last_update_time=snapshot.update_time))
                return result
            except gexc.FailedPrecondition:
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
        raise Unavailable("The upload store is busy; try again shortly", headers={"Retry-After": "2"})

    # -- sessions ---------------------------------------------------------------------------------------------
    def create(self, upload: Upload) -> None:
        self._ref(upload.id).create(upload.to_doc())

    def get(self, upload_id: str) -> Upload | None:
        snapshot = self._ref(upload_id).get()
        return Upload.from_doc(upload_id, snapshot.to_dict() or {}) if snapshot.exists else None

    def find_by_video(self, video_id: str) -> Upload | None:
        """The session that creates ``video_id`` (each session fixes its video id at start)."""
        found = list(self._db.collection(UPLOADS).where(filter=FieldFilter("videoId", "==", video_id))
                     .limit(1).stream())
        return Upload.from_doc(found[0].id, found[0].to_dict() or {}) if found else None

    def change_subtitle_tracks(self, upload_id: str,
                               change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> str:
        """Apply ``change(tracks) -> tracks`` while the session is still ``uploading``: once a complete has begun,
        the video is created with the tracks it read, so a later change must wait for the video (503)."""

        def decide(doc: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
            if doc.get("status") != "uploading":
                until = (doc.get("lease") or {}).get("until")
                wait = leases.retry_after(_utc(until) if isinstance(until, datetime) else None, datetime.now(UTC))
                raise Unavailable("The upload is completing: send the subtitle again in a moment, to the video",
                                  headers={"Retry-After": str(wait)})
            return upload_id, {"subtitleTracks": change(list(doc.get("subtitleTracks") or []))}

        return self._change(self._ref(upload_id), decide)

    def begin_complete(self, upload_id: str, now: datetime, lease_seconds: float) -> BeginOutcome:
        """Move ``uploading`` to ``completing`` under a fresh lease, unless another caller holds a live one."""

        def decide(doc: dict[str, Any]) -> tuple[BeginOutcome, dict[str, Any] | None]:
            upload = Upload.from_doc(upload_id, doc)
            if upload.status == "completed":
                return BeginOutcome("completed", upload), None
            if upload.status == "completing" and upload.lease and _utc(upload.lease["until"]) > now:
                return BeginOutcome("busy", upload), None
            if upload.status not in ("uploading", "completing"):
                return BeginOutcome("not-uploading", upload), None
            lease = {"id": uuid.uuid4().hex, "until": now + timedelta(seconds=lease_seconds)}
            upload.status, upload.lease = "completing", lease
            return BeginOutcome("lease", upload, lease["id"]), {"status": "completing", "lease": lease}

        return self._change(self._ref(upload_id), decide)

    def renew(self, upload_id: str, lease_id: str, until: datetime) -> bool:
        """The holder's heartbeat: push its lease to ``until``; False once the lease is no longer its own (taken
        over after a missed heartbeat, or the session finished)."""

        def decide(doc: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
            lease = doc.get("lease") or {}
            if doc.get("status") != "completing" or lease.get("id") != lease_id:
                return False, None
            return True, {"lease": {**lease, "until": until}}

        return self._change(self._ref(upload_id), decide)

    def release(self, upload_id: str, lease_id: str) -> None:
        """A check failed: back to ``uploading`` so the client can fix chunks and complete again."""

        def decide(doc: dict[str, Any]) -> tuple[None, dict[str, Any] | None]:
            if doc.get("status") == "completing" and (doc.get("lease") or {}).get("id") == lease_id:
                return None, {"status": "uploading", "lease": None}
            return None, None

        self._change(self._ref(upload_id), decide)

    def finish(self, upload_id: str, now: datetime, fields: dict[str, Any]) -> Upload:
        """``completing`` -> ``completed`` once; a second finisher gets the first one's record."""

        def decide(doc: dict[str, Any]) -> tuple[Upload, dict[str, Any] | None]:
            if doc.get("status") == "completed":
                return Upload.from_doc(upload_id, doc), None
            changes = {**fields, "status": "completed", "lease": None, "completedAt": now}
            return Upload.from_doc(upload_id, {**doc, **changes}), changes

        return self._change(self._ref(upload_id), decide)

    # -- the start limit -------------------------------------------------------------------------------------
    def _slot_refs(self, user_id: str, limit: int) -> list[firestore.DocumentReference]:
        slots = self._db.collection(RATE_LIMITS).document(f"upload-start:{user_id}").collection("slots")
        return [slots.document(f"{k:03d}") for k in range(limit)]

    def _read_slots(self, refs: list[firestore.DocumentReference]
                    ) -> tuple[list[ratelimit.Slot], dict[str, Any]]:
        snapshots = {s.id: s for s in self._db.get_all(refs)}
        slots = []
        for ref in refs:
            snap = snapshots.get(ref.id)
            doc = (snap.to_dict() or {}) if snap is not None and snap.exists else {}
            slots.append(ratelimit.Slot(ref.id, float(doc["takenAt"]) if "takenAt" in doc else None,
                                        doc.get("uploadId")))
        return slots, snapshots

    def take_start_slot(self, user_id: str, upload_id: str, now: float, limit: int,
                        window_seconds: float) -> ratelimit.Decision:
        """Take one of the user's ``limit`` slots; RateLimited (429) when none is free."""
        refs = self._slot_refs(user_id, limit)
        by_key = {ref.id: ref for ref in refs}
        for _ in range(_ATTEMPTS):
            slots, snapshots = self._read_slots(refs)
            free = ratelimit.free_slots(slots, now, window_seconds)
            if not free:
                refused = ratelimit.decision(slots, now, limit, window_seconds, allowed=False)
                error = RateLimited(
                    f"Upload limit reached: {limit} upload starts per hour; the next one is possible in "
                    f"{refused.retry_after_seconds} s",
                    retry_after_seconds=refused.retry_after_seconds,
                    limit=limit,
                    details={"limit": limit, "windowSeconds": int(window_seconds),
                             "retryAfterSeconds": refused.retry_after_seconds},
                )
                error.headers.update(refused.headers())
                raise error
            random.shuffle(free)  # concurrent starts spread over the free slots instead of all racing for one
            for slot in free:
                ref, snap = by_key[slot.key], snapshots.get(slot.key)
                claim = {"takenAt": now, "uploadId": upload_id}
                try:
                    if snap is not None and snap.exists:
                        ref.update(claim, option=self._db.write_option(last_update_time=snap.update_time))
                    else:
                        ref.create(claim)
                except (gexc.FailedPrecondition, gexc.Conflict):
                    continue  # another start took it first: try the next free one
                after, _ = self._read_slots(refs)
                return ratelimit.decision(after, now, limit, window_seconds, allowed=True)
        raise Unavailable("The upload store is busy; try again shortly", headers={"Retry-After": "2"})

    def return_start_slot(self, user_id: str, upload_id: str, limit: int) -> None:
        """Give back the slot a start took when that start then failed on our side."""
        refs = self._slot_refs(user_id, limit)
        for snap in self._db.get_all(refs):
            if snap.exists and (snap.to_dict() or {}).get("uploadId") == upload_id:
                try:
                    snap.reference.delete(option=self._db.write_option(last_update_time=snap.update_time))
                except gexc.FailedPrecondition:
                    pass
