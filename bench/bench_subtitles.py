"""Adding a subtitle track to a ready 60-minute episode, beside a full transcode of a short source, side by side.

    track     a ~900-cue SubRip file over 60 minutes (tests/subtitle_samples.long_track), PUT to
              /api/videos/{id}/subtitles/{lang} of a ready 60-minute episode, until the stream function's HLS master
              lists it: parse, normalise, 600 WebVTT segments + playlist + whole file written to the media bucket,
              the catalogue updated. The episode is registered (catalogue entry, master and media playlists) without
              encoding an hour of video.
    baseline  the bench's own short source (default 10 s, 1280x720) from upload complete to ready through the
              whole pipeline (bench_pipeline.one_run): what the same change would cost if it needed a new job.
    rounds    alternating (track, transcode) --rounds times; medians and spread; the ratio track / transcode;
              and the Transcoder's job count before and after every track (must not move).

Run: .venv/bin/python bench/bench_subtitles.py [--rounds 3] [--stack STATE_DIR]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions"), str(REPO / "bench")]

import bench_pipeline  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import storage  # noqa: E402

from local_emulator import tokens  # noqa: E402
from local_emulator.stack import StackConfig, on_local_cloud  # noqa: E402
from tests.subtitle_samples import long_track  # noqa: E402

EPISODE_SECONDS = 3600
SEGMENT_SECONDS = 6


def register_episode(cfg: StackConfig, owner_id: str) -> str:
    """A ready 60-minute episode: its catalogue entry (metadata-upsert, as the pipeline's service identity) and the
    HLS master and media playlist the stream function reads; no video is encoded."""
    video_id = f"bench-{uuid.uuid4().hex[:12]}"
    bucket = storage.Client(project=cfg.project_id, credentials=AnonymousCredentials()).bucket(cfg.media_bucket)
    segments = "".join(f"#EXTINF:{SEGMENT_SECONDS}.0,\nvideo-720p/segment-{n:010d}.m4s\n"
                       for n in range(EPISODE_SECONDS // SEGMENT_SECONDS))
    bucket.blob(f"videos/{video_id}/video-720p.m3u8").upload_from_string(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        '#EXT-X-MAP:URI="video-720p/init.mp4"\n' + segments + "#EXT-X-ENDLIST\n")
    bucket.blob(f"videos/{video_id}/manifest.m3u8").upload_from_string(
        '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f"\n'
        "video-720p.m3u8\n")
    service = requests.Session()
    service.headers["Authorization"] = f"Bearer {tokens.service_token(cfg)}"
    answer = service.post(f"{cfg.gateway_url}/api/metadata/videos", json={
        "videoId": video_id, "title": "Bench hour", "series": f"Bench {video_id}", "episode": 1,
        "description": "", "duration": EPISODE_SECONDS, "fileSize": 1, "uploaderId": owner_id,
        "uploaderUsername": "bench", "availableQualities": ["720p"], "thumbnailUrl": "",
        "streamingUrls": {"hls": f"/media/videos/{video_id}/manifest.m3u8"}, "language": "ko", "status": "ready",
    }, timeout=30)
    answer.raise_for_status()
    return video_id


def job_count(cfg: StackConfig) -> int:
    from kstream.settings import Settings

    location = Settings(project_id=cfg.project_id).transcoder_location
    answer = requests.get(f"{cfg.transcoder_url}/v1/projects/{cfg.project_id}/locations/{location}/jobs",
                          params={"pageSize": 1000}, timeout=30)
    answer.raise_for_status()
    return len(answer.json().get("jobs", []))


def add_track(cfg: StackConfig, token: str, video_id: str, body: bytes, language: str) -> float:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    payload = {"fileName": f"hour.{language}.srt", "content": base64.b64encode(body).decode()}
    clock = time.monotonic()
    answer = session.put(f"{cfg.gateway_url}/api/videos/{video_id}/subtitles/{language}", json=payload, timeout=60)
    if answer.status_code != 201:
        raise SystemExit(f"PUT subtitles answered {answer.status_code}: {answer.text[:300]}")
    master = session.get(f"{cfg.gateway_url}/api/stream/{video_id}", timeout=30)
    elapsed = time.monotonic() - clock
    if f'LANGUAGE="{language}"' not in master.text:
        raise SystemExit(f"the master does not list the new track:\n{master.text[:600]}")
    return elapsed


def run(cfg: StackConfig, args: argparse.Namespace) -> None:
    os.environ.update({k: v for k, v in cfg.emulator_env().items() if k != "FIREBASE_AUTH_EMULATOR_HOST"})
    body = long_track(cues=900, minutes=60)
    email = "bench-subtitles@kstream.local"
    token = tokens.user_token(cfg, "uploader", email)
    owner = tokens.ensure_user(cfg, email, "uploader")
    source = bench_pipeline.source(args.cache, args.size, args.seconds)
    print(f"track: {len(body) / 1024:.0f} KiB, 900 cues over 60 min; baseline source {source.name} "
          f"({args.seconds} s); {args.rounds} alternating rounds", flush=True)
    tracks: list[float] = []
    transcodes: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kstream-bench-subtitles-") as tmp:
        for index in range(args.rounds):
            video_id = register_episode(cfg, owner)
            before = job_count(cfg)
            tracks.append(add_track(cfg, token, video_id, body, "en"))
            if job_count(cfg) != before:
                raise SystemExit("adding a subtitle track started a Transcoder job")
            transcodes.append(bench_pipeline.one_run(cfg, source, Path(tmp))["complete -> ready"])
            print(f"  round {index + 1}: track {tracks[-1]:.2f} s (no Transcoder job), "
                  f"transcode {transcodes[-1]:.2f} s", flush=True)
    track, transcode = statistics.median(tracks), statistics.median(transcodes)
    ratios = [t / c for t, c in zip(tracks, transcodes, strict=True)]
    print(f"add a 900-cue track to a ready 60-min episode: {track:.2f} s median "
          f"(spread {min(tracks):.2f}-{max(tracks):.2f}); goal <= 3 s: {'met' if track <= 3 else 'MISSED'}")
    print(f"full transcode of the {args.seconds} s source: {transcode:.2f} s median "
          f"(spread {min(transcodes):.2f}-{max(transcodes):.2f})")
    print(f"ratio track / transcode: {statistics.median(ratios):.3f} median "
          f"(spread {min(ratios):.3f}-{max(ratios):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = bench_pipeline.source_arguments(parser).parse_args()
    on_local_cloud(lambda cfg: run(cfg, args), args.stack)


if __name__ == "__main__":
    main()
