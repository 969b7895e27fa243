"""The web player as people use it, in real headless Chromium (Debian's ``chromium``, driven by Playwright) against
the local cloud: a viewer signs in, finds the sample episode by a Hangul search, plays it, watches time advance and
switches quality; an uploader uploads an episode from the page (chunks straight to storage) and plays it once the
pipeline has made it ready. The page runs under its Content-Security-Policy, so the tests poll with
``page.evaluate`` (which CSP does not govern) rather than ``wait_for_function`` (which needs ``eval``).

The viewer test also refreshes docs/player.png, the screenshot in the README.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, Request, sync_playwright

from local_emulator import seed, tokens
from local_emulator.stack import REPO, StackConfig
from tests.helpers import api_as

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = REPO / "docs" / "player.png"
VIEWPORT = {"width": 1280, "height": 860}


@pytest.fixture(scope="module")
def sample(local_cloud: StackConfig) -> list[seed.SeededEpisode]:
    """The sample series of `make dev`, through the real pipeline (no dependency on a running `make dev`)."""
    said: list[str] = []
    episodes = seed.seed_sample(local_cloud, lambda _name, line: said.append(line))
    assert any(local_cloud.gateway_url in line for line in said), said  # the player URL is announced
    return episodes


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page plus what went wrong on it: script errors and Content-Security-Policy violations fail the test."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", lambda message: self.problems.append(f"CSP: {message.text[:300]}")
                if "Content Security Policy" in message.text else None)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT, locale="ko-KR")  # type: ignore[arg-type]
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def wait_until(page: Page, script: str, timeout: float = 30.0, arg: Any = None) -> Any:
    """Poll ``script`` (a JS function) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = page.evaluate(script, arg)
        if found:
            return found
        if time.monotonic() > deadline:
            state = page.evaluate("() => window.kstreamPlayer ? window.kstreamPlayer.state() : null")
            raise AssertionError(f"not true within {timeout:.0f}s: {script}; player: {state}")
        time.sleep(0.1)


def sign_in(page: Page, cfg: StackConfig, email: str) -> None:
    page.goto(f"{cfg.gateway_url}/")
    page.fill("#email", email)
    page.fill("#password", tokens.DEMO_PASSWORD)
    page.click("#sign-in")
    page.locator("#user-email").filter(has_text=email).wait_for()


def player_state(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("() => window.kstreamPlayer.state()"))


def wait_playing(page: Page, beyond: float = 1.0) -> float:
    """Wait until currentTime moves ``beyond`` seconds past where it is now; return the new time."""
    start = float(page.evaluate("() => document.querySelector('video.screen').currentTime"))
    return float(wait_until(page, "(t) => { const v = document.querySelector('video.screen'); "
                                  "return v.currentTime > t && v.currentTime; }", 30, start + beyond))


def test_viewer_finds_the_sample_by_hangul_search_plays_it_and_switches_quality(
        local_cloud: StackConfig, sample: list[seed.SeededEpisode], watched: Watched) -> None:
    page = watched.page
    first = next(e for e in sample if e.episode == 1)  # 1280x720: two renditions
    sign_in(page, local_cloud, seed.DEMO_VIEWER)

    page.fill("#search-input", "별빛 정원")
    page.press("#search-input", "Enter")
    card = page.locator(f'#results .card[data-video-id="{first.video_id}"]')
    card.wait_for()
    assert "별이 떨어진 밤" in card.inner_text()
    card.click()

    levels = wait_until(page, "() => window.kstreamPlayer && window.kstreamPlayer.state().levels.length > 1 "
                              "&& window.kstreamPlayer.state().levels")
    assert sorted(levels) == [360, 720]
    page.click("#play")
    first_time = wait_playing(page, 0.5)
    assert wait_playing(page, 1.0) > first_time + 1.0  # time advances

    state = player_state(page)
    assert state["error"] is None and not state["paused"]
    playing_height = state["videoHeight"]
    target = next(i for i, height in enumerate(state["levels"]) if height != playing_height)
    page.select_option("#quality", str(target))
    switched = wait_until(page, "(target) => { const s = window.kstreamPlayer.state(); "
                                "return s.switches.some((w) => w.level === target) "
                                "&& s.videoHeight === s.levels[target] && s; }", 30, target)
    assert switched["currentLevel"] == target
    assert switched["videoHeight"] == state["levels"][target] != playing_height
    wait_playing(page, 0.5)  # still playing after the switch

    # Poster and storyboard come from the video's CDN folder, authorised by the cookie the stream answer set.
    assert switched["poster"], api_as(local_cloud, "user").get(f"/api/videos/{first.video_id}").json()
    assert switched["poster"].split("?")[0].endswith(f"/media/videos/{first.video_id}/poster0000000000.jpeg")
    assert page.evaluate("async (url) => (await fetch(url)).status", switched["poster"]) == 200
    assert switched["storyboardLoaded"]
    box = page.locator("#seek").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    preview = page.locator("#seek-preview")
    preview.wait_for(state="visible")
    assert preview.get_attribute("data-thumbnail") == "3"  # 0.75 x 10 s = 7.5 s; one thumbnail every 2 s
    assert "storyboard0000000000.jpeg" in page.evaluate(
        "() => document.querySelector('#seek-preview .preview-image').style.backgroundImage")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert watched.problems == []


def _clip(path: Path, seconds: float = 6.0) -> Path:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=s=640x360:r=24:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=523:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1200k", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(path)], check=True, timeout=120)
    return path


