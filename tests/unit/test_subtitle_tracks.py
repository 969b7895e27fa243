"""The track rules that need no emulator: default flags, which pending tracks a job carries, and what publishing at
ready does to each (files in memory; the emulator test drives the same code over real storage and Firestore)."""

from __future__ import annotations

from typing import Any

from kstream.subtitles import parse_subtitle, to_webvtt
from kstream.subtitles.tracks import MAX_SEGMENTS, SubtitleTracks, _swap

from tests import subtitle_samples as samples


class MemoryFiles:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def write(self, files: dict[str, tuple[str, str]]) -> None:
        self.objects.update({name: text for name, (text, _type) in files.items()})

    def read(self, name: str) -> bytes:
        return self.objects[name].encode()

    def delete_prefix(self, prefix: str) -> None:
        for name in [n for n in self.objects if n.startswith(prefix)]:
            del self.objects[name]


def track(language: str, *, status: str = "pending", default: bool = False, end: float = 10.0,
          version: str = "v1") -> dict[str, Any]:
    return {"language": language, "label": language, "kind": "subtitles", "default": default, "format": "srt",
            "cueCount": 3, "lastCueEnd": end, "status": status, "version": version,
            "vtt": f"subtitles/{language}/{version}/full.vtt", "playlist": None}


def test_a_new_default_clears_the_others_and_a_language_has_one_track() -> None:
    tracks = _swap([track("ko", default=True), track("en")], track("EN", default=True, version="v2"))
    assert [(t["language"], t["default"], t["version"]) for t in tracks] == [("EN", True, "v2"), ("ko", False, "v1")]


def test_the_job_carries_pending_tracks_that_fit_and_names_the_others() -> None:
    doc = {"videoId": "vid", "subtitleTracks": [track("ko"), track("en", end=40.0), track("ja", status="ready")]}
    carried, refused = SubtitleTracks._fit(doc, 20.0)
    assert [(t.language, t.vtt_object) for t in carried] == [("ko", "videos/vid/subtitles/ko/v1/full.vtt")]
    assert list(refused) == ["en"] and "after the video's end at 20.0 s" in refused["en"]


def test_publishing_points_at_the_job_writes_late_tracks_and_rejects_long_ones() -> None:
    files = MemoryFiles()
    cues = parse_subtitle(samples.english_srt(), file_name="en.srt").cues
    files.write({"videos/vid/subtitles/en/v2/full.vtt": (to_webvtt(cues), "text/vtt")})
    service = SubtitleTracks(None, files, None)  # type: ignore[arg-type]
    publish = service.publisher("vid", duration=3600.0, segment_seconds=6.0, mpegts=0, carried={"ko": "v1"})
    out = {t["language"]: t for t in publish([track("ko"), track("en", version="v2"), track("fr", end=4000.0)])}
    assert (out["ko"]["status"], out["ko"]["playlist"]) == ("ready", "subtitles-ko.m3u8")
    assert (out["en"]["status"], out["en"]["playlist"]) == ("ready", "subtitles/en/v2/index.m3u8")
    assert out["fr"]["status"] == "rejected" and "4000.0 s" in out["fr"]["reason"]
    segments = [n for n in files.objects if n.startswith("videos/vid/subtitles/en/v2/seg-")]
    assert len(segments) == 60 <= MAX_SEGMENTS  # an hour in 60 s segments
    assert "#EXT-X-TARGETDURATION:60" in files.objects["videos/vid/subtitles/en/v2/index.m3u8"]
    assert samples.ENGLISH_LINE in files.objects["videos/vid/subtitles/en/v2/seg-00001.vtt"]
