"""A partner's page on another origin than the API, written from the spec alone, in real headless Chromium: it
builds a catalogue grid from a search answer and sees every image load, plays ``streamingUrls.hls`` with hls.js and
``streamingUrls.dash`` with Shaka Player (both from npm, pinned), with no custom loader, no cookie and no header on
the media requests (docs/decisions/0010-playback-urls-and-artwork.md).

The page is served by a tiny static server on its own port (another origin than the gateway); it gets only the
viewer's ID token, as a partner app would after its own sign-in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from local_emulator import seed
from local_emulator.stack import REPO, StackConfig
from tests.helpers import LocalHttpServer, QuietHandler, token_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
PLAYERS = {
    "hls.js": REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js",
    "shaka": REPO / "node_modules" / "shaka-player" / "dist" / "shaka-player.compiled.js",
}

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>partner catalogue</title>
<script src="/hls.js"></script>
<script src="/shaka.js"></script>
<div id="grid"></div>
<video id="hls" muted playsinline></video>
<video id="dash" muted playsinline></video>
<script>
window.partner = {
  async grid(api, token, series) {
    const answer = await fetch(`${api}/api/metadata/videos/search?series=${encodeURIComponent(series)}`,
                               {headers: {Authorization: `Bearer ${token}`}});
    const body = await answer.json();
    const grid = document.getElementById("grid");
    const loads = body.videos.map((video) => new Promise((resolve) => {
      const img = document.createElement("img");
      img.onload = () => resolve({id: video.id, ok: img.naturalWidth > 0});
      img.onerror = () => resolve({id: video.id, ok: false});
      img.src = video.thumbnailUrl;
      grid.appendChild(img);
    }));
    return {videos: body.videos, images: await Promise.all(loads)};
  },
  hls(url) {
    const video = document.getElementById("hls");
    const hls = new Hls();
    window.partner.hlsErrors = [];
    hls.on(Hls.Events.ERROR, (_e, data) => window.partner.hlsErrors.push(`${data.type}: ${data.details}`));
    hls.loadSource(url);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
    window.partner.hlsPlayer = hls;
  },
  async dash(url) {
    shaka.polyfill.installAll();
    const player = new shaka.Player();
    await player.attach(document.getElementById("dash"));
    window.partner.shakaErrors = [];
    player.addEventListener("error", (event) => window.partner.shakaErrors.push(String(event.detail.code)));
    await player.load(url);
    window.partner.shakaPlayer = player;
    await document.getElementById("dash").play();
  },
  state(id) {
    const video = document.getElementById(id);
    const audio = id === "hls"
      ? (window.partner.hlsPlayer ? window.partner.hlsPlayer.audioTracks.length : 0)
      : (window.partner.shakaPlayer
         ? window.partner.shakaPlayer.getVariantTracks().filter((t) => t.audioCodec).length : 0);
    const buffered = video.buffered.length ? video.buffered.end(0) : 0;
    return {time: video.currentTime, width: video.videoWidth, audio, buffered,
            audioBytes: video.webkitAudioDecodedByteCount || 0,
            errors: id === "hls" ? window.partner.hlsErrors : window.partner.shakaErrors};
  },
};
</script>
"""


class _Partner(QuietHandler):
    def do_GET(self) -> None:
        if self.path == "/":
            body, kind = PAGE.encode(), "text/html; charset=utf-8"
        elif self.path in ("/hls.js", "/shaka.js"):
            body, kind = PLAYERS["hls.js" if self.path == "/hls.js" else "shaka"].read_bytes(), "text/javascript"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def partner_origin() -> Iterator[str]:
    with LocalHttpServer(_Partner) as server:
        yield server.origin


@pytest.fixture(scope="module")
def sample(local_cloud: StackConfig) -> list[seed.SeededEpisode]:
    return seed.seed_sample(local_cloud, lambda _name, _line: None)


@pytest.fixture
def page(partner_origin: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{partner_origin}/")
            yield page
        finally:
            browser.close()


def _wait(page: Page, video: str, timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = dict(page.evaluate("(id) => window.partner.state(id)", video))
        if state["time"] > 1.5 and state["width"] > 0:
            return state
        if state["errors"] and any("fatal" in e.lower() or e.isdigit() for e in state["errors"]):
            raise AssertionError(f"{video} failed: {state}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{video} did not play within {timeout:.0f}s: {state}")
        time.sleep(0.2)


def test_partner_page_on_another_origin_shows_the_grid_and_plays_hls_and_dash(
        local_cloud: StackConfig, sample: list[seed.SeededEpisode], page: Page, partner_origin: str) -> None:
    assert partner_origin != local_cloud.gateway_url
    media_requests: list[Request] = []
    page.on("request", lambda r: media_requests.append(r) if "/media/" in r.url or "/api/stream/" in r.url else None)

    found = page.evaluate("([api, token, series]) => window.partner.grid(api, token, series)",
                          [local_cloud.gateway_url, token_for(local_cloud, "user"), seed.SERIES])
    assert len(found["videos"]) == len(sample) and found["images"], found
    assert all(image["ok"] for image in found["images"]), found["images"]

    first = next(v for v in found["videos"] if v["id"] == sample[0].video_id)
    page.evaluate("(url) => window.partner.hls(url)", first["streamingUrls"]["hls"])
    hls = _wait(page, "hls")
    assert hls["audio"] >= 1 and hls["audioBytes"] > 0, hls  # the audio rendition is listed and decoded

    page.evaluate("(url) => window.partner.dash(url)", first["streamingUrls"]["dash"])
    dash = _wait(page, "dash")
    assert dash["audio"] >= 1 and dash["audioBytes"] > 0, dash

    assert any("/media/" in r.url for r in media_requests) and any("/api/stream/" in r.url for r in media_requests)
    for request in media_requests:  # the bare player: no Authorization, no cookie
        headers = request.all_headers()
        assert "authorization" not in headers and "cookie" not in headers, (request.url, headers)
