"""Conformance: every snippet of Google's python-docs-samples ``video/transcoder`` (our own copies of their calls in
transcoder_samples.py) against the local Transcoder through the OFFICIAL client (REST transport, local endpoint,
anonymous credentials), and what each job writes: files, sizes, durations, overlay pixels, caption tracks, sprite
sheets. Plus AES-128 HLS segments that decrypt with the key to a playable TS, CENC fMP4 that decodes only with its
key, and the official client's INVALID_ARGUMENT for bad configs naming the reference's field paths.

Media are generated (none committed): a flat grey 16 s 320x180 10 fps clip with a tone (the samples' ChromeCast.mp4,
grey so an overlay's pixels are unmistakable), an 8 s 30 fps one for the caption samples, a red JPEG overlay, a blue
9 s and a green 15 s clip to concatenate, SRT captions in English and Spanish. Outputs are read with ffprobe, ffmpeg
(pixels, CEA-608), m3u8, pysubs2 and PyAV.
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import m3u8
import pysubs2
import pytest
from google.api_core import exceptions
from google.cloud.video import transcoder_v1

from local_emulator.transcoder.encryption import aes128_cbc_decrypt
from tests.emulator import transcoder_samples as samples
from tests.emulator.test_local_transcoder_harness import (
    BUCKET,
    PROJECT,
    Cloud,
    ffmpeg,
    ffprobe,
    start_cloud_with_secrets,
)

LOCATION = "us-central1"
SUCCEEDED = transcoder_v1.Job.ProcessingState.SUCCEEDED
GREY, RED, BLUE, GREEN = (128, 128, 128), (255, 0, 0), (0, 0, 255), (0, 128, 0)
AES_KEY = "00112233445566778899aabbccddeeff"
CENC_KEY = "ffeeddccbbaa99887766554433221100"
CENC_KID = "0123456789abcdef0123456789abcdef"
FAIRPLAY_KEY, FAIRPLAY_KID = "2b7e151628aed2a6abf7158809cf4f3c", "d569cb35bd0548c7a99d92feb381df13"
FAIRPLAY_IV = "0f" * 16
SECRET = f"projects/{PROJECT}/secrets/episode-keys/versions/1"
CAPTIONS_EN = """1
00:00:01,000 --> 00:00:02,500
Hello from the sample.

2
00:00:05,000 --> 00:00:07,000
This caption crosses a segment.
"""
SUBTITLES_ES = """1
00:00:01,000 --> 00:00:03,000
¿Dónde está la canción?

2
00:00:05,500 --> 00:00:07,500
Mañana, señor.
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    tmp = tmp_path_factory.mktemp("transcoder-conformance")
    yield from start_cloud_with_secrets(tmp, SECRET, {"encryptionKeys": [
        {"key": AES_KEY, "keyUri": "https://keys.kstream.test/episode-keys/1",
         "matchers": [{"muxStreams": ["hls-aes", "hls-aes-segments"]}]},
        {"keyId": FAIRPLAY_KID, "key": FAIRPLAY_KEY, "iv": FAIRPLAY_IV, "keyUri": f"skd://{FAIRPLAY_KID}",
         "matchers": [{"muxStreams": ["hls-fairplay", "hls-sample-aes"]}]},
        {"keyId": CENC_KID, "key": CENC_KEY}]})


