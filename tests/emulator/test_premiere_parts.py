"""Premiere parts end to end on the local cloud (docs/premiere.md, decision 0015): a 22 s 320x180 source past a
lowered threshold is cut into 4 parts (4 s, then 6 s each), each its own local Transcoder job (2 run at once);
the video is ``playable`` with an EVENT playlist while parts remain, then ``ready`` with VOD playlists and a
4-Period MPD; the seams, read through the stream API and the CDN as a player reads them, show no gap or overlap of
video frames, audio covered without a hole of one AAC frame, under one AAC frame of disturbance at every seam and
A/V within one frame, the same in every part.

The job is started by an in-process transcode service with the lowered threshold (the functions host keeps the
production default) and the parts' notices are handed to it in part order (bench/bench_premiere.py runs them
through Pub/Sub and the functions host). The source lies outside ``sources/`` so the upload trigger leaves it to
this test.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from google.cloud import pubsub_v1
from kstream.transcode import premiere

from contracts.transcode import StartTranscodingRequest
from local_emulator.stack import StackConfig
from tests.emulator import premiere_seams
from tests.emulator.transcode_support import (
    gcs,
    job_doc,
    local_service,
    make_source,
    settings_for,
    video_as_admin,
    wait_for,
)

SECONDS = 22
FPS = 30
BOUNDARIES = [4.0, 10.0, 16.0]  # the first part is half as long: it makes the video playable
AAC_FRAME = premiere_seams.AAC_FRAME


def _put(cfg: StackConfig, video_id: str, path: Path) -> str:
    name = f"premiere/{video_id}/episode.mp4"
    blob = gcs().bucket(cfg.source_bucket).blob(name)
    blob.metadata = {"videoId": video_id, "uploaderId": "uploader-test", "title": f"Premiere {video_id[-6:]}",
                     "series": f"Premiere series {video_id}", "episode": "1", "language": "ko"}
    blob.upload_from_filename(str(path), content_type="video/mp4")
    return name


def _fetch(url: str) -> bytes:
    response = requests.get(url, timeout=30)  # a bare player: no header, no cookie
    assert response.status_code == 200, (url[:200], response.status_code, response.text[:300])
    return response.content


@pytest.fixture(scope="module")
def premiere_run(local_cloud: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The parts' notices go to a topic of this test's own, which the test hands to the service itself, part after
    part in order: what a viewer sees after each part is then certain, whatever order the jobs end in."""
    cfg = local_cloud
    video_id = f"premiere-{uuid.uuid4().hex[:10]}"
    source = premiere_seams.make_marked_source(tmp_path_factory.mktemp("premiere") / "episode.mp4", SECONDS)
    name = _put(cfg, video_id, source)
    topic = f"premiere-test-{uuid.uuid4().hex[:8]}"
    pubsub_v1.PublisherClient().create_topic(name=f"projects/{cfg.project_id}/topics/{topic}")
    service = local_service(settings_for(cfg, premiere_threshold_seconds=8, premiere_part_seconds=6,
                                         transcoder_topic=topic))
    started = service.start(StartTranscodingRequest.model_validate({
        "videoId": video_id, "sourcePath": f"gs://{cfg.source_bucket}/{name}",
        "outputFormats": {"hls": {"resolutions": ["360p"], "segmentDuration": 2},
                          "dash": {"resolutions": ["360p"], "segmentDuration": 2}}}))
    assert started.status == "queued", started
    job = job_doc(started.jobId)
    rendition = job["plan"]["renditions"][0]  # "180p": the source's own size, below 360p
    bucket = gcs().bucket(cfg.media_bucket)
    steps: list[dict[str, Any]] = []
    for part in job["parts"]:
        view = wait_for(lambda part=part: (lambda v: v if v.state in ("SUCCEEDED", "FAILED") else None)(
            service.transcoder.get_job(part["transcoderJobName"])), timeout=240, what=f"part {part['index']}")
        outcome = service.job_event(view.name, view.state, view.error)
        video = video_as_admin(cfg, video_id)
        playlist = bucket.blob(f"videos/{video_id}/video-{rendition}.m3u8").download_as_text()
        steps.append({"outcome": outcome.action, "status": video.get("status"), "progress": video.get("progress"),
                      "playlist": playlist, "streams": video.get("streamingUrls", {})})
    return {"id": video_id, "job": job_doc(started.jobId), "steps": steps, "video": video_as_admin(cfg, video_id)}


