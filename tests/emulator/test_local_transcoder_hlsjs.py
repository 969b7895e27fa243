"""hls.js (the player kstream ships, node_modules/hls.js) in headless Chromium plays what the local Transcoder wrote
for a vtt mux stream and puts each cue where the caption file has it: X-TIMESTAMP-MAP's MPEGTS is the variant's
first PTS, so cue times on the video's timeline equal the SRT's. A copy whose MPEGTS is moved by one second shows
the cue one second later: hls.js does read the value, so the check can fail."""

from __future__ import annotations

import functools
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.emulator.test_local_transcoder_harness import BUCKET, Cloud, ffmpeg, h264, start_cloud
from tests.helpers import LocalHttpServer, QuietFiles

REPO = Path(__file__).resolve().parents[2]
HLS_JS = REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
SRT = """1
00:00:00,500 --> 00:00:01,500
Hello there

2
00:00:02,200 --> 00:00:03,400
Second cue
"""
PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted playsinline></video>
<script src="hls.min.js"></script><script>
const v = document.getElementById('v');
const hls = new Hls({subtitleDisplay: true});
// hls.js follows the video's text track modes: showing the track selects its subtitle playlist
v.textTracks.addEventListener('addtrack', (e) => { e.track.mode = 'showing'; });
hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => { hls.subtitleTrack = 0; });
hls.on(Hls.Events.SUBTITLE_TRACK_LOADED, () => { v.play(); });
hls.loadSource(location.hash.slice(1)); hls.attachMedia(v);
</script>"""
STATE = """() => { const v = document.getElementById('v');
  return {time: v.currentTime, paused: v.paused, error: v.error && v.error.code,
          subtitleTracks: hls.subtitleTracks.length, subtitleTrack: hls.subtitleTrack,
          textTracks: [...v.textTracks].map((t) => [t.kind, t.label, t.mode, t.cues ? t.cues.length : -1])}; }"""
CUES = """() => [...document.getElementById('v').textTracks].filter((t) => t.cues && t.cues.length)
  .map((t) => [...t.cues].map((c) => [c.startTime, c.endTime, c.text])).flat()"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    yield from start_cloud(tmp_path_factory.mktemp("transcoder-hlsjs"))


@pytest.fixture(scope="module")
def served(cloud: Cloud):
    """The outputs of a TS and an fMP4 job with an English vtt mux stream, served over HTTP with hls.js."""
    video = cloud.tmp / "video.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000:duration=4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
           "yuv420p", "-c:a", "aac", str(video))
    video_uri = cloud.upload("hlsjs/video.mp4", video.read_bytes())
    srt_uri = cloud.upload("hlsjs/en.srt", SRT.encode())
    root = cloud.tmp / "www"
    root.mkdir()
    shutil.copy(HLS_JS, root / "hls.min.js")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    segments = {"segmentSettings": {"segmentDuration": "2s", "individualSegments": True}}
    for container in ("ts", "fmp4"):
        media = [{"key": "video", "container": container, "elementaryStreams": ["v", "a"] if container == "ts"
                  else ["v"], **segments}]
        if container == "fmp4":
            media.append({"key": "audio", "container": "fmp4", "elementaryStreams": ["a"], **segments})
        out = cloud.run({"outputUri": f"gs://{BUCKET}/hlsjs/{container}/", "config": {
            "inputs": [{"key": "input0", "uri": video_uri}, {"key": "en", "uri": srt_uri}],
            "editList": [{"key": "atom0", "inputs": ["input0", "en"]}],
            "elementaryStreams": [
                {"key": "v", **h264(240)}, {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 64000}},
                {"key": "t", "textStream": {"codec": "webvtt", "languageCode": "en", "displayName": "English",
                                            "mapping": [{"atomKey": "atom0", "inputKey": "en"}]}}],
            "muxStreams": [*media, {"key": "subs-en", "container": "vtt", "elementaryStreams": ["t"], **segments}],
            "manifests": [{"type": "HLS", "muxStreams": [m["key"] for m in media] + ["subs-en"]}]}})
        shutil.copytree(out, root / container)
        shifted = root / f"{container}-shifted"  # the negative control: MPEGTS one second (90000) later
        shutil.copytree(out, shifted)
        for segment in shifted.glob("subs-en*.vtt"):
            text = segment.read_text(encoding="utf-8")
            value = int(re.search(r"MPEGTS:(\d+)", text)[1])
            segment.write_text(text.replace(f"MPEGTS:{value}", f"MPEGTS:{value + 90000}"), encoding="utf-8")
    with LocalHttpServer(functools.partial(QuietFiles, directory=str(root))) as server:
        yield server.origin


def _cues_in_hlsjs(url: str, master: str) -> list[tuple[float, float, str]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text[:200]))
            page.on("pageerror", lambda error: problems.append(str(error)[:200]))
            page.goto(f"{url}/index.html#{url}/{master}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cues = page.evaluate(CUES)
                if {c[2] for c in cues} >= {"Hello there", "Second cue"}:
                    return sorted({(round(s, 3), round(e, 3), t) for s, e, t in cues})
                time.sleep(0.25)
            state = page.evaluate(STATE)
            raise AssertionError(f"hls.js loaded no cues from {master}: {state} {problems[-5:]}")
        finally:
            browser.close()


@pytest.mark.parametrize("container", ["ts", "fmp4"])
def test_hlsjs_places_the_cues_where_the_caption_file_has_them(served: str, container: str) -> None:
    cues = _cues_in_hlsjs(served, f"{container}/manifest.m3u8")
    assert [c[2] for c in cues] == ["Hello there", "Second cue"]
    for (start, end, _), (want_start, want_end) in zip(cues, [(0.5, 1.5), (2.2, 3.4)], strict=True):
        assert abs(start - want_start) < 0.05 and abs(end - want_end) < 0.05, cues
    shifted = _cues_in_hlsjs(served, f"{container}-shifted/manifest.m3u8")
    assert abs(shifted[0][0] - 1.5) < 0.05, shifted  # hls.js honours MPEGTS: the value written is what places cues
