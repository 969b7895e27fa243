"""container_probe: real files made by ffmpeg (checked against ffprobe), hand-built edge cases, and crafted input."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from kstream.transcode.container_probe import (
    HEAD_BYTES,
    MAX_RANGE_CALLS,
    MAX_TOTAL_BYTES,
    SourceInfo,
    UnsupportedSource,
    probe,
)

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg and ffprobe"
)


# --------------------------------------------------------------------------------------------------------------------
# helpers


class RangeSource:
    """A read_range over bytes that counts calls and bytes, like a GCS object read by ranges."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []
        self.bytes_read = 0

    def __call__(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length >= 0, (offset, length)
        self.calls.append((offset, length))
        chunk = self.data[offset : offset + length]
        self.bytes_read += len(chunk)
        return chunk

    def probe(self, size: int | None = None) -> SourceInfo:
        return probe(self, len(self.data) if size is None else size)


class VirtualSource(RangeSource):
    """A huge object of which only ``prefix`` and ``patches`` have content (zeros elsewhere), never materialised."""

    def __init__(self, size: int, patches: dict[int, bytes]) -> None:
        super().__init__(b"")
        self.size = size
        self.patches = patches

    def __call__(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length >= 0
        self.calls.append((offset, length))
        end = min(self.size, offset + length)
        out = bytearray(max(0, end - offset))
        for at, blob in self.patches.items():
            lo, hi = max(offset, at), min(end, at + len(blob))
            if lo < hi:
                out[lo - offset : hi - offset] = blob[lo - at : hi - at]
        self.bytes_read += len(out)
        return bytes(out)

    def probe(self, size: int | None = None) -> SourceInfo:
        return probe(self, self.size)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


def _ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def _expected(path: Path) -> dict:
    """What ffprobe says, reduced to SourceInfo's terms (display size after rotation)."""
    info = _ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    rotation = 0
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            rotation = int(side["rotation"]) % 360
    rotation = rotation or int(video.get("tags", {}).get("rotate", 0)) % 360
    width, height = video["width"], video["height"]
    if rotation in (90, 270):
        width, height = height, width
    num, den = (int(x) for x in video["avg_frame_rate"].split("/"))
    return {
        "width": width,
        "height": height,
        "rotated": rotation in (90, 270),
        "duration": float(info["format"]["duration"]) if "duration" in info["format"] else None,
        "video_codec": video["codec_name"],
        "audio_codec": audio["codec_name"] if audio else None,
        "channels": audio.get("channels") if audio else None,
        "fps": num / den if den else None,
    }


SRC = ["-f", "lavfi", "-i"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "64k"]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probe_media")
    p = {name: d / name for name in (
        "landscape.mp4", "faststart.mp4", "portrait.mp4", "rotated.mp4", "clip.mov", "clip.mkv", "live.mkv",
        "vp9.webm", "vp8.webm", "noaudio.mp4", "audio.m4a", "fragmented.mp4", "sidx.mp4", "big.mp4",
    )}  # fmt: skip
    video = "testsrc2=s={}:r=30:d=1"
    tone = ["-f", "lavfi", "-i", "sine=f=440:d=1"]
    _ffmpeg(*SRC, video.format("640x360"), *tone, *H264, *AAC, "-shortest", str(p["landscape.mp4"]))
    _ffmpeg("-i", str(p["landscape.mp4"]), "-c", "copy", "-movflags", "+faststart", str(p["faststart.mp4"]))
    _ffmpeg(*SRC, video.format("360x640"), *tone, *H264, *AAC, "-shortest", str(p["portrait.mp4"]))
    # ffmpeg 5.1: the legacy stream tag becomes the tkhd display matrix (what phones write for portrait clips)
    _ffmpeg("-i", str(p["landscape.mp4"]), "-c", "copy", "-metadata:s:v", "rotate=90", str(p["rotated.mp4"]))
    _ffmpeg("-i", str(p["landscape.mp4"]), "-c", "copy", str(p["clip.mov"]))
    _ffmpeg("-i", str(p["landscape.mp4"]), "-c", "copy", str(p["clip.mkv"]))
    _ffmpeg("-i", str(p["landscape.mp4"]), "-an", "-c", "copy", str(p["noaudio.mp4"]))
    _ffmpeg("-i", str(p["landscape.mp4"]), "-vn", "-c", "copy", str(p["audio.m4a"]))
    _ffmpeg(
        "-i", str(p["landscape.mp4"]), "-c", "copy", "-movflags", "frag_keyframe+empty_moov", str(p["fragmented.mp4"])
    )  # fmt: skip
    _ffmpeg("-i", str(p["landscape.mp4"]), "-c", "copy", "-movflags", "frag_keyframe+empty_moov+global_sidx",
            str(p["sidx.mp4"]))  # fmt: skip
    # written to a pipe, the muxer cannot seek back: unknown-size Segment and Clusters, no Duration
    with p["live.mkv"].open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(p["landscape.mp4"]),
             "-c", "copy", "-f", "matroska", "pipe:1"],
            check=True, stdout=out,
        )  # fmt: skip
    fast_vpx = ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "150k"]
    _ffmpeg(*SRC, video.format("320x180"), *tone, "-c:v", "libvpx-vp9", *fast_vpx, "-c:a", "libopus",
            "-shortest", str(p["vp9.webm"]))  # fmt: skip
    _ffmpeg(*SRC, video.format("320x240"), *tone, "-c:v", "libvpx", *fast_vpx, "-c:a", "libvorbis",
            "-shortest", str(p["vp8.webm"]))  # fmt: skip
    # lossless noise: ~6 MB of mdat in front of a moov at the end
    _ffmpeg(*SRC, "nullsrc=s=320x240:r=25:d=2,geq=random(1)*255:128:128", "-c:v", "libx264", "-preset",
            "ultrafast", "-qp", "0", str(p["big.mp4"]))  # fmt: skip
    return p