def test_parts_are_planned_on_segment_boundaries_and_tracked(premiere_run: dict[str, Any]) -> None:
    job = premiere_run["job"]
    assert job["state"] == "completed", job.get("error")
    parts = job["parts"]
    assert [p["start"] for p in parts] == [0.0, *BOUNDARIES]
    assert [p["end"] for p in parts] == [*BOUNDARIES, None]
    assert [p["preroll"] for p in parts] == [0.0, 2.0, 2.0, 2.0]
    assert all(p["state"] == "succeeded" and p["attempts"] == 1 for p in parts)
    assert len({p["transcoderJobName"] for p in parts}) == 4


def test_the_video_is_playable_with_a_growing_event_playlist_before_it_is_ready(
        premiere_run: dict[str, Any]) -> None:
    steps = premiere_run["steps"]
    assert [s["outcome"] for s in steps] == ["progressed", "progressed", "progressed", "completed"]
    assert [(s["status"], s["progress"]) for s in steps] == [("playable", 25), ("playable", 50), ("playable", 75),
                                                             ("ready", None)]
    for done, step in enumerate(steps[:3], start=1):  # EVENT, the parts done so far
        playlist = step["playlist"]
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist and "#EXT-X-ENDLIST" not in playlist
        assert playlist.count("#EXT-X-MAP:") == done and playlist.count("#EXT-X-DISCONTINUITY\n") == done - 1
        assert "token=" in step["streams"]["hls"]  # a playable video's playback URL opens for anyone
    last = steps[-1]["playlist"]
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in last and last.rstrip().endswith("#EXT-X-ENDLIST")
    assert last.count("#EXT-X-DISCONTINUITY\n") == 3 and last.count("#EXT-X-MAP:") == 4
    job = premiere_run["job"]
    assert job["playableAt"] < job["completedAt"]
    assert premiere_run["video"]["status"] == "ready" and premiere_run["video"].get("progress") is None


def _playlists(video: dict[str, Any]) -> tuple[str, str, str, str]:
    master_url = video["streamingUrls"]["hls"]
    master = _fetch(master_url).decode()
    lines = master.splitlines()
    variant = next(urljoin(master_url, lines[i + 1]) for i, line in enumerate(lines)
                   if line.startswith("#EXT-X-STREAM-INF:"))
    audio = next(urljoin(master_url, line.split('URI="', 1)[1].split('"', 1)[0]) for line in lines
                 if line.startswith("#EXT-X-MEDIA:") and "TYPE=AUDIO" in line)
    return _fetch(variant).decode(), variant, _fetch(audio).decode(), audio


def test_hls_seams_through_the_stream_api(premiere_run: dict[str, Any]) -> None:
    video_text, video_url, audio_text, audio_url = _playlists(premiere_run["video"])
    seams = premiere_seams.hls_seams(video_text, video_url, audio_text, audio_url, _fetch)
    step = 1 / FPS
    assert seams.boundaries == pytest.approx(BOUNDARIES, abs=1e-3)
    # video: every frame once, none missing, none twice, across every seam
    assert len(seams.frame_times) == SECONDS * FPS
    gaps = [b - a for a, b in itertools.pairwise(seams.frame_times)]
    assert min(gaps) == pytest.approx(step, abs=1e-3) and max(gaps) == pytest.approx(step, abs=1e-3)
    assert all(abs(error) < 1e-3 for error in seams.video_seam_errors), seams.video_seam_errors
    # audio: no hole as long as one AAC frame anywhere, the first seam (an untrimmed part before a trimmed one)
    # included
    assert seams.audio_gap_samples < AAC_FRAME, seams.audio_gap_samples
    # A/V within one frame in every part (one burst per second, each placed by its part's video timeline), and the
    # same in every part: each part's audio lines up with its video the same way, so no step at a seam
    assert len(seams.av_offsets) == SECONDS
    assert max(abs(o) for o in seams.av_offsets) < step, seams.av_offsets
    assert max(seams.av_offsets) - min(seams.av_offsets) < 1e-3, seams.av_offsets
    # no click: at every seam under one AAC frame of samples off the sine (the decoder restarting on the next
    # part's init segment), and the codec's own noise stays small away from the seams
    assert len(seams.seam_disturbance) == len(BOUNDARIES)
    assert all(disturbed < AAC_FRAME for disturbed in seams.seam_disturbance), seams.seam_disturbance
    assert seams.residual_far < 0.05, seams.residual_far


