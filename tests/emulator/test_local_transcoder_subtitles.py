"""Subtitles through the local Transcoder (official client over REST, real ffmpeg): several inputs, sideloaded SRT and
WebVTT caption files named by an edit atom, webvtt text streams into segmented ``vtt`` mux streams, the HLS master's
SUBTITLES group, the DASH text AdaptationSet, captions read back from CEA-608 embedded in a video input, and the
refusals. Outputs are read with maintained parsers (m3u8, pysubs2) and ffprobe."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import m3u8
import pysubs2
import pytest
import requests
from google.api_core import exceptions as gexc

from tests.emulator.test_local_transcoder_harness import BUCKET, PARENT, Cloud, ffmpeg, ffprobe, h264, start_cloud

SRT_EN = """1
00:00:00,500 --> 00:00:01,500
Hello there

2
00:00:01,800 --> 00:00:02,600
Across the <i>boundary</i>

3
00:00:03,000 --> 00:00:03,900
Last words
"""
VTT_KO = """WEBVTT

00:00.400 --> 00:01.600
안녕하세요

00:02.100 --> 00:03.500
사랑해요
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    tmp = tmp_path_factory.mktemp("transcoder-subtitles")
    yield from start_cloud(tmp)


@pytest.fixture(scope="module")
def sources(cloud: Cloud) -> dict[str, str]:
    video = cloud.tmp / "video.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000:duration=4", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", str(video))
    return {"video": cloud.upload("subs/video.mp4", video.read_bytes()),
            "en": cloud.upload("subs/ep1.en.srt", SRT_EN.encode()),
            "ko": cloud.upload("subs/ep1.ko.vtt", VTT_KO.encode())}


def _text(key: str, input_key: str, language: str, name: str) -> dict:
    return {"key": key, "textStream": {"codec": "webvtt", "languageCode": language, "displayName": name,
                                       "mapping": [{"atomKey": "atom0", "inputKey": input_key}]}}


