"""Premiere: a long source as K parallel Transcoder jobs, one per time range, played as one video (docs/premiere.md,
decision 0015). The transcode service (service.py) calls in here for a job that has parts.

    create_parts(svc, job, lease_id, config, plan, parts) -> Outcome   every part's Transcoder job, recorded
    part_event(svc, job, index, name, state, error)       -> Outcome   one part's notice (RUNNING/SUCCEEDED/FAILED)
    reconcile_parts(svc, job)                             -> bool      the sweep: each unfinished part vs the API

Bookkeeping (transcodeJobs/{jobId}.parts[i], one transaction per change, jobs.JobRepository.update_part):
``{index, start, end, preroll, state: queued|processing|succeeded|failed, transcoderJobName, attempts, error}``.
A part that fails is created again alone (up to MAX_PART_ATTEMPTS jobs); the video fails with the part's reason
only when its last attempt fails, and the other parts' jobs are then deleted.

Publishing: after each part succeeds, the stitched playlists and MPD of the parts done *from the first on* are
written once into the video's folder (``manifest.m3u8`` = the first part's master, ``video-*.m3u8``,
``audio.m3u8``, ``manifest.mpd``; stitch.py), so the stream function serves them exactly as a one-job video's:
one object read per request, no per-view stitching. Each object carries ``kstream-parts-done`` metadata and is
written with a generation precondition, so a slower writer holding fewer parts never overwrites a newer one.
When the first part is done the video is ``playable`` (EVENT playlists, ``progress`` = parts done / K); when all
are, the playlists become VOD and the video ``ready``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from ..adapters.transcoder import JobNotFound, JobRejected
from ..errors import KstreamError
from . import ladder, stitch
from .jobs import Job, Plan
from .outputs import Outputs, OutputsIncomplete, collect, mux_keys
from .parts import PART_LABEL, Part, part_config

if TYPE_CHECKING:
    from .service import Outcome, TranscodeService

__all__ = ["MAX_PART_ATTEMPTS", "PARTS_DONE_METADATA", "create_parts", "part_event", "reconcile_parts"]

MAX_PART_ATTEMPTS = 3  # Transcoder jobs one part may take (the first and two retries)
PARTS_DONE_METADATA = "kstream-parts-done"
MANIFEST_CACHE_CONTROL = "private, max-age=10"


def _parts(job: Job) -> list[Part]:
    return [Part.from_doc(p) for p in job.parts]


def _labels(svc: TranscodeService, job: Job, index: int) -> dict[str, str]:
    from .service import JOB_LABEL

    return {JOB_LABEL: job.id, PART_LABEL: str(index), **svc._video_label(job)}


def _create_one(svc: TranscodeService, job: Job, part: Part, config: dict[str, Any]) -> Any:
    from .service import PRIORITY_MODES

    media = svc.settings.media_bucket
    cut = part_config(config, part, output_uri=f"gs://{media}/{job.plan.output_prefix if job.plan else ''}")
    mode, batch_priority = PRIORITY_MODES.get(job.priority, PRIORITY_MODES["normal"])
    return svc.transcoder.create_job(cut, labels=_labels(svc, job, part.index), mode=mode,
                                     batch_priority=batch_priority)


def create_parts(svc: TranscodeService, job: Job, lease_id: str, config: dict[str, Any], plan: Plan,
                 parts: Sequence[Part]) -> Outcome:
    """Create one Transcoder job per part (each recorded as soon as it exists, so a crash half-way creates only the
    missing ones on the takeover), then the job is queued."""
    from dataclasses import replace

    from .service import Outcome

    docs = [{**p.to_doc(), "state": "creating", "transcoderJobName": None, "attempts": 0, "error": None}
            for p in parts]
    svc.jobs.set_plan(job.id, lease_id, plan)
    svc.jobs.set_parts(job.id, lease_id, docs, json.dumps(config))
    job = svc.jobs.get(job.id) or replace(job, parts=docs)
    job = replace(job, plan=plan)
    names: list[str] = []
    for doc in job.parts:
        part = Part.from_doc(doc)
        if doc.get("transcoderJobName"):
            names.append(str(doc["transcoderJobName"]))
            continue
        try:
            view = _create_one(svc, job, part, config)
        except JobRejected as exc:
            return svc._fail(job, f"the Transcoder API refused part {part.index}: {exc.reason}")
        names.append(view.name)
        svc.jobs.update_part(job.id, part.index, lambda _j, p, name=view.name: {
            "transcoderJobName": name, "state": "queued", "attempts": int(p.get("attempts") or 0) + 1})
    svc.jobs.record_created(job.id, names[0], plan=plan, lease_id=lease_id, transcoder_state="PENDING")
    return Outcome("started", job.id, job.video_id, details={
        "transcoderJobs": names, "parts": [p.to_doc() for p in parts], "renditions": plan.renditions,
        "durationSeconds": plan.duration_seconds, "estimatedMinutes": plan.estimated_minutes,
    })


def part_event(svc: TranscodeService, job: Job, index: int, name: str, state: str, error: str | None) -> Outcome:
    from .service import Outcome

    if not 0 <= index < len(job.parts):
        return Outcome("ignored", job.id, job.video_id, f"{name} names part {index}, the job has {len(job.parts)}")
    recorded = job.parts[index].get("transcoderJobName")
    if recorded and recorded != name:
        return Outcome("ignored", job.id, job.video_id, f"{name} is not part {index}'s current job {recorded}")
    if state in ("PENDING", "RUNNING"):
        svc.jobs.update_part(job.id, index, lambda _j, p: {"state": "processing", "transcoderJobName": name}
                             if p.get("state") in ("creating", "queued") else None)
        return Outcome("progressed", job.id, job.video_id, f"part {index} {state}")
    if state == "SUCCEEDED":
        return _part_succeeded(svc, job, index, name)
    if state == "FAILED":
        return _part_failed(svc, job, index, name, error or "the Transcoder API reported the part FAILED")
    return Outcome("ignored", job.id, job.video_id, f"unknown job state {state!r}")


def _part_outputs(svc: TranscodeService, plan: Plan, part: Part) -> Outputs:
    prefix = plan.output_prefix + part.prefix
    listed = svc._storage(lambda: [(b.name, int(b.size or 0)) for b in
                                   svc.storage.list_blobs(svc.settings.media_bucket, prefix=prefix)])
    return collect(listed, prefix=prefix, renditions=plan.renditions, has_audio=plan.has_audio, formats=plan.formats)


def _part_succeeded(svc: TranscodeService, job: Job, index: int, name: str) -> Outcome:
    from .service import Outcome

    assert job.plan is not None
    part = _parts(job)[index]
    try:
        _part_outputs(svc, job.plan, part)
    except OutputsIncomplete as exc:
        return _part_failed(svc, job, index, name, str(exc))
    moved = svc.jobs.update_part(job.id, index, lambda _j, p: None if p.get("state") == "succeeded" else {
        "state": "succeeded", "transcoderJobName": name, "error": None})
    if moved is None or not moved[1]:
        return Outcome("duplicate", job.id, job.video_id, f"part {index} was already done")
    job = moved[0]
    done = _done_prefix(job)
    total = len(job.parts)
    if done:
        _publish(svc, job, done, complete=len(done) == total)
    if len(done) == total:
        return _complete(svc, job)
    if done and svc.jobs.current_job_id(job.video_id) == job.id:
        svc.jobs.note_playable(job.id, svc.now())
        svc.catalog.mark_playable(job.video_id, job.metadata, progress=round(100 * _succeeded(job) / total),
                                  available_qualities=job.plan.qualities if job.plan else [],
                                  streaming_urls=_urls(svc, job))
    return Outcome("progressed", job.id, job.video_id, f"part {index} done ({_succeeded(job)}/{total})",
                   details={"playableParts": len(done)})


def _succeeded(job: Job) -> int:
    return sum(1 for p in job.parts if p.get("state") == "succeeded")


def _done_prefix(job: Job) -> list[Part]:
    """The parts done from the first on, without a hole (a player can only play up to the first missing part)."""
    out: list[Part] = []
    for doc in job.parts:
        if doc.get("state") != "succeeded":
            break
        out.append(Part.from_doc(doc))
    return out


def _urls(svc: TranscodeService, job: Job) -> dict[str, str]:
    from .outputs import public_url

    assert job.plan is not None
    urls = {"hls": public_url(svc.settings.cdn_base_url, job.plan.output_prefix, ladder.HLS_MANIFEST)}
    if "dash" in job.plan.formats:
        urls["dash"] = public_url(svc.settings.cdn_base_url, job.plan.output_prefix, ladder.DASH_MANIFEST)
    return urls


def _read(svc: TranscodeService, name: str) -> str:
    blob = svc.storage.bucket(svc.settings.media_bucket).blob(name)
    return svc._storage(lambda: blob.download_as_text())


def _publish(svc: TranscodeService, job: Job, done: list[Part], *, complete: bool) -> None:
    """Write the stitched manifests of the ``done`` parts into the video's folder (see the module docstring)."""
    assert job.plan is not None
    plan = job.plan
    base = plan.output_prefix
    keys = mux_keys(plan.renditions, plan.has_audio)
    objects: dict[str, str] = {}
    video_kept: list[stitch.PartPlaylist] = []
    for key in keys:
        pieces = []
        for part in done:
            kept = stitch.kept_segments(_read(svc, f"{base}{part.prefix}{key}.m3u8"), part.preroll)
            pieces.append((part.prefix, kept))
        if key == keys[0]:
            video_kept = [p for _, p in pieces]
        objects[f"{key}.m3u8"] = stitch.stitch_media_playlist(pieces, complete=complete)
    if "hls" in plan.formats:
        objects[ladder.HLS_MANIFEST] = _read(svc, f"{base}{done[0].prefix}{ladder.HLS_MANIFEST}")
    if "dash" in plan.formats:
        at = 0.0
        periods = []
        for part, kept in zip(done, video_kept, strict=True):
            periods.append((part.prefix, _read(svc, f"{base}{part.prefix}{ladder.DASH_MANIFEST}"),
                            stitch.PartTiming(at, kept.duration, part.preroll)))
            at += kept.duration
        objects[ladder.DASH_MANIFEST] = stitch.stitch_mpd(periods)
    count = len(done) + (1000 if complete else 0)  # a complete set outranks any partial one
    for name, text in objects.items():
        _write_if_newer(svc, base + name, text, count)


