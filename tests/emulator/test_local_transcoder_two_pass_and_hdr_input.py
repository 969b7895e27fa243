"""Two-pass encoding and HDR inputs through the local Transcoder (official client over REST, real ffmpeg).

enableTwoPass: ffmpeg runs twice, the first run writes x264's and x265's rate-control statistics beside the output
folder, the second reads them, and the outputs land near their target bitrate (x264 5 %, x265 15 % on 30 frames).
An HLG input (made here with zscale, tagged ARIB STD-B67 / BT.2020): asked ``sdr`` it is tone-mapped to SDR BT.709
(tags, black and white levels read back); asked ``hlg``, or nothing (passthrough, as the reference says), it keeps
its levels and tags; the HLS master says VIDEO-RANGE=HLG and the MPD the HLG transfer (18) for those renditions
only. Media are tiny (3 s and 2 s at 320x180, 10 fps)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import pytest

from local_emulator.transcoder.runner import JobRunner
from tests.emulator.test_local_transcoder_harness import BUCKET, Cloud, ffmpeg, ffprobe, start_cloud

VIDEO = {"heightPixels": 180, "widthPixels": 320, "frameRate": 10, "gopDuration": "1s"}
TARGET = 200_000


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    yield from start_cloud(tmp_path_factory.mktemp("transcoder-two-pass-hdr"))


def test_two_pass_runs_a_first_pass_whose_statistics_the_second_reads(cloud: Cloud, monkeypatch) -> None:
    source = cloud.tmp / "moving.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=10:d=3", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=48000:duration=3", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", "-shortest", str(source))
    uri = cloud.upload("twopass/in/moving.mp4", source.read_bytes())
    runs: list[tuple[list[str], dict[str, bytes]]] = []
    original = JobRunner._run_ffmpeg

    def recording(self, record, argv, cwd, *args, **kwargs):
        original(self, record, argv, cwd, *args, **kwargs)
        workdir = Path(cwd).parent  # the job's work dir: the statistics are kept beside the output folder
        runs.append((argv, {p.name: p.read_bytes()[:64] for p in workdir.iterdir() if p.name.startswith("twopass")}))

    monkeypatch.setattr(JobRunner, "_run_ffmpeg", recording)
    folder = cloud.run({"inputUri": uri, "outputUri": f"gs://{BUCKET}/twopass/out/", "config": {
        "elementaryStreams": [
            {"key": "avc", "videoStream": {"h264": {**VIDEO, "bitrateBps": TARGET, "enableTwoPass": True}}},
            {"key": "hevc", "videoStream": {"h265": {**VIDEO, "bitrateBps": TARGET, "enableTwoPass": True}}},
            {"key": "aac", "audioStream": {"codec": "aac", "bitrateBps": 64000}}],
        "muxStreams": [{"key": "avc", "container": "mp4", "elementaryStreams": ["avc", "aac"]},
                       {"key": "hevc", "container": "mp4", "elementaryStreams": ["hevc", "aac"]}]}})
    assert len(runs) == 2 and runs[0][0][-3:] == ["-f", "null", "-"] and runs[1][0][-3:-1] == ["-f", "tee"]
    first_stats = runs[0][1]
    assert first_stats["twopass-v0-0.log"].startswith(b"#options:")  # x264's pass-1 statistics
    assert first_stats["twopass-v1.log"].startswith(b"#options:")  # x265's
    assert {"twopass-v0-0.log.mbtree", "twopass-v1.log.cutree"} <= set(first_stats)
    assert not any(name.startswith("twopass") for name in os.listdir(folder))  # nothing of it uploaded
    # measured here: x264 -2.4 % (one pass: +7.8 %), x265 +9.7 % (one pass: +20 %): 30 frames leave x265 little room
    for name, codec, tolerance in (("avc", "h264", 0.05), ("hevc", "hevc", 0.15)):
        probe = ffprobe(folder / f"{name}.mp4", "-count_frames")
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        assert video["codec_name"] == codec and int(video["nb_read_frames"]) == 30
        assert abs(float(probe["format"]["duration"]) - 3.0) < 0.15
        assert abs(int(video["bit_rate"]) - TARGET) < tolerance * TARGET, (name, video["bit_rate"])


def _luma(path: Path) -> tuple[int, int]:
    """8-bit luma of the black left half and the white right half of the first frame."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).reformat(format="yuv420p")
        plane = bytes(frame.planes[0])
        row = frame.height // 2 * frame.planes[0].line_size
        return plane[row + frame.width // 4], plane[row + frame.width * 3 // 4]


def test_an_hlg_input_is_tone_mapped_by_sdr_and_kept_as_hlg_otherwise(cloud: Cloud) -> None:
    source = cloud.tmp / "hlg.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=320x180:r=10:d=2,drawbox=x=0:y=0:w=160:h=180:color=black:t=fill",
           "-vf", "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=linear:m=gbr:p=bt709:r=full:npl=203,"
           "format=gbrpf32le,zscale=tin=linear:min=gbr:pin=bt709:rin=full:t=arib-std-b67:m=bt2020nc:p=bt2020:"
           "r=tv:npl=203,format=yuv420p10le", "-c:v", "libx264", "-preset", "ultrafast", "-color_primaries",
           "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc", "-color_range", "tv", str(source))
    assert _luma(source) == (16, 180)  # HLG: SDR white at 75 % (10-bit 721)
    uri = cloud.upload("hlgin/in/hlg.mp4", source.read_bytes())
    keys = ("sdr", "none", "keep")
    folder = cloud.run({"inputUri": uri, "outputUri": f"gs://{BUCKET}/hlgin/out/", "config": {
        "elementaryStreams": [
            {"key": "sdr", "videoStream": {"h264": {**VIDEO, "bitrateBps": 400_000, "sdr": {}}}},
            {"key": "none", "videoStream": {"h264": {**VIDEO, "bitrateBps": 400_000}}},
            {"key": "keep", "videoStream": {"h265": {**VIDEO, "bitrateBps": 400_000, "hlg": {},
                                                     "pixelFormat": "yuv420p10", "profile": "main10"}}}],
        "muxStreams": [{"key": key, "container": "mp4", "elementaryStreams": [key]} for key in keys]
        + [{"key": f"hls-{key}", "container": "fmp4", "elementaryStreams": [key]} for key in keys],
        "manifests": [{"fileName": f"manifest.{ext}", "type": kind, "muxStreams": [f"hls-{key}" for key in keys]}
                      for ext, kind in (("m3u8", "HLS"), ("mpd", "DASH"))]}})

    def tags(name: str) -> tuple:
        stream = ffprobe(folder / f"{name}.mp4", "-select_streams", "v:0")["streams"][0]
        return (stream["pix_fmt"], stream.get("color_primaries"), stream.get("color_transfer"),
                stream.get("color_space"))

    assert tags("sdr") == ("yuv420p", "bt709", "bt709", "bt709")
    black, white = _luma(folder / "sdr.mp4")
    assert 16 <= black <= 20 and 200 <= white <= 235, (black, white)  # limited range, white stays near white
    assert tags("keep") == ("yuv420p10le", "bt2020", "arib-std-b67", "bt2020nc")
    assert tags("none") == ("yuv420p", "bt2020", "arib-std-b67", "bt2020nc")  # 8-bit as set, the input's colour
    for name in ("keep", "none"):
        black, white = _luma(folder / f"{name}.mp4")
        assert black <= 18 and abs(white - 180) <= 2, (name, black, white)  # HLG's own levels, not converted
    master = (folder / "manifest.m3u8").read_text()
    variants = {line: master.splitlines()[n + 1] for n, line in enumerate(master.splitlines())
                if line.startswith("#EXT-X-STREAM-INF:")}
    assert sorted((uri, "VIDEO-RANGE=HLG" in info) for info, uri in variants.items()) == [
        ("hls-keep.m3u8", True), ("hls-none.m3u8", True), ("hls-sdr.m3u8", False)]
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    transfers = {rep.get("id"): sorted(p.get("value") for p in rep
                                       if p.get("schemeIdUri", "").endswith("TransferCharacteristics"))
                 for rep in ET.parse(folder / "manifest.mpd").iterfind(".//d:Representation", ns)}
    assert transfers == {"hls-keep": ["14", "18"], "hls-none": ["14", "18"], "hls-sdr": []}
