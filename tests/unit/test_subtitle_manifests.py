"""The subtitle group the stream function puts in the HLS master and the text AdaptationSets of the MPD: the
catalogue's ready tracks are the truth, whatever the stored manifest (written by a Transcoder job) says."""

from __future__ import annotations

import m3u8
from kstream.streaming.manifests import (
    SubtitleRendition,
    rewrite_mpd,
    with_dash_subtitles,
    with_hls_subtitles,
)

from tests.unit.test_stream_manifests import MPD

JOB_MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,URI="audio.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="job-subs",NAME="old",LANGUAGE="fr",URI="subtitles-fr.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="audio",SUBTITLES="job-subs"
video-360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,SUBTITLES="job-subs",AUDIO="audio"
video-720p.m3u8
"""
KO = SubtitleRendition("ko", "한국어", "subtitles", True, "subtitles-ko.m3u8", "subtitles/ko/a1/full.vtt")
EN = SubtitleRendition("en", "English", "captions", False, "subtitles/en/b2/index.m3u8", "subtitles/en/b2/full.vtt")


def test_the_master_lists_exactly_the_ready_tracks() -> None:
    playlist = m3u8.loads(with_hls_subtitles(JOB_MASTER, [KO, EN]))
    subtitles = [m for m in playlist.media if m.type == "SUBTITLES"]
    assert [(m.language, m.name, m.default, m.autoselect, m.forced, m.group_id, m.uri) for m in subtitles] == [
        ("ko", "한국어", "YES", "YES", "NO", "subs", "subtitles-ko.m3u8"),
        ("en", "English", "NO", "YES", "NO", "subs", "subtitles/en/b2/index.m3u8"),
    ]
    assert subtitles[1].characteristics.startswith("public.accessibility.transcribes-spoken-dialog")
    assert subtitles[0].characteristics is None
    assert [p.stream_info.subtitles for p in playlist.playlists] == ["subs", "subs"]
    assert [p.stream_info.audio for p in playlist.playlists] == ["audio", "audio"]  # other attributes untouched
    assert [m.type for m in playlist.media].count("AUDIO") == 1


def test_without_tracks_the_master_names_no_subtitle_group() -> None:
    text = with_hls_subtitles(JOB_MASTER, [])
    assert "SUBTITLES" not in text
    playlist = m3u8.loads(text)
    assert [p.uri for p in playlist.playlists] == ["video-360p.m3u8", "video-720p.m3u8"]
    assert all(p.stream_info.bandwidth for p in playlist.playlists)


def test_the_mpd_gets_one_text_adaptation_set_per_track_and_signed_urls() -> None:
    body = rewrite_mpd(with_dash_subtitles(MPD, [KO, EN]), "https://cdn.example/videos/v1/manifest.mpd",
                       lambda url: url + "?signed")
    assert body.count('mimeType="text/vtt"') == 2
    assert 'lang="ko"' in body and 'lang="en"' in body
    assert "<Label>한국어</Label>" in body
    assert 'value="caption"' in body and 'value="subtitle"' in body
    assert "https://cdn.example/videos/v1/subtitles/en/b2/full.vtt?signed" in body
    again = with_dash_subtitles(with_dash_subtitles(MPD, [KO, EN]), [EN])  # replaced, not added to
    assert again.count('mimeType="text/vtt"') == 1
