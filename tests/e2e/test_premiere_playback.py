"""A viewer plays a premiere across every seam: hls.js (the player kstream ships) in headless Chromium opens the
catalogue's playback URL of a video transcoded as 4 parts (decision 0015), buffers it as one range, plays it
through; then seeks just before and just after each boundary and plays on. currentTime passes every boundary, the
video never stalls once playing (no ``waiting``), hls.js reports no error, the element none.

The video: a 22 s 320x180 source cut into parts by a transcode service with a lowered threshold (the functions host
keeps the production default); the parts' notices go through Pub/Sub to the functions host, as in the cloud.
"""

from __future__ import annotations

import functools
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from contracts.transcode import StartTranscodingRequest
from local_emulator.stack import StackConfig
from tests.emulator import premiere_seams
from tests.emulator.transcode_support import gcs, local_service, settings_for, video_as_admin, wait_for
from tests.helpers import LocalHttpServer, QuietFiles

REPO = Path(__file__).resolve().parents[2]
HLS_JS = REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
SECONDS = 22
BOUNDARIES = [4.0, 10.0, 16.0]
PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted playsinline></video>
<script src="hls.min.js"></script><script>
const v = document.getElementById('v');
window.log = {errors: [], waiting: [], seeking: false, maxTime: 0};
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_e, data) => { log.errors.push([data.type, data.details, data.fatal, v.currentTime]); });
v.addEventListener('waiting', () => { if (!log.seeking && v.currentTime > 0.1) log.waiting.push(v.currentTime); });
v.addEventListener('seeking', () => { log.seeking = true; });
v.addEventListener('playing', () => { log.seeking = false; });
v.addEventListener('timeupdate', () => { log.maxTime = Math.max(log.maxTime, v.currentTime); });
hls.loadSource(decodeURIComponent(location.hash.slice(1))); hls.attachMedia(v);
</script>"""
STATE = """() => { const v = document.getElementById('v');
  return {time: v.currentTime, paused: v.paused, ended: v.ended, error: v.error && v.error.code,
          errors: log.errors, waiting: log.waiting, duration: v.duration,
          buffered: [...Array(v.buffered.length).keys()].map((i) => [v.buffered.start(i), v.buffered.end(i)])}; }"""


@pytest.fixture(scope="module")
def premiere_url(local_cloud: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> str:
    cfg = local_cloud
    video_id = f"premiere-e2e-{uuid.uuid4().hex[:8]}"
    source = premiere_seams.make_marked_source(tmp_path_factory.mktemp("premiere-e2e") / "episode.mp4", SECONDS)
    name = f"premiere/{video_id}/episode.mp4"  # outside sources/: the upload trigger leaves it to this test
    blob = gcs().bucket(cfg.source_bucket).blob(name)
    blob.metadata = {"videoId": video_id, "uploaderId": "uploader-test", "title": "Premiere e2e",
                     "series": f"Premiere e2e {video_id}", "episode": "1", "language": "ko"}
    blob.upload_from_filename(str(source), content_type="video/mp4")
    service = local_service(settings_for(cfg, premiere_threshold_seconds=8, premiere_part_seconds=6))
    started = service.start(StartTranscodingRequest.model_validate({
        "videoId": video_id, "sourcePath": f"gs://{cfg.source_bucket}/{name}",
        "outputFormats": {"hls": {"resolutions": ["360p"], "segmentDuration": 2}}}))
    assert started.status == "queued", started
    video = wait_for(lambda: (lambda v: v if v.get("status") in ("ready", "failed") else None)(
        video_as_admin(cfg, video_id)), timeout=300, what="the premiere to be ready")
    assert video["status"] == "ready", video
    return str(video["streamingUrls"]["hls"])


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("premiere-page")
    shutil.copy(HLS_JS, root / "hls.min.js")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    with LocalHttpServer(functools.partial(QuietFiles, directory=str(root))) as server:
        yield server.origin


def _wait(page: Any, check: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(STATE)
        if check(state):
            return dict(state)
        if time.monotonic() > deadline or state["error"] or any(e[2] for e in state["errors"]):
            raise AssertionError(f"{what}: {state}")
        time.sleep(0.1)


def test_hlsjs_plays_and_seeks_across_every_seam(premiere_url: str, page_origin: str) -> None:
    from urllib.parse import quote

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)[:300]))
            page.goto(f"{page_origin}/index.html#{quote(premiere_url, safe='')}")
            # hls.js buffers the whole video before it plays: one range from 0 to the end, no hole at any seam
            state = _wait(page, lambda s: s["buffered"] and s["buffered"][-1][1] > SECONDS - 0.5, 90,
                          "hls.js did not buffer the video")
            assert len(state["buffered"]) == 1 and state["buffered"][0][0] < 0.1, state
            assert abs(state["duration"] - SECONDS) < 0.5, state
            page.evaluate("() => { const v = document.getElementById('v'); v.playbackRate = 2; v.play(); }")
            state = _wait(page, lambda s: s["ended"] or s["time"] > SECONDS - 0.3, 60, "did not play to the end")
            assert not state["waiting"], state  # played through every seam without a stall
            for boundary in BOUNDARIES:  # seek just before and just after each seam, and play on
                for at in (boundary - 0.3, boundary + 0.05):
                    page.evaluate(f"() => {{ const v = document.getElementById('v'); v.currentTime = {at};"
                                  " v.play(); }")
                    _wait(page, lambda s, at=at: not s["paused"] and s["time"] > at + 0.6, 30,
                          f"did not play on from {at:.2f} s")
            state = page.evaluate(STATE)
            assert not state["waiting"], state
            assert not state["errors"], state  # not even a non-fatal one (a buffer hole, a gap jump)
            assert state["error"] is None and not problems, (state, problems)
        finally:
            browser.close()