# --------------------------------------------------------------------------------------------------------------------
# real files against ffprobe

VALID = [
    # name, container, has_audio
    ("landscape.mp4", "mp4", True),
    ("faststart.mp4", "mp4", True),
    ("portrait.mp4", "mp4", True),
    ("rotated.mp4", "mp4", True),
    ("clip.mov", "mov", True),
    ("clip.mkv", "matroska", True),
    ("live.mkv", "matroska", True),
    ("vp9.webm", "webm", True),
    ("vp8.webm", "webm", True),
    ("noaudio.mp4", "mp4", False),
    ("fragmented.mp4", "mp4", True),
    ("big.mp4", "mp4", False),
]


@pytest.mark.parametrize(("name", "container", "has_audio"), VALID)
def test_matches_ffprobe(media: dict[str, Path], name: str, container: str, has_audio: bool) -> None:
    path = media[name]
    src = RangeSource(path.read_bytes())
    info = src.probe()
    want = _expected(path)
    assert (info.width, info.height) == (want["width"], want["height"])
    assert info.container == container
    assert info.has_video is True
    assert info.has_audio is has_audio
    assert info.video_codec == want["video_codec"]
    assert info.audio_codec == want["audio_codec"]
    assert info.audio_channels == want["channels"]
    if info.duration_seconds is not None:
        assert info.duration_seconds == pytest.approx(want["duration"], abs=0.05)
    else:  # only where the header does not carry it
        assert name in ("live.mkv", "fragmented.mp4")
    if info.frame_rate is not None:
        assert info.frame_rate == pytest.approx(want["fps"], rel=0.02)
    assert info.rotation in ((90, 270) if want["rotated"] else (0, 180))
    assert len(src.calls) <= 3
    assert src.bytes_read <= 3 * HEAD_BYTES