def _clip(path: Path, colour: str, seconds: int, rate: int) -> None:
    ffmpeg("-f", "lavfi", "-i", f"color=c={colour}:size=320x180:rate={rate}:duration={seconds}", "-f", "lavfi", "-i",
           f"sine=frequency=440:sample_rate=48000:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))


@pytest.fixture(scope="module")
def media(cloud: Cloud) -> dict[str, str]:
    files = {"video": ("ChromeCast.mp4", "0x808080", 16, 10), "concat1": ("ForBiggerEscapes.mp4", "0x0000ff", 9, 10),
             "concat2": ("ForBiggerJoyrides.mp4", "0x008000", 15, 10),
             # CEA-608 carries one byte pair per frame: at 10 fps a caption could not be loaded by its start time
             "captioned": ("ChromeCast-30fps.mp4", "0x808080", 8, 30)}
    uris = {}
    for name, (file_name, colour, seconds, rate) in files.items():
        _clip(cloud.tmp / file_name, colour, seconds, rate)
        uris[name] = cloud.upload(f"media/{file_name}", (cloud.tmp / file_name).read_bytes())
    ffmpeg("-f", "lavfi", "-i", "color=c=0xff0000:size=160x90", "-frames:v", "1", "-q:v", "2",
           str(cloud.tmp / "overlay.jpg"))
    uris["overlay"] = cloud.upload("media/overlay.jpg", (cloud.tmp / "overlay.jpg").read_bytes())
    uris["captions"] = cloud.upload("media/captions.srt", CAPTIONS_EN.encode())
    uris["en"] = cloud.upload("media/subtitles-en.srt", CAPTIONS_EN.encode())
    uris["es"] = cloud.upload("media/subtitles-es.srt", SUBTITLES_ES.encode())
    return uris


def _out(name: str) -> str:
    return f"gs://{BUCKET}/conformance/{name}/"


def _finish(cloud: Cloud, job: transcoder_v1.Job, folder: str) -> Path:
    done = cloud.wait(job.name)
    assert done.state == SUCCEEDED, done.error
    return cloud.download(f"conformance/{folder}/")


def _video(path: Path) -> dict:
    info = ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    return {"size": (video["width"], video["height"]), "duration": float(info["format"].get("duration", 0)),
            "codecs": sorted(s["codec_name"] for s in info["streams"])}


def _pixel(path: Path, seconds: float, x: int, y: int) -> tuple[int, int, int]:
    """The RGB of one pixel of the frame shown at ``seconds``."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{seconds}", "-i", str(path), "-frames:v", "1", "-vf",
                          f"format=rgb24,crop=1:1:{x}:{y}", "-f", "rawvideo", "-"],
                         capture_output=True, check=True, timeout=60).stdout
    return tuple(raw[:3])


def _near(rgb: tuple[int, int, int], want: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, want, strict=True))


def _job_id(job: transcoder_v1.Job) -> str:
    return job.name.rsplit("/", 1)[1]


# ------------------------------------------------------------------------------------------------ templates, jobs


def test_job_template_snippets_and_a_job_from_the_template(cloud: Cloud, media) -> None:
    template_id = f"my-python-test-template-{uuid.uuid4()}"
    name = f"projects/{PROJECT}/locations/{LOCATION}/jobTemplates/{template_id}"
    template = samples.create_job_template(cloud.client, PROJECT, LOCATION, template_id)
    assert template.name == name
    got = samples.get_job_template(cloud.client, PROJECT, LOCATION, template_id)
    assert got.name == name
    assert [s.key for s in got.config.elementary_streams] == ["video-stream0", "video-stream1", "audio-stream0"]
    assert name in samples.list_job_templates(cloud.client, PROJECT, LOCATION)

    job = samples.create_job_from_template(cloud.client, PROJECT, LOCATION, media["video"], _out("template"),
                                           template_id)
    assert job.name.startswith(f"projects/{PROJECT}/locations/{LOCATION}/jobs/")
    out = _finish(cloud, job, "template")
    assert {p.name for p in out.iterdir()} == {"sd.mp4", "hd.mp4"}
    for file_name, size in (("sd.mp4", (640, 360)), ("hd.mp4", (1280, 720))):
        found = _video(out / file_name)
        assert found["size"] == size and found["codecs"] == ["aac", "h264"], found
        assert found["duration"] == pytest.approx(16.0, abs=0.15), found

    assert samples.delete_job_template(cloud.client, PROJECT, LOCATION, template_id) is None
    with pytest.raises(exceptions.NotFound):
        samples.get_job_template(cloud.client, PROJECT, LOCATION, template_id)
    assert name not in samples.list_job_templates(cloud.client, PROJECT, LOCATION)


def test_ad_hoc_job_and_the_get_list_state_delete_snippets(cloud: Cloud, media) -> None:
    job = samples.create_job_from_ad_hoc(cloud.client, PROJECT, LOCATION, media["video"], _out("adhoc"))
    job_id = _job_id(job)
    assert samples.get_job(cloud.client, PROJECT, LOCATION, job_id).name == job.name
    assert samples.get_job_state(cloud.client, PROJECT, LOCATION, job_id) in ("PENDING", "RUNNING", "SUCCEEDED")
    out = _finish(cloud, job, "adhoc")
    assert samples.get_job_state(cloud.client, PROJECT, LOCATION, job_id) == "SUCCEEDED"
    assert job.name in samples.list_jobs(cloud.client, PROJECT, LOCATION)
    assert [(_video(out / n)["size"]) for n in ("sd.mp4", "hd.mp4")] == [(640, 360), (1280, 720)]
    assert _video(out / "hd.mp4")["duration"] == pytest.approx(16.0, abs=0.15)

    assert samples.delete_job(cloud.client, PROJECT, LOCATION, job_id) is None
    with pytest.raises(exceptions.NotFound):
        samples.get_job(cloud.client, PROJECT, LOCATION, job_id)
    assert job.name not in samples.list_jobs(cloud.client, PROJECT, LOCATION)


@pytest.mark.parametrize("batch", [False, True], ids=["preset", "preset-batch-mode"])
def test_preset_web_hd_job(cloud: Cloud, media, batch: bool) -> None:
    folder = "preset-batch" if batch else "preset"
    create = samples.create_job_from_preset_batch_mode if batch else samples.create_job_from_preset
    job = create(cloud.client, PROJECT, LOCATION, media["video"], _out(folder), "preset/web-hd")
    if batch:
        assert job.mode == transcoder_v1.Job.ProcessingMode.PROCESSING_MODE_BATCH and job.batch_mode_priority == 10
    out = _finish(cloud, job, folder)
    names = {p.name for p in out.iterdir()}
    assert {"sd.mp4", "hd.mp4", "media-sd.ts", "media-hd.ts", "video-only-sd.m4s", "video-only-hd.m4s",
            "audio-only.m4s", "manifest.m3u8", "manifest.mpd", "media-sd.m3u8", "media-hd.m3u8"} == names
    master = m3u8.load(str(out / "manifest.m3u8"))
    assert [p.stream_info.resolution for p in master.playlists] == [(640, 360), (1280, 720)]
    for playlist in master.playlists:
        assert sum(s.duration for s in m3u8.load(str(out / playlist.uri)).segments) == pytest.approx(16.0, abs=0.15)
    reps = [r.get("id") for r in ET.parse(out / "manifest.mpd").getroot().iter() if r.tag.endswith("Representation")]
    assert reps == ["video-only-sd", "video-only-hd", "audio-only"]
    assert _video(out / "hd.mp4")["duration"] == pytest.approx(16.0, abs=0.15)


# ------------------------------------------------------------------------------------------------ overlays, concat


def test_static_overlay_is_drawn_until_its_end_animation(cloud: Cloud, media) -> None:
    job = samples.create_job_with_static_overlay(cloud.client, PROJECT, LOCATION, media["video"], media["overlay"],
                                                 _out("static-overlay"))
    out = _finish(cloud, job, "static-overlay")
    sd = out / "sd.mp4"
    assert _video(sd)["size"] == (640, 360)
    # resolution (1, 0.5): the full width and half the height, at (0, 0), from 0 s until the end animation at 10 s
    assert _near(_pixel(sd, 2.0, 320, 60), RED), _pixel(sd, 2.0, 320, 60)
    assert _near(_pixel(sd, 2.0, 320, 300), GREY), _pixel(sd, 2.0, 320, 300)
    assert _near(_pixel(sd, 12.0, 320, 60), GREY), _pixel(sd, 12.0, 320, 60)


def test_animated_overlay_fades_in_and_out(cloud: Cloud, media) -> None:
    job = samples.create_job_with_animated_overlay(cloud.client, PROJECT, LOCATION, media["video"], media["overlay"],
                                                   _out("animated-overlay"))
    out = _finish(cloud, job, "animated-overlay")
    sd = out / "sd.mp4"
    x, y = 340, 200  # inside the image, whose top-left corner is the frame's centre (xy 0.5, 0.5)
    red_at = {t: _pixel(sd, t, x, y)[0] for t in (2.0, 7.5, 11.0, 13.5, 15.5)}
    assert _near(_pixel(sd, 2.0, x, y), GREY), red_at  # before the fade in (5-10 s): not shown
    assert _near(_pixel(sd, 11.0, x, y), RED), red_at  # between the fades: solid
    assert _near(_pixel(sd, 15.5, x, y), GREY), red_at  # after the fade out (12-15 s): gone
    assert GREY[0] + 30 < red_at[7.5] < RED[0] - 30, red_at  # half way through each fade: a mix
    assert GREY[0] + 30 < red_at[13.5] < RED[0] - 30, red_at


def test_concatenated_inputs_play_one_after_the_other(cloud: Cloud, media) -> None:
    job = samples.create_job_with_concatenated_inputs(cloud.client, PROJECT, LOCATION, media["concat1"], "0s",
                                                      "8.1s", media["concat2"], "3.5s", "15s", _out("concat"))
    out = _finish(cloud, job, "concat")
    sd = out / "sd.mp4"
    found = _video(sd)
    assert found["size"] == (640, 360) and found["codecs"] == ["aac", "h264"]
    assert found["duration"] == pytest.approx(8.1 + 11.5, abs=0.25), found
    assert _near(_pixel(sd, 4.0, 320, 180), BLUE), _pixel(sd, 4.0, 320, 180)
    assert _near(_pixel(sd, 12.0, 320, 180), GREEN), _pixel(sd, 12.0, 320, 180)


# ------------------------------------------------------------------------------------------------ captions


def _cues(path: Path) -> list[tuple[float, float, str]]:
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in pysubs2.SSAFile.from_string(path.read_text())]


def _closed_captions(source: Path) -> list[tuple[float, float, str]]:
    """The CEA-608 captions ffmpeg's decoder finds in the video of ``source`` (a file or playlist)."""
    movie = str(source.resolve()).replace(":", "\\:")
    srt = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"movie='{movie}'[out+subcc]", "-map", "0:s",
                          "-f", "srt", "-"], capture_output=True, text=True, check=True, timeout=60).stdout
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in pysubs2.SSAFile.from_string(srt)]


