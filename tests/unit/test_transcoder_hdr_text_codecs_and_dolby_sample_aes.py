"""The local Transcoder's last 501s, as units: the hlg / hdr10 colour formats (validation as the REST API answers it,
the zscale conversion, the colour tags and x265's HDR10 SEI in the plan), srt / ttml text streams (input caption
formats only: INVALID_ARGUMENT), and SAMPLE-AES of AC-3 / E-AC-3 sync frames (16-byte leader clear, whole blocks
CBC with the IV reset per frame, the PMT's audio setup information). No processes: the emulator test
tests/emulator/test_local_transcoder_hdr_and_ac3_sample_aes.py runs the real commands."""

from __future__ import annotations

import copy
import re
from fractions import Fraction

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from local_emulator.transcoder import hdr, ts_sample_aes
from local_emulator.transcoder.config import normalize_job
from local_emulator.transcoder.errors import ApiError
from local_emulator.transcoder.ffmpeg_plan import build_plan
from local_emulator.transcoder.probe import SourceInfo

SOURCE = SourceInfo(duration=2, has_video=True, width=320, height=180, frame_rate=Fraction(30))
VIDEO = {"heightPixels": 180, "bitrateBps": 300000, "frameRate": 30}


def _job(codec: str, **settings) -> dict:
    config = {"elementaryStreams": [{"key": "v", "videoStream": {codec: {**VIDEO, **settings}}}],
              "muxStreams": [{"key": "m", "container": "mp4", "elementaryStreams": ["v"]}]}
    return normalize_job({"inputUri": "gs://bkt/a.mp4", "outputUri": "gs://bkt/o/", "config": config}, {},
                         "projects/p/locations/l")


def _error(codec: str, **settings) -> ApiError:
    with pytest.raises(ApiError) as caught:
        _job(codec, **settings)
    return caught.value


@pytest.mark.parametrize(("codec", "color"), [("h264", "hlg"), ("h265", "hlg"), ("h265", "hdr10"), ("vp9", "hlg"),
                                              ("h264", "sdr"), ("vp9", "sdr")])
def test_color_formats_the_reference_lists_are_accepted_as_empty_messages(codec: str, color: str) -> None:
    settings = _job(codec, **{color: {}})["config"]["elementaryStreams"][0]["videoStream"][codec]
    assert settings[color] == {} and hdr.color_format(settings) == ("" if color == "sdr" else color)


@pytest.mark.parametrize(("codec", "settings", "pattern"), [
    ("h264", {"hdr10": {}}, r"Unknown name \"hdr10\" at 'job\.config\.elementaryStreams\[0\]\.videoStream\.h264'"),
    ("vp9", {"hdr10": {}}, r"Unknown name \"hdr10\" at 'job\.config\.elementaryStreams\[0\]\.videoStream\.vp9'"),
    ("h265", {"hlg": {}, "hdr10": {}}, r"videoStream\.h265: only one of sdr, hlg or hdr10 .*hlg and hdr10"),
    ("h264", {"sdr": {}, "hlg": {}}, r"videoStream\.h264: only one of sdr or hlg"),
    ("h265", {"hlg": True}, r"'job\.config\.elementaryStreams\[0\]\.videoStream\.h265\.hlg': expected an object"),
])
def test_bad_color_formats_are_invalid_argument_naming_the_field(codec: str, settings: dict, pattern: str) -> None:
    error = _error(codec, **settings)
    assert error.status == "INVALID_ARGUMENT" and re.search(pattern, error.message), error.message


def test_twelve_bit_h264_is_the_one_501_left_and_says_why() -> None:
    error = _error("h264", pixelFormat="yuv420p12")
    assert error.status == "UNIMPLEMENTED" and "videoStream.h264.pixelFormat 'yuv420p12'" in error.message
    assert "x264 stops at 10-bit" in error.message