def _write_if_newer(svc: TranscodeService, name: str, text: str, count: int) -> None:
    bucket = svc.storage.bucket(svc.settings.media_bucket)
    for _ in range(5):
        current = svc._storage(lambda: bucket.get_blob(name))
        if current is not None and int((current.metadata or {}).get(PARTS_DONE_METADATA) or 0) >= count:
            return
        blob = bucket.blob(name)
        blob.metadata = {PARTS_DONE_METADATA: str(count)}
        blob.cache_control = MANIFEST_CACHE_CONTROL
        media_type = "application/dash+xml" if name.endswith(".mpd") else "application/vnd.apple.mpegurl"
        try:
            svc._storage(lambda blob=blob, current=current, media_type=media_type: blob.upload_from_string(
                text, content_type=media_type, if_generation_match=int(current.generation) if current else 0))
            return
        except gexc.PreconditionFailed:
            continue  # another part's writer came first: read its count again


def _complete(svc: TranscodeService, job: Job) -> Outcome:
    """Every part is done: the video is ready (its manifests are the complete, VOD ones)."""
    from .service import Outcome

    assert job.plan is not None
    plan = job.plan
    merged = Outputs(prefix=plan.output_prefix, hls_playlist=ladder.HLS_MANIFEST if "hls" in plan.formats else None,
                     dash_manifest=ladder.DASH_MANIFEST if "dash" in plan.formats else None)
    segments: list[str] = []
    inits: list[str] = []
    storyboard: list[str] = []
    poster = None
    size = 0
    for part in _parts(job):
        got = _part_outputs(svc, plan, part)
        segments += [part.prefix + n for n in got.segments]
        inits += [part.prefix + n for n in got.init_segments]
        storyboard += [part.prefix + n for n in got.storyboard]
        poster = poster or (part.prefix + got.poster if got.poster else None)
        size += got.bytes
    from dataclasses import replace

    merged = replace(merged, segments=segments, init_segments=inits, storyboard=storyboard, poster=poster,
                     media_playlists=[f"{k}.m3u8" for k in mux_keys(plan.renditions, plan.has_audio)], bytes=size)
    current = svc.jobs.current_job_id(job.video_id) == job.id
    if current:
        thumb = merged.thumbnail
        svc.catalog.mark_ready(job.video_id, job.metadata, available_qualities=plan.qualities,
                               streaming_urls=_urls(svc, job),
                               thumbnail_url=svc._url(merged, thumb) if thumb else "",
                               duration=float(plan.duration_seconds or 0.0), file_size=job.source.size,
                               segment_seconds=plan.segment_seconds, carried_subtitles={})
    return svc._finish(job, "completed", Outcome("completed", job.id, job.video_id, details={
        "parts": len(job.parts), "segments": len(segments)}), outputs=merged.to_doc(), transcoder_state="SUCCEEDED")