def test_standalone_captions_become_webvtt_renditions(cloud: Cloud, media) -> None:
    job = samples.create_job_with_standalone_captions(cloud.client, PROJECT, LOCATION, media["captioned"], media["en"],
                                                      media["es"], _out("standalone"))
    out = _finish(cloud, job, "standalone")
    assert {"manifest.m3u8", "sd-hls-fmp4.m3u8", "audio-hls-fmp4.m3u8", "text-vtt-en.m3u8", "text-vtt-es.m3u8",
            "text-vtt-en0000000000.vtt", "text-vtt-es0000000001.vtt"} <= {p.name for p in out.iterdir()}
    master = m3u8.load(str(out / "manifest.m3u8"))
    assert [(m.type, m.name, m.language, m.uri) for m in master.media if m.type == "SUBTITLES"] == [
        ("SUBTITLES", "English", "en-US", "text-vtt-en.m3u8"), ("SUBTITLES", "Spanish", "es-ES", "text-vtt-es.m3u8")]
    assert [(p.uri, p.stream_info.subtitles, p.stream_info.audio) for p in master.playlists] == [
        ("sd-hls-fmp4.m3u8", "subs", "audio")]
    spanish = m3u8.load(str(out / "text-vtt-es.m3u8"))
    assert [s.duration for s in spanish.segments] == pytest.approx([6.0, 2.0])
    assert [c[2] for s in spanish.segments for c in _cues(out / s.uri)] == [  # 5.5-7.5 s: in two segments
        "¿Dónde está la canción?", "Mañana, señor.", "Mañana, señor."]
    english = [c for s in m3u8.load(str(out / "text-vtt-en.m3u8")).segments for c in _cues(out / s.uri)]
    assert english == [(1.0, 2.5, "Hello from the sample."), (5.0, 7.0, "This caption crosses a segment."),
                       (5.0, 7.0, "This caption crosses a segment.")]
    with av.open(str(out / "manifest.m3u8")) as container:  # FFmpeg 8 (PyAV) reads renditions from the master
        assert [(s.metadata.get("language"), s.metadata.get("comment")) for s in container.streams
                if s.type == "subtitle"] == [("en-US", "English"), ("es-ES", "Spanish")]