def _graph_and_argv(codec: str, **settings) -> tuple[str, list[str]]:
    plan = build_plan(_job(codec, **settings)["config"], SOURCE, "/w/a.mp4")
    return plan.argv[plan.argv.index("-filter_complex") + 1], plan.argv


def test_hlg_h264_converts_with_zscale_to_bt2020_hlg_and_tags_the_stream() -> None:
    graph, argv = _graph_and_argv("h264", hlg={}, pixelFormat="yuv420p10")
    conversion = re.search(r"scale=320:180,setsar=1(.*),format=yuv420p10le\[v0\]", graph).group(1)
    assert conversion == (",zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=linear:m=gbr:p=bt709:r=full:npl=203,"
                          "format=gbrpf32le,zscale=tin=linear:min=gbr:pin=bt709:rin=full:t=arib-std-b67:m=bt2020nc:"
                          "p=bt2020:r=tv:npl=203")
    tags = argv[argv.index("-color_primaries:v:0"):argv.index("-color_primaries:v:0") + 8]
    assert tags == ["-color_primaries:v:0", "bt2020", "-color_trc:v:0", "arib-std-b67", "-colorspace:v:0",
                    "bt2020nc", "-color_range:v:0", "tv"]
    assert _job("h264", hlg={}, pixelFormat="yuv420p10")["config"]["elementaryStreams"][0]["videoStream"]["h264"][
        "profile"] == "high10"


def test_hdr10_h265_writes_pq_and_x265_vui_mastering_display_and_light_level() -> None:
    graph, argv = _graph_and_argv("h265", hdr10={}, pixelFormat="yuv420p10", profile="main10")
    assert ":t=smpte2084:m=bt2020nc:p=bt2020:r=tv:npl=203,format=yuv420p10le[v0]" in graph
    params = argv[argv.index("-x265-params:v:0") + 1].split(":")
    assert {"colorprim=bt2020", "transfer=smpte2084", "colormatrix=bt2020nc", "range=limited", "hdr10=1",
            f"master-display={hdr.MASTER_DISPLAY}", "max-cll=203,203"} <= set(params)
    assert argv[argv.index("-color_trc:v:0") + 1] == "smpte2084"


@pytest.mark.parametrize("codec", ["h264", "h265", "vp9"])
def test_sdr_and_passthrough_leave_the_command_as_it_was(codec: str) -> None:
    plain_graph, plain_argv = _graph_and_argv(codec)
    sdr_graph, sdr_argv = _graph_and_argv(codec, sdr={})
    assert (plain_graph, plain_argv) == (sdr_graph, sdr_argv) and "zscale" not in plain_graph
    assert not any(arg.startswith("-color_") or "colorprim" in arg for arg in plain_argv)


def test_vp9_hlg_is_profile_2_when_10_bit() -> None:
    hlg_graph, hlg_argv = _graph_and_argv("vp9", hlg={}, pixelFormat="yuv420p10")
    assert "t=arib-std-b67" in hlg_graph and hlg_argv[hlg_argv.index("-profile:v:0") + 1] == "2"


@pytest.mark.parametrize("codec", ["srt", "ttml"])
def test_srt_and_ttml_text_streams_are_input_formats_only(codec: str) -> None:
    config = {"inputs": [{"key": "in", "uri": "gs://bkt/a.mp4"}, {"key": "subs", "uri": "gs://bkt/a.srt"}],
              "editList": [{"key": "atom0", "inputs": ["in", "subs"]}],
              "elementaryStreams": [{"key": "v", "videoStream": {"h264": VIDEO}},
                                    {"key": "t", "textStream": {"codec": codec, "languageCode": "en", "mapping": [
                                        {"atomKey": "atom0", "inputKey": "subs"}]}}],
              "muxStreams": [{"key": "m", "container": "mp4", "elementaryStreams": ["v"]}]}
    with pytest.raises(ApiError) as caught:
        normalize_job({"outputUri": "gs://bkt/o/", "config": copy.deepcopy(config)}, {}, "projects/p/locations/l")
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message.startswith(f"job.config.elementaryStreams[1].textStream.codec: '{codec}' is not an "
                                           "output caption format; supported output captions: webvtt, cea608, cea708")


