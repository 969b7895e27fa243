"""Subtitles as a user meets them, on the local cloud: an uploader attaches an English SubRip file and a Korean SAMI
file in CP949 with the CLI, the Transcoder job carries them, and the ready video's HLS master lists both languages
whose playlists and segments (read with the m3u8 parser, through the CDN with the cookie the stream function sets)
carry the cue text; ffmpeg reads the subtitle stream through the API's HLS URL. A track added later appears without a
new Transcoder job; replace and delete work; every bad file is a 400 in the envelope naming the file."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import m3u8
import pytest
import requests

from local_emulator.stack import FUNCTIONS_DIR, REPO, StackConfig
from tests import subtitle_samples as samples
from tests.emulator.transcode_support import make_source, settings_for
from tests.helpers import Api, api_as, assert_envelope, token_for

SECONDS = 20  # the samples' dialogue runs to 19 s


@dataclass(frozen=True)
class Episode:
    cfg: StackConfig
    video_id: str
    owner: Api


def _put(api: Api, video_id: str, language: str, data: bytes, file_name: str, **extra: Any) -> requests.Response:
    body = {"fileName": file_name, "content": base64.b64encode(data).decode(), **extra}
    return api.request("PUT", f"/api/videos/{video_id}/subtitles/{language}", json=body)


def _master(episode: Episode, api: Api | None = None) -> tuple[m3u8.M3U8, requests.Session]:
    """The HLS master the stream function answers, and a session holding the CDN cookie it set."""
    session = requests.Session()
    session.headers.update((api or episode.owner).session.headers)
    answer = session.get(f"{episode.cfg.gateway_url}/api/stream/{episode.video_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    return m3u8.loads(answer.text, uri=f"{episode.cfg.gateway_url}/api/stream/{episode.video_id}"), session


def _subtitle_media(master: m3u8.M3U8) -> dict[str, m3u8.Media]:
    return {m.language: m for m in master.media if m.type == "SUBTITLES"}


def _playlist_of(media: m3u8.Media) -> str:
    """The stored playlist a master's subtitle URI names (the stream function serves it, signed, as ?playlist=)."""
    query = parse_qs(urlsplit(media.uri).query)
    return query["playlist"][0] if "playlist" in query else urlsplit(media.uri).path


def _cue_text(media: m3u8.Media, session: requests.Session) -> str:
    """Every segment of a subtitle rendition, fetched from the CDN as a player would, concatenated."""
    answer = session.get(media.uri, timeout=30)
    assert answer.status_code == 200, (media.uri, answer.text[:300])
    playlist = m3u8.loads(answer.text, uri=media.uri)
    assert playlist.is_endlist and playlist.playlist_type == "vod"
    assert playlist.segments, "a subtitle rendition without segments"
    texts = []
    for segment in playlist.segments:
        got = session.get(segment.absolute_uri, timeout=30)
        assert got.status_code == 200, (segment.absolute_uri, got.status_code)
        text = got.content.decode("utf-8")  # WebVTT is UTF-8 by definition, whatever the Content-Type says
        assert text.startswith("WEBVTT") and "X-TIMESTAMP-MAP=MPEGTS:" in text
        texts.append(text)
    return "\n".join(texts)