def test_embedded_captions_are_cea608_in_every_video(cloud: Cloud, media) -> None:
    job = samples.create_job_with_embedded_captions(cloud.client, PROJECT, LOCATION, media["captioned"],
                                                    media["captions"], _out("embedded"))
    out = _finish(cloud, job, "embedded")
    assert {"manifest.m3u8", "manifest.mpd", "sd-hls.m3u8", "sd-hls.ts", "sd-dash.m4s", "audio-dash.m4s"} <= {
        p.name for p in out.iterdir()}
    master = m3u8.load(str(out / "manifest.m3u8"))
    assert [(m.name, m.language, m.instream_id) for m in master.media if m.type == "CLOSED-CAPTIONS"] == [
        ("English", "en-US", "CC1")]
    expected = [(1.0, 2.5, "Hello from the sample."), (5.0, 7.0, "This caption crosses a segment.")]
    for source in (out / "sd-hls.m3u8", out / "sd-dash.m4s"):  # the fMP4 read as a file (ffmpeg 5.1's DASH demuxer)
        found = _closed_captions(source)
        assert [c[2] for c in found] == [c[2] for c in expected], (source.name, found)
        for (start, end, _), (want_start, want_end, _) in zip(found, expected, strict=True):
            assert abs(start - want_start) < 0.15 and abs(end - want_end) < 0.15, (source.name, found)
    assert {r.get("id") for r in ET.parse(out / "manifest.mpd").getroot().iter()
            if r.tag.endswith("Representation")} == {"sd-dash", "audio-dash"}


