"""Google's own python-docs-samples (video/transcoder, copied verbatim into google_samples/) run UNCHANGED against
the local Transcoder: the caption samples build their client with a bare ``TranscoderServiceClient()``; the test
points every such client at the emulator by wrapping the class's constructor (REST transport, the emulator's
endpoint, anonymous credentials) -- the sample's source is executed as it is.

Inputs are generated (no media committed): an 8 s 320x240 clip with a tone, and SRT files in English and Spanish.
The outputs are read with m3u8, pysubs2, ffprobe and ffmpeg's closed-caption decoder (``movie=...[out+subcc]``)."""

from __future__ import annotations

import importlib.util
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import m3u8
import pysubs2
import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.video import transcoder_v1
from google.cloud.video.transcoder_v1.services.transcoder_service import TranscoderServiceClient

from tests.emulator.test_local_transcoder_harness import BUCKET, PROJECT, Cloud, ffmpeg, ffprobe, start_cloud

SAMPLES = Path(__file__).parent / "google_samples"
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


def _sample(name: str):
    """Import google_samples/<name>.py as it is."""
    spec = importlib.util.spec_from_file_location(f"google_sample_{name}", SAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    yield from start_cloud(tmp_path_factory.mktemp("transcoder-samples"))


@pytest.fixture
def emulator_default(cloud: Cloud, monkeypatch):
    """``TranscoderServiceClient()`` with no arguments talks to the emulator over REST, anonymously."""
    original = TranscoderServiceClient.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("transport", "rest")
        kwargs.setdefault("credentials", AnonymousCredentials())
        kwargs.setdefault("client_options", ClientOptions(api_endpoint=cloud.url))
        original(self, *args, **kwargs)

    monkeypatch.setattr(TranscoderServiceClient, "__init__", init)


@pytest.fixture(scope="module")
def inputs(cloud: Cloud) -> dict[str, str]:
    video = cloud.tmp / "ChromeCast.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=8", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000:duration=8", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", str(video))
    return {"video": cloud.upload("samples/ChromeCast.mp4", video.read_bytes()),
            "captions": cloud.upload("samples/captions.srt", CAPTIONS_EN.encode()),
            "en": cloud.upload("samples/subtitles-en.srt", CAPTIONS_EN.encode()),
            "es": cloud.upload("samples/subtitles-es.srt", SUBTITLES_ES.encode())}


def _cues(path: Path) -> list[tuple[float, float, str]]:
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in pysubs2.SSAFile.from_string(path.read_text())]


def _closed_captions(source: Path) -> list[tuple[float, float, str]]:
    """The CEA-608 captions ffmpeg's decoder finds in the video of ``source`` (a file or playlist)."""
    movie = str(source.resolve()).replace(":", "\\:")
    srt = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"movie='{movie}'[out+subcc]", "-map", "0:s",
                          "-f", "srt", "-"], capture_output=True, text=True, check=True, timeout=60).stdout
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in pysubs2.SSAFile.from_string(srt)]


