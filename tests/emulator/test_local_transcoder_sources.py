"""Broadcast and fan sources through the local Transcoder (official client over REST, real ffmpeg): every container
the API lists, preprocessingConfig (deinterlace, crop/pad, denoise, deblock, color, audio lufs), audio mapping
(5.1 downmix, dual mono, gainDb), pixelFormat (10-bit in, 8-bit out and 10-bit out) and anamorphic sources shown at
their display aspect. Sources are generated with ffmpeg (3 s, small); nothing is committed."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as gexc

from tests.emulator.test_local_transcoder_harness import BUCKET, PARENT, Cloud, ffmpeg, ffprobe, h264, start_cloud

TONE = "sine=frequency=440:sample_rate=48000:duration=3"
SILENCE = "anullsrc=channel_layout=mono:sample_rate=48000"

# name -> ffmpeg arguments writing it (video 3 s; audio as the broadcaster / fan copy has it)
SOURCES = {
    "broadcast-1080i-mpeg2-ac3-5.1.ts": [
        "-f", "lavfi", "-i", "testsrc2=size=480x272:rate=60000/1001,interlace=scan=tff", "-f", "lavfi", "-i", TONE,
        # dialogue only in the centre channel (FL FR FC LFE BL BR): a stereo downmix must put it in both ears
        "-filter_complex", "[1]pan=5.1|c2=c0[a]", "-map", "0:v", "-map", "[a]", "-t", "3", "-c:v", "mpeg2video",
        "-flags", "+ildct+ilme", "-top", "1", "-b:v", "2M", "-c:a", "ac3", "-b:a", "384k"],
    "broadcast-h264-1080i.m2ts": [
        "-f", "lavfi", "-i", "testsrc2=size=480x272:rate=60000/1001,interlace=scan=tff", "-f", "lavfi", "-i", TONE,
        "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ildct+ilme", "-x264opts", "tff=1",
        "-c:a", "ac3", "-ac", "2", "-f", "mpegts", "-mpegts_m2ts_mode", "1"],
    "dv-480i-4x3-pcm.avi": [
        "-f", "lavfi", "-i", "testsrc2=size=720x480:rate=30000/1001", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "dvvideo", "-pix_fmt", "yuv411p", "-aspect", "4:3", "-c:a", "pcm_s16le", "-ac", "2"],
    "fan-mpeg4-mp3.avi": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame", "-b:a", "128k"],
    "fan-wmv2-wma2.wmv": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "wmv2", "-b:v", "800k", "-c:a", "wmav2", "-b:a", "128k"],
    "studio-mpeg2-pcm-op1a.mxf": [
        "-f", "lavfi", "-i", "testsrc2=size=720x576:rate=25", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "mpeg2video", "-b:v", "5M", "-c:a", "pcm_s16le", "-ac", "2", "-f", "mxf"],
    "h264-high10-flac.mkv": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24000/1001", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-profile:v", "high10",
        "-c:a", "flac"],
    "prores-pcm.mov": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "prores", "-c:a", "pcm_s16le"],
    "vp9-opus.webm": [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-c:a", "libopus"],
    "anamorphic-16x9.mp4": [  # 480x360 coded, shown 640x360 (SAR 4:3, like 1440x1080 HDV)
        "-f", "lavfi", "-i", "testsrc2=size=480x360:rate=30,setsar=4/3", "-f", "lavfi", "-i", TONE, "-t", "3",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
    "dual-mono-left-only.mp4": [  # Korean broadcast dual mono: programme audio on the left channel only
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", TONE, "-f", "lavfi", "-i", SILENCE,
        "-filter_complex", "[1][2]join=inputs=2:channel_layout=stereo[a]", "-map", "0:v", "-map", "[a]", "-t", "3",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
}

DOWNMIX_5_1 = [  # ITU-style stereo downmix of FL FR FC LFE BL BR (LFE dropped), centre and surrounds at -3 dB
    (0, 0, 0), (1, 1, 0), (2, 0, -3.0103), (2, 1, -3.0103), (4, 0, -3.0103), (5, 1, -3.0103)]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    tmp = tmp_path_factory.mktemp("transcoder-sources")
    gen = tmp / "sources"
    gen.mkdir()
    for name, args in SOURCES.items():
        ffmpeg(*args, str(gen / name))
    yield from start_cloud(tmp)


def _mapping(atom: str, key: str, pairs) -> list[dict]:
    return [{"atomKey": atom, "inputKey": key, "inputTrack": 1, "inputChannel": i, "outputChannel": o, "gainDb": g}
            for i, o, g in pairs]


def _job(cloud: Cloud, name: str, out: str, *, video: dict | None = None, audio: dict | None = None,
         preprocessing: dict | None = None, container: str = "mp4") -> dict:
    uri = cloud.upload(f"sources/{name}", (cloud.tmp / "sources" / name).read_bytes())
    item = {"key": "input0", "uri": uri}
    if preprocessing:
        item["preprocessingConfig"] = preprocessing
    return {"outputUri": f"gs://{BUCKET}/{out}/", "config": {
        "inputs": [item],
        "editList": [{"key": "atom0", "inputs": ["input0"]}],
        "elementaryStreams": [{"key": "v", **(video or h264(240))},
                              {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 96000, **(audio or {})}}],
        "muxStreams": [{"key": "out", "container": container, "elementaryStreams": ["v", "a"],
                        **({"segmentSettings": {"segmentDuration": "2s"}} if container == "ts" else {})}],
        **({"manifests": [{"type": "HLS", "muxStreams": ["out"]}]} if container == "ts" else {}),
    }}


def _channel_rms(path: Path) -> list[float]:
    """RMS level (dBFS) of each channel of the first audio track."""
    log = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af",
                          "astats=measure_overall=none:measure_perchannel=RMS_level", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    return [float(v) if v != "-inf" else -200.0 for v in re.findall(r"RMS level dB: (\S+)", log)]


def _interlaced_frames(path: Path) -> tuple[int, int]:
    """(interlaced, progressive) frames that ffmpeg's idet finds (single-frame detection)."""
    log = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:v:0", "-vf", "idet",
                          "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    found = re.search(r"Single frame detection: TFF:\s*(\d+)\s+BFF:\s*(\d+)\s+Progressive:\s*(\d+)", log)
    return int(found[1]) + int(found[2]), int(found[3])