def test_durations_of_finished_files_are_known(media: dict[str, Path]) -> None:
    for name in ("landscape.mp4", "faststart.mp4", "clip.mov", "clip.mkv", "vp9.webm", "vp8.webm"):
        info = RangeSource(media[name].read_bytes()).probe()
        assert info.duration_seconds == pytest.approx(1.0, abs=0.05), name
        assert info.frame_rate == pytest.approx(30.0, abs=0.01), name
    # fragmented MP4 with an empty moov: the duration comes from the global segment index. (Not compared with
    # ffprobe: ffmpeg 5.1's stream copy into global_sidx writes sample data its own demuxer cannot decode.)
    info = RangeSource(media["sidx.mp4"].read_bytes()).probe()
    assert (info.width, info.height) == (640, 360)
    assert info.duration_seconds == pytest.approx(1.0, abs=0.05)


def test_landscape_and_portrait(media: dict[str, Path]) -> None:
    land = RangeSource(media["landscape.mp4"].read_bytes()).probe()
    assert (land.width, land.height, land.is_portrait, land.short_side) == (640, 360, False, 360)
    port = RangeSource(media["portrait.mp4"].read_bytes()).probe()
    assert (port.width, port.height, port.is_portrait, port.rotation) == (360, 640, True, 0)


def test_rotation_matrix_gives_display_size(media: dict[str, Path]) -> None:
    info = RangeSource(media["rotated.mp4"].read_bytes()).probe()
    # stored 640x360 with a 90-degree display matrix: shown as portrait 360x640
    assert (info.width, info.height) == (360, 640)
    assert info.rotation == 90
    assert (info.stored_width, info.stored_height) == (640, 360)


def test_faststart_needs_one_read(media: dict[str, Path]) -> None:
    src = RangeSource(media["faststart.mp4"].read_bytes())
    src.probe()
    assert src.calls == [(0, HEAD_BYTES)]


def test_moov_at_end_skips_mdat(media: dict[str, Path]) -> None:
    data = media["big.mp4"].read_bytes()
    assert len(data) > 5_000_000
    assert data.find(b"moov") > len(data) - 200_000  # moov really is after the media data
    src = RangeSource(data)
    info = src.probe()
    assert (info.width, info.height) == (320, 240)
    assert info.duration_seconds == pytest.approx(2.0, abs=0.05)
    assert len(src.calls) == 2  # head, then the moov at the end
    assert src.bytes_read < 1024 * 1024


# --------------------------------------------------------------------------------------------------------------------
# rejected input


def test_audio_only_is_rejected(media: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedSource, match="no video track"):
        RangeSource(media["audio.m4a"].read_bytes()).probe()


def test_audio_only_webm_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "audio.webm"
    _ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "libopus", str(path))
    with pytest.raises(UnsupportedSource, match="no video track"):
        RangeSource(path.read_bytes()).probe()


def test_empty_and_tiny_files() -> None:
    with pytest.raises(UnsupportedSource, match="empty"):
        RangeSource(b"").probe()
    with pytest.raises(UnsupportedSource, match="too small"):
        RangeSource(b"\x00\x00\x00\x08ftyp").probe()


def test_random_bytes() -> None:
    rng = random.Random(1234)
    for _ in range(50):
        data = rng.randbytes(rng.randint(16, 200_000))
        with pytest.raises(UnsupportedSource):
            RangeSource(data).probe()


def test_text_and_image_files_are_rejected() -> None:
    with pytest.raises(UnsupportedSource, match="unrecognised"):
        RangeSource(b"<html><body>not a video</body></html>" * 10).probe()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    with pytest.raises(UnsupportedSource, match="unrecognised"):
        RangeSource(png).probe()


def test_truncated_upload_without_moov(media: dict[str, Path]) -> None:
    data = media["landscape.mp4"].read_bytes()  # moov at the end
    with pytest.raises(UnsupportedSource, match="moov"):
        RangeSource(data[: int(len(data) * 0.6)]).probe()


def test_truncated_inside_moov(media: dict[str, Path]) -> None:
    data = media["faststart.mp4"].read_bytes()
    with pytest.raises(UnsupportedSource, match="truncated"):
        RangeSource(data[:2000]).probe()


def test_truncated_matroska_header(media: dict[str, Path]) -> None:
    data = media["clip.mkv"].read_bytes()
    with pytest.raises(UnsupportedSource):
        RangeSource(data[:120]).probe()