def test_dash_is_one_period_per_part_played_back_to_back(local_cloud: StackConfig,
                                                           premiere_run: dict[str, Any]) -> None:
    url = premiere_run["video"]["streamingUrls"]["dash"]
    mpd = _fetch(url).decode()
    periods = premiere_seams.dash_video_times(mpd, url, _fetch)
    assert [start for start, _, _ in periods] == pytest.approx([0.0, *BOUNDARIES], abs=1e-3)
    assert [length for _, length, _ in periods] == pytest.approx([4.0, 6.0, 6.0, 6.0], abs=1e-3)
    # each Period shows all its part's frames from its start, one after the other: every frame once
    assert [len(frames) for _, _, frames in periods] == [120, 180, 180, 180]
    shown = [t for _, _, frames in periods for t in frames]
    gaps = [b - a for a, b in itertools.pairwise(shown)]
    assert min(gaps) > 0.9 / FPS and max(gaps) < 1.1 / FPS, (min(gaps), max(gaps))
    assert shown[0] == pytest.approx(0.0, abs=1e-3)


def test_a_failed_part_is_retried_alone_and_fails_the_video_only_at_its_last_attempt(
        local_cloud: StackConfig, tmp_path: Path) -> None:
    cfg = local_cloud
    video_id = f"premiere-fail-{uuid.uuid4().hex[:8]}"
    name = _put(cfg, video_id, make_source(tmp_path, "short.mp4", seconds=12))
    topic = f"premiere-test-{uuid.uuid4().hex[:8]}"  # only the notices this test sends reach the service
    pubsub_v1.PublisherClient().create_topic(name=f"projects/{cfg.project_id}/topics/{topic}")
    service = local_service(settings_for(cfg, premiere_threshold_seconds=8, premiere_part_seconds=4,
                                         transcoder_topic=topic))
    started = service.start(StartTranscodingRequest.model_validate({
        "videoId": video_id, "sourcePath": f"gs://{cfg.source_bucket}/{name}",
        "outputFormats": {"hls": {"resolutions": ["360p"], "segmentDuration": 2}}}))
    parts = job_doc(started.jobId)["parts"]
    assert len(parts) == 3
    others = {p["index"]: p["transcoderJobName"] for p in parts if p["index"] != 1}
    for attempt in range(1, premiere.MAX_PART_ATTEMPTS + 1):
        failing = job_doc(started.jobId)["parts"][1]
        assert failing["attempts"] == attempt
        outcome = service.job_event(failing["transcoderJobName"], "FAILED", f"boom {attempt}")
        doc = job_doc(started.jobId)
        if attempt < premiere.MAX_PART_ATTEMPTS:
            assert outcome.action == "progressed", outcome
            assert doc["state"] != "failed"
            assert doc["parts"][1]["transcoderJobName"] != failing["transcoderJobName"]  # a new job, this part only
            assert {p["index"]: p["transcoderJobName"] for p in doc["parts"] if p["index"] != 1} == others
            assert video_as_admin(cfg, video_id)["status"] == "processing"
    assert outcome.action == "failed", outcome
    assert doc["state"] == "failed" and doc["parts"][1]["state"] == "failed"
    assert "part 1 (2-6 s) failed after 3 attempt(s): boom 3" in doc["error"]
    video = wait_for(lambda: (lambda v: v if v.get("status") == "failed" else None)(video_as_admin(cfg, video_id)),
                     timeout=30, what="the video to be failed")
    assert "part 1" in video["failureReason"]
    # a late success of another part changes nothing
    assert service.job_event(others[0], "SUCCEEDED", None).action == "duplicate"


def test_the_sweep_finishes_parts_whose_notices_were_lost(local_cloud: StackConfig, tmp_path: Path) -> None:
    cfg = local_cloud
    video_id = f"premiere-sweep-{uuid.uuid4().hex[:8]}"
    name = _put(cfg, video_id, make_source(tmp_path, "lost.mp4", seconds=12))
    topic = f"premiere-test-{uuid.uuid4().hex[:8]}"  # nobody hands these notices on: all of them are lost
    pubsub_v1.PublisherClient().create_topic(name=f"projects/{cfg.project_id}/topics/{topic}")
    service = local_service(settings_for(cfg, premiere_threshold_seconds=8, premiere_part_seconds=4,
                                         transcoder_topic=topic))
    started = service.start(StartTranscodingRequest.model_validate({
        "videoId": video_id, "sourcePath": f"gs://{cfg.source_bucket}/{name}",
        "outputFormats": {"hls": {"resolutions": ["360p"], "segmentDuration": 2}}}))
    for part in job_doc(started.jobId)["parts"]:
        wait_for(lambda part=part: service.transcoder.get_job(part["transcoderJobName"]).state == "SUCCEEDED",
                 timeout=240, what=f"part {part['index']} to end")
    assert job_doc(started.jobId)["state"] in ("queued", "processing")
    report = service.sweep()
    assert started.jobId in report.reconciled
    doc = job_doc(started.jobId)
    assert doc["state"] == "completed" and all(p["state"] == "succeeded" for p in doc["parts"])
    assert video_as_admin(cfg, video_id)["status"] == "ready"