def _stream(info: dict, kind: str) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == kind)


@pytest.mark.parametrize("name", [n for n in SOURCES if n not in ("anamorphic-16x9.mp4", "dual-mono-left-only.mp4")])
def test_every_listed_container_comes_out_as_h264_aac(cloud: Cloud, name: str) -> None:
    out = cloud.run(_job(cloud, name, f"out/containers/{name}"))
    info = ffprobe(out / "out.mp4")
    video, audio = _stream(info, "video"), _stream(info, "audio")
    source = _stream(ffprobe(cloud.tmp / "sources" / name), "video")
    sar = Fraction(source.get("sample_aspect_ratio", "1:1").replace(":", "/").replace("0/1", "1"))
    display_w = source["width"] * sar
    expected_w = max(2, round(240 * display_w / source["height"] / 2) * 2)
    assert (video["codec_name"], video["height"], video["width"], video["pix_fmt"]) == ("h264", 240, expected_w,
                                                                                        "yuv420p")
    assert video.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1")
    assert (audio["codec_name"], audio["channels"]) == ("aac", 2)
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.2


def test_anamorphic_sources_come_out_at_display_aspect(cloud: Cloud) -> None:
    out = cloud.run(_job(cloud, "anamorphic-16x9.mp4", "out/anamorphic", video=h264(180)))
    video = _stream(ffprobe(out / "out.mp4"), "video")
    assert (video["width"], video["height"], video.get("sample_aspect_ratio", "1:1")) == (320, 180, "1:1")
    dv = cloud.run(_job(cloud, "dv-480i-4x3-pcm.avi", "out/dv", video=h264(240)))
    video = _stream(ffprobe(dv / "out.mp4"), "video")
    assert (video["width"], video["height"]) == (320, 240)  # 720x480 at SAR 8:9 is 4:3, not 3:2


@pytest.mark.parametrize("kind, settings", [
    ("yadif", {"mode": "send_frame", "parity": "tff", "deinterlaceAllFrames": True}),
    ("bwdif", {"mode": "send_field", "parity": "auto"}),
])
def test_interlaced_broadcast_is_deinterlaced_and_downmixed(cloud: Cloud, kind: str, settings: dict) -> None:
    name = "broadcast-1080i-mpeg2-ac3-5.1.ts"
    raw = cloud.run(_job(cloud, name, f"out/raw-{kind}", video=h264(272, 1_500_000, 60)))
    combed, _ = _interlaced_frames(raw / "out.mp4")
    assert combed > 20  # without deinterlacing, the fields show (the check can fail)
    body = _job(cloud, name, f"out/deint-{kind}", video=h264(272, 1_500_000, 60),
                preprocessing={"deinterlace": {kind: settings}},
                audio={"channelCount": 2, "channelLayout": ["fl", "fr"],
                       "mapping": _mapping("atom0", "input0", DOWNMIX_5_1)})
    out = cloud.run(body)
    interlaced, progressive = _interlaced_frames(out / "out.mp4")
    assert interlaced * 20 <= progressive and progressive > 40  # idet's own false positives stay under 5%
    video = _stream(ffprobe(out / "out.mp4"), "video")
    field_rate = kind == "bwdif"  # send_field: one frame per field, 59.94 fps
    assert float(Fraction(video["avg_frame_rate"])) == pytest.approx(59.94 if field_rate else 29.97, abs=0.05)
    left, right = _channel_rms(out / "out.mp4")
    source_centre = _channel_rms(cloud.tmp / "sources" / name)[2]
    assert abs(left - right) < 0.5 and abs(left - (source_centre - 3.0)) < 1.5, (left, right, source_centre)


