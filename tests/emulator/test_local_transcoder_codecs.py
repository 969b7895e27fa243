"""Codecs, containers and edit lists through the local Transcoder (official client over REST, real ffmpeg): H.265
(10- and 12-bit, hvc1 and hev1) and VP9 video, MP3 and Vorbis audio in their mp3 / ogg files, the HLS/DASH CODECS
strings, an edit list of three atoms over two inputs (trims, concatenation, continuous timestamps and audio), and the
refusals the reference documents, each naming its field. Media are tiny (320x180 and 160x120, 2 s)."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import av
import m3u8
import pytest
from google.api_core import exceptions as gexc

from tests.emulator.test_local_transcoder_harness import BUCKET, Cloud, ffmpeg, ffprobe, start_cloud

RED = ["-f", "lavfi", "-i", "color=c=red:s=320x180:r=30:d=2", "-f", "lavfi",
       "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
       "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]
BLUE_SILENT = ["-f", "lavfi", "-i", "color=c=blue:s=160x120:r=25:d=1.5", "-c:v", "libx264", "-preset", "ultrafast",
               "-pix_fmt", "yuv420p"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    yield from start_cloud(tmp_path_factory.mktemp("transcoder-codecs"))


@pytest.fixture(scope="module")
def sources(cloud: Cloud) -> dict[str, str]:
    uris = {}
    for name, args in (("red.mp4", RED), ("blue-silent.mp4", BLUE_SILENT)):
        path = cloud.tmp / name
        ffmpeg(*args, str(path))
        uris[name] = cloud.upload(f"codecs/in/{name}", path.read_bytes())
    return uris


def _video(codec: str, height: int, **settings) -> dict:
    return {"videoStream": {codec: {"heightPixels": height, "bitrateBps": 200_000, "frameRate": 30,
                                    "gopDuration": "1s", **settings}}}


def _stream(path: Path, kind: str = "v") -> dict:
    return ffprobe(path, "-select_streams", f"{kind}:0")["streams"][0]


def test_h265_vp9_mp3_vorbis_and_their_codec_strings(cloud: Cloud, sources) -> None:
    out = "codecs/out/all/"
    body = {
        "inputUri": sources["red.mp4"], "outputUri": f"gs://{BUCKET}/{out}",
        "config": {
            "elementaryStreams": [
                {"key": "hevc10", **_video("h265", 180, pixelFormat="yuv420p10", profile="main")},
                {"key": "hevc12", **_video("h265", 90, pixelFormat="yuv444p12", rateControlMode="crf",
                                           crfLevel=30)},
                {"key": "vp9", **_video("vp9", 180)},
                {"key": "aac", "audioStream": {"codec": "aac", "bitrateBps": 64000}},
                {"key": "mp3", "audioStream": {"codec": "mp3", "bitrateBps": 64000, "channelCount": 1,
                                               "sampleRateHertz": 44100}},
                {"key": "vorbis", "audioStream": {"codec": "vorbis", "bitrateBps": 64000}},
            ],
            "muxStreams": [
                {"key": "hls-hevc", "container": "fmp4", "elementaryStreams": ["hevc10"],
                 "segmentSettings": {"segmentDuration": "1s"}},
                {"key": "hls-hevc-ts", "container": "ts", "elementaryStreams": ["hevc10", "aac"],
                 "segmentSettings": {"segmentDuration": "1s"}},
                {"key": "hls-audio", "container": "fmp4", "elementaryStreams": ["aac"],
                 "segmentSettings": {"segmentDuration": "1s"}},
                {"key": "dash-vp9", "container": "fmp4", "elementaryStreams": ["vp9"],
                 "segmentSettings": {"segmentDuration": "1s"}},
                {"key": "hevc12", "container": "mp4", "elementaryStreams": ["hevc12", "aac"]},
                {"key": "vp9", "container": "mp4", "elementaryStreams": ["vp9", "mp3"]},
                {"key": "audio-mp3", "container": "mp3", "elementaryStreams": ["mp3"]},
                {"key": "audio-ogg", "container": "ogg", "elementaryStreams": ["vorbis"]},
            ],
            "manifests": [
                {"fileName": "main.m3u8", "type": "HLS", "muxStreams": ["hls-hevc", "hls-audio"]},
                {"fileName": "ts.m3u8", "type": "HLS", "muxStreams": ["hls-hevc-ts"]},
                {"fileName": "main.mpd", "type": "DASH", "muxStreams": ["dash-vp9"]},
            ],
        },
    }
    folder = cloud.run(body, timeout=240)

    hevc = _stream(folder / "hevc12.mp4")
    assert (hevc["codec_name"], hevc["codec_tag_string"], hevc["pix_fmt"], hevc["height"]) == (
        "hevc", "hvc1", "yuv444p12le", 90)
    vp9 = _stream(folder / "vp9.mp4")
    assert (vp9["codec_name"], vp9["codec_tag_string"], vp9["pix_fmt"]) == ("vp9", "vp09", "yuv420p")
    assert _stream(folder / "vp9.mp4", "a")["codec_name"] == "mp3"
    mp3 = ffprobe(folder / "audio-mp3.mp3")
    assert [(s["codec_name"], s["channels"], s["sample_rate"]) for s in mp3["streams"]] == [("mp3", 1, "44100")]
    ogg = ffprobe(folder / "audio-ogg.ogg")
    assert [(s["codec_name"], s["channels"]) for s in ogg["streams"]] == [("vorbis", 2)]
    for name in ("hevc12.mp4", "vp9.mp4", "audio-mp3.mp3", "audio-ogg.ogg"):
        assert abs(float(ffprobe(folder / name)["format"]["duration"]) - 2.0) < 0.15, name

    hls_hevc = _stream(folder / "hls-hevc.m3u8")
    assert (hls_hevc["codec_name"], hls_hevc["pix_fmt"], hls_hevc["profile"]) == ("hevc", "yuv420p10le", "Main 10")
    master = m3u8.load(str(folder / "main.m3u8"))
    codecs = master.playlists[0].stream_info.codecs
    # Main 10 (profile 2, compatibility flag 2), level and constraint bytes as the hvcC box has them
    assert re.fullmatch(r"hvc1\.2\.4\.L\d+(\.[0-9A-F]{1,2})*,mp4a\.40\.2", codecs), codecs
    ts_codecs = m3u8.load(str(folder / "ts.m3u8")).playlists[0].stream_info.codecs
    assert re.fullmatch(r"hev1\.2\.4\.L\d+(\.[0-9A-F]{1,2})*,mp4a\.40\.2", ts_codecs), ts_codecs  # TS: the SPS
    mpd = (folder / "main.mpd").read_text()
    assert re.search(r'codecs="vp09\.00\.\d\d\.08"', mpd), mpd


def test_hev1_codec_tag_in_fmp4(cloud: Cloud, sources) -> None:
    out = "codecs/out/hev1/"
    folder = cloud.run({
        "inputUri": sources["red.mp4"], "outputUri": f"gs://{BUCKET}/{out}",
        "config": {
            "elementaryStreams": [{"key": "v", **_video("h265", 90)}],
            "muxStreams": [{"key": "v", "container": "fmp4", "elementaryStreams": ["v"], "fmp4": {"codecTag": "hev1"},
                            "segmentSettings": {"segmentDuration": "2s"}}],
            "manifests": [{"fileName": "m.m3u8", "type": "HLS", "muxStreams": ["v"]}],
        }})
    assert _stream(folder / "v.m3u8")["codec_tag_string"] == "hev1"
    assert m3u8.load(str(folder / "m.m3u8")).playlists[0].stream_info.codecs.startswith("hev1.1.6.L")


def _frames(path: Path) -> list[tuple[float, tuple[int, int, int]]]:
    """(time, RGB of the centre pixel) of every video frame."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.reformat(format="rgb24")
            plane = rgb.planes[0]
            x, y = rgb.width // 2, rgb.height // 2
            at = y * plane.line_size + 3 * x
            out.append((float(frame.time), tuple(bytes(plane)[at: at + 3])))
    return out