def test_create_job_with_standalone_captions_runs_unchanged(cloud: Cloud, inputs, emulator_default, capsys) -> None:
    sample = _sample("create_job_with_standalone_captions")
    job = sample.create_job_with_standalone_captions(PROJECT, "us-central1", inputs["video"], inputs["en"],
                                                     inputs["es"], f"gs://{BUCKET}/samples/standalone/")
    assert capsys.readouterr().out == f"Job: {job.name}\n"
    done = cloud.wait(job.name)
    assert done.state == transcoder_v1.Job.ProcessingState.SUCCEEDED, done.error
    out = cloud.download("samples/standalone/")
    assert {"manifest.m3u8", "sd-hls-fmp4.m3u8", "audio-hls-fmp4.m3u8", "text-vtt-en.m3u8", "text-vtt-es.m3u8",
            "text-vtt-en0000000000.vtt", "text-vtt-en0000000001.vtt", "text-vtt-es0000000001.vtt"} <= {
        p.name for p in out.iterdir()}

    master = m3u8.load(str(out / "manifest.m3u8"))
    assert [(m.type, m.name, m.language, m.uri) for m in master.media if m.type == "SUBTITLES"] == [
        ("SUBTITLES", "English", "en-US", "text-vtt-en.m3u8"), ("SUBTITLES", "Spanish", "es-ES", "text-vtt-es.m3u8")]
    assert [(p.uri, p.stream_info.subtitles, p.stream_info.audio) for p in master.playlists] == [
        ("sd-hls-fmp4.m3u8", "subs", "audio")]
    assert master.playlists[0].stream_info.resolution == (640, 360)

    spanish = m3u8.load(str(out / "text-vtt-es.m3u8"))
    assert [s.duration for s in spanish.segments] == pytest.approx([6.0, 2.0])
    assert [c[2] for s in spanish.segments for c in _cues(out / s.uri)] == [  # 5.5-7.5 s: in both segments
        "¿Dónde está la canción?", "Mañana, señor.", "Mañana, señor."]
    english = [c for s in m3u8.load(str(out / "text-vtt-en.m3u8")).segments for c in _cues(out / s.uri)]
    assert english == [(1.0, 2.5, "Hello from the sample."), (5.0, 7.0, "This caption crosses a segment."),
                       (5.0, 7.0, "This caption crosses a segment.")]
    assert [s["codec_name"] for s in ffprobe(out / "text-vtt-en.m3u8")["streams"]] == ["webvtt"]
    with av.open(str(out / "manifest.m3u8")) as container:  # FFmpeg 8 (PyAV) reads renditions from the master
        assert [(s.metadata.get("language"), s.metadata.get("comment")) for s in container.streams
                if s.type == "subtitle"] == [("en-US", "English"), ("es-ES", "Spanish")]


def test_create_job_with_embedded_captions_runs_unchanged(cloud: Cloud, inputs, emulator_default, capsys) -> None:
    sample = _sample("create_job_with_embedded_captions")
    job = sample.create_job_with_embedded_captions(PROJECT, "us-central1", inputs["video"], inputs["captions"],
                                                   f"gs://{BUCKET}/samples/embedded/")
    assert capsys.readouterr().out == f"Job: {job.name}\n"
    done = cloud.wait(job.name)
    assert done.state == transcoder_v1.Job.ProcessingState.SUCCEEDED, done.error
    out = cloud.download("samples/embedded/")
    assert {"manifest.m3u8", "manifest.mpd", "sd-hls.m3u8", "sd-hls.ts", "sd-dash.m4s", "audio-dash.m4s"} <= {
        p.name for p in out.iterdir()}

    master = m3u8.load(str(out / "manifest.m3u8"))
    captions = [m for m in master.media if m.type == "CLOSED-CAPTIONS"]
    assert [(m.name, m.language, m.instream_id) for m in captions] == [("English", "en-US", "CC1")]
    assert master.playlists[0].stream_info.closed_captions.strip('"') == "cc"  # m3u8 keeps the quotes

    expected = [(1.0, 2.5, "Hello from the sample."), (5.0, 7.0, "This caption crosses a segment.")]
    # the TS for HLS and the fMP4 for DASH both carry them (the fMP4 read as a file: Debian's ffmpeg 5.1 DASH demuxer
    # never ends decoding a single-file SegmentList MPD, with or without captions)
    for source in (out / "sd-hls.m3u8", out / "sd-dash.m4s"):
        found = _closed_captions(source)
        assert [c[2] for c in found] == [c[2] for c in expected], (source.name, found)
        for (start, end, _), (want_start, want_end, _) in zip(found, expected, strict=True):
            assert abs(start - want_start) < 0.15 and abs(end - want_end) < 0.15, (source.name, found)
    assert {r.get("id") for r in ET.parse(out / "manifest.mpd").getroot().iter()
            if r.tag.endswith("Representation")} == {"sd-dash", "audio-dash"}
