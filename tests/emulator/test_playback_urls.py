"""Playback and artwork URLs from a catalogue answer, used as a bare client uses them: no Authorization header, no
cookie, no custom loader (docs/decisions/0010-playback-urls-and-artwork.md).

ffmpeg is handed only ``streamingUrls.hls`` and decodes video and audio; the ``quality=`` answer plays with audio
too; every segment URL of the DASH answer opens without a header (ffmpeg 5.1's DASH demuxer cannot read the
pipeline's ``$Number%010d$`` templates, so Shaka plays DASH in tests/e2e/test_cross_origin_client.py); the
thumbnail opens as an image; a forged or expired token is a 401.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote, urljoin

import pytest
import requests

from local_emulator import seed
from local_emulator.stack import StackConfig
from tests.helpers import api_as, assert_envelope

FFMPEG_SECONDS = 120


@pytest.fixture(scope="module")
def episode(local_cloud: StackConfig) -> dict[str, Any]:
    """The first sample episode as a viewer's ``GET /api/videos/:id`` answers it."""
    episodes = seed.seed_sample(local_cloud, lambda _name, _line: None)
    response = api_as(local_cloud, "user").get(f"/api/videos/{episodes[0].video_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _streams(url: str) -> dict[str, int]:
    """Frames/packets ffmpeg decodes per stream type from ``url`` alone (first video and audio stream, 3 s)."""
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url, "-map", "0:v:0", "-map", "0:a:0",
         "-t", "3", "-f", "null", "-", "-progress", "pipe:1", "-stats_period", "0.5"],
        capture_output=True, text=True, timeout=FFMPEG_SECONDS, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,nb_read_frames", "-count_frames",
         "-read_intervals", "%+2", "-of", "json", url],
        capture_output=True, text=True, timeout=FFMPEG_SECONDS, check=True)
    counts: dict[str, int] = {}
    for stream in json.loads(probe.stdout)["streams"]:
        frames = int(stream.get("nb_read_frames") or 0)
        counts[stream["codec_type"]] = max(counts.get(stream["codec_type"], 0), frames)
    return counts


def test_ffmpeg_plays_audio_and_video_from_the_hls_url_alone(episode: dict[str, Any]) -> None:
    url = episode["streamingUrls"]["hls"]
    assert "token=" in url and "/api/stream/" in url
    master = requests.get(url, timeout=10)  # no header, no cookie
    assert master.status_code == 200 and master.text.startswith("#EXTM3U"), master.text[:300]
    assert "Set-Cookie" not in master.headers
    counts = _streams(url)
    assert counts.get("video", 0) > 10 and counts.get("audio", 0) > 10, counts


def test_one_quality_plays_with_audio(episode: dict[str, Any]) -> None:
    quality = episode["availableQualities"][-1]
    url = f"{episode['streamingUrls']['hls']}&quality={quality}"
    master = requests.get(url, timeout=10).text
    assert master.count("#EXT-X-STREAM-INF") == 1 and "TYPE=AUDIO" in master, master
    counts = _streams(url)
    assert counts.get("video", 0) > 10 and counts.get("audio", 0) > 10, counts


def test_every_playlist_and_segment_opens_without_credentials(episode: dict[str, Any]) -> None:
    master = requests.get(episode["streamingUrls"]["hls"], timeout=10)
    playlists = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    playlists += re.findall(r'URI="([^"]+)"', master.text)
    assert "TYPE=AUDIO" in master.text and "TYPE=SUBTITLES" in master.text  # the sample has ko and en subtitles
    assert len(playlists) >= 4  # variants, the audio rendition, the subtitle renditions
    for playlist_url in playlists:
        playlist = requests.get(playlist_url, timeout=10)
        assert playlist.status_code == 200, (playlist_url, playlist.text[:300])
        uris = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
        uris += re.findall(r'URI="([^"]+)"', playlist.text)
        assert uris and all("Signature=" in uri for uri in uris)
        for uri in (uris[0], uris[-1]):
            assert requests.get(uri, timeout=10, headers={"Range": "bytes=0-99"}).status_code in (200, 206), uri
        assert requests.get(uris[0].split("?")[0], timeout=10).status_code == 403  # unsigned: refused


def test_dash_url_opens_every_segment_without_credentials(episode: dict[str, Any]) -> None:
    url = episode["streamingUrls"]["dash"]
    mpd = requests.get(url, timeout=10)
    assert mpd.status_code == 200 and mpd.headers["Content-Type"].startswith("application/dash+xml"), mpd.text[:300]
    root = ET.fromstring(mpd.text)
    opened = 0
    for element in root.iter():
        for attribute in ("initialization", "media"):
            template = element.get(attribute)
            if not template:
                continue
            for rep in root.iter("{urn:mpeg:dash:schema:mpd:2011}Representation"):
                target = template.replace("$RepresentationID$", rep.get("id", ""))
                target = re.sub(r"\$Number(%0(\d+)d)?\$", lambda m: str(1).zfill(int(m.group(2) or 1)), target)
                if "$" in target:
                    continue
                response = requests.get(target, timeout=10, headers={"Range": "bytes=0-99"})
                if response.status_code == 404:  # another representation's template
                    continue
                assert response.status_code in (200, 206), (target, response.text[:200])
                opened += 1
    for base in root.iter("{urn:mpeg:dash:schema:mpd:2011}BaseURL"):  # subtitle files
        assert requests.get(urljoin(url, base.text or ""), timeout=10).status_code == 200
    assert opened >= 4  # init and first segment of video and audio


def test_thumbnail_opens_from_the_answer_alone(local_cloud: StackConfig, episode: dict[str, Any]) -> None:
    image = requests.get(episode["thumbnailUrl"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"].startswith("image/"), image.text[:200]
    assert image.content[:3] == b"\xff\xd8\xff"
    search = api_as(local_cloud, "user").get("/api/metadata/videos/search", params={"series": episode["series"]})
    assert search.status_code == 200
    for video in search.json()["videos"]:
        assert requests.get(video["thumbnailUrl"], timeout=10).status_code == 200
    series = api_as(local_cloud, "user").get(f"/api/metadata/series/{quote(episode['series'], safe='')}")
    assert series.status_code == 200, series.text
    assert requests.get(series.json()["thumbnailUrl"], timeout=10).status_code == 200
    for video in series.json()["episodes"]:
        assert "token=" in video["streamingUrls"]["hls"]


def test_bad_tokens_are_401(local_cloud: StackConfig, episode: dict[str, Any]) -> None:
    url = episode["streamingUrls"]["hls"]
    forged = re.sub(r"token=(\d+)\.", lambda m: f"token={int(m.group(1)) + 3600}.", url)
    for bad in (forged, url.split("&token=")[0], re.sub(r"/stream/[^?]+", "/stream/aaaaaaaaaaaaaaaaaaaa", url)):
        response = requests.get(bad, timeout=10)
        assert response.status_code in (401, 404), response.text[:300]
        if response.status_code == 401:
            assert_envelope(response, 401, "AUTH_INVALID_TOKEN")