def _audio_rms(path: Path, start: float, end: float) -> float:
    total, count = 0.0, 0
    resampler = av.AudioResampler(format="flt", layout="mono")
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            if not start <= float(frame.time) < end:
                continue
            for mono in resampler.resample(frame):
                values = memoryview(bytes(mono.planes[0])).cast("f")[: mono.samples]
                total += sum(v * v for v in values)
                count += mono.samples
    return math.sqrt(total / max(1, count))


def test_edit_list_trims_and_concatenates_three_atoms_of_two_inputs(cloud: Cloud, sources) -> None:
    out = "codecs/out/concat/"
    folder = cloud.run({
        "outputUri": f"gs://{BUCKET}/{out}",
        "config": {
            "inputs": [{"key": "red", "uri": sources["red.mp4"]}, {"key": "blue", "uri": sources["blue-silent.mp4"]}],
            "editList": [
                {"key": "a", "inputs": ["red"], "startTimeOffset": "0.5s", "endTimeOffset": "1.5s"},
                {"key": "b", "inputs": ["blue"]},
                {"key": "c", "inputs": ["red"], "endTimeOffset": "0.5s"},
            ],
            "elementaryStreams": [{"key": "v", **_video("h264", 180)},
                                  {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 64000}}],
            "muxStreams": [{"key": "out", "container": "mp4", "elementaryStreams": ["v", "a"]},
                           {"key": "hls", "container": "ts", "elementaryStreams": ["v", "a"],
                            "segmentSettings": {"segmentDuration": "1s"}}],
            "manifests": [{"fileName": "m.m3u8", "type": "HLS", "muxStreams": ["hls"]}],
        }})
    mp4 = folder / "out.mp4"
    probe = ffprobe(mp4)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    assert abs(float(video["duration"]) - 3.0) < 0.1 and abs(float(audio["duration"]) - 3.0) < 0.1
    assert (video["width"], video["height"]) == (320, 180)  # the 4:3 blue atom is letterboxed into the first frame

    frames = _frames(mp4)
    times = [t for t, _ in frames]
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert min(steps) > 0 and max(steps) < 1.5 / 30, "timestamps run on without gaps or repeats"
    assert abs(len(frames) - 90) <= 1

    def colour_at(t: float) -> tuple[int, int, int]:
        return min(frames, key=lambda f: abs(f[0] - t))[1]

    assert colour_at(0.5)[0] > 200 and colour_at(0.5)[2] < 60  # atom a: red
    assert colour_at(1.75)[2] > 200 and colour_at(1.75)[0] < 60  # atom b: blue
    assert colour_at(2.75)[0] > 200 and colour_at(2.75)[2] < 60  # atom c: red again

    assert _audio_rms(mp4, 0.1, 0.9) > 0.05  # the tone (ffmpeg sine: amplitude 1/8, RMS 0.088)
    assert _audio_rms(mp4, 1.2, 2.3) < 0.002  # the silent atom is silence, not a gap
    assert _audio_rms(mp4, 2.6, 2.95) > 0.05
    segments = m3u8.load(str(folder / "hls.m3u8")).segments
    assert abs(sum(s.duration for s in segments) - 3.0) < 0.1


