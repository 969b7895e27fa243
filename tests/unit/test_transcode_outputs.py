"""What a finished job left in the media bucket: classified, checked complete, turned into client URLs."""

from __future__ import annotations

import pytest
from kstream.transcode.outputs import Outputs, OutputsIncomplete, collect, output_files, qualities_for

PREFIX = "videos/v1/"


def _listing(*names: str) -> list[tuple[str, int]]:
    return [(PREFIX + name, 1000) for name in names]


FULL = _listing(
    "manifest.m3u8", "manifest.mpd", "video-360p.m3u8", "video-720p.m3u8", "audio.m3u8",
    "video-360p-init.m4s", "video-360p0000000000.m4s", "video-360p0000000001.m4s",
    "video-720p-init.m4s", "video-720p0000000000.m4s", "video-720p0000000001.m4s",
    "audio-init.m4s", "audio0000000000.m4s", "audio0000000001.m4s",
    "progressive.mp4", "poster0000000000.jpeg", "storyboard0000000000.jpeg",
)


def test_a_complete_job_is_classified() -> None:
    found = collect([*FULL, ("videos/v10/manifest.m3u8", 5)], prefix=PREFIX, renditions=["360p", "720p"],
                    has_audio=True, formats=["hls", "dash"])
    assert found.hls_playlist == "manifest.m3u8" and found.dash_manifest == "manifest.mpd"
    assert found.segments == [
        "audio0000000000.m4s", "audio0000000001.m4s", "video-360p0000000000.m4s", "video-360p0000000001.m4s",
        "video-720p0000000000.m4s", "video-720p0000000001.m4s"]
    assert found.init_segments == ["audio-init.m4s", "video-360p-init.m4s", "video-720p-init.m4s"]
    assert found.media_playlists == ["audio.m3u8", "video-360p.m3u8", "video-720p.m3u8"]
    assert found.poster == "poster0000000000.jpeg" and found.storyboard == ["storyboard0000000000.jpeg"]
    assert found.progressive == "progressive.mp4"
    assert found.bytes == 1000 * len(FULL)  # the other video's files are not counted
    assert Outputs.from_doc(found.to_doc()) == found


def test_files_of_another_job_in_the_same_folder_are_left_out() -> None:
    leftovers = _listing("video-1080p0000000000.m4s", "video-1080p.m3u8", "video-1080p-init.m4s")
    found = collect(FULL + leftovers, prefix=PREFIX, renditions=["360p", "720p"], has_audio=True,
                    formats=["hls", "dash"])
    assert not any("1080p" in name for name in found.segments + found.init_segments + found.media_playlists)


def test_a_silent_source_needs_no_audio_segments() -> None:
    silent = [(n, s) for n, s in FULL if "audio" not in n]
    found = collect(silent, prefix=PREFIX, renditions=["360p", "720p"], has_audio=False, formats=["hls"])
    assert all(name.startswith("video-") for name in found.segments)


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("manifest.m3u8", "manifest.m3u8 is missing"),
        ("manifest.mpd", "manifest.mpd is missing"),
        ("audio", "audio segments is missing"),
        ("video-720p00", "video-720p segments is missing"),
    ],
)
def test_a_job_missing_a_required_file_is_incomplete(drop: str, message: str) -> None:
    listing = [(n, s) for n, s in FULL if drop not in n]
    with pytest.raises(OutputsIncomplete, match=message):
        collect(listing, prefix=PREFIX, renditions=["360p", "720p"], has_audio=True, formats=["hls", "dash"])


def test_nothing_at_all_names_everything_missing() -> None:
    with pytest.raises(OutputsIncomplete) as raised:
        collect([], prefix=PREFIX, renditions=["360p"], has_audio=True, formats=["hls"])
    assert "manifest.m3u8, video-360p segments, audio segments are missing" in str(raised.value)


def test_the_thumbnail_is_the_poster_else_the_first_storyboard_sheet() -> None:
    args = {"prefix": PREFIX, "renditions": ["360p", "720p"], "has_audio": True, "formats": ["hls"]}
    assert collect(FULL, **args).thumbnail == "poster0000000000.jpeg"  # type: ignore[arg-type]
    no_poster = [(n, s) for n, s in FULL if "poster" not in n]
    assert collect(no_poster, **args).thumbnail == "storyboard0000000000.jpeg"  # type: ignore[arg-type]
    no_images = [(n, s) for n, s in no_poster if "storyboard" not in n]
    assert collect(no_images, **args).thumbnail is None  # type: ignore[arg-type]


def test_output_files_are_cdn_urls() -> None:
    found = collect(FULL, prefix=PREFIX, renditions=["360p", "720p"], has_audio=True, formats=["hls", "dash"])
    files = output_files(found, "https://cdn.example.com/")
    assert files.hls.playlist == "https://cdn.example.com/videos/v1/manifest.m3u8"
    assert files.dash is not None and files.dash.manifest == "https://cdn.example.com/videos/v1/manifest.mpd"
    assert files.hls.segments[0] == "https://cdn.example.com/videos/v1/audio0000000000.m4s"
    assert len(files.hls.segments) == 6 and files.dash.segments == files.hls.segments
    hls_only = collect([(n, s) for n, s in FULL if not n.endswith(".mpd")], prefix=PREFIX,
                       renditions=["360p", "720p"], has_audio=True, formats=["hls"])
    assert output_files(hls_only, "").dash is None
    assert output_files(hls_only, "").hls.playlist == "/videos/v1/manifest.m3u8"


@pytest.mark.parametrize(
    ("renditions", "qualities"),
    [
        (["360p", "720p", "1080p"], ["360p", "720p", "1080p"]),
        (["360p", "540p"], ["360p"]),  # a 960x540 source: its own size counts as the 360p tier
        (["360p", "720p", "900p"], ["360p", "720p"]),
        (["180p"], ["360p"]),  # smaller than the lowest rung: served as the lowest quality
        (["1080p", "360p"], ["360p", "1080p"]),
        (["weird"], []),
    ],
)
def test_qualities_are_the_spec_names_the_renditions_serve(renditions: list[str], qualities: list[str]) -> None:
    assert qualities_for(renditions) == qualities