def _part_failed(svc: TranscodeService, job: Job, index: int, name: str, reason: str) -> Outcome:
    from .service import Outcome

    doc = job.parts[index]
    attempts = int(doc.get("attempts") or 0)
    if doc.get("state") == "succeeded":
        return Outcome("duplicate", job.id, job.video_id, f"part {index} already succeeded")
    if attempts < MAX_PART_ATTEMPTS and job.part_config:
        part = Part.from_doc(doc)
        view = None
        try:
            view = _create_one(svc, job, part, json.loads(job.part_config))
        except JobRejected as exc:
            reason = f"{reason}; its retry was refused: {exc.reason}"
        if view is not None:
            moved = svc.jobs.update_part(job.id, index, lambda _j, p: None if p.get("transcoderJobName") != name
                                         else {"transcoderJobName": view.name, "state": "queued",
                                               "attempts": int(p.get("attempts") or 0) + 1, "error": reason[:500]})
            if moved is None or not moved[1]:  # another delivery retried it first: this job is one too many
                _delete_quietly(svc, view.name)
                return Outcome("duplicate", job.id, job.video_id, f"part {index} was retried already")
            svc.log("premiere part retried", jobId=job.id, part=index, failedJob=name, retryJob=view.name,
                    reason=reason[:300])
            return Outcome("progressed", job.id, job.video_id, f"part {index} failed ({reason[:200]}); retried as "
                           f"{view.name}")
    svc.jobs.update_part(job.id, index, lambda _j, p: {"state": "failed", "error": reason[:500]})
    part = Part.from_doc(doc)
    span = f"{part.start:g}-{part.end:g} s" if part.end is not None else f"{part.start:g} s to the end"
    outcome = svc._fail(job, f"part {index} ({span}) failed after {attempts} attempt(s): {reason}",
                        transcoder_state="FAILED")
    for other in job.parts:
        other_name = other.get("transcoderJobName")
        if other_name and other_name != name and other.get("state") != "succeeded":
            _delete_quietly(svc, str(other_name))
    return outcome


def _delete_quietly(svc: TranscodeService, name: str) -> None:
    try:
        svc.transcoder.delete_job(name)
    except (KstreamError, JobNotFound):
        pass


def reconcile_parts(svc: TranscodeService, job: Job) -> bool:
    """The sweep's look at a parted job: every part not done is compared with the Transcoder API and its missed
    final notice applied. True when something changed."""
    changed = False
    for doc in job.parts:
        name = doc.get("transcoderJobName")
        if not name or doc.get("state") in ("succeeded", "failed"):
            continue
        try:
            view = svc.transcoder.get_job(str(name))
        except JobNotFound:
            continue
        if view.state in ("SUCCEEDED", "FAILED"):
            fresh = svc.jobs.get(job.id)
            if fresh is None or fresh.final:
                return changed
            part_event(svc, fresh, int(doc["index"]), str(name), view.state, view.error)
            changed = True
    return changed