def test_uploader_uploads_an_episode_from_the_page_and_it_becomes_playable(
        local_cloud: StackConfig, watched: Watched, tmp_path: Path, unique: str) -> None:
    page = watched.page
    email = f"uploader-{unique}@kstream.local"
    tokens.ensure_user(local_cloud, email, "uploader")
    clip = _clip(tmp_path / f"episode-{unique}.mp4")
    sent: list[Request] = []
    page.on("requestfinished", lambda request: sent.append(request) if request.method == "PUT" else None)
    sign_in(page, local_cloud, email)

    page.click("#who >> text=Upload")
    page.set_input_files("#upload-file", str(clip))
    page.fill("#upload-series", f"업로드 시리즈 {unique}")
    page.fill("#upload-episode", "1")
    page.fill("#upload-title", f"첫 화 {unique}")
    page.fill("#upload-description", "A test episode uploaded from the web player.")
    page.click("#upload-submit")

    video_id = wait_until(page, "() => document.querySelector('#upload-status').dataset.videoId "
                                "|| (document.querySelector('#upload-status .error') || {}).textContent", 60)
    assert len(video_id) == 32, video_id  # not an error message
    assert page.evaluate("() => document.querySelector('#upload-progress').value") == 100
    assert page.inner_text("#upload-percent") == "100%"
    # Several chunks (256 KiB each for a file this small), each PUT straight to the storage front, all stored.
    puts = [(request.url, response.status if (response := request.response()) else 0) for request in sent]
    assert len(puts) >= 3, puts
    assert all(url.startswith(f"{local_cloud.storage_url}/") and status == 200 for url, status in puts), puts
    stored = api_as(local_cloud, "uploader", email).get(f"/api/videos/{video_id}").json()
    assert (stored["title"], stored["series"]) == (f"첫 화 {unique}", f"업로드 시리즈 {unique}")

    page.locator("#upload-play").wait_for(timeout=120_000)
    page.click("#upload-play")
    wait_until(page, "() => window.kstreamPlayer && window.kstreamPlayer.state().videoId === "
                     f"'{video_id}' && window.kstreamPlayer.state().levels.length > 0")
    page.click("#play")
    assert wait_playing(page, 1.0) > 1.0
    assert player_state(page)["error"] is None
    assert watched.problems == []


def test_seeding_again_keeps_the_sample_series(local_cloud: StackConfig, sample: list[seed.SeededEpisode]) -> None:
    again = seed.seed_sample(local_cloud, lambda _name, _line: None)
    assert [(e.episode, e.video_id) for e in again] == [(e.episode, e.video_id) for e in sample]
    assert not any(e.uploaded for e in again)
    found = api_as(local_cloud, "user").get("/api/metadata/videos/search", params={"q": "Starlight"}).json()
    assert {e.video_id for e in sample} <= {v["id"] for v in found["videos"] if v["status"] == "ready"}


def test_the_gateway_serves_the_site_and_keeps_api_errors(local_cloud: StackConfig) -> None:
    base = local_cloud.gateway_url
    index = requests.get(f"{base}/", timeout=10)
    assert index.status_code == 200 and '<script type="module" src="/web/app.js">' in index.text
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    config = requests.get(f"{base}/config.json", timeout=10).json()
    assert config["auth"]["signInUrl"].startswith(f"http://127.0.0.1:{local_cloud.auth_port}/identitytoolkit")
    hls = requests.get(f"{base}/vendor/hls.js", timeout=10)
    assert hls.status_code == 200 and hls.headers["Content-Type"].startswith("text/javascript")
    assert (REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js").read_bytes() == hls.content
    assert requests.get(f"{base}/web/app.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    assert requests.get(f"{base}/web/../local_emulator/tokens.py", timeout=10).status_code == 404
    assert requests.get(f"{base}/web/%2e%2e/local_emulator/tokens.py", timeout=10).status_code == 404
    assert requests.post(f"{base}/", timeout=10).status_code == 405
    missing = requests.get(f"{base}/api/no-such-thing", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ROUTE_NOT_FOUND"


def test_uploader_sees_why_their_episode_failed_and_other_viewers_do_not(
        local_cloud: StackConfig, watched: Watched, tmp_path: Path, unique: str) -> None:
    page = watched.page
    email = f"uploader-{unique}@kstream.local"
    tokens.ensure_user(local_cloud, email, "uploader")
    song = tmp_path / f"song-{unique}.mp4"  # sound, no picture: start and complete take it, the probe does not
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=3", "-c:a", "aac", str(song)], check=True, timeout=60)
    sign_in(page, local_cloud, email)
    page.click("#who >> text=Upload")
    page.set_input_files("#upload-file", str(song))
    page.fill("#upload-series", f"실패 시리즈 {unique}")
    page.fill("#upload-title", f"소리만 {unique}")
    page.click("#upload-submit")

    shown = wait_until(page, "() => (document.querySelector('#upload-status .error') || {}).textContent", 120)
    video_id = page.evaluate("() => document.querySelector('#upload-status').dataset.videoId")
    owner = api_as(local_cloud, "uploader", email).get(f"/api/videos/{video_id}").json()
    assert owner["status"] == "failed" and owner["failureReason"], owner
    assert shown == f"Processing failed: {owner['failureReason']}"
    assert "audio" in owner["failureReason"].lower()  # says what is wrong with this file

    page.goto(f"{local_cloud.gateway_url}/#/watch/{video_id}")
    assert page.locator("#video-failure").inner_text() == f"Processing failed: {owner['failureReason']}"
    assert player_state(page)["error"] == "This episode could not be processed."
    other = api_as(local_cloud, "user").get(f"/api/videos/{video_id}")
    assert other.status_code == 404 or other.json().get("failureReason") is None, other.text
    assert watched.problems == []