def test_object_shorter_than_its_declared_size(media: dict[str, Path]) -> None:
    data = media["landscape.mp4"].read_bytes()
    with pytest.raises(UnsupportedSource, match="truncated"):
        RangeSource(data[: len(data) - 500]).probe(size=len(data))


@pytest.mark.parametrize("name", [n for n, _, _ in VALID if n != "big.mp4"] + ["audio.m4a"])
def test_every_truncation_fails_cleanly(media: dict[str, Path], name: str) -> None:
    """Cut anywhere: a SourceInfo (header intact) or UnsupportedSource, never another exception."""
    data = media[name].read_bytes()
    cuts = sorted(set(range(0, min(len(data), 6000), 37)) | {len(data) - k for k in (1, 7, 100, 5000)})
    for cut in cuts:
        if cut <= 0:
            continue
        src = RangeSource(data[:cut])
        try:
            src.probe()
        except UnsupportedSource:
            pass
        assert len(src.calls) <= MAX_RANGE_CALLS


@pytest.mark.parametrize("name", ["faststart.mp4", "landscape.mp4", "clip.mkv", "vp9.webm", "live.mkv", "clip.mov"])
def test_corrupted_headers_fail_cleanly(media: dict[str, Path], name: str) -> None:
    """Random byte changes in the header region: success or UnsupportedSource, bounded reads, no other error."""
    original = media[name].read_bytes()
    moov = original.find(b"moov")
    start = moov - 4 if name == "landscape.mp4" else 0  # the header region of a moov-at-end file is at the end
    rng = random.Random(name)
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            at = start + rng.randrange(min(3000, len(original) - start))
            data[at] = rng.choice([0x00, 0xFF, 0x01, 0x7F, 0x80, rng.randrange(256)])
        src = RangeSource(bytes(data))
        try:
            src.probe()
        except UnsupportedSource:
            pass
        assert len(src.calls) <= MAX_RANGE_CALLS
        assert src.bytes_read <= MAX_TOTAL_BYTES


# --------------------------------------------------------------------------------------------------------------------
# ISO BMFF box-size forms and crafted sizes


def _box(btype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + btype + body


def test_largesize_mdat(media: dict[str, Path]) -> None:
    data = bytearray(media["landscape.mp4"].read_bytes())
    # ffmpeg leaves an 8-byte 'free' box in front of mdat exactly so mdat can become a 64-bit box
    free = data.find(b"\x00\x00\x00\x08free")
    assert free > 0 and data[free + 12 : free + 16] == b"mdat"
    mdat_size = struct.unpack_from(">I", data, free + 8)[0]
    data[free : free + 16] = struct.pack(">I4sQ", 1, b"mdat", mdat_size + 8)
    info = RangeSource(bytes(data)).probe()
    assert (info.width, info.height) == (640, 360)


def test_size_zero_box_extends_to_end(media: dict[str, Path]) -> None:
    data = bytearray(media["faststart.mp4"].read_bytes())  # ftyp, moov, free, mdat (last)
    mdat = data.rfind(b"mdat") - 4
    data[mdat : mdat + 4] = b"\x00\x00\x00\x00"
    info = RangeSource(bytes(data)).probe()
    assert (info.width, info.height) == (640, 360)


def test_oversized_moov_is_refused_without_reading_it() -> None:
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    moov_header = struct.pack(">I4s", 100 * 1024 * 1024, b"moov")
    src = VirtualSource(300 * 1024 * 1024, {0: ftyp + moov_header})
    with pytest.raises(UnsupportedSource, match="larger than"):
        src.probe()
    assert src.bytes_read <= HEAD_BYTES


def test_moov_past_end_of_file() -> None:
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    moov_header = struct.pack(">I4s", 50_000, b"moov")
    with pytest.raises(UnsupportedSource, match="truncated"):
        RangeSource(ftyp + moov_header + b"\x00" * 100).probe()


def test_many_top_level_boxes_hit_the_read_limit() -> None:
    """A crafted file of 70 KiB 'free' boxes: each header needs a new read; the probe gives up, bounded."""
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    step = 70 * 1024
    patches = {0: ftyp}
    pos = len(ftyp)
    for _ in range(200):
        patches[pos] = struct.pack(">I4s", step, b"free")
        pos += step
    src = VirtualSource(pos + 1000, patches)
    with pytest.raises(UnsupportedSource, match="too many reads"):
        src.probe()
    assert len(src.calls) == MAX_RANGE_CALLS


def test_zero_size_boxes_do_not_loop() -> None:
    data = _box(b"ftyp", b"isom\x00\x00\x02\x00") + struct.pack(">I4s", 4, b"free") + b"\x00" * 64
    with pytest.raises(UnsupportedSource):
        RangeSource(data).probe()


def test_moov_without_video_track_sizes() -> None:
    """A video track whose tkhd and sample entry say 0x0 is not a usable source."""
    mvhd = _box(b"mvhd", b"\x00" * 12 + struct.pack(">II", 1000, 5000) + b"\x00" * 80)
    tkhd = _box(b"tkhd", b"\x00\x00\x00\x03" + b"\x00" * 76 + struct.pack(">II", 0, 0))
    hdlr = _box(b"hdlr", b"\x00" * 8 + b"vide" + b"\x00" * 12)
    mdhd = _box(b"mdhd", b"\x00" * 12 + struct.pack(">II", 1000, 5000) + b"\x00" * 4)
    trak = _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr))
    data = _box(b"ftyp", b"isom\x00\x00\x02\x00") + _box(b"moov", mvhd + trak)
    with pytest.raises(UnsupportedSource, match="picture size"):
        RangeSource(data).probe()


