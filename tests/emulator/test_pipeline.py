"""Storage trigger -> Transcoder API -> Pub/Sub -> ready, through the whole local cloud: fake-gcs-server's finalize
notice, the event bridge (Eventarc), on-source-uploaded, the local Transcoder (ffmpeg), its Pub/Sub notice,
on-transcoder-event, the catalog; and the same CloudEvents delivered again, late or malformed."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kstream.client.api import UploadApi
from kstream.client.uploader import Uploader

from local_emulator.stack import StackConfig
from tests.emulator import transcode_support as ts
from tests.helpers import api_as, token_for


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pipeline-media")


def _assert_ready(cfg: StackConfig, video_id: str, job_id: str, size: int, qualities: list[str]) -> dict:
    status = ts.wait_final(cfg, job_id)
    assert status["status"] == "completed", status
    assert status["progress"] == 100 and status["completedAt"].endswith("Z")
    hls = status["outputFiles"]["hls"]
    assert hls["playlist"] == f"{cfg.gateway_url}/media/videos/{video_id}/manifest.m3u8"
    assert hls["segments"] and all(s.endswith(".m4s") for s in hls["segments"])
    assert status["outputFiles"]["dash"]["manifest"].endswith(f"/videos/{video_id}/manifest.mpd")
    video = ts.video_as_admin(cfg, video_id)
    assert video["status"] == "ready", video
    assert video["availableQualities"] == qualities
    assert video["duration"] == pytest.approx(ts.SECONDS, abs=0.2)
    assert video["fileSize"] == size
    thumbnail = re.fullmatch(rf"{re.escape(cfg.gateway_url)}/media/(videos/{video_id}/(poster|storyboard)\d+\.jpeg)"
                             r"\?Expires=\d+&KeyName=[\w-]+&Signature=[\w=-]+", video["thumbnailUrl"])  # signed
    assert thumbnail, video["thumbnailUrl"]
    assert ts.read_media(cfg, thumbnail.group(1))[:2] == b"\xff\xd8"  # a JPEG
    stream = f"{cfg.gateway_url}/api/stream/{video_id}"  # playback URLs: a bare player plays them (decision 0010)
    assert set(video["streamingUrls"]) == {"hls", "dash"}
    assert all(video["streamingUrls"][f].startswith(f"{stream}?format={f}&token=") for f in ("hls", "dash"))
    return status


def test_an_upload_becomes_a_ready_video(local_cloud: StackConfig, media: Path, tmp_path: Path) -> None:
    """The user's path: upload API -> complete -> source object -> ... -> the video viewers see, ready."""
    source = ts.make_source(media, "landscape.mp4", size="640x360")
    uploader = Uploader(UploadApi(local_cloud.gateway_url, token_for(local_cloud, "uploader")), state_dir=tmp_path,
                        show_progress=False, chunk_size=256 * 1024)
    result = uploader.upload(source, {"title": "첫 번째 에피소드", "series": f"Pipeline {uuid.uuid4().hex[:8]}",
                                      "episode": 1, "language": "ko"})
    assert result.transcoding_job_id
    _assert_ready(local_cloud, result.video_id, result.transcoding_job_id, source.stat().st_size, ["360p"])
    viewer = api_as(local_cloud, "user").get(f"/api/videos/{result.video_id}")
    assert viewer.status_code == 200 and viewer.json()["status"] == "ready"
    master = ts.read_media(local_cloud, f"videos/{result.video_id}/manifest.m3u8").decode()
    assert "#EXT-X-STREAM-INF" in master and "RESOLUTION=640x360" in master and "TYPE=AUDIO" in master


def test_the_same_event_three_times_makes_one_job_and_a_stale_one_is_dropped(local_cloud: StackConfig,
                                                                               media: Path) -> None:
    video_id = uuid.uuid4().hex
    source = ts.make_source(media, "small.mp4")
    name, generation = ts.put_source(local_cloud, video_id, source)
    job_id = f"job-{video_id}"
    def deliver(_: int) -> int:
        """Eventarc's at-least-once delivery: a delivery answered 5xx (a Firestore transaction that lost to the
        concurrent ones: "retry me") is delivered again, as Eventarc would, until it is acknowledged."""
        for _attempt in range(6):
            answer = ts.finalize_event(local_cloud, name, generation)
            if answer.status_code == 200:
                return 200
            assert answer.status_code >= 500, answer.text  # never a 4xx: the event is fine
            time.sleep(0.5)
        return answer.status_code

    with ThreadPoolExecutor(3) as pool:  # three deliveries of one event, concurrently
        assert list(pool.map(deliver, range(3))) == [200, 200, 200]
    _assert_ready(local_cloud, video_id, job_id, source.stat().st_size, ["360p"])
    settings = ts.settings_for(local_cloud)
    assert len(ts.transcoder_jobs_for(settings, job_id)) == 1  # the bridge's own delivery made four in all

    # A new generation of the object supersedes the first; then the first generation's event arrives late.
    name2, generation2 = ts.put_source(local_cloud, video_id, source)
    assert name2 == name and generation2 > generation
    second = f"job-{video_id}-g{generation2}"
    ts.wait_for(lambda: ts.job_doc(second), what="the new generation's job")
    assert ts.finalize_event(local_cloud, name, generation).status_code == 200  # stale: dropped on purpose
    assert ts.finalize_event(local_cloud, name2, generation2).status_code == 200  # duplicate of the second
    assert ts.wait_final(local_cloud, second)["status"] == "completed"
    assert len(ts.transcoder_jobs_for(settings, job_id)) == 1
    assert len(ts.transcoder_jobs_for(settings, second)) == 1
    assert ts.job_doc(job_id)["sourceKey"] == f"{local_cloud.source_bucket}/{name}#{generation}"
    assert ts.job_doc(second)["sourceKey"] == f"{local_cloud.source_bucket}/{name}#{generation2}"
    assert ts.video_as_admin(local_cloud, video_id)["status"] == "ready"