@pytest.fixture(scope="module")
def episode(local_cloud: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> Episode:
    """Uploaded with the CLI, an English SRT and a Korean CP949 SAMI attached (and a French file of a longer
    episode, which the probe shows does not fit), waited on until ready."""
    folder = tmp_path_factory.mktemp("subtitled")
    video = make_source(folder, "subtitled.mp4", seconds=SECONDS)
    english, korean, french = folder / "ep3.en.srt", folder / "ep3.ko.smi", folder / "ep4.fr.srt"
    english.write_bytes(samples.english_srt())
    korean.write_bytes(samples.korean_english_sami_cp949())
    french.write_bytes(samples.past_end_srt(SECONDS))
    email = "subtitles-owner@kstream.test"
    token = token_for(local_cloud, "uploader", email)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(REPO)]), "KSTREAM_TOKEN": token}
    done = subprocess.run(
        [sys.executable, "-m", "kstream.client", "upload", str(video), "--series", "Subtitled", "--episode", "3",
         "--api", local_cloud.gateway_url, "--state-dir", str(folder / "state"), "--quiet", "--wait",
         "--subtitle", f"en={english}", "--subtitle", f"ko={korean}", "--subtitle", f"fr={french}",
         "--default-subtitle", "ko"],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "subtitles: ko, en" in done.stderr, done.stderr
    assert "fr subtitles rejected: cues end at" in done.stderr, done.stderr
    return Episode(local_cloud, done.stdout.strip().splitlines()[-1], api_as(local_cloud, "uploader", email))


def test_the_video_lists_the_languages_its_tracks_really_have(episode: Episode) -> None:
    video = api_as(episode.cfg, "user").get(f"/api/videos/{episode.video_id}").json()
    assert video["status"] == "ready"
    assert video["subtitles"] == ["ko", "en"]  # the default first
    assert video["subtitleTracks"] == [
        {"language": "ko", "label": "한국어", "kind": "subtitles", "default": True},
        {"language": "en", "label": "English", "kind": "subtitles", "default": False},
    ]
    tracks = api_as(episode.cfg, "user").get(f"/api/videos/{episode.video_id}/subtitles").json()["tracks"]
    assert [(t["language"], t["format"], t["status"]) for t in tracks] == [("ko", "smi", "ready"),
                                                                           ("en", "srt", "ready")]
    assert all(t["cueCount"] > 0 for t in tracks)
    owned = episode.owner.get(f"/api/videos/{episode.video_id}/subtitles").json()["tracks"]
    rejected = [t for t in owned if t["status"] == "rejected"]
    assert [t["language"] for t in rejected] == ["fr"]  # only its owner sees it, with the reason
    assert "after the video's end at 20.0 s" in rejected[0]["reason"]


def test_the_transcoder_job_carried_the_subtitles(episode: Episode) -> None:
    master, _ = _master(episode)
    media = _subtitle_media(master)
    assert set(media) == {"ko", "en"}
    for language in ("ko", "en"):  # the job's own vtt mux stream, not a rendition written afterwards
        assert _playlist_of(media[language]).endswith(f"subtitles-{language}.m3u8")


def test_the_master_lists_both_languages_and_their_segments_carry_the_cues(episode: Episode) -> None:
    master, session = _master(episode, api_as(episode.cfg, "user"))
    media = _subtitle_media(master)
    assert media["ko"].name == "한국어" and media["ko"].default == "YES" and media["ko"].autoselect == "YES"
    assert media["en"].name == "English" and media["en"].default == "NO" and media["en"].forced == "NO"
    assert {m.group_id for m in media.values()} == {"subs"}
    assert master.playlists and all(p.stream_info.subtitles == "subs" for p in master.playlists)
    assert samples.KOREAN_LINE in _cue_text(media["ko"], session)
    assert samples.ENGLISH_LINE in _cue_text(media["en"], session)


def test_ffmpeg_reads_the_subtitle_stream_through_the_api(episode: Episode) -> None:
    """ffmpeg as a player: the master from the stream function, then each subtitle rendition it names (signed URI),
    its segments authorised by the CDN cookie the stream function set. (Debian's ffmpeg 5.1 does not follow the
    SUBTITLES group of a master by itself, so the rendition URL is taken from the master here.)"""
    master, session = _master(episode, api_as(episode.cfg, "user"))
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    assert cookie.startswith("Cloud-CDN-Cookie="), cookie
    for language, line in (("en", samples.ENGLISH_LINE), ("ko", samples.KOREAN_LINE)):
        uri = _subtitle_media(master)[language].uri
        done = subprocess.run(
            ["ffmpeg", "-v", "error", "-rw_timeout", "15000000", "-headers", f"Cookie: {cookie}\r\n", "-i", uri,
             "-map", "0:s:0", "-f", "webvtt", "-"],
            capture_output=True, timeout=90, check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        assert line in done.stdout.decode("utf-8"), done.stdout[:500]


def test_search_filters_by_subtitle_language(episode: Episode) -> None:
    viewer = api_as(episode.cfg, "user")
    found = viewer.get("/api/metadata/videos/search", params={"subtitles": "EN", "series": "Subtitled"}).json()
    assert [v["id"] for v in found["videos"]] == [episode.video_id]
    none = viewer.get("/api/metadata/videos/search", params={"subtitles": "fr", "series": "Subtitled"}).json()
    assert none["videos"] == []


def _transcoder_job_count(cfg: StackConfig) -> int:
    location = settings_for(cfg).transcoder_location
    answer = requests.get(f"{cfg.transcoder_url}/v1/projects/{cfg.project_id}/locations/{location}/jobs",
                          params={"pageSize": 1000}, timeout=30)
    assert answer.status_code == 200, answer.text
    return len(answer.json().get("jobs", []))


def test_a_track_added_later_appears_without_a_new_transcoder_job(episode: Episode) -> None:
    jobs_before = _transcoder_job_count(episode.cfg)
    added = _put(episode.owner, episode.video_id, "ja", samples.styled_ass(), "ep3.ja.ass", label="日本語")
    assert added.status_code == 201, added.text
    assert added.json()["status"] == "ready" and added.json()["format"] == "ass"
    master, session = _master(episode)
    media = _subtitle_media(master)
    assert set(media) == {"ko", "en", "ja"} and media["ja"].name == "日本語"
    assert _playlist_of(media["ja"]).startswith("subtitles/ja/") and _cue_text(media["ja"], session)
    assert _transcoder_job_count(episode.cfg) == jobs_before

    replaced = _put(episode.owner, episode.video_id, "ja", samples.webvtt_with_bom(), "ep3.ja.vtt", kind="captions")
    assert replaced.status_code == 200, replaced.text
    after = _subtitle_media(_master(episode)[0])["ja"]
    assert _playlist_of(after) != _playlist_of(media["ja"])  # a new version folder
    assert after.characteristics and "transcribes-spoken-dialog" in after.characteristics
    assert session.get(media["ja"].uri, timeout=30).status_code in (403, 404)  # the old version is gone

    deleted = episode.owner.request("DELETE", f"/api/videos/{episode.video_id}/subtitles/ja")
    assert deleted.status_code == 204, deleted.text
    assert set(_subtitle_media(_master(episode)[0])) == {"ko", "en"}
    assert episode.owner.request("DELETE", f"/api/videos/{episode.video_id}/subtitles/ja").status_code == 204
    assert _transcoder_job_count(episode.cfg) == jobs_before


def test_the_dash_manifest_has_a_text_adaptation_set_per_language(episode: Episode) -> None:
    answer = episode.owner.get(f"/api/stream/{episode.video_id}", params={"format": "dash"})
    assert answer.status_code == 200, answer.text
    assert answer.text.count('mimeType="text/vtt"') == 2
    assert 'lang="ko"' in answer.text and 'lang="en"' in answer.text


BAD_FILES = [
    ("empty.srt", samples.empty, None),
    ("episode.srt", samples.mp4_header, None),
    ("notes.vtt", samples.json_document, None),
    ("words.srt", samples.random_text, None),
    ("nothing.vtt", samples.no_cues_vtt, None),
    ("broken.srt", samples.malformed_timestamp_srt, samples.MALFORMED_TIMESTAMP_LINE),
    ("huge.srt", samples.oversized_srt, None),
]


@pytest.mark.parametrize(("file_name", "make", "line"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_every_bad_file_is_a_400_naming_it(episode: Episode, file_name: str, make: Any, line: int | None) -> None:
    answer = _put(episode.owner, episode.video_id, "fr", make(), file_name)
    error = assert_envelope(answer, 400, "REQUEST_INVALID")
    assert file_name in error["message"], error
    if line is not None:
        assert f"line {line}" in error["message"], error
    assert "fr" not in episode.owner.get(f"/api/videos/{episode.video_id}").json()["subtitles"]


def test_cues_past_the_end_an_unknown_language_and_strangers_are_refused(episode: Episode) -> None:
    late = _put(episode.owner, episode.video_id, "fr", samples.past_end_srt(8.0), "late.srt")
    assert "late.srt" in assert_envelope(late, 400, "REQUEST_INVALID")["message"]
    unknown = _put(episode.owner, episode.video_id, "qqq-zz", samples.english_srt(), "x.srt")
    assert_envelope(unknown, 400, "REQUEST_INVALID")
    not_base64 = episode.owner.request("PUT", f"/api/videos/{episode.video_id}/subtitles/fr",
                                       json={"fileName": "x.srt", "content": "@@@"})
    assert_envelope(not_base64, 400, "REQUEST_INVALID")
    stranger = api_as(episode.cfg, "uploader", "someone-else@kstream.test")
    assert_envelope(_put(stranger, episode.video_id, "fr", samples.english_srt(), "x.srt"), 403,
                    "AUTH_INSUFFICIENT_PERMISSIONS")
    viewer = api_as(episode.cfg, "user")
    assert_envelope(_put(viewer, episode.video_id, "fr", samples.english_srt(), "x.srt"), 403,
                    "AUTH_INSUFFICIENT_PERMISSIONS")
    assert_envelope(_put(episode.owner, "no-such-video", "fr", samples.english_srt(), "x.srt"), 404,
                    "STREAM_VIDEO_NOT_FOUND")
    languages = episode.owner.get(f"/api/videos/{episode.video_id}").json()["subtitles"]
    assert languages == ["ko", "en"]  # nothing half-written


@pytest.fixture
def open_upload(local_cloud: StackConfig, unique: str) -> Iterator[tuple[Api, str]]:
    owner = api_as(local_cloud, "uploader", f"pending-{unique}@kstream.test")
    started = owner.post("/api/upload/start", json={"filename": "e.mp4", "totalSize": 1024 * 1024,
                                                    "chunkSize": 1024 * 1024,
                                                    "metadata": {"title": "t", "series": f"S {unique}",
                                                                 "episode": 1}})
    assert started.status_code == 200, started.text
    yield owner, started.json()["videoId"]


def test_tracks_attach_to_an_open_upload_session_and_only_its_owner_sees_them(open_upload: tuple[Api, str],
                                                                               local_cloud: StackConfig) -> None:
    owner, video_id = open_upload
    put = _put(owner, video_id, "ko", samples.korean_srt_cp949(), "e.ko.srt", default=True)
    assert put.status_code == 201, put.text
    assert put.json()["status"] == "pending"
    listed = owner.get(f"/api/videos/{video_id}/subtitles").json()["tracks"]
    assert [(t["language"], t["status"], t["default"]) for t in listed] == [("ko", "pending", True)]
    stranger = api_as(local_cloud, "uploader", "not-the-owner@kstream.test")
    assert_envelope(stranger.get(f"/api/videos/{video_id}/subtitles"), 404, "STREAM_VIDEO_NOT_FOUND")
    assert owner.request("DELETE", f"/api/videos/{video_id}/subtitles/ko").status_code == 204
    assert owner.get(f"/api/videos/{video_id}/subtitles").json()["tracks"] == []