def _ac3_frame(seed: int, fscod: int = 0, frmsizecod: int = 12) -> bytes:
    """An AC-3 sync frame: header (96 kbit/s; 48 kHz: 384 bytes, 44.1 kHz with the padding word: 418 bytes), bsid 8,
    acmod 2, then bytes that hold no sync word."""
    size = ts_sample_aes.dolby_frame_size(bytes([0x0B, 0x77, 0, 0, fscod << 6 | frmsizecod, 8 << 3]))
    header = bytes([0x0B, 0x77, 0x12, 0x34, fscod << 6 | frmsizecod, 8 << 3, 2 << 5])
    return header + bytes((seed * 7 + i * 13) % 251 for i in range(size - len(header)))


def _eac3_frame() -> bytes:
    """An E-AC-3 independent frame: frmsiz 255 -> 512 bytes, fscod 48 kHz, 6 blocks, acmod 2, lfe off, bsid 16."""
    header = bytes([0x0B, 0x77, 0x00, 0xFF, (0 << 6) | (3 << 4) | (2 << 1), 16 << 3])
    return header + bytes((i * 31) % 256 for i in range(512 - len(header)))


def test_dolby_frame_sizes() -> None:
    assert len(_ac3_frame(0)) == 384  # 1536 samples * 96 kbit/s / 48 kHz / 8
    assert len(_ac3_frame(0, fscod=1)) == 416 and len(_ac3_frame(0, fscod=1, frmsizecod=13)) == 418  # 44.1 kHz
    assert ts_sample_aes.dolby_frame_size(_eac3_frame()) == 512
    assert ts_sample_aes.dolby_frame_size(b"\xff\xf1\x50\x80\x00\x1f") == 0  # ADTS, not Dolby


def _decrypted(frame: bytes, key: bytes, iv: bytes) -> bytes:
    """What a reader does with one encrypted sync frame: leader clear, whole blocks CBC from the IV, the rest clear."""
    end = 16 + (len(frame) - 16) // 16 * 16
    return frame[:16] + Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor().update(frame[16:end]) + frame[end:]


def test_dolby_sync_frames_keep_a_16_byte_leader_and_a_partial_block_clear_and_decrypt_per_frame() -> None:
    key, iv = bytes(range(16)), bytes(range(16, 32))
    frames = [_ac3_frame(0), _ac3_frame(1, fscod=1, frmsizecod=9), _eac3_frame()]  # 384, 418 (2 bytes over), 512
    encrypted = ts_sample_aes.sample_aes_dolby(b"".join(frames), key, iv)
    at = 0
    for frame in frames:
        got = encrypted[at:at + len(frame)]
        at += len(frame)
        end = 16 + (len(frame) - 16) // 16 * 16
        assert got[:16] == frame[:16] and got[end:] == frame[end:] and got[16:end] != frame[16:end]
        assert _decrypted(got, key, iv) == frame  # the IV reset for every frame
    assert at == len(encrypted)


def test_dolby_audio_setup_information() -> None:
    assert ts_sample_aes._dolby_setup(_ac3_frame(0)[:16]) == _ac3_frame(0)[:10]  # AC-3: the first 10 bytes
    dec3 = int.from_bytes(ts_sample_aes._dolby_setup(_eac3_frame()[:16]), "big")
    # EC3SpecificBox: data_rate 512 bytes * 8 * 48000 / 1536 / 1000 = 128 kbit/s, fscod 0, bsid 16, acmod 2, lfeon 0
    assert (dec3 >> 27, (dec3 >> 22) & 3, (dec3 >> 17) & 31, (dec3 >> 9) & 7, (dec3 >> 8) & 1) == (128, 0, 16, 2, 0)