def test_dual_mono_mapping_and_gain(cloud: Cloud) -> None:
    name = "dual-mono-left-only.mp4"
    plain = cloud.run(_job(cloud, name, "out/dual-plain"))
    left, right = _channel_rms(plain / "out.mp4")
    assert right < -90 < left  # the check below can fail: without mapping, the right ear stays silent
    both = cloud.run(_job(cloud, name, "out/dual-mapped", audio={
        "mapping": _mapping("atom0", "input0", [(0, 0, 0), (0, 1, -6)])}))
    left2, right2 = _channel_rms(both / "out.mp4")
    assert abs(left2 - left) < 1 and abs(right2 - (left - 6)) < 1, (left, left2, right2)


def test_ten_bit_source_to_8_bit_and_10_bit(cloud: Cloud) -> None:
    name = "h264-high10-flac.mkv"
    eight = _stream(ffprobe(cloud.run(_job(cloud, name, "out/8bit")) / "out.mp4"), "video")
    assert (eight["pix_fmt"], eight["profile"]) == ("yuv420p", "High")
    ten = _stream(ffprobe(cloud.run(_job(cloud, name, "out/10bit", video=h264(240, pixelFormat="yuv420p10")))
                          / "out.mp4"), "video")
    assert (ten["pix_fmt"], ten["profile"]) == ("yuv420p10le", "High 10")


def test_crop_pad_color_denoise_deblock_and_loudness(cloud: Cloud) -> None:
    name = "prores-pcm.mov"
    body = _job(cloud, name, "out/filters", video=h264(240, widthPixels=320), preprocessing={
        "crop": {"leftPixels": 40, "rightPixels": 40},
        "pad": {"topPixels": 20, "bottomPixels": 20},
        "color": {"saturation": -1, "contrast": 0.1, "brightness": 0.05},
        "denoise": {"strength": 0.5, "tune": "grain"},
        "deblock": {"strength": 0.5, "enabled": True},
        "audio": {"lufs": -16}})
    out = cloud.run(body)
    frame = out / "frame.png"
    ffmpeg("-ss", "1", "-i", str(out / "out.mp4"), "-frames:v", "1", "-vf", "format=rgb24", str(frame))
    stats = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(frame), "-vf", "signalstats,metadata=print",
                            "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    saturation = float(re.search(r"lavfi.signalstats.SATAVG=(\S+)", stats)[1])
    assert saturation < 2  # saturation -1: grey
    top = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(frame), "-vf", "crop=320:8:0:0,signalstats,"
                          "metadata=print", "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    assert float(re.search(r"lavfi.signalstats.YAVG=(\S+)", top)[1]) < 40  # the padded band is black
    loudness = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(out / "out.mp4"), "-af",
                               "ebur128", "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    integrated = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", loudness)[-1])
    assert abs(integrated - (-16)) < 2.5, integrated


@pytest.mark.parametrize("patch, field", [
    ({"preprocessingConfig": {"deinterlace": {"yadif": {"mode": "weave"}}}},
     r"inputs\[0\]\.preprocessingConfig\.deinterlace\.yadif\.mode"),
    ({"preprocessingConfig": {"deinterlace": {"yadif": {}, "bwdif": {}}}},
     r"inputs\[0\]\.preprocessingConfig\.deinterlace"),
    ({"preprocessingConfig": {"color": {"saturation": 2}}}, r"preprocessingConfig\.color\.saturation"),
    ({"preprocessingConfig": {"audio": {"lufs": 3}}}, r"preprocessingConfig\.audio\.lufs"),
])
def test_bad_preprocessing_is_400_naming_the_field(cloud: Cloud, patch: dict, field: str) -> None:
    body = _job(cloud, "fan-mpeg4-mp3.avi", "out/bad")
    body["config"]["inputs"][0].update(patch)
    raw = requests.post(f"{cloud.url}/v1/{PARENT}/jobs", json=body, timeout=10)  # the client refuses some itself
    assert raw.status_code == 400 and raw.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert re.search(field, raw.json()["error"]["message"]), raw.json()


@pytest.mark.parametrize("audio, field", [
    ({"mapping": [{"atomKey": "nope", "inputKey": "input0", "inputChannel": 0, "outputChannel": 0}]},
     r"audioStream\.mapping\[0\]\.atomKey"),
    ({"mapping": [{"atomKey": "atom0", "inputKey": "input0", "inputChannel": 0, "outputChannel": 2}]},
     r"audioStream\.mapping\[0\]\.outputChannel"),
    ({"channelCount": 2, "channelLayout": ["fl", "xx"]}, r"audioStream\.channelLayout\[1\]"),
])
def test_bad_mapping_is_400_naming_the_field(cloud: Cloud, audio: dict, field: str) -> None:
    with pytest.raises(gexc.BadRequest, match=field):
        cloud.create(_job(cloud, "fan-mpeg4-mp3.avi", "out/bad", audio=audio))


def test_mapping_a_channel_the_input_lacks_fails_the_job_naming_it(cloud: Cloud) -> None:
    body = _job(cloud, "fan-mpeg4-mp3.avi", "out/bad-channel", audio={
        "mapping": _mapping("atom0", "input0", [(7, 0, 0)])})
    done = cloud.wait(cloud.create(body).name)
    assert done.error.code == 3 and "mapping[0].inputChannel" in done.error.message, done.error
