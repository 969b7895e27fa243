"""Subtitles in the web player as people use them, in real headless Chromium against the local cloud.

A viewer opens a sample episode (the seed gives it Korean and English tracks), picks English in the CC menu and
sees the English cue in the video's showing text track, moves to 한국어 with the keyboard and sees the Korean cue,
turns them Off and sees none; the choice is remembered (localStorage) across a reload and on the next episode.
An uploader attaches subtitle files on the upload form: a refused file is shown beside its row with the server's
message (file and line) and, once fixed, the upload goes on without sending the video's chunks again.

The viewer test also writes docs/player-subtitles.png (a Hangul cue on the player). Browser, sign-in and polling
helpers come from test_web_player (the page runs under its CSP, so the tests poll with ``page.evaluate``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Request

from contracts.subtitles import SUBTITLE_EXTENSIONS
from contracts.upload import VIDEO_EXTENSIONS
from local_emulator import seed, tokens
from local_emulator.stack import REPO, StackConfig
from tests import subtitle_samples as samples
from tests.e2e import test_web_player as web
from tests.helpers import api_as

browser = web.browser  # fixtures shared with the player's tests
sample = web.sample
watched = web.watched
SCREENSHOT = REPO / "docs" / "player-subtitles.png"

# What the video's text tracks show: one entry per track in mode "showing", with its active and loaded cues.
SHOWING = """() => [...document.querySelector('video.screen').textTracks].filter((t) => t.mode === 'showing')
  .map((t) => ({lang: t.language, label: t.label, kind: t.kind,
                active: [...(t.activeCues || [])].map((c) => c.text),
                cues: [...(t.cues || [])].map((c) => [c.startTime, c.endTime, c.text])}))"""


def showing(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate(SHOWING))


def showing_settles_on(page: Page, languages: list[str]) -> None:
    """The showing tracks become `languages` and stay so for a second. Mode changes reach hls.js through the text
    track list's queued `change` event, which is where it turns every track but its current one off: between a
    change and that event the list can hold two showing tracks for a moment (CI caught ['en', 'ko'] once)."""
    langs = "(" + SHOWING + ")().map((t) => t.lang)"
    web.wait_until(page, f"(want) => JSON.stringify({langs}) === JSON.stringify(want)", 15, languages)
    page.wait_for_timeout(1000)
    assert [t["lang"] for t in showing(page)] == languages


def open_episode(page: Page, video_id: str, languages: int) -> dict[str, Any]:
    """Go to the episode's page; wait until hls.js lists its `languages` subtitle tracks; the player's state."""
    page.goto(f"{page.url.split('#')[0]}#/watch/{video_id}")
    return dict(web.wait_until(page, "([id, n]) => { const p = window.kstreamPlayer; const s = p && p.state(); "
                                     "return s && s.videoId === id && s.subtitles.tracks.length >= n && s; }",
                               30, [video_id, languages]))


def choose(page: Page, name: str) -> None:
    """Open the CC menu with a click and pick the item named `name` ("Off", "English", ...)."""
    page.click("#cc")
    assert page.get_attribute("#cc", "aria-expanded") == "true"
    page.get_by_role("menuitemradio", name=name, exact=True).click()
    assert page.locator("#cc-menu").is_hidden()
    assert page.locator('#cc-menu [role=menuitemradio][aria-checked="true"]').all_text_contents() == [name]


def see_cue(page: Page, language: str, text: str) -> dict[str, Any]:
    """Wait until `language`'s track is the one showing and has loaded a cue containing `text`, seek into that cue,
    and wait until it is active; the showing track."""
    cue = web.wait_until(page, "([lang, text]) => { const shown = (" + SHOWING + ")(); "
                               "return shown.length === 1 && shown[0].lang === lang "
                               "&& shown[0].cues.find((c) => c[2].includes(text)); }", 30, [language, text])
    page.evaluate("(t) => { document.querySelector('video.screen').currentTime = t; }", (cue[0] + cue[1]) / 2)
    return dict(web.wait_until(page, "([lang, text]) => { const shown = (" + SHOWING + ")(); "
                                     "return shown.length === 1 && shown[0].lang === lang "
                                     "&& shown[0].active.some((c) => c.includes(text)) && shown[0]; }",
                               15, [language, text]))


def test_viewer_picks_english_then_korean_then_off_in_the_cc_menu_and_the_choice_is_remembered(
        local_cloud: StackConfig, sample: list[seed.SeededEpisode], watched: web.Watched) -> None:
    page = watched.page
    first = next(e for e in sample if e.episode == 1)
    second = next(e for e in sample if e.episode == 2)
    korean, english = seed.DIALOGUE[1][0][2:]  # the first cue of episode 1: 어젯밤에 어디 있었어? / Where were you ...
    english_2 = seed.DIALOGUE[2][0][3]
    video = api_as(local_cloud, "user").get(f"/api/videos/{first.video_id}").json()
    assert sorted(video["subtitles"]) == ["en", "ko"], video
    labels = {t["language"]: t["label"] for t in video["subtitleTracks"]}
    web.sign_in(page, local_cloud, seed.DEMO_VIEWER)

    state = open_episode(page, first.video_id, 2)
    tracks = state["subtitles"]["tracks"]
    assert sorted((t["lang"], t["name"]) for t in tracks) == sorted(labels.items())
    # The video page lists the languages; the CC menu lists Off and each track by its label.
    assert page.locator("#video-subtitles .chip").all_inner_texts() == [
        t["label"] + (" · CC" if t["kind"] == "captions" else "") for t in video["subtitleTracks"]]
    assert page.locator("#cc").is_visible() and page.get_attribute("#cc", "aria-haspopup") == "menu"
    items = page.locator("#cc-menu [role=menuitemradio]")
    assert items.count() == 1 + len(tracks)
    assert page.locator("#cc-menu").is_hidden()
    # With no choice remembered, the track the video marks as default shows (or none when it marks none).
    default = next((t["lang"] for t in tracks if t["default"]), None)
    showing_settles_on(page, [default] if default else [])

    choose(page, labels["en"])
    assert see_cue(page, "en", english)["label"] == labels["en"]
    assert page.get_attribute("#cc", "aria-label") == f"Subtitles: {labels['en']}"

    # The keyboard: ArrowDown on the CC button opens the menu at the checked item; arrows move; Enter picks.
    page.focus("#cc")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-checked')") == "true"
    for _ in range(len(tracks) + 1):
        if page.evaluate("() => document.activeElement.dataset.lang") == "ko":
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "cc"  # focus back on the button
    assert see_cue(page, "ko", korean)["label"] == labels["ko"]
    page.click("#cc")  # the menu open beside the Korean cue, for the docs; Escape closes it, focus back on CC
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    page.keyboard.press("Escape")
    assert page.locator("#cc-menu").is_hidden() and page.evaluate("() => document.activeElement.id") == "cc"

    choose(page, "Off")
    web.wait_until(page, "() => [...document.querySelector('video.screen').textTracks]"
                         ".every((t) => t.mode !== 'showing' && !(t.activeCues && t.activeCues.length))")
    assert page.get_attribute("#cc", "aria-label") == "Subtitles: Off"
    assert web.player_state(page)["subtitles"]["current"] == -1

    # Remembered: English again, then a reload and the next episode (which has English too) open in English.
    choose(page, labels["en"])
    page.reload()
    open_episode(page, first.video_id, 2)
    see_cue(page, "en", english)
    open_episode(page, second.video_id, 2)
    see_cue(page, "en", english_2)
    # "Off" is remembered too, over the video's default track.
    choose(page, "Off")
    page.reload()
    open_episode(page, second.video_id, 2)
    page.wait_for_timeout(1000)  # time for hls.js to have picked its default, had the choice not been applied
    assert showing(page) == [] and web.player_state(page)["subtitles"]["current"] == -1
    assert page.evaluate("() => localStorage.getItem('kstream.subtitles')") == '{"off":true}'
    assert watched.problems == []


def _srt(*cues: tuple[float, float, str]) -> str:
    stamp = lambda s: f"00:00:{int(s):02d},{round(s % 1 * 1000):03d}"  # noqa: E731
    return "\n".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1))


def test_uploader_attaches_subtitles_fixes_a_refused_file_and_the_episode_plays_with_them(
        local_cloud: StackConfig, watched: web.Watched, tmp_path: Path, unique: str) -> None:
    page = watched.page
    email = f"uploader-{unique}@kstream.local"
    tokens.ensure_user(local_cloud, email, "uploader")
    clip = web._clip(tmp_path / f"episode-{unique}.mp4")
    puts: list[Request] = []
    page.on("requestfinished", lambda request: puts.append(request) if request.method == "PUT" else None)
    web.sign_in(page, local_cloud, email)
    page.click("#who >> text=Upload")

    # The pickers offer what the API accepts.
    assert set(page.get_attribute("#upload-file", "accept").split(",")) == set(VIDEO_EXTENSIONS)
    page.click("#subtitle-add")
    page.click("#subtitle-add")
    rows = page.locator(".subtitle-row")
    assert set(rows.nth(0).locator(".subtitle-file").get_attribute("accept").split(",")) == set(SUBTITLE_EXTENSIONS)

    page.set_input_files("#upload-file", str(clip))
    page.fill("#upload-series", f"자막 시리즈 {unique}")
    page.fill("#upload-episode", "1")
    page.fill("#upload-title", f"자막 1화 {unique}")
    korean = _srt((1.0, 3.5, samples.KOREAN_LINE), (4.0, 5.5, "회사에 늦게까지 있었어.")).encode("cp949")
    rows.nth(0).locator(".subtitle-file").set_input_files(
        {"name": f"ep1-{unique}.ko.srt", "mimeType": "application/x-subrip", "buffer": korean})
    rows.nth(1).locator(".subtitle-file").set_input_files(
        {"name": f"ep1-{unique}.en.srt", "mimeType": "application/x-subrip",
         "buffer": samples.malformed_timestamp_srt()})
    # The language comes from the file name; the label stays optional; the second row is the default.
    assert rows.nth(0).locator(".subtitle-language").input_value() == "ko"
    assert rows.nth(1).locator(".subtitle-language").input_value() == "en"
    rows.nth(1).locator(".subtitle-label").fill("English")
    rows.nth(1).locator(".subtitle-default").check()
    page.click("#upload-submit")

    # The Korean file goes in; the broken English one is refused beside its row, naming the file and the line.
    web.wait_until(page, "() => document.querySelectorAll('.subtitle-row[data-state=failed]').length === 1", 60)
    assert rows.nth(0).get_attribute("data-state") == "sent"
    refusal = rows.nth(1).locator(".row-status").inner_text()
    assert f"ep1-{unique}.en.srt" in refusal and str(samples.MALFORMED_TIMESTAMP_LINE) in refusal, refusal
    assert "REQUEST_INVALID" in refusal
    assert page.locator("#upload-subtitle-problem").is_visible()
    assert page.inner_text("#upload-submit") == "Continue"
    assert page.evaluate("() => document.querySelector('#upload-status').dataset.videoId") is None  # not completed
    assert page.is_disabled("#upload-file") and not rows.nth(1).locator(".subtitle-file").is_disabled()
    chunk_puts = [r.url for r in puts if r.url.startswith(f"{local_cloud.storage_url}/")]
    assert len(chunk_puts) >= 3

    # Fixed: the same row gets a good file; Continue sends it and completes, without sending a chunk again.
    english = _srt((1.0, 3.5, samples.ENGLISH_LINE), (4.0, 5.5, "I stayed late at the office."))
    rows.nth(1).locator(".subtitle-file").set_input_files(
        {"name": f"ep1-{unique}.en.srt", "mimeType": "application/x-subrip", "buffer": english.encode()})
    page.click("#upload-submit")
    video_id = web.wait_until(page, "() => document.querySelector('#upload-status').dataset.videoId "
                                    "|| (document.querySelector('#upload-status .error') || {}).textContent", 60)
    assert len(video_id) == 32, video_id
    assert [r.url for r in puts if r.url.startswith(f"{local_cloud.storage_url}/")] == chunk_puts
    subtitle_puts = sorted((r.url.rsplit("/", 1)[1], r.response().status if r.response() else 0)  # type: ignore[union-attr]
                           for r in puts if "/subtitles/" in r.url)
    assert subtitle_puts == [("en", 201), ("en", 400), ("ko", 201)], subtitle_puts  # the refused one made nothing

    page.locator("#upload-play").wait_for(timeout=180_000)
    stored = api_as(local_cloud, "uploader", email).get(f"/api/videos/{video_id}").json()
    assert sorted(stored["subtitles"]) == ["en", "ko"], stored
    tracks = {t["language"]: t for t in stored["subtitleTracks"]}
    assert tracks["en"]["label"] == "English" and tracks["en"]["default"] and not tracks["ko"]["default"]

    page.click("#upload-play")
    open_episode(page, video_id, 2)
    showing_settles_on(page, ["en"])  # the default track, nothing remembered in this browser
    see_cue(page, "en", samples.ENGLISH_LINE)
    choose(page, tracks["ko"]["label"])
    see_cue(page, "ko", samples.KOREAN_LINE)
    assert watched.problems == []