# ------------------------------------------------------------------------------------------------ sprite sheets


@pytest.mark.parametrize("kind", ["periodic", "set-number"])
def test_sprite_sheets(cloud: Cloud, media, kind: str) -> None:
    create = (samples.create_job_with_periodic_images_spritesheet if kind == "periodic"
              else samples.create_job_with_set_number_images_spritesheet)
    job = create(cloud.client, PROJECT, LOCATION, media["video"], _out(f"sprites-{kind}"))
    out = _finish(cloud, job, f"sprites-{kind}")
    sheets = sorted(p.name for p in out.iterdir() if p.suffix == ".jpeg")
    assert "small-sprite-sheet0000000000.jpeg" in sheets and "large-sprite-sheet0000000000.jpeg" in sheets
    for prefix, (width, height) in (("small-sprite-sheet", (64, 32)), ("large-sprite-sheet", (128, 72))):
        size = _video(out / f"{prefix}0000000000.jpeg")["size"]
        if kind == "set-number":  # 100 sprites in one 10 x 10 sheet
            assert size == (10 * width, 10 * height), (prefix, size)
            assert [s for s in sheets if s.startswith(prefix)] == [f"{prefix}0000000000.jpeg"]
        else:  # every 7 s of 16 s: 3 sprites (0, 7, 14 s)
            assert size[0] % width == 0 and size[1] % height == 0 and size[0] * size[1] >= 3 * width * height, size
    assert _video(out / "sd.mp4")["duration"] == pytest.approx(16.0, abs=0.15)


# ------------------------------------------------------------------------------------------------ encryption


def _encryption(enc_id: str, mode: dict, drm: dict) -> dict:
    return {"id": enc_id, **mode, "secretManagerKeySource": {"secretVersion": SECRET}, "drmSystems": drm}


def _decoded(path: Path, kind: str, key: str | None = None) -> int:
    """Frames PyAV (FFmpeg 8, which decrypts cenc and cbcs) decodes from an fMP4 file."""
    with av.open(str(path), options={"decryption_key": key} if key else {}) as container:
        return sum(1 for _ in container.decode(**{kind: 0}))


def _frame_hashes(path: Path, kind: str, options: dict | None = None) -> list[str]:
    level = av.logging.get_level()
    av.logging.set_level(av.logging.PANIC)  # a keyless decode logs every damaged block
    try:
        with av.open(str(path), options=options or {}) as container:
            return [hashlib.md5(bytes(frame.planes[0])).hexdigest() for frame in container.decode(**{kind: 0})]
    finally:
        av.logging.set_level(level)


def _joined(out: Path, playlist: str) -> Path:
    """An HLS fMP4 media playlist's init and segments as one file (each URI once, in order)."""
    pl = m3u8.load(str(out / playlist))
    names = dict.fromkeys([pl.segment_map[0].uri] + [s.uri for s in pl.segments])
    path = out / f"{playlist}.mp4"
    path.write_bytes(b"".join((out / name).read_bytes() for name in names))
    return path


