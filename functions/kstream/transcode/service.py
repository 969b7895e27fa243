"""Transcoding rules: start a job from a source object, follow the Transcoder's job events, answer status, sweep.

    source_finalized   a source object's finalize event -> (stale / duplicate check) -> claim -> video in the
                       catalog -> probe the container header by byte ranges -> job config from the source (ladder)
                       -> Transcoder API create_job -> queued
    start              POST /api/transcode/start: the same from a gs:// path, with the caller's formats, segment
                       length, priority and callback URL
    job_event          a Transcoder Pub/Sub notice {"job": {name, state, error}}: SUCCEEDED -> list the outputs ->
                       video ready (catalog) -> job completed; FAILED -> video failed -> job failed; then the
                       callback, once. Duplicates and late events change nothing (states only move forward).
    status             GET /api/transcode/status/:jobId: the stored job, refreshed from the API while it runs
    sweep              every unfinished job reconciled with the Transcoder API (get_job): a SUCCEEDED or FAILED job
                       whose notice never arrived is finished, a claim whose creator died is taken over, a job
                       the API lost is created again (upload jobs, at most MAX_RECREATE times); only jobs past
                       their deadline are failed as timed out; callbacks whose sender vanished are sent again

Retry or drop: a method returns an :class:`Outcome` for an event it handled or dropped on purpose (stale,
duplicate, not ours, bad source: recorded as a failure); it raises :class:`kstream.errors.Unavailable` when
Firestore, Cloud Storage or the Transcoder API failed transiently, after releasing its claim, so a redelivery of
the same event starts again cleanly.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from google.api_core import exceptions as gexc
from google.cloud import storage as gcs

from contracts.metadata import VIDEO_ID_PATTERN
from contracts.transcode import GetJobStatusResponse, StartTranscodingRequest, StartTranscodingResponse

from .. import leases
from ..adapters.transcoder import JobNotFound, JobRejected, JobView
from ..errors import ErrorCode, KstreamError, NotFound, RequestInvalid, Unavailable
from ..settings import Settings, per_settings
from ..subtitles.tracks import JobTrack
from . import callbacks, ladder, premiere
from .jobs import Claim, Job, JobRepository, Plan, Source
from .media_probe import SourceInfo, UnsupportedSource, probe
from .outputs import Outputs, OutputsIncomplete, collect, output_files, public_url, qualities_for
from .parts import PART_LABEL, plan_parts

__all__ = ["CatalogPort", "Outcome", "SweepReport", "TranscodeService", "TranscoderPort"]

LEASE_SECONDS = leases.LEASE_SECONDS  # a claim's lease; the creator's heartbeat renews it while it works
BUSY_WAIT_SECONDS = LEASE_SECONDS + 5.0  # a delivery finding the claim held waits this long (see _claim_source)
BUSY_POLL_SECONDS = 0.5
MAX_RECREATE = 2  # times the sweep creates a Transcoder job again that the API lost, before failing the job
CALLBACK_LEASE_SECONDS = 300.0  # a callback left "sending" this long is sent again by the sweep
JOB_LABEL = "kstream_job_id"
VIDEO_LABEL = "kstream_video_id"
SOURCE_PREFIX = "sources/"
MEDIA_PREFIX = "videos/"
DEFAULT_SEGMENT_SECONDS = 6.0
PRIORITY_MODES: dict[str, tuple[str, int]] = {"high": ("interactive", 0), "normal": ("batch", 10), "low": ("batch", 0)}
"""A start request's priority as the Transcoder API's job mode: interactive runs at once (or is refused when the
concurrent-job quota is full); batch queues (PENDING) by batchModePriority, higher first, FIFO within one value."""
UPLOAD_PRIORITY = "high"  # an uploader is waiting to watch their episode
_JOB_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # also a valid Transcoder label value
_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)
_TRANSCODER_JOB_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/jobs/[^/]+$")
_GS_PATH = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/(.+)$")
_STORAGE_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests,
                      gexc.GatewayTimeout, gexc.BadGateway, gexc.RetryError, gexc.DeadlineExceeded,
                      ConnectionError, TimeoutError)


class TranscoderPort(Protocol):
    """What the service needs of the Transcoder API (kstream.adapters.transcoder.Transcoder)."""

    provider: str

    def create_job(self, config: Mapping[str, Any], labels: Mapping[str, str], *, mode: str = "interactive",
                   batch_priority: int = 0) -> JobView: ...
    def get_job(self, name: str) -> JobView: ...
    def find_job(self, label: str, value: str) -> JobView | None: ...
    def delete_job(self, name: str) -> None: ...


class CatalogPort(Protocol):
    """What the service needs of the catalog (kstream.catalog.videos); see :class:`CatalogBridge`."""

    def ensure_video(self, video_id: str, metadata: Mapping[str, str]) -> bool: ...
    def subtitle_inputs(self, video_id: str, duration: float | None) -> tuple[list[JobTrack], list[str]]: ...
    def mark_ready(self, video_id: str, metadata: Mapping[str, str], *, available_qualities: Sequence[str],
                   streaming_urls: Mapping[str, str], thumbnail_url: str, duration: float, file_size: int,
                   segment_seconds: float, carried_subtitles: Mapping[str, str]) -> bool: ...
    def mark_failed(self, video_id: str, metadata: Mapping[str, str], *, reason: str) -> bool: ...
    def mark_playable(self, video_id: str, metadata: Mapping[str, str], *, progress: int,
                      available_qualities: Sequence[str], streaming_urls: Mapping[str, str]) -> bool: ...


class BadSourceMetadata(ValueError):
    """The source object's metadata cannot describe a video (the catalog refused it)."""