def _config(sources: dict[str, str], video_container: str = "ts") -> dict:
    return {
        "inputs": [{"key": "input0", "uri": sources["video"]}, {"key": "sub-en", "uri": sources["en"]},
                   {"key": "sub-ko", "uri": sources["ko"]}],
        "editList": [{"key": "atom0", "inputs": ["input0", "sub-en", "sub-ko"]}],
        "elementaryStreams": [{"key": "v", **h264(240)}, {"key": "a", "audioStream": {"codec": "aac",
                                                                                      "bitrateBps": 64000}},
                              _text("vtt-en", "sub-en", "en-US", "English"),
                              _text("vtt-ko", "sub-ko", "ko", "한국어")],
        "muxStreams": [
            {"key": "hls-240", "container": video_container, "elementaryStreams": ["v", "a"] if video_container == "ts"
             else ["v"], "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
            *([{"key": "hls-audio", "container": "fmp4", "elementaryStreams": ["a"],
                "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}}]
              if video_container == "fmp4" else []),
            {"key": "subs-en", "container": "vtt", "elementaryStreams": ["vtt-en"],
             "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
            {"key": "subs-ko", "container": "vtt", "elementaryStreams": ["vtt-ko"],
             "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
        ],
        "manifests": [{"type": "HLS", "fileName": "manifest.m3u8",
                       "muxStreams": ["hls-240", *(["hls-audio"] if video_container == "fmp4" else []), "subs-en",
                                      "subs-ko"]}],
    }


def _first_pts(playlist: Path) -> int:
    """Earliest 90 kHz PTS among the first packets of every stream of an HLS media playlist."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pts_time", "-read_intervals",
                          "%+#16", "-of", "csv=p=0", str(playlist.resolve())], capture_output=True, text=True,
                         check=True).stdout
    firsts: dict[str, int] = {}
    for line in out.split():
        index, pts = line.strip(",").split(",")[:2]
        firsts.setdefault(index, round(float(pts) * 90000))
    return max(0, min(firsts.values()))


def _segment_cues(path: Path) -> list[tuple[float, float, str]]:
    subs = pysubs2.SSAFile.from_string(path.read_text(encoding="utf-8"))
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in subs]


@pytest.mark.parametrize("video_container", ["ts", "fmp4"])
def test_sideloaded_srt_and_vtt_become_hls_subtitle_renditions(cloud: Cloud, sources, video_container) -> None:
    out = cloud.run({"outputUri": f"gs://{BUCKET}/out/subs-{video_container}/",
                     "config": _config(sources, video_container)})
    names = {p.name for p in out.iterdir()}
    assert {"manifest.m3u8", "subs-en.m3u8", "subs-ko.m3u8", "subs-en0000000000.vtt", "subs-en0000000001.vtt",
            "subs-ko0000000000.vtt", "subs-ko0000000001.vtt"} <= names

    master = m3u8.load(str(out / "manifest.m3u8"))
    subtitles = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.group_id, m.name, m.language, m.default, m.autoselect, m.forced, m.uri) for m in subtitles] == [
        ("subs", "English", "en-US", "NO", "YES", "NO", "subs-en.m3u8"),
        ("subs", "한국어", "ko", "NO", "YES", "NO", "subs-ko.m3u8")]
    assert master.playlists and all(p.stream_info.subtitles == "subs" for p in master.playlists)

    # what hls.js needs: MPEGTS is the earliest PTS at the start of the variant and its audio (hls.js's initPTS)
    video_playlist = m3u8.load(str(out / "hls-240.m3u8"))
    firsts = [_first_pts(out / "hls-240.m3u8")]
    if video_container == "fmp4":
        firsts.append(_first_pts(out / "hls-audio.m3u8"))
    expected_mpegts = min(firsts)
    assert video_playlist.segments and expected_mpegts >= 0
    english = m3u8.load(str(out / "subs-en.m3u8"))
    assert [s.uri for s in english.segments] == ["subs-en0000000000.vtt", "subs-en0000000001.vtt"]
    assert [s.duration for s in english.segments] == pytest.approx([2.0, 2.0])
    assert english.playlist_type == "vod" and english.is_endlist
    cues = {}
    for segment in english.segments:
        text = (out / segment.uri).read_text(encoding="utf-8")
        assert text.splitlines()[:2] == ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{expected_mpegts},LOCAL:00:00:00.000"]
        cues[segment.uri] = _segment_cues(out / segment.uri)
    assert cues["subs-en0000000000.vtt"] == [(0.5, 1.5, "Hello there"), (1.8, 2.6, "Across the boundary")]
    assert cues["subs-en0000000001.vtt"] == [(1.8, 2.6, "Across the boundary"), (3.0, 3.9, "Last words")]
    korean = [c for s in m3u8.load(str(out / "subs-ko.m3u8")).segments for c in _segment_cues(out / s.uri)]
    assert [c[2] for c in korean] == ["안녕하세요", "사랑해요"]  # 2.1-3.5 s: in the second segment only

    # Debian's ffmpeg 5.1 HLS demuxer skips SUBTITLES renditions in a master ("Can't support the subtitle"), so:
    # ffprobe reads each subtitle media playlist, and PyAV's FFmpeg (8.x) opens the master with both renditions.
    for playlist in ("subs-en.m3u8", "subs-ko.m3u8"):
        assert [s["codec_name"] for s in ffprobe(out / playlist)["streams"]] == ["webvtt"]
    read_back = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out / "subs-en.m3u8"), "-f", "srt", "-"],
                               capture_output=True, text=True, check=True).stdout
    assert [e.plaintext for e in pysubs2.SSAFile.from_string(read_back)] == [
        "Hello there", "Across the boundary", "Last words"]  # the repeated cue is read once
    with av.open(str(out / "manifest.m3u8")) as container:
        renditions = [(s.codec_context.name, s.metadata.get("language"), s.metadata.get("comment"))
                      for s in container.streams if s.type == "subtitle"]
    assert renditions == [("webvtt", "en-US", "English"), ("webvtt", "ko", "한국어")]


def test_vtt_in_a_dash_manifest_is_a_text_adaptation_set(cloud: Cloud, sources) -> None:
    config = _config(sources, "fmp4")
    config["manifests"].append({"type": "DASH", "fileName": "manifest.mpd",
                                "muxStreams": ["hls-240", "hls-audio", "subs-en", "subs-ko"]})
    out = cloud.run({"outputUri": f"gs://{BUCKET}/out/subs-dash/", "config": config})
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    mpd = ET.parse(out / "manifest.mpd").getroot()
    text_sets = [a for a in mpd.iterfind(".//d:AdaptationSet", ns) if a.get("contentType") == "text"]
    assert [(a.get("mimeType"), a.get("lang"), a.find("d:Label", ns).text) for a in text_sets] == [
        ("text/vtt", "en-US", "English"), ("text/vtt", "ko", "한국어")]
    urls = [u.get("media") for u in text_sets[0].iterfind(".//d:SegmentURL", ns)]
    assert urls == ["subs-en0000000000.vtt", "subs-en0000000001.vtt"] and all((out / u).exists() for u in urls)


def test_captions_embedded_in_a_video_input_are_read_back(cloud: Cloud, sources) -> None:
    """cea608 embedded by one job (SEI in the H.264) -> a webvtt text stream of a second job that maps that video."""
    first = {"outputUri": f"gs://{BUCKET}/out/cc-embed/", "config": {
        "inputs": [{"key": "input0", "uri": sources["video"]}, {"key": "cc", "uri": sources["en"]}],
        "editList": [{"key": "atom0", "inputs": ["input0", "cc"]}],
        "elementaryStreams": [{"key": "v", **h264(240)}, {"key": "a", "audioStream": {"codec": "aac",
                                                                                      "bitrateBps": 64000}},
                              {"key": "cea", "textStream": {"codec": "cea608", "languageCode": "en-US",
                                                            "displayName": "English",
                                                            "mapping": [{"atomKey": "atom0", "inputKey": "cc"}]}}],
        "muxStreams": [{"key": "file", "container": "mp4", "elementaryStreams": ["v", "a"]}]}}
    embedded = cloud.run(first) / "file.mp4"
    uri = cloud.upload("subs/with-608.mp4", embedded.read_bytes())
    second = {"outputUri": f"gs://{BUCKET}/out/cc-read/", "config": {
        "inputs": [{"key": "input0", "uri": uri}],
        "editList": [{"key": "atom0", "inputs": ["input0"]}],
        "elementaryStreams": [{"key": "v", **h264(240)}, _text("vtt", "input0", "en-US", "English CC")],
        "muxStreams": [{"key": "video", "container": "ts", "elementaryStreams": ["v"],
                        "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
                       {"key": "cc", "container": "vtt", "elementaryStreams": ["vtt"],
                        "segmentSettings": {"segmentDuration": "4s", "individualSegments": True}}],
        "manifests": [{"type": "HLS", "muxStreams": ["video", "cc"]}]}}
    out = cloud.run(second)
    cues = _segment_cues(out / "cc0000000000.vtt")
    assert [c[2] for c in cues] == ["Hello there", "Across the boundary", "Last words"]
    for (start, end, _), expected in zip(cues, [(0.5, 1.5), (1.8, 2.6), (3.0, 3.9)], strict=True):
        assert abs(start - expected[0]) < 0.15 and abs(end - expected[1]) < 0.15, cues


@pytest.mark.parametrize("patch, field", [
    (lambda c: c["muxStreams"][1].update(elementaryStreams=["a"]), r"muxStreams\[1\]\.elementaryStreams"),
    (lambda c: c["muxStreams"][0]["elementaryStreams"].append("vtt-en"), r"muxStreams\[0\]\.elementaryStreams\[2\]"),
    (lambda c: c["elementaryStreams"][2]["textStream"]["mapping"][0].update(inputKey="ghost"),
     r"elementaryStreams\[2\]\.textStream\.mapping\[0\]\.inputKey"),
    (lambda c: c["editList"][0].update(inputs=["input0", "sub-ko"]),
     r"elementaryStreams\[2\]\.textStream\.mapping\[0\]\.inputKey"),
    (lambda c: c["elementaryStreams"][2]["textStream"].update(codec="dfxp"),
     r"elementaryStreams\[2\]\.textStream\.codec"),
    (lambda c: c["manifests"][0].update(muxStreams=["subs-en"]), r"manifests\[0\]\.muxStreams"),
])
def test_bad_text_configs_are_400_naming_the_field(cloud: Cloud, sources, patch, field) -> None:
    config = _config(sources)
    patch(config)
    body = {"outputUri": f"gs://{BUCKET}/out/bad/", "config": config}
    with pytest.raises(gexc.BadRequest) as caught:
        cloud.create(body)
    assert re.search(field, caught.value.message), caught.value.message
    raw = requests.post(f"{cloud.url}/v1/{PARENT}/jobs", json=body, timeout=10)
    assert raw.status_code == 400 and re.search(field, raw.json()["error"]["message"])


def test_a_caption_file_that_is_not_one_fails_the_job_naming_it(cloud: Cloud, sources) -> None:
    config = _config(sources)
    config["inputs"][1]["uri"] = cloud.upload("subs/not-captions.srt", b"\x00\x01binary\xff\xfe" * 50)
    done = cloud.wait(cloud.create({"outputUri": f"gs://{BUCKET}/out/bad-file/", "config": config}).name)
    assert done.error.code == 3 and "subs/not-captions.srt" in done.error.message, done.error
    assert cloud.list("out/bad-file/") == []