def test_aes128_hls_segments_decrypt_with_the_key_and_cenc_fmp4_needs_its_key(cloud: Cloud, media) -> None:
    video = {"key": "v", "videoStream": {"h264": {"heightPixels": 180, "widthPixels": 320, "bitrateBps": 300000,
                                                  "frameRate": 10, "gopDuration": "2s"}}}
    seg = {"segmentDuration": "4s"}
    body = {"inputUri": media["video"], "outputUri": _out("encrypted"), "config": {
        "elementaryStreams": [video, {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 64000}}],
        "muxStreams": [
            {"key": "hls-aes", "container": "ts", "elementaryStreams": ["v", "a"], "encryptionId": "clear",
             "segmentSettings": seg},
            {"key": "hls-aes-segments", "container": "ts", "elementaryStreams": ["v", "a"], "encryptionId": "clear",
             "segmentSettings": {**seg, "individualSegments": True}},
            {"key": "dash-v", "container": "fmp4", "elementaryStreams": ["v"], "encryptionId": "drm",
             "segmentSettings": seg},
            {"key": "hls-fairplay", "container": "fmp4", "elementaryStreams": ["v"], "encryptionId": "fairplay",
             "segmentSettings": seg},
            {"key": "dash-cbcs-audio", "container": "fmp4", "elementaryStreams": ["a"], "encryptionId": "cbcs",
             "segmentSettings": {**seg, "individualSegments": True}},
            {"key": "hls-sample-aes", "container": "ts", "elementaryStreams": ["v", "a"], "encryptionId": "sample-aes",
             "segmentSettings": {**seg, "individualSegments": True}}],
        "manifests": [{"type": "HLS", "muxStreams": ["hls-aes", "hls-aes-segments"]},
                      {"type": "DASH", "muxStreams": ["dash-v"]},
                      {"type": "HLS", "fileName": "fairplay.m3u8", "muxStreams": ["hls-fairplay"]},
                      {"type": "HLS", "fileName": "sample-aes.m3u8", "muxStreams": ["hls-sample-aes"]},
                      {"type": "DASH", "fileName": "cbcs.mpd", "muxStreams": ["dash-cbcs-audio"]}],
        "encryptions": [_encryption("clear", {"aes128": {}}, {"clearkey": {}}),
                        _encryption("drm", {"mpegCenc": {"scheme": "cenc"}}, {"widevine": {}, "playready": {}}),
                        _encryption("fairplay", {"mpegCenc": {"scheme": "cbcs"}}, {"fairplay": {}}),
                        _encryption("cbcs", {"mpegCenc": {"scheme": "cbcs"}}, {"widevine": {}}),
                        _encryption("sample-aes", {"sampleAes": {}}, {"fairplay": {}})]}}
    out = cloud.run(body)
    key = bytes.fromhex(AES_KEY)
    clear_ts = cloud.tmp / "hls-aes.m3u8.ts"
    for name in ("hls-aes.m3u8", "hls-aes-segments.m3u8"):
        playlist = m3u8.load(str(out / name))
        assert [(k.method, k.uri, k.iv) for k in playlist.keys] == [
            ("AES-128", "https://keys.kstream.test/episode-keys/1", None)]
        clear = b""
        for number, segment in enumerate(playlist.segments):  # IV: the media sequence number (RFC 8216 5.2)
            data = (out / segment.uri).read_bytes()
            if segment.byterange:
                length, _, offset = segment.byterange.partition("@")
                data = data[int(offset):int(offset) + int(length)]
            assert len(data) % 16 == 0 and data[0] != 0x47, name  # ciphertext, not TS packets
            clear += aes128_cbc_decrypt(data, key, number.to_bytes(16, "big"))
        assert clear[0] == 0x47 and clear[188] == 0x47, name
        (cloud.tmp / f"{name}.ts").write_bytes(clear)
        found = _video(cloud.tmp / f"{name}.ts")
        assert found["size"] == (320, 180) and found["codecs"] == ["aac", "h264"], found
        assert found["duration"] == pytest.approx(16.0, abs=0.2), found
        frames = subprocess.run(["ffmpeg", "-v", "error", "-i", str(cloud.tmp / f"{name}.ts"), "-map", "0:v",
                                 "-f", "framecrc", "-"], capture_output=True, text=True, check=True).stdout
        assert sum(1 for line in frames.splitlines() if line and not line.startswith("#")) == 160

    mpd = ET.parse(out / "manifest.mpd").getroot()
    protection = [(c.get("schemeIdUri"), c.get("value")) for c in mpd.iter() if c.tag.endswith("ContentProtection")]
    assert protection == [("urn:mpeg:dash:mp4protection:2011", "cenc"),
                          ("urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", "Widevine"),
                          ("urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95", "MSPR 2.0")]
    assert str(uuid.UUID(CENC_KID)) in (out / "manifest.mpd").read_text()
    assert _decoded(out / "dash-v.m4s", "video", CENC_KEY) == 160
    with pytest.raises(av.FFmpegError):
        _decoded(out / "dash-v.m4s", "video")

    # cbcs: HLS fMP4 for FairPlay (SAMPLE-AES key tag, the secret's skd:// URI) and DASH audio for Widevine
    fairplay = m3u8.load(str(out / "hls-fairplay.m3u8"))
    assert [(k.method, k.uri, k.keyformat) for k in fairplay.keys] == [
        ("SAMPLE-AES", f"skd://{FAIRPLAY_KID}", "com.apple.streamingkeydelivery")]
    assert _decoded(_joined(out, "hls-fairplay.m3u8"), "video", FAIRPLAY_KEY) == 160
    with pytest.raises(av.FFmpegError):
        _decoded(_joined(out, "hls-fairplay.m3u8"), "video")
    cbcs = ET.parse(out / "cbcs.mpd").getroot()
    assert [c.get("value") for c in cbcs.iter() if c.tag.endswith("ContentProtection")] == ["cbcs", "Widevine"]
    parts = ["dash-cbcs-audio-init.m4s", *sorted(p.name for p in out.glob("dash-cbcs-audio0*.m4s"))]
    audio = out / "audio.mp4"  # DASH only: no media playlist, the init and the segments in order
    audio.write_bytes(b"".join((out / name).read_bytes() for name in parts))
    assert _decoded(audio, "audio", CENC_KEY) == pytest.approx(16 * 48000 / 1024, abs=3)

    # SAMPLE-AES TS (FairPlay): slice NAL units and ADTS frames encrypted, PMT stream types 0xdb / 0xcf
    sample_aes = m3u8.load(str(out / "hls-sample-aes.m3u8"))
    assert [(k.method, k.uri, k.iv, k.keyformat) for k in sample_aes.keys] == [
        ("SAMPLE-AES", f"skd://{FAIRPLAY_KID}", f"0x{FAIRPLAY_IV}", "com.apple.streamingkeydelivery")]
    (out / "key.bin").write_bytes(bytes.fromhex(FAIRPLAY_KEY))
    uris = [s.uri for s in sample_aes.segments]
    # FFmpeg's HLS demuxer decrypts the packets its parser still holds at a segment's end with the NEXT segment's
    # key state (at the playlist's end: none); listing the last segment twice keeps every real frame decryptable
    (out / "local.m3u8").write_text("\n".join(
        ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD",
         f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="key.bin",IV=0x{FAIRPLAY_IV}']
        + [f"#EXTINF:4.0,\n{uri}" for uri in [*uris, uris[-1]]] + ["#EXT-X-ENDLIST"]) + "\n")
    for kind, count in (("video", 160), ("audio", None)):
        want = _frame_hashes(clear_ts, kind)
        got = _frame_hashes(out / "local.m3u8", kind, {"allowed_extensions": "ALL"})
        assert got[:len(want)] == want and (count is None or len(want) == count), kind
    assert _frame_hashes(out / uris[0], "video") != _frame_hashes(clear_ts, "video")[:40]  # no key: damaged