def test_read_errors_propagate() -> None:
    """Transport errors are not a verdict on the file: they reach the caller unchanged (so it can retry)."""

    def failing(offset: int, length: int) -> bytes:
        raise ConnectionError("network down")

    with pytest.raises(ConnectionError):
        probe(failing, 10_000)


# --------------------------------------------------------------------------------------------------------------------
# Matroska, hand-built


def _vint_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(n)


def _el(eid: int, payload: bytes, *, unknown: bool = False) -> bytes:
    eid_bytes = eid.to_bytes((eid.bit_length() + 7) // 8, "big")
    return eid_bytes + (b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown else _vint_size(len(payload))) + payload


def _uint(eid: int, v: int) -> bytes:
    return _el(eid, v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big"))


def _ebml_header(doctype: bytes = b"webm") -> bytes:
    return _el(0x1A45DFA3, _uint(0x4286, 1) + _el(0x4282, doctype))


def _video_track(width: int, height: int, *, extra_video: bytes = b"", codec: bytes = b"V_VP9") -> bytes:
    video = _uint(0xB0, width) + _uint(0xBA, height) + extra_video
    return _el(
        0xAE, _uint(0xD7, 1) + _uint(0x83, 1) + _el(0x86, codec) + _uint(0x23E383, 40_000_000) + _el(0xE0, video)
    )


def _audio_track() -> bytes:
    return _el(0xAE, _uint(0xD7, 2) + _uint(0x83, 2) + _el(0x86, b"A_OPUS") + _el(0xE1, _uint(0x9F, 2)))


def _info(duration_ms: float) -> bytes:
    return _el(0x1549A966, _uint(0x2AD7B1, 1_000_000) + _el(0x4489, struct.pack(">d", duration_ms)))


CLUSTER = _el(0x1F43B675, _uint(0xE7, 0) + _el(0xA3, b"\x81\x00\x00\x80" + b"\x00" * 500))


def test_matroska_unknown_size_segment_and_tracks() -> None:
    tracks = _el(0x1654AE6B, _video_track(1280, 720) + _audio_track(), unknown=True)
    segment = _el(0x18538067, _info(12_500.0) + tracks + CLUSTER, unknown=True)
    info = RangeSource(_ebml_header() + segment).probe()
    assert (info.width, info.height, info.container) == (1280, 720, "webm")
    assert info.duration_seconds == pytest.approx(12.5)
    assert info.frame_rate == pytest.approx(25.0)
    assert info.has_audio and info.audio_codec == "opus" and info.audio_channels == 2
    assert info.video_codec == "vp9"


def test_matroska_tracks_after_clusters_found_by_seekhead() -> None:
    info_el = _info(3000.0)
    tracks = _el(0x1654AE6B, _video_track(640, 480, codec=b"V_MPEG4/ISO/AVC"))

    def seekhead(tracks_pos: int) -> bytes:
        seek = _el(0x4DBB, _el(0x53AB, (0x1654AE6B).to_bytes(4, "big")) + _el(0x53AC, tracks_pos.to_bytes(8, "big")))
        return _el(0x114D9B74, seek)

    head_len = len(seekhead(0))
    tracks_pos = head_len + len(info_el) + len(CLUSTER) * 3  # relative to the Segment's data
    body = seekhead(tracks_pos) + info_el + CLUSTER * 3 + tracks
    data = _ebml_header(b"matroska") + _el(0x18538067, body)
    info = RangeSource(data).probe()
    assert (info.width, info.height, info.container, info.video_codec) == (640, 480, "matroska", "h264")
    assert info.has_audio is False


def test_matroska_display_size_and_rotation() -> None:
    anamorphic = _uint(0x54B0, 1024) + _uint(0x54BA, 576)  # 720x576 pixels shown as 16:9
    data = _ebml_header() + _el(
        0x18538067, _info(1000.0) + _el(0x1654AE6B, _video_track(720, 576, extra_video=anamorphic))
    )
    info = RangeSource(data).probe()
    assert (info.width, info.height) == (1024, 576)

    roll = _el(0x7670, _uint(0x7671, 0) + _el(0x7675, struct.pack(">d", -90.0)))
    data = _ebml_header() + _el(0x18538067, _info(1000.0) + _el(0x1654AE6B, _video_track(1920, 1080, extra_video=roll)))
    info = RangeSource(data).probe()
    assert (info.width, info.height, info.rotation) == (1080, 1920, 90)


def test_matroska_rejections() -> None:
    no_video = _ebml_header() + _el(0x18538067, _info(1000.0) + _el(0x1654AE6B, _audio_track()))
    with pytest.raises(UnsupportedSource, match="no video track"):
        RangeSource(no_video).probe()
    other_doctype = _ebml_header(b"notmkv") + _el(0x18538067, b"")
    with pytest.raises(UnsupportedSource, match="document type"):
        RangeSource(other_doctype).probe()
    no_tracks = _ebml_header() + _el(0x18538067, _info(1000.0) + CLUSTER)
    with pytest.raises(UnsupportedSource, match="Tracks"):
        RangeSource(no_tracks).probe()
    zero = _ebml_header() + _el(0x18538067, _el(0x1654AE6B, _video_track(0, 0)))
    with pytest.raises(UnsupportedSource, match="picture size"):
        RangeSource(zero).probe()
    encrypted = _el(0x6D80, _el(0x6240, _el(0x5035, _uint(0x47E1, 5))))
    track = _el(0xAE, _uint(0x83, 1) + _el(0x86, b"V_VP9") + _el(0xE0, _uint(0xB0, 640) + _uint(0xBA, 360)) + encrypted)
    with pytest.raises(UnsupportedSource, match="encrypted"):
        RangeSource(_ebml_header() + _el(0x18538067, _el(0x1654AE6B, track))).probe()


def test_matroska_crafted_huge_element_size() -> None:
    """A Tracks element claiming 2**50 bytes: refused, nothing huge read."""
    tracks_header = (0x1654AE6B).to_bytes(4, "big") + b"\x01" + (2**50).to_bytes(7, "big")
    data = _ebml_header() + _el(0x18538067, tracks_header + b"\x00" * 100)
    src = RangeSource(data)
    with pytest.raises(UnsupportedSource):
        src.probe()
    assert src.bytes_read <= HEAD_BYTES