@dataclass(frozen=True)
class Outcome:
    """What an event or a request did, for the one log line of the event (and for tests)."""

    action: str  # started | duplicate | busy | stale | ignored | failed | completed | progressed
    job_id: str | None = None
    video_id: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def log_fields(self) -> dict[str, Any]:
        return {"action": self.action, "jobId": self.job_id, "videoId": self.video_id, "reason": self.reason,
                **self.details}


@dataclass
class SweepReport:
    timed_out: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    callbacks_resent: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)  # claims whose creator died, taken over
    recreated: list[str] = field(default_factory=list)  # Transcoder jobs the API lost, created again

    def log_fields(self) -> dict[str, Any]:
        return {"action": "swept", "timedOut": self.timed_out, "reconciled": self.reconciled,
                "callbacksResent": self.callbacks_resent, "unreachable": self.unreachable,
                "resumed": self.resumed, "recreated": self.recreated}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _storage_unavailable(exc: BaseException) -> Unavailable:
    return Unavailable("Cloud Storage did not answer; try again shortly", code=ErrorCode.SYSTEM_UNAVAILABLE,
                       details={"reason": exc.__class__.__name__})


class _SourceGone(Exception):
    """The source generation disappeared while we read it (deleted or replaced)."""


class TranscodeService:
    def __init__(self, settings: Settings, jobs: JobRepository, storage_client: gcs.Client,
                 transcoder: TranscoderPort, catalog: CatalogPort, *,
                 deliver: Callable[..., callbacks.Delivery] = callbacks.deliver,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 log: Callable[..., None] | None = None) -> None:
        self.settings = settings
        self.jobs = jobs
        self.storage = storage_client
        self.transcoder = transcoder
        self.catalog = catalog
        self.deliver = deliver
        self.now = now
        self.log: Callable[..., None] = log or (lambda message, **fields: None)

    @property
    def provider(self) -> str:
        return self.transcoder.provider

    # ================================================================================================ trigger
    def source_finalized(self, bucket: str, name: str, generation: int) -> Outcome:
        """A finalize event of ``bucket/name#generation``: start its job once, or drop the event."""
        if bucket != self.settings.source_bucket:
            return Outcome("ignored", reason=f"bucket {bucket!r} is not the source bucket")
        if not name.startswith(SOURCE_PREFIX):
            return Outcome("ignored", reason=f"object {name!r} is not under {SOURCE_PREFIX}")
        blob = self._storage(lambda: self.storage.bucket(bucket).get_blob(name))
        if blob is None:
            return Outcome("stale", reason=f"gs://{bucket}/{name} no longer exists (deleted or replaced)")
        live = int(blob.generation or 0)
        if live > generation:
            return Outcome("stale", reason=f"generation {generation} of gs://{bucket}/{name} was replaced by {live}")
        if live < generation:  # Cloud Storage reads are strongly consistent: no later read would show it either
            return Outcome("ignored", reason=f"the event names generation {generation} of gs://{bucket}/{name}, "
                           f"storage has {live}: no such generation was ever written")
        metadata = {str(k): str(v) for k, v in (blob.metadata or {}).items()}
        folder, slash, _ = name[len(SOURCE_PREFIX):].partition("/")
        video_id = metadata.get("videoId") or (folder if slash else "")
        if not _VIDEO_ID.match(video_id):
            return Outcome("ignored", reason=f"gs://{bucket}/{name} names no video (metadata videoId or "
                                             f"sources/<videoId>/<file>)")
        source = Source(bucket, name, generation, int(blob.size or 0))
        base = metadata.get("transcodingJobId") or f"job-{video_id}"
        if not _JOB_ID.match(base):
            base = "job-" + hashlib.sha256(f"{video_id}".encode()).hexdigest()[:32]
        claim = self._claim_source(video_id, base, source, metadata)
        if claim.kind == "conflict":
            return Outcome("ignored", video_id=video_id, reason="the job ids for this source are taken")
        if claim.kind == "busy":  # the holder is alive and still creating after BUSY_WAIT_SECONDS: retry later
            assert claim.job is not None
            wait = leases.retry_after(_lease_until(claim.job), self.now())
            raise Unavailable(f"job {claim.job.id} for generation {generation} is being created by another delivery;"
                              f" its lease is renewed or runs out within {wait} s", details={"jobId": claim.job.id})
        if claim.kind in ("duplicate", "stale"):
            current = claim.job.id if claim.job else (claim.current or {}).get("jobId")
            reason = {
                "duplicate": f"generation {generation} already has job {current}",
                "busy": f"job {current} for generation {generation} is being created by another delivery",
                "stale": f"generation {generation} is older than generation {(claim.current or {}).get('generation')}"
                         f" of the video's current job {current}",
            }[claim.kind]
            return Outcome(claim.kind, current, video_id, reason)
        assert claim.job is not None and claim.lease_id is not None
        return self._create_upload_job(claim)

    def _claim_source(self, video_id: str, base: str, source: Source, metadata: Mapping[str, str]) -> Claim:
        """Claim the job of ``source``. A claim held by another delivery is waited for (polled): it ends as a
        duplicate once the holder created the job, or as a takeover once the holder's lease ran out (it died), so a
        redelivery after a crash takes the work over within one lease instead of being dropped as busy."""
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        while True:
            claim: Claim | None = None
            for job_id in (base, f"{base[:40]}-g{source.generation}"):
                job = Job(id=job_id, video_id=video_id, origin="upload", provider=self.provider, source=source,
                          deadline_at=self.now() + timedelta(seconds=self.settings.transcode_timeout_seconds),
                          metadata=metadata, priority=UPLOAD_PRIORITY)
                claim = self.jobs.claim(job, now=self.now(), lease_seconds=LEASE_SECONDS, check_stale=True)
                if claim.kind != "conflict":
                    break
            assert claim is not None
            if claim.kind != "busy" or time.monotonic() > deadline:
                return claim
            time.sleep(BUSY_POLL_SECONDS)

    def _create_upload_job(self, claim: Claim) -> Outcome:
        """Create the claimed job of an uploaded source (the default ladder), heartbeat on; the claim is released
        on a transient failure so the next delivery (or the sweep) takes it over at once."""
        assert claim.job is not None and claim.lease_id is not None
        try:
            return self._leased_create(claim.job, claim.lease_id, formats=ladder.DEFAULT_FORMATS,
                                       rungs=ladder.DEFAULT_RUNGS, segment_seconds=DEFAULT_SEGMENT_SECONDS,
                                       register=True, takeover=claim.kind == "takeover")
        except BaseException:
            self.jobs.release(claim.job.id, claim.lease_id)
            raise

    def _leased_create(self, job: Job, lease_id: str, **create: Any) -> Outcome:
        with leases.Heartbeat(lambda until: self.jobs.renew(job.id, lease_id, until), now=self.now):
            return self._create(job, lease_id, **create)

    # ================================================================================================ start API
    def start(self, request: StartTranscodingRequest) -> StartTranscodingResponse:
        """POST /api/transcode/start: a new job for the video from ``sourcePath`` (it becomes the video's job)."""
        callback_url = None
        if request.callbackUrl:
            callback_url = callbacks.check_url(request.callbackUrl,
                                               allow_loopback_http=bool(self.settings.transcoder_endpoint))
            if callbacks.secret_for(self.settings) is None:
                raise Unavailable("Completion callbacks are not configured here (no signing secret); start the job "
                                  "without callbackUrl and poll its status", details={"field": "callbackUrl"})
        if not _VIDEO_ID.match(request.videoId):
            raise RequestInvalid("videoId must be letters, digits, '-' and '_' (at most 128)",
                                 details={"field": "videoId"})
        bucket, name = self._source_path(request.sourcePath)
        formats = ["hls"] + (["dash"] if request.outputFormats.dash else [])
        wanted = set(request.outputFormats.hls.resolutions)
        segment = float(request.outputFormats.hls.segmentDuration)
        if request.outputFormats.dash:
            wanted |= set(request.outputFormats.dash.resolutions)
            if float(request.outputFormats.dash.segmentDuration) != segment:
                raise RequestInvalid("dash.segmentDuration must equal hls.segmentDuration: both protocols share "
                                     "the same segments", details={"field": "outputFormats.dash.segmentDuration"})
        try:
            ladder.gop_seconds_for(segment)
        except ValueError as exc:
            raise RequestInvalid(f"segmentDuration: {exc}", details={"field": "outputFormats.hls.segmentDuration"}
                                 ) from None
        rungs = [r for r in ladder.DEFAULT_RUNGS if r in wanted]
        blob = self._storage(lambda: self.storage.bucket(bucket).get_blob(name))
        if blob is None:
            raise RequestInvalid(f"sourcePath gs://{bucket}/{name} does not exist", details={"field": "sourcePath"})
        metadata = {str(k): str(v) for k, v in (blob.metadata or {}).items()}
        if metadata.get("videoId") not in (None, request.videoId):
            metadata = {}  # another video's source: its title and series do not describe this video
        now = self.now()
        job = Job(id=f"job-{uuid.uuid4().hex}", video_id=request.videoId, origin="api", provider=self.provider,
                  source=Source(bucket, name, int(blob.generation or 0), int(blob.size or 0)),
                  priority=request.priority, callback_url=callback_url, metadata=metadata,
                  deadline_at=now + timedelta(seconds=self.settings.transcode_timeout_seconds))
        claim = self.jobs.claim(job, now=now, lease_seconds=LEASE_SECONDS, check_stale=False)
        assert claim.kind == "claimed" and claim.job is not None and claim.lease_id is not None
        try:
            outcome = self._leased_create(claim.job, claim.lease_id, formats=formats, rungs=rungs,
                                          segment_seconds=segment, register=True, takeover=False)
        except BaseException:
            self.jobs.abandon(job.id, claim.lease_id, claim.previous)
            self._delete_orphan(job.id)
            raise
        self.log("transcode job started", **outcome.log_fields())
        if outcome.action == "failed":
            return StartTranscodingResponse(jobId=job.id, status="failed", estimatedDuration=0,
                                            provider=self.provider)  # type: ignore[arg-type]
        return StartTranscodingResponse(jobId=job.id, status="queued",
                                        estimatedDuration=int(outcome.details.get("estimatedMinutes", 0)),
                                        provider=self.provider)  # type: ignore[arg-type]

    def _delete_orphan(self, job_id: str) -> None:
        """Best effort after an abandoned start: a Transcoder job created before the failure must not run on."""
        try:
            orphan = self.transcoder.find_job(JOB_LABEL, job_id)
            if orphan is not None:
                self.transcoder.delete_job(orphan.name)
        except KstreamError:
            pass

    def _source_path(self, path: str) -> tuple[str, str]:
        found = _GS_PATH.match(path)
        if not found:
            raise RequestInvalid("sourcePath must look like gs://<bucket>/<object>", details={"field": "sourcePath"})
        bucket, name = found.groups()
        if bucket != self.settings.source_bucket:
            raise RequestInvalid(f"sourcePath must be in the source bucket gs://{self.settings.source_bucket}/, "
                                 f"found gs://{bucket}/", details={"field": "sourcePath"})
        return bucket, name

    # ================================================================================================ creating
    def _create(self, job: Job, lease_id: str, *, formats: Sequence[str], rungs: Sequence[str],
                segment_seconds: float, register: bool, takeover: bool) -> Outcome:
        """Claimed ``job``: catalog entry, probe, config, create_job, queued. Transient errors propagate."""
        source = job.source
        cataloged = False
        if register:
            try:
                cataloged = self.catalog.ensure_video(job.video_id, job.metadata)
            except BadSourceMetadata as exc:
                return self._fail(job, f"the source's metadata cannot describe a video: {exc}")
        try:
            info = self._probe(source)
            ladder.check_transcodable(info)
        except UnsupportedSource as exc:
            return self._fail(job, f"the source cannot be transcoded: {exc.reason}")
        except _SourceGone:
            return self._fail(job, f"{source.uri} generation {source.generation} was deleted or replaced before "
                                   "it could be read")
        prefix = f"{MEDIA_PREFIX}{job.video_id}/"
        captions, refused = self.catalog.subtitle_inputs(job.video_id, info.duration_seconds)
        media = self.settings.media_bucket
        try:
            config = ladder.build_job_config(
                info, input_uri=source.uri, output_uri=f"gs://{media}/{prefix}",
                pubsub_topic=f"projects/{self.settings.project_id}/topics/{self.settings.transcoder_topic}",
                segment_seconds=segment_seconds, formats=formats, rungs=rungs or ladder.DEFAULT_RUNGS,
                subtitles=[ladder.SubtitleInput(t.language, t.label, f"gs://{media}/{t.vtt_object}")
                           for t in captions],
            )
        except UnsupportedSource as exc:
            return self._fail(job, f"the source cannot be transcoded: {exc.reason}")
        renditions = ladder.rendition_names(config)
        plan = Plan(
            renditions=renditions, qualities=qualities_for(renditions), formats=sorted(formats),
            segment_seconds=segment_seconds, output_prefix=prefix, duration_seconds=info.duration_seconds,
            width=info.width, height=info.height, has_audio=info.has_audio,
            estimated_minutes=ladder.estimate_minutes(info), subtitles={t.language: t.version for t in captions},
        )
        pieces = plan_parts(info.duration_seconds, segment_seconds=segment_seconds,
                            threshold_seconds=self.settings.premiere_threshold_seconds,
                            part_seconds=self.settings.premiere_part_seconds,
                            max_parts=self.settings.premiere_max_parallel_jobs)
        if pieces:  # a long source: parallel time-range parts (premiere.py); captions stay separate tracks
            if captions:
                config = ladder.build_job_config(
                    info, input_uri=source.uri, output_uri=f"gs://{media}/{prefix}",
                    pubsub_topic=f"projects/{self.settings.project_id}/topics/{self.settings.transcoder_topic}",
                    segment_seconds=segment_seconds, formats=formats, rungs=rungs or ladder.DEFAULT_RUNGS)
            return premiere.create_parts(self, job, lease_id, config, replace(plan, subtitles={}), pieces)
        self.jobs.set_plan(job.id, lease_id, plan)
        view = self.transcoder.find_job(JOB_LABEL, job.id) if takeover else None
        if view is None:
            try:
                mode, batch_priority = PRIORITY_MODES.get(job.priority, PRIORITY_MODES["normal"])
                view = self.transcoder.create_job(config, labels={JOB_LABEL: job.id, **self._video_label(job)},
                                                  mode=mode, batch_priority=batch_priority)
            except JobRejected as exc:
                return self._fail(replace(job, plan=plan), f"the Transcoder API refused the job: {exc.reason}")
        self.jobs.record_created(job.id, view.name, plan=plan, lease_id=lease_id, transcoder_state=view.state)
        return Outcome("started", job.id, job.video_id, details={
            "transcoderJob": view.name, "renditions": renditions, "source": f"{source.uri}#{source.generation}",
            "width": info.width, "height": info.height, "hasAudio": info.has_audio,
            "durationSeconds": info.duration_seconds, "estimatedMinutes": plan.estimated_minutes,
            "inCatalog": cataloged, "subtitles": sorted(plan.subtitles), "subtitlesLeftOut": refused,
        })

    @staticmethod
    def _video_label(job: Job) -> dict[str, str]:
        return {VIDEO_LABEL: job.video_id} if _JOB_ID.match(job.video_id) else {}

    def _probe(self, source: Source) -> SourceInfo:
        blob = self.storage.bucket(source.bucket).blob(source.object, generation=source.generation)

        def read_range(offset: int, length: int) -> bytes:
            try:
                return bytes(blob.download_as_bytes(start=offset, end=offset + length - 1, checksum=None,
                                                    timeout=30))
            except gexc.NotFound:
                raise _SourceGone() from None
            except gexc.RequestRangeNotSatisfiable:
                return b""
            except _STORAGE_TRANSIENT as exc:
                raise _storage_unavailable(exc) from exc

        if source.size <= 0:
            raise UnsupportedSource("the file is empty")
        return probe(read_range, source.size)

    def _storage(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except _STORAGE_TRANSIENT as exc:
            raise _storage_unavailable(exc) from exc

    # ================================================================================================ job events
    def job_event(self, name: str, state: str, error: str | None) -> Outcome:
        """A Transcoder job notice (the Pub/Sub message ``{"job": {"name", "state", "error"}}``)."""
        if not _TRANSCODER_JOB_NAME.match(name):
            return Outcome("ignored", reason=f"{name[:200]!r} is not a Transcoder job name")
        job = self.jobs.find_by_transcoder_name(name)
        if job is not None and job.parts:
            index = next((i for i, p in enumerate(job.parts) if p.get("transcoderJobName") == name), None)
            if index is not None:
                if job.final:
                    return Outcome("duplicate", job.id, job.video_id, f"job is already {job.state}")
                return premiere.part_event(self, job, index, name, state, error)
            job = None  # a later part (or a retry) of a parted job: its labels say which
        if job is None:
            try:
                view = self.transcoder.get_job(name)
            except JobNotFound:
                return Outcome("ignored", reason=f"no job {name} (not ours, or deleted)")
            job_id = view.labels.get(JOB_LABEL)
            job = self.jobs.get(job_id) if job_id and _JOB_ID.match(job_id) else None
            if job is None:
                return Outcome("ignored", reason=f"{name} is not a kstream job")
            part = view.labels.get(PART_LABEL)
            if part is not None and part.isdigit():
                if job.final:
                    return Outcome("duplicate", job.id, job.video_id, f"job is already {job.state}")
                return premiere.part_event(self, job, int(part), name, state, error)
            job = self.jobs.record_created(job.id, name) or job
        if job.final:
            return Outcome("duplicate", job.id, job.video_id, f"job is already {job.state}; {state} changes nothing")
        return self._apply(job, state, error)

    def _apply(self, job: Job, state: str, error: str | None, *, progress: float | None = None) -> Outcome:
        if state == "SUCCEEDED":
            return self._complete(job)
        if state == "FAILED":
            return self._fail(job, error or "the Transcoder API reported the job FAILED", transcoder_state=state)
        if state in ("PENDING", "RUNNING"):
            target = "processing" if state == "RUNNING" else "queued"
            percent = _percent(progress) if progress is not None else None
            moved = self.jobs.advance(job.id, target, progress=percent, transcoder_state=state) or job
            return Outcome("progressed", job.id, job.video_id, f"{state}: job is {moved.state}")
        return Outcome("ignored", job.id, job.video_id, f"unknown job state {state!r}")

    def _complete(self, job: Job) -> Outcome:
        plan = job.plan
        if plan is None:
            return self._fail(job, "the job has no recorded plan (it was never fully created)")
        media = self.settings.media_bucket
        listed = self._storage(lambda: [(b.name, int(b.size or 0)) for b in
                                        self.storage.list_blobs(media, prefix=plan.output_prefix)])
        try:
            outputs = collect(listed, prefix=plan.output_prefix, renditions=plan.renditions,
                              has_audio=plan.has_audio, formats=plan.formats)
        except OutputsIncomplete as exc:
            return self._fail(job, str(exc), transcoder_state="SUCCEEDED")
        current = self.jobs.current_job_id(job.video_id) == job.id
        cataloged = False
        if current:
            urls = {"hls": self._url(outputs, outputs.hls_playlist)}
            if outputs.dash_manifest:
                urls["dash"] = self._url(outputs, outputs.dash_manifest)
            cataloged = self.catalog.mark_ready(
                job.video_id, job.metadata, available_qualities=plan.qualities, streaming_urls=urls,
                thumbnail_url=self._url(outputs, outputs.thumbnail) if outputs.thumbnail else "",
                duration=float(plan.duration_seconds or 0.0),
                file_size=job.source.size, segment_seconds=plan.segment_seconds, carried_subtitles=plan.subtitles,
            )
        return self._finish(job, "completed", Outcome("completed", job.id, job.video_id, details={
            "current": current, "inCatalog": cataloged, "segments": len(outputs.segments),
            "poster": outputs.poster, "storyboardSheets": len(outputs.storyboard),
            "outputBytes": outputs.bytes, "qualities": plan.qualities,
        }), outputs=outputs.to_doc(), transcoder_state="SUCCEEDED")

    def _fail(self, job: Job, reason: str, *, transcoder_state: str | None = None) -> Outcome:
        if self.jobs.current_job_id(job.video_id) == job.id:
            self.catalog.mark_failed(job.video_id, job.metadata, reason=f"{ErrorCode.TRANSCODE_FAILED}: {reason}")
        return self._finish(job, "failed", Outcome("failed", job.id, job.video_id, reason, details={
            "errorCode": ErrorCode.TRANSCODE_FAILED}), error=reason, transcoder_state=transcoder_state)

    def _finish(self, job: Job, state: str, done: Outcome, **fields: Any) -> Outcome:
        """Record the job's final ``state`` (with ``fields``: outputs or error, transcoder_state), then send its
        callback when this delivery is the one that must: ``done``, or a duplicate when another delivery finished
        the job first. One-job and premiere (parted) jobs end here alike."""
        finished = self.jobs.finish(job.id, state, now=self.now(), callback_lease_seconds=CALLBACK_LEASE_SECONDS,
                                    **fields)
        if finished is None or not finished.applied:
            return Outcome("duplicate", job.id, job.video_id, "another delivery finished the job first")
        if finished.send_callback:
            self._callback(finished.job)
        return done

    def _url(self, outputs: Outputs, name: str | None) -> str:
        return public_url(self.settings.cdn_base_url, outputs.prefix, name or "")

    # ================================================================================================ callbacks
    def _callback(self, job: Job) -> None:
        assert job.callback_url
        secret = callbacks.secret_for(self.settings)
        if secret is None:
            self.jobs.callback_done(job.id, delivered=False, attempts=0, error="no callback signing secret")
            return
        payload: dict[str, Any] = {
            "jobId": job.id, "videoId": job.video_id, "status": job.state,
            "completedAt": _iso(job.completed_at or self.now()),
        }
        if job.state == "completed" and job.outputs:
            files = output_files(Outputs.from_doc(job.outputs), self.settings.cdn_base_url)
            payload["outputFiles"] = files.model_dump(exclude_none=True)
        if job.error:
            payload["error"] = f"{ErrorCode.TRANSCODE_FAILED}: {job.error}"
        delivery = self.deliver(job.callback_url, payload, secret,
                                allow_loopback=bool(self.settings.transcoder_endpoint))
        self.jobs.callback_done(job.id, delivered=delivery.delivered, attempts=delivery.attempts,
                                error=delivery.error)
        self.log("transcode callback " + ("delivered" if delivery.delivered else "failed"), jobId=job.id,
                 attempts=delivery.attempts, status=delivery.status, error=delivery.error)

    # ================================================================================================ status
    def status(self, job_id: str) -> GetJobStatusResponse:
        job = self.jobs.get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise NotFound(f"No transcoding job {job_id[:80]!r}", code=ErrorCode.TRANSCODE_JOB_NOT_FOUND,
                           details={"jobId": job_id[:80]})
        status, progress = _SPEC_STATUS[job.state], job.progress
        view: JobView | None = None
        if not job.final and job.transcoder_job_name and not job.parts:  # a premiere's progress: parts done
            try:
                view = self.transcoder.get_job(job.transcoder_job_name)
            except JobNotFound:
                view = None
            if view is not None and view.state == "RUNNING":
                moved = self.jobs.advance(job.id, "processing", transcoder_state="RUNNING",
                                          progress=_percent(view.progress) if view.progress is not None else None)
                status, progress = "processing", (moved or job).progress
            elif view is not None and view.state in ("SUCCEEDED", "FAILED"):
                status, progress = "processing", max(progress, 99)  # finishing: outputs and video not recorded yet
        body: dict[str, Any] = {"jobId": job.id, "status": status, "progress": min(100, max(0, progress))}
        if job.state == "completed" and job.outputs:
            body["outputFiles"] = output_files(Outputs.from_doc(job.outputs), self.settings.cdn_base_url)
        if job.state == "failed":
            body["error"] = f"{ErrorCode.TRANSCODE_FAILED}: {job.error or 'transcoding failed'}"
        if job.final and job.completed_at:
            body["completedAt"] = _iso(job.completed_at)
        elif not job.final:
            body["estimatedCompletion"] = _iso(self._estimated_completion(job, view))
        return GetJobStatusResponse(**body)

    def _estimated_completion(self, job: Job, view: JobView | None) -> datetime:
        """When an unfinished job should end: from the provider's measured progress while it runs (elapsed /
        fraction done), else from the start estimate counted from its creation."""
        now = self.now()
        if view is not None and view.started_at is not None and view.progress and 0.02 <= view.progress < 1:
            elapsed = max(0.0, (now - view.started_at).total_seconds())
            return now + timedelta(seconds=elapsed * (1 - view.progress) / view.progress)
        minutes = job.plan.estimated_minutes if job.plan else 0
        return max(now, (job.created_at or now) + timedelta(minutes=minutes))

    # ================================================================================================ sweep
    def sweep(self, *, limit: int = 100) -> SweepReport:
        """Reconcile every unfinished job with the Transcoder API, fail those past their deadline, and send
        callbacks again whose sender vanished. Safe to run concurrently and repeatedly: every change goes through
        the same once-only transitions as the events."""
        report = SweepReport()
        now = self.now()
        seen: set[str] = set()
        for job in [*self.jobs.overdue(now, limit), *self.jobs.unfinished(2 * limit)]:
            if job.final or job.id in seen:
                continue
            seen.add(job.id)
            try:
                self._reconcile(job, now, report)
            except KstreamError:  # Firestore, Storage or the API did not answer: the next sweep tries again
                report.unreachable.append(job.id)
        for job in self.jobs.callbacks_due(now, limit):
            taken = self.jobs.retake_callback(job.id, now=now, lease_seconds=CALLBACK_LEASE_SECONDS)
            if taken is not None and taken.callback_url:
                self._callback(taken)
                report.callbacks_resent.append(job.id)
        return report

    def _reconcile(self, job: Job, now: datetime, report: SweepReport) -> None:
        overdue = job.deadline_at is not None and job.deadline_at <= now
        if job.state == "creating" and not overdue:  # (past its deadline it is timed out below, lease or not)
            until = _lease_until(job)
            if until is not None and until > now:
                return  # its creator is alive (renewing)
            if job.origin == "upload":  # the creator died and the event was acknowledged or lost
                claim = self.jobs.claim(job, now=now, lease_seconds=LEASE_SECONDS, check_stale=True)
                if claim.kind == "takeover":
                    outcome = self._create_upload_job(claim)
                    report.resumed.append(job.id)
                    self.log("transcode job resumed by the sweep", **outcome.log_fields())
                return
        if job.parts and job.state in ("queued", "processing"):
            if premiere.reconcile_parts(self, job):
                report.reconciled.append(job.id)
            if not overdue:
                return
            job = self.jobs.get(job.id) or job
            if job.final:
                return
            allowed = _duration_text(self.settings.transcode_timeout_seconds)
            outcome = self._fail(job, f"timed out: not finished {allowed} after it started (parts still running)")
            if outcome.action == "failed":
                report.timed_out.append(job.id)
            return
        view: JobView | None = None
        if job.transcoder_job_name:
            try:
                view = self.transcoder.get_job(job.transcoder_job_name)
            except JobNotFound:
                view = None
        if view is not None and view.state in ("SUCCEEDED", "FAILED"):
            if self._apply(job, view.state, view.error).action in ("completed", "failed"):
                report.reconciled.append(job.id)
            return
        if view is not None and not overdue:
            if view.state in ("PENDING", "RUNNING"):
                self._apply(job, view.state, None, progress=view.progress)
            return
        if view is None and job.transcoder_job_name and job.origin == "upload" and not overdue:
            self._recreate(job, now, report)
            return
        if not overdue:
            return
        where = f" (the Transcoder still reports {view.state})" if view is not None else ""
        allowed = _duration_text(self.settings.transcode_timeout_seconds)
        outcome = self._fail(job, f"timed out: not finished {allowed} after it started{where}")
        if outcome.action == "failed":
            report.timed_out.append(job.id)
            if job.transcoder_job_name:
                try:
                    self.transcoder.delete_job(job.transcoder_job_name)
                except KstreamError:
                    pass  # best effort: a late notice finds the job final and changes nothing

    def _recreate(self, job: Job, now: datetime, report: SweepReport) -> None:
        """The API no longer has the job's Transcoder job: create it again from its uploaded source, or fail it once
        that was tried MAX_RECREATE times. (A job started through the API waits for its deadline: its caller chose
        its formats, and a job of the API's that vanished is the caller's to start again.)"""
        if job.recreated >= MAX_RECREATE:
            outcome = self._fail(job, f"the Transcoder API no longer has job {job.transcoder_job_name}"
                                      + (f" (created {job.recreated + 1} times)" if job.recreated else ""))
            if outcome.action == "failed":
                report.reconciled.append(job.id)
            return
        claim = self.jobs.restart_creation(job.id, job.transcoder_job_name, now=now, lease_seconds=LEASE_SECONDS)
        if claim is None:
            return
        outcome = self._create_upload_job(claim)
        report.recreated.append(job.id)
        self.log("transcode job created again by the sweep (the Transcoder API lost it)", **outcome.log_fields())


def _lease_until(job: Job) -> datetime | None:
    until = (job.lease or {}).get("until")
    if not isinstance(until, datetime):
        return None
    return until.astimezone(UTC) if until.tzinfo else until.replace(tzinfo=UTC)


_SPEC_STATUS = {"creating": "queued", "queued": "queued", "processing": "processing", "completed": "completed",
                "failed": "failed"}


def _duration_text(seconds: int) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _percent(fraction: float | None) -> int:
    """A running job's progress in percent: 1-99 (0 is "not started", 100 is "completed and recorded")."""
    return min(99, max(1, round((fraction or 0.0) * 100)))


# ==================================================================================================== catalog
_REQUIRED_METADATA = ("title", "series", "episode", "uploaderId")


class CatalogBridge:
    """The catalog calls of the pipeline, on kstream.catalog.videos.

    A video normally exists before its source is written (upload-complete registers it as ``processing``); when the
    source event comes first, or a start request names a video the catalog does not have, the video is created
    from the source object's metadata (title, series, episode, uploaderId, language). Without that
    metadata the job still runs and the catalog is left alone (logged by the caller's outcome).
    """

    def __init__(self, repo_factory: Callable[[], Any], tracks_factory: Callable[[], Any] | None = None) -> None:
        self._repo_factory = repo_factory
        self._tracks_factory = tracks_factory  # -> kstream.subtitles.tracks.SubtitleTracks

    def _repo(self) -> Any:
        return self._repo_factory()

    @staticmethod
    def _describable(metadata: Mapping[str, str]) -> bool:
        return all(metadata.get(key) for key in _REQUIRED_METADATA)

    def _upsert(self, video_id: str, metadata: Mapping[str, str], status: str, **fields: Any) -> None:
        from ..catalog import videos as catalog

        try:
            episode = int(metadata["episode"])
        except ValueError:
            raise BadSourceMetadata(f"episode {metadata['episode']!r} is not a whole number") from None
        try:
            catalog.upsert_video(
                video_id=video_id, title=metadata["title"], series=metadata["series"], episode=episode,
                uploader_id=metadata["uploaderId"],
                uploader_username=metadata.get("uploaderUsername") or metadata["uploaderId"],
                description=metadata.get("description", ""), language=metadata.get("language") or "ko",
                status=status, repo=self._repo(), **fields,  # type: ignore[arg-type]
            )
        except RequestInvalid as exc:
            raise BadSourceMetadata(exc.message) from None

    def ensure_video(self, video_id: str, metadata: Mapping[str, str]) -> bool:
        repo = self._repo()
        if repo.get_video(video_id) is not None:
            return True
        if not self._describable(metadata):
            return False
        self._upsert(video_id, metadata, "processing")
        return True

    def subtitle_inputs(self, video_id: str, duration: float | None) -> tuple[list[JobTrack], list[str]]:
        """The video's pending subtitle tracks that its job should carry (and why others are left out)."""
        if self._tracks_factory is None:
            return [], []
        return self._tracks_factory().prepare_job(video_id, duration)

    def mark_ready(self, video_id: str, metadata: Mapping[str, str], *, available_qualities: Sequence[str],
                   streaming_urls: Mapping[str, str], thumbnail_url: str, duration: float, file_size: int,
                   segment_seconds: float, carried_subtitles: Mapping[str, str]) -> bool:
        from ..catalog import videos as catalog
        from ..subtitles.tracks import SUBTITLE_MPEGTS

        publish = None
        if self._tracks_factory is not None:
            publish = self._tracks_factory().publisher(video_id, duration=duration, segment_seconds=segment_seconds,
                                                       mpegts=SUBTITLE_MPEGTS, carried=carried_subtitles)
        try:
            catalog.mark_ready(video_id=video_id, available_qualities=available_qualities,
                               streaming_urls=streaming_urls, thumbnail_url=thumbnail_url, duration=duration,
                               file_size=file_size, publish_tracks=publish, repo=self._repo(),
                               media={"segmentSeconds": segment_seconds, "subtitleMpegts": SUBTITLE_MPEGTS})
            return True
        except NotFound:
            if not self._describable(metadata):
                return False
        self._upsert(video_id, metadata, "ready", available_qualities=list(available_qualities),
                     streaming_urls=dict(streaming_urls), thumbnail_url=thumbnail_url, duration=duration,
                     file_size=file_size)
        return True

    def mark_playable(self, video_id: str, metadata: Mapping[str, str], *, progress: int,
                      available_qualities: Sequence[str], streaming_urls: Mapping[str, str]) -> bool:
        """The opening parts of a premiere are done: the video plays while the rest is transcoded."""
        from ..catalog import videos as catalog

        try:
            catalog.mark_playable(video_id=video_id, progress=progress, available_qualities=available_qualities,
                                  streaming_urls=streaming_urls, repo=self._repo())
            return True
        except NotFound:
            return False

    def mark_failed(self, video_id: str, metadata: Mapping[str, str], *, reason: str) -> bool:
        from ..catalog import videos as catalog

        try:
            catalog.mark_failed(video_id=video_id, reason=reason, repo=self._repo())
            return True
        except NotFound:
            if not self._describable(metadata):
                return False
        try:
            self._upsert(video_id, metadata, "failed")
        except BadSourceMetadata:
            return False
        catalog.mark_failed(video_id=video_id, reason=reason, repo=self._repo())
        return True


# ==================================================================================================== wiring
@per_settings
def service_for(settings: Settings) -> TranscodeService:
    """The transcode service of this process for ``settings`` (clients created once, on first use)."""
    from ..adapters import firestore, storage
    from ..adapters.transcoder import transcoder
    from ..catalog.repository import CatalogRepository
    from ..observability import StructuredLogger

    db = firestore.client(settings)
    logger = StructuredLogger(settings.project_id, settings.log_level)

    def subtitle_tracks() -> Any:
        from ..subtitles.tracks import tracks_for

        return tracks_for(settings)

    return TranscodeService(
        settings, JobRepository(db), storage.client(settings), transcoder(settings),
        CatalogBridge(lambda: CatalogRepository(db), subtitle_tracks),
        log=lambda message, **fields: logger.log("INFO", message, **fields),
    )