def test_a_portrait_source_keeps_its_aspect(local_cloud: StackConfig, media: Path) -> None:
    video_id = uuid.uuid4().hex
    source = ts.make_source(media, "portrait.mp4", size="360x640")
    ts.put_source(local_cloud, video_id, source)
    _assert_ready(local_cloud, video_id, f"job-{video_id}", source.stat().st_size, ["360p"])
    plan = ts.job_doc(f"job-{video_id}")["plan"]
    assert (plan["width"], plan["height"], plan["renditions"]) == (360, 640, ["360p"])
    master = ts.read_media(local_cloud, f"videos/{video_id}/manifest.m3u8").decode()
    assert "RESOLUTION=360x640" in master, master  # not squashed into 640x360, not upscaled to 720p


def test_a_silent_source_is_transcoded_without_audio(local_cloud: StackConfig, media: Path) -> None:
    video_id = uuid.uuid4().hex
    source = ts.make_source(media, "silent.mp4", audio=False)
    ts.put_source(local_cloud, video_id, source)
    status = _assert_ready(local_cloud, video_id, f"job-{video_id}", source.stat().st_size, ["360p"])
    assert not any("/audio" in s for s in status["outputFiles"]["hls"]["segments"])
    plan = ts.job_doc(f"job-{video_id}")["plan"]
    assert plan["hasAudio"] is False and plan["renditions"] == ["180p"]  # a source below 360p keeps its size
    master = ts.read_media(local_cloud, f"videos/{video_id}/manifest.m3u8").decode()
    assert "TYPE=AUDIO" not in master and "RESOLUTION=320x180" in master


def test_a_corrupt_source_fails_cleanly(local_cloud: StackConfig, media: Path) -> None:
    video_id = uuid.uuid4().hex
    whole = ts.make_source(media, "moov-at-end.mp4", faststart=False)
    broken = ts.truncated_copy(whole, media / f"cut-{video_id}.mp4")
    ts.put_source(local_cloud, video_id, broken)
    job_id = f"job-{video_id}"
    status = ts.wait_final(local_cloud, job_id, timeout=60)
    assert status["status"] == "failed"
    assert status["error"].startswith("TRANSCODE_FAILED: the source cannot be transcoded: ")
    assert "truncated" in status["error"] or "moov" in status["error"]
    assert "outputFiles" not in status and status["completedAt"].endswith("Z")
    video = ts.wait_for(lambda: (lambda v: v if v.get("status") == "failed" else None)(
        ts.video_as_admin(local_cloud, video_id)), what="the video to be failed")
    assert video["status"] == "failed"
    assert api_as(local_cloud, "user").get(f"/api/videos/{video_id}").status_code == 404  # viewers never see it
    assert ts.transcoder_jobs_for(ts.settings_for(local_cloud), job_id) == []  # no money spent on it


def test_late_duplicate_and_malformed_job_events_change_nothing(local_cloud: StackConfig, media: Path) -> None:
    video_id = uuid.uuid4().hex
    source = ts.make_source(media, "small.mp4")
    ts.put_source(local_cloud, video_id, source)
    job_id = f"job-{video_id}"
    before = _assert_ready(local_cloud, video_id, job_id, source.stat().st_size, ["360p"])
    name = ts.job_doc(job_id)["transcoderJobName"]
    for state, error in (("RUNNING", None), ("FAILED", "late failure"), ("SUCCEEDED", None), ("PENDING", None)):
        assert ts.notice_event(local_cloud, name, state, error).status_code == 200
    assert ts.job_status(local_cloud, job_id) == before
    assert ts.video_as_admin(local_cloud, video_id)["status"] == "ready"
    unknown = name.rsplit("/", 1)[0] + "/" + uuid.uuid4().hex
    assert ts.notice_event(local_cloud, unknown, "SUCCEEDED").status_code == 200  # not ours: dropped
    garbage = ts.post_event(local_cloud, "on-transcoder-event", "google.cloud.pubsub.topic.v1.messagePublished",
                            {"message": {"data": "bm90IGpzb24="}})
    assert garbage.status_code == 200  # malformed: dropped, not retried forever
    other_bucket = ts.finalize_event(local_cloud, f"sources/{video_id}/episode.mp4", 1, bucket="not-the-source")
    assert other_bucket.status_code == 200