@pytest.mark.parametrize(("change", "field"), [
    ({"elementaryStreams": [{"key": "v", **_video("vp9", 90, rateControlMode="crf")}]},
     r"elementaryStreams\[0\]\.videoStream\.vp9\.rateControlMode"),
    ({"elementaryStreams": [{"key": "v", **_video("h265", 90, profile="high")}]},
     r"elementaryStreams\[0\]\.videoStream\.h265\.profile"),
    ({"elementaryStreams": [{"key": "v", **_video("h265", 90, bitrateBps=900_000_000)}]},
     r"videoStream\.h265\.bitrateBps"),
    ({"elementaryStreams": [{"key": "v", **_video("vp9", 90, bitrateBps=500_000_000)}]},
     r"videoStream\.vp9\.bitrateBps"),
    ({"muxStreams": [{"key": "m", "container": "ts", "elementaryStreams": ["v9"]}]},
     r"muxStreams\[0\]\.elementaryStreams\[0\].*vp9.*'ts'"),
    ({"muxStreams": [{"key": "m", "container": "ogg", "elementaryStreams": ["aac"]}]},
     r"muxStreams\[0\]\.elementaryStreams.*'ogg'.*vorbis"),
    ({"muxStreams": [{"key": "m", "container": "mp4", "elementaryStreams": ["v", "vorbis"]}]},
     r"muxStreams\[0\]\.elementaryStreams\[1\].*'ogg'"),
    ({"muxStreams": [{"key": "m", "container": "mp3", "elementaryStreams": ["v", "mp3"]}]},
     r"muxStreams\[0\]\.elementaryStreams.*'mp3'"),
    ({"elementaryStreams": [{"key": "mp3", "audioStream": {"codec": "mp3", "bitrateBps": 64000, "channelCount": 6}}]},
     r"elementaryStreams\[0\]\.audioStream\.channelCount"),
    ({"elementaryStreams": [{"key": "mp3", "audioStream": {"codec": "mp3", "bitrateBps": 64000,
                                                           "sampleRateHertz": 96000}}]},
     r"audioStream\.sampleRateHertz"),
    ({"muxStreams": [{"key": "m", "container": "fmp4", "elementaryStreams": ["v"], "fmp4": {"codecTag": "avc3"}}]},
     r"muxStreams\[0\]\.fmp4\.codecTag"),
    ({"editList": [{"key": "a", "inputs": ["in"]}, {"key": "a", "inputs": ["in"], "startTimeOffset": "1s"}]},
     r"editList\[1\]\.key"),
    ({"editList": [{"key": "a", "inputs": ["in"]}, {"key": "b", "inputs": ["in"], "startTimeOffset": "2s",
                                                     "endTimeOffset": "1s"}]},
     r"editList\[1\]\.endTimeOffset"),
])
def test_bad_configs_are_invalid_argument_naming_the_field(cloud: Cloud, change: dict, field: str) -> None:
    config = {
        "inputs": [{"key": "in", "uri": f"gs://{BUCKET}/codecs/in/red.mp4"}],
        "elementaryStreams": [{"key": "v", **_video("h264", 90)}, {"key": "v9", **_video("vp9", 90)},
                              {"key": "aac", "audioStream": {"codec": "aac", "bitrateBps": 64000}},
                              {"key": "mp3", "audioStream": {"codec": "mp3", "bitrateBps": 64000}},
                              {"key": "vorbis", "audioStream": {"codec": "vorbis", "bitrateBps": 64000}}],
        "muxStreams": [{"key": "m", "container": "mp4", "elementaryStreams": ["v"]}],
        **change,
    }
    if "muxStreams" not in change:
        config["muxStreams"] = [{"key": "m", "container": "mp4", "elementaryStreams": [config["elementaryStreams"][0]
                                                                                      ["key"]]}]
    with pytest.raises(gexc.BadRequest, match=field):
        cloud.create({"outputUri": f"gs://{BUCKET}/codecs/out/bad/", "config": config})
