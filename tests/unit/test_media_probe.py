"""media_probe: the shared ffmpeg corpus (checked against its stated properties and ffprobe), bounded reads through
read_range, refusals an uploader can act on, and crafted or damaged input."""

from __future__ import annotations

import json
import random
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from kstream.transcode.media_probe import (
    AVI_MAX_BYTES,
    MAX_LIBRARY_READS,
    MAX_RANGE_CALLS,
    MAX_TOTAL_BYTES,
    READAHEAD_MIN,
    RangeFile,
    SourceInfo,
    UnsupportedSource,
    probe,
)

from tests.media_corpus import SAMPLES, corpus_dir

ACCEPTED = [name for name, sample in SAMPLES.items() if sample.expected.refused is None]
REFUSED = [name for name, sample in SAMPLES.items() if sample.expected.refused is not None]


# --------------------------------------------------------------------------------------------------------------------
# helpers


class RangeSource:
    """A read_range over bytes that counts calls and bytes, like a Cloud Storage object read by ranges."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.calls: list[tuple[int, int]] = []
        self.bytes_read = 0

    def __call__(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length > 0, (offset, length)
        self.calls.append((offset, length))
        chunk = self.data[offset : offset + length]
        self.bytes_read += len(chunk)
        return chunk

    def probe(self, size: int | None = None) -> SourceInfo:
        return probe(self, self.size if size is None else size)


class VirtualSource(RangeSource):
    """A huge object of which only ``patches`` have content (zeros elsewhere), never materialised."""

    def __init__(self, size: int, patches: dict[int, bytes]) -> None:
        super().__init__(b"")
        self.size = size
        self.patches = patches

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        end = min(self.size, offset + length)
        out = bytearray(max(0, end - offset))
        for at, blob in self.patches.items():
            lo, hi = max(offset, at), min(end, at + len(blob))
            if lo < hi:
                out[lo - offset : hi - offset] = blob[lo - at : hi - at]
        self.bytes_read += len(out)
        return bytes(out)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus_dir(tmp_path_factory)


def _sample(corpus: Path, name: str) -> bytes:
    return SAMPLES[name].make(corpus).read_bytes()


def _ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


# --------------------------------------------------------------------------------------------------------------------
# the corpus: every accepted sample as its expected properties say, and as ffprobe sees it


@pytest.mark.parametrize("name", ACCEPTED)
def test_corpus_sample_matches_its_expected_properties(corpus: Path, name: str) -> None:
    want = SAMPLES[name].expected
    src = RangeSource(_sample(corpus, name))
    info = src.probe()
    assert info.container == want.container
    assert (info.width, info.height) == (want.width, want.height)
    assert (info.coded_width, info.coded_height) == (want.coded_width, want.coded_height)
    assert info.sample_aspect_ratio == want.sample_aspect_ratio
    assert info.rotation == want.rotation
    assert info.video_codec == want.video_codec
    assert info.scan_type == want.scan_type
    assert info.field_order == want.field_order
    assert info.bit_depth == want.bit_depth
    assert info.hdr == want.hdr
    assert info.frame_rate_mode == want.frame_rate_mode
    assert info.frame_rate == pytest.approx(want.frame_rate, abs=0.01)
    if want.duration is None:
        assert info.duration_seconds is None
    else:
        assert info.duration_seconds == pytest.approx(want.duration, abs=0.06)
    assert info.has_video is True
    assert info.has_audio is (want.audio_tracks > 0)
    assert info.audio_tracks == want.audio_tracks
    assert info.audio_codec == want.audio_codec
    assert info.audio_channels == want.audio_channels
    assert info.audio_dual_mono is want.audio_dual_mono
    expected_layout = {0: None, 2: "M M" if want.audio_dual_mono else "L R", 6: "L R C LFE Ls Rs"}
    assert info.audio_channel_layout == expected_layout[want.audio_channels or 0]
    assert len(src.calls) <= MAX_RANGE_CALLS and src.bytes_read <= MAX_TOTAL_BYTES


@pytest.mark.parametrize("name", ACCEPTED)
def test_corpus_sample_agrees_with_ffprobe(corpus: Path, name: str) -> None:
    """Codec names, display size, pixel aspect and field order as ffprobe reports them (where ffprobe knows)."""
    path = SAMPLES[name].make(corpus)
    info = RangeSource(path.read_bytes()).probe()
    report = _ffprobe(path)
    video = next(s for s in report["streams"] if s["codec_type"] == "video")
    audio = [s for s in report["streams"] if s["codec_type"] == "audio"]
    assert info.video_codec == video["codec_name"]
    assert (info.coded_width, info.coded_height) == (video["width"], video["height"])
    sar = video.get("sample_aspect_ratio", "1:1")
    assert info.sample_aspect_ratio == (Fraction(sar.replace(":", "/")) if sar not in ("0:1", "N/A") else 1)
    assert info.audio_tracks == len(audio)
    if audio:
        assert info.audio_codec == audio[0]["codec_name"]
        assert info.audio_channels == audio[0]["channels"]
    order = {"tt": "tff", "bb": "bff", "progressive": None}
    if video.get("field_order") in order:  # ffprobe says "unknown" for DV without decoding
        assert info.field_order == order[video["field_order"]]
        assert info.scan_type == ("progressive" if video["field_order"] == "progressive" else "interlaced")
    rotation = next((int(side["rotation"]) for side in video.get("side_data_list", []) if "rotation" in side), 0)
    assert info.rotation == (-rotation) % 360  # ffprobe: counter-clockwise degrees; ours: clockwise


@pytest.mark.parametrize("name", REFUSED)
def test_refused_samples_say_why(corpus: Path, name: str) -> None:
    with pytest.raises(UnsupportedSource, match=SAMPLES[name].expected.refused):
        RangeSource(_sample(corpus, name)).probe()


# --------------------------------------------------------------------------------------------------------------------
# reads: never the whole of a large object


@pytest.mark.parametrize("name", ["moov_at_end_mp4", "mpeg2_1080i_ac3_ts"])
def test_large_sources_are_not_read_whole(corpus: Path, name: str) -> None:
    data = _sample(corpus, name)
    assert len(data) > 3_000_000
    src = RangeSource(data)
    src.probe()
    assert src.bytes_read < len(data) * 0.5, (src.bytes_read, len(data))
    assert len(src.calls) <= 8


def test_moov_at_end_is_found_after_the_media_data(corpus: Path) -> None:
    data = _sample(corpus, "moov_at_end_mp4")
    moov = data.rfind(b"moov")
    assert moov > len(data) - 200_000  # the movie header really is after the media data
    src = RangeSource(data)
    info = src.probe()
    assert (info.width, info.height, info.duration_seconds) == (320, 240, 2.0)
    assert any(offset <= moov < offset + length for offset, length in src.calls)


def test_fast_start_needs_one_read(corpus: Path) -> None:
    src = RangeSource(_sample(corpus, "faststart_mp4"))
    src.probe()
    assert src.calls == [(0, READAHEAD_MIN)]


def test_avi_reads_stop_at_their_budget(corpus: Path) -> None:
    """MediaInfo would read DV frames far into an AVI; the budget stops it and the answer is complete anyway."""
    data = _sample(corpus, "dv_ntsc_avi")
    assert len(data) > AVI_MAX_BYTES
    src = RangeSource(data)
    info = src.probe()
    assert src.bytes_read <= AVI_MAX_BYTES
    assert (info.scan_type, info.field_order, info.width, info.height) == ("interlaced", "bff", 640, 480)


def test_rotation_gives_portrait_display_size(corpus: Path) -> None:
    info = RangeSource(_sample(corpus, "rotated_hevc_mp4")).probe()
    assert (info.width, info.height, info.rotation, info.is_portrait, info.short_side) == (360, 640, 90, True, 360)
    assert (info.stored_width, info.stored_height) == (640, 360)


def test_anamorphic_display_and_stored_sizes(corpus: Path) -> None:
    info = RangeSource(_sample(corpus, "anamorphic_ts")).probe()
    assert (info.width, info.height) == (1920, 1080)
    assert (info.stored_width, info.stored_height) == (1440, 1080)
    assert info.sample_aspect_ratio == Fraction(4, 3)


def test_source_info_without_coded_size_derives_stored_size() -> None:
    info = SourceInfo(width=1080, height=1920, duration_seconds=1.0, has_audio=False, has_video=True,
                      container="mp4", rotation=90)
    assert (info.stored_width, info.stored_height) == (1920, 1080)


# --------------------------------------------------------------------------------------------------------------------
# the range file itself


def test_range_file_reads_ahead_and_keeps_a_bounded_cache() -> None:
    data = bytes(range(256)) * 40_000  # ~10 MB
    src = RangeSource(data)
    f = RangeFile(src, len(data))
    assert f.read(10) == data[:10]
    assert src.calls == [(0, READAHEAD_MIN)]
    assert f.read(READAHEAD_MIN) == data[10 : 10 + READAHEAD_MIN]  # sequential: the next read-ahead doubles
    assert src.calls[1] == (READAHEAD_MIN, 2 * READAHEAD_MIN)
    f.seek(-100, 2)
    assert f.read(1000) == data[-100:]  # clipped at the end of the object
    assert f.read(10) == b""
    f.seek(5)
    assert f.read(5) == data[5:10]  # still cached
    assert len(src.calls) == 3


def test_range_file_answers_eof_past_its_budget() -> None:
    data = b"x" * (3 * 1024 * 1024)
    f = RangeFile(RangeSource(data), len(data), max_bytes=1024 * 1024)
    assert len(f.read(2 * 1024 * 1024)) == 1024 * 1024
    assert f.exhausted and f.read(10) == b""


def test_range_file_ends_a_library_that_keeps_reading_the_same_place() -> None:
    """A damaged Matroska header made MediaInfo seek back and re-read cached bytes for ever: reads are capped too."""
    data = b"y" * 1000
    src = RangeSource(data)
    f = RangeFile(src, len(data))
    for _ in range(MAX_LIBRARY_READS):
        f.seek(0)
        assert f.read(10) == b"y" * 10
    f.seek(0)
    assert f.read(10) == b"" and f.exhausted
    assert len(src.calls) == 1


def test_read_errors_propagate_unchanged() -> None:
    """Transport errors are not a verdict on the file: they reach the caller unchanged (so it can retry)."""
    error = ConnectionError("network down")

    def failing(offset: int, length: int) -> bytes:
        raise error

    with pytest.raises(ConnectionError) as caught:
        probe(failing, 10_000)
    assert caught.value is error


def test_read_range_must_return_bytes() -> None:
    with pytest.raises(TypeError, match="expected bytes"):
        probe(lambda offset, length: "text", 10_000)


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        probe(RangeSource(b""), -1)
    with pytest.raises(UnsupportedSource, match="empty"):
        RangeSource(b"").probe()
    with pytest.raises(UnsupportedSource, match="too small"):
        RangeSource(b"\x00\x00\x00\x08ftyp").probe()


# --------------------------------------------------------------------------------------------------------------------
# truncated, damaged and crafted input


def test_object_shorter_than_its_declared_size(corpus: Path) -> None:
    data = _sample(corpus, "faststart_mp4")
    with pytest.raises(UnsupportedSource, match="truncated"):
        RangeSource(data[:50_000]).probe(size=len(data))


def test_fast_start_mp4_cut_inside_its_media_data_is_truncated(corpus: Path) -> None:
    data = _sample(corpus, "faststart_mp4")
    with pytest.raises(UnsupportedSource, match="truncated"):
        RangeSource(data[: len(data) // 2]).probe()


def test_text_and_random_bytes_are_refused() -> None:
    with pytest.raises(UnsupportedSource, match="unrecognised"):
        RangeSource(b"<html><body>not a video</body></html>" * 10).probe()
    rng = random.Random(1234)
    for _ in range(30):
        with pytest.raises(UnsupportedSource):
            RangeSource(rng.randbytes(rng.randint(16, 200_000))).probe()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["faststart_mp4", "clip_mov", "h264_hi10_flac_mkv", "vp9_opus_webm", "live_mkv",
                                  "anamorphic_ts", "mpeg4_mp3_avi", "wmv2_wma2_wmv", "mpeg2_pcm_mxf"])
def test_every_truncation_fails_cleanly(corpus: Path, name: str) -> None:
    """Cut anywhere: a SourceInfo or UnsupportedSource, never another exception, always within the limits."""
    data = _sample(corpus, name)
    cuts = sorted(set(range(16, min(len(data), 8000), 97)) | {len(data) - k for k in (1, 7, 100, 5000)})
    for cut in cuts:
        src = RangeSource(data[:cut])
        try:
            src.probe()
        except UnsupportedSource:
            pass
        assert len(src.calls) <= MAX_RANGE_CALLS


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["faststart_mp4", "moov_at_end_mp4", "h264_hi10_flac_mkv", "mpeg2_1080i_ac3_ts",
                                  "mpeg4_mp3_avi", "wmv2_wma2_wmv", "mpeg2_pcm_mxf"])
def test_corrupted_headers_fail_cleanly(corpus: Path, name: str) -> None:
    """Random byte changes in the header region: success or UnsupportedSource, bounded reads, no other error."""
    original = _sample(corpus, name)
    moov = original.rfind(b"moov")
    start = moov - 4 if name == "moov_at_end_mp4" else 0  # the header of a moov-at-end file is at the end
    rng = random.Random(name)
    for _ in range(80):
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


def _box(btype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + btype + body


FTYP = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")


def test_largesize_mdat(corpus: Path) -> None:
    """A 64-bit mdat header (size field 1, then the real size), as large files have."""
    data = bytearray(_sample(corpus, "silent_mp4"))  # moov at the end
    free = data.find(b"\x00\x00\x00\x08free")  # ffmpeg leaves this 8-byte box so mdat can grow to 64 bits
    assert free > 0 and data[free + 12 : free + 16] == b"mdat"
    mdat_size = struct.unpack_from(">I", data, free + 8)[0]
    data[free : free + 16] = struct.pack(">I4sQ", 1, b"mdat", mdat_size + 8)
    info = RangeSource(bytes(data)).probe()
    assert (info.width, info.height, info.has_audio) == (640, 360, False)


def test_size_zero_box_extends_to_the_end(corpus: Path) -> None:
    data = bytearray(_sample(corpus, "faststart_mp4"))  # ftyp, moov, free, mdat (last)
    mdat = data.rfind(b"mdat") - 4
    data[mdat : mdat + 4] = b"\x00\x00\x00\x00"
    info = RangeSource(bytes(data)).probe()
    assert (info.width, info.height) == (640, 360)


def test_oversized_moov_is_read_only_to_the_budget() -> None:
    """A moov claiming 100 MiB of a 300 MiB object: refused, and no more than MAX_TOTAL_BYTES read."""
    src = VirtualSource(300 * 1024 * 1024, {0: FTYP + struct.pack(">I4s", 100 * 1024 * 1024, b"moov")})
    with pytest.raises(UnsupportedSource):
        src.probe()
    assert src.bytes_read <= MAX_TOTAL_BYTES
    assert len(src.calls) <= MAX_RANGE_CALLS


def test_many_top_level_boxes_hit_the_call_limit() -> None:
    """70 KiB 'free' boxes one after another: each header is a new read; the probe gives up, bounded."""
    step = 70 * 1024
    patches = {0: FTYP}
    pos = len(FTYP)
    for _ in range(400):
        patches[pos] = struct.pack(">I4s", step, b"free")
        pos += step
    src = VirtualSource(pos + 1000, patches)
    with pytest.raises(UnsupportedSource):
        src.probe()
    assert len(src.calls) <= MAX_RANGE_CALLS
    assert src.bytes_read <= MAX_TOTAL_BYTES


def test_zero_and_undersized_boxes_do_not_loop() -> None:
    data = FTYP + struct.pack(">I4s", 4, b"free") + b"\x00" * 64
    with pytest.raises(UnsupportedSource):
        RangeSource(data).probe()


# --------------------------------------------------------------------------------------------------------------------
# Matroska, hand-built (what ffmpeg cannot be asked to write)


def _vint_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(n)


def _el(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _vint_size(len(payload)) + payload


def _uint(eid: int, v: int) -> bytes:
    return _el(eid, v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big"))


def _mkv(video: bytes, *, codec: bytes = b"V_MPEG4/ISO/AVC") -> bytes:
    ebml = _el(0x1A45DFA3, _uint(0x4286, 1) + _el(0x4282, b"matroska"))
    info = _el(0x1549A966, _uint(0x2AD7B1, 1_000_000) + _el(0x4489, struct.pack(">d", 2000.0)))
    track = _el(0xAE, _uint(0xD7, 1) + _uint(0x83, 1) + _el(0x86, codec) + _uint(0x23E383, 40_000_000)
                + _el(0xE0, video))
    return ebml + _el(0x18538067, info + _el(0x1654AE6B, track))


def test_matroska_display_size_gives_the_pixel_aspect() -> None:
    """720x576 pixels with DisplayWidth/Height 1024x576: PAL 16:9, SAR 64:45."""
    info = RangeSource(_mkv(_uint(0xB0, 720) + _uint(0xBA, 576) + _uint(0x54B0, 1024) + _uint(0x54BA, 576))).probe()
    assert (info.width, info.height, info.coded_width) == (1024, 576, 720)
    assert info.sample_aspect_ratio == Fraction(64, 45)
    assert info.duration_seconds == pytest.approx(2.0)
    assert info.frame_rate == pytest.approx(25.0)


def test_matroska_without_picture_size_is_refused() -> None:
    with pytest.raises(UnsupportedSource):
        RangeSource(_mkv(_uint(0xB0, 0) + _uint(0xBA, 0))).probe()


def test_matroska_crafted_huge_element_size() -> None:
    """A Tracks element claiming 2**50 bytes: refused, nothing huge read."""
    ebml = _el(0x1A45DFA3, _uint(0x4286, 1) + _el(0x4282, b"webm"))
    tracks_header = (0x1654AE6B).to_bytes(4, "big") + b"\x01" + (2**50).to_bytes(7, "big")
    src = RangeSource(ebml + _el(0x18538067, tracks_header + b"\x00" * 100))
    with pytest.raises(UnsupportedSource):
        src.probe()
    assert src.bytes_read <= READAHEAD_MIN
