"""The upload rules (spec 3.2): start a session, take a chunk through the API, report state, complete.

    start     validate -> take a start slot (Firestore, per user per hour) -> sign one PUT URL per chunk
              -> create the session. The videoId and transcodingJobId are fixed here, so every later complete of
              this session can only ever produce that one video.
    chunk     for clients that cannot reach storage: verify X-Chunk-Checksum, store the chunk object.
    status    what the bucket holds (received / missing), so an interrupted client resumes.
    complete  lease (uploading -> completing, one holder at a time) -> every chunk present with the right size and
              MD5 -> container sniff -> compose tree -> finalChecksum (CRC32C from storage, or a streaming MD5 /
              SHA-256 read) -> source object (if_generation_match=0; its finalize event starts transcoding)
              -> video in the catalog -> completed -> delete the chunks. A failed check puts the session back to
              uploading (nothing half-written stays behind), so the client fixes chunks and completes again.

Only the uploader who started a session, or an admin, sees it: anyone else gets the same 404 as for an id that
does not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from google.api_core import exceptions as gexc
from google.cloud import storage as gcs

from contracts.upload import (
    MAX_API_CHUNK_SIZE,
    SESSION_HOURS,
    CompleteUploadRequest,
    CompleteUploadResponse,
    StartUploadRequest,
    StartUploadResponse,
    UploadChunkResponse,
    UploadStatusResponse,
)

from .. import leases
from ..auth import Principal
from ..errors import ErrorCode, KstreamError, NotFound, RequestInvalid, Unavailable
from ..settings import Settings
from . import compose, rules
from .chunk_store import ChunkStore, Receipt, judge
from .repository import Upload, UploadRepository

RATE_WINDOW_SECONDS = 3600.0
LEASE_SECONDS = leases.LEASE_SECONDS  # a complete's lease; its heartbeat renews it while the complete runs
# A concurrent complete waits this long for the holder's answer: longer than one lease, so a retry whose holder died
# (its heartbeat stopped) takes the session over inside the same request.
WAIT_FOR_OTHER_SECONDS = LEASE_SECONDS + 10.0
POLL_SECONDS = 0.5

VideoRegistrar = Callable[[Upload], None]
LogFn = Callable[..., None]  # (message, **fields): one structured INFO line


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Started:
    response: StartUploadResponse
    headers: dict[str, str]


@dataclass(frozen=True)
class ChunkTarget:
    upload: Upload
    index: int
    size: int


class UploadService:
    def __init__(self, settings: Settings, repository: UploadRepository, chunks: ChunkStore,
                 storage_client: gcs.Client, sign_put_urls: Callable[..., list[str]],
                 register_video: VideoRegistrar | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 log: LogFn | None = None) -> None:
        self.settings = settings
        self.repository = repository
        self.chunks = chunks
        self.storage = storage_client
        self.sign_put_urls = sign_put_urls
        self.register_video = register_video
        self.now = now
        self.log: LogFn = log or (lambda message, **fields: None)

    # -- start ------------------------------------------------------------------------------------------------
    def start(self, principal: Principal, request: StartUploadRequest) -> Started:
        filename = rules.clean_filename(request.filename)
        content_type = rules.content_type_for(filename)
        plan = rules.chunk_plan(request.totalSize, request.chunkSize)
        md5s = rules.declared_chunk_md5s(request.chunkChecksums, plan)
        now = self.now()
        upload_id = uuid.uuid4().hex
        video_id = uuid.uuid4().hex
        decision = self.repository.take_start_slot(principal.id, upload_id, now.timestamp(),
                                                   self.settings.upload_starts_per_hour, RATE_WINDOW_SECONDS)
        expires_at = now + timedelta(hours=SESSION_HOURS)
        upload = Upload(
            id=upload_id,
            owner_id=principal.id,
            owner_username=principal.username,
            filename=filename,
            storage_name=rules.storage_name(filename),
            content_type=content_type,
            total_size=plan.total_size,
            chunk_size=plan.chunk_size,
            total_chunks=plan.count,
            metadata=request.metadata.model_dump(exclude_none=True),
            chunk_md5s=md5s,
            video_id=video_id,
            transcoding_job_id=f"job-{video_id}",
            status="uploading",
            created_at=now,
            expires_at=expires_at,
        )
        headers = [{"Content-MD5": md5} for md5 in md5s] if md5s else [{} for _ in range(plan.count)]
        try:
            urls = self.sign_put_urls(self.settings.upload_bucket,
                                      [rules.chunk_object(upload_id, i) for i in range(plan.count)],
                                      expires_at, headers)
            self.repository.create(upload)
        except BaseException:
            with contextlib.suppress(Exception):  # the original failure is the one to report
                self.repository.return_start_slot(principal.id, upload_id, self.settings.upload_starts_per_hour)
            raise
        response = StartUploadResponse(
            uploadId=upload_id,
            videoId=video_id,
            chunkUrls=urls,
            expiresAt=_iso(expires_at),
            checksums=md5s or [""] * plan.count,
            chunkSize=plan.chunk_size,
            totalChunks=plan.count,
            requiredHeaders=headers,
        )
        return Started(response, decision.headers())

    # -- access -----------------------------------------------------------------------------------------------
    def _load(self, principal: Principal, upload_id: str) -> Upload:
        upload = self.repository.get(upload_id) if rules.valid_upload_id(upload_id) else None
        if upload is None or not (upload.owner_id == principal.id or principal.is_admin):
            raise NotFound(f"No upload session {upload_id[:64]!r}", code=ErrorCode.UPLOAD_NOT_FOUND)
        return upload

    def _writable(self, upload: Upload) -> None:
        if upload.status == "completed":
            raise RequestInvalid(f"Upload {upload.id} is already completed as video {upload.video_id}",
                                 details={"status": upload.status, "videoId": upload.video_id})
        if upload.expired(self.now()):
            raise KstreamError(f"Upload {upload.id} expired at {_iso(upload.expires_at)}; start a new upload",
                               code=ErrorCode.UPLOAD_EXPIRED, details={"expiresAt": _iso(upload.expires_at)})
        if upload.status == "completing":
            wait = self._lease_wait(upload)
            raise Unavailable(f"Upload {upload.id} is being completed; wait for that to finish",
                              details={"status": upload.status, "retryAfterSeconds": wait},
                              headers={"Retry-After": str(wait)})

    # -- chunk through the API --------------------------------------------------------------------------------
    def chunk_target(self, principal: Principal, upload_id: str, raw_index: str) -> ChunkTarget:
        """Check a chunk may be sent, before its body is read; the body must be ``size`` bytes."""
        upload = self._load(principal, upload_id)
        self._writable(upload)
        plan = rules.ChunkPlan(upload.total_size, upload.chunk_size)
        index = rules.chunk_index(raw_index, plan)
        if upload.chunk_size > MAX_API_CHUNK_SIZE:
            raise RequestInvalid(
                f"This upload's chunkSize is {upload.chunk_size} bytes; the chunk endpoint takes chunks up to "
                f"{MAX_API_CHUNK_SIZE} bytes (16 MiB). Use the signed chunkUrls, or start with a smaller chunkSize",
                details={"chunkSize": upload.chunk_size, "maxChunkSize": MAX_API_CHUNK_SIZE},
            )
        return ChunkTarget(upload, index, plan.size_of(index))

    def store_chunk(self, target: ChunkTarget, data: IO[bytes], size: int, checksum_header: str | None
                    ) -> UploadChunkResponse:
        claimed = rules.chunk_checksum(checksum_header)
        if size != target.size:
            raise RequestInvalid(f"Chunk {target.index} must be {target.size} bytes, received {size}",
                                 details={"chunkIndex": target.index, "expected": target.size, "received": size})
        md5, sha256 = hashlib.md5(), hashlib.sha256()  # noqa: S324 (the spec's integrity check)
        data.seek(0)
        while piece := data.read(1 << 20):
            md5.update(piece)
            sha256.update(piece)
        actual = md5.hexdigest() if claimed.algorithm == "md5" else sha256.hexdigest()
        if actual != claimed.value:
            raise KstreamError(
                f"Chunk {target.index} does not match X-Chunk-Checksum: {claimed.algorithm} is {actual}, "
                f"the header says {claimed.value}",
                code=ErrorCode.UPLOAD_CHECKSUM_MISMATCH,
                details={"chunkIndex": target.index, "algorithm": claimed.algorithm, "expected": claimed.value,
                         "actual": actual},
            )
        upload = target.upload
        if upload.chunk_md5s is not None:
            declared = rules.md5_base64(upload.chunk_md5s[target.index], field="chunkChecksums")
            if declared != rules.md5_base64(md5.hexdigest(), field="md5"):
                raise KstreamError(
                    f"Chunk {target.index} does not match the MD5 declared for it at start",
                    code=ErrorCode.UPLOAD_CHECKSUM_MISMATCH,
                    details={"chunkIndex": target.index, "algorithm": "md5", "expected": declared,
                             "actual": rules.md5_base64(md5.hexdigest(), field="md5")},
                )
        try:
            self.chunks.put(upload.id, target.index, data, size, md5.digest())
        except gexc.BadRequest as exc:  # storage computed another MD5 than we sent: corrupted on the way
            raise KstreamError(f"Storage refused chunk {target.index}: {exc.message}",
                               code=ErrorCode.UPLOAD_CHECKSUM_MISMATCH,
                               details={"chunkIndex": target.index}) from None
        except gexc.GoogleAPICallError as exc:
            raise Unavailable(f"Cannot store chunk {target.index} right now ({exc.code}); try again") from None
        receipt = self._receipt(upload)
        return UploadChunkResponse(
            chunkIndex=target.index,
            received=True,
            checksum=claimed.value,
            missingChunks=receipt.missing or None,
            nextExpectedChunk=receipt.next_expected,
        )

    def _receipt(self, upload: Upload) -> Receipt:
        plan = rules.ChunkPlan(upload.total_size, upload.chunk_size)
        return judge(plan, self.chunks.stored(upload.id), upload.chunk_md5s)

    # -- status -----------------------------------------------------------------------------------------------
    def status(self, principal: Principal, upload_id: str) -> UploadStatusResponse:
        upload = self._load(principal, upload_id)
        status = "expired" if upload.expired(self.now()) else upload.status
        if upload.status == "completed":
            received, missing = list(range(upload.total_chunks)), []
        else:
            receipt = self._receipt(upload)
            received, missing = receipt.received, receipt.missing
        return UploadStatusResponse(
            uploadId=upload.id,
            status=status,  # type: ignore[arg-type]
            filename=upload.filename,
            totalSize=upload.total_size,
            chunkSize=upload.chunk_size,
            totalChunks=upload.total_chunks,
            receivedChunks=received,
            missingChunks=missing,
            expiresAt=_iso(upload.expires_at),
            videoId=upload.video_id if upload.status == "completed" else None,
            transcodingJobId=upload.transcoding_job_id if upload.status == "completed" else None,
        )

    # -- complete ---------------------------------------------------------------------------------------------
    def complete(self, principal: Principal, upload_id: str, request: CompleteUploadRequest,
                 request_id: str | None = None) -> CompleteUploadResponse:
        upload = self._load(principal, upload_id)
        expected = rules.final_checksum(request.finalChecksum)
        if upload.status == "completed":
            return self._answer(upload)
        deadline = time.monotonic() + WAIT_FOR_OTHER_SECONDS
        while True:
            if upload.status != "completed" and upload.expired(self.now()):
                self._writable(upload)  # raises UPLOAD_EXPIRED
            outcome = self.repository.begin_complete(upload.id, self.now(), LEASE_SECONDS)
            if outcome.kind == "completed":
                return self._answer(outcome.upload)
            if outcome.kind == "lease":
                break
            if outcome.kind == "not-uploading":
                raise RequestInvalid(f"Upload {upload.id} is {outcome.upload.status}; it cannot be completed",
                                     details={"status": outcome.upload.status})
            if time.monotonic() > deadline:  # another complete of this session is still running (and renewing)
                wait = self._lease_wait(outcome.upload)
                raise Unavailable(f"Upload {upload.id} is being completed by another request; ask again in {wait} s",
                                  details={"status": "completing", "retryAfterSeconds": wait},
                                  headers={"Retry-After": str(wait)})
            time.sleep(POLL_SECONDS)
            upload = outcome.upload
        assert outcome.lease_id is not None
        facts: dict[str, Any] = {}
        lease_id = outcome.lease_id
        try:
            with leases.Heartbeat(lambda until: self.repository.renew(upload.id, lease_id, until), now=self.now):
                done = self._assemble(outcome.upload, expected, facts)
        except BaseException as exc:
            self.repository.release(upload.id, outcome.lease_id)
            if isinstance(exc, gexc.GoogleAPICallError):
                raise Unavailable(f"Storage failed while completing the upload ({exc.code}); complete again"
                                  ) from None
            raise
        clock = time.perf_counter()
        self._clean_up(done)
        facts["cleanupSeconds"] = round(time.perf_counter() - clock, 3)
        self.log("upload completed", request_id=request_id, uploadId=done.id, videoId=done.video_id,
                 totalChunks=done.total_chunks, totalSize=done.total_size, **facts)
        return self._answer(done)

    def _lease_wait(self, upload: Upload) -> int:
        """Seconds until the holder of ``upload``'s completion lease renews it or loses it (a retry then either gets
        the holder's answer or takes over)."""
        until = (upload.lease or {}).get("until")
        return leases.retry_after(until.astimezone(UTC) if isinstance(until, datetime) else None, self.now())

    def _answer(self, upload: Upload) -> CompleteUploadResponse:
        return CompleteUploadResponse(uploadId=upload.id, videoId=upload.video_id, status="processing",
                                      transcodingJobId=upload.transcoding_job_id)

    def _assemble(self, upload: Upload, expected: rules.Checksum, facts: dict[str, Any]) -> Upload:
        plan = rules.ChunkPlan(upload.total_size, upload.chunk_size)
        receipt = judge(plan, self.chunks.stored(upload.id), upload.chunk_md5s)
        if receipt.wrong_md5:
            raise KstreamError(
                f"Chunks {_some(receipt.wrong_md5)} do not match the MD5 declared at start; upload them again",
                code=ErrorCode.UPLOAD_CHECKSUM_MISMATCH,
                details={"chunks": receipt.wrong_md5},
            )
        if receipt.missing:
            raise KstreamError(
                f"{len(receipt.missing)} of {plan.count} chunks are missing or have the wrong size: "
                f"{_some(receipt.missing)}",
                code=ErrorCode.UPLOAD_CHUNK_MISSING,
                details={"missingChunks": receipt.missing, "wrongSize": receipt.wrong_size,
                         "totalChunks": plan.count},
            )
        container = rules.sniff_container(self.chunks.head(upload.id, rules.SNIFF_BYTES))
        if container is None:
            raise rules.unrecognised_container(upload.filename)
        prefix = rules.chunk_prefix(upload.id)
        composed = compose.compose_tree(
            self.chunks.bucket,
            [rules.chunk_object(upload.id, i) for i in range(plan.count)],
            destination=f"{prefix}composed",
            scratch_prefix=f"{prefix}compose-",
            content_type=upload.content_type,
        )
        facts.update(composeCalls=composed.calls, composeLevels=composed.levels,
                     composeSeconds=round(composed.seconds, 3))
        blob = composed.blob  # compose answers the new object's size, CRC32C and generation: no reload
        try:
            clock = time.perf_counter()
            self._verify_whole(upload, blob, expected)
            facts.update(verifyAlgorithm=expected.algorithm, verifySeconds=round(time.perf_counter() - clock, 3))
            source = f"sources/{upload.video_id}/{upload.storage_name}"
            if not self._source_written(upload, source):
                # The video exists (processing) before its source does: the transcode its finalize event starts
                # always finds it, and a retry after the source was written never sets it back to processing.
                if self.register_video is not None:
                    self.register_video(upload)
                clock = time.perf_counter()
                self._write_source(upload, blob, expected, source)
                facts["sourceCopySeconds"] = round(time.perf_counter() - clock, 3)
        finally:
            self.chunks.delete([*composed.intermediates])
        return self.repository.finish(upload.id, self.now(), {
            "finalChecksum": str(expected),
            "sourceObject": f"gs://{self.settings.source_bucket}/{source}",
        })

    def _verify_whole(self, upload: Upload, blob: gcs.Blob, expected: rules.Checksum) -> None:
        if int(blob.size or 0) != upload.total_size:
            raise KstreamError(f"The composed file is {blob.size} bytes, expected {upload.total_size}",
                               code=ErrorCode.UPLOAD_CHUNK_MISSING)
        if expected.algorithm == "crc32c":
            actual = str(blob.crc32c)
        else:
            actual = compose.streamed_digest(blob, expected.algorithm)
        if actual != expected.value:
            self.chunks.delete([blob.name])
            raise KstreamError(
                f"finalChecksum does not match the uploaded file: {expected.algorithm} is {actual}",
                code=ErrorCode.UPLOAD_CHECKSUM_MISMATCH,
                details={"algorithm": expected.algorithm, "expected": expected.value, "actual": actual,
                         "hint": "the chunks stay uploaded: re-send any that differ, then complete again"},
            )

    def _source_written(self, upload: Upload, name: str) -> bool:
        """Whether an earlier attempt of this upload already wrote the source object."""
        existing = self.storage.bucket(self.settings.source_bucket).get_blob(name)
        if existing is None:
            return False
        if (existing.metadata or {}).get("uploadId") == upload.id:
            return True
        raise KstreamError(f"Source object {name} already exists for another upload")

    def _write_source(self, upload: Upload, composed: gcs.Blob, checksum: rules.Checksum, name: str) -> None:
        """Copy the composite to the source bucket, once (``if_generation_match=0``); its finalize event starts
        transcoding."""
        bucket = self.storage.bucket(self.settings.source_bucket)
        target = bucket.blob(name)
        target.content_type = upload.content_type
        target.metadata = self._source_metadata(upload, checksum)
        token: str | None = None
        try:
            while True:
                token, _, _ = target.rewrite(composed, token=token, if_generation_match=0)
                if token is None:
                    break
        except gexc.PreconditionFailed:  # a concurrent writer got there first: fine if it is this upload
            if not self._source_written(upload, name):
                raise

    def _source_metadata(self, upload: Upload, checksum: rules.Checksum) -> dict[str, str]:
        meta = upload.metadata
        values: dict[str, Any] = {
            "videoId": upload.video_id,
            "uploadId": upload.id,
            "uploaderId": upload.owner_id,
            "transcodingJobId": upload.transcoding_job_id,
            "filename": upload.filename,
            "title": meta.get("title"),
            "series": meta.get("series"),
            "episode": meta.get("episode"),
            "language": meta.get("language"),
            "subtitles": ",".join(meta.get("subtitles") or []) or None,
            "fileSize": upload.total_size,
            checksum.algorithm: checksum.value,
        }
        return {key: str(value) for key, value in values.items() if value is not None}

    def _clean_up(self, upload: Upload) -> None:
        """Best effort: the bucket's lifecycle rule removes whatever this misses."""
        try:
            self.chunks.delete_all(upload.id)
        except gexc.GoogleAPICallError:
            pass


def _some(indexes: list[int], shown: int = 20) -> str:
    text = ", ".join(str(i) for i in indexes[:shown])
    return text + (f" and {len(indexes) - shown} more" if len(indexes) > shown else "")