# ------------------------------------------------------------------------------------------------ validation errors


def _config(**sections) -> dict:
    config = {
        "elementaryStreams": [
            {"key": "v", "videoStream": {"h264": {"heightPixels": 180, "widthPixels": 320, "bitrateBps": 300000,
                                                  "frameRate": 10}}},
            {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 64000}}],
        "muxStreams": [{"key": "ts", "container": "ts", "elementaryStreams": ["v", "a"]},
                       {"key": "dash", "container": "fmp4", "elementaryStreams": ["v"]}],
        "manifests": [{"type": "HLS", "muxStreams": ["ts"]}],
    }
    config.update(sections)
    return config


def _with_mux(index: int, **fields) -> list[dict]:
    muxes = _config()["muxStreams"]
    muxes[index] = {**muxes[index], **fields}
    return muxes


AES = _encryption("k", {"aes128": {}}, {"clearkey": {}})
CENC = _encryption("k", {"mpegCenc": {"scheme": "cenc"}}, {"widevine": {}})
BAD_CONFIGS = {
    "input uri": ({"inputs": [{"key": "input0", "uri": "https://example.com/a.mp4"}]}, "job.config.inputs[0].uri"),
    "edit atom input": ({"editList": [{"key": "atom0", "inputs": ["nope"]}]}, "job.config.editList[0].inputs[0]"),
    "video height": ({"elementaryStreams": [{"key": "v", "videoStream": {"h264": {"heightPixels": 1, "bitrateBps": 1,
                                                                                  "frameRate": 10}}}]},
                     "job.config.elementaryStreams[0].videoStream.h264"),
    "audio codec": ({"elementaryStreams": [{"key": "a", "audioStream": {"codec": "flac", "bitrateBps": 64000}}]},
                    "job.config.elementaryStreams[0].audioStream.codec"),
    "mux container": ({"muxStreams": _with_mux(0, container="avi")}, "job.config.muxStreams[0].container"),
    "mux stream key": ({"muxStreams": _with_mux(1, elementaryStreams=["x"])},
                       "job.config.muxStreams[1].elementaryStreams[0]"),
    "manifest mux": ({"manifests": [{"type": "HLS", "muxStreams": ["missing"]}]},
                     "job.config.manifests[0].muxStreams[0]"),
    "dash of ts": ({"manifests": [{"type": "DASH", "muxStreams": ["ts"]}]}, "job.config.manifests[0].muxStreams[0]"),
    "sprite size": ({"spriteSheets": [{"filePrefix": "s", "spriteWidthPixels": 0, "spriteHeightPixels": 0}]},
                    "job.config.spriteSheets[0]"),
    "overlay uri": ({"overlays": [{"image": {"uri": "overlay.png"}, "animations": []}]},
                    "job.config.overlays[0].image.uri"),
    "pubsub topic": ({"pubsubDestination": {"topic": "done"}}, "job.config.pubsubDestination.topic"),
    "encryption id": ({"encryptions": [{**AES, "id": ""}]}, "job.config.encryptions[0].id"),
    "encryption mode": ({"encryptions": [{k: v for k, v in AES.items() if k != "aes128"}]},
                        "job.config.encryptions[0]: one of aes128, sampleAes or mpegCenc"),
    "cenc scheme": ({"encryptions": [_encryption("k", {"mpegCenc": {"scheme": "cens"}}, {"widevine": {}})]},
                    "job.config.encryptions[0].mpegCenc.scheme"),
    "secret alias": ({"encryptions": [{**AES, "secretManagerKeySource": {
        "secretVersion": "projects/p/secrets/s/versions/latest"}}]},
        "job.config.encryptions[0].secretManagerKeySource.secretVersion"),
    "secret source": ({"encryptions": [{k: v for k, v in AES.items() if k != "secretManagerKeySource"}]},
                      "job.config.encryptions[0].secretManagerKeySource"),
    "no drm": ({"encryptions": [{**AES, "drmSystems": {}}]}, "job.config.encryptions[0].drmSystems"),
    "drm for mode": ({"encryptions": [{**AES, "drmSystems": {"widevine": {}}}]},
                     "job.config.encryptions[0].drmSystems.widevine"),
    "encryption unknown": ({"muxStreams": _with_mux(0, encryptionId="nope"), "encryptions": [AES]},
                           "job.config.muxStreams[0].encryptionId"),
    "aes128 on fmp4": ({"muxStreams": _with_mux(1, encryptionId="k"), "encryptions": [AES]},
                       "job.config.muxStreams[1].encryptionId"),
    "cenc on ts": ({"muxStreams": _with_mux(0, encryptionId="k"), "encryptions": [CENC]},
                   "job.config.muxStreams[0].encryptionId"),
    "cenc in hls": ({"muxStreams": _with_mux(1, encryptionId="k"), "encryptions": [CENC],
                     "manifests": [{"type": "HLS", "muxStreams": ["ts", "dash"]}]},
                    "job.config.muxStreams[1].encryptionId"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_configs_are_invalid_argument_naming_the_field(cloud: Cloud, media, case: str) -> None:
    sections, field = BAD_CONFIGS[case]
    body = {"inputUri": media["video"], "outputUri": _out("never"), "config": _config(**sections)}
    with pytest.raises(exceptions.BadRequest) as caught:  # the client's class for an HTTP 400
        cloud.create(body)
    assert caught.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert field in caught.value.message, caught.value.message
